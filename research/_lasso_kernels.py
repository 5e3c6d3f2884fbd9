"""The compiled outer loop of ``research.lasso_path`` (numba): one strength's full duality
gap, gap-safe screening, working sets (solved by ``research._lasso_cd``) and the exact
solve on a support. See ``research.lasso``."""

from __future__ import annotations

import math

import numba
import numpy as np

from research._lasso_cd import ANDERSON, _cd_gram, _cd_residual, _gap, _objective

__all__ = ["solve"]

_jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
"""Compiled, releasing the GIL; sums may be reassociated (vectorized)."""

FIRST_WORKING_SET = 10
"""Features in the first working set of a strength (at least; the support joins them)."""
KKT_SLACK = 1e-9
"""A zero coefficient violates its optimality condition when ``|x_j' R| > a (1 + KKT_SLACK)``
(the slack absorbs rounding: at the largest strength the condition holds with equality);
gap-safe screening likewise keeps a feature within ``KKT_SLACK`` of its constraint."""
INNER_TOL = 0.3
"""An inner solve stops at this fraction of the outer duality gap (celer's choice)."""
ROUNDING = 1e-13
"""The duality gap's rounding error relative to ``||y||^2`` (assumed): gap-safe screening
never uses a smaller gap, and no solve aims below it (unless ``tol`` itself does)."""
POLISH_FROM = 10.0
POLISH = 1e-3
"""Once the outer gap is at most ``POLISH_FROM * tol``, the support is polished: a strength
with a nonzero coefficient stops only after an exact step on its support (residual form)
or an inner solve on the support (and any zero coefficient violating its optimality
condition) alone down to a gap of ``POLISH * tol``. At ``tol`` itself a feature whose dual
constraint is within about ``sqrt(tol)`` of active can keep a tiny spurious coefficient;
the polish makes the zero pattern that of the solution (on the benchmark's shapes, that
of scikit-learn's path at ``tol=1e-12``), and, restricted to the support, it is cheaper
than the working-set solve it replaces."""
POLISH_EPOCHS = 4 * (ANDERSON + 1)
"""Epochs of one polishing inner solve before the exact step is tried again (when the
signs have changed since its last try)."""
EXACT_DROPS = 3
"""How many times one exact step may drop coefficients whose sign the solve flips."""


@_jit
def _statistics(gram, Q, X, q, y, yy, r, w, b, xta):
    """Fills ``xta = X'R - b w`` at ``w``; returns ``(||R||^2, R'y)``."""
    p = w.shape[0]
    if gram:
        qw = np.zeros(p)
        wq = 0.0
        for j in range(p):
            if w[j] != 0.0:
                wq += w[j] * q[j]
                for m in range(p):
                    qw[m] += w[j] * Q[j, m]
        wqw = 0.0
        for j in range(p):
            wqw += w[j] * qw[j]
            xta[j] = q[j] - qw[j] - b * w[j]
        return yy + wqw - 2.0 * wq, yy - wq
    for j in range(p):
        z = 0.0
        for s in range(X.shape[0]):
            z += X[s, j] * r[s]
        xta[j] = z - b * w[j]
    r2 = ry = 0.0
    for s in range(r.shape[0]):
        r2 += r[s] * r[s]
        ry += r[s] * y[s]
    return r2, ry


@_jit
def _zero(gram, X, r, w, j):
    """Sets ``w[j] = 0`` (a feature screened out while nonzero), keeping the residual."""
    if not gram:
        for s in range(r.shape[0]):
            r[s] += w[j] * X[s, j]
    w[j] = 0.0


@_jit
def _summary(w, xta, alive, a, b):
    """``(||w||_1, ||w||^2, dual norm, largest |x_j' R| of an alive zero coefficient)``."""
    l1 = l2sq = dual_norm = violation = 0.0
    for j in range(w.shape[0]):
        l1 += abs(w[j])
        l2sq += w[j] * w[j]
        if a > 0.0:
            dual_norm = max(dual_norm, abs(xta[j]))
        else:
            dual_norm += (xta[j] + b * w[j]) ** 2
        if w[j] == 0.0 and alive[j]:
            violation = max(violation, abs(xta[j]))
    return l1, l2sq, dual_norm, violation


@_jit
def _screen(gram, X, r, w, xta, alive, norms, a, b, radius, dual_norm, dist, candidates):
    """Gap-safe screening (up to rounding): a feature whose dual constraint lies farther
    than ``radius`` is 0 at the optimum and leaves ``alive``. The others go to
    ``candidates`` with their distance in ``dist`` (-1 for the support, which always
    stays in). Returns ``(candidates, support size)``."""
    count = support = 0
    for j in range(w.shape[0]):
        if not alive[j]:
            continue
        margin = 1.0 - abs(xta[j]) / max(a, dual_norm) - KKT_SLACK
        d = margin / math.sqrt(norms[j] + b)
        if d > radius:
            alive[j] = False
            if w[j] != 0.0:
                _zero(gram, X, r, w, j)
            continue
        dist[count] = -1.0 if w[j] != 0.0 else d
        support += w[j] != 0.0
        candidates[count] = j
        count += 1
    return count, support


