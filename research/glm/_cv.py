"""``glm_cv``: k-fold cross-validation of ``glm_path``, computed as ``cv.glmnet`` computes it.

Private: import the public names from ``research.glm``.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from research.glm import _data as data
from research.glm._path import glm_path
from research.glm._result import GLMPath

MEASURES = {
    "gaussian": ("deviance", "mse", "mae"),
    "binomial": ("deviance", "class", "auc", "mse", "mae"),
    "poisson": ("deviance", "mse", "mae"),
    "multinomial": ("deviance", "class", "mse", "mae"),
}
"""The measures each family takes (cv.glmnet's ``type.measure``)."""
CLIP = 1e-5
"""cv.glmnet clips probabilities to ``[1e-5, 1 - 1e-5]`` in the binomial and multinomial
deviance."""


@dataclasses.dataclass(frozen=True)
class GLMCV:
    """Cross-validation of a ``glm_path`` (cv.glmnet's result).

    Attributes:
      alphas: (K,) the strengths, those of ``path`` (cv.glmnet's ``lambda``).
      cv_mean: (K,) the measure's mean over the folds, weighted by their weights (``cvm``).
      cv_std: (K,) its standard error (``cvsd``).
      alpha_min: the largest strength of the smallest mean (``lambda.min``; for "auc", the
        largest).
      alpha_1se: the largest strength whose mean is within one standard error of it
        (``lambda.1se``).
      measure: the measure ("deviance", "mse", "mae", "class" or "auc").
      fold_ids: (n,) each observation's fold.
      path: the path fitted on all the data.
    """

    alphas: np.ndarray
    cv_mean: np.ndarray
    cv_std: np.ndarray
    alpha_min: float
    alpha_1se: float
    measure: str
    fold_ids: np.ndarray
    path: GLMPath


def _folds(fold_ids: Any, n_folds: Any, seed: Any, n: int) -> np.ndarray:
    """Each observation's fold: ``fold_ids`` as given, else a random balanced assignment
    (as cv.glmnet's ``sample(rep(1:nfolds, length = n))``, from NumPy's generator)."""
    if fold_ids is None:
        if (
            isinstance(n_folds, bool)
            or not isinstance(n_folds, Integral)
            or not 3 <= int(n_folds) <= n
        ):
            raise ValueError(f"n_folds: expected an int in [3, n_samples={n}], got {n_folds!r}")
        return np.random.default_rng(seed).permutation(np.arange(n) % int(n_folds)) + 1
    ids = np.asarray(fold_ids)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"fold_ids: expected {n} integers (one fold per observation), got {ids.shape}"
        )
    if np.unique(ids).size < 3:
        raise ValueError("fold_ids: expected at least 3 folds")
    return ids


def _losses(family: str, measure: str, Y: np.ndarray, link: np.ndarray) -> np.ndarray:
    """Each held-out observation's loss at each strength (cv.glmnet's ``cvraw``). ``Y``:
    (n,) responses, binomial (n, 2) and multinomial (n, C) proportions; ``link``: (n, K)
    or multinomial (n, C, K)."""
    if family == "gaussian":
        diff = Y[:, None] - link
        return np.abs(diff) if measure == "mae" else diff**2
    if family == "poisson":
        mu = np.exp(link)
        if measure == "mse":
            return (Y[:, None] - mu) ** 2
        if measure == "mae":
            return np.abs(Y[:, None] - mu)
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0.0)
        return 2 * ((ylogy - Y)[:, None] - (Y[:, None] * link - mu))
    if family == "binomial":
        prob = 1 / (1 + np.exp(-link))
        P = np.stack([1 - prob, prob], axis=1)  # (n, 2, K)
    else:
        shifted = np.exp(link - link.max(axis=1, keepdims=True))
        P = shifted / shifted.sum(axis=1, keepdims=True)
    Yk = Y[:, :, None]
    if measure == "mse":
        return ((Yk - P) ** 2).sum(1)
    if measure == "mae":
        return np.abs(Yk - P).sum(1)
    if measure == "class":
        if family == "binomial":  # glmnet: class 2 when its probability exceeds 0.5
            return Y[:, :1] * (P[:, 1] > 0.5) + Y[:, 1:] * (P[:, 1] <= 0.5)
        first = np.argmax(P, axis=1)  # (n, K)
        return 1 - np.take_along_axis(Y, first, axis=1)
    ylogy = np.where(Yk > 0, Yk * np.log(np.where(Yk > 0, Yk, 1)), 0.0)
    return 2 * (ylogy - Yk * np.log(np.clip(P, CLIP, 1 - CLIP))).sum(1)


