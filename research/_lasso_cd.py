"""Coordinate descent on a working set for ``research.lasso_path`` (numba), in Gram or
residual form, with Anderson extrapolation of the iterates, and the duality gap it stops
at. The outer loop is ``research._lasso_kernels``."""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
"""Compiled, releasing the GIL; sums may be reassociated (vectorized)."""

ANDERSON = 5
"""Iterates combined by each Anderson extrapolation (every ``ANDERSON + 1`` epochs)."""


@_jit
def _gap(a, b, l1, l2sq, r2, ry, dual_norm):
    """scikit-learn's duality gap (``cd_fast``, n-scaled) from the solution's statistics.

    ``dual_norm``: ``max |X'R - b w|`` when ``a > 0``, else ``||X'R||^2``.
    """
    if a == 0.0:
        if b == 0.0:  # least squares: the first-order condition
            return dual_norm
        return r2 + 0.5 * b * l2sq - ry + dual_norm / (2.0 * b)
    primal = 0.5 * (r2 + b * l2sq) + a * l1
    scale = a / dual_norm if dual_norm > a else 1.0
    return primal + 0.5 * scale * scale * (r2 + b * l2sq) - scale * ry


@_jit
def _soft(z, a, denom):
    if z > a:
        return (z - a) / denom
    if z < -a:
        return (z + a) / denom
    return 0.0


@_jit
def _gram_objective(qs, yy, v, qv, a, b):
    """The n-scaled primal objective of ``v`` from ``q`` and ``Q v`` (working set only)."""
    total = yy
    for i in range(v.shape[0]):
        total += v[i] * qv[i] - 2.0 * qs[i] * v[i] + 2.0 * a * abs(v[i]) + b * v[i] * v[i]
    return 0.5 * total


@_jit
def _cd_gram(Q, q, yy, w, ws, a, b, tol, max_epochs):
    """Cyclic coordinate descent over ``ws`` on the Gram form (``Q = X'X``, ``q = X'y``),
    every other coordinate of ``w`` being 0, with Anderson extrapolation; stops once the
    working set's gap is at most ``tol``. Returns ``(gap, epochs)``."""
    k = ws.shape[0]
    sub = np.empty((k, k))  # Q[ws][:, ws], contiguous
    qs, v, qv = np.empty(k), np.empty(k), np.zeros(k)
    for i in range(k):
        qs[i], v[i] = q[ws[i]], w[ws[i]]
        for m in range(k):
            sub[i, m] = Q[ws[i], ws[m]]
    for i in range(k):
        if v[i] != 0.0:
            for m in range(k):
                qv[m] += v[i] * sub[i, m]
    history = np.empty((ANDERSON + 1, k))
    trial = np.empty(k)
    gap = np.inf
    epochs = 0
    while epochs < max_epochs:
        epochs += 1
        for i in range(k):
            old = v[i]
            new = _soft(qs[i] - qv[i] + old * sub[i, i], a, sub[i, i] + b)
            if new != old:
                v[i] = new
                d = new - old
                for m in range(k):
                    qv[m] += d * sub[i, m]
        slot = (epochs - 1) % (ANDERSON + 1)
        history[slot] = v
        if slot == ANDERSON:
            guess = _extrapolate(history)
            trial[:] = 0.0
            for i in range(k):
                if guess[i] != 0.0:
                    for m in range(k):
                        trial[m] += guess[i] * sub[i, m]
            if _gram_objective(qs, yy, guess, trial, a, b) < _gram_objective(qs, yy, v, qv, a, b):
                v[:] = guess
                qv[:] = trial
        l1 = l2sq = wq = wqw = dual = 0.0
        for i in range(k):
            l1 += abs(v[i])
            l2sq += v[i] * v[i]
            wq += v[i] * qs[i]
            wqw += v[i] * qv[i]
            xta = qs[i] - qv[i]
            dual = max(dual, abs(xta - b * v[i])) if a > 0.0 else dual + xta * xta
        gap = _gap(a, b, l1, l2sq, yy + wqw - 2.0 * wq, yy - wq, dual)
        if gap <= tol:
            break
    for i in range(k):
        w[ws[i]] = v[i]
    return gap, epochs


