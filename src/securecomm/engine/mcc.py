"""Minutia Cylinder-Code descriptors (Cappelli, Ferrara, Maltoni, TPAMI 2010), bit form.

Each minutia gets a cylinder: a 16x16 grid of cells in the minutia's own rotated
frame (radius R = 70 px) times 6 direction layers; a cell's bit says whether
neighbouring minutiae near that cell have a direction, relative to the central
minutia, in that layer's range. Cylinders are invariant to translation and
rotation and tolerant to distortion, and being 1536 bits each they compare with
a few dozen popcounts. Two templates are compared by the local similarity of all
cylinder pairs, consolidated into one score by LSS-R (Local Similarity Sort with
Relaxation), which keeps only pairs that agree geometrically with each other.
A comparison of small templates averages fewer pairs, so its impostor scores spread
further; the score is then put on the scale of a full comparison (size normalisation,
``_mcc_kernels._size_norm``).

The numeric kernels live in :mod:`securecomm.engine._mcc_kernels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from securecomm.engine import _mcc_kernels as K
from securecomm.engine.errors import TemplateError
from securecomm.engine.template import Template


@dataclass(frozen=True)
class MCCParams:
    """Cylinder and consolidation parameters; defaults follow the paper (MCC16b, LSS-R)."""

    radius: float = 70.0
    sigma_s: float = 28.0 / 3.0
    sigma_d: float = 2.0 * math.pi / 9.0
    mu_psi: float = 0.01
    omega: float = 50.0
    min_vc: float = 0.75  # fraction of in-radius cells that must be valid
    min_m: int = 2  # neighbours a cylinder needs
    min_me: float = 0.60  # fraction of in-radius cells two cylinders must share
    # Largest direction difference of matchable minutiae. Paper: pi/2; pi/3 still tolerates about
    # +-45 degrees of finger rotation (plus local direction noise), leaves a third fewer cylinder
    # pairs to compare and was as accurate on FVC2002 (all databases alike).
    delta_theta: float = math.pi / 3
    min_np: int = 4
    max_np: int = 12
    mu_p: float = 20.0
    tau_p: float = 0.4
    n_rel: int = 5
    w_r: float = 0.5
    mu1: float = 8.0  # paper: 5 px; 8 tolerates more distortion (FVC2002, all databases alike)
    tau1: float = -8.0 / 5.0
    mu2: float = math.pi / 12
    tau2: float = -30.0
    mu3: float = math.pi / 12
    tau3: float = -30.0
    #: Fewer valid cylinders than this on either side and the pair scores 0 ("too few usable
    #: minutiae"). With 4 or fewer cylinders the LSS-R average runs over nearly every pair there
    #: is and its ratio to the chance level is large by construction: random subsets of learned
    #: FVC2002 templates with 2-4 valid cylinders scored 0.75-0.86 (99th percentile) against other
    #: fingers, with 5 0.15, with 6 or more 0.09-0.11 like full templates. 5 leaves every FVC2002
    #: figure unchanged; 7-8 cost DB3's small prints genuine matches. docs/engine.md.
    min_cylinders: int = 5
    #: Size normalisation: a comparison averaging n_P < max_np pairs has its score's excess over the
    #: chance level scaled by (n_P / max_np) ** size_norm_power (0: raw LSS-R scores). The level is
    #: the median impostor score of full comparisons (FVC2002 0.0435, synthetic prints 0.0458); the
    #: power is the standard error of a mean's. Measured, not fitted: docs/benchmarks.md, issue 7 sixth pass.
    size_norm_level: float = 0.044
    size_norm_power: float = 0.5

    def pairs_averaged(self, nmin) -> np.ndarray:
        """LSS-R's n_P (the kernel's own rounding) for comparisons whose smaller side has ``nmin`` valid cylinders."""
        z = 1.0 / (1.0 + np.exp(-self.tau_p * (np.asarray(nmin, np.float64) - self.mu_p)))
        return self.min_np + np.rint(z * (self.max_np - self.min_np)).astype(np.int64)  # half to even, as round()

    def cells_in_radius(self) -> int:
        ds = 2.0 * self.radius / K.NS
        c = (np.arange(K.NS) - (K.NS - 1) / 2.0) * ds
        return int(np.count_nonzero(c[:, None] ** 2 + c[None, :] ** 2 <= self.radius ** 2))

    def vector(self) -> np.ndarray:
        """The consolidation parameters as the float vector the kernels take (one layout, here)."""
        return np.array([self.min_me * self.cells_in_radius(), self.delta_theta, self.min_np, self.max_np,
                         self.mu_p, self.tau_p, self.n_rel, self.w_r, self.mu1, self.tau1, self.mu2,
                         self.tau2, self.mu3, self.tau3, self.min_cylinders,
                         self.size_norm_level, self.size_norm_power], np.float64)


DEFAULT_PARAMS = MCCParams()


@dataclass(frozen=True, eq=False)
class Cylinders:
    """The valid cylinders of one template with their minutiae (y up, radians)."""

    bits: np.ndarray  # uint64 [n, CW]
    valid: np.ndarray  # uint64 [n, CW], spatial mask repeated per direction layer
    x: np.ndarray  # float64 [n]
    y: np.ndarray  # float64 [n], pointing up the image
    angle: np.ndarray  # float64 [n]
    n_minutiae: int  # minutiae in the template, valid cylinder or not

    def __len__(self) -> int:
        return int(self.x.size)


def cylinders(t: Template, params: MCCParams = DEFAULT_PARAMS) -> Cylinders:
    """Build the cylinders of a template; minutiae whose cylinder is invalid are dropped."""
    if not isinstance(t, Template):
        raise TemplateError(f"a Template is required, got {type(t).__name__}")
    x = t.x.astype(np.float64)
    y = -t.y.astype(np.float64)  # right-handed frame: the template's angles are ccw as seen on the image
    a = np.mod(t.angle.astype(np.float64), 2 * np.pi)
    bits, valid, keep = K.build_cylinders(x, y, a, params.radius, params.sigma_s, params.sigma_d,
                                          params.mu_psi, params.omega, params.min_vc, params.min_m)
    return Cylinders(np.ascontiguousarray(bits[keep]), np.ascontiguousarray(valid[keep]),
                     np.ascontiguousarray(x[keep]), np.ascontiguousarray(y[keep]),
                     np.ascontiguousarray(a[keep]), len(t))
