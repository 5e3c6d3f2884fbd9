"""Keras-style Flax NNX layers with weight and activity regularizers and constraints.

Each layer mirrors one Keras 3 layer, with the same keywords and parameter layout:

==========================  =======================================  ===========================
here                        Keras                                    parameters
==========================  =======================================  ===========================
``Dense``                   ``keras.layers.Dense``                   ``kernel`` (in, out), ``bias``
``Conv``                    ``keras.layers.Conv2D`` (channels last)  ``kernel`` (kh, kw, in, out)
``ActivityRegularization``  ``keras.layers.ActivityRegularization``  none
``Sequential``              ``keras.Sequential``                     ``layers/<i>/...``
==========================  =======================================  ===========================

* Weight penalties: ``kernel_regularizer(kernel) + bias_regularizer(bias)``,
  undivided, as Keras's ``Layer.losses``.
* Activity penalties: as Keras's ``Layer.__call__`` (``keras/src/layers/layer.py``),
  every call stores ``activity_regularizer(output) / output.shape[0]`` (the batch
  size of that call; no division for a scalar output) in an ``ActivityLoss``
  variable, which is not an ``nnx.Param`` and so is not trained.

``regularization_loss(model)`` sums both over a model (the activity terms of
its most recent call), to add to the data loss inside ``nnx.value_and_grad``;
``constraints(model)`` is an optax transform, chained last, applying the
``kernel_constraint`` / ``bias_constraint`` callables after each update as
Keras's optimizers do. Each public name's docstring has an example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from research.regularizers import ElasticNet, Regularizer

__all__ = [
    "ACTIVATIONS",
    "ActivityLoss",
    "ActivityRegularization",
    "Conv",
    "Dense",
    "Layer",
    "Sequential",
    "constraints",
    "regularization_loss",
]

Penalty = Regularizer | Callable[[jax.Array], jax.Array] | None
Constraint = Callable[[jax.Array], jax.Array] | None

ACTIVATIONS: dict[str | None, Callable[[jax.Array], jax.Array]] = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
}
GLOROT_UNIFORM = nnx.initializers.glorot_uniform()  # Keras's default kernel initializer
ZEROS = nnx.initializers.zeros_init()
_REGULARIZERS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer")
_REGULARIZERS += ("kernel_constraint", "bias_constraint")
_SHARED = ("activation", "use_bias", *_REGULARIZERS, "kernel_init", "bias_init", "param_dtype")


def _penalty(reg: Penalty, w: jax.Array) -> jax.Array:
    """``reg`` applied to the one array ``w`` (a Regularizer ignores its mask here)."""
    return reg.leaf_value(w) if isinstance(reg, Regularizer) else reg(w)


class ActivityLoss(nnx.Variable):
    """A layer's activity penalty from its most recent call (not an ``nnx.Param``).

    Example: ``nnx.state(model, ActivityLoss)`` holds every layer's stored penalty.
    """


class Layer(nnx.Module):
    """Base of the layers here: weight penalties, activity penalty, constraints.

    ``regularization_loss`` and ``constraints`` find every ``Layer`` in a model.
    A subclass calls ``_init_regularizers`` and returns ``self._activity(out)``.

    Example::

      class Double(Layer):
          def __init__(self):
              self._init_regularizers(activity_regularizer=L2(0.1))
          def __call__(self, x):
              return self._activity(2 * x)
    """

    def _init_regularizers(self, dtype: Any = jnp.float32, **options: Any) -> None:
        """Sets the ``*_regularizer`` / ``*_constraint`` keywords (others default to None)."""
        for name in _REGULARIZERS:
            setattr(self, name, options.pop(name, None))
        if options:
            raise TypeError(f"unexpected keyword(s) {sorted(options)}")
        if self.activity_regularizer is not None:
            self.activity_loss = ActivityLoss(jnp.zeros((), dtype))

    def _activity(self, outputs: jax.Array) -> jax.Array:
        """Stores the activity penalty of ``outputs`` (Keras's rule); returns them."""
        if self.activity_regularizer is not None:
            loss = _penalty(self.activity_regularizer, outputs)
            if outputs.ndim > 0:
                # Keras: loss = divide_no_nan(loss, batch_size), batch_size = shape[0].
                batch_size = outputs.shape[0]
                loss = loss / batch_size if batch_size else jnp.zeros_like(loss)
            self.activity_loss[...] = jnp.asarray(loss, self.activity_loss[...].dtype)
        return outputs

    def weight_penalty(self) -> jax.Array:
        """``kernel_regularizer(kernel) + bias_regularizer(bias)`` (undivided)."""
        total = jnp.zeros(())
        for reg, name in ((self.kernel_regularizer, "kernel"), (self.bias_regularizer, "bias")):
            w = getattr(self, name, None)
            if reg is not None and w is not None:
                total = total + _penalty(reg, w[...])
        return total


def _setup(layer: Layer, kernel_shape: tuple[int, ...], options: dict[str, Any]) -> None:
    """Sets the shared keywords of ``Dense`` / ``Conv`` (``options``: their ``locals()``)."""
    o = {k: options[k] for k in (*_SHARED, "rngs")}
    if o["activation"] not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected one of {sorted(k for k in ACTIVATIONS if k)} or None, "
            f"got {o['activation']!r}"
        )
    layer.activation = o["activation"]
    layer._init_regularizers(o["param_dtype"], **{k: o[k] for k in _REGULARIZERS})
    # nnx.Linear's / nnx.Conv's key order: one `params` key for the kernel, then
    # one for the bias (only when there is one).
    rngs, dtype = o["rngs"], o["param_dtype"]
    layer.kernel = nnx.Param(o["kernel_init"](rngs.params(), kernel_shape, dtype))
    bias = o["bias_init"](rngs.params(), kernel_shape[-1:], dtype) if o["use_bias"] else None
    layer.bias = None if bias is None else nnx.Param(bias)


