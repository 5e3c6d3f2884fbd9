"""FTRL-Proximal, exactly as Keras 3's ``keras.optimizers.Ftrl`` (TF's ``ApplyFtrlV2``).

This is ``keras.optimizers.Ftrl(learning_rate, learning_rate_power,
initial_accumulator_value, l1_regularization_strength=l1,
l2_regularization_strength=l2,
l2_shrinkage_regularization_strength=l2_shrinkage, beta, weight_decay)``
applied with ``apply_gradients`` (``keras/src/optimizers/ftrl.py``
``update_step``; the weight decay is ``base_optimizer._apply_weight_decay``,
run before ``update_step``), computed in the weight's dtype like Keras.
``l2`` is FTRL's stabilizing penalty; ``l2_shrinkage`` is an L2 penalty
``l2_shrinkage * w**2`` added to the loss (its gradient enters ``z`` but not
``n``).

Without weight decay one step is TensorFlow's
``tf.raw_ops.ResourceApplyFtrlV2(var, accum, linear, grad, lr, l1,
l2=l2 + beta / (2 * lr), l2_shrinkage, lr_power)`` (default
``multiply_linear_by_lr=False``); with ``l2_shrinkage == 0`` also
``ResourceApplyFtrl`` with the same ``l2``. TF's kernel uses ``sqrt`` where
Keras uses ``pow(., 0.5)``: the results agree to float rounding. Where
``q == 0`` (``n_new == 0``, ``l2 == beta == 0``) and ``|z| <= l1`` the
weight is 0 here and in TF, NaN in Keras.

The weights enter only through ``z`` (the ``n_new**p - n**p`` and
``l2_shrinkage`` terms): with ``learning_rate_power=0`` and
``l2_shrinkage=0`` the weight decay has no effect, in Keras as here.

Private: import the public names from ``research.optim``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.checks import check_nonnegative, is_traced
from research.optim._common import LearningRate, check_learning_rate, learning_rate_at, need_params
from research.regularizers import Mask, select_leaves


class FtrlState(NamedTuple):
    """Step count, and per-leaf squared-gradient accumulators ``n`` and linear terms ``z``."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name; a NamedTuple field shadows tuple.count
    accumulator: Any
    linear: Any


def _check_learning_rate(learning_rate: LearningRate) -> None:
    check_learning_rate(learning_rate)
    if not callable(learning_rate) and not is_traced(learning_rate):
        if np.asarray(learning_rate) == 0:
            raise ValueError(
                f"learning_rate: FTRL divides by the learning rate; expected a number > 0, "
                f"got {learning_rate!r}"
            )


def _check_power(value: Any) -> None:
    if is_traced(value):
        return
    arr = np.asarray(value)
    if (
        isinstance(value, bool | np.bool_)
        or arr.ndim != 0
        or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer))
        or not np.isfinite(arr)
        or arr > 0
    ):
        raise ValueError(f"learning_rate_power: expected a finite number <= 0, got {value!r}")


def _decay_flags(mask: Mask, params: Any, treedef: Any) -> list[bool]:
    if mask is None:  # Keras decays every variable unless excluded.
        return [True] * treedef.num_leaves
    try:
        return select_leaves(mask, params, treedef)
    except (ValueError, TypeError) as err:
        raise type(err)(f"weight_decay_mask: {str(err).removeprefix('mask: ')}") from err


class _Hyper(NamedTuple):
    learning_rate_power: Any
    l1: Any
    l2: Any
    l2_shrinkage: Any
    beta: Any
    weight_decay: Any


def _check_arguments(
    learning_rate, learning_rate_power, initial_accumulator_value, l1, l2, l2_shrinkage, beta,
    weight_decay,
) -> None:  # fmt: skip
    _check_learning_rate(learning_rate)
    _check_power(learning_rate_power)
    for name, value in (
        ("initial_accumulator_value", initial_accumulator_value),
        ("l1", l1),
        ("l2", l2),
        ("l2_shrinkage", l2_shrinkage),
        ("beta", beta),
    ):
        check_nonnegative(name, value)
    if weight_decay is not None:
        check_nonnegative("weight_decay", weight_decay)


def _leaf_update(hyper: _Hyper, w0, g, n, z, decay: bool, lr_t):
    """One leaf's step: the update ``w_new - w0`` and the new ``n`` and ``z``."""
    dtype = w0.dtype

    def c(x):
        return jnp.asarray(x, dtype=dtype)

    lr = c(lr_t)
    w = w0
    if decay:
        w = w - w * c(hyper.weight_decay) * lr
    g = c(g)
    power = -c(hyper.learning_rate_power)
    l1_ = c(hyper.l1)
    l2_eff = c(hyper.l2) + c(hyper.beta) / (2 * lr)
    g_shrunk = g + (2 * c(hyper.l2_shrinkage)) * w
    n_new = n + jnp.square(g)
    z_new = z + (g_shrunk - ((jnp.power(n_new, power) - jnp.power(n, power)) / lr) * w)
    q = jnp.power(n_new, power) / lr + 2 * l2_eff
    w_new = jnp.where(jnp.abs(z_new) > l1_, (jnp.clip(z_new, -l1_, l1_) - z_new) / q, 0)
    return jnp.asarray(w_new - w0, dtype), n_new, z_new


