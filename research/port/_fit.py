"""``fit``: Keras's ``model.fit`` for a ported model, one compiled program per epoch.

Private: import ``fit`` from ``research.port``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from research import layers
from research.port._model import Ported


class FitResult(NamedTuple):
    """What ``fit`` returns: the trained model and the loss of each epoch."""

    model: layers.Sequential
    losses: np.ndarray  # (epochs,)


def _check(ported: Any, x: Any, y: Any, epochs: Any, batch_size: Any) -> None:
    if not isinstance(ported, Ported):
        raise TypeError(f"ported: expected research.port.Ported, got {type(ported).__name__}")
    if ported.tx is None or ported.loss_fn is None:
        raise ValueError(
            "ported: the Keras model was not compiled (no optimizer or loss); "
            "call model.compile(...) before from_keras_model"
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"x, y: expected the same number (> 0) of examples, got {len(x)} and {len(y)}"
        )


def _inputs(a: Any, dtype: Any) -> jax.Array:
    """As Keras feeds arrays: floating point in the model's dtype, integers kept."""
    a = np.asarray(a)
    return jnp.asarray(a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a)


def _step(tx, loss_fn, graph: Any, rest: Any, carry, batch):
    """One optimizer step on one batch; returns the new carry and the batch loss.

    The carry holds the parameters, the ``nnx.BatchStat`` s (a
    ``BatchNormalization``'s moving statistics, updated by the training call
    as Keras's forward pass updates them, before the optimizer step) and the
    optimizer state.
    """
    params, stats, opt_state = carry
    xb, yb, key = batch

    def objective(p):
        model = nnx.merge(graph, p, stats, rest)
        loss = loss_fn(model, xb, yb, rngs=nnx.Rngs(dropout=key))
        return loss, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))

    (loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), stats, opt_state), loss


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 7, 8))
def _epoch(tx, loss_fn, graph, rest, carry, data, epoch, batch_size, shuffle):
    """One epoch: the full batches in a scan, then the last partial batch (if any)."""
    x, y, key = data
    n = x.shape[0]
    full, tail = divmod(n, batch_size)
    if shuffle:
        order = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 0), epoch), n)
        x, y = x[order], y[order]
    keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, 1), epoch), full + 1)
    step = functools.partial(_step, tx, loss_fn, graph, rest)
    total = jnp.zeros((), jnp.float32)
    if full:
        batches = (
            x[: full * batch_size].reshape(full, batch_size, *x.shape[1:]),
            y[: full * batch_size].reshape(full, batch_size, *y.shape[1:]),
            keys[:full],
        )
        carry, losses = jax.lax.scan(step, carry, batches)
        total = jnp.sum(losses * batch_size)
    if tail:
        carry, loss = step(carry, (x[full * batch_size :], y[full * batch_size :], keys[full]))
        total = total + loss * tail
    # Keras's loss tracker: a mean of batch losses weighted by their sizes.
    return carry, total / n


def fit(
    ported: Ported,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> FitResult:
    """Trains a ported model as Keras's ``model.fit`` would.

    Batches of ``batch_size`` in order (or reshuffled each epoch from
    ``seed`` with ``shuffle=True``; Keras's own shuffle order cannot be
    reproduced), the last partial batch averaged over its own size, one
    optimizer step per batch on ``ported.loss_fn`` (data loss plus the
    layers' penalties), dropout masks drawn from ``seed``. The
    ``BatchNormalization`` layers normalize by each batch and carry their
    moving statistics from step to step, as in Keras's ``fit``; only the
    ``nnx.Param`` s are trained.

    Args:
      ported: ``research.port.from_keras_model(model)`` of a compiled model.
      x: the training inputs (a NumPy or JAX array).
      y: the training targets, as ``x``.
      epochs: passes over the data.
      batch_size: examples per step.
      shuffle: reshuffle every epoch.
      seed: the PRNG seed of shuffling and dropout.

    Returns:
      ``FitResult(model, losses)``: a trained copy of ``ported.model`` (with
      the moving statistics of the last step) and the
      per-epoch losses Keras prints (the batch-size-weighted mean of the
      batches' regularized losses), shape ``(epochs,)``.

    Examples:
      >>> import keras
      >>> import numpy as np
      >>> import research.port
      >>> keras_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
      >>> keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
      >>> ported = research.port.from_keras_model(keras_model)
      >>> x = np.linspace(-1, 1, 30, dtype="float32").reshape(10, 3)
      >>> y = x.sum(axis=1, keepdims=True)
      >>> model, losses = research.port.fit(ported, x, y, epochs=3, batch_size=4)
      >>> losses.shape, bool(losses[0] > losses[1] > losses[2])
      ((3,), True)

      Keras's own ``fit`` from the same weights (in order, a last batch of 2) agrees:

      >>> history = keras_model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
      >>> bool(np.allclose(losses, history.history["loss"], rtol=1e-5))
      True
      >>> bool(np.allclose(model.layers[0].kernel[...], keras_model.layers[0].kernel, atol=1e-6))
      True
    """
    _check(ported, x, y, epochs, batch_size)
    assert ported.tx is not None  # _check raised for a model without an optimizer
    # nnx.split with three filters returns four parts; its stub says "two or more"
    graph, params, stats, rest = cast(
        "tuple[nnx.GraphDef[Any], Any, Any, Any]",
        nnx.split(ported.model, nnx.Param, nnx.BatchStat, ...),
    )
    # Pure dicts: merged inside each traced step, the variables are created there.
    params, stats, rest = (nnx.to_pure_dict(s) for s in (params, stats, rest))
    carry = (params, stats, ported.tx.init(params))
    dtype = next((leaf.dtype for leaf in jax.tree.leaves(params)), np.float32)
    data = (_inputs(x, dtype), _inputs(y, dtype), jax.random.key(seed))
    losses = []
    for epoch in range(epochs):
        carry, loss = _epoch(
            ported.tx, ported.loss_fn, graph, rest, carry, data, epoch, int(batch_size), shuffle
        )
        losses.append(loss)
    return FitResult(nnx.merge(graph, carry[0], carry[1], rest), np.asarray(jnp.stack(losses)))