class Dense(Layer):
    """``keras.layers.Dense``: ``activation(x @ kernel + bias)``.

    Same ``rngs``: bitwise the same initial weights as ``nnx.Linear``.

    Args:
      in_features: input width.
      out_features: output width (Keras's ``units``).
      activation: None / "linear", "relu", "tanh", "sigmoid" or "softmax".
      use_bias: whether to add a bias.
      kernel_regularizer: penalty on the kernel: a ``research.regularizers``
        object (its ``leaf_value``, whatever the mask) or a callable ``w -> scalar``.
      bias_regularizer: penalty on the bias.
      activity_regularizer: penalty on the output, divided by the batch size.
      kernel_constraint, bias_constraint: callables ``w -> w`` (see ``constraints``).
      kernel_init: initializer ``(key, shape, dtype)`` (Glorot-uniform).
      bias_init: initializer of the bias (zeros).
      param_dtype: dtype of the parameters.
      rngs: Flax NNX random streams (``params`` initializes the weights).

    Example::

      dense = Dense(3, 2, activation="relu", kernel_regularizer=L1(0.01), rngs=nnx.Rngs(0))
      y = dense(jnp.ones((8, 3)))  # shape (8, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_regularizer: Penalty = None,
        bias_regularizer: Penalty = None,
        activity_regularizer: Penalty = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        kernel_init: Callable = GLOROT_UNIFORM,
        bias_init: Callable = ZEROS,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.in_features, self.out_features = int(in_features), int(out_features)
        _setup(self, (self.in_features, self.out_features), locals())

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x @ self.kernel[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return self._activity(ACTIVATIONS[self.activation](y))


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name}: expected a positive int or two of them, got {value!r}")
    return pair


class Conv(Layer):
    """``keras.layers.Conv2D`` (channels last): ``activation(conv(x, kernel) + bias)``.

    NHWC inputs, a kernel in Keras's layout ``(kh, kw, in, out)`` drawn as
    ``nnx.Conv`` draws it; ``padding="same"`` pads as TF's ``"SAME"`` (odd pixel after).

    Args:
      in_features: input channels.
      out_features: output channels (Keras's ``filters``).
      kernel_size: an int or ``(kh, kw)``.
      strides: an int or ``(sh, sw)``.
      padding: "valid" or "same".
      activation, use_bias, kernel_regularizer, ... rngs: as for ``Dense``.

    Example::

      conv = Conv(3, 8, 3, strides=2, padding="same", kernel_regularizer=L2(0.01),
                  rngs=nnx.Rngs(0))
      y = conv(jnp.ones((4, 9, 9, 3)))  # shape (4, 5, 5, 8)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        activation: str | None = None,
        use_bias: bool = True,
        kernel_regularizer: Penalty = None,
        bias_regularizer: Penalty = None,
        activity_regularizer: Penalty = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        kernel_init: Callable = GLOROT_UNIFORM,
        bias_init: Callable = ZEROS,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"padding: expected 'valid' or 'same', got {padding!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = padding.lower()
        _setup(self, (*self.kernel_size, self.in_features, self.out_features), locals())

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x,
            self.kernel[...],
            window_strides=self.strides,
            # lax's "SAME" is TF's: total = max((ceil(n/s)-1)*s + k - n, 0), total//2 before.
            padding=self.padding.upper(),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.bias is not None:
            y = y + self.bias[...]
        return self._activity(ACTIVATIONS[self.activation](y))


class ActivityRegularization(Layer):
    """``keras.layers.ActivityRegularization``: the identity, with an activity penalty.

    Each call stores ``(l1 * sum|x| + l2 * sum(x**2)) / x.shape[0]``.

    Args:
      l1: strength of the L1 term.
      l2: strength of the L2 term (no 1/2 factor).

    Example::

      reg = ActivityRegularization(l1=0.01, l2=0.01)
      y = reg(x)  # y is x; regularization_loss(reg) is the penalty of x
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = l1, l2
        self._init_regularizers(activity_regularizer=ElasticNet(l1=l1, l2=l2))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._activity(x)


class Sequential(nnx.Module):
    """``keras.Sequential``: calls its layers in order; parameters are ``layers/<i>/...``.

    Args:
      *layers: the layers (callables), or one list of them.

    Example::

      model = Sequential(Dense(4, 8, activation="relu", rngs=rngs), Dense(8, 1, rngs=rngs))
      y = model(jnp.ones((2, 4)))
    """

    def __init__(self, *layers: Any):
        if len(layers) == 1 and isinstance(layers[0], list | tuple):
            layers = tuple(layers[0])
        self.layers = nnx.List(list(layers))

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return x


def _layers(model: nnx.Module) -> list[tuple[tuple[Any, ...], Layer]]:
    """Every ``Layer`` in ``model`` (shared ones once) with its path."""
    return [(path, node) for path, node in nnx.iter_graph(model) if isinstance(node, Layer)]


def regularization_loss(model: nnx.Module) -> jax.Array:
    """The total penalty of a model.

    Every layer's ``kernel_regularizer(kernel) + bias_regularizer(bias)``
    (undivided) plus the activity penalties stored by the most recent call
    (zero before any call). Inside ``nnx.value_and_grad`` after ``m(x)``,
    gradients flow through the activity penalties of that call.

    Args:
      model: an NNX module containing ``Layer`` s.

    Returns:
      A scalar (the sum of ``model.losses`` in Keras).

    Example::

      loss_fn = lambda m: jnp.mean((m(x) - y) ** 2) + regularization_loss(m)
      loss, grads = nnx.value_and_grad(loss_fn)(model)
    """
    total = jnp.zeros(())
    for _, layer in _layers(model):
        total = total + layer.weight_penalty()
        if layer.activity_regularizer is not None:
            total = total + layer.activity_loss[...]
    return total


def _name(entry: Any) -> str:
    """The name of one path entry (dict key, attribute or index) as a string."""
    return str(
        next((getattr(entry, a) for a in ("key", "name", "idx") if hasattr(entry, a)), entry)
    )


def constraints(model: nnx.Module) -> optax.GradientTransformation:
    """An optax transform, chained last, applying the layers' weight constraints.

    A parameter with a ``kernel_constraint`` / ``bias_constraint`` gets the
    update ``constraint(params + updates) - params``, so it becomes (to rounding)
    ``constraint(params + updates)``, as Keras's optimizers assign
    ``variable.constraint(variable)`` after the step; other updates pass through.
    Parameters are matched by path in ``model`` (``layers/0/kernel``).

    Args:
      model: the model the optimizer trains.

    Returns:
      A stateless ``optax.GradientTransformation``.

    Example::

      tx = optax.chain(optax.sgd(0.1), constraints(model))
      optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    """
    table: dict[tuple[str, ...], Callable[[jax.Array], jax.Array]] = {}
    for path, layer in _layers(model):
        for name, fn in (("kernel", layer.kernel_constraint), ("bias", layer.bias_constraint)):
            if fn is not None and getattr(layer, name, None) is not None:
                table[(*(str(p) for p in path), name)] = fn

    def lookup(path: Sequence[Any]) -> Callable[[jax.Array], jax.Array] | None:
        names = tuple(_name(e) for e in path)
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
