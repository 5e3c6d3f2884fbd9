"""The compiled loops of ``research.glm_path`` (numba): one strength's fit by coordinate
descent with glmnet's strong rule, active set, IRLS outer loop and convergence tests.

All arrays are on the internal scale (``research.glm._path`` standardizes): ``X`` holds
the internal columns (Fortran order), weights sum to 1, limits are scaled by the columns'
standard deviations. The state (coefficients, intercepts, linear predictor, weights and
residuals of the quadratic approximation, gradients, strong and active sets, passes) is
updated in place, so the next strength starts warm. A fit returns its status: 0 converged,
1 the pass budget ran out, 2 the binomial curvature vanished (glmnet's ``vmin`` stop), 3
every multinomial class was skipped.

Arithmetic is IEEE's (``error_model="numpy"``), as in glmnet's C++: a fit that overshoots
gives inf or NaN instead of raising, and ``glm_path`` stops the path there with a warning.

The state arrays: ``b`` (p,) or (p, K) coefficients; ``a`` (1,) or (K,) intercepts;
``strong``, ``active`` (p,) bools; ``order`` (p,) the active columns by first entry, of
which ``counts[0]`` are used; ``counts[1]`` the passes; ``g`` (p,) the last absolute
gradient of each column (the strong rule's input).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "BINOMIAL",
    "GAUSSIAN",
    "POISSON",
    "fit_grouped",
    "fit_multinomial",
    "fit_single",
    "multinomial_state",
    "refresh",
]

GAUSSIAN, BINOMIAL, POISSON = 0, 1, 2
PMIN = 1e-9
"""glmnet's ``pmin``: probabilities within ``pmin`` of 0 or 1 get no curvature."""
VMIN = (1.0 + PMIN) * PMIN * (1.0 - PMIN)
EXMX = 250.0
"""glmnet's ``exmx``: multinomial links are clipped to ``[-exmx, exmx]``."""
ETA_MAX = math.log(0.1 * np.finfo(np.float64).max)
"""The Poisson link is clipped to ``[-ETA_MAX, ETA_MAX]`` before ``exp``."""
ETA_BINOMIAL = math.log(1.0 / PMIN - 1.0)
"""Beyond this link a binomial probability is 0 or 1."""

OK, MAXIT, VANISHED, SKIPPED = 0, 1, 2, 3


# --------------------------------------------------------------------------- shared
@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _coordinate(g, b, xv, vp, ab, dem, lo, hi):
    """glmnet's coordinate update: soft thresholding, ridge shrinkage, then the box."""
    u = g + b * xv
    v = abs(u) - vp * ab
    if v <= 0.0:
        return 0.0
    return min(max(math.copysign(v, u) / (xv + vp * dem), lo), hi)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _dot(X, k, r):
    total = 0.0
    for i in range(r.shape[0]):
        total += X[i, k] * r[i]
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _enter(k, active, order, counts):
    if not active[k]:
        active[k] = True
        order[counts[0]] = k
        counts[0] += 1


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _update(X, k, v, r, b, xv, vp, lo, hi, ab, dem, active, order, counts):
    """Updates column ``k`` of ``b`` (1-D) and the residual; returns ``xv * change**2``."""
    old = b[k]
    new = _coordinate(_dot(X, k, r), old, xv[k], vp[k], ab, dem, lo[k], hi[k])
    if new == old:
        return 0.0
    _enter(k, active, order, counts)
    d = new - old
    b[k] = new
    for s in range(r.shape[0]):
        r[s] -= d * v[s] * X[s, k]
    return xv[k] * d * d


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _intercept_step(v, r, a, j):
    """The intercept's Newton step ``sum(r) / sum(v)``; returns ``sum(v) * step**2``."""
    xmz = 0.0
    total = 0.0
    for s in range(r.shape[0]):
        xmz += v[s]
        total += r[s]
    if xmz <= 0.0:
        return 0.0
    d = total / xmz
    a[j] += d
    for s in range(r.shape[0]):
        r[s] -= d * v[s]
    return xmz * d * d


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _wls(
    X, v, r, b, a, j, xv, vp, lo, hi, ab, dem, strong, active, order, counts, thr, maxit, intercept
):
    """Weighted least squares on the quadratic approximation ``(v, r)``: full sweeps over
    the strong columns, each followed by sweeps over the active ones until converged, until
    a full sweep converges (glmnet's ``wls``). ``a[j]`` is the intercept (updated when
    ``intercept``). Returns False when the pass budget runs out."""
    p = b.shape[0]
    while True:
        dlx = 0.0
        for k in range(p):
            if strong[k]:
                dlx = max(
                    dlx, _update(X, k, v, r, b, xv, vp, lo, hi, ab, dem, active, order, counts)
                )
        if intercept:
            dlx = max(dlx, _intercept_step(v, r, a, j))
        counts[1] += 1
        if dlx < thr:
            return True
        if counts[1] > maxit:
            return False
        while True:
            dlx = 0.0
            for i in range(counts[0]):
                k = order[i]
                dlx = max(
                    dlx, _update(X, k, v, r, b, xv, vp, lo, hi, ab, dem, active, order, counts)
                )
            if intercept:
                dlx = max(dlx, _intercept_step(v, r, a, j))
            counts[1] += 1
            if dlx < thr:
                break
            if counts[1] > maxit:
                return False


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _strong_rule(g, ju, vp, strong, alpha, lam, lam_prev):
    """glmnet's sequential strong rule: a column joins when ``|g| > alpha (2 lam - lam_prev)``."""
    cut = alpha * (2.0 * lam - lam_prev)
    for k in range(g.shape[0]):
        if ju[k] and not strong[k] and g[k] > cut * vp[k]:
            strong[k] = True