@_jit
def _working_set(w, xta, a, dist, candidates, count, support, size, polish):
    """The features of the next inner solve, and the working-set size to grow from.
    ``polish``: the support and the violators alone; otherwise the support first, then
    the candidates closest to their constraint, ``max(FIRST_WORKING_SET, 2 x support,
    2 x size)`` of them."""
    if polish:
        narrow = 0
        for i in range(count):
            j = candidates[i]
            if w[j] != 0.0 or abs(xta[j]) > a:
                candidates[narrow] = j
                narrow += 1
        if narrow > 0:
            return candidates[:narrow].copy(), size
    size = min(count, max(FIRST_WORKING_SET, 2 * support, 2 * size))
    if size < count:
        return np.sort(candidates[np.argsort(dist[:count])[:size]]), size
    return candidates[:count].copy(), size


@_jit
def _cholesky_solve(G, rhs):
    """``G^-1 rhs`` for a symmetric positive definite ``G`` (Cholesky, one step of
    iterative refinement); ``None`` when ``G`` is not numerically positive definite."""
    k = G.shape[0]
    low = np.zeros((k, k))
    for t in range(k):
        for u in range(t + 1):
            v = G[t, u]
            for c in range(u):
                v -= low[t, c] * low[u, c]
            if t == u:
                if not v > 1e-13 * G[t, t]:
                    return None
                low[t, t] = math.sqrt(v)
            else:
                low[t, u] = v / low[u, u]
    x = np.zeros(k)
    res = rhs.copy()
    for _ in range(2):
        z = res.copy()
        for t in range(k):
            for c in range(t):
                z[t] -= low[t, c] * z[c]
            z[t] /= low[t, t]
        for t in range(k - 1, -1, -1):
            for c in range(t + 1, k):
                z[t] -= low[c, t] * z[c]
            z[t] /= low[t, t]
        for t in range(k):
            x[t] += z[t]
        for t in range(k):
            v = rhs[t]
            for c in range(k):
                v -= G[t, c] * x[c]
            res[t] = v
    return x


@_jit
def _new_signs(w, signs):
    """Whether the sign pattern of ``w`` differs from ``signs``; records it there."""
    new = False
    for j in range(w.shape[0]):
        s = (w[j] > 0.0) - (w[j] < 0.0)
        if s != signs[j]:
            new = True
            signs[j] = s
    return new


@_jit
def _gram_rows(X, S, slots, members, cache):
    """``X_S' X_S``, from a cache of the products among up to ``cache.shape[0]`` features
    kept across calls: ``slots[j]`` is feature ``j``'s row in ``cache`` (-1: none),
    ``members[0]`` the rows in use and ``members[1 + i]`` the feature of row ``i``. A
    feature of ``S`` not in the cache joins it (at ``n`` products per member); a full
    cache starts over."""
    n, k = X.shape[0], S.shape[0]
    missing = 0
    for t in range(k):
        missing += slots[S[t]] < 0
    if members[0] + missing > cache.shape[0]:
        for i in range(members[0]):
            slots[members[1 + i]] = -1
        members[0] = 0
    for t in range(k):
        j = S[t]
        if slots[j] >= 0:
            continue
        c = members[0]
        for i in range(c):
            m = members[1 + i]
            v = 0.0
            for s in range(n):
                v += X[s, j] * X[s, m]
            cache[c, i] = cache[i, c] = v
        v = 0.0
        for s in range(n):
            v += X[s, j] * X[s, j]
        cache[c, c] = v
        slots[j], members[1 + c] = c, j
        members[0] = c + 1
    G = np.empty((k, k))
    for t in range(k):
        for u in range(k):
            G[t, u] = cache[slots[S[t]], slots[S[u]]]
    return G


