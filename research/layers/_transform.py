"""Weightless layers that transform each example: ``Reshape`` and ``Activation``.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
from flax import nnx

from research.layers._base import ACTIVATIONS
from research.layers._core import _check_activation


class Reshape(nnx.Module):
    """``keras.layers.Reshape``: ``(batch, ...) -> (batch, *target_shape)``.

    Entries keep their row-major (C) order, as ``tf.reshape``; one entry of
    ``target_shape`` may be -1, inferred from the input's size.

    Args:
      target_shape: the shape of each example (without the batch axis).

    Raises:
      ValueError: for a ``target_shape`` with more than one -1 or another
        entry below 1; when called, for an input whose examples do not have
        ``prod(target_shape)`` entries.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Reshape
      >>> Reshape((-1, 4))(jnp.ones((2, 4, 4, 1))).shape
      (2, 4, 4)
      >>> Reshape((2, 3))(jnp.arange(6.0).reshape(1, 6))
      Array([[[0., 1., 2.],
              [3., 4., 5.]]], dtype=float32)
    """

    def __init__(self, target_shape: Sequence[int]) -> None:
        shape = tuple(int(d) for d in target_shape)
        if shape.count(-1) > 1 or any(d < 1 and d != -1 for d in shape):
            raise ValueError(
                f"target_shape: expected positive sizes and at most one -1, got {target_shape!r}"
            )
        self.target_shape: tuple[int, ...] = shape

    def __call__(self, x: jax.Array) -> jax.Array:
        size, shape = math.prod(x.shape[1:]), self.target_shape
        if -1 in shape:
            rest = math.prod(d for d in shape if d != -1)
            shape = tuple(size // rest if d == -1 else d for d in shape)
        if math.prod(shape) != size:
            raise ValueError(
                f"x: examples of shape {x.shape[1:]} do not fit target_shape {self.target_shape}"
            )
        return x.reshape(x.shape[0], *shape)


class Activation(nnx.Module):
    """``keras.layers.Activation``: an activation function as a layer of its own.

    A final ``Activation("softmax")`` / ``Activation("sigmoid")`` gives
    ``Sequential.call_with_logits`` its input as the logits, as Keras's
    TensorFlow backend takes a softmax's / sigmoid's input as the logits of
    a cross-entropy.

    Args:
      activation: None or a name in ``ACTIVATIONS`` (as for ``Dense``).

    Raises:
      ValueError: for another activation.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import Activation
      >>> y = Activation("gelu")(jnp.array([-1.0, 0.0, 1.0]))
      >>> [round(v, 4) for v in y.tolist()]
      [-0.1587, 0.0, 0.8413]
      >>> Activation("leaky_relu")(jnp.array([-1.0, 2.0]))
      Array([-0.2,  2. ], dtype=float32)
    """

    def __init__(self, activation: str | None) -> None:
        self.activation: str | None = _check_activation(activation)

    def __call__(self, x: jax.Array) -> jax.Array:
        return ACTIVATIONS[self.activation](x)
