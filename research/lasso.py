"""The Lasso and ElasticNet regularization path, exact and faster than scikit-learn's.

``lasso_path(X, y, *, alphas=50, eps=1e-3, l1_ratio=1.0, tol=1e-6)`` takes
scikit-learn 1.9's ``lasso_path`` / ``enet_path`` arguments with their
meaning and returns what they return, ``(alphas, coefs, dual_gaps)`` with
``coefs`` shaped ``(n_features, n_alphas)``. At every strength ``alpha`` it
minimizes scikit-learn's objective (no intercept; center ``X`` and ``y`` first
for one):

```text
1 / (2 n) ||y - X w||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2 ||w||^2
```

until the duality gap of scikit-learn's dual point is at most
``tol * ||y||^2 / n`` (scikit-learn's stopping rule, so both solvers stop at
the same certified accuracy).

How, chosen by measurement against scikit-learn 1.9 and celer on three shapes
(``scripts/benchmark.py --cases lasso``):

* warm starts along the path (strengths in decreasing order);
* a working set per strength (the features of the warm start plus the
  2 x as many others closest to their dual constraint, doubled each outer
  iteration that does not converge): coordinate descent runs on it, the full
  gap is checked outside it, as celer does;
* gap-safe screening (Fercoq et al., 2015): a feature whose dual constraint
  is provably inactive is dropped for the rest of that strength;
* coordinate descent on the Gram matrix when ``n >= p`` (one update costs
  ``O(working set)``, not ``O(n)``), on the residual otherwise; the inner
  loops are compiled with numba;
* a polish: once the gap is within 10 x ``tol``, the support is solved exactly
  when ``n < p`` (the linear system of its optimality condition, with the
  signs of the current point; a coefficient whose sign flips is dropped), and
  otherwise, or when that fails, by coordinate descent on the support alone to
  1e-3 x ``tol``. At ``tol`` itself a feature whose dual constraint is nearly
  active can keep a tiny spurious coefficient (scikit-learn's path has them
  too); after the polish the zeros are the solution's (checked against
  scikit-learn at ``tol=1e-13``), and the narrower solve costs less than the
  working-set solve it replaces;
* numba's loops may reassociate sums (``fastmath={"reassoc"}``), so that the
  products ``x_j' r`` are vectorized.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from sklearn.exceptions import ConvergenceWarning

from research._lasso_kernels import solve
from research.checks import check_strengths

__all__ = ["lasso_path"]

MAX_GRAM_FEATURES = 8192
"""The Gram matrix is used when ``n_samples >= n_features`` up to this many features."""
EXACT_MAX_SUPPORT = 1024
"""Without the Gram matrix, the exact step on the support (``_lasso_kernels._exact``)
is tried for supports of up to this many features (it keeps their products)."""


def _check(
    X: ArrayLike, y: ArrayLike, alphas: int | ArrayLike, eps: float, l1_ratio: float, tol: float
) -> tuple[np.ndarray, np.ndarray, DTypeLike]:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {X.shape}")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y: expected a 1-D array of {X.shape[0]} targets (one per row of X), "
            f"got shape {y.shape}"
        )
    for name, a in (("X", X), ("y", y)):
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: contains NaN or infinite values")
    if not isinstance(l1_ratio, Real) or not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio: expected a number in [0, 1], got {l1_ratio!r}")
    if not isinstance(tol, Real) or not tol >= 0:
        raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
    if isinstance(check_strengths(alphas), int):
        if not isinstance(eps, Real) or not eps > 0:
            raise ValueError(f"eps: expected a number > 0, got {eps!r}")
        if l1_ratio == 0:
            raise ValueError(
                "l1_ratio: a grid of strengths (alphas an int) needs l1_ratio > 0; "
                "pass alphas as an array for ridge (l1_ratio=0)"
            )
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    X = np.asfortranarray(X, dtype=np.float64)
    return X, np.ascontiguousarray(y, dtype=np.float64), dtype


def _grid(
    xy: np.ndarray, n: int, alphas: int | ArrayLike, eps: float, l1_ratio: float
) -> np.ndarray:
    """scikit-learn's grid: ``alphas`` strengths from the smallest with ``w = 0`` down to
    ``eps`` times it, log-spaced; or the given strengths in decreasing order."""
    if isinstance(alphas, Integral):
        alpha_max = float(np.abs(xy).max()) / (n * l1_ratio)
        if alpha_max <= np.finfo(np.float64).resolution:
            return np.full(alphas, np.finfo(np.float64).resolution)
        return np.geomspace(alpha_max, alpha_max * eps, num=alphas)
    return np.sort(np.asarray(alphas, dtype=np.float64))[::-1]


def lasso_path(
    X: ArrayLike,
    y: ArrayLike,
    *,
    alphas: int | ArrayLike = 50,
    eps: float = 1e-3,
    l1_ratio: float = 1.0,
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Lasso (``l1_ratio=1``) or ElasticNet path, as ``sklearn.linear_model.enet_path``.

    Args:
      X: ``(n_samples, n_features)`` design matrix (no intercept is fitted).
      y: ``(n_samples,)`` targets.
      alphas: the number of strengths, log-spaced from the smallest that makes every
        coefficient 0 down to ``eps`` times it; or an array of strengths (sorted
        into decreasing order, as scikit-learn does).
      eps: the grid's smallest / largest strength.
      l1_ratio: the L1 share of the penalty (1: Lasso; 0 < l1_ratio < 1: ElasticNet).
      tol: each strength stops once its duality gap is at most ``tol * ||y||^2 / n``.
      max_iter: coordinate-descent epochs per strength before a ``ConvergenceWarning``.

    Returns:
      ``(alphas, coefs, dual_gaps)``: the strengths (decreasing), ``coefs`` of shape
      ``(n_features, n_alphas)`` in ``X``'s float dtype, and each strength's final duality
      gap in the objective's scale (scikit-learn's ``dual_gaps``).
    """
    X, y, dtype = _check(X, y, alphas, eps, l1_ratio, tol)
    if not isinstance(max_iter, Integral) or max_iter < 1:
        raise ValueError(f"max_iter: expected an int >= 1, got {max_iter!r}")
    n, p = X.shape
    xy = X.T @ y
    yy = float(y @ y)
    grid = _grid(xy, n, alphas, eps, l1_ratio)
    gram = n >= p and p <= MAX_GRAM_FEATURES
    if gram:
        Q = np.ascontiguousarray(X.T @ X)
        norms, X = np.ascontiguousarray(np.diag(Q)), np.empty((2, 2), order="F")
    else:
        Q, norms = np.empty((2, 2)), np.ascontiguousarray(np.einsum("ij,ij->j", X, X))
    coefs = np.empty((p, grid.size), dtype=dtype)
    gaps = np.empty(grid.size)
    w, r = np.zeros(p), y.copy()
    largest = p if l1_ratio < 1.0 else n - 1  # the largest support with a unique solution
    cache = np.empty((0, 0) if gram else (min(largest, EXACT_MAX_SUPPORT),) * 2)
    slots, members = np.full(p, -1, dtype=np.int64), np.zeros(1 + len(cache), dtype=np.int64)
    for k, alpha in enumerate(grid):
        a, b = alpha * l1_ratio * n, alpha * (1.0 - l1_ratio) * n
        gap, _ = solve(
            gram, Q, X, xy, y, yy, r, norms, w, a, b, tol * yy, max_iter, slots, members, cache
        )
        if gap > tol * yy:
            warnings.warn(
                f"lasso_path: alpha={alpha:.6g} did not converge in max_iter={max_iter} "
                f"epochs (duality gap {gap:.3e} > tolerance {tol * yy:.3e}); "
                "raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        coefs[:, k] = w
        gaps[k] = gap / n
    return grid, coefs, gaps
