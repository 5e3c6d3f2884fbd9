"""The compiled loops of the multinomial paths of ``research.glm_path`` (numba): glmnet's
per-class IRLS with its identifiability step (ungrouped) and its scalar-bound MM step
(grouped). The conventions and the shared coordinate-descent loops are in
``research.glm._kernels``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from research.glm._kernels import (
    MAXIT,
    OK,
    PMIN,
    SKIPPED,
    VANISHED,
    VMIN,
    _enter,
    _strong_rule,
    _wls,
)

__all__ = ["fit_grouped", "fit_multinomial", "multinomial_state"]

EXMX = 250.0
"""glmnet's ``exmx``: multinomial links are clipped to ``[-exmx, exmx]``."""


# --------------------------------------------------------------------------- multinomial
EMIN = PMIN / (1.0 - PMIN)
PFM = (1.0 + PMIN) * PMIN
PFX = (1.0 - PMIN) ** 2


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _class_link(X, B, a, offset, k, order, count, out):
    """Class ``k``'s link ``a_k + offset_k + X b_k``, clipped to ``[-EXMX, EXMX]``."""
    n = out.shape[0]
    for s in range(n):
        out[s] = a[k] + offset[s, k]
    for i in range(count):
        j = order[i]
        if B[k, j] != 0.0:
            for s in range(n):
                out[s] += B[k, j] * X[s, j]
    for s in range(n):
        out[s] = min(max(out[s], -EXMX), EXMX)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _requantize(q, sxp, k, link):
    """Replaces class ``k``'s unnormalized probability ``exp(link)`` (clipped relative to
    the other classes' sum, as glmnet does) and the row sums."""
    for s in range(q.shape[0]):
        sxp[s] -= q[s, k]
        q[s, k] = min(max(math.exp(link[s]), EMIN * sxp[s]), sxp[s] / EMIN)
        sxp[s] += q[s, k]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def multinomial_state(X, B, a, offset, order, count, q, sxp):
    """``q`` (unnormalized probabilities) and ``sxp`` (their row sums) at ``(a, B)``."""
    n, K = q.shape
    link = np.empty(n)
    for k in range(K):
        _class_link(X, B, a, offset, k, order, count, link)
        for s in range(n):
            q[s, k] = math.exp(link[s])
    for s in range(n):
        total = 0.0
        for k in range(K):
            total += q[s, k]
        sxp[s] = total


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _class_weights(Y, wt, q, sxp, k, v, r):
    """Class ``k``'s IRLS curvature and residual; returns ``sum(v)``."""
    xmz = 0.0
    for s in range(wt.shape[0]):
        p = q[s, k] / sxp[s]
        if p < PFM:
            p, vs = 0.0, 0.0
        elif p > PFX:
            p, vs = 1.0, 0.0
        else:
            vs = wt[s] * p * (1.0 - p)
        v[s] = vs
        r[s] = wt[s] * (Y[s, k] - p)
        xmz += vs
    return xmz


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _row_shift(alpha, lo, hi, row):
    """The shift ``s`` minimizing ``sum_k (1 - alpha)/2 (row_k - s)**2 + alpha |row_k - s|``
    (glmnet's ``elc``), clamped so that ``row - s`` stays within ``[lo, hi]``."""
    K = row.shape[0]
    mean = row.sum() / K
    out = mean
    if alpha > 0.0 and K != 2:
        srt = np.sort(row)
        if srt[0] == srt[K - 1]:
            out = row[0]
        elif alpha == 1.0:
            out = srt[K // 2] if K % 2 == 1 else 0.5 * (srt[K // 2] + srt[K // 2 - 1])
        else:
            out = _elastic_shift(srt, mean, alpha)
    return max((row - hi).max(), min((row - lo).min(), out))


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _elastic_shift(srt, mean, alpha):
    """The exact minimizer for ``0 < alpha < 1``: on each interval between sorted values the
    objective is a quadratic with stationary point ``mean + alpha / ((1 - alpha) K) c``, ``c``
    the count of values above minus below; else the best of the values themselves."""
    K = srt.shape[0]
    scale = alpha / ((1.0 - alpha) * K)
    for m in range(K + 1):  # the interval (srt[m-1], srt[m])
        s = mean + scale * (K - 2 * m)
        low = -np.inf if m == 0 else srt[m - 1]
        high = np.inf if m == K else srt[m]
        if low < s < high:
            return s
    best, best_value = srt[0], np.inf
    for m in range(K):
        s = srt[m]
        value = 0.0
        for i in range(K):
            value += 0.5 * (1.0 - alpha) * (srt[i] - s) ** 2 + alpha * abs(srt[i] - s)
        if value < best_value:
            best, best_value = s, value
    return best


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _center(X, B, a, vp, lo, hi, alpha, order, count, q, sxp, intercept):
    """glmnet's identifiability step: intercepts to mean 0, each active row of ``B`` shifted
    by its penalty-minimizing value (the mean for unpenalized rows); the probabilities are
    unchanged, ``q`` and ``sxp`` rescaled by the change of every class's link."""
    n, K = q.shape
    shift = np.zeros(n)
    if intercept:
        s0 = -a.mean()
        a += s0
        shift[:] = s0
    row = np.empty(K)
    for i in range(count):
        j = order[i]
        for k in range(K):
            row[k] = B[k, j]
        sj = row.mean() if vp[j] <= 0.0 else _row_shift(alpha, lo[j], hi[j], row)
        if sj != 0.0:
            for k in range(K):
                B[k, j] -= sj
            for s in range(n):
                shift[s] -= sj * X[s, j]
    for s in range(n):
        f = math.exp(shift[s])
        sxp[s] *= f
        for k in range(K):
            q[s, k] *= f


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _kkt_multinomial(X, Y, wt, q, sxp, g, ju, vp, strong, ab, grouped):
    """The KKT check of the columns outside the strong set, from every class's residual."""
    n, K = q.shape
    R = np.empty((n, K))
    for s in range(n):
        for k in range(K):
            R[s, k] = wt[s] * (Y[s, k] - q[s, k] / sxp[s])
    added = 0
    for j in range(g.shape[0]):
        if not ju[j] or strong[j]:
            continue
        total = 0.0
        for k in range(K):
            d = 0.0
            for s in range(n):
                d += R[s, k] * X[s, j]
            total = total + d * d if grouped else max(total, abs(d))
        g[j] = math.sqrt(total) if grouped else total
        if g[j] > ab * vp[j]:
            strong[j] = True
            added += 1
    return added


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def fit_multinomial(
    X,
    Y,
    wt,
    offset,
    xv,
    vp,
    lo,
    hi,
    ju,
    lam,
    lam_prev,
    alpha,
    intercept,
    thr,
    maxit,
    B,
    a,
    q,
    sxp,
    g,
    strong,
    active,
    order,
    counts,
):
    """Fits one strength of an ungrouped multinomial path (glmnet's per-class IRLS with the
    identifiability step). ``B`` is (K, p), ``xv`` (K, p), ``Y`` (n, K) proportions."""
    ab, dem = lam * alpha, lam * (1.0 - alpha)
    _strong_rule(g, ju, vp, strong, alpha, lam, lam_prev)
    n, K = q.shape
    p = B.shape[1]
    v, r, link = np.empty(n), np.empty(n), np.empty(n)
    a_old, B_old = np.empty(K), np.empty((K, p))
    while True:
        if counts[1] > maxit:
            return MAXIT
        a_old[:] = a
        B_old[:] = B
        converged, skipped = True, 0
        for k in range(K):
            xmz = _class_weights(Y, wt, q, sxp, k, v, r)
            if xmz <= VMIN:
                skipped += 1
                continue
            for j in range(p):
                if strong[j]:
                    total = 0.0
                    for s in range(n):
                        total += v[s] * X[s, j] * X[s, j]
                    xv[k, j] = total
            bk, xvk = B[k], xv[k]
            if not _wls(
                X,
                v,
                r,
                bk,
                a,
                k,
                xvk,
                vp,
                lo,
                hi,
                ab,
                dem,
                strong,
                active,
                order,
                counts,
                thr,
                maxit,
                intercept,
            ):
                return MAXIT
            if xmz * (a[k] - a_old[k]) ** 2 > thr:
                converged = False
            for i in range(counts[0]):
                j = order[i]
                if xv[k, j] * (B[k, j] - B_old[k, j]) ** 2 > thr:
                    converged = False
                    break
            _class_link(X, B, a, offset, k, order, counts[0], link)
            _requantize(q, sxp, k, link)
        _center(X, B, a, vp, lo, hi, alpha, order, counts[0], q, sxp, intercept)
        if skipped == K:
            return SKIPPED
        if converged and _kkt_multinomial(X, Y, wt, q, sxp, g, ju, vp, strong, ab, False) == 0:
            return OK


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _group_update(X, j, R, wt, B, xvj, vpj, l1, l2, z):
    """Block update of row ``j`` of ``B`` (grouped multinomial, glmnet's scalar-bound MM
    step); the residuals ``R`` (n, K) follow. Returns ``xv * max_k change**2``."""
    n, K = R.shape
    norm = 0.0
    for k in range(K):
        d = 0.0
        for s in range(n):
            d += R[s, k] * X[s, j]
        z[k] = d + xvj * B[k, j]
        norm += z[k] * z[k]
    norm = math.sqrt(norm)
    u = 1.0 - l1 * vpj / norm if norm > 0.0 else 0.0
    dlx = 0.0
    for k in range(K):
        new = u * z[k] / (xvj + l2 * vpj) if u > 0.0 else 0.0
        d = new - B[k, j]
        if d != 0.0:
            B[k, j] = new
            dlx = max(dlx, xvj * d * d)
            for s in range(n):
                R[s, k] -= d * wt[s] * X[s, j]
    return dlx


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _group_sweeps(X, R, wt, B, xv, vp, l1, l2, strong, active, order, counts, thr, maxit):
    """glmnet's sweeps for the grouped multinomial: full over the strong rows, partial over
    the active ones until converged, until a full sweep converges. Each sweep counts ``K``
    passes, as glmnet counts them."""
    K, p = B.shape
    z = np.empty(K)
    while True:
        dlx = 0.0
        for j in range(p):
            if strong[j]:
                dlx = max(dlx, _group_update(X, j, R, wt, B, xv[j], vp[j], l1, l2, z))
                for k in range(K):
                    if B[k, j] != 0.0:
                        _enter(j, active, order, counts)
                        break
        counts[1] += K
        if dlx < thr:
            return True
        if counts[1] > maxit:
            return False
        while True:
            dlx = 0.0
            for i in range(counts[0]):
                j = order[i]
                dlx = max(dlx, _group_update(X, j, R, wt, B, xv[j], vp[j], l1, l2, z))
            counts[1] += K
            if dlx < thr:
                break
            if counts[1] > maxit:
                return False


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def fit_grouped(
    X,
    Y,
    wt,
    offset,
    xv,
    vp,
    ju,
    lam,
    lam_prev,
    alpha,
    intercept,
    thr,
    maxit,
    B,
    a,
    q,
    sxp,
    g,
    strong,
    active,
    order,
    counts,
):
    """Fits one strength of a grouped multinomial path (glmnet's ``type.multinomial =
    "grouped"``): an MM step with the curvature bound ``t = 2 max p (1 - p)``, the
    intercepts' one step, then group coordinate descent on the rows of ``B`` (K, p)."""
    n, K = q.shape
    p = B.shape[1]
    R = np.empty((n, K))
    link = np.empty(n)
    a_old, B_old = np.empty(K), np.empty((K, p))
    _strong_rule(g, ju, vp, strong, alpha, lam, lam_prev)
    while True:
        if counts[1] > maxit:
            return MAXIT
        t = 0.0
        for s in range(n):
            for k in range(K):
                pk = q[s, k] / sxp[s]
                t = max(t, pk * (1.0 - pk))
        t *= 2.0
        if t < 2e-6:
            return VANISHED
        l1, l2 = lam * alpha / t, lam * (1.0 - alpha) / t
        for s in range(n):
            for k in range(K):
                R[s, k] = wt[s] * (Y[s, k] - q[s, k] / sxp[s]) / t
        a_old[:] = a
        B_old[:] = B
        if intercept:
            for k in range(K):
                d = 0.0
                for s in range(n):
                    d += R[s, k]
                a[k] += d
                for s in range(n):
                    R[s, k] -= d * wt[s]
        if not _group_sweeps(
            X, R, wt, B, xv, vp, l1, l2, strong, active, order, counts, thr, maxit
        ):
            return MAXIT
        converged = True
        for k in range(K):
            if (a[k] - a_old[k]) ** 2 > thr:
                converged = False
            for i in range(counts[0]):
                j = order[i]
                if xv[j] * (B[k, j] - B_old[k, j]) ** 2 > thr:
                    converged = False
        for k in range(K):
            _class_link(X, B, a, offset, k, order, counts[0], link)
            _requantize(q, sxp, k, link)
        if intercept:
            s0 = -a.mean()
            a += s0
            f = math.exp(s0)
            for s in range(n):
                sxp[s] *= f
                for k in range(K):
                    q[s, k] *= f
        if (
            converged
            and _kkt_multinomial(X, Y, wt, q, sxp, g, ju, vp, strong, lam * alpha, True) == 0
        ):
            return OK
