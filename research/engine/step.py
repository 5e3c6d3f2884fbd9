"""One training step of one seed and one strength setting, and its initial state.

The engine ``vmap``s these over strengths and seeds (``research.engine.loop``).
Every function takes the ``ProgramSpec`` first: it is static, so Python
branches on it are resolved while tracing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from research import layers, losses, methods, models, port
from research.engine.moments import moment_loss
from research.engine.spec import ProgramSpec
from research.regularizers import REGULARIZERS, Regularizer, from_config

__all__ = [
    "init_state",
    "is_keras",
    "keras_objective",
    "layer_mask",
    "model_fn",
    "penalty",
    "regularizer",
    "train_step",
]


def is_keras(spec: ProgramSpec) -> bool:
    """Whether the model is a converted Keras file (``model=keras``)."""
    return dict(spec.model)["name"] == "keras"


def model_fn(spec: ProgramSpec) -> Callable[[nnx.Rngs], nnx.Module]:
    """The model constructor: ``rngs -> Module`` for the spec's model and data shapes.

    A Keras file's kernel regularizers are dropped when the config names a
    regularizer: that one replaces them.
    """
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.model}
    if config["name"] == "keras":
        config["_kernel_regularizers"] = spec.regularizer == "none"
    return lambda rngs: models.build_model(config, spec.in_features, spec.out_features, rngs)


def keras_objective(
    spec: ProgramSpec,
    graph: Any,
    params: Any,
    xb: jax.Array,
    yb: jax.Array,
    wb: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, dict[str, Any]]:
    """A Keras model's training loss on a padded batch: the data loss (the file's
    compiled loss for ``loss=keras``) plus its layers' penalties on the real rows;
    and its moving statistics after the batch (``BatchNormalization``'s, from
    the real rows; ``{}`` without)."""
    model = cast(layers.Sequential, models.merge(graph, params))  # a converted Keras file
    with layers.example_weights(wb):
        pred, logits = model.call_with_logits(xb, training=True, rngs=nnx.Rngs(dropout=key))
    if spec.loss == "keras":
        loss = port.cached_loss(dict(spec.model)["path"])
        final = port.final_activation(model)
        logits = logits if loss.activation and final == loss.activation else None
        data_loss = losses.keras_loss(loss, pred, yb, wb, logits)
    else:
        data_loss = losses.LOSSES[spec.loss](pred, yb, wb)
    stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
    return data_loss + layers.regularization_loss(model), stats


@functools.cache
def layer_mask(layers: tuple[int, ...] | None) -> Callable | None:
    """Kernels of the given layer indices (all kernels when None); one object per tuple."""
    if layers is None:
        return None

    def mask(params):
        def pick(path, _):
            keys = [getattr(e, "key", None) for e in path]
            return keys[-1] == "kernel" and keys[0] == "layers" and keys[1] in layers

        return jax.tree_util.tree_map_with_path(pick, params)

    return mask


def regularizer(spec: ProgramSpec, strength: dict[str, jax.Array]) -> Regularizer | None:
    """The penalty at one strength setting (None without one)."""
    if spec.regularizer not in REGULARIZERS:
        return None
    options = dict(spec.regularizer_options)
    return from_config(spec.regularizer, **strength, **options, mask=layer_mask(spec.layers))


def transform(
    spec: ProgramSpec, strength: dict[str, jax.Array], lr: jax.Array
) -> optax.GradientTransformation:
    """The optax transformation of the spec's method and optimizer at one strength."""
    options = dict(spec.optimizer_options)
    tx = methods.transform(spec.method, regularizer(spec, strength), spec.optimizer, options, lr)
    if is_keras(spec):  # the Keras layers' constraints, after any optimizer (as Keras)
        tx = optax.chain(tx, layers.constraints(port.cached_model(dict(spec.model)["path"])))
    return tx


def penalty(spec: ProgramSpec, strength: dict[str, jax.Array], params: Any) -> jax.Array:
    """The penalty of ``params`` at one strength setting (0 without a regularizer)."""
    reg = regularizer(spec, strength)
    return jnp.zeros(()) if reg is None else reg(params)


