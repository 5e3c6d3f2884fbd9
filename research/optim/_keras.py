"""Keras 3 optimizers as optax transforms: ``from_keras_optimizer``.

One Keras step (``optimizer.apply(grads, variables)``, TensorFlow backend,
``keras/src/optimizers/base_optimizer.py`` and the backend's ``TFOptimizer``)
runs, per step with ``iterations`` starting at 0:

1. ``_clip_gradients``: ``clipnorm`` (each gradient by its own norm, TF's
   ``clip_by_norm``), else ``global_clipnorm`` (Keras's
   ``clip_by_global_norm``), else ``clipvalue``;
2. ``_apply_weight_decay``: ``w <- w - w * weight_decay * lr`` on each variable
   that ``exclude_from_weight_decay`` does not name;
3. ``update_step`` of the optimizer class (SGD with momentum / nesterov, Adam
   and AdamW with amsgrad, RMSprop with momentum / centered, Adagrad, Ftrl),
   with ``lr`` the learning rate or a ``keras.optimizers.schedules`` schedule
   at ``iterations`` (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
   InverseTimeDecay, CosineDecay, CosineDecayRestarts) and Adam's
   ``t = iterations + 1`` (Keras's epsilon placement, not ``optax.adam``'s).

``from_keras_optimizer`` chains the same three parts: ``_keras_clip``, the
update step of the class (``_STEPS``: the per-leaf formulas of
``keras/src/optimizers/<class>.py``, computed in the weight's dtype as Keras
casts them), and ``decoupled_weight_decay`` (which adds ``-lr * wd * w`` to the
update: the same step, since these updates do not read the weights). Ftrl,
whose update reads the weights, is ``research.optim.ftrl``, which applies the
decay itself before its step.

Private: import ``from_keras_optimizer`` from ``research.optim``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.compat import import_keras
from research.optim._common import (
    LearningRate,
    check_learning_rate,
    learning_rate_at,
    need_params,
)
from research.optim._ftrl import ftrl
from research.optim._keras_schedules import schedule_from_keras
from research.optim._weight_decay import decoupled_weight_decay
from research.trees import entry_key

_UNSUPPORTED_OPTIONS = ("use_ema", "gradient_accumulation_steps", "loss_scale_factor")


class KerasOptimizerState(NamedTuple):
    """Keras's ``iterations`` and the optimizer's slot variables, one pytree per slot name."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name; a NamedTuple field shadows tuple.count
    slots: dict[str, Any]


# --------------------------------------------------------------------------- #
# Per-leaf update steps: (optimizer) -> (slot initial values, step function).
# A step function maps (g, slots, lr, count) to (update, new slots), g and lr
# already in the weight's dtype; the update is what Keras adds to the weight.
# --------------------------------------------------------------------------- #
def _cast(value: float, dtype: Any) -> jax.Array:
    """``ops.cast(python_float, dtype)`` on Keras's TensorFlow backend: through float32
    first (the same number in a float32 model; float32-rounded in a float64 one)."""
    return jnp.asarray(np.float32(value), dtype)


def _sgd(opt: Any):
    mom = opt.momentum
    if mom == 0:
        return {}, lambda g, s, lr, count: (-(g * lr), s)

    def step(g, s, lr, count):
        momentum = _cast(mom, g.dtype)
        m = s["momentum"] * momentum - g * lr
        update = m * momentum - g * lr if opt.nesterov else m
        return update, {"momentum": m}

    return {"momentum": 0.0}, step


def _adam(opt: Any):
    b1, b2, eps = opt.beta_1, opt.beta_2, opt.epsilon

    def step(g, s, lr, count):
        t = jnp.asarray(count + 1, g.dtype)
        b1_power = jnp.power(_cast(b1, g.dtype), t)
        b2_power = jnp.power(_cast(b2, g.dtype), t)
        alpha = lr * jnp.sqrt(1 - b2_power) / (1 - b1_power)
        m = s["momentum"] + (g - s["momentum"]) * (1 - b1)
        v = s["velocity"] + (jnp.square(g) - s["velocity"]) * (1 - b2)
        new = {"momentum": m, "velocity": v}
        if opt.amsgrad:
            v = new["velocity_hat"] = jnp.maximum(s["velocity_hat"], v)
        return -((m * alpha) / (jnp.sqrt(v) + eps)), new

    slots = {"momentum": 0.0, "velocity": 0.0}
    return (slots | {"velocity_hat": 0.0}) if opt.amsgrad else slots, step


