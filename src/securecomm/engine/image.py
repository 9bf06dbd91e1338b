"""Step 0 of extraction: check the input image and bring it to 500 ppi.

Every later step assumes an 8-bit grayscale raster at 500 ppi (a ridge
period of about 9 px), so anything else is either converted here or refused
with an :class:`~securecomm.engine.errors.ImageError` that names the problem.
Refusing early matters: a flat, tiny or NaN-filled array would otherwise run
through the pipeline and come out as an empty or garbage template that a
search would silently treat as "no match".

Accepted input
    a 2-D array (or H x W x 1, or H x W x 3/4 colour converted with the
    ITU-R BT.601 luma weights) of an integer type with values in 0..255, or a
    16-bit image (scaled to 8 bits), or a finite float array within 0..255.
Refused
    empty arrays, other ranks, bool / complex / object / string dtypes, NaN or
    infinite values, floats outside 0..255, negative integers, images that are
    all one value or nearly so, images under :data:`MIN_SIDE` px a side or over
    :data:`~securecomm.engine.template.MAX_SIDE` after resampling, and
    resolutions outside :data:`MIN_PPI`..:data:`MAX_PPI`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from securecomm.engine.errors import ImageError
from securecomm.engine.template import MAX_SIDE

#: The resolution the engine works at (FBI / ISO standard for ten-prints).
TARGET_PPI = 500.0
#: Smallest side accepted, in px at 500 ppi (~3.3 mm: less holds no usable minutiae).
MIN_SIDE = 64
#: Resolution limits: outside them the "ppi" value is almost certainly a unit error.
MIN_PPI, MAX_PPI = 150.0, 2000.0
#: Largest pixel count accepted before resampling (a full 1000 ppi slap is ~ 16 Mpx).
MAX_PIXELS = 40_000_000
#: Minimum spread (robust dynamic range, grey levels) for an image to carry ridges.
MIN_CONTRAST = 12.0


def as_gray_u8(pixels: object) -> np.ndarray:
    """Return ``pixels`` as a contiguous 2-D uint8 array, or raise ImageError."""
    if pixels is None:
        raise ImageError("no image given (None)")
    try:
        arr = np.asarray(pixels)
    except Exception as exc:  # ragged lists and the like
        raise ImageError(f"image is not array-like: {exc}") from exc
    if arr.dtype == object:
        raise ImageError("image has dtype object; a numeric grayscale array is required")
    if arr.dtype.kind in "bUSVMm":
        raise ImageError(f"image dtype {arr.dtype} is not a grayscale pixel type")
    if arr.dtype.kind == "c":
        raise ImageError(f"image dtype {arr.dtype} is complex; a real grayscale array is required")
    if arr.size == 0:
        raise ImageError(f"image is empty (shape {arr.shape})")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = _to_luma(arr)
    if arr.ndim != 2:
        raise ImageError(f"image must be 2-D grayscale, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ImageError("image contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 255.0:
            raise ImageError(f"float image values must lie in 0..255, got {lo:g}..{hi:g}")
        return np.ascontiguousarray(np.rint(arr).astype(np.uint8))
    if arr.dtype.kind in "iu":
        if arr.dtype == np.uint8:
            return np.ascontiguousarray(arr)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise ImageError(f"integer image has negative values (min {lo})")
        if hi <= 255:
            return np.ascontiguousarray(arr.astype(np.uint8))
        if hi <= 65535:  # a 16-bit scan: keep the top 8 bits
            return np.ascontiguousarray((arr.astype(np.uint32) >> 8).astype(np.uint8))
        raise ImageError(f"integer image values must lie in 0..65535, got max {hi}")
    raise ImageError(f"unsupported image dtype {arr.dtype}")


def _to_luma(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in "iuf":
        raise ImageError(f"colour image dtype {arr.dtype} is not supported")
    rgb = arr[:, :, :3].astype(np.float64)
    if not np.all(np.isfinite(rgb)):
        raise ImageError("image contains NaN or infinite values")
    return rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114


def check_ppi(ppi: float) -> float:
    try:
        value = float(ppi)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"resolution must be a number of pixels per inch, got {ppi!r}") from exc
    if not math.isfinite(value) or not MIN_PPI <= value <= MAX_PPI:
        raise ImageError(f"resolution {ppi!r} ppi is outside {MIN_PPI:g}..{MAX_PPI:g}")
    return value


def reduced_blur(a: np.ndarray, sigma: float, factor: int = 2,
                 border: int = cv2.BORDER_DEFAULT) -> np.ndarray:
    """Gaussian blur of a slowly varying map, computed at 1/``factor`` resolution.

    The steps' tensors and normalisation maps vary over many pixels, so blurring a
    down-sampled copy and interpolating back gives the same map several times faster.
    """
    h, w = a.shape
    small = cv2.resize(a, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=border)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def prepare(pixels: object, ppi: float = TARGET_PPI) -> tuple[np.ndarray, float]:
    """Validate and resample to 500 ppi; returns (image, scale) with scale = 500 / ppi."""
    img = as_gray_u8(pixels)
    value = check_ppi(ppi)
    if img.size > MAX_PIXELS:
        raise ImageError(f"image of {img.shape[1]}x{img.shape[0]} px is absurdly large "
                         f"(> {MAX_PIXELS} pixels)")
    scale = TARGET_PPI / value
    if abs(scale - 1.0) > 1e-3:
        h = int(round(img.shape[0] * scale))
        w = int(round(img.shape[1] * scale))
        if min(h, w) >= 1:
            interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
            img = cv2.resize(img, (w, h), interpolation=interp)
    else:
        scale = 1.0
    h, w = img.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"image of {w}x{h} px at 500 ppi is too small "
                         f"(needs at least {MIN_SIDE} px a side)")
    if max(h, w) > MAX_SIDE:
        raise ImageError(f"image of {w}x{h} px at 500 ppi is larger than {MAX_SIDE} px a side")
    lo, hi = np.percentile(img, (1.0, 99.0))
    if hi - lo < MIN_CONTRAST or float(img.std()) < MIN_CONTRAST / 4:
        raise ImageError(f"image is flat (grey levels {int(lo)}..{int(hi)} over 98% of pixels): "
                         "no ridges to extract")
    return np.ascontiguousarray(img), scale