def ftrl(
    learning_rate: LearningRate = 0.001,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1: float = 0.0,
    l2: float = 0.0,
    l2_shrinkage: float = 0.0,
    beta: float = 0.0,
    weight_decay: float | None = None,
    weight_decay_mask: Mask = None,
) -> optax.GradientTransformation:
    """Follow-The-Regularized-Leader (FTRL-Proximal), equal to Keras 3's ``Ftrl``.

    A complete optimizer (do not chain it after another one). With
    ``p = -learning_rate_power`` (``p = 0.5`` by default), ``lr`` the learning
    rate at this step, and per coordinate an accumulator ``n`` (starts at
    ``initial_accumulator_value``) and a linear term ``z`` (starts at 0):

    ```text
    w     <- w - lr * weight_decay * w        (only if weight_decay is set)
    g'    <- g + 2 * l2_shrinkage * w
    n_new <- n + g**2                         (the raw gradient, not g')
    z     <- z + g' - (n_new**p - n**p) / lr * w
    q     <- n_new**p / lr + 2 * (l2 + beta / (2 * lr))
    w     <- (clip(z, -l1, l1) - z) / q       (exactly 0 where |z| <= l1)
    n     <- n_new
    ```

    How each line maps to Keras's and TensorFlow's code, and where they differ,
    is in the docstring of ``research.optim._ftrl``.

    With a schedule, ``lr`` is ``learning_rate(count)`` with ``count`` starting
    at 0, as Keras's ``iterations``. The update reads the weights (``params``
    is required) and returns ``new_w - w``.

    Args:
      learning_rate: learning rate (> 0) or schedule of the step count.
      learning_rate_power: ``-p`` (<= 0); 0 gives a fixed step size.
      initial_accumulator_value: starting value of ``n`` (>= 0).
      l1: L1 strength (>= 0); gives exact zeros.
      l2: L2 (stabilization) strength (>= 0).
      l2_shrinkage: L2 shrinkage (magnitude) strength (>= 0).
      beta: the paper's ``beta`` (>= 0), added to ``n_new**p`` before dividing
        by ``lr``.
      weight_decay: decoupled decay rate (>= 0), or None for none.
      weight_decay_mask: leaves to decay (a pytree of bools shaped like params,
        a prefix of it, or a callable of params); None: all of them, as Keras
        (Keras's ``exclude_from_weight_decay`` sets False here).

    Strengths may be traced (built inside ``jax.jit`` / ``jax.vmap``).

    Examples:
      From zero weights, a coordinate stays exactly 0 while ``|z| <= l1``:

      >>> import jax.numpy as jnp
      >>> import optax
      >>> from research.optim import ftrl
      >>> tx = ftrl(learning_rate=0.05, l1=1e-3, l2=1e-4)
      >>> params = {"kernel": jnp.zeros(2)}
      >>> grads = {"kernel": jnp.array([0.5, 0.0005])}
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> optax.apply_updates(params, updates)["kernel"]
      Array([-0.0421..., 0. ], dtype=float32)
    """
    _check_arguments(learning_rate, learning_rate_power, initial_accumulator_value,
                     l1, l2, l2_shrinkage, beta, weight_decay)  # fmt: skip
    hyper = _Hyper(learning_rate_power, l1, l2, l2_shrinkage, beta, weight_decay)

    def init_fn(params):
        return FtrlState(
            count=jnp.zeros([], jnp.int32),
            accumulator=jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params),
            linear=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        need_params("ftrl", params)
        lr_t = learning_rate_at(learning_rate, state.count)
        treedef: Any  # a PyTreeDef (jaxlib ships no stub of it)
        w_leaves, treedef = jax.tree.flatten(params)
        flags = (
            _decay_flags(weight_decay_mask, params, treedef)
            if weight_decay is not None
            else [False] * len(w_leaves)
        )
        rest = [treedef.flatten_up_to(t) for t in (updates, state.accumulator, state.linear)]
        out = [
            _leaf_update(hyper, w, g, n, z, f, lr_t)
            for w, g, n, z, f in zip(w_leaves, *rest, flags, strict=True)
        ]
        new_updates, accumulator, linear = (
            treedef.unflatten([o[i] for o in out]) for i in range(3)
        )
        new_state = FtrlState(
            count=optax.safe_increment(state.count), accumulator=accumulator, linear=linear
        )
        return new_updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)
