"""``Orthogonal``: Keras's ``OrthogonalRegularizer`` (a penalty with no closed-form prox).

Private: import ``Orthogonal`` from ``research.regularizers``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from research.compat import import_keras
from research.regularizers._base import (
    Mask,
    Regularizer,
    abs_sign_grad,
    cast,
    check_scalar,
)

EPSILON = 1e-7  # keras.config.epsilon(): the floor of a row's (column's) norm
MODES = ("rows", "columns")


class Orthogonal(Regularizer):
    """``factor * mean_{i<j} |<x_i, x_j>|`` of the normalized rows (or columns) of a kernel.

    Keras's ``OrthogonalRegularizer(factor, mode)``: each row (``mode="rows"``)
    or column (``"columns"``) ``x_i`` of a rank-2 weight is normalized as
    ``x_i * min(1 / ||x_i||, 1 / epsilon)`` with ``epsilon = 1e-7`` (an all-zero
    row stays zero), and the penalty is ``factor`` times the mean absolute
    inner product over the ``n (n - 1) / 2`` pairs ``i < j``. It pushes the
    rows (columns) towards orthogonality; the subgradient of ``|.|`` at 0 is
    0, as TensorFlow's.

    The penalty has no closed-form proximal map: use it with
    ``add_regularization`` (the subgradient method), not ``proximal``.

    Args:
      factor: >= 0 (Keras's default 0.01); a float or a JAX scalar.
      mode: ``"rows"`` or ``"columns"``.
      mask: leaves to penalize; default: those named ``kernel``. Every selected
        leaf must be 2-D, with at least two rows (columns).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import Orthogonal
      >>> Orthogonal(0.1)({"kernel": jnp.array([[1.0, 0.0], [1.0, 1.0]])})
      Array(0.07071068, dtype=float32)
    """

    _fields = ("factor",)
    name = "orthogonal"
    keras_name = "OrthogonalRegularizer"
    options = ("mode",)
    has_prox = False
    separable = False

    def __init__(
        self, factor: float | jax.Array = 0.01, mode: str = "rows", *, mask: Mask = None
    ) -> None:
        self.factor = check_scalar("factor", factor)
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
        self.mode = mode
        self.mask = mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}

    def _vectors(self, w: jax.Array) -> jax.Array:
        """The normalized rows (columns) of ``w`` as the rows of a matrix."""
        if w.ndim != 2:
            raise ValueError(
                f"Orthogonal: a penalized weight must be 2-D (a Dense kernel), got shape {w.shape}"
            )
        x = w if self.mode == "rows" else w.T
        if x.shape[0] < 2:
            raise ValueError(
                f"Orthogonal(mode={self.mode!r}): a weight of shape {w.shape} has fewer than "
                f"two {self.mode}, so no pair to make orthogonal"
            )
        squares = jnp.sum(jnp.square(x), axis=1, keepdims=True)
        nonzero = squares > 0
        # min(rsqrt(s), 1/eps) as Keras, with the zero rows' branch cut off for the gradient.
        inv_norm = jnp.minimum(jax.lax.rsqrt(jnp.where(nonzero, squares, 1)), 1 / EPSILON)
        return x * jnp.where(nonzero, inv_norm, 1 / EPSILON).astype(w.dtype)

    def leaf_value(self, w: jax.Array) -> jax.Array:
        x = self._vectors(w)
        n = x.shape[0]
        off_diagonal = (x @ x.T) * (1 - jnp.eye(n, dtype=w.dtype))
        pairs = n * (n - 1) / 2
        return cast(self.factor, w) * 0.5 * jnp.sum(abs_sign_grad(off_diagonal)) / pairs

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return jax.grad(self.leaf_value)(w)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        raise ValueError(
            "Orthogonal has no closed-form proximal map; use add_regularization(Orthogonal(...)) "
            "(the subgradient method) instead of proximal"
        )

    def to_keras(self) -> Any:
        return import_keras().regularizers.OrthogonalRegularizer(**self.get_config())
