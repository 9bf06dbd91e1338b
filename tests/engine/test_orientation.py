"""Orientation, ridge period, segmentation and enhancement on synthetic ridges with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from securecomm.engine import enhance, frequency, orientation, segment
from securecomm.engine.orientation import angle_difference


def sinusoid(theta: float, period: float, shape=(256, 256), contrast: float = 60.0) -> np.ndarray:
    """Ridges running along direction ``theta`` (image coords, y down) with the given period."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    across = -xx * np.sin(theta) + yy * np.cos(theta)
    return np.clip(128 + contrast * np.cos(2 * np.pi * across / period), 0, 255).astype(np.uint8)


def rings(period: float = 9.0, size: int = 256) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) - size / 2
    r = np.hypot(xx, yy)
    return np.clip(128 + 60 * np.cos(2 * np.pi * r / period), 0, 255).astype(np.uint8)


CENTRE = (slice(64, 192), slice(64, 192))


@pytest.mark.parametrize("deg", [0, 20, 45, 90, 115, 160])
def test_orientation_of_straight_ridges(deg: float) -> None:
    theta = np.deg2rad(deg)
    img = sinusoid(theta, 9.0)
    field = orientation.orientation_field(img)
    err = angle_difference(field.theta[CENTRE], theta)
    assert np.degrees(err).max() < 2.0
    assert field.coherence[CENTRE].mean() > 0.9
    blocks, coh = orientation.block_orientation(img, 16)
    assert np.degrees(angle_difference(blocks[4:12, 4:12], theta)).max() < 2.0
    assert coh[4:12, 4:12].min() > 0.9


def test_orientation_of_circular_ridges_is_tangential() -> None:
    img = rings()
    field = orientation.orientation_field(img)
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float64) - 128
    r = np.hypot(xx, yy)
    tangent = np.mod(np.arctan2(yy, xx) + np.pi / 2, np.pi)
    annulus = (r > 40) & (r < 110)
    err = np.degrees(angle_difference(field.theta[annulus], tangent[annulus]))
    assert np.median(err) < 3.0
    assert np.percentile(err, 95) < 8.0


def test_noise_has_low_coherence() -> None:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (256, 256), dtype=np.uint8)
    field = orientation.orientation_field(img)
    assert field.coherence[CENTRE].mean() < 0.3


@pytest.mark.parametrize("period", [6.5, 9.0, 12.0])
@pytest.mark.parametrize("deg", [10, 75, 140])
def test_ridge_period_of_sinusoid(period: float, deg: float) -> None:
    theta = np.deg2rad(deg)
    img = sinusoid(theta, period)
    th = np.full(img.shape, theta, np.float32)
    mask = np.ones(img.shape, bool)
    per, median = frequency.ridge_period(img, th, mask)
    assert abs(median - period) / period < 0.05
    assert np.abs(per[CENTRE] - period).max() / period < 0.08


def test_ridge_period_varies_across_the_image() -> None:
    left, right = sinusoid(0.3, 7.0), sinusoid(0.3, 12.0)
    img = np.hstack([left[:, :128], right[:, 128:]])
    th = np.full(img.shape, 0.3, np.float32)
    per, _ = frequency.ridge_period(img, th, np.ones(img.shape, bool))
    assert abs(np.median(per[64:192, 20:100]) - 7.0) < 0.6
    assert abs(np.median(per[64:192, 160:236]) - 12.0) < 0.9


def test_segmentation_finds_the_ridge_patch_not_the_background_or_a_ruled_line() -> None:
    rng = np.random.default_rng(3)
    img = np.full((320, 320), 200, np.float64) + rng.normal(0, 3, (320, 320))
    patch = sinusoid(0.7, 9.0, shape=(160, 160)).astype(np.float64)
    img[80:240, 60:220] = patch
    img[290:293, 10:310] = 30  # a printed line across the card
    img = np.clip(img, 0, 255).astype(np.uint8)
    field = orientation.orientation_field(img)
    seg = segment.segment(img, field.coherence, field.theta)
    inside = seg.mask[100:220, 80:200].mean()
    outside = np.concatenate([seg.mask[:60].ravel(), seg.mask[270:].ravel()]).mean()
    assert inside > 0.95
    assert outside < 0.02


def test_gabor_enhancement_recovers_ridges_from_noise() -> None:
    rng = np.random.default_rng(11)
    theta, period = np.deg2rad(33), 9.0
    clean = sinusoid(theta, period).astype(np.float64)
    noisy = np.clip(clean + rng.normal(0, 60, clean.shape), 0, 255).astype(np.uint8)
    th = np.full(clean.shape, theta, np.float32)
    per = np.full(clean.shape, period, np.float32)
    out = enhance.enhance(noisy, th, per, np.ones(clean.shape, bool))
    c_noisy = np.corrcoef(noisy[CENTRE].ravel(), clean[CENTRE].ravel())[0, 1]
    c_enh = np.corrcoef(-out[CENTRE].ravel(), clean[CENTRE].ravel())[0, 1]  # ridges dark in clean
    assert c_noisy < 0.6
    assert c_enh > 0.9
