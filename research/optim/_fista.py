"""Accelerated proximal gradient (FISTA) for full-batch convex problems.

Private: import the public names from ``research.optim``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

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


class FistaState(NamedTuple):
    """Step count, FISTA's momentum scalar ``t`` and the last proximal point ``x``."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name; a NamedTuple field shadows tuple.count
    t: jax.Array
    x: Any


def fista(
    reg: Regularizer, learning_rate: LearningRate, mask: Mask = None
) -> optax.GradientTransformation:
    """Accelerated proximal gradient (FISTA, Beck and Teboulle 2009), a full optimizer.

    The params are FISTA's extrapolated point ``y``; the gradient is taken
    there:

    ```python
    x_k     = prox_{lr R}(y_k - lr * grad f(y_k))
    t_k+1   = (1 + sqrt(1 + 4 t_k^2)) / 2
    y_k+1   = x_k + (t_k - 1) / t_k+1 * (x_k - x_k-1)
    ```

    ``state.x`` holds the proximal point ``x_k``, the iterate with exact
    zeros; ``y`` converges to it. With ``learning_rate = 1 / L`` (``L`` the
    Lipschitz constant of ``grad f``) the objective gap falls as
    ``O(1 / k^2)``, against ``O(1 / k)`` for ``proximal`` after ``optax.sgd``.
    For full-batch convex problems (Lasso, ElasticNet paths): the rate and the
    convergence hold for convex penalties only; with a non-convex one (``MCP``,
    ``SCAD``, ``Lq``, ``LogSum``, ``L0``) FISTA still takes exact proximal steps but
    guarantees neither.

    Args:
      reg: the penalty.
      learning_rate: the step (<= 1/L) or a schedule.
      mask: replaces ``reg``'s selection.

    Examples:
      A two-feature lasso, ``1/2 ||X w - y||^2 + 0.5 ||w||_1``, with ``X = diag(1, 2)``:
      the Lipschitz constant of the gradient is 4, and the solution is ``(0.5, 0)``.

      >>> import jax
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from research.optim import fista
      >>> from research.regularizers import L1
      >>> X, y = jnp.array([[1.0, 0.0], [0.0, 2.0]]), jnp.array([1.0, 0.1])
      >>> loss = lambda p: 0.5 * jnp.sum((X @ p["kernel"] - y) ** 2)
      >>> tx = fista(L1(0.5), learning_rate=1 / 4)
      >>> params = {"kernel": jnp.zeros(2)}
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     updates, state = tx.update(jax.grad(loss)(params), state, params)
      ...     return optax.apply_updates(params, updates), state
      >>> for _ in range(30):
      ...     params, state = step(params, state)
      >>> jnp.round(state.x["kernel"], 3)  # the proximal point, with its exact zero
      Array([0.5, 0. ], dtype=float32)
    """
    reg = with_mask(reg, mask, prox="fista")
    check_learning_rate(learning_rate)

    def init_fn(params):
        return FistaState(count=jnp.zeros([], jnp.int32), t=jnp.ones([], jnp.float32), x=params)

    def update_fn(updates, state, params=None):
        need_params("fista", params)
        lr = learning_rate_at(learning_rate, state.count)
        x = jax.tree.map(lambda y, g: jnp.asarray(y - lr * g, y.dtype), params, updates)
        x = reg.map_leaves(lambda r, v, _: r.leaf_prox(v, lr), x, x)
        t_next = (1 + jnp.sqrt(1 + 4 * state.t**2)) / 2
        beta = (state.t - 1) / t_next
        y_next = jax.tree.map(
            lambda xn, xp: jnp.asarray(xn + beta * (xn - xp), xn.dtype), x, state.x
        )
        new_updates = jax.tree.map(lambda yn, y: yn - y, y_next, params)
        return new_updates, FistaState(optax.safe_increment(state.count), t_next, x)

    return optax.GradientTransformation(init_fn, update_fn)