@_jit
def _exact(X, q, y, r, w, a, b, slots, members, cache):
    """The solution on the support of ``w``, when its signs can be found (residual form).

    On a fixed support ``S`` with signs ``s`` the optimality condition is the linear
    system ``(X_S' X_S + b I) w_S = X_S' y - a s``. A coefficient whose sign the solution
    flips leaves ``S`` and the system is solved again (``EXACT_DROPS`` times at most).
    Sets ``w`` and ``r`` to it and returns True when it keeps every remaining sign and
    lowers the objective; otherwise leaves them and returns False. ``slots``, ``members``
    and ``cache``: the products ``x_i' x_j`` computed so far (``_gram_rows``).
    """
    n = X.shape[0]
    S = np.flatnonzero(w)
    k = S.shape[0]
    if k == 0 or k > cache.shape[0] or (k >= n and b == 0.0):  # X_S'X_S: singular from n
        return False
    if members.shape[0] <= cache.shape[0] or slots.shape[0] != w.shape[0]:
        raise ValueError("_exact: slots must have one entry per feature, members 1 + rows")
    G = _gram_rows(X, S, slots, members, cache)
    for t in range(k):
        G[t, t] += b
    keep = np.ones(k, dtype=np.bool_)
    for _ in range(EXACT_DROPS + 1):
        idx = np.flatnonzero(keep)
        m = idx.shape[0]
        sub, rhs = np.empty((m, m)), np.empty(m)
        for t in range(m):
            j = S[idx[t]]
            rhs[t] = q[j] - (a if w[j] > 0.0 else -a)
            for u in range(m):
                sub[t, u] = G[idx[t], idx[u]]
        v = _cholesky_solve(sub, rhs)
        if v is None:
            return False
        flips = 0
        for t in range(m):
            flips += v[t] * w[S[idx[t]]] <= 0.0
        if flips > max(EXACT_DROPS, m // 50):  # the support is far off: leave it to CD
            return False
        if flips == 0:
            new = np.zeros(k)
            for t in range(m):
                new[idx[t]] = v[t]
            trial = y.copy()
            for t in range(k):
                if new[t] != 0.0:
                    for s in range(n):
                        trial[s] -= new[t] * X[s, S[t]]
            if not _objective(trial, new, a, b) < _objective(r, w[S], a, b):
                return False
            r[:] = trial
            w[S] = new
            return True
        for t in range(m):
            if v[t] * w[S[idx[t]]] <= 0.0:
                keep[idx[t]] = False
    return False


@_jit
def solve(gram, Q, X, q, y, yy, r, norms, w, a, b, tol, max_iter, slots, members, cache):
    """Minimizes one strength's objective from ``w`` (in place; ``r`` is the residual
    when not ``gram``). Returns ``(gap, epochs)``.

    Outer iterations: the full gap (done when at most ``tol``), gap-safe screening,
    a working set (support first, then the features closest to their dual constraint),
    coordinate descent on it to ``INNER_TOL`` times the gap. Within ``POLISH_FROM`` times
    ``tol``: in residual form, the exact step on the support whenever its signs are new
    (``_exact``: near the interpolating end of a p >> n path, coordinate descent needs
    hundreds of epochs there, one Cholesky solve does not); otherwise, or when it fails,
    coordinate descent on the support toward ``POLISH`` times ``tol``, ``POLISH_EPOCHS``
    at a time. ``slots``, ``members``, ``cache``: the products the exact step keeps
    across strengths (``_gram_rows``).
    """
    p = w.shape[0]
    alive = norms > 0.0  # an all-zero column keeps a zero weight
    for j in range(p):
        if not alive[j] and w[j] != 0.0:
            _zero(gram, X, r, w, j)
    xta, dist = np.empty(p), np.empty(p)
    candidates = np.empty(p, dtype=np.int64)
    size = epochs = 0
    polished = False  # the last step: an exact solve, or a polish that reached its target
    signs = np.zeros(p, dtype=np.int8)  # the sign pattern of the last exact step
    while True:
        r2, ry = _statistics(gram, Q, X, q, y, yy, r, w, b, xta)
        l1, l2sq, dual_norm, violation = _summary(w, xta, alive, a, b)
        gap = _gap(a, b, l1, l2sq, r2, ry, dual_norm)
        # Done at the gap, once no zero coefficient violates its optimality condition
        # (|x_j' R| <= a) and the support has been polished (w = 0 needs no polish).
        kkt = violation <= a * (1.0 + KKT_SLACK)
        if (gap <= tol and kkt and (polished or l1 == 0.0)) or epochs >= max_iter:
            return gap, epochs
        radius = math.sqrt(2.0 * max(gap, ROUNDING * yy)) / a if a > 0.0 else np.inf
        count, support = _screen(
            gram, X, r, w, xta, alive, norms, a, b, radius, dual_norm, dist, candidates
        )
        near = gap <= POLISH_FROM * tol
        if (
            near
            and not gram
            and _new_signs(w, signs)
            and _exact(X, q, y, r, w, a, b, slots, members, cache)
        ):
            _new_signs(w, signs)
            polished = True
            continue
        ws, size = _working_set(w, xta, a, dist, candidates, count, support, size, near)
        budget = max_iter - epochs
        if near:  # on the support to POLISH x tol (residual form: back to the exact step)
            inner_tol = min(tol, max(POLISH * tol, ROUNDING * yy))
            budget = budget if gram else min(budget, POLISH_EPOCHS)
        else:
            inner_tol = INNER_TOL * gap
        if gram:
            inner = _cd_gram(Q, q, yy, w, ws, a, b, inner_tol, budget)
        else:
            inner = _cd_residual(X, y, r, norms, w, ws, a, b, inner_tol, budget)
        epochs += inner[1]
        polished = near and inner[0] <= inner_tol
