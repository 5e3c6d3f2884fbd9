"""optax transforms that regularize: penalty subgradients and proximal steps.

Two ways to minimize ``loss(w) + R(w)`` with a ``research.regularizers`` penalty:

* **Subgradient** (what Keras does with ``kernel_regularizer``): add the
  penalty's (sub)gradient to the loss gradient, then take any optimizer step.
  ``add_regularization(reg)`` goes *before* the optimizer in a chain::

    tx = optax.chain(add_regularization(L2(0.3)), optax.sgd(0.01))

  One step of ``tx`` is exactly one Keras ``SGD(0.01)`` step on
  ``loss + L2(0.3)``. With L1, weights hover around zero at a distance of
  about ``learning_rate * l1`` instead of reaching it.

* **Proximal** (forward-backward splitting): take the optimizer step on the
  loss alone, then map the result through ``reg.prox(., learning_rate)``.
  ``proximal(reg, learning_rate)`` goes *after* the optimizer::

    tx = optax.chain(optax.sgd(0.01), proximal(L1(1e-3), learning_rate=0.01))

  This gives exact zeros. With ``optax.sgd(lr)`` before it, one step equals
  TensorFlow's ``ResourceApplyProximalGradientDescent(alpha=lr, l1=l1,
  l2=2 * l2)``: TensorFlow's ``l2`` multiplies ``w**2 / 2``, Keras's and
  ours multiply ``w**2``.

With an adaptive optimizer such as ``optax.adam(lr)``, ``proximal(reg, lr)``
applies the prox with the *base* learning rate ``lr`` to the point Adam
reached; it is a valid forward-backward step in the Euclidean metric, but not
the prox in Adam's preconditioned metric. ``proximal_adam`` and
``proximal_adagrad`` are the exact diagonal-preconditioned versions (each
coordinate thresholded with its own step ``lr / denominator``);
``proximal_adagrad`` is TensorFlow's ``ProximalAdagrad`` update.

All transforms are ordinary ``optax.GradientTransformation`` objects: they
work under ``jax.jit`` and ``jax.vmap`` and with ``optax.chain``,
``optax.masked`` and ``optax.inject_hyperparams`` (pass
``static_args=("reg", "mask")`` there: a regularizer is callable, and
``inject_hyperparams`` would otherwise take it for a schedule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.checks import check_nonnegative
from research.regularizers import GroupLasso, Mask, Regularizer

__all__ = [
    "FistaState",
    "PreconditionedProximalState",
    "ProximalState",
    "add_regularization",
    "fista",
    "proximal",
    "proximal_adagrad",
    "proximal_adam",
]

LearningRate = float | jax.Array | optax.Schedule


def _with_mask(reg: Regularizer, mask: Mask) -> Regularizer:
    if not isinstance(reg, Regularizer):
        raise TypeError(
            f"reg: expected a research.regularizers regularizer (L1, L2, ElasticNet, "
            f"GroupLasso), got {type(reg).__name__}; convert Keras ones with from_keras"
        )
    return reg if mask is None else reg.replace(mask=mask)


def _check_learning_rate(learning_rate: LearningRate) -> None:
    if not callable(learning_rate):
        check_nonnegative("learning_rate", learning_rate)


def _learning_rate_at(learning_rate: LearningRate, count: jax.Array) -> Any:
    return learning_rate(count) if callable(learning_rate) else learning_rate


def _need_params(name: str, params: Any) -> None:
    if params is None:
        raise ValueError(f"{name}: update() needs the current params (pass params=...)")


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

    Example::

      import optax
      from research.optim import add_regularization
      from research.regularizers import L2

      tx = optax.chain(add_regularization(L2(0.3)), optax.sgd(0.01))
      state = tx.init(params)
      updates, state = tx.update(jax.grad(loss)(params), state, params)
      params = optax.apply_updates(params, updates)   # Keras SGD on loss + L2(0.3)
    """
    reg = _with_mask(reg, mask)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        _need_params("add_regularization", params)
        updates = reg.map_selected(
            lambda w, u: u + reg.leaf_grad(w).astype(u.dtype), params, updates
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


class ProximalState(NamedTuple):
    """The step count, for evaluating a learning-rate schedule."""

    count: jax.Array


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

    Example::

      tx = optax.chain(optax.sgd(0.01), proximal(L1(1e-3), learning_rate=0.01))
      # Adam: the prox step is the base learning rate 1e-3.
      tx = optax.chain(optax.adam(1e-3), proximal(L1(1e-3), learning_rate=1e-3))
    """
    reg = _with_mask(reg, mask)
    _check_learning_rate(learning_rate)

    def init_fn(params):
        del params
        return ProximalState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        _need_params("proximal", params)
        step = _learning_rate_at(learning_rate, state.count)

        def leaf(w, u):
            # Same arithmetic as optax.apply_updates, so that w + result hits
            # exact zeros where the prox gives them.
            v = jnp.asarray(w + u, dtype=w.dtype)
            return reg.leaf_prox(v, step) - w

        updates = reg.map_selected(leaf, params, updates)
        return updates, ProximalState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


class PreconditionedProximalState(NamedTuple):
    """Step count and the state of the optax transform that supplies the moments."""

    count: jax.Array
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
    reg = _with_mask(reg, mask)
    if isinstance(reg, GroupLasso):
        raise ValueError(
            f"reg: {name} needs a separable penalty (L1, L2, ElasticNet); GroupLasso's "
            "prox has no closed form in a per-coordinate metric"
        )
    _check_learning_rate(learning_rate)

    def init_fn(params):
        return PreconditionedProximalState(count=jnp.zeros([], jnp.int32), inner=inner.init(params))

    def update_fn(updates, state, params=None):
        _need_params(name, params)
        _, inner_state = inner.update(updates, state.inner, params)
        numerator, inv_denominator = moments(updates, inner_state)
        lr = _learning_rate_at(learning_rate, state.count)
        steps = jax.tree.map(lambda d: lr * d, inv_denominator)
        plain = jax.tree.map(lambda n, s: -(n * s), numerator, steps)

        def leaf(w, u, s):
            v = jnp.asarray(w + u, dtype=w.dtype)
            return reg.leaf_prox(v, s) - w

        new_updates = reg.map_selected(leaf, params, plain, steps)
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

    A complete optimizer (do not chain it after another one)::

      a   <- a + g**2
      s   <- lr / sqrt(a)                       (per coordinate)
      w   <- prox_{s * R}(w - s * g)

    For ``ElasticNet(l1, l2)`` this is ``tf.raw_ops.ApplyProximalAdagrad``
    with ``l1=l1, l2=2 * l2`` (and ``tf.compat.v1.train.ProximalAdagradOptimizer``).
    Accumulators come from ``optax.scale_by_rss``.

    Args:
      reg: a separable penalty: ``L1``, ``L2`` or ``ElasticNet``.
      learning_rate: base learning rate (>= 0) or schedule.
      initial_accumulator_value: starting value of ``a`` (>= 0; TF's default 0.1).
      mask: replaces ``reg``'s selection.

    Example::

      tx = proximal_adagrad(L1(1e-3), learning_rate=0.1)
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

    A complete optimizer (do not chain it after ``optax.adam``)::

      m, v  <- Adam's bias-corrected moments (optax.scale_by_adam)
      s     <- lr / (sqrt(v) + eps)            (per coordinate)
      w     <- prox_{s * R}(w - s * m)

    Without a penalty (zero strengths) this is ``optax.adam(lr, b1, b2, eps)``.
    Each coordinate is thresholded by its own Adam step ``s_i * l1``, so rarely
    updated (small ``v``) coordinates are shrunk more, exactly as their
    gradient steps are larger. Compare ``optax.chain(optax.adam(lr),
    proximal(reg, lr))``, which thresholds every coordinate by ``lr * l1``.

    Args:
      reg: a separable penalty: ``L1``, ``L2`` or ``ElasticNet``.
      learning_rate: base learning rate (>= 0) or schedule.
      b1, b2, eps: Adam's hyperparameters, as in ``optax.adam``.
      mask: replaces ``reg``'s selection.

    Example::

      tx = proximal_adam(L1(1e-4), learning_rate=1e-3)
    """
    inner = optax.scale_by_adam(b1=b1, b2=b2, eps=eps)

    def moments(grads, state):
        del grads
        mu_hat = optax.tree.bias_correction(state.mu, b1, state.count)
        nu_hat = optax.tree.bias_correction(state.nu, b2, state.count)
        inv = jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), nu_hat)
        return mu_hat, inv

    return _preconditioned_proximal("proximal_adam", reg, learning_rate, mask, inner, moments)


