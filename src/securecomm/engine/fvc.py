"""FVC protocol runner: accuracy (EER, FMR100, FMR1000, ZeroFMR) and speed on FVC-style folders.

Layout: every ``DB*`` folder under a root holds ``F_I.tif|tiff|png|bmp`` (finger F,
impression I) and optionally ``F_I.iso`` (ISO/IEC 19794-2 templates) and a ``ppi``
file (one number; otherwise 500 ppi or the caller's value). Templates come either
from our extractor or from the ``.iso`` files, which isolates matcher quality from
extractor quality.

Protocol ("all pairs"): genuine comparisons are all pairs of impressions of the same
finger, impostor comparisons every pair of impressions of different fingers; each
unordered pair is scored once (the earlier file as probe). A template that could not
be extracted scores 0 against everything (it stays in the counts, as FVC counts a
failure to enrol as a rejection). Thresholds accept at ``score >= t``.

``extractor`` picks the extractor (:mod:`securecomm.engine.extractors`: classical,
learned or fused). With ``cache`` (a folder), extracted templates are kept there per
extractor, keyed by the image's content and resolution, with their extraction CPU time,
so a second run (another report, a matcher change) does not extract again; delete the
folder after changing an extractor.

With extracted templates each database also reports how well the templates' image
quality predicts the matcher (:func:`quality_spearman`: per image, Spearman of the quality
with the image's mean genuine score; per genuine pair, min of the two qualities against
the pair's score).

Times are CPU times, not wall-clock: extraction is the process's CPU time per image
(all threads), matching throughput the pairs per CPU-second of the calling thread. On a
shared machine wall-clock figures would measure the neighbours as much as the engine.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from securecomm.engine.errors import ImageError, TemplateError
from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.match import match_many, pack, prepare
from securecomm.engine.template import Template

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp")
_NAME = re.compile(r"^(\d+)_(\d+)$")


@dataclass(frozen=True)
class Sample:
    finger: int
    impression: int
    image: Path | None
    iso: Path | None


@dataclass(frozen=True)
class ErrorRates:
    """FVC accuracy indicators, in percent."""

    eer_pct: float
    fmr100_pct: float
    fmr1000_pct: float
    zerofmr_pct: float


@dataclass(frozen=True)
class DatabaseResult:
    eer_pct: float
    fmr100_pct: float
    fmr1000_pct: float
    zerofmr_pct: float
    genuine: int
    impostor: int
    extract_ms_median: float | None
    match_pairs_per_s: float
    failed_templates: int
    extract_ms_mean: float | None = None
    #: Spearman correlation of each template's ``image_quality`` with its mean genuine score
    #: (:func:`quality_spearman`); None when the templates carry no quality (ISO files, or all equal).
    quality_spearman: float | None = None
    #: the same per genuine pair: min(quality of the two) against the pair's score
    quality_spearman_pairs: float | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 4)
        return d


def find_databases(root: Path) -> list[Path]:
    """Every ``DB*`` folder under root (recursively), sorted; root itself if it is one."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    found = sorted(p for p in root.rglob("DB*") if p.is_dir())
    if root.name.startswith("DB"):
        found.insert(0, root)
    if not found:
        raise FileNotFoundError(f"no DB* folder under {root}")
    return found


def list_samples(db: Path) -> list[Sample]:
    """The F_I samples of one database, sorted by finger then impression."""
    images: dict[tuple[int, int], Path] = {}
    isos: dict[tuple[int, int], Path] = {}
    for p in db.iterdir():
        m = _NAME.match(p.stem)
        if not m or not p.is_file():
            continue
        key = (int(m.group(1)), int(m.group(2)))
        suf = p.suffix.lower()
        if suf in IMAGE_SUFFIXES:
            images.setdefault(key, p)
        elif suf == ".iso":
            isos[key] = p
    keys = sorted(set(images) | set(isos))
    return [Sample(f, i, images.get((f, i)), isos.get((f, i))) for f, i in keys]


def database_ppi(db: Path, override: float | None = None) -> float:
    """The flag wins; then a ``ppi`` file in the folder; then 500."""
    if override is not None:
        return float(override)
    f = db / "ppi"
    if f.is_file():
        try:
            return float(f.read_text().strip())
        except ValueError:
            raise ValueError(f"{f}: expected one number (pixels per inch)") from None
    return 500.0