def _rmsprop(opt: Any):
    rho, mom, eps, centered = opt.rho, opt.momentum, opt.epsilon, opt.centered

    def step(g, s, lr, count):
        velocity = rho * s["velocity"] + (1 - rho) * jnp.square(g)
        new = {"velocity": velocity}
        if centered:
            average = new["average_gradient"] = rho * s["average_gradient"] + (1 - rho) * g
            denominator = velocity - jnp.square(average) + eps
        else:
            denominator = velocity + eps
        increment = (lr * g) / jnp.sqrt(denominator)
        if mom > 0:
            increment = new["momentum"] = mom * s["momentum"] + increment
        return -increment, new

    slots = {"velocity": 0.0}
    if mom > 0:
        slots["momentum"] = 0.0
    if centered:
        slots["average_gradient"] = 0.0
    return slots, step


def _adagrad(opt: Any):
    eps = opt.epsilon

    def step(g, s, lr, count):
        accumulator = s["accumulator"] + jnp.square(g)
        return -((lr * g) / jnp.sqrt(accumulator + eps)), {"accumulator": accumulator}

    return {"accumulator": opt.initial_accumulator_value}, step


_STEPS: dict[str, Callable[[Any], tuple[dict[str, float], Callable]]] = {
    "SGD": _sgd,
    "Adam": _adam,
    "AdamW": _adam,  # Keras's AdamW is Adam with weight_decay=0.004 by default
    "RMSprop": _rmsprop,
    "Adagrad": _adagrad,
}
_SUPPORTED = (*_STEPS, "Ftrl")


def _keras_update(
    name: str, slot_inits: dict[str, float], step: Callable, learning_rate: LearningRate
) -> optax.GradientTransformation:
    """The update step of a Keras optimizer class, from its per-leaf ``step``."""

    def init_fn(params):
        slots = {
            k: jax.tree.map(lambda p, v=v: jnp.full_like(p, v), params)
            for k, v in slot_inits.items()
        }
        return KerasOptimizerState(count=jnp.zeros([], jnp.int32), slots=slots)

    def update_fn(updates, state, params=None):
        need_params(f"from_keras_optimizer({name})", params)
        lr = learning_rate_at(learning_rate, state.count)
        treedef: Any  # a PyTreeDef (jaxlib ships no stub of it)
        leaves, treedef = jax.tree.flatten(params)
        grads = treedef.flatten_up_to(updates)
        slots = {k: treedef.flatten_up_to(t) for k, t in state.slots.items()}
        out_updates: list[jax.Array] = []
        out_slots: dict[str, list[Any]] = {k: [] for k in slots}
        for i, (w, g) in enumerate(zip(leaves, grads, strict=True)):
            dtype = w.dtype
            leaf_slots = {k: v[i] for k, v in slots.items()}
            u, new = step(jnp.asarray(g, dtype), leaf_slots, jnp.asarray(lr, dtype), state.count)
            out_updates.append(jnp.asarray(u, dtype))
            for k in out_slots:
                out_slots[k].append(new[k])
        new_state = KerasOptimizerState(
            count=optax.safe_increment(state.count),
            slots={k: treedef.unflatten(v) for k, v in out_slots.items()},
        )
        return treedef.unflatten(out_updates), new_state

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------- #
# Gradient clipping (base_optimizer._clip_gradients)
# --------------------------------------------------------------------------- #
def _clip_by_norm(g: jax.Array, clip_norm: float) -> jax.Array:
    """TF's ``clip_by_norm`` (the TF backend's ``_clip_by_norm``), over all axes."""
    l2sum = jnp.sum(g * g, keepdims=True)
    pred = l2sum > 0
    l2norm = jnp.where(pred, jnp.sqrt(jnp.where(pred, l2sum, jnp.ones_like(l2sum))), l2sum)
    return (g * clip_norm) / jnp.maximum(l2norm, clip_norm)


def _clip_by_global_norm(grads: list[jax.Array], clip_norm: float) -> list[jax.Array]:
    """Keras's ``clip_by_global_norm`` (NaN for a non-finite norm, as Keras)."""
    use_norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(jnp.square(g)) for g in grads])))
    scale = clip_norm * jnp.minimum(1.0 / use_norm, 1.0 / clip_norm) + (use_norm - use_norm)
    return [g * scale for g in grads]


