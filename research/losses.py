"""Data losses by config name (``loss=<name>``), with per-example weights.

Every loss is ``loss(pred, y, weight) -> scalar``. ``weight`` is 1 for a real
example and 0 for padding, so a last partial batch (padded to the batch size
inside a compiled program) counts its own examples only:

* ``abs_sum``: ``sum_i |pred_i - y_i|`` over the batch, unnormalized (the
  blog post's loss: the sum of absolute errors);
* ``mse``: ``mean_i mean_j (pred_ij - y_ij)**2`` (Keras's ``"mse"``);
* ``half_mse``: half of it (scikit-learn's Lasso / ElasticNet objective);
* ``cross_entropy``: softmax cross-entropy of logits against integer labels
  (Keras's ``sparse_categorical_crossentropy(from_logits=True)``);
* ``keras``: a ``model=keras`` file's compiled loss (``research.port.KerasLoss``).

The means divide by the batch's real examples, as Keras averages a last
partial batch over its own size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from research.port import KerasLoss

__all__ = ["LOSSES", "TASKS", "abs_sum", "cross_entropy", "half_mse", "keras", "keras_loss", "mse"]


def _mean(weight: jax.Array, per_example: jax.Array) -> jax.Array:
    return jnp.sum(weight * per_example) / jnp.sum(weight)


def abs_sum(pred: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """Sum of absolute errors over the batch (not divided by the batch size)."""
    return jnp.sum(weight * jnp.sum(jnp.abs(pred - y), axis=-1))


def mse(pred: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """Mean squared error over outputs and examples."""
    return _mean(weight, jnp.mean(jnp.square(pred - y), axis=-1))


def half_mse(pred: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """Half the mean squared error: ``1/(2n) ||y - Xw||^2`` for one output."""
    return _mean(weight, 0.5 * jnp.mean(jnp.square(pred - y), axis=-1))


def cross_entropy(logits: jax.Array, labels: jax.Array, weight: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits`` against integer ``labels``."""
    logp = jax.nn.log_softmax(logits)
    return _mean(weight, -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0])


def keras(pred: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """``loss=keras``: the compiled loss of a ``model=keras`` file (the engine reads it there)."""
    raise ValueError("loss: keras is the compiled loss of a Keras model; use it with model=keras")


def keras_loss(
    loss: KerasLoss,
    pred: jax.Array,
    y: jax.Array,
    weight: jax.Array,
    logits: jax.Array | None = None,
) -> jax.Array:
    """A ``research.port.KerasLoss`` averaged over the real examples of a padded batch."""
    per_example = loss.per_example(y, pred, logits=logits)
    per_example = per_example.reshape(per_example.shape[0], -1).mean(axis=-1)
    if loss.reduction == "sum":
        return jnp.sum(weight * per_example)
    return _mean(weight, per_example)


LOSSES: dict[str, Callable[[jax.Array, jax.Array, jax.Array], jax.Array]] = {
    "abs_sum": abs_sum,
    "mse": mse,
    "half_mse": half_mse,
    "cross_entropy": cross_entropy,
    "keras": keras,
}
"""The losses by config name; the one list of them."""

TASKS: dict[str, str | None] = {name: "regression" for name in LOSSES}
TASKS |= {"cross_entropy": "classification"}
TASKS["keras"] = None  # the file's loss decides
"""The kind of data set each loss needs (``research.data.TASKS`` names each data set's)."""
