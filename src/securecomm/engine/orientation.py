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
   coherence (:data:`FIELD_SIGMA`), so that creases, scars and smudges borrow
   the orientation of the clean ridges around them instead of their own.

Angles here are in *image* coordinates (x right, y down, angle measured from
+x towards +y) and are orientations, i.e. defined modulo pi. The conversion to
the ISO direction convention happens only when minutiae are written out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Gradient scale (px): derivative-of-Gaussian sigma.
GRADIENT_SIGMA = 1.0
#: Structure-tensor averaging (px): ~ 2 ridge periods of support at 500 ppi.
TENSOR_SIGMA = 6.0
#: Smoothing of the orientation vectors (px), coherence weighted.
FIELD_SIGMA = 9.0


@dataclass(frozen=True)
class OrientationField:
    """Per-pixel ridge orientation (radians, image coords, mod pi) and reliability."""

    theta: np.ndarray  # float32, ridge direction in [0, pi)
    coherence: np.ndarray  # float32, 0..1 local (before the wide smoothing)
    energy: np.ndarray  # float32, mean squared gradient magnitude (local contrast)

    @property
    def cos2(self) -> np.ndarray:
        return np.cos(2.0 * self.theta)

    @property
    def sin2(self) -> np.ndarray:
        return np.sin(2.0 * self.theta)


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


def orientation_field(img: np.ndarray, mask: np.ndarray | None = None,
                      tensor_sigma: float | None = None,
                      field_sigma: float | None = None) -> OrientationField:
    """Ridge orientation of every pixel of ``img`` (see the module docstring).

    ``mask`` (optional, bool) restricts the wide smoothing to the foreground, so
    the background's random orientations do not leak into the print's edge.
    """
    tensor_sigma = TENSOR_SIGMA if tensor_sigma is None else tensor_sigma
    field_sigma = FIELD_SIGMA if field_sigma is None else field_sigma
    gx, gy = gradients(img)
    gxx = _blur(gx * gx, tensor_sigma)
    gyy = _blur(gy * gy, tensor_sigma)
    gxy = _blur(gx * gy, tensor_sigma)
    a = gxx - gyy
    b = 2.0 * gxy
    energy = gxx + gyy
    mag = np.sqrt(a * a + b * b)
    coherence = mag / np.maximum(energy, 1e-6)
    # unit doubled-angle vectors of the gradient, weighted by coherence
    with np.errstate(invalid="ignore", divide="ignore"):
        w = coherence / np.maximum(mag, 1e-9)
    u = a * w
    v = b * w
    if mask is not None:
        m = mask.astype(np.float32)
        u *= m
        v *= m
    u = _blur(u, field_sigma)
    v = _blur(v, field_sigma)
    # gradient angle is atan2(v, u) / 2; ridges run perpendicular to it
    theta = 0.5 * np.arctan2(v, u) + np.pi / 2
    theta = np.mod(theta, np.pi).astype(np.float32)
    return OrientationField(theta=theta, coherence=coherence.astype(np.float32),
                            energy=energy.astype(np.float32))


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
