"""Step 2 of extraction: the ridge orientation field and its coherence.

Ridges run perpendicular to the grey-level gradient, so the local ridge
orientation is read from the gradient structure tensor (Kass & Witkin; Bazen &
Gerez 2002):

1. Gaussian-derivative gradients ``gx, gy`` (sigma ~1 px, enough to suppress
   pixel noise without blurring 9 px ridges away);
2. the tensor components ``gxx = gx^2``, ``gyy = gy^2``, ``gxy = gx*gy`` averaged
   with a Gaussian window (:data:`TENSOR_SIGMA`, about two ridge periods).
   Averaging squared gradients is the same as averaging *doubled-angle*
   vectors ``(gxx - gyy, 2 gxy)``: a gradient and its opposite (the two
   flanks of one ridge) reinforce instead of cancelling;
3. coherence ``sqrt((gxx-gyy)^2 + 4 gxy^2) / (gxx + gyy)`` in [0, 1]: 1 for
   perfectly parallel ridges, 0 for noise or for a singular point. It is the
   reliability of the orientation, used by segmentation, minutia filtering
   and the quality score;
4. a second, wider smoothing of the *unit* doubled-angle vectors weighted by
   coherence (:data:`FIELD_SIGMA`, about 3-4 ridge periods), so that creases,
   scars, pores and smudges borrow the orientation of the clean ridges around
   them instead of their own. Measured on FVC2002, widening this from 9 to
   16 px cut the mean EER from 3.3% to 2.6%: a wrong orientation makes the
   Gabor filter draw false ridges, the worst source of false minutiae. The
   field varies slowly, so this smoothing runs at a quarter of the resolution.

Angles here are in *image* coordinates (x right, y down, angle measured from
+x towards +y) and are orientations, i.e. defined modulo pi. The conversion to
the ISO direction convention happens only when minutiae are written out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from securecomm.engine.image import reduced_blur

#: Gradient scale (px): derivative-of-Gaussian sigma.
GRADIENT_SIGMA = 1.0
#: Structure-tensor averaging (px): ~ 2 ridge periods of support at 500 ppi.
TENSOR_SIGMA = 6.0
#: Smoothing of the orientation vectors (px), coherence weighted.
FIELD_SIGMA = 16.0


@dataclass(frozen=True)
class OrientationField:
    """Per-pixel ridge orientation (radians, image coords, mod pi) and reliability."""

    theta: np.ndarray  # float32, ridge direction in [0, pi)
    coherence: np.ndarray  # float32, 0..1 local (before the wide smoothing)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def gradients(img: np.ndarray, sigma: float = GRADIENT_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """Derivative-of-Gaussian gradients (float32) of a 2-D image."""
    f = img.astype(np.float32, copy=False)
    if sigma > 0:
        f = _blur(f, sigma)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return gx, gy


@dataclass(frozen=True)
class Tensor:
    """Smoothed gradient structure tensor as doubled-angle vector ``(a, b)`` plus energy and coherence."""

    a: np.ndarray  # gxx - gyy
    b: np.ndarray  # 2 gxy
    energy: np.ndarray  # gxx + gyy
    coherence: np.ndarray


def structure_tensor(img: np.ndarray, tensor_sigma: float | None = None) -> Tensor:
    """Steps 1-3 of the module docstring."""
    tensor_sigma = TENSOR_SIGMA if tensor_sigma is None else tensor_sigma
    gx, gy = gradients(img)
    # Gaussian window averages at half resolution: the tensor is smooth at this scale
    gxx = reduced_blur(gx * gx, tensor_sigma, 2, cv2.BORDER_REFLECT)
    gyy = reduced_blur(gy * gy, tensor_sigma, 2, cv2.BORDER_REFLECT)
    gxy = reduced_blur(gx * gy, tensor_sigma, 2, cv2.BORDER_REFLECT)
    a = gxx - gyy
    b = 2.0 * gxy
    energy = gxx + gyy
    coherence = np.sqrt(a * a + b * b) / np.maximum(energy, 1e-6)
    return Tensor(a, b, energy, coherence.astype(np.float32))


def _smooth_field(u: np.ndarray, v: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian smoothing of a slowly varying vector field, done at 1/4 resolution (same result, ~10x faster)."""
    if sigma < 6 or min(u.shape) < 64:
        return _blur(u, sigma), _blur(v, sigma)
    return reduced_blur(u, sigma, 4, cv2.BORDER_REFLECT), reduced_blur(v, sigma, 4, cv2.BORDER_REFLECT)


def orientation_field(img: np.ndarray, mask: np.ndarray | None = None,
                      tensor: Tensor | None = None,
                      field_sigma: float | None = None) -> OrientationField:
    """Ridge orientation of every pixel of ``img`` (see the module docstring).

    ``mask`` (optional, bool) restricts the wide smoothing to the foreground, so
    the background's random orientations do not leak into the print's edge.
    ``tensor`` reuses a structure tensor already computed for the same image.
    """
    field_sigma = FIELD_SIGMA if field_sigma is None else field_sigma
    t = structure_tensor(img) if tensor is None else tensor
    mag = np.sqrt(t.a * t.a + t.b * t.b)
    # unit doubled-angle vectors of the gradient, weighted by coherence
    w = t.coherence / np.maximum(mag, 1e-9)
    u = t.a * w
    v = t.b * w
    if mask is not None:
        m = mask.astype(np.float32)
        u *= m
        v *= m
    u, v = _smooth_field(u, v, field_sigma)
    # gradient angle is atan2(v, u) / 2; ridges run perpendicular to it
    theta = 0.5 * np.arctan2(v, u) + np.pi / 2
    theta = np.mod(theta, np.pi).astype(np.float32)
    return OrientationField(theta=theta, coherence=t.coherence)


def block_orientation(img: np.ndarray, block: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Block-wise orientation and coherence (the classic least-squares estimate).

    Used by tests and diagnostics: ``theta[i, j]`` is the ridge orientation of
    the block whose top-left is ``(i*block, j*block)``.
    """
    gx, gy = gradients(img)
    h, w = img.shape
    nh, nw = h // block, w // block
    if nh == 0 or nw == 0:
        raise ValueError(f"image {w}x{h} is smaller than one {block}-px block")
    crop = (slice(0, nh * block), slice(0, nw * block))

    def bsum(a: np.ndarray) -> np.ndarray:
        return a[crop].reshape(nh, block, nw, block).sum(axis=(1, 3))

    gxx, gyy, gxy = bsum(gx * gx), bsum(gy * gy), bsum(gx * gy)
    a, b = gxx - gyy, 2 * gxy
    theta = np.mod(0.5 * np.arctan2(b, a) + np.pi / 2, np.pi)
    coh = np.sqrt(a * a + b * b) / np.maximum(gxx + gyy, 1e-9)
    return theta.astype(np.float32), coh.astype(np.float32)


def angle_difference(a: np.ndarray | float, b: np.ndarray | float, period: float = np.pi) -> np.ndarray:
    """Smallest absolute difference between angles modulo ``period``."""
    d = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(d, period - d)
