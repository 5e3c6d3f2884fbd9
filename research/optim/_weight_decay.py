"""Keras's ``weight_decay=``: ``decoupled_weight_decay``, chained after any optimizer.

Private: import ``decoupled_weight_decay`` from ``research.optim``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.checks import check_nonnegative
from research.optim._common import (
    LearningRate,
    check_learning_rate,
    learning_rate_at,
    need_params,
)
from research.regularizers import Mask, select_leaves


class DecoupledWeightDecayState(NamedTuple):
    # Steps taken; a schedule's learning rate is read at it.
    count: jax.Array  # type: ignore[assignment]  # optax's field name; a NamedTuple field shadows tuple.count


def decoupled_weight_decay(
    weight_decay: float | np.floating | jax.Array,
    learning_rate: LearningRate,
    mask: Mask = None,
) -> optax.GradientTransformation:
    """Keras's ``weight_decay=``: ``w <- w - lr_t * weight_decay * w`` besides the update.

    Every Keras 3 optimizer takes ``weight_decay=wd``; before its own update
    it sets ``w <- w - w * wd * lr_t`` on each trainable variable (biases
    too) that ``exclude_from_weight_decay`` does not name, decoupled from its
    momentum or moment estimates (the gradient was computed at the undecayed
    weights). Chained after an optimizer whose update does not read the
    weights (SGD with or without momentum, Adam, RMSprop, ...), this adds
    ``-lr_t * wd * w`` to its update, which is the same step:

    ```python
    tx = optax.chain(optax.adam(1e-3), decoupled_weight_decay(0.004, 1e-3))
    ```

    equals ``keras.optimizers.Adam(1e-3, weight_decay=0.004)`` (up to Keras's
    own placement of Adam's epsilon) and is ``optax.adamw``'s decay scaled by
    the learning rate, as Keras's is. ``research.optim.ftrl``, whose update
    reads the weights, takes ``weight_decay`` itself.

    Args:
      weight_decay: the decay rate >= 0 (a float or a JAX scalar).
      learning_rate: the optimizer's learning rate, a float or an optax schedule
        of the step count (read at the count before the step, as Keras's
        ``iterations``).
      mask: the parameters to decay: a pytree of bools (or a prefix) or a
        callable from params to one; default: every parameter, as Keras.
        ``exclude_from_weight_decay(var_names=["bias"])`` is a mask that is
        False on the biases.

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params``.
    """
    check_nonnegative("weight_decay", weight_decay)
    check_learning_rate(learning_rate)

    def init_fn(params):
        del params
        return DecoupledWeightDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        need_params("decoupled_weight_decay", params)
        lr = learning_rate_at(learning_rate, state.count)
        treedef: Any  # a PyTreeDef (jaxlib ships no stub of it)
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flags = [True] * len(leaves) if mask is None else select_leaves(mask, params, treedef)
        decayed = [
            u - w * jnp.asarray(weight_decay, w.dtype) * jnp.asarray(lr, w.dtype) if f else u
            for u, w, f in zip(treedef.flatten_up_to(updates), leaves, flags, strict=True)
        ]
        return treedef.unflatten(decayed), DecoupledWeightDecayState(
            count=optax.safe_increment(state.count)
        )

    return optax.GradientTransformation(init_fn, update_fn)
