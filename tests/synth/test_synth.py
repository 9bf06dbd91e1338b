"""Synthetic fingerprint generator: statistics, geometry of the ground truth, determinism, errors."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from securecomm.synth import CLASS_FREQUENCIES, CLASSES, make_master, make_person, render
from securecomm.synth import master as master_mod
from securecomm.synth._skeleton import minutiae_from_binary


def test_class_frequencies_follow_natural_rates():
    n = 4000
    counts = {k: 0 for k in CLASSES}
    for s in range(n):
        counts[make_master(s).klass] += 1
    for k, p in zip(CLASSES, CLASS_FREQUENCIES):
        sd = np.sqrt(p * (1 - p) / n)
        assert abs(counts[k] / n - p) < 4 * sd + 1e-3, (k, counts[k] / n, p)


def test_ten_print_hands_average_to_natural_rates():
    n = 400
    counts = {k: 0 for k in CLASSES}
    for s in range(n):
        for m in make_person(s).fingers.values():
            if m is not None:
                counts[m.klass] += 1
    total = sum(counts.values())
    assert abs(counts["left_loop"] / total - 0.338) < 0.03
    assert abs(counts["whorl"] / total - 0.279) < 0.03


def _block_periods(img: np.ndarray, mask: np.ndarray, size: int = 64) -> list[tuple[int, int, float]]:
    """Dominant ridge period of each fully-masked block, from the 2-D spectrum peak."""
    out = []
    h, w = img.shape
    win = np.outer(np.hanning(size), np.hanning(size))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    rad = np.hypot(fx, fy)
    for y in range(0, h - size, size // 2):
        for x in range(0, w - size, size // 2):
            if not mask[y:y + size, x:x + size].all():
                continue
            blk = img[y:y + size, x:x + size].astype(np.float64)
            spec = np.abs(np.fft.fft2((blk - blk.mean()) * win)) ** 2
            spec[rad < 1 / 20] = 0  # ignore periods above 20 px
            iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
            # refine: power-weighted mean radius around the peak ring
            ring = np.abs(rad - rad[iy, ix]) < 1.5 / size
            f = float((spec * rad * ring).sum() / (spec * ring).sum())
            out.append((y + size // 2, x + size // 2, 1.0 / f))
    return out


def test_rendered_ridge_period_matches_frequency_map():
    m = make_master(11, klass="whorl")
    pat = m.pattern()
    blocks = _block_periods(pat.ridges, pat.mask)
    assert len(blocks) > 10
    err = [abs(p - pat.period[y - 32:y + 32, x - 32:x + 32].mean()) / m.period for y, x, p in blocks]
    assert np.median(err) < 0.08, np.median(err)
    # and through an impression (rotation and distortion keep scale about 1)
    imp = render(m, 3, "plain", quality=1.0)
    mask = imp.pixels < 250
    mask = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    found = np.median([p for _, _, p in _block_periods(255.0 - imp.pixels, mask)])
    assert abs(found - m.period) / m.period < 0.12, (found, m.period)


def test_ground_truth_sits_on_ridge_endings_and_bifurcations():
    m = make_master(12, klass="right_loop")
    imp = render(m, 5, "plain", quality=1.0)
    t = imp.minutiae
    assert 20 <= len(t) <= 90
    img = imp.pixels.astype(np.float32)
    local = cv2.GaussianBlur(img, (0, 0), 8)
    ridge = img < local  # dark ridges
    ok = 0
    for x, y, a, k in zip(t.x, t.y, t.angle, t.kind):
        ax, ay = int(round(x + 5 * np.cos(a))), int(round(y - 5 * np.sin(a)))
        bx, by = int(round(x - 5 * np.cos(a))), int(round(y + 5 * np.sin(a)))
        ahead, behind = ridge[ay, ax], ridge[by, bx]
        # an ending points into its ridge; a bifurcation points into the valley between branches
        ok += (ahead and not behind) if k == 1 else (behind and not ahead)
    assert ok / len(t) > 0.8, ok / len(t)
    # an independent extraction on the rendered image finds a minutia near nearly every truth point
    # foreground: where the ridge/valley contrast is strong, well inside
    energy = cv2.GaussianBlur((img - local) ** 2, (0, 0), 8)
    mask = cv2.erode((energy > 0.25 * energy.max()).astype(np.uint8), np.ones((3, 3), np.uint8),
                     iterations=6) > 0
    found = minutiae_from_binary(ridge, mask, m.period)
    d = np.hypot(t.x[:, None] - found[None, :, 0], t.y[:, None] - found[None, :, 1]).min(axis=1)
    assert np.mean(d <= 8) > 0.8, np.mean(d <= 8)


def test_bit_for_bit_deterministic():
    m = make_master(13)
    again = master_mod._pattern_uncached(make_master(13))
    assert np.array_equal(m.pattern().ridges, again.ridges)
    assert np.array_equal(m.pattern().minutiae, again.minutiae)
    a, b = render(m, 9, "plain"), render(make_master(13), 9, "plain")
    assert hashlib.sha256(a.pixels).digest() == hashlib.sha256(b.pixels).digest()
    assert a.minutiae.to_bytes() == b.minutiae.to_bytes()
    c = render(m, 10, "plain")
    assert not np.array_equal(a.pixels, c.pixels)
    p, q = make_person(21), make_person(21)
    assert p.fingers == q.fingers
    assert make_person(22).fingers != p.fingers


def test_person_has_ten_independent_fingers():
    p = make_person(3)
    assert sorted(p.fingers) == list(range(1, 11))
    seeds = {m.seed for m in p.fingers.values() if m is not None}
    assert len(seeds) == sum(m is not None for m in p.fingers.values())
    # across many persons some fingers are missing or unprintable, but rarely
    people = [make_person(s) for s in range(600)]
    missing = sum(len(x.missing) for x in people)
    unprintable = sum(len(x.unprintable) for x in people)
    assert 0 < missing < 0.02 * 6000
    assert 0 < unprintable < 0.03 * 6000


def test_unprintable_and_missing_fingers():
    p = next(make_person(s) for s in range(2000) if make_person(s).unprintable)
    imp = render(p.fingers[p.unprintable[0]], 1)
    assert imp.unprintable and len(imp.minutiae) == 0
    with pytest.raises(ValueError, match="missing"):
        render(None, 1)


def test_rolled_impression_is_larger_and_richer():
    m = make_master(14)
    plain, rolled = render(m, 1, "plain", quality=1.0), render(m, 1, "rolled", quality=1.0)
    assert rolled.pixels.shape == (750, 800) and plain.pixels.shape == (400, 400)
    assert len(rolled.minutiae) > len(plain.minutiae)


@pytest.mark.parametrize("call, name", [
    (lambda: make_master(-1), "seed"),
    (lambda: make_master(1, position=11), "position"),
    (lambda: make_master(1, klass="spiral"), "klass"),
    (lambda: make_person(-5), "seed"),
    (lambda: render(make_master(1), 1, "slap"), "kind"),
    (lambda: render(make_master(1), -2), "seed"),
    (lambda: render(make_master(1), 1, quality=2.0), "quality"),
])
def test_invalid_parameters_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_impressions_of_one_master_match_better_than_other_masters():
    """With the engine's own extractor and matcher, on rendered images."""
    from securecomm.engine.extract import extract
    from securecomm.engine.match import match

    masters = [make_master(40 + i) for i in range(3)]
    temps = [[extract(render(m, s, "plain", quality=0.8).pixels) for s in (1, 2)] for m in masters]
    genuine = [match(t[0], t[1]) for t in temps]
    impostor = [match(temps[i][0], temps[j][1]) for i in range(3) for j in range(3) if i != j]
    assert min(genuine) > max(impostor), (genuine, impostor)


def test_same_bytes_in_a_fresh_process_with_other_thread_settings():
    """No hidden state: a new interpreter, OpenCV on 4 threads, gives the same image and truth."""
    import subprocess
    import sys

    code = ("import hashlib, cv2; cv2.setNumThreads(4); from securecomm.synth import make_person, render; "
            "i = render(make_person(77).fingers[3], 4, 'plain'); "
            "print(hashlib.sha256(i.pixels.tobytes() + i.minutiae.to_bytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cv2.setNumThreads(1)
    try:
        here = render(make_person(77).fingers[3], 4, "plain")
    finally:
        cv2.setNumThreads(-1)
    digest = hashlib.sha256(here.pixels.tobytes() + here.minutiae.to_bytes()).hexdigest()
    assert out.stdout.strip() == digest
