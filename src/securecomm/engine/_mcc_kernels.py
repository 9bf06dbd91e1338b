"""Numba kernels behind :mod:`securecomm.engine.mcc`: cylinder building, local similarity, LSS-R.

Kept apart from the parameter/documentation module so that the jitted code is in
one place and compiled once (``cache=True``). Everything here works on plain
arrays; geometry is in a right-handed frame (x right, y *up*), angles in radians.

Cylinder bit layout: cell (k, i, j) (direction k < ND, spatial row i and column
j < NS) is bit ``k * NS*NS + i * NS + j`` of a row of uint64 words, so each
direction layer is ``SW = NS*NS/64`` whole words and the spatial validity mask
(SW words) lines up with every layer.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

NS = 16  # spatial cells per side
ND = 6  # direction layers
SW = NS * NS // 64  # words per spatial layer (4)
CW = SW * ND  # words per cylinder (24)

TWO_PI = 2.0 * math.pi
MAX_NR = 48  # most minutia pairs LSS-R relaxes (see _score_pair)


@intrinsic
def _popcnt64(typingctx, x):
    """The CPU's population count (llvm.ctpop), which numba does not expose directly."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def _dphi(a, b):
    """Angle difference a - b wrapped to [-pi, pi)."""
    d = a - b
    if d < -math.pi:
        d += TWO_PI
    elif d >= math.pi:
        d -= TWO_PI
    return d


@njit(cache=True, inline="always")
def _sig(v, mu, tau):
    """The paper's sigmoid Z(v; mu, tau)."""
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


# --------------------------------------------------------------------------------------------
# Convex hull (monotone chain) and the "inside the hull enlarged by omega" test for validity.

@njit(cache=True)
def convex_hull(x, y):
    """Indices of the convex hull of the points, counter-clockwise (y up). Degenerate sets give <3."""
    n = x.size
    order = np.argsort(x * 1e6 + y)  # lexicographic (x, then y) for coordinates < 1e6
    hull = np.empty(2 * n + 1, np.int64)
    k = 0
    for ii in range(n):
        i = order[ii]
        while k >= 2:
            a = hull[k - 2]
            b = hull[k - 1]
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) <= 0:
                k -= 1
            else:
                break
        hull[k] = i
        k += 1
    lower = k + 1
    for ii in range(n - 2, -1, -1):
        i = order[ii]
        while k >= lower:
            a = hull[k - 2]
            b = hull[k - 1]
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) <= 0:
                k -= 1
            else:
                break
        hull[k] = i
        k += 1
    if k > 1:
        k -= 1  # last point repeats the first
    return hull[:k]


@njit(cache=True)
def _in_hull(px, py, hx, hy, omega):
    """True if (px, py) lies inside the polygon (ccw) or within omega of its boundary."""
    m = hx.size
    if m == 0:
        return False
    inside = m >= 3
    best = 1e30
    for e in range(m):
        ax = hx[e]
        ay = hy[e]
        bx = hx[(e + 1) % m]
        by = hy[(e + 1) % m]
        ex = bx - ax
        ey = by - ay
        cross = ex * (py - ay) - ey * (px - ax)
        if cross < 0:
            inside = False
        ll = ex * ex + ey * ey
        t = 0.0
        if ll > 0:
            t = ((px - ax) * ex + (py - ay) * ey) / ll
            t = min(1.0, max(0.0, t))
        dx = px - (ax + t * ex)
        dy = py - (ay + t * ey)
        d2 = dx * dx + dy * dy
        if d2 < best:
            best = d2
    return inside or best <= omega * omega


# --------------------------------------------------------------------------------------------
# Cylinder creation.

