"""Minutiae of a clean binary ridge map: thinning, crossing number, ISO directions.

Used on the *master* pattern, where ridges are noise-free, so the crossing
number read on the skeleton is the ground truth of what gets rendered.

It deliberately does not call the engine's thinning (``engine.minutiae``):
the ground truth measures that extractor, so it must not share its code or
its bugs.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.spatial import cKDTree

# 8-neighbour offsets in cyclic order (P2..P9 of Zhang-Suen): N, NE, E, SE, S, SW, W, NW.
_DY = np.array([-1, -1, 0, 1, 1, 1, 0, -1], np.int64)
_DX = np.array([0, 1, 1, 1, 0, -1, -1, -1], np.int64)


@numba.njit(cache=True)
def thin(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean image to a one-pixel skeleton (border pixels cleared)."""
    h, w = binary.shape
    img = np.zeros((h, w), np.uint8)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            img[y, x] = 1 if binary[y, x] else 0
    dy, dx = _DY, _DX
    p = np.zeros(8, np.int64)
    changed = True
    ys = np.empty(h * w, np.int64)
    xs = np.empty(h * w, np.int64)
    while changed:
        changed = False
        for step in range(2):
            n = 0
            for y in range(1, h - 1):
                for x in range(1, w - 1):
                    if img[y, x] == 0:
                        continue
                    b = 0
                    for i in range(8):
                        p[i] = img[y + dy[i], x + dx[i]]
                        b += p[i]
                    if b < 2 or b > 6:
                        continue
                    a = 0
                    for i in range(8):
                        if p[i] == 0 and p[(i + 1) % 8] == 1:
                            a += 1
                    if a != 1:
                        continue
                    if step == 0:
                        if p[0] * p[2] * p[4] != 0 or p[2] * p[4] * p[6] != 0:
                            continue
                    else:
                        if p[0] * p[2] * p[6] != 0 or p[0] * p[4] * p[6] != 0:
                            continue
                    ys[n] = y
                    xs[n] = x
                    n += 1
            for i in range(n):
                img[ys[i], xs[i]] = 0
            if n > 0:
                changed = True
    return img


@numba.njit(cache=True)
def _crossing(skel: np.ndarray, y: int, x: int) -> int:
    dy, dx = _DY, _DX
    c = 0
    for i in range(8):
        a = skel[y + dy[i], x + dx[i]]
        b = skel[y + dy[(i + 1) % 8], x + dx[(i + 1) % 8]]
        if a != b:
            c += 1
    return c // 2


@numba.njit(cache=True)
def _walk(skel: np.ndarray, y0: int, x0: int, y1: int, x1: int, steps: int) -> tuple:
    """Follow the skeleton from (y1, x1), coming from (y0, x0), for up to ``steps`` pixels."""
    h, w = skel.shape
    dy = np.array([-1, 0, 1, 0, -1, 1, 1, -1])  # 4-neighbours first
    dx = np.array([0, 1, 0, -1, 1, 1, -1, -1])
    py, px = y0, x0
    cy, cx = y1, x1
    vy = np.empty(steps + 2, np.int64)
    vx = np.empty(steps + 2, np.int64)
    vy[0] = y0
    vx[0] = x0
    vy[1] = y1
    vx[1] = x1
    nv = 2
    for _ in range(steps):
        found = False
        for i in range(8):
            ny, nx = cy + dy[i], cx + dx[i]
            if ny < 1 or nx < 1 or ny >= h - 1 or nx >= w - 1 or skel[ny, nx] == 0:
                continue
            seen = False
            for j in range(nv):
                if vy[j] == ny and vx[j] == nx:
                    seen = True
                    break
            if seen:
                continue
            # do not step to a pixel adjacent to the start (it is another branch of the same fork)
            if abs(ny - y0) <= 1 and abs(nx - x0) <= 1:
                continue
            py, px = cy, cx
            cy, cx = ny, nx
            vy[nv] = cy
            vx[nv] = cx
            nv += 1
            found = True
            break
        if not found:
            break
    return cy, cx


@numba.njit(cache=True)
def _detect(skel: np.ndarray, inner: np.ndarray, steps: int) -> np.ndarray:
    h, w = skel.shape
    dy, dx = _DY, _DX
    out = np.empty((h * w // 16 + 16, 4), np.float64)
    n = 0
    br_ang = np.empty(8, np.float64)
    for y in range(2, h - 2):
        for x in range(2, w - 2):
            if skel[y, x] == 0 or not inner[y, x]:
                continue
            cn = _crossing(skel, y, x)
            if cn == 1:
                # the single neighbour run: walk into the ridge
                for i in range(8):
                    if skel[y + dy[i], x + dx[i]] == 1:
                        ey, ex = _walk(skel, y, x, y + dy[i], x + dx[i], steps)
                        ang = math.atan2(-(ey - y), ex - x)
                        if ang < 0:
                            ang += 2 * math.pi
                        out[n, 0] = x
                        out[n, 1] = y
                        out[n, 2] = ang
                        out[n, 3] = 1
                        n += 1
                        break
            elif cn == 3:
                nb = 0
                for i in range(8):
                    a = skel[y + dy[i], x + dx[i]]
                    prev = skel[y + dy[(i + 7) % 8], x + dx[(i + 7) % 8]]
                    if a == 1 and prev == 0:
                        ey, ex = _walk(skel, y, x, y + dy[i], x + dx[i], steps)
                        br_ang[nb] = math.atan2(-(ey - y), ex - x)
                        nb += 1
                if nb != 3:
                    continue
                best = 10.0
                bis = 0.0
                for i in range(3):
                    for j in range(i + 1, 3):
                        d = br_ang[j] - br_ang[i]
                        d = math.atan2(math.sin(d), math.cos(d))
                        if abs(d) < best:
                            best = abs(d)
                            bis = br_ang[i] + d / 2.0
                bis = bis % (2 * math.pi)
                out[n, 0] = x
                out[n, 1] = y
                out[n, 2] = bis
                out[n, 3] = 2
                n += 1
            if n >= out.shape[0]:
                return out[:n]
    return out[:n]


def minutiae_from_binary(binary: np.ndarray, inner: np.ndarray, period: float) -> np.ndarray:
    """Endings and bifurcations of a clean ridge map, inside ``inner``; (N, 4) float32.

    Columns: x, y, ISO angle (counter-clockwise as seen, towards the ridge for an
    ending and between the branches for a bifurcation), kind. Pairs closer than
    about 0.7 ridge periods are dropped as a pair: they are spurs, bridges or
    gaps of the thinning, not minutiae an examiner would mark.
    """
    skel = thin(np.ascontiguousarray(binary, dtype=np.bool_))
    steps = max(6, int(round(1.1 * period)))
    raw = _detect(skel, np.ascontiguousarray(inner, dtype=np.bool_), steps)
    if raw.shape[0] > 1:
        tree = cKDTree(raw[:, :2])
        close = tree.query_pairs(0.7 * period, output_type="ndarray")
        keep = np.ones(raw.shape[0], bool)
        keep[close.ravel()] = False
        raw = raw[keep]
    return raw.astype(np.float32)