@_jit
def _cd_residual(X, y, r, norms, w, ws, a, b, tol, max_epochs):
    """Cyclic coordinate descent over ``ws`` keeping the residual ``r = y - X w``, with
    Anderson extrapolation; the working set's gap is checked every few epochs.
    Returns ``(gap, epochs)``."""
    n, k = X.shape[0], ws.shape[0]
    history = np.empty((ANDERSON + 1, k))
    trial = np.empty(n)
    gap = np.inf
    epochs = 0
    while epochs < max_epochs:
        epochs += 1
        for i in range(k):
            j = ws[i]
            old = w[j]
            z = 0.0
            for s in range(n):
                z += X[s, j] * r[s]
            new = _soft(z + old * norms[j], a, norms[j] + b)
            if new != old:
                w[j] = new
                d = new - old
                for s in range(n):
                    r[s] -= d * X[s, j]
        slot = (epochs - 1) % (ANDERSON + 1)
        for i in range(k):
            history[slot, i] = w[ws[i]]
        if slot == ANDERSON:
            guess = _extrapolate(history)
            for s in range(n):
                trial[s] = y[s]
            for i in range(k):
                if guess[i] != 0.0:
                    for s in range(n):
                        trial[s] -= guess[i] * X[s, ws[i]]
            if _objective(trial, guess, a, b) < _objective(r, history[ANDERSON], a, b):
                for s in range(n):
                    r[s] = trial[s]
                for i in range(k):
                    w[ws[i]] = guess[i]
        if epochs % (ANDERSON + 1) != 0 and epochs < max_epochs:
            continue
        r2 = ry = 0.0
        for s in range(n):
            r2 += r[s] * r[s]
            ry += r[s] * y[s]
        l1 = l2sq = dual = 0.0
        for i in range(k):
            j = ws[i]
            xtr = 0.0
            for s in range(n):
                xtr += X[s, j] * r[s]
            l1 += abs(w[j])
            l2sq += w[j] * w[j]
            dual = max(dual, abs(xtr - b * w[j])) if a > 0.0 else dual + xtr * xtr
        gap = _gap(a, b, l1, l2sq, r2, ry, dual)
        if gap <= tol:
            break
    return gap, epochs


@_jit
def _objective(r, w, a, b):
    """The n-scaled primal objective from the residual."""
    total = 0.0
    for s in range(r.shape[0]):
        total += r[s] * r[s]
    penalty = 0.0
    for i in range(w.shape[0]):
        penalty += a * abs(w[i]) + 0.5 * b * w[i] * w[i]
    return 0.5 * total + penalty


@_jit
def _extrapolate(history):
    """Anderson extrapolation of the iterates in ``history`` (oldest first): the affine
    combination of the last ones whose differences have the smallest norm (the normal
    equations of ``ANDERSON`` unknowns, solved by Cholesky)."""
    m, k = history.shape[0] - 1, history.shape[1]
    diffs = np.empty((m, k))
    for t in range(m):
        for i in range(k):
            diffs[t, i] = history[t + 1, i] - history[t, i]
    low = np.zeros((m, m))
    scale = 0.0
    for t in range(m):
        for u in range(t + 1):
            v = 0.0
            for i in range(k):
                v += diffs[t, i] * diffs[u, i]
            low[t, u] = v
        scale += low[t, t]
    out = np.zeros(k)
    if scale == 0.0:
        for i in range(k):
            out[i] = history[m, i]
        return out
    for t in range(m):  # Cholesky in place, a small ridge keeps it positive definite
        low[t, t] += 1e-10 * scale
        for u in range(t + 1):
            v = low[t, u]
            for c in range(u):
                v -= low[t, c] * low[u, c]
            low[t, u] = math.sqrt(max(v, 1e-300)) if t == u else v / low[u, u]
    z = np.ones(m)
    for t in range(m):  # forward, then backward substitution
        for c in range(t):
            z[t] -= low[t, c] * z[c]
        z[t] /= low[t, t]
    for t in range(m - 1, -1, -1):
        for c in range(t + 1, m):
            z[t] -= low[c, t] * z[c]
        z[t] /= low[t, t]
    total = 0.0
    for t in range(m):
        total += z[t]
    for t in range(m):
        z[t] /= total
    for t in range(m):
        for i in range(k):
            out[i] += z[t] * history[t + 1, i]
    return out