class FistaState(NamedTuple):
    """Step count, FISTA's momentum scalar ``t`` and the last proximal point ``x``."""

    count: jax.Array
    t: jax.Array
    x: Any


def fista(
    reg: Regularizer, learning_rate: LearningRate, mask: Mask = None
) -> optax.GradientTransformation:
    """Accelerated proximal gradient (FISTA, Beck and Teboulle 2009), a full optimizer.

    The params are FISTA's extrapolated point ``y``; the gradient is taken
    there::

      x_k     = prox_{lr R}(y_k - lr * grad f(y_k))
      t_k+1   = (1 + sqrt(1 + 4 t_k^2)) / 2
      y_k+1   = x_k + (t_k - 1) / t_k+1 * (x_k - x_k-1)

    ``state.x`` holds the proximal point ``x_k``, the iterate with exact
    zeros; ``y`` converges to it. With ``learning_rate = 1 / L`` (``L`` the
    Lipschitz constant of ``grad f``) the objective gap falls as
    ``O(1 / k^2)``, against ``O(1 / k)`` for ``proximal`` after ``optax.sgd``.
    For full-batch convex problems (Lasso, ElasticNet paths).

    Args:
      reg: the penalty.
      learning_rate: the step (<= 1/L) or a schedule.
      mask: replaces ``reg``'s selection.

    Example::

      tx = fista(L1(0.1), learning_rate=1 / lipschitz)
    """
    reg = _with_mask(reg, mask)
    _check_learning_rate(learning_rate)

    def init_fn(params):
        return FistaState(count=jnp.zeros([], jnp.int32), t=jnp.ones([], jnp.float32), x=params)

    def update_fn(updates, state, params=None):
        _need_params("fista", params)
        lr = _learning_rate_at(learning_rate, state.count)
        x = jax.tree.map(lambda y, g: jnp.asarray(y - lr * g, y.dtype), params, updates)
        x = reg.map_selected(lambda v, u: reg.leaf_prox(v, lr), x, x)
        t_next = (1 + jnp.sqrt(1 + 4 * state.t**2)) / 2
        beta = (state.t - 1) / t_next
        y_next = jax.tree.map(
            lambda xn, xp: jnp.asarray(xn + beta * (xn - xp), xn.dtype), x, state.x
        )
        new_updates = jax.tree.map(lambda yn, y: yn - y, y_next, params)
        return new_updates, FistaState(optax.safe_increment(state.count), t_next, x)

    return optax.GradientTransformation(init_fn, update_fn)