@njit(cache=True, inline="always")
def _in_hull_fast(px, py, hx, hy, omega):
    """The same answer as :func:`_in_hull`, stopping as soon as it is known."""
    m = hx.size
    if m == 0:
        return False
    if m >= 3:
        inside = True
        for e in range(m):
            ax = hx[e]
            ay = hy[e]
            bx = hx[(e + 1) % m]
            by = hy[(e + 1) % m]
            ex = bx - ax
            ey = by - ay
            if ex * (py - ay) - ey * (px - ax) < 0:
                inside = False
                break
        if inside:
            return True
    om2 = omega * omega
    for e in range(m):
        ax = hx[e]
        ay = hy[e]
        bx = hx[(e + 1) % m]
        by = hy[(e + 1) % m]
        ex = bx - ax
        ey = by - ay
        ll = ex * ex + ey * ey
        t = 0.0
        if ll > 0:
            t = ((px - ax) * ex + (py - ay) * ey) / ll
            t = min(1.0, max(0.0, t))
        dx = px - (ax + t * ex)
        dy = py - (ay + t * ey)
        if dx * dx + dy * dy <= om2:
            return True
    return False


@njit(cache=True, inline="always")
def _neighbours(x, y, a, m, reach2, dd, sq2sd, near, cdir):
    """The minutiae within sqrt(reach2) of minutia ``m`` (into ``near``) with their directional
    contribution per layer (into ``cdir``; it depends only on the direction difference, not on the
    cell); returns how many. Shared by both cylinder builders."""
    xm = float(x[m])
    ym = float(y[m])
    am = float(a[m])
    cnt = 0
    for t in range(x.size):
        if t != m:
            dx = x[t] - xm
            dy = y[t] - ym
            if dx * dx + dy * dy <= reach2:
                near[cnt] = t
                dth = _dphi(am, float(a[t]))
                for k in range(ND):
                    phik = -math.pi + (k + 0.5) * dd
                    alpha = _dphi(phik, dth)
                    cdir[cnt, k] = 0.5 * (math.erf((alpha + dd / 2) / sq2sd)
                                          - math.erf((alpha - dd / 2) / sq2sd))
                cnt += 1
    return cnt


@njit(cache=True, inline="always")
def _repeat_layers(valid, m):
    """Copy minutia ``m``'s spatial validity mask (the first SW words) to each of the ND layers."""
    for k in range(1, ND):
        for q in range(SW):
            valid[m, k * SW + q] = valid[m, q]


