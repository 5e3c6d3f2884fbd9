"""The base of the layers: ``Layer``, its penalties and constraints over a model.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from research.regularizers import Regularizer
from research.trees import entry_key

Penalty = Regularizer | Callable[[jax.Array], jax.Array] | None
Constraint = Callable[[jax.Array], jax.Array] | None


def _elu(x: jax.Array) -> jax.Array:
    """Keras's ``elu`` (alpha 1): ``x`` for ``x > 0``, else ``exp(x) - 1``.

    ``exp(x) - 1`` rather than ``expm1``, as TensorFlow's ``Elu`` kernel computes it.
    """
    return jnp.where(x > 0, x, jnp.exp(jnp.minimum(x, 0)) - 1)


# TensorFlow's LeakyRelu takes its slope as a float32 attribute: 0.2 rounded to
# float32 (0.20000000298...) is the slope in float64 too.
_LEAKY_SLOPE = float(np.float32(0.2))


def _leaky_relu(x: jax.Array) -> jax.Array:
    """Keras's ``leaky_relu`` activation: ``x`` for ``x > 0``, else ``0.2 * x``."""
    return jnp.where(x > 0, x, x * jnp.asarray(_LEAKY_SLOPE, x.dtype))


ACTIVATIONS: dict[str | None, Callable[[jax.Array], jax.Array]] = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),  # Keras's default: the erf form
    "elu": _elu,
    "softplus": jax.nn.softplus,
    "silu": jax.nn.silu,  # x * sigmoid(x)
    "swish": jax.nn.silu,  # Keras's alias of silu
    "leaky_relu": _leaky_relu,
}


def _penalty(reg: Regularizer | Callable[[jax.Array], jax.Array], w: jax.Array) -> jax.Array:
    """``reg`` applied to the one array ``w`` (a Regularizer ignores its mask here)."""
    return reg.leaf_value(w) if isinstance(reg, Regularizer) else reg(w)


_EXAMPLE_WEIGHTS: list[jax.Array] = []


@contextlib.contextmanager
def example_weights(weight: jax.Array) -> Iterator[None]:
    """Within the block, activity penalties and batch statistics count only the rows
    with weight 1.

    A compiled training loop pads a last partial batch to the full batch size;
    with ``weight`` (1 for a real example, 0 for padding, shape ``(batch,)``)
    the activity penalty of a layer's output is ``reg(outputs * weight) /
    sum(weight)``: the penalty and division Keras applies to the partial batch
    itself. Exact for penalties that are sums over rows and zero at zero
    (L1, L2, ElasticNet). The weights are read while tracing.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import ActivityRegularization, example_weights
      >>> from research.layers import regularization_loss
      >>> reg = ActivityRegularization(l1=1.0)
      >>> x = jnp.array([[1.0, -1.0], [3.0, 1.0]])
      >>> _ = reg(x)
      >>> regularization_loss(reg)  # (2 + 4) / 2
      Array(3., dtype=float32)

      The same two rows padded to a batch of three give the same penalty:

      >>> x_padded = jnp.concatenate([x, jnp.full((1, 2), 100.0)])
      >>> with example_weights(jnp.array([1.0, 1.0, 0.0])):  # the last row is padding
      ...     _ = reg(x_padded)
      >>> regularization_loss(reg)
      Array(3., dtype=float32)
    """
    _EXAMPLE_WEIGHTS.append(weight)
    try:
        yield
    finally:
        _EXAMPLE_WEIGHTS.pop()


def row_weights(rows: int) -> jax.Array | None:
    """The ``example_weights`` in force when they have ``rows`` entries, else None."""
    weight = _EXAMPLE_WEIGHTS[-1] if _EXAMPLE_WEIGHTS else None
    return weight if weight is not None and weight.shape == (rows,) else None


def _activity_penalty(
    reg: Regularizer | Callable[[jax.Array], jax.Array], outputs: jax.Array
) -> jax.Array:
    """``reg(outputs) / batch size`` as Keras's ``Layer.__call__`` (``divide_no_nan``)."""
    if outputs.ndim == 0:
        return _penalty(reg, outputs)
    weight = row_weights(outputs.shape[0])
    if weight is not None:
        rows = weight.astype(outputs.dtype).reshape(-1, *(1,) * (outputs.ndim - 1))
        loss, batch_size = _penalty(reg, outputs * rows), jnp.sum(weight)
        return jnp.where(batch_size > 0, loss / jnp.maximum(batch_size, 1), 0.0)
    loss, rows_count = _penalty(reg, outputs), outputs.shape[0]
    return loss / rows_count if rows_count else jnp.zeros_like(loss)


