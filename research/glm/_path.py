"""``glm_path``: glmnet's regularization paths, solved by ``research.glm._solver``.

Private: import the public names from ``research.glm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from research.glm import _data as data
from research.glm._data import BIG
from research.glm._result import GLMPath
from research.glm._solver import Problem, Trace, solve


def glm_path(
    X: ArrayLike,
    y: ArrayLike,
    *,
    family: str = "gaussian",
    l1_ratio: float = 1.0,
    alphas: int | ArrayLike = 100,
    alpha_min_ratio: float | None = None,
    sample_weight: ArrayLike | None = None,
    penalty_factor: ArrayLike | None = None,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    fit_intercept: bool = True,
    standardize: bool = True,
    grouped: bool = False,
    tol: float = 1e-7,
    max_iter: int = 100_000,
) -> GLMPath:
    """glmnet's elastic-net regularization path: ``glmnet(X, y, family=family,
    alpha=l1_ratio, lambda=alphas, ...)``.

    At each strength ``alpha`` it minimizes glmnet's objective, with weights normalized to
    sum to 1 and the penalty on the standardized coefficients,
    ``-loglik / n + alpha * sum_j vp_j ((1 - l1_ratio) / 2 b_j**2 + l1_ratio |b_j|)``
    (gaussian: ``1/(2n) RSS``, on the response scaled by its standard deviation, as glmnet
    does, so that for ``l1_ratio < 1`` the ridge part is divided by it).

    Args:
      X: (n, p) features.
      y: gaussian: (n,) responses; binomial: (n,) labels of 2 classes (the second, in sorted
        order, is modelled) or (n, 2) counts; multinomial: (n,) labels or (n, C) counts;
        poisson: (n,) counts >= 0.
      family: "gaussian", "binomial", "multinomial" or "poisson".
      l1_ratio: the L1 share of the penalty (glmnet's ``alpha``), in [0, 1].
      alphas: the number of strengths of glmnet's grid (from the smallest that zeroes every
        penalized coefficient down to ``alpha_min_ratio`` times it, log-spaced; the path
        stops early once the deviance explained stops changing, as glmnet's), or an array
        of strengths, each solved as given (in decreasing order).
      alpha_min_ratio: the grid's smallest / largest strength (default 1e-4, or 1e-2 when
        n < p: glmnet's ``lambda.min.ratio``).
      sample_weight: (n,) observation weights >= 0 (normalized to sum to 1).
      penalty_factor: (p,) factors >= 0 (0: unpenalized; ``np.inf``: excluded), rescaled to
        sum to p as glmnet does.
      lower: lower limits on the coefficients (original scale), a scalar or (p,) (None:
        none); ``lower <= 0``, as glmnet requires (glmnet's ``lower.limits``).
      upper: upper limits on the coefficients (original scale), a scalar or (p,) (None:
        none); ``upper >= 0``, as glmnet requires (glmnet's ``upper.limits``).
      fit_intercept: fit an unpenalized intercept.
      standardize: penalize the coefficients of the features scaled to unit (weighted,
        population) variance; the coefficients are returned on the original scale.
      grouped: multinomial only: one group-lasso penalty per feature over the classes
        (glmnet's ``type.multinomial = "grouped"``).
      tol: glmnet's ``thresh``: coordinate descent stops when no coefficient's change,
        weighted by its curvature, exceeds ``tol`` times the null deviance.
      max_iter: the most passes over the data, summed over the path (glmnet's ``maxit``).

    Returns:
      A ``GLMPath``.
    """
    family = data.check_family(family)
    x = data.check_x(X)
    n, p = x.shape
    Y, totals, classes = data.response(family, y, n)
    w = data.weights(sample_weight, n) * totals
    data.scalars(l1_ratio, tol, max_iter)
    given, ratio, count = data.strengths(alphas, alpha_min_ratio, n, p)
    vp, excluded = data.penalty_factors(penalty_factor, p)
    lo, hi = data.limits(lower, upper, p)
    if grouped and family != "multinomial":
        raise ValueError(
            f"grouped: only family='multinomial' has grouped coefficients, not {family!r}"
        )
    if grouped and (np.any(lo > -BIG) or np.any(hi < BIG)):
        raise ValueError("lower, upper: limits with grouped=True are not supported")
    if family in ("binomial", "multinomial"):  # glmnet drops the rows of weight 0
        keep = w > 0
        x, Y, w = x[keep], Y[keep], w[keep]
    wt = w / w.sum()
    std = data.standardize(x, wt, excluded, fit_intercept, standardize)
    if not std.ju.any():
        raise ValueError("X: every feature is constant (or excluded by penalty_factor)")
    ym, ys = 0.0, 1.0
    if family == "gaussian":
        ym = float(wt @ Y) if fit_intercept else 0.0
        ys = float(np.sqrt(wt @ (Y - ym) ** 2))
        if ys == 0 or np.ptp(Y[w > 0]) == 0:
            raise ValueError("y: the response is constant")
        Y = (Y - ym) / ys
    problem = Problem(
        family,
        std,
        Y,
        wt,
        vp,
        lo * std.scale / ys,
        hi * std.scale / ys,
        float(l1_ratio),
        bool(fit_intercept),
        bool(grouped),
        ym,
        ys,
    )
    # BLAS threads spinning beside the compiled loops slow them (the driver's few matrix
    # products gain nothing from them); glmnet uses none.
    with threadpool_limits(limits=1, user_api="blas"):
        trace, ratios, passes, dev0 = solve(
            problem, None if given is None else given / ys, ratio, count, tol, max_iter
        )
    return _result(problem, trace, ratios, passes, dev0, w, classes)


def _result(
    problem: Problem,
    trace: Trace,
    ratios: list[float],
    passes: int,
    dev0: float,
    w: np.ndarray,
    classes: Any,
) -> GLMPath:
    """The path on the original scale (glmnet's back-transformation)."""
    std, ys = problem.std, problem.y_scale
    b = np.stack(trace.b, axis=-1)  # (p, K) or (C, p, K)
    a = np.stack(trace.a, axis=-1)  # (1, K) or (C, K)
    coef = b * (ys / std.scale)[:, None]
    intercept = a - np.einsum("p,...pk->...k", std.mean, coef)
    if problem.family == "gaussian":
        intercept = problem.y_mean - std.mean @ coef
    if problem.family == "multinomial":
        intercept = intercept - intercept.mean(0)
        df = np.count_nonzero(np.any(coef != 0, axis=0), axis=0)
    else:
        coef, intercept = coef, intercept.reshape(-1)
        df = np.count_nonzero(coef, axis=0)
    if not problem.intercept:
        intercept = np.zeros_like(intercept)
    null = float(w @ (problem.Y * ys) ** 2) if problem.family == "gaussian" else 2 * w.sum() * dev0
    return GLMPath(
        family=problem.family,
        alphas=np.asarray(trace.lams) * ys,
        coef=coef,
        intercept=intercept,
        dev_ratio=np.asarray(ratios),
        df=df,
        null_deviance=float(null),
        classes=classes,
        n_passes=passes,
        l1_ratio=problem.l1_ratio,
    )
