"""``GLMPath``: a path's strengths, coefficients and statistics, and glmnet's ``predict``.

Private: import the public names from ``research.glm``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

KINDS = ("link", "response", "class")


@dataclasses.dataclass(frozen=True)
class GLMPath:
    """The solutions of ``glm_path`` at each strength (strongest first), on the features'
    original scale, as glmnet returns them.

    Attributes:
      family: "gaussian", "binomial", "multinomial" or "poisson".
      alphas: (K,) the strengths (glmnet's ``lambda``).
      coef: (p, K); multinomial (C, p, K) (glmnet's ``beta``).
      intercept: (K,); multinomial (C, K), centred to sum to 0 over classes (``a0``).
      dev_ratio: (K,) the fraction of the null deviance explained (``dev.ratio``).
      df: (K,) non-zero coefficients; multinomial: features non-zero in any class.
      null_deviance: the null model's deviance, with the weights as given (``nulldev``).
      classes: the labels of a binomial or multinomial response (the second binomial class
        is modelled), else None.
      n_passes: coordinate-descent passes over the data, summed over the path (``npasses``).
      l1_ratio: the elastic-net mixing (glmnet's ``alpha``).
    """

    family: str
    alphas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    dev_ratio: np.ndarray
    df: np.ndarray
    null_deviance: float
    classes: np.ndarray | None
    n_passes: int
    l1_ratio: float

    def coef_at(self, alpha: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(coef, intercept)`` at the strengths ``alpha`` (a scalar or 1-D), interpolated
        linearly in the strength between the path's neighbours and held constant beyond its
        ends, as glmnet's ``coef(fit, s=)`` (``lambda.interp``). The strength axis is last."""
        s = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
        if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError(f"alpha: expected strengths >= 0 (a scalar or 1-D), got {alpha!r}")
        left, right, frac = interpolation(self.alphas, s)
        mix = lambda a: a[..., left] * frac + a[..., right] * (1 - frac)  # noqa: E731
        return mix(self.coef), mix(self.intercept)

    def predict(
        self, X: ArrayLike, *, alpha: ArrayLike | None = None, kind: str = "link"
    ) -> np.ndarray:
        """glmnet's ``predict(fit, newx, s=alpha, type=kind)``.

        Args:
          X: (n, p) features on the original scale.
          alpha: strengths (a scalar or 1-D; interpolated as in ``coef_at``); None: the path's.
          kind: "link" (the linear predictor), "response" (gaussian: the link; binomial: the
            second class's probability; multinomial: class probabilities; poisson: the mean)
            or "class" (binomial and multinomial: the predicted label).

        Returns:
          (n, m) for ``m`` strengths, (n,) for a scalar ``alpha``; multinomial links and
          probabilities (n, C, m) or (n, C).
        """
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {list(KINDS)}, got {kind!r}")
        if kind == "class" and self.classes is None:
            raise ValueError(
                f"kind: 'class' needs a binomial or multinomial path, not {self.family}"
            )
        X = np.asarray(X, dtype=np.float64)
        p = self.coef.shape[-2]
        if X.ndim != 2 or X.shape[1] != p:
            raise ValueError(f"X: expected shape (n, {p}), got {X.shape}")
        scalar = alpha is not None and np.ndim(alpha) == 0
        coef, intercept = (self.coef, self.intercept) if alpha is None else self.coef_at(alpha)
        if self.family == "multinomial":
            link = np.einsum("np,cpk->nck", X, coef) + intercept[None]
        else:
            link = X @ coef + intercept[None]
        out = _transform(self, link, kind)
        return out[..., 0] if scalar else out


def _transform(path: GLMPath, link: np.ndarray, kind: str) -> np.ndarray:
    if kind == "link" or path.family == "gaussian":
        return link
    if path.family == "poisson":
        return np.exp(link)
    if path.family == "binomial":
        if kind == "class":
            assert path.classes is not None
            return np.where(link > 0, path.classes[1], path.classes[0])
        return 1 / (1 + np.exp(-link))
    if kind == "class":
        assert path.classes is not None
        return path.classes[np.argmax(link, axis=1)]
    shifted = np.exp(link - link.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def interpolation(lams: np.ndarray, s: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """glmnet's ``lambda.interp``: for each ``s``, the path indices ``left <= right`` around
    it and the weight of ``left`` (linear in the strength; clamped to the path's ends)."""
    if lams.size == 1:
        zeros = np.zeros(s.size, dtype=np.int64)
        return zeros, zeros, np.ones(s.size)
    top, bottom = lams[0], lams[-1]
    s = np.clip(s, bottom, top)
    # lams decreasing: left is the last index with lams >= s, right the first with lams <= s.
    left = np.searchsorted(-lams, -s, side="right") - 1
    right = np.searchsorted(-lams, -s, side="left")
    left, right = np.clip(left, 0, lams.size - 1), np.clip(right, 0, lams.size - 1)
    gap = lams[left] - lams[right]
    same = np.abs(gap) < np.finfo(np.float64).eps * np.maximum(1.0, np.abs(lams[left]))
    frac = np.where(same, 1.0, (s - lams[right]) / np.where(same, 1.0, gap))
    return left, right, frac