def _keras_clip(opt: Any) -> optax.GradientTransformation | None:
    """``_clip_gradients`` as a stateless transform (None: no clipping)."""
    clipnorm, global_clipnorm, clipvalue = opt.clipnorm, opt.global_clipnorm, opt.clipvalue
    if clipnorm and clipnorm > 0:
        clip = lambda gs: [_clip_by_norm(g, clipnorm) for g in gs]  # noqa: E731
    elif global_clipnorm and global_clipnorm > 0:
        clip = lambda gs: _clip_by_global_norm(gs, global_clipnorm)  # noqa: E731
    elif clipvalue and clipvalue > 0:
        clip = lambda gs: [jnp.clip(g, -clipvalue, clipvalue) for g in gs]  # noqa: E731
    else:
        return None

    def clip_fn(updates, params=None):
        del params
        treedef: Any  # a PyTreeDef (jaxlib ships no stub of it)
        leaves, treedef = jax.tree.flatten(updates)
        return treedef.unflatten(clip(leaves))

    return optax.stateless(clip_fn)


# --------------------------------------------------------------------------- #
# Weight-decay mask (base_optimizer._use_weight_decay)
# --------------------------------------------------------------------------- #
def _weight_decay_mask(opt: Any, variables: Mapping[tuple, Any] | None) -> Callable | None:
    """The parameters Keras decays, as a callable from params to a bool pytree (None: all)."""
    ids = getattr(opt, "_exclude_from_weight_decay", None) or set()
    pattern = getattr(opt, "_exclude_from_weight_decay_pattern", None)
    if not ids and pattern is None:
        return None
    if variables is None:
        if ids:
            raise ValueError(
                f"{type(opt).__name__}.exclude_from_weight_decay(var_list=...) names Keras "
                "variables; pass variables={param path: Keras variable} to "
                "from_keras_optimizer to resolve them"
            )
        assert pattern is not None  # no ids: the early return above left a pattern

        def decays(path: tuple) -> bool:  # Keras names a variable by its last key.
            return re.search(pattern, str(path[-1])) is None
    else:
        lookup = dict(variables)

        def decays(path: tuple) -> bool:
            if path not in lookup:
                raise ValueError(
                    f"variables: no Keras variable for the param at {path}; known paths: "
                    f"{sorted(lookup, key=str)}"
                )
            var = lookup[path]
            if opt._var_key(var) in ids:
                return False
            return pattern is None or re.search(pattern, var.name) is None

    def mask(params):
        return jax.tree_util.tree_map_with_path(
            lambda path, _: decays(tuple(entry_key(e) for e in path)), params
        )

    return mask


# --------------------------------------------------------------------------- #
# The conversion
# --------------------------------------------------------------------------- #
def _check_optimizer(opt: Any, keras: Any) -> str:
    """The class name of a supported Keras optimizer; ValueError otherwise."""
    name = type(opt).__name__
    known = getattr(keras.optimizers, name, None) if name in _SUPPORTED else None
    if known is None or type(opt) is not known:
        raise ValueError(
            f"from_keras_optimizer: {name} is not supported; supported: "
            f"{', '.join(f'keras.optimizers.{n}' for n in _SUPPORTED)}"
        )
    for option in _UNSUPPORTED_OPTIONS:
        if getattr(opt, option, None):
            raise ValueError(
                f"from_keras_optimizer: {name}({option}={getattr(opt, option)!r}) is not "
                f"supported (no optax equivalent here); leave {option} at its default"
            )
    return name


def _learning_rate(opt: Any, learning_rate: LearningRate | None, keras: Any) -> LearningRate:
    """The learning rate to use: ``learning_rate``, else the optimizer's own."""
    if learning_rate is not None:
        check_learning_rate(learning_rate)
        return learning_rate
    own = opt._learning_rate
    if isinstance(own, keras.optimizers.schedules.LearningRateSchedule):
        return schedule_from_keras(own, keras)
    if isinstance(own, keras.Variable):
        return float(np.asarray(keras.ops.convert_to_tensor(own)))
    if callable(own):
        raise ValueError(
            f"from_keras_optimizer: a learning rate given as a callable ({own!r}) cannot be "
            "converted; pass learning_rate= (a float or an optax schedule)"
        )
    return float(own)


