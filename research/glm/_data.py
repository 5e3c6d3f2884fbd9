"""``glm_path``'s inputs: argument checks (each error names its argument) and glmnet's
weighted standardization of the features. See ``research.glm``.

Private: import the public names from ``research.glm``.
"""

from __future__ import annotations

import dataclasses
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from research.checks import check_strengths

FAMILIES = ("gaussian", "binomial", "multinomial", "poisson")
BIG = 9.9e35
"""glmnet's ``big``: infinite limits, and the first strength of a computed grid."""


def _finite(name: str, a: np.ndarray) -> np.ndarray:
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a.astype(np.float64, copy=False)


def check_x(X: ArrayLike) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] == 0:
        raise ValueError(
            f"X: expected a 2-D array (n_samples >= 2, n_features >= 1), got shape {X.shape}"
        )
    return _finite("X", X)


def check_family(family: Any) -> str:
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {list(FAMILIES)}, got {family!r}")
    return family


def response(family: str, y: ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(Y, row_totals, classes)``: the response as glmnet takes it. Gaussian and poisson:
    ``Y`` (n,). Binomial: the proportion of the second class (n,); multinomial: (n, C)
    proportions. Labels give one-hot rows (totals 1); a count matrix its proportions."""
    y = np.asarray(y)
    if y.shape[:1] != (n,) or y.ndim > 2 or (family in ("gaussian", "poisson") and y.ndim != 1):
        expected = "(n,)" if family in ("gaussian", "poisson") else "(n,) labels or (n, C) counts"
        raise ValueError(f"y: expected shape {expected} with n = {n} (rows of X), got {y.shape}")
    ones = np.ones(n)
    if family == "gaussian":
        return _finite("y", y), ones, None
    if family == "poisson":
        y = _finite("y", y)
        if np.any(y < 0):
            raise ValueError("y: poisson counts must be >= 0")
        return y, ones, None
    if y.ndim == 2:
        counts = _finite("y", y)
        if (
            np.any(counts < 0)
            or counts.shape[1] < 2
            or (family == "binomial") != (counts.shape[1] == 2)
        ):
            raise ValueError(
                f"y: expected non-negative counts with {'2' if family == 'binomial' else '>= 2'} "
                f"columns for family={family}, got shape {counts.shape}"
            )
        totals = counts.sum(1)
        props = counts / np.where(totals > 0, totals, 1)[:, None]
        classes = np.arange(counts.shape[1])
        return (props[:, 1] if family == "binomial" else props), totals, classes
    classes, index = np.unique(y, return_inverse=True)
    if family == "binomial" and classes.size != 2:
        raise ValueError(
            f"y: family=binomial needs exactly 2 classes, got {classes.size} ({classes[:5]})"
        )
    if family == "multinomial" and classes.size < 2:
        raise ValueError(f"y: family=multinomial needs at least 2 classes, got {classes.size}")
    counts = np.bincount(index, minlength=classes.size)
    if counts.min() <= 1:
        raise ValueError(
            f"y: class {classes[counts.argmin()]!r} has {counts.min()} observation(s); "
            "every class needs at least 2"
        )
    onehot = np.eye(classes.size)[index]
    return (onehot[:, 1] if family == "binomial" else onehot), ones, classes


def vector(name: str, value: Any, p: int, default: float) -> np.ndarray:
    """A per-feature argument: None (the default), a scalar, or one value per feature."""
    if value is None:
        return np.full(p, default)
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(p, float(a))
    if a.shape != (p,):
        raise ValueError(
            f"{name}: expected a scalar or {p} values (one per feature), got {a.shape}"
        )
    if np.any(np.isnan(a)):
        raise ValueError(f"{name}: contains NaN")
    return a


def weights(sample_weight: Any, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight)
    if w.shape != (n,):
        raise ValueError(f"sample_weight: expected shape ({n},), got {w.shape}")
    w = _finite("sample_weight", w)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("sample_weight: expected weights >= 0 with a positive sum")
    return w


def penalty_factors(penalty_factor: Any, p: int) -> tuple[np.ndarray, np.ndarray]:
    """glmnet's ``penalty.factor``: ``(vp, excluded)``, the factors rescaled to sum to ``p``
    (an infinite factor excludes its feature and counts as 1)."""
    pf = vector("penalty_factor", penalty_factor, p, 1.0)
    if np.any(pf < 0):
        raise ValueError("penalty_factor: expected factors >= 0 (np.inf excludes a feature)")
    excluded = np.isinf(pf)
    pf = np.where(excluded, 1.0, pf)
    if pf.max() <= 0:
        raise ValueError("penalty_factor: at least one factor must be > 0")
    return pf * p / pf.sum(), excluded


def limits(lower: Any, upper: Any, p: int) -> tuple[np.ndarray, np.ndarray]:
    lo = vector("lower", lower, p, -np.inf)
    hi = vector("upper", upper, p, np.inf)
    if np.any(lo > 0):
        raise ValueError("lower: expected limits <= 0 (glmnet's rule: 0 must be feasible)")
    if np.any(hi < 0):
        raise ValueError("upper: expected limits >= 0 (glmnet's rule: 0 must be feasible)")
    return np.clip(lo, -BIG, BIG), np.clip(hi, -BIG, BIG)


def real(name: str, value: Any, ok: Any, rule: str) -> float:
    """``value`` as a float when it is a real number satisfying ``ok``; else a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(float(value)):
        raise ValueError(f"{name}: expected {rule}, got {value!r}")
    return float(value)


def scalars(l1_ratio: Any, tol: Any, max_iter: Any) -> None:
    real("l1_ratio", l1_ratio, lambda v: 0 <= v <= 1, "a number in [0, 1]")
    real("tol", tol, lambda v: v > 0, "a number > 0")
    if isinstance(max_iter, bool) or not isinstance(max_iter, Integral) or int(max_iter) < 1:
        raise ValueError(f"max_iter: expected an int >= 1, got {max_iter!r}")


def strengths(
    alphas: Any, alpha_min_ratio: Any, n: int, p: int
) -> tuple[np.ndarray | None, float, int]:
    """``(given strengths in decreasing order or None, alpha_min_ratio, number)``."""
    checked = check_strengths(alphas)
    if isinstance(checked, int):
        ratio = (1e-2 if n < p else 1e-4) if alpha_min_ratio is None else alpha_min_ratio
        ratio = real("alpha_min_ratio", ratio, lambda v: 0 < v < 1, "a number in (0, 1)")
        return None, ratio, checked
    return checked, 0.0, checked.size


@dataclasses.dataclass
class Standardized:
    """The internal columns and their statistics (glmnet's ``standardize``)."""

    X: np.ndarray  # (n, p) Fortran order: the internal columns
    mean: np.ndarray  # (p,) xm: subtracted when an intercept is fitted
    scale: np.ndarray  # (p,) xs: divided by when standardize (1 otherwise)
    xv: np.ndarray  # (p,) sum(wt * X**2), the unit-weight curvature
    ju: np.ndarray  # (p,) bool: not constant and not excluded


def standardize(
    X: np.ndarray, wt: np.ndarray, excluded: np.ndarray, intercept: bool, standardize: bool
) -> Standardized:
    """glmnet's internal columns with normalized weights ``wt``: centred by the weighted
    mean when an intercept is fitted, scaled by the weighted population standard deviation
    (about the mean) when ``standardize``. Constant columns are never entered."""
    from research.glm._kernels import standardize_columns

    Z = np.array(X, dtype=np.float64, order="F")
    mean, scale, xv, varying = standardize_columns(Z, wt, intercept, standardize)
    return Standardized(
        Z, mean if intercept else np.zeros_like(mean), scale, xv, varying & ~excluded
    )