class ActivityLoss(nnx.Variable):
    """A layer's activity penalty from its most recent call (not an ``nnx.Param``).

    ``nnx.state(model, ActivityLoss)`` holds every layer's stored penalty.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import ActivityLoss, ActivityRegularization, Sequential
      >>> model = Sequential(ActivityRegularization(l1=1.0), ActivityRegularization(l2=1.0))
      >>> _ = model(jnp.array([[1.0, -2.0]]))
      >>> nnx.to_pure_dict(nnx.state(model, ActivityLoss))
      {'layers': {0: {'activity_loss': Array(3., dtype=float32)},
                  1: {'activity_loss': Array(5., dtype=float32)}}}
    """


class Layer(nnx.Module):
    """Base of the layers here: weight penalties, activity penalty, constraints.

    ``regularization_loss`` and ``constraints`` find every ``Layer`` in a model.
    A subclass calls ``_init_regularizers`` and returns ``self._activity(out)``.
    ``weight_names`` lists the weights with a ``<name>_regularizer`` and a
    ``<name>_constraint`` attribute (``kernel`` and ``bias`` unless a subclass
    says otherwise, as ``BatchNormalization``'s ``gamma`` and ``beta``).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Layer, regularization_loss
      >>> from research.regularizers import L2
      >>> class Double(Layer):
      ...     def __init__(self):
      ...         self._init_regularizers(activity_regularizer=L2(0.1))
      ...     def __call__(self, x):
      ...         return self._activity(2 * x)
      >>> layer = Double()
      >>> layer(jnp.array([[1.0, 2.0]]))
      Array([[2., 4.]], dtype=float32)
      >>> regularization_loss(layer)  # 0.1 * (2**2 + 4**2), one row
      Array(2., dtype=float32)
    """

    weight_names: ClassVar[tuple[str, ...]] = ("kernel", "bias")

    def _init_regularizers(
        self,
        dtype: Any = jnp.float32,
        *,
        kernel_regularizer: Penalty = None,
        bias_regularizer: Penalty = None,
        activity_regularizer: Penalty = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        **options: Any,
    ) -> None:
        """Sets the ``*_regularizer`` / ``*_constraint`` keywords (others default to None)."""
        self.kernel_regularizer: Penalty = kernel_regularizer
        self.bias_regularizer: Penalty = bias_regularizer
        self.kernel_constraint: Constraint = kernel_constraint
        self.bias_constraint: Constraint = bias_constraint
        if options:
            raise TypeError(f"unexpected keyword(s) {sorted(options)}")
        self._init_activity(dtype, activity_regularizer)

    def _init_activity(self, dtype: Any, activity_regularizer: Penalty) -> None:
        """Sets ``activity_regularizer`` (and its ``ActivityLoss`` when there is one)."""
        self.activity_regularizer: Penalty = activity_regularizer
        if activity_regularizer is not None:
            # Only a layer with an activity penalty has this variable.
            self.activity_loss: ActivityLoss = ActivityLoss(jnp.zeros((), dtype))

    def _activity(self, outputs: jax.Array) -> jax.Array:
        """Stores the activity penalty of ``outputs`` (Keras's rule); returns them."""
        if self.activity_regularizer is not None:
            self.activity_loss[...] = jnp.asarray(
                _activity_penalty(self.activity_regularizer, outputs),
                self.activity_loss[...].dtype,
            )
        return outputs

    def weight_penalty(self) -> jax.Array:
        """``<name>_regularizer(<name>)`` summed over ``weight_names`` (undivided)."""
        total = jnp.zeros(())
        for name in self.weight_names:
            reg, w = getattr(self, f"{name}_regularizer", None), getattr(self, name, None)
            if reg is not None and w is not None:
                total = total + _penalty(reg, w[...])
        return total