# --------------------------------------------------------------------------- one response
@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def refresh(family, X, y, wt, offset, b, a, active_order, count, eta, v, r):
    """The link, curvature weights and working residual at ``(a, b)``; returns ``sum(v)``."""
    n = eta.shape[0]
    for s in range(n):
        eta[s] = a[0] + offset[s]
    for i in range(count):
        k = active_order[i]
        if b[k] != 0.0:
            for s in range(n):
                eta[s] += b[k] * X[s, k]
    xmz = 0.0
    for s in range(n):
        if family == BINOMIAL:
            if eta[s] < -ETA_BINOMIAL:
                q = 0.0
            elif eta[s] > ETA_BINOMIAL:
                q = 1.0
            else:
                q = 1.0 / (1.0 + math.exp(-eta[s]))
            v[s] = wt[s] * q * (1.0 - q)
            r[s] = wt[s] * (y[s] - q)
        elif family == POISSON:
            mu = wt[s] * math.exp(min(max(eta[s], -ETA_MAX), ETA_MAX))
            v[s] = mu
            r[s] = wt[s] * y[s] - mu
        else:
            v[s] = wt[s]
            r[s] = wt[s] * (y[s] - eta[s])
        xmz += v[s]
    return xmz


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _kkt(X, r, g, ju, vp, strong, ab):
    """Gradients of the columns outside the strong set; those violating their optimality
    condition join it. Returns the number that joined."""
    added = 0
    for k in range(g.shape[0]):
        if ju[k] and not strong[k]:
            g[k] = abs(_dot(X, k, r))
            if g[k] > ab * vp[k]:
                strong[k] = True
                added += 1
    return added


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def fit_single(
    family,
    X,
    y,
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
    newton,
    intercept,
    thr,
    maxit,
    b,
    a,
    eta,
    v,
    r,
    g,
    strong,
    active,
    order,
    counts,
):
    """Fits one strength ``lam`` of a gaussian, binomial or poisson path from the current
    state (glmnet's ``elnet_point``). Gaussian: ``y`` is the standardized response, the
    intercept implicit (centred data) and ``v = wt``; ``xv`` is fixed. Binomial
    (``newton``: glmnet's type.logistic "Newton") and poisson recompute ``xv`` of the strong
    columns from the IRLS weights at every outer step. Returns the status."""
    ab, dem = lam * alpha, lam * (1.0 - alpha)
    _strong_rule(g, ju, vp, strong, alpha, lam, lam_prev)
    p, n = b.shape[0], eta.shape[0]
    old = np.empty(p)
    while True:
        if family == GAUSSIAN:
            if not _wls(
                X,
                v,
                r,
                b,
                a,
                0,
                xv,
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
                False,
            ):
                return MAXIT
            if _kkt(X, r, g, ju, vp, strong, ab) == 0:
                return OK
            continue
        a_old = a[0]
        old[:] = b
        if family == POISSON or newton:
            for k in range(p):
                if strong[k]:
                    total = 0.0
                    for s in range(n):
                        total += v[s] * X[s, k] * X[s, k]
                    xv[k] = total
        if not _wls(
            X,
            v,
            r,
            b,
            a,
            0,
            xv,
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
        xmz = refresh(family, X, y, wt, offset, b, a, order, counts[0], eta, v, r)
        if family == BINOMIAL and xmz <= VMIN:
            return VANISHED
        converged = xmz * (a[0] - a_old) ** 2 <= thr
        for i in range(counts[0]):
            k = order[i]
            if xv[k] * (b[k] - old[k]) ** 2 > thr:
                converged = False
                break
        if converged and _kkt(X, r, g, ju, vp, strong, ab) == 0:
            return OK
        if counts[1] > maxit:
            return MAXIT


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


# --------------------------------------------------------------------------- standardization
@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def standardize_columns(Z, wt, center, scale):
    """glmnet's internal columns, in place on ``Z`` (Fortran order): each column's weighted
    mean and population standard deviation; centred when ``center``, divided by the
    deviation when ``scale`` (not a constant column's). Returns ``(mean, sd, xv,
    varying)``: ``xv = sum(wt * Z**2)`` after the change (1 for centred, scaled columns,
    as glmnet takes it), ``varying`` whether a column is not constant."""
    n, p = Z.shape
    mean, sd, xv = np.zeros(p), np.ones(p), np.zeros(p)
    varying = np.zeros(p, dtype=np.bool_)
    for j in range(p):
        m = 0.0
        for i in range(n):
            m += wt[i] * Z[i, j]
            if Z[i, j] != Z[0, j]:
                varying[j] = True
        var = 0.0
        for i in range(n):
            var += wt[i] * (Z[i, j] - m) ** 2
        mean[j] = m
        s = math.sqrt(var) if scale and varying[j] and var > 0.0 else 1.0
        sd[j] = s
        shift = m if center else 0.0
        total = 0.0
        for i in range(n):
            Z[i, j] = (Z[i, j] - shift) / s
            total += wt[i] * Z[i, j] * Z[i, j]
        xv[j] = 1.0 if center and scale and varying[j] else total
    return mean, sd, xv, varying