@njit(cache=True, nogil=True)
def build_cylinders(x, y, a, radius, sigma_s, sigma_d, mu_psi, omega, min_vc, min_m):
    """Bit cylinders for every minutia; returns (bits[n, CW], valid[n, CW], keep[n]).

    ``valid`` is the spatial validity mask (SW words) repeated for each of the ND layers.

    A cell is valid when its centre is within ``radius`` of the minutia and inside the
    convex hull of all minutiae enlarged by ``omega``; a cylinder is kept when at least
    ``min_vc`` of the cells inside the radius are valid and at least ``min_m`` other
    minutiae lie within radius + 3 sigma_s (the paper's validity rules).

    The same bits as :func:`build_cylinders_reference` (the straightforward loops; a test
    compares them), about twice as fast: a minutia farther than ``radius - omega`` (+1 px)
    inside the hull has every cell valid without testing each; the hull test stops at its
    first answer; and each neighbour visits only the cells of the grid window around it
    (within 3 sigma_s + 1 px), adding its contributions in neighbour order, so every cell's
    sum is the same floating-point sum as cell by cell.
    """
    n = x.size
    bits = np.zeros((n, CW), np.uint64)
    valid = np.zeros((n, CW), np.uint64)
    keep = np.zeros(n, np.bool_)
    if n == 0:
        return bits, valid, keep
    hidx = convex_hull(x, y)
    hx = x[hidx].astype(np.float64)
    hy = y[hidx].astype(np.float64)
    nh = hx.size
    ds = 2.0 * radius / NS
    dd = TWO_PI / ND
    neigh_r = 3.0 * sigma_s
    nr2 = neigh_r * neigh_r
    gs_norm = 1.0 / (sigma_s * math.sqrt(TWO_PI))
    inv2s2 = 1.0 / (2.0 * sigma_s * sigma_s)
    sq2sd = sigma_d * math.sqrt(2.0)
    # the cells inside the radius, in the original (i, j) order
    cu = np.empty(NS * NS)
    cv = np.empty(NS * NS)
    ccell = np.empty(NS * NS, np.int64)
    n_in_radius = 0
    for i in range(NS):
        for j in range(NS):
            u = (j - (NS - 1) / 2.0) * ds
            v = (i - (NS - 1) / 2.0) * ds
            if u * u + v * v <= radius * radius:
                cu[n_in_radius] = u
                cv[n_in_radius] = v
                ccell[n_in_radius] = i * NS + j
                n_in_radius += 1
    # a minutia this deep inside the hull has all its in-radius cells within omega of it
    margin = radius - omega + 1.0
    half = (NS - 1) / 2.0
    reach_c = neigh_r + 1.0  # a conservative window: the exact test below decides
    gx = np.empty(NS * NS)
    gy = np.empty(NS * NS)
    cvalid = np.zeros(NS * NS, np.bool_)
    acc = np.zeros((NS * NS, ND))
    near = np.empty(n, np.int64)
    cdir = np.empty((n, ND))
    reach2 = (radius + neigh_r) ** 2
    for m in range(n):
        xm = float(x[m])
        ym = float(y[m])
        am = float(a[m])
        cnt_m = _neighbours(x, y, a, m, reach2, dd, sq2sd, near, cdir)
        if cnt_m < min_m:
            continue
        deep = False
        if nh >= 3:
            dmin = 1e30
            for e in range(nh):
                ax = hx[e]
                ay = hy[e]
                ex = hx[(e + 1) % nh] - ax
                ey = hy[(e + 1) % nh] - ay
                ll = math.sqrt(ex * ex + ey * ey)
                if ll <= 0:
                    continue
                sd = (ex * (ym - ay) - ey * (xm - ax)) / ll  # >0 inside (ccw)
                if sd < dmin:
                    dmin = sd
            deep = dmin >= margin
        ca = math.cos(am)
        sa = math.sin(am)
        nvalid = 0
        # the valid cells' centres (exactly as before), on the NS x NS grid
        cvalid[:] = False
        for c in range(n_in_radius):
            u = cu[c]
            v = cv[c]
            px = xm + ca * u - sa * v
            py = ym + sa * u + ca * v
            if not deep:
                if not _in_hull_fast(px, py, hx, hy, omega):
                    continue
            cell = ccell[c]
            gx[cell] = px
            gy[cell] = py
            cvalid[cell] = True
            valid[m, cell >> 6] |= np.uint64(1) << np.uint64(cell & 63)
            nvalid += 1
            for k in range(ND):
                acc[cell, k] = 0.0
        # each neighbour adds to the cells within neigh_r of it, in neighbour order (the same sums)
        for q in range(cnt_m):
            t = near[q]
            rx = x[t] - xm
            ry = y[t] - ym
            ut = ca * rx + sa * ry
            vt = -sa * rx + ca * ry
            j0 = max(0, int(math.floor((ut - reach_c) / ds + half)))
            j1 = min(NS - 1, int(math.ceil((ut + reach_c) / ds + half)))
            i0 = max(0, int(math.floor((vt - reach_c) / ds + half)))
            i1 = min(NS - 1, int(math.ceil((vt + reach_c) / ds + half)))
            for i in range(i0, i1 + 1):
                for j in range(j0, j1 + 1):
                    cell = i * NS + j
                    if not cvalid[cell]:
                        continue
                    dx = x[t] - gx[cell]
                    dy = y[t] - gy[cell]
                    d2 = dx * dx + dy * dy
                    if d2 > nr2:
                        continue
                    cs = gs_norm * math.exp(-d2 * inv2s2)
                    for k in range(ND):
                        acc[cell, k] += cs * cdir[q, k]
        for cell in range(NS * NS):
            if cvalid[cell]:
                for k in range(ND):
                    if acc[cell, k] >= mu_psi:
                        b = k * NS * NS + cell
                        bits[m, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        if nvalid >= min_vc * n_in_radius:
            keep[m] = True
        _repeat_layers(valid, m)
    return bits, valid, keep


@njit(cache=True, nogil=True)
def build_cylinders_reference(x, y, a, radius, sigma_s, sigma_d, mu_psi, omega, min_vc, min_m):
    """The straightforward cell-by-cell builder: the reference :func:`build_cylinders` must equal.

    Returns (bits[n, CW], valid[n, CW], keep[n]).

    ``valid`` is the spatial validity mask (SW words) repeated for each of the ND layers.

    A cell is valid when its centre is within ``radius`` of the minutia and inside the
    convex hull of all minutiae enlarged by ``omega``; a cylinder is kept when at least
    ``min_vc`` of the cells inside the radius are valid and at least ``min_m`` other
    minutiae lie within radius + 3 sigma_s (the paper's validity rules).
    """
    n = x.size
    bits = np.zeros((n, CW), np.uint64)
    valid = np.zeros((n, CW), np.uint64)
    keep = np.zeros(n, np.bool_)
    if n == 0:
        return bits, valid, keep
    hidx = convex_hull(x, y)
    hx = x[hidx].astype(np.float64)
    hy = y[hidx].astype(np.float64)
    ds = 2.0 * radius / NS
    dd = TWO_PI / ND
    neigh_r = 3.0 * sigma_s
    gs_norm = 1.0 / (sigma_s * math.sqrt(TWO_PI))
    inv2s2 = 1.0 / (2.0 * sigma_s * sigma_s)
    sq2sd = sigma_d * math.sqrt(2.0)
    n_in_radius = 0
    for i in range(NS):
        for j in range(NS):
            u = (j - (NS - 1) / 2.0) * ds
            v = (i - (NS - 1) / 2.0) * ds
            if u * u + v * v <= radius * radius:
                n_in_radius += 1
    cd = np.empty(ND)
    near = np.empty(n, np.int64)
    cdir = np.empty((n, ND))
    reach2 = (radius + neigh_r) ** 2
    for m in range(n):
        xm = float(x[m])
        ym = float(y[m])
        am = float(a[m])
        cnt_m = _neighbours(x, y, a, m, reach2, dd, sq2sd, near, cdir)
        if cnt_m < min_m:
            continue
        ca = math.cos(am)
        sa = math.sin(am)
        nvalid = 0
        for i in range(NS):
            for j in range(NS):
                u = (j - (NS - 1) / 2.0) * ds
                v = (i - (NS - 1) / 2.0) * ds
                if u * u + v * v > radius * radius:
                    continue
                px = xm + ca * u - sa * v
                py = ym + sa * u + ca * v
                if not _in_hull(px, py, hx, hy, omega):
                    continue
                cell = i * NS + j
                valid[m, cell >> 6] |= np.uint64(1) << np.uint64(cell & 63)
                nvalid += 1
                for k in range(ND):
                    cd[k] = 0.0
                for q in range(cnt_m):
                    t = near[q]
                    dx = x[t] - px
                    dy = y[t] - py
                    d2 = dx * dx + dy * dy
                    if d2 > neigh_r * neigh_r:
                        continue
                    cs = gs_norm * math.exp(-d2 * inv2s2)
                    for k in range(ND):
                        cd[k] += cs * cdir[q, k]
                for k in range(ND):
                    if cd[k] >= mu_psi:
                        b = k * NS * NS + cell
                        bits[m, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        if nvalid >= min_vc * n_in_radius:
            keep[m] = True
        _repeat_layers(valid, m)
    return bits, valid, keep


# --------------------------------------------------------------------------------------------
# Matching: local similarity matrix, then LSS-R consolidation.

@njit(cache=True)
def _pair_geometry(x, y, a, dist, ray):
    """dist[i, k] = |m_k - m_i|; ray[i, k] = direction of m_i minus the direction of the ray m_i -> m_k."""
    n = x.size
    for i in range(n):
        dist[i, i] = 0.0
        ray[i, i] = 0.0
        for k in range(n):
            if k != i:
                dx = x[k] - x[i]
                dy = y[k] - y[i]
                dist[i, k] = math.sqrt(dx * dx + dy * dy)
                ray[i, k] = _dphi(a[i], math.atan2(dy, dx))


@njit(cache=True)
def _score_pair(abits, avalid, ax, ay, aa, adist, aray, bbits, bvalid, bx, by, ba,
                min_me_cells, delta_theta, min_np, max_np, mu_p, tau_p,
                n_rel, w_r, mu1, tau1, mu2, tau2, mu3, tau3, min_cyl, norm_level, norm_power,
                keys, ia, ib, used_b, lam, lam2, lam0, rho, eff):
    """MCC bit-cylinder local similarities + LSS-R global score for one pair of templates.

    The probe side's pairwise geometry (adist, aray) is computed once per probe by the caller.
    ``norm_level``, ``norm_power``: the size normalisation (:func:`_size_norm`).
    """
    na = ax.size
    nb = bx.size
    if na < 2 or nb < 2 or na < min_cyl or nb < min_cyl:
        return 0.0  # too few usable minutiae on one side (MCCParams.min_cylinders)
    # 1. Local similarities of matchable pairs. avalid/bvalid hold the spatial validity mask
    #    repeated for every direction layer (CW words), so one flat loop covers all layers.
    #    Only each probe minutia's two best partners are kept: the greedy pairing below
    #    almost never reaches further down a row, and keeping two makes selection cheap.
    cnt = 0
    g_sum = 0.0
    g_n = 0
    for i in range(na):
        arow = abits[i]
        avrow = avalid[i]
        g1 = 0.0
        j1 = -1
        g2 = 0.0
        j2 = -1
        for j in range(nb):
            if abs(_dphi(aa[i], ba[j])) > delta_theta:
                continue
            bvrow = bvalid[j]
            vc = 0
            for q in range(SW):
                vc += _popcnt64(avrow[q] & bvrow[q])
            if vc < min_me_cells:
                continue
            brow = bbits[j]
            s_a = 0
            s_b = 0
            s_x = 0
            for w in range(CW):
                x1 = arow[w] & bvrow[w]
                x2 = brow[w] & avrow[w]
                s_a += _popcnt64(x1)
                s_b += _popcnt64(x2)
                s_x += _popcnt64(x1 ^ x2)
            if s_a + s_b == 0:
                continue
            g = 1.0 - math.sqrt(float(s_x)) / (math.sqrt(float(s_a)) + math.sqrt(float(s_b)))
            g_sum += g
            g_n += 1
            if g > g1:
                g2 = g1
                j2 = j1
                g1 = g
                j1 = j
            elif g > g2:
                g2 = g
                j2 = j
        if j1 >= 0:
            keys[cnt] = (np.int64(g1 * 1099511627776.0) << 17) | (i * 2)
            cnt += 1
        if j2 >= 0:
            keys[cnt] = (np.int64(g2 * 1099511627776.0) << 17) | (i * 2 + 1)
            cnt += 1
        lam2[i] = j1  # scratch: best and second best column of row i
        eff[i] = j2
    if cnt == 0:
        return 0.0
    nmin = min(na, nb)
    n_p = min_np + int(round(_sig(float(nmin), mu_p, tau_p) * (max_np - min_np)))
    n_p0 = n_p  # the size class of this comparison (step 6)
    # 2. Preselect up to n_R = min(na, nb, MAX_NR) pairs, best first, each minutia used at most
    #    once. The paper has no cap; it only bites on rolled prints (100+ minutiae), where the
    #    relaxation's cost grows with n_R squared and n_P <= 12 pairs are kept in the end.
    #    Keys (quantised similarity, then row/rank) sort the same way every time.
    ks = np.sort(keys[:cnt])
    for j in range(nb):
        used_b[j] = False
    nr = 0
    for c in range(cnt - 1, -1, -1):
        code = ks[c] & 131071
        i = code >> 1
        j = int(lam2[i]) if (code & 1) == 0 else int(eff[i])
        if used_b[j]:
            continue
        dup = False
        for t in range(nr):
            if ia[t] == i:
                dup = True
                break
        if dup:
            continue
        used_b[j] = True
        ia[nr] = i
        ib[nr] = j
        lam0[nr] = (ks[c] >> 17) / 1099511627776.0
        nr += 1
        if nr == nmin or nr == MAX_NR:
            break
    if n_p > nr:
        n_p = nr
    # 3. Relaxation: compatibility of every two selected pairs (distance, relative direction,
    #    and the direction of the joining ray must agree in both prints).
    for t in range(nr):
        rho[t, t] = 0.0
        i1 = ia[t]
        j1 = ib[t]
        for k in range(t + 1, nr):
            i2 = ia[k]
            j2 = ib[k]
            dxb = bx[j2] - bx[j1]
            dyb = by[j2] - by[j1]
            db = math.sqrt(dxb * dxb + dyb * dyb)
            d1 = abs(adist[i1, i2] - db)
            r = 0.0
            if d1 < mu1 + 8.0:  # beyond this the sigmoid is < 1e-5
                d2 = abs(_dphi(_dphi(aa[i1], aa[i2]), _dphi(ba[j1], ba[j2])))
                if d2 < mu2 + 0.5:
                    rb = _dphi(ba[j1], math.atan2(dyb, dxb))
                    d3 = abs(_dphi(aray[i1, i2], rb))
                    if d3 < mu3 + 0.5:
                        r = _sig(d1, mu1, tau1) * _sig(d2, mu2, tau2) * _sig(d3, mu3, tau3)
            rho[t, k] = r
            rho[k, t] = r
    for t in range(nr):
        lam[t] = lam0[t]
    if nr > 1:
        for _ in range(n_rel):
            for t in range(nr):
                s = 0.0
                for k in range(nr):
                    s += rho[t, k] * lam[k]
                lam2[t] = w_r * lam[t] + (1.0 - w_r) * s / (nr - 1)
            for t in range(nr):
                lam[t] = lam2[t]
    # 4. Keep the n_P pairs whose similarity survived relaxation best; average their final values.
    for t in range(nr):
        eff[t] = lam[t] / lam0[t]
    tot = 0.0
    for _ in range(n_p):
        best = -1
        for t in range(nr):
            if eff[t] >= 0.0 and (best < 0 or eff[t] > eff[best]):
                best = t
        tot += lam[best]
        eff[best] = -1.0
    # 5. Normalise by the chance level of this comparison: the mean local similarity of all
    #    matchable cylinder pairs. It depends on the sensor (cylinder density), so dividing by
    #    it keeps impostor scores, and so one threshold's false match rate, alike across sensors.
    #    r / (1 + r) maps the ratio monotonically into [0, 1).
    if g_sum <= 0.0:
        return 0.0
    r = (tot / n_p) / (g_sum / g_n)
    return _size_norm(r / (1.0 + r), n_p0, max_np, norm_level, norm_power)


@njit(cache=True)
def _size_norm(s, n_p, max_np, level, power):
    """6. Put the score of a small comparison on the scale of a full one (max_np pairs averaged).

    LSS-R averages the n_P best pairs, and n_P shrinks with the smaller template. The average of fewer
    values spreads further above the chance level, so small comparisons have heavier impostor tails
    (FVC2002, n_P = 4 against 12: 99th percentile 0.100 against 0.070), and one small finger could lend
    an impostor strong evidence. Scaling the excess over the chance level ``level`` by
    (n_P / max_np) ** ``power`` undoes that spread (0.5: the standard error of a mean). Monotone; the
    identity at n_P = max_np, at or below the chance level, and with power 0 (raw LSS-R scores).
    """
    if power <= 0.0 or n_p >= max_np or s <= level:
        return s
    return level + (s - level) * (n_p / max_np) ** power


@njit(cache=True, nogil=True)
def _score_range(abits, avalid, ax, ay, aa, adist, aray, gbits, gvalid, gx, gy, ga, starts, ends, g0, g1, params,
                 out):
    """Score the probe against gallery templates g0..g1-1 (template g: rows starts[g]:ends[g]) with scratch
    space of its own."""
    max_n = max(ax.size, 1)
    for g in range(g0, g1):
        c = ends[g] - starts[g]
        if c > max_n:
            max_n = c
    keys = np.empty(2 * max_n, np.int64)
    ia = np.empty(max_n, np.int64)
    ib = np.empty(max_n, np.int64)
    used_b = np.empty(max_n, np.bool_)
    lam = np.empty(max_n)
    lam2 = np.empty(max_n)
    lam0 = np.empty(max_n)
    rho = np.empty((max_n, max_n))
    eff = np.empty(max_n)
    min_me_cells = params[0]
    delta_theta = params[1]
    min_np = int(params[2])
    max_np = int(params[3])
    n_rel = int(params[6])
    for g in range(g0, g1):
        s = starts[g]
        e = ends[g]
        out[g] = _score_pair(abits, avalid, ax, ay, aa, adist, aray,
                             gbits[s:e], gvalid[s:e], gx[s:e], gy[s:e], ga[s:e],
                             min_me_cells, delta_theta, min_np, max_np, params[4], params[5],
                             n_rel, params[7], params[8], params[9], params[10], params[11],
                             params[12], params[13], int(params[14]), params[15], params[16],
                             keys, ia, ib, used_b, lam, lam2, lam0, rho, eff)


@njit(cache=True, nogil=True)
def score_rows(abits, avalid, ax, ay, aa, gbits, gvalid, gx, gy, ga, starts, ends, params, out):
    """score_many over templates that need not be adjacent: template g is rows starts[g]:ends[g] of the
    gallery arrays (a shortlist scored where it lies, with no copy); the same serial code per template."""
    na = ax.size
    adist = np.empty((na, na))
    aray = np.empty((na, na))
    _pair_geometry(ax, ay, aa, adist, aray)
    _score_range(abits, avalid, ax, ay, aa, adist, aray, gbits, gvalid, gx, gy, ga, starts, ends,
                 0, starts.size, params, out)


@njit(cache=True, nogil=True)
def score_many(abits, avalid, ax, ay, aa, gbits, gvalid, gx, gy, ga, offsets, params, out):
    """Score one probe against every template of a packed gallery (rows offsets[g]:offsets[g+1])."""
    score_rows(abits, avalid, ax, ay, aa, gbits, gvalid, gx, gy, ga, offsets[:-1], offsets[1:], params, out)


@njit(cache=True, nogil=True, parallel=True)
def score_many_parallel(abits, avalid, ax, ay, aa, gbits, gvalid, gx, gy, ga, offsets, params, out, chunks):
    """score_many over ``chunks`` slices of the gallery on numba's threads; identical scores
    (every gallery template is scored by the same serial code, written by one thread)."""
    na = ax.size
    ng = offsets.size - 1
    adist = np.empty((na, na))
    aray = np.empty((na, na))
    _pair_geometry(ax, ay, aa, adist, aray)
    for c in prange(chunks):
        g0 = c * ng // chunks
        g1 = (c + 1) * ng // chunks
        _score_range(abits, avalid, ax, ay, aa, adist, aray, gbits, gvalid, gx, gy, ga, offsets[:-1],
                     offsets[1:], g0, g1, params, out)


@njit(cache=True, nogil=True)
def score_one(abits, avalid, ax, ay, aa, bbits, bvalid, bx, by, ba, params):
    """Score one pair: the bulk kernel on a one-template gallery, so both paths agree exactly."""
    out = np.zeros(1)
    offsets = np.array([0, bx.size], np.int64)
    score_many(abits, avalid, ax, ay, aa, bbits, bvalid, bx, by, ba, offsets, params, out)
    return out[0]
