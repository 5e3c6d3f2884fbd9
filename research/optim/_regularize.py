"""Subgradient and proximal steps of a penalty: ``add_regularization``, ``proximal``.

Private: import the public names from ``research.optim``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.optim._common import (
    LearningRate,
    check_learning_rate,
    learning_rate_at,
    need_params,
    with_mask,
)
from research.regularizers import Mask, Regularizer


def add_regularization(reg: Regularizer, mask: Mask = None) -> optax.GradientTransformation:
    """Adds the penalty's (sub)gradient to the incoming gradients.

    ``g <- g + dR(w)``, with ``dR`` from ``reg.grad``: ``l1 * sign(w)`` (with
    ``sign(0) = 0``, as TensorFlow) plus ``2 * l2 * w`` for ElasticNet, and
    the group-normalized weights for GroupLasso. Place it before the
    optimizer, so that momentum or Adam see the regularized gradient, as in
    Keras.

    Args:
      reg: the penalty.
      mask: replaces ``reg``'s selection: a pytree of bools (or prefix) or a
        callable from params to one. Default: ``reg``'s own (``kernel`` leaves).

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params``.

    Examples:
      One Keras ``SGD(0.1)`` step on ``loss + L2(0.3)``: the kernel's gradient
      gains ``2 * 0.3 * w``, the bias's does not.

      >>> import jax
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from research.optim import add_regularization
      >>> from research.regularizers import L2
      >>> params = {"kernel": jnp.array([1.0, -2.0]), "bias": jnp.array([1.0])}
      >>> loss = lambda p: jnp.sum(p["kernel"]) + jnp.sum(p["bias"])
      >>> tx = optax.chain(add_regularization(L2(0.3)), optax.sgd(0.1))
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jax.grad(loss)(params), state, params)
      >>> optax.apply_updates(params, updates)
      {'bias': Array([0.9], dtype=float32), 'kernel': Array([ 0.84, -1.98], dtype=float32)}
    """
    reg = with_mask(reg, mask)
    if reg.needs_prox:
        raise ValueError(
            f"reg: {type(reg).__name__}'s box limits are kept by a proximal step, which "
            "add_regularization (a gradient) does not take; use proximal(...) or another "
            "proximal transform"
        )

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        need_params("add_regularization", params)
        updates = reg.map_leaves(
            lambda r, w, u: u + r.leaf_grad(w).astype(u.dtype), params, updates
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


class ProximalState(NamedTuple):
    """The step count, for evaluating a learning-rate schedule."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name; a NamedTuple field shadows tuple.count


def proximal(
    reg: Regularizer, learning_rate: LearningRate, mask: Mask = None
) -> optax.GradientTransformation:
    """Maps ``params + updates`` through the penalty's proximal operator.

    For incoming updates ``u`` (from any optimizer) the new params are
    ``w+ = prox_{lr_t * R}(w + u)`` and the returned updates are ``w+ - w``.
    ``lr_t`` is ``learning_rate`` or, for a schedule, ``learning_rate(t)``
    with ``t`` the number of previous updates (as ``optax.sgd`` evaluates its
    own schedule, so pass the same one to both).

    L1 and ElasticNet set every coordinate with ``|w + u| <= lr_t * l1`` to
    exactly zero; GroupLasso zeroes whole groups.

    With ``optax.sgd(lr)`` before it, one step is proximal gradient descent
    (ISTA), and equals TensorFlow's
    ``ResourceApplyProximalGradientDescent(alpha=lr, l1=l1, l2=2 * l2)``.
    After ``optax.adam(lr)`` the prox uses the base ``lr``, not Adam's
    per-coordinate step; use ``proximal_adam`` for the preconditioned prox.

    Args:
      reg: the penalty.
      learning_rate: the optimizer's learning rate (>= 0) or schedule.
      mask: replaces ``reg``'s selection (see ``add_regularization``).

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params``.

    Raises:
      ValueError: if a concrete ``learning_rate`` is negative, NaN or infinite.

    Examples:
      One ISTA step: the SGD step, then soft thresholding at ``0.1 * 1.0`` of the
      kernel (the bias is not penalized).

      >>> import jax.numpy as jnp
      >>> import optax
      >>> from research.optim import proximal
      >>> from research.regularizers import L1
      >>> params = {"kernel": jnp.array([0.5, -2.0]), "bias": jnp.array([0.5])}
      >>> grads = {"kernel": jnp.array([1.0, -1.0]), "bias": jnp.array([1.0])}
      >>> tx = optax.chain(optax.sgd(0.1), proximal(L1(1.0), learning_rate=0.1))
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> optax.apply_updates(params, updates)
      {'bias': Array([0.4], dtype=float32), 'kernel': Array([ 0.3, -1.8], dtype=float32)}

      After Adam, the prox step is the base learning rate (here ``1e-3 * 1.0``):

      >>> tx = optax.chain(optax.adam(1e-3), proximal(L1(1.0), learning_rate=1e-3))
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> new = optax.apply_updates(params, updates)  # Adam's step 1e-3, then the prox's
      >>> [round(w, 6) for w in new["kernel"].tolist()]
      [0.498, -1.998]
    """
    reg = with_mask(reg, mask, prox="proximal")
    check_learning_rate(learning_rate)

    def init_fn(params):
        del params
        return ProximalState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        need_params("proximal", params)
        step = learning_rate_at(learning_rate, state.count)

        def leaf(r, w, u):
            # Same arithmetic as optax.apply_updates, so that w + result hits
            # exact zeros where the prox gives them.
            v = jnp.asarray(w + u, dtype=w.dtype)
            return r.leaf_prox(v, step) - w

        updates = reg.map_leaves(leaf, params, updates)
        return updates, ProximalState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)
