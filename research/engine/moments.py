"""Training a linear model under a squared error from the data's second moments.

For a linear model under a (half) mean squared error on full batches, the
loss is a quadratic in the weights fixed by ``X^T X``, ``X^T y`` and the
means: a step then costs ``p^2`` instead of ``2 n p`` multiply-adds per
output. It is the same objective, so the engine uses it wherever it applies
and the data is the larger operand (``p <= n``), unless ``use_moments`` is
false.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research.config import RunSpec
from research.data import Dataset

__all__ = ["moment_loss", "moments", "uses_moments"]


def uses_moments(run: RunSpec, dataset: Dataset) -> bool:
    """Whether the run trains from the moments (``use_moments``: None decides by the rule).

    Raises:
      ValueError: when ``use_moments`` is true for a run the rule excludes.
    """
    n, p = dataset.x_train.shape
    applies = run.model["name"] == "linear" and run.loss in ("mse", "half_mse")
    applies = applies and run.batch_size >= n
    if run.use_moments:
        if not applies:
            raise ValueError(
                "use_moments: needs model=linear, loss mse or half_mse and full batches "
                f"(batch_size >= {n}); got model={run.model['name']}, loss={run.loss}, "
                f"batch_size={run.batch_size}"
            )
        return True
    return run.use_moments is None and applies and n >= p


def moments(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Centered second moments of the training data, computed in float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    return {
        "gram": xc.T @ xc,
        "cross": xc.T @ yc,
        "yy": np.sum(yc**2),
        "x_mean": x_mean,
        "y_mean": y_mean,
    }


def moment_loss(kind: str, params: Any, arrays: dict[str, jax.Array]) -> jax.Array:
    """The (half) MSE of the linear model ``x @ kernel + bias`` on all training data.

    With centered data ``xc, yc`` and ``beta = bias + mean(x) @ kernel - mean(y)``,
    ``sum((x @ kernel + bias - y)**2) = sum((xc @ kernel - yc)**2) + n * sum(beta**2)``
    (the cross term vanishes), and the first sum expands in the moments.
    """
    layer = params["layers"][0]
    kernel = layer["kernel"]
    n, out = arrays["x"].shape[0], kernel.shape[-1]
    beta = arrays["x_mean"] @ kernel - arrays["y_mean"]
    if "bias" in layer:
        beta = beta + layer["bias"]
    # sum(kernel * gram @ kernel) with its gradient 2 * gram @ kernel from one matmul
    # (gram is symmetric; autodiff of the product would add a second, transposed one).
    g_kernel = jax.lax.stop_gradient(arrays["gram"] @ kernel)
    quadratic = 2 * jnp.sum(kernel * g_kernel) - jnp.sum(jax.lax.stop_gradient(kernel) * g_kernel)
    centered = quadratic - 2 * jnp.sum(kernel * arrays["cross"]) + arrays["yy"]
    mse = (centered + n * jnp.sum(beta**2)) / (n * out)
    return 0.5 * mse if kind == "half_mse" else mse