def load_image(path: Path) -> np.ndarray:
    """8-bit grayscale pixels of an image file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read image ({exc})") from None


def error_rates(genuine: np.ndarray, impostor: np.ndarray) -> ErrorRates:
    """EER (FVC definition), FNMR at FMR <= 1 % and 0.1 %, and FNMR at FMR = 0, in percent."""
    gen = np.sort(np.asarray(genuine, np.float64))
    imp = np.sort(np.asarray(impostor, np.float64))
    if gen.size == 0 or imp.size == 0:
        raise ValueError(f"need genuine and impostor scores, got {gen.size} and {imp.size}")
    thr = np.unique(np.concatenate([gen, imp, [np.inf]]))
    fmr = 1.0 - np.searchsorted(imp, thr, "left") / imp.size  # P(impostor >= t), falls with t
    fnmr = np.searchsorted(gen, thr, "left") / gen.size  # P(genuine < t), rises with t
    # FVC: t1 = last threshold with FNMR <= FMR, t2 = first with FNMR >= FMR.
    le = np.nonzero(fnmr <= fmr)[0]
    ge = np.nonzero(fnmr >= fmr)[0]
    i1 = le[-1] if le.size else 0
    i2 = ge[0] if ge.size else thr.size - 1
    a = fnmr[i1] + fmr[i1]
    b = fnmr[i2] + fmr[i2]
    eer = a / 2 if a <= b else b / 2

    def fnmr_at(limit: float) -> float:
        ok = np.nonzero(fmr <= limit)[0]
        return float(fnmr[ok[0]]) if ok.size else 1.0

    return ErrorRates(100 * float(eer), 100 * fnmr_at(0.01), 100 * fnmr_at(0.001), 100 * fnmr_at(0.0))


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation (ties get their mean rank); None when either side is constant."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def quality_spearman(quality: np.ndarray, pair_scores: np.ndarray, fingers: np.ndarray
                     ) -> tuple[float | None, float | None]:
    """How well a per-image quality predicts the matcher: (per image, per genuine pair).

    ``pair_scores[i, j]`` (i < j) is the protocol score of the pair (the earlier image as
    probe), ``quality[i]`` the image's quality (negative: unknown, left out). Per image: the
    Spearman correlation of the quality with the image's mean score over its genuine pairs
    (all other impressions of its finger). Per pair: min(quality of the two) against the
    genuine pair's score. Both are NFIQ-style "does the quality rank what the matcher will
    do" figures; the issue's target is on the first.
    """
    q = np.asarray(quality, np.float64)
    n = q.size
    sym = np.triu(pair_scores, 1)
    sym = sym + sym.T
    same = (fingers[:, None] == fingers[None, :]) & ~np.eye(n, dtype=bool)
    have = q >= 0
    mates = same.sum(1)
    use = have & (mates > 0)
    per_image = spearman(q[use], (sym * same).sum(1)[use] / mates[use]) if use.any() else None
    iu = np.triu_indices(n, 1)
    g = same[iu] & have[iu[0]] & have[iu[1]]
    per_pair = spearman(np.minimum(q[iu[0][g]], q[iu[1][g]]), sym[iu][g]) if g.any() else None
    return per_image, per_pair


def all_pairs_matrix(templates: list[Template | None]) -> tuple[np.ndarray, float]:
    """(scores [n, n] with row i the probe, bulk match pairs/s); a missing template scores 0.

    Throughput is pairs per second of this thread's CPU time (the numba kernel is single
    threaded), so that other work on a shared machine does not distort the per-core figure.
    """
    n = len(templates)
    ok = [t for t in templates if t is not None]
    preps = [prepare(t) for t in ok]
    gallery = pack(preps)
    row = np.full(n, -1, np.int64)
    row[[i for i, t in enumerate(templates) if t is not None]] = np.arange(len(ok))
    scores = np.zeros((n, n), np.float32)
    pairs = 0
    elapsed = 0.0
    for i in range(n):
        if row[i] < 0:
            continue
        t0 = time.thread_time()
        s = match_many(preps[row[i]], gallery)
        elapsed += time.thread_time() - t0
        pairs += len(gallery)
        have = row >= 0
        scores[i, have] = s[row[have]]
    return scores, pairs / elapsed if elapsed > 0 else 0.0


def all_pairs_scores(templates: list[Template | None], fingers: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """(genuine scores, impostor scores, bulk match pairs/s) of the all-pairs protocol."""
    scores, rate = all_pairs_matrix(templates)
    iu = np.triu_indices(len(templates), 1)
    upper = scores[iu]
    same = (fingers[:, None] == fingers[None, :])[iu]
    return upper[same], upper[~same], rate


class TemplateCache:
    """Extracted templates on disk: ``DIR/EXTRACTOR/SHA1-PPI.sct`` and a JSON of CPU times."""

    def __init__(self, folder: Path, extractor: str) -> None:
        self.folder = Path(folder) / extractor
        self.folder.mkdir(parents=True, exist_ok=True)
        self._times_file = self.folder / "cpu_ms.json"
        self.times: dict[str, float] = json.loads(self._times_file.read_text()) if self._times_file.is_file() else {}

    @staticmethod
    def key(image: Path, ppi: float) -> str:
        return f"{hashlib.sha1(image.read_bytes()).hexdigest()}-{ppi:g}"

    def get(self, key: str) -> tuple[Template, float] | None:
        f = self.folder / f"{key}.sct"
        if not f.is_file() or key not in self.times:
            return None
        return Template.from_bytes(f.read_bytes()), self.times[key]

    def put(self, key: str, t: Template, cpu_ms: float) -> None:
        (self.folder / f"{key}.sct").write_bytes(t.to_bytes())
        self.times[key] = cpu_ms
        self._times_file.write_text(json.dumps(self.times))


def run_database(db: Path, templates: str = "extract", ppi: float | None = None, limit_fingers: int | None = None,
                 progress: Callable[[int, int], None] | None = None, extractor: str = "classical",
                 cache: Path | None = None) -> DatabaseResult:
    """Extract (or read) every template of one database, then score the all-pairs protocol."""
    if templates not in ("extract", "iso"):
        raise ValueError(f"templates must be 'extract' or 'iso', got {templates!r}")
    samples = list_samples(db)
    if limit_fingers is not None:
        keep = sorted({s.finger for s in samples})[:limit_fingers]
        samples = [s for s in samples if s.finger in keep]
    if templates == "iso":
        samples = [s for s in samples if s.iso is not None]
    else:
        samples = [s for s in samples if s.image is not None]
    if len({s.finger for s in samples}) < 2:
        raise ValueError(f"{db}: need samples of at least two fingers, found {len(samples)} sample(s)")
    ex = store = None
    if templates == "extract":
        from securecomm.engine import extractors

        ex = extractors.get(extractor)  # ExtractorUnavailable (a RuntimeError) names a missing model
        dpi = database_ppi(db, ppi)
        store = TemplateCache(cache, ex.name) if cache is not None else None
    temps: list[Template | None] = []
    times: list[float] = []
    failed = 0
    for k, s in enumerate(samples):
        try:
            if ex is not None:
                key = TemplateCache.key(s.image, dpi) if store is not None else ""
                hit = store.get(key) if store is not None else None
                if hit is not None:
                    t, ms = hit
                else:
                    pixels = load_image(s.image)
                    t0 = time.process_time()  # CPU time of all threads (OpenCV may use several)
                    t = ex.extract(pixels, dpi)
                    ms = 1000 * (time.process_time() - t0)
                    if store is not None:
                        store.put(key, t, ms)
                times.append(ms)
            else:
                t = read_iso_file(s.iso)
        except (ImageError, TemplateError):
            t = None
        if t is None or len(t) == 0:
            failed += 1
            t = None
        temps.append(t)
        if progress:
            progress(k + 1, len(samples))
    fingers = np.array([s.finger for s in samples])
    matrix, rate = all_pairs_matrix(temps)
    iu = np.triu_indices(len(temps), 1)
    same = (fingers[:, None] == fingers[None, :])[iu]
    gen, imp = matrix[iu][same], matrix[iu][~same]
    r = error_rates(gen, imp)
    # a failed template is a quality-0 image (it scores 0 against everything)
    quality = np.array([t.image_quality if t is not None else 0 for t in temps], np.float64)
    rho, rho_pairs = quality_spearman(quality, matrix, fingers) if templates == "extract" else (None, None)
    return DatabaseResult(r.eer_pct, r.fmr100_pct, r.fmr1000_pct, r.zerofmr_pct, int(gen.size), int(imp.size),
                          statistics.median(times) if times else None, rate, failed,
                          statistics.fmean(times) if times else None, rho, rho_pairs)


def run(root: Path, templates: str = "extract", ppi: float | None = None, limit_fingers: int | None = None,
        databases: Iterable[Path] | None = None,
        progress: Callable[[str, int, int], None] | None = None, extractor: str = "classical",
        cache: Path | None = None) -> dict:
    """The benchmark's JSON object: per-database results and the mean EER."""
    dbs = list(databases) if databases is not None else find_databases(Path(root))
    out: dict[str, dict] = {}
    for db in dbs:
        cb = (lambda done, total, name=db.name: progress(name, done, total)) if progress else None
        out[db.name] = run_database(db, templates, ppi, limit_fingers, cb, extractor, cache).as_dict()
    eers = [d["eer_pct"] for d in out.values()]
    return {"databases": out, "mean_eer_pct": round(float(np.mean(eers)), 4), "templates": templates,
            "extractor": extractor if templates == "extract" else None, "protocol": "all pairs"}
