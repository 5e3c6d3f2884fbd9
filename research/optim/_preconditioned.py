"""The prox in a diagonal metric: ``proximal_adagrad`` (TF's ProximalAdagrad), ``proximal_adam``.

Private: import the public names from ``research.optim``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.checks import check_nonnegative
from research.optim._common import (
    LearningRate,
    check_learning_rate,
    learning_rate_at,
    need_params,
    with_mask,
)
from research.regularizers import Mask, Regularizer


class PreconditionedProximalState(NamedTuple):
    """Step count and the state of the optax transform that supplies the moments."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name; a NamedTuple field shadows tuple.count
    inner: Any


def _preconditioned_proximal(
    name: str,
    reg: Regularizer,
    learning_rate: LearningRate,
    mask: Mask,
    inner: optax.GradientTransformation,
    moments: Callable[[Any, Any], tuple[Any, Any]],
) -> optax.GradientTransformation:
    """Diagonal-metric forward-backward step.

    ``moments(updates, inner_state)`` returns ``(numerator, inv_denominator)``
    trees; coordinate ``i`` moves to ``v_i = w_i - s_i * numerator_i`` with
    ``s_i = lr_t * inv_denominator_i`` and is then mapped through the prox of
    ``s_i * R``. For a separable penalty this is the exact prox in the metric
    ``diag(1 / s)``.
    """
    reg = with_mask(reg, mask, prox=name)
    if not reg.separable:
        raise ValueError(
            f"reg: {name} needs a separable penalty (a sum over entries, such as L1, "
            f"ElasticNet or MCP); {type(reg).__name__}'s prox has no closed form in a "
            "per-coordinate metric"
        )
    check_learning_rate(learning_rate)

    def init_fn(params):
        return PreconditionedProximalState(count=jnp.zeros([], jnp.int32), inner=inner.init(params))

    def update_fn(updates, state, params=None):
        need_params(name, params)
        _, inner_state = inner.update(updates, state.inner, params)
        numerator, inv_denominator = moments(updates, inner_state)
        lr = learning_rate_at(learning_rate, state.count)
        steps = jax.tree.map(lambda d: lr * d, inv_denominator)
        plain = jax.tree.map(lambda n, s: -(n * s), numerator, steps)

        def leaf(r, w, u, s):
            v = jnp.asarray(w + u, dtype=w.dtype)
            return r.leaf_prox(v, s) - w

        new_updates = reg.map_leaves(leaf, params, plain, steps)
        new_state = PreconditionedProximalState(
            count=optax.safe_increment(state.count), inner=inner_state
        )
        return new_updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def proximal_adagrad(
    reg: Regularizer,
    learning_rate: LearningRate,
    initial_accumulator_value: float = 0.1,
    mask: Mask = None,
) -> optax.GradientTransformation:
    """Adagrad with an exact per-coordinate proximal step (TensorFlow's ProximalAdagrad).

    A complete optimizer (do not chain it after another one):

    ```text
    a   <- a + g**2
    s   <- lr / sqrt(a)                       (per coordinate)
    w   <- prox_{s * R}(w - s * g)
    ```

    For ``ElasticNet(l1, l2)`` this is ``tf.raw_ops.ApplyProximalAdagrad``
    with ``l1=l1, l2=2 * l2`` (and ``tf.compat.v1.train.ProximalAdagradOptimizer``).
    Accumulators come from ``optax.scale_by_rss``.

    Args:
      reg: a separable penalty (``reg.separable``: ``L1``, ``L2``, ``ElasticNet``, ``MCP``,
        ``SCAD``, ``Lq``, ``LogSum``, ``L0``); others raise, naming the penalty.
      learning_rate: base learning rate (>= 0) or schedule.
      initial_accumulator_value: starting value of ``a`` (>= 0; TF's default 0.1).
      mask: replaces ``reg``'s selection.

    Examples:
      From empty accumulators the steps are ``0.1 / |g|`` (0.1 and 0.5), and so are
      the thresholds of ``L1(1.0)``:

      >>> import jax.numpy as jnp
      >>> import optax
      >>> from research.optim import proximal_adagrad
      >>> from research.regularizers import L1
      >>> tx = proximal_adagrad(L1(1.0), learning_rate=0.1, initial_accumulator_value=0.0)
      >>> params = {"kernel": jnp.array([0.5, 0.5])}
      >>> grads = {"kernel": jnp.array([1.0, 0.2])}
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> optax.apply_updates(params, updates)["kernel"]  # both at 0.4, then thresholded
      Array([0.3, 0. ], dtype=float32)
    """
    check_nonnegative("initial_accumulator_value", initial_accumulator_value)
    inner = optax.scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=0.0)

    def moments(grads, state):
        inv = jax.tree.map(
            lambda a: jnp.where(a > 0, jax.lax.rsqrt(jnp.where(a > 0, a, 1)), 0),
            state.sum_of_squares,
        )
        return grads, inv

    return _preconditioned_proximal("proximal_adagrad", reg, learning_rate, mask, inner, moments)