def _layers(model: nnx.Module) -> list[tuple[tuple[Any, ...], Layer]]:
    """Every ``Layer`` in ``model`` (shared ones once) with its path."""
    return [(path, node) for path, node in nnx.iter_graph(model) if isinstance(node, Layer)]


def regularization_loss(model: nnx.Module) -> jax.Array:
    """The total penalty of a model.

    Every layer's ``kernel_regularizer(kernel) + bias_regularizer(bias)``
    (``gamma`` / ``beta`` for the normalization layers; undivided) plus the
    activity penalties stored by the most recent call (zero before any call).
    Inside ``nnx.value_and_grad`` after ``m(x)``, gradients flow through the
    activity penalties of that call.

    Args:
      model: an NNX module containing ``Layer`` s.

    Returns:
      A scalar (the sum of ``model.losses`` in Keras).

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Dense, regularization_loss
      >>> from research.regularizers import L1
      >>> model = Dense(2, 1, kernel_regularizer=L1(0.1), kernel_init=nnx.initializers.ones,
      ...               rngs=nnx.Rngs(0))
      >>> regularization_loss(model)  # 0.1 * (1 + 1)
      Array(0.2, dtype=float32)
      >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
      >>> loss_fn = lambda m: jnp.mean((m(x) - y) ** 2) + regularization_loss(m)
      >>> loss, grads = nnx.value_and_grad(loss_fn)(model)
      >>> loss  # 2**2 + 0.2
      Array(4.2, dtype=float32)
      >>> grads["kernel"][...]  # 2 * 2 + 0.1 * sign(1)
      Array([[4.1],
             [4.1]], dtype=float32)
    """
    total = jnp.zeros(())
    for _, layer in _layers(model):
        total = total + layer.weight_penalty()
        if layer.activity_regularizer is not None:
            total = total + layer.activity_loss[...]
    return total


def constraints(model: nnx.Module) -> optax.GradientTransformation:
    """An optax transform, chained last, applying the layers' weight constraints.

    A parameter with a ``kernel_constraint`` / ``bias_constraint`` (for the
    normalization layers ``gamma_constraint`` / ``beta_constraint``) gets the
    update ``constraint(params + updates) - params``, so it becomes (to rounding)
    ``constraint(params + updates)``, as Keras's optimizers assign
    ``variable.constraint(variable)`` after the step; other updates pass through.
    Parameters are matched by path in ``model`` (``layers/0/kernel``).

    Args:
      model: the model the optimizer trains.

    Returns:
      A stateless ``optax.GradientTransformation``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from flax import nnx
      >>> from research.constraints import NonNeg
      >>> from research.layers import Dense, constraints
      >>> model = Dense(2, 1, kernel_constraint=NonNeg(),
      ...               kernel_init=nnx.initializers.constant(0.5), rngs=nnx.Rngs(0))
      >>> tx = optax.chain(optax.sgd(1.0), constraints(model))
      >>> optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
      >>> grads = nnx.grad(lambda m: m(jnp.array([[1.0, -1.0]])).sum())(model)
      >>> _ = optimizer.update(model, grads)

      The step takes the kernel to ``(-0.5, 1.5)``; the constraint clips it:

      >>> model.kernel[...]
      Array([[0. ],
             [1.5]], dtype=float32)
      >>> model.bias[...]  # no constraint
      Array([-1.], dtype=float32)
    """
    table: dict[tuple[str, ...], Callable[[jax.Array], jax.Array]] = {}
    for path, layer in _layers(model):
        for name in layer.weight_names:
            fn = getattr(layer, f"{name}_constraint", None)
            if fn is not None and getattr(layer, name, None) is not None:
                table[(*(str(p) for p in path), name)] = fn

    def lookup(path: Sequence[Any]) -> Callable[[jax.Array], jax.Array] | None:
        names = tuple(str(entry_key(e)) for e in path)
        for target, fn in table.items():
            rest = names[len(target) :]
            if names[: len(target)] == target and all(r in ("value", "raw_value") for r in rest):
                return fn
        return None

    def update_fn(updates, state, params=None):
        if not table:
            return updates, state
        if params is None:
            raise ValueError("constraints: update needs params (chain it after the optimizer)")

        def one(path, u, p):
            fn = lookup(path)
            return u if fn is None else (fn(p + u) - p).astype(u.dtype)

        return jax.tree_util.tree_map_with_path(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