def _ftrl(opt: Any, learning_rate: LearningRate, mask: Callable | None):
    return ftrl(
        learning_rate=learning_rate,
        learning_rate_power=opt.learning_rate_power,
        initial_accumulator_value=opt.initial_accumulator_value,
        l1=opt.l1_regularization_strength,
        l2=opt.l2_regularization_strength,
        l2_shrinkage=opt.l2_shrinkage_regularization_strength,
        beta=opt.beta,
        weight_decay=opt.weight_decay,
        weight_decay_mask=mask,
    )


def from_keras_optimizer(
    optimizer: Any,
    *,
    learning_rate: LearningRate | None = None,
    variables: Mapping[tuple, Any] | None = None,
) -> optax.GradientTransformation:
    """An optax transform whose steps equal those of a Keras 3 optimizer.

    SGD, Adam, AdamW, RMSprop, Adagrad and Ftrl with weight decay, clipping
    and schedules (the module docstring lists each). Applying the
    updates reproduces ``optimizer.apply(grads, variables)`` step by step, to
    float rounding. Only the configuration is read: the state starts as a
    freshly built Keras optimizer's, whatever steps ``optimizer`` has taken.

    Args:
      optimizer: a Keras 3 optimizer instance of a supported class (exactly that
        class; subclasses may change the update).
      learning_rate: None: the optimizer's learning rate (its schedule as a JAX
        function of the step count); else a float, JAX scalar (traced is fine)
        or optax schedule that replaces it (also for the weight decay).
      variables: optional ``{param path: Keras variable}``, paths as tuples of
        keys (``("layers", 0, "kernel")``). With it,
        ``exclude_from_weight_decay`` is resolved as Keras does (``var_list`` by
        variable identity, ``var_names`` by ``re.search`` on ``variable.name``);
        without it, ``var_names`` is matched against the last key of each path
        and ``var_list`` is an error.

    Returns:
      An ``optax.GradientTransformation``; its state is a pytree of arrays
      (``jax.jit`` / ``jax.vmap`` work) and its ``update`` needs ``params``.

    Raises:
      ValueError: for an unsupported optimizer class, schedule or callable
        learning rate, ``use_ema``, ``gradient_accumulation_steps`` or
        ``loss_scale_factor``, or a ``var_list`` exclusion without ``variables``.

    Examples:
      One step of ``AdamW`` with gradient clipping and no decay of the bias, next
      to the same step of the Keras optimizer:

      >>> import jax
      >>> import jax.numpy as jnp
      >>> import keras
      >>> import numpy as np
      >>> import optax
      >>> from research.optim import from_keras_optimizer
      >>> opt = keras.optimizers.AdamW(0.1, clipnorm=1.0)
      >>> opt.exclude_from_weight_decay(var_names=["bias"])
      >>> tx = from_keras_optimizer(opt)
      >>> params = {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([0.5])}
      >>> grads = {"kernel": jnp.array([[3.0, 4.0]]), "bias": jnp.array([1.0])}
      >>> updates, state = jax.jit(tx.update)(grads, tx.init(params), params)
      >>> new = optax.apply_updates(params, updates)
      >>> [round(w, 4) for w in new["kernel"][0].tolist()], round(float(new["bias"][0]), 4)
      ([0.8996, -2.0992], 0.4)
      >>> names = ("kernel", "bias")
      >>> variables = [keras.Variable(np.asarray(params[k]), name=k) for k in names]
      >>> opt.apply([np.asarray(grads[k]) for k in names], variables)
      >>> all(np.allclose(v.numpy(), new[k]) for v, k in zip(variables, names))
      True
    """
    keras = import_keras()
    name = _check_optimizer(optimizer, keras)
    lr = _learning_rate(optimizer, learning_rate, keras)
    wd = optimizer.weight_decay
    mask = _weight_decay_mask(optimizer, variables) if wd is not None else None
    if name == "Ftrl":
        parts = [_ftrl(optimizer, lr, mask)]
    else:
        slot_inits, step = _STEPS[name](optimizer)
        parts = [_keras_update(name, slot_inits, step, lr)]
        if wd is not None:
            # Keras casts the Python float through float32 (``_cast``).
            parts.append(decoupled_weight_decay(np.float32(wd), lr, mask=mask))
    clip = _keras_clip(optimizer)
    return optax.chain(*([clip] if clip is not None else []), *parts)
