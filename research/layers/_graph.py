"""Merge layers (``Add``, ``Multiply``, ``Average``, ``Concatenate``) and ``Graph``.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from research.layers._base import ACTIVATIONS
from research.layers._core import ActivityRegularization, Conv, Dense
from research.layers._normalization import BatchNormalization
from research.layers._structure import LOGIT_ACTIVATIONS, Dropout, Sequential
from research.layers._transform import Activation

Rngs = nnx.Rngs | nnx.RngStream | jax.Array | None


class Merge(nnx.Module):
    """Base of the merge layers: called on a list of arrays, returns one.

    As Keras's ``Merge`` layers, inputs of fewer axes than the others get new
    axes of size 1 after the batch axis (``expand_dims(x, 1)``) until all
    have the same number; then the merge broadcasts.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Add
      >>> Add()([jnp.array([[1.0, 2.0]]), jnp.array([[10.0, 20.0]])])
      Array([[11., 22.]], dtype=float32)

      A ``(batch,)`` input becomes ``(batch, 1)``, which broadcasts over the features:

      >>> Add()([jnp.zeros((2, 3)), jnp.array([1.0, 2.0])])
      Array([[1., 1., 1.],
             [2., 2., 2.]], dtype=float32)
    """

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        if isinstance(inputs, jax.Array) or not isinstance(inputs, list | tuple) or not inputs:
            raise ValueError(
                f"inputs: {type(self).__name__} takes a non-empty list of arrays, got "
                f"{type(inputs).__name__}"
            )
        rank = max(x.ndim for x in inputs)
        expanded = []
        for x in inputs:
            while x.ndim < rank:
                x = jnp.expand_dims(x, 1)
            expanded.append(x)
        return self.merge(expanded)

    def merge(self, inputs: list[jax.Array]) -> jax.Array:
        """The merge of inputs of the same number of axes."""
        raise NotImplementedError


class Add(Merge):
    """``keras.layers.Add``: ``inputs[0] + inputs[1] + ...``, summed left to right.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Add
      >>> x, residual = jnp.array([[1.0, 2.0]]), jnp.array([[0.5, -2.0]])
      >>> Add()([x, residual])
      Array([[1.5, 0. ]], dtype=float32)
    """

    def merge(self, inputs: list[jax.Array]) -> jax.Array:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Multiply(Merge):
    """``keras.layers.Multiply``: the elementwise product, left to right.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Multiply
      >>> x, gate = jnp.array([[1.0, 2.0, 3.0]]), jnp.array([[0.0, 1.0, 0.5]])
      >>> Multiply()([x, gate])
      Array([[0. , 2. , 1.5]], dtype=float32)
    """

    def merge(self, inputs: list[jax.Array]) -> jax.Array:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(Merge):
    """``keras.layers.Average``: ``(inputs[0] + inputs[1] + ...) / len(inputs)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Average
      >>> a, b, c = jnp.array([[1.0, 2.0]]), jnp.array([[10.0, 20.0]]), jnp.array([[4.0, 5.0]])
      >>> Average()([a, b, c])
      Array([[5., 9.]], dtype=float32)
    """

    def merge(self, inputs: list[jax.Array]) -> jax.Array:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out / len(inputs)


class Concatenate(Merge):
    """``keras.layers.Concatenate``: the inputs joined along ``axis``.

    Args:
      axis: the axis to join along (Keras's default -1, the features).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Concatenate
      >>> a, b = jnp.ones((2, 3)), jnp.zeros((2, 2))
      >>> Concatenate(axis=-1)([a, b]).shape  # (batch, a_features + b_features)
      (2, 5)
      >>> Concatenate()([jnp.array([[1.0, 2.0]]), jnp.array([[10.0]])])
      Array([[ 1.,  2., 10.]], dtype=float32)
    """

    def __init__(self, *, axis: int = -1) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis: expected an int, got {axis!r}")
        self.axis: int = axis

    def merge(self, inputs: list[jax.Array]) -> jax.Array:
        return jnp.concatenate(inputs, axis=self.axis)


def _call_layer(
    layer: Any, x: jax.Array, logits: jax.Array | None, *, training: bool, rngs: Rngs
) -> tuple[jax.Array, jax.Array | None]:
    """One single-input layer's output, and the logits that reach it (see ``Graph``).

    ``training`` and ``rngs`` reach ``Dropout``, ``BatchNormalization`` and
    nested containers; layers that pass their input through unchanged
    (``ActivityRegularization``, a ``Dropout`` not dropping, a linear
    ``Activation``) pass ``logits`` on; a softmax / sigmoid ``Activation``
    reports its input.
    """
    if isinstance(layer, Sequential):  # Sequential and Graph
        return layer.call_with_logits(x, training=training, rngs=rngs)
    if isinstance(layer, Dropout):
        dropping = training and layer.rate > 0
        return layer(x, training=training, rngs=rngs), None if dropping else logits
    if isinstance(layer, BatchNormalization):
        return layer(x, training=training), None
    if isinstance(layer, Dense | Conv):
        z = layer.preactivation(x)
        y = layer._activity(ACTIVATIONS[layer.activation](z))
        return y, z if layer.activation in LOGIT_ACTIVATIONS else None
    if isinstance(layer, Activation):
        if layer.activation in LOGIT_ACTIVATIONS:
            return layer(x), x
        return layer(x), logits if layer.activation in (None, "linear") else None
    if isinstance(layer, ActivityRegularization):
        return layer(x), logits  # the identity
    return layer(x), None


def _check_sources(
    layers: Sequence[Any], sources: Sequence[int | Sequence[int]]
) -> tuple[tuple[int, ...], ...]:
    """``sources`` as tuples, checked against ``layers`` (see ``Graph``)."""
    if len(sources) != len(layers) or not layers:
        raise ValueError(
            f"sources: expected one entry per layer ({len(layers)}, at least one), got "
            f"{len(sources)}"
        )
    checked = []
    for i, (layer, entry) in enumerate(zip(layers, sources, strict=True)):
        entry = (entry,) if isinstance(entry, int) else tuple(entry)
        if not entry or any(isinstance(j, bool) or not isinstance(j, int) for j in entry):
            raise ValueError(f"sources[{i}]: expected node indices, got {entry!r}")
        if any(not -1 <= j < i for j in entry):
            raise ValueError(
                f"sources[{i}]: {entry!r}; a layer takes -1 (the input) or earlier layers "
                "(topological order)"
            )
        if len(entry) != 1 and not isinstance(layer, Merge):
            raise ValueError(
                f"sources[{i}]: {type(layer).__name__} takes one input, got {len(entry)} "
                "(only merge layers take several)"
            )
        checked.append(entry)
    return tuple(checked)


class Graph(Sequential):
    """A Keras functional model that is a directed acyclic graph, one input, one output.

    Layer ``i`` is called on the outputs listed in ``sources[i]``: ``-1`` is
    the model's input, ``j >= 0`` the output of layer ``j < i`` (so the
    layers are in a topological order); a merge layer (``Add``,
    ``Concatenate``, ...) gets the list of them, another layer its one
    source. The output of the last layer is the model's output. Parameters
    are ``layers/<i>/...`` as in ``Sequential``, whose calling convention
    it shares (it is a ``Sequential`` whose layers are wired as a graph):
    ``training`` and ``rngs`` reach ``Dropout``, ``BatchNormalization`` and
    nested containers.

    Args:
      layers: the layers (callables), in topological order.
      sources: per layer, the indices of its inputs (an int for one).
      input_shape: Keras's ``Input`` shape without the batch axis (optional):
        inputs of the same size and another shape are reshaped to it.

    Raises:
      ValueError: when ``sources`` does not match ``layers``, names a later
        layer, or gives a non-merge layer several inputs.

    Examples:
      A residual block, ``x -> Dense -> BatchNormalization -> relu -> Add([x, .])``:

      >>> import jax
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Activation, Add, BatchNormalization, Dense, Graph
      >>> rngs = nnx.Rngs(0)
      >>> model = Graph(
      ...     [Dense(4, 4, rngs=rngs), BatchNormalization(4, rngs=rngs), Activation("relu"), Add()],
      ...     sources=[-1, 0, 1, (-1, 2)],
      ... )
      >>> x = jax.random.normal(jax.random.key(0), (8, 4))
      >>> y = model(x, training=True)  # batch statistics; moving statistics updated
      >>> y.shape, bool((y >= x).all())  # x plus a relu
      ((8, 4), True)
      >>> bool((model.layers[1].moving_mean[...] != 0).all())
      True
    """

    def __init__(
        self,
        layers: Sequence[Any],
        *,
        sources: Sequence[int | Sequence[int]],
        input_shape: Sequence[int] | None = None,
    ) -> None:
        layers = list(layers)
        checked = _check_sources(layers, list(sources))
        super().__init__(layers, input_shape=input_shape)
        self.sources: tuple[tuple[int, ...], ...] = checked

    def call_with_logits(
        self,
        x: jax.Array,
        *,
        training: bool = False,
        rngs: Rngs = None,
    ) -> tuple[jax.Array, jax.Array | None]:
        """The output, and the logits of a final softmax / sigmoid when there is one.

        As ``Sequential.call_with_logits``, following the output back through
        its sources: the input of the output layer's softmax or sigmoid, when
        only layers that pass their input through unchanged come after it.

        Examples:
          >>> import jax
          >>> import jax.numpy as jnp
          >>> from flax import nnx
          >>> from research.layers import Activation, Add, Dense, Graph
          >>> rngs = nnx.Rngs(0)
          >>> model = Graph(
          ...     [Dense(3, 2, rngs=rngs), Dense(3, 2, rngs=rngs), Add(), Activation("softmax")],
          ...     sources=[-1, -1, (0, 1), 2],
          ... )
          >>> probs, logits = model.call_with_logits(jnp.ones((4, 3)), training=True)
          >>> logits.shape, bool(jnp.allclose(probs, jax.nn.softmax(logits)))
          ((4, 2), True)
        """
        shape = self.input_shape
        if shape is not None and x.ndim >= 1 and tuple(x.shape[1:]) != shape:
            if math.prod(x.shape[1:]) != math.prod(shape):
                raise ValueError(f"x: expected inputs of shape (batch, *{shape}), got {x.shape}")
            x = x.reshape(x.shape[0], *shape)
        outputs: list[tuple[jax.Array, jax.Array | None]] = []

        def node(j: int) -> tuple[jax.Array, jax.Array | None]:
            return (x, None) if j == -1 else outputs[j]

        for layer, entry in zip(self.layers, self.sources, strict=True):
            if isinstance(layer, Merge):
                outputs.append((layer([node(j)[0] for j in entry]), None))
            else:
                outputs.append(_call_layer(layer, *node(entry[0]), training=training, rngs=rngs))
        return outputs[-1]