def proximal_adam(
    reg: Regularizer,
    learning_rate: LearningRate,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    mask: Mask = None,
) -> optax.GradientTransformation:
    """Adam with an exact prox in Adam's own diagonal metric.

    A complete optimizer (do not chain it after ``optax.adam``):

    ```text
    m, v  <- Adam's bias-corrected moments (optax.scale_by_adam)
    s     <- lr / (sqrt(v) + eps)            (per coordinate)
    w     <- prox_{s * R}(w - s * m)
    ```

    Without a penalty (zero strengths) this is ``optax.adam(lr, b1, b2, eps)``.
    Each coordinate is thresholded by its own Adam step ``s_i * l1``, so rarely
    updated (small ``v``) coordinates are shrunk more, exactly as their
    gradient steps are larger. Compare ``optax.chain(optax.adam(lr),
    proximal(reg, lr))``, which thresholds every coordinate by ``lr * l1``.

    Args:
      reg: a separable penalty (``reg.separable``: ``L1``, ``L2``, ``ElasticNet``, ``MCP``,
        ``SCAD``, ``Lq``, ``LogSum``, ``L0``); others raise, naming the penalty.
      learning_rate: base learning rate (>= 0) or schedule.
      b1: Adam's decay rate of the first moment, as in ``optax.adam``.
      b2: Adam's decay rate of the second moment, as in ``optax.adam``.
      eps: added to the root of the second moment, as in ``optax.adam``.
      mask: replaces ``reg``'s selection.

    Examples:
      Adam's first step is ``lr * sign(g)`` with the steps ``lr / |g|`` (0.1 and 0.5),
      which are also the thresholds of ``L1(1.0)``:

      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> import optax
      >>> from research.optim import proximal_adam
      >>> from research.regularizers import L1
      >>> params = {"kernel": jnp.array([0.5, 0.5])}
      >>> grads = {"kernel": jnp.array([1.0, 0.2])}
      >>> tx = proximal_adam(L1(1.0), learning_rate=0.1)
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> new = optax.apply_updates(params, updates)  # both at 0.4, then thresholded
      >>> [round(w, 4) for w in new["kernel"].tolist()]
      [0.3, 0.0]

      Without a penalty it is ``optax.adam``:

      >>> tx, adam = proximal_adam(L1(0.0), learning_rate=0.1), optax.adam(0.1)
      >>> ours, _ = tx.update(grads, tx.init(params), params)
      >>> theirs, _ = adam.update(grads, adam.init(params), params)
      >>> bool(np.allclose(ours["kernel"], theirs["kernel"]))
      True
    """
    inner = optax.scale_by_adam(b1=b1, b2=b2, eps=eps)

    def moments(grads, state):
        del grads
        mu_hat = optax.tree.bias_correction(state.mu, b1, state.count)
        nu_hat = optax.tree.bias_correction(state.nu, b2, state.count)
        inv = jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), nu_hat)
        return mu_hat, inv

    return _preconditioned_proximal("proximal_adam", reg, learning_rate, mask, inner, moments)
