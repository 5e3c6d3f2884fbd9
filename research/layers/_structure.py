"""Layers without weights that shape or drop inputs, and ``Sequential``.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
from flax import nnx

from research.layers._base import ACTIVATIONS
from research.layers._core import ActivityRegularization, Conv, Dense
from research.layers._normalization import BatchNormalization
from research.layers._transform import Activation

# The final activations whose input Keras's TensorFlow backend uses as logits in
# a compiled loss (``_get_logits`` in keras/src/backend/tensorflow/nn.py).
LOGIT_ACTIVATIONS = ("softmax", "sigmoid")


class Flatten(nnx.Module):
    """``keras.layers.Flatten`` (channels last): ``(batch, ...) -> (batch, prod(...))``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Flatten
      >>> Flatten()(jnp.ones((2, 4, 4, 3))).shape
      (2, 48)
      >>> Flatten()(jnp.arange(4.0).reshape(1, 2, 2))
      Array([[0., 1., 2., 3.]], dtype=float32)
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], -1) if x.ndim != 1 else x.reshape(-1, 1)


class Dropout(nnx.Dropout):
    """``keras.layers.Dropout``: in training, zeroes entries with probability ``rate``.

    Kept entries are scaled by ``1 / (1 - rate)``; outside training (the
    default, as a Keras model called without ``training=True``) the input
    passes through. ``nnx.Dropout`` underneath: the mask is drawn from the
    ``rngs`` passed to the call, else from the stream given at construction.

    Args:
      rate: the fraction dropped, in [0, 1].
      noise_shape: Keras's ``noise_shape``: the mask's shape, ``1`` (or None
        for the input's size) per axis; axes of size 1 share one mask entry.
      rngs: a default ``nnx.Rngs`` with a ``dropout`` stream (optional).

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Dropout
      >>> drop = Dropout(0.5, rngs=nnx.Rngs(dropout=0))
      >>> x = jnp.ones((1000,))
      >>> bool((drop(x) == x).all())  # not training: the input
      True
      >>> y = drop(x, training=True)  # about half the entries zeroed, the rest doubled
      >>> sorted(set(y.tolist())), 400 < int((y == 0).sum()) < 600
      ([0.0, 2.0], True)
    """

    def __init__(
        self,
        rate: float,
        *,
        noise_shape: Sequence[int | None] | None = None,
        rngs: nnx.Rngs | nnx.RngStream | None = None,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError(f"rate: expected a number in [0, 1], got {rate!r}")
        shape = None if noise_shape is None else tuple(noise_shape)
        broadcast = () if shape is None else tuple(i for i, s in enumerate(shape) if s == 1)
        super().__init__(float(rate), broadcast_dims=broadcast, rngs=rngs)
        self.noise_shape: tuple[int | None, ...] | None = shape

    def __call__(  # type: ignore[override]  # Keras's call signature (training=), not nnx.Dropout's (deterministic=)
        self,
        x: jax.Array,
        *,
        training: bool = False,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> jax.Array:
        if self.noise_shape is not None and len(self.noise_shape) != x.ndim:
            raise ValueError(
                f"noise_shape: {self.noise_shape} has {len(self.noise_shape)} axes, the "
                f"input {x.ndim}"
            )
        if not training or self.rate == 0:
            return x
        return super().__call__(x, deterministic=False, rngs=rngs)


class Sequential(nnx.Module):
    """``keras.Sequential``: calls its layers in order; parameters are ``layers/<i>/...``.

    ``training`` and ``rngs`` reach the ``Dropout`` layers (and nested
    ``Sequential`` s), ``training`` the ``BatchNormalization`` layers (batch
    statistics, updating the moving ones); the other layers take the input alone.

    Args:
      *layers: the layers (callables), or one list of them.
      input_shape: Keras's ``Input`` shape without the batch axis (optional):
        inputs of the same size and another shape (flat features) are
        reshaped to it.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Dense, Sequential
      >>> rngs = nnx.Rngs(0)
      >>> model = Sequential(Dense(4, 8, activation="relu", rngs=rngs), Dense(8, 1, rngs=rngs))
      >>> model(jnp.ones((2, 4))).shape
      (2, 1)
      >>> params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
      >>> params["layers"][0]["kernel"].shape, params["layers"][1]["bias"].shape
      ((4, 8), (1,))
    """

    def __init__(self, *layers: Any, input_shape: Sequence[int] | None = None) -> None:
        if len(layers) == 1 and isinstance(layers[0], list | tuple):
            layers = tuple(layers[0])
        self.layers: nnx.List[Any] = nnx.List(list(layers))
        self.input_shape: tuple[int, ...] | None = (
            None if input_shape is None else tuple(int(d) for d in input_shape)
        )

    def __call__(
        self,
        x: jax.Array,
        *,
        training: bool = False,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> jax.Array:
        return self.call_with_logits(x, training=training, rngs=rngs)[0]

    def call_with_logits(
        self,
        x: jax.Array,
        *,
        training: bool = False,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array | None]:
        """The output, and the logits of a final softmax / sigmoid when there is one.

        The logits are the input of the last layer's softmax or sigmoid (of a
        ``Dense``, ``Conv`` or ``Activation``) when every layer after it passes
        its input through unchanged (an ``ActivityRegularization``, a linear
        ``Activation``, a ``Dropout`` not dropping): the tensor
        from which Keras's TensorFlow backend computes a cross-entropy that
        is not ``from_logits`` in a compiled ``fit``. None otherwise.

        Examples:
          >>> import jax
          >>> import jax.numpy as jnp
          >>> from flax import nnx
          >>> from research.layers import Dense, Dropout, Sequential
          >>> model = Sequential(Dense(3, 2, activation="softmax", rngs=nnx.Rngs(0)), Dropout(0.5))
          >>> probs, logits = model.call_with_logits(jnp.ones((4, 3)))
          >>> logits.shape, bool(jnp.allclose(probs, jax.nn.softmax(logits)))
          ((4, 2), True)

          A ``Dropout`` that drops (training) leaves no logits, nor does a final linear layer:

          >>> x, dropout = jnp.ones((4, 3)), nnx.Rngs(dropout=0)
          >>> model.call_with_logits(x, training=True, rngs=dropout)[1] is None
          True
          >>> Sequential(Dense(3, 2, rngs=nnx.Rngs(0))).call_with_logits(x)[1] is None
          True
        """
        logits = None
        shape = self.input_shape
        if shape is not None and x.ndim >= 1 and tuple(x.shape[1:]) != shape:
            if math.prod(x.shape[1:]) != math.prod(shape):
                raise ValueError(f"x: expected inputs of shape (batch, *{shape}), got {x.shape}")
            x = x.reshape(x.shape[0], *shape)
        for layer in self.layers:
            if isinstance(layer, Sequential):
                x, logits = layer.call_with_logits(x, training=training, rngs=rngs)
            elif isinstance(layer, Dropout):
                dropping = training and layer.rate > 0
                x, logits = layer(x, training=training, rngs=rngs), None if dropping else logits
            elif isinstance(layer, BatchNormalization):
                x, logits = layer(x, training=training), None
            elif isinstance(layer, Dense | Conv):
                z = layer.preactivation(x)
                x = layer._activity(ACTIVATIONS[layer.activation](z))
                logits = z if layer.activation in LOGIT_ACTIVATIONS else None
            elif isinstance(layer, Activation):
                z, x = x, layer(x)
                if layer.activation not in (None, "linear"):  # linear: x itself, as in Keras
                    logits = z if layer.activation in LOGIT_ACTIVATIONS else None
            elif isinstance(layer, ActivityRegularization):
                x = layer(x)  # the identity
            else:
                x, logits = layer(x), None
        return x, logits
