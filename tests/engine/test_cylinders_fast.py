"""The fast cylinder builder gives exactly the reference builder's bits (issue 7: enrolment speed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from securecomm.engine import _mcc_kernels as K
from securecomm.engine.iso19794 import read_iso_file
from securecomm.engine.mcc import DEFAULT_PARAMS as P
from securecomm.synth import templates as T


def _build(fn, x, y, a):
    return fn(x, y, a, P.radius, P.sigma_s, P.sigma_d, P.mu_psi, P.omega, P.min_vc, P.min_m)


def _same(x, y, a):
    got = _build(K.build_cylinders, x, y, a)
    want = _build(K.build_cylinders_reference, x, y, a)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)
    return int(want[2].sum())


def test_synthetic_templates_plain_and_rolled():
    kept = 0
    for kind in ("plain", "rolled"):
        p = T.impressions(60, 5, 0, kind)
        for i in range(60):
            t = p.template(i)
            kept += _same(t.x.astype(np.float64), -t.y.astype(np.float64),
                          np.mod(t.angle.astype(np.float64), 2 * math.pi))
    assert kept > 1000  # the comparison covered real cylinders


def test_fvc_templates(fvc2002):
    for db in ("DB1_B", "DB3_B"):
        for f in range(101, 106):
            t = read_iso_file(fvc2002 / db / f"{f}_1.iso")
            _same(t.x.astype(np.float64), -t.y.astype(np.float64),
                  np.mod(t.angle.astype(np.float64), 2 * math.pi))


@pytest.mark.parametrize("seed", range(30))
def test_random_and_degenerate_point_sets(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 70))
    if seed % 5 == 0:  # collinear: a degenerate hull
        x = np.linspace(0, 300, n)
        y = np.full(n, 100.0)
    elif seed % 5 == 1:  # clustered, many duplicates
        x = np.round(rng.uniform(0, 40, n))
        y = np.round(rng.uniform(0, 40, n))
    else:
        x = rng.uniform(0, 400, n)
        y = rng.uniform(-500, 0, n)
    a = rng.uniform(0, 2 * math.pi, n)
    _same(np.asarray(x, np.float64), np.asarray(y, np.float64), a)
