"""Keras-style weight constraints after an optimizer step: ``constrain``.

Private: import the public names from ``research.optim``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from research.constraints import Constraint
from research.optim._common import need_params
from research.regularizers import Mask, select_leaves


def constrain(constraint: Constraint, mask: Mask = None) -> optax.GradientTransformation:
    """Projects ``params + updates`` with a weight constraint (Keras's ``kernel_constraint``).

    For incoming updates ``u`` (from any optimizer) the new params are
    ``w+ = c(w + u)`` on the selected leaves and ``w + u`` elsewhere; the
    returned updates are ``w+ - w``, so ``optax.apply_updates`` gives ``w+``
    (up to one rounding of the subtraction and addition). Chain it *last*,
    after the optimizer: Keras applies a variable's constraint right after each
    optimizer update, and never when the layer is built; likewise ``init``
    leaves params alone and every ``update`` projects, even with zero updates.

    With ``optax.sgd(lr)`` before it, one step equals one Keras ``SGD(lr)``
    step on a layer built with ``kernel_constraint=constraint.to_keras()``.

    Args:
      constraint: a ``research.constraints`` constraint (``MaxNorm``,
        ``MinMaxNorm``, ``NonNeg``, ``UnitNorm``); convert Keras ones with
        ``research.constraints.from_keras``.
      mask: the leaves to constrain: a pytree of bools (or prefix) or a callable
        from params to one, as in optax. Default: leaves with a path entry named
        ``kernel`` (``research.regularizers.kernel_mask``), as Keras's
        ``kernel_constraint``; biases are left alone.

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params``.
      Works under ``jax.jit`` and ``jax.vmap`` and inside ``optax.chain`` and
      ``optax.masked``.

    Raises:
      TypeError: if ``constraint`` is not a ``research.constraints.Constraint``.

    Examples:
      The kernel's column of norm 5 is scaled to norm 2; the bias is left alone:

      >>> import jax
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from research.constraints import MaxNorm
      >>> from research.optim import constrain
      >>> params = {"dense": {"kernel": jnp.array([[3.0], [4.0]]), "bias": jnp.array([5.0])}}
      >>> grads = jax.tree.map(jnp.zeros_like, params)
      >>> tx = optax.chain(optax.sgd(0.1), constrain(MaxNorm(2.0)))
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> new = optax.apply_updates(params, updates)
      >>> jnp.round(jnp.linalg.norm(new["dense"]["kernel"], axis=0), 5), new["dense"]["bias"]
      (Array([2.], dtype=float32), Array([5.], dtype=float32))
    """
    if not isinstance(constraint, Constraint):
        raise TypeError(
            "constraint: expected a research.constraints constraint (MaxNorm, MinMaxNorm, "
            f"NonNeg, UnitNorm), got {type(constraint).__name__}; convert Keras ones with "
            "research.constraints.from_keras"
        )

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        need_params("constrain", params)
        treedef: Any  # a PyTreeDef (jaxlib ships no stub of it)
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flags = select_leaves(mask, params, treedef)
        incoming = treedef.flatten_up_to(updates)
        out = []
        for w, u, selected in zip(leaves, incoming, flags, strict=True):
            if selected:
                # Same arithmetic as optax.apply_updates for the point to project.
                u = constraint(jnp.asarray(w + u, dtype=w.dtype)) - w
            out.append(u)
        return treedef.unflatten(out), state

    return optax.GradientTransformation(init_fn, update_fn)