def _auc(Y: np.ndarray, prob: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted AUC at each strength (cv.glmnet's ``auc.mat``): every row counts as a
    negative with weight ``w * Y[:, 0]`` and as a positive with ``w * Y[:, 1]``; ties 1/2."""
    neg, pos = w * Y[:, 0], w * Y[:, 1]
    out = np.empty(prob.shape[1])
    for k in range(prob.shape[1]):
        score = prob[:, k]
        order = np.argsort(score, kind="mergesort")
        s, wn = score[order], neg[order]
        below = np.concatenate([[0.0], np.cumsum(wn)])
        left = np.searchsorted(s, score, side="left")
        right = np.searchsorted(s, score, side="right")
        wins = below[left] + 0.5 * (below[right] - below[left])
        out[k] = (pos @ wins) / (pos.sum() * neg.sum())
    return out


def _aggregate(raw: np.ndarray, w: np.ndarray, folds: np.ndarray, grouped: bool):
    """cv.glmnet's ``cvm`` and ``cvsd``: fold means weighted by the folds' weights and the
    standard error of the mean over the folds (over the observations when not ``grouped``)."""
    if grouped:
        ids = np.unique(folds)
        weight = np.array([w[folds == f].sum() for f in ids])
        per_fold = np.stack([w[folds == f] @ raw[folds == f] for f in ids]) / weight[:, None]
        raw, w = per_fold, weight
    mean = (w @ raw) / w.sum()
    var = (w @ (raw - mean) ** 2) / w.sum()
    return mean, np.sqrt(var / (raw.shape[0] - 1))


def glm_cv(
    X: ArrayLike,
    y: ArrayLike,
    *,
    n_folds: int = 10,
    fold_ids: ArrayLike | None = None,
    measure: str = "deviance",
    seed: int = 0,
    **path_arguments: Any,
) -> GLMCV:
    """Cross-validates ``glm_path`` as ``cv.glmnet(x, y, nfolds=, foldid=, type.measure=)``.

    The path on all the data gives the strengths; each fold's path (on the other folds,
    with ``path_arguments``: its own grid when ``alphas`` is an int, as cv.glmnet's) is
    interpolated at them (``GLMPath.coef_at``) and scored on the held-out fold. The folds
    are fitted in parallel threads (the compiled loops release the GIL).

    Args:
      X: (n, p) features, as for ``glm_path``.
      y: the responses (labels, counts) of the family, as for ``glm_path``.
      n_folds: the number of folds (>= 3) when ``fold_ids`` is not given.
      fold_ids: (n,) integer fold labels (at least 3 distinct); default: a balanced random
        assignment from ``seed``.
      measure: "deviance" (gaussian: the squared error), "mse", "mae", "class" (binomial
        and multinomial: the misclassification rate) or "auc" (binomial).
      seed: the random assignment's seed.
      **path_arguments: ``glm_path``'s keyword arguments (``family``, ``l1_ratio``,
        ``alphas``, ``sample_weight``, ...).

    Returns:
      A ``GLMCV``.
    """
    family = data.check_family(path_arguments.get("family", "gaussian"))
    if measure not in MEASURES[family]:
        raise ValueError(
            f"measure: family={family} takes one of {list(MEASURES[family])}, got {measure!r}"
        )
    x = data.check_x(X)
    n = x.shape[0]
    Y, totals, _ = data.response(family, y, n)
    w = data.weights(path_arguments.pop("sample_weight", None), n)
    folds = _folds(fold_ids, n_folds, seed, n)
    path = glm_path(x, y, sample_weight=w, **path_arguments)
    labels, ids = np.asarray(y), np.unique(folds)

    def fold(f: Any) -> tuple[np.ndarray, Any]:
        out = folds == f
        fit = glm_path(x[~out], labels[~out], sample_weight=w[~out], **path_arguments)
        return out, fit.predict(x[out], alpha=path.alphas, kind="link")

    with ThreadPoolExecutor(max_workers=min(ids.size, os.cpu_count() or 1)) as pool:
        held_out = list(pool.map(fold, ids))
    if family == "binomial":
        Y = np.stack([1 - Y, Y], axis=1)
    weight = w * totals
    n_valid = np.count_nonzero(weight > 0)
    if measure == "auc" and n_valid / ids.size < 10:
        warnings.warn(
            "glm_cv: too few observations per fold for 'auc'; using deviance", stacklevel=2
        )
        measure = "deviance"
    if measure == "auc":
        per_fold = np.stack(
            [_auc(Y[out], 1 / (1 + np.exp(-link)), weight[out]) for out, link in held_out]
        )
        fold_weight = np.array([weight[out].sum() for out, _ in held_out])
        mean, std = _aggregate(per_fold, fold_weight, np.arange(ids.size), False)
    else:
        raw = np.empty((n, path.alphas.size))
        for out, link in held_out:
            raw[out] = _losses(family, measure, Y[out], link)
        grouped = bool(n_valid / ids.size >= 3)
        mean, std = _aggregate(raw, weight, folds, grouped)
    score = -mean if measure == "auc" else mean
    best = int(np.flatnonzero(score <= score.min())[0])
    within = np.flatnonzero(score <= score[best] + std[best])
    return GLMCV(
        alphas=path.alphas,
        cv_mean=mean,
        cv_std=std,
        alpha_min=float(path.alphas[best]),
        alpha_1se=float(path.alphas[within[0]]),
        measure=measure,
        fold_ids=folds,
        path=path,
    )