def init_state(
    spec: ProgramSpec, key: jax.Array, strength: dict[str, jax.Array], lr: jax.Array
) -> dict[str, Any]:
    """Seed ``key``'s initial params and optimizer state (params from ``fold_in(key, 0)``).

    A Keras model's moving statistics are in ``params`` too (per seed, saved
    with the weights); the optimizer sees only its trainable parameters.
    """
    graph, params = models.init_params(model_fn(spec), jax.random.fold_in(key, 0))
    trainable = models.split_stats(graph, params)[0] if is_keras(spec) else params
    state = {
        "params": params,
        "opt": transform(spec, strength, lr).init(trainable),
        "epoch_loss": jnp.zeros(spec.epochs),
        "diverged_step": jnp.array(-1, jnp.int32),
    }
    if spec.shuffle:
        state["order"] = jnp.zeros(spec.padded_size, jnp.int32)
    return state


def _reshuffle(spec: ProgramSpec, key: jax.Array, epoch: jax.Array) -> jax.Array:
    """Seed ``key``'s order of the training examples in ``epoch``, padded to whole batches."""
    perm = jax.random.permutation(
        jax.random.fold_in(jax.random.fold_in(key, 1), epoch), spec.n_train
    )
    pad = jnp.zeros(spec.padded_size - spec.n_train, perm.dtype)
    return jnp.concatenate([perm, pad]).astype(jnp.int32)


def _batch(spec: ProgramSpec, step: jax.Array, state, key, arrays):
    """The batch of ``step``: inputs, targets, example weights and the epoch's order."""
    epoch, pos = step // spec.steps_per_epoch, step % spec.steps_per_epoch
    bs = spec.batch_size
    if spec.shuffle:
        # The step is not batched, so under vmap this stays a real branch taken once an epoch.
        order = jax.lax.cond(
            pos == 0, lambda _: _reshuffle(spec, key, epoch), lambda _: state["order"], None
        )
        idx = jax.lax.dynamic_slice_in_dim(order, pos * bs, bs)
        xb, yb = arrays["x"][idx], arrays["y"][idx]
    else:
        order = None
        xb = jax.lax.dynamic_slice_in_dim(arrays["x_pad"], pos * bs, bs)
        yb = jax.lax.dynamic_slice_in_dim(arrays["y_pad"], pos * bs, bs)
    wb = jax.lax.dynamic_slice_in_dim(arrays["w_pad"], pos * bs, bs)
    return xb, yb, wb, order


def train_step(
    spec: ProgramSpec,
    graph: Any,
    step: jax.Array,
    state: dict[str, Any],
    key: jax.Array,
    strength: dict[str, jax.Array],
    lr: jax.Array,
    arrays: dict[str, jax.Array],
) -> tuple[dict[str, Any], tuple[jax.Array, jax.Array | None]]:
    """One optimizer step; returns the new state and the batch's losses at the params
    before the step: ``(data_loss, step_penalty)``.

    ``step_penalty`` is the penalty at those params when ``spec.step_penalty``,
    else None: the methods that apply the penalty by its proximal map do not
    need its value every step, and the loop adds it once an epoch instead
    (``ProgramSpec.penalty_at_epoch_end``). ``epoch_loss`` and
    ``diverged_step`` pass through: the loop folds the losses into them once
    a block (``research.engine.loop``).
    """
    xb, yb, wb, order = _batch(spec, step, state, key, arrays)
    params = state["params"]
    stats: dict[str, Any] = {}
    if is_keras(spec):  # moving statistics follow the batches, not the optimizer
        params, stats = models.split_stats(graph, params)

    def objective(p):
        if spec.moments:
            return moment_loss(spec.loss, p, arrays), stats
        if is_keras(spec):
            dropout = jax.random.fold_in(jax.random.fold_in(key, 2), step)
            return keras_objective(spec, graph, models.join_stats(p, stats), xb, yb, wb, dropout)
        return losses.LOSSES[spec.loss](models.apply(graph, p, xb), yb, wb), stats

    (data_loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(params)
    step_penalty = penalty(spec, strength, params) if spec.step_penalty else None
    updates, opt_state = transform(spec, strength, lr).update(grads, state["opt"], params)
    trained = models.join_stats(optax.apply_updates(params, updates), stats)
    new = {**state, "params": trained, "opt": opt_state}
    if spec.shuffle:
        new["order"] = order
    return new, (data_loss, step_penalty)
