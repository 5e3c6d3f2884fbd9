"""The compiled loops of ``research.glm_path`` (numba; the multinomial ones in
``research.glm._multinomial``): one strength's fit by coordinate
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
    "fit_single",
    "refresh",
    "standardize_columns",
]

GAUSSIAN, BINOMIAL, POISSON = 0, 1, 2
PMIN = 1e-9
"""glmnet's ``pmin``: probabilities within ``pmin`` of 0 or 1 get no curvature."""
VMIN = (1.0 + PMIN) * PMIN * (1.0 - PMIN)
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
