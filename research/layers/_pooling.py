"""Pooling layers (channels last): max and average over windows, and over all steps.

``MaxPooling1D`` / ``MaxPooling2D`` / ``AveragePooling1D`` / ``AveragePooling2D``
slide a ``pool_size`` window by ``strides`` (default: ``pool_size``), as Keras's
TensorFlow backend (``tf.nn.max_pool`` / ``tf.nn.avg_pool``):

* ``padding="valid"``: windows inside the input only, ``(n - k) // s + 1`` outputs.
* ``padding="same"``: ``ceil(n / s)`` outputs; the input is padded with
  ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` entries, ``total // 2``
  before and the rest after. Padded entries never win a max, and an average
  divides by the number of real (unpadded) entries in its window.

``GlobalAveragePooling1D`` / ``2D`` and ``GlobalMaxPooling1D`` / ``2D`` reduce
every step (pixel) of each channel, optionally keeping the reduced axes.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from research.layers._core import _tuple


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
    """TF's ``"SAME"`` padding of one axis: ``(before, after)``, the odd entry after."""
    total = max((math.ceil(size / stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _window_counts(size: int, window: int, stride: int, pads: tuple[int, int]) -> np.ndarray:
    """How many real (unpadded) entries each window of one axis covers."""
    outputs = (size + sum(pads) - window) // stride + 1
    starts = np.arange(outputs) * stride - pads[0]
    return np.minimum(starts + window, size) - np.maximum(starts, 0)


class _Pooling(nnx.Module):
    """A window pooling over the ``_RANK`` axes after the batch axis (channels last)."""

    _RANK: ClassVar[int]
    _MODE: ClassVar[str]  # "max" or "average"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        *,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
    ) -> None:
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"padding: expected 'valid' or 'same', got {padding!r}")
        self.pool_size: tuple[int, ...] = _tuple(pool_size, self._RANK, "pool_size")
        self.strides: tuple[int, ...] = (
            self.pool_size if strides is None else _tuple(strides, self._RANK, "strides")
        )
        self.padding: str = padding.lower()

    def _pads(self, shape: tuple[int, ...]) -> list[tuple[int, int]]:
        """``(before, after)`` per pooled axis of an input of ``shape``."""
        spatial = shape[1 : 1 + self._RANK]
        if self.padding == "valid":
            return [(0, 0)] * self._RANK
        return [_same_pads(*a) for a in zip(spatial, self.pool_size, self.strides, strict=True)]

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != self._RANK + 2:
            raise ValueError(
                f"x: expected (batch, {self._RANK} pooled axes, channels), got shape {x.shape}"
            )
        pads = self._pads(x.shape)
        window, strides = (1, *self.pool_size, 1), (1, *self.strides, 1)
        padding = ((0, 0), *pads, (0, 0))
        # NumPy initial values (concrete under jit): lax then uses its differentiable
        # max / sum window reductions; padded entries are -inf for a max, 0 for a sum.
        if self._MODE == "max":
            low = np.array(-np.inf, x.dtype)
            return jax.lax.reduce_window(x, low, jax.lax.max, window, strides, padding)
        zero = np.array(0, x.dtype)
        sums = jax.lax.reduce_window(x, zero, jax.lax.add, window, strides, padding)
        # Static per-axis counts of real entries; their outer product is each window's count.
        counts = np.ones((), np.int64)
        for size, k, s, p in zip(x.shape[1:-1], self.pool_size, self.strides, pads, strict=True):
            counts = np.multiply.outer(counts, _window_counts(size, k, s, p))
        return sums / jnp.asarray(counts[..., None], x.dtype)


class MaxPooling1D(_Pooling):
    """``keras.layers.MaxPooling1D`` (channels last): the max of each window of steps.

    Inputs ``(batch, steps, channels)``.

    Args:
      pool_size: the window length (Keras's default 2).
      strides: the step between windows (default: ``pool_size``).
      padding: "valid" or "same" (TF's ``"SAME"``: the odd padded step after).

    Raises:
      ValueError: for another padding, or a size or stride that is not positive.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import MaxPooling1D
      >>> pool = MaxPooling1D(3, strides=2, padding="same")
      >>> pool(jnp.ones((4, 10, 8))).shape
      (4, 5, 8)

      Seven steps give ``ceil(7 / 2) = 4`` windows, one padded step at each end:

      >>> pool(jnp.arange(7.0).reshape(1, 7, 1))[0, :, 0]
      Array([1., 3., 5., 6.], dtype=float32)
    """

    _RANK = 1
    _MODE = "max"


class MaxPooling2D(_Pooling):
    """``keras.layers.MaxPooling2D`` (channels last): the max of each window of pixels.

    Inputs ``(batch, height, width, channels)``.

    Args:
      pool_size: an int or ``(ph, pw)`` (Keras's default ``(2, 2)``).
      strides: an int or ``(sh, sw)`` (default: ``pool_size``).
      padding: "valid" or "same" (TF's ``"SAME"``: the odd padded row / column after).

    Raises:
      ValueError: for another padding, or a size or stride that is not positive.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import MaxPooling2D
      >>> pool = MaxPooling2D(2)
      >>> pool(jnp.ones((4, 8, 8, 3))).shape
      (4, 4, 4, 3)
      >>> pool(jnp.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
      Array([[ 5.,  7.],
             [13., 15.]], dtype=float32)
    """

    _RANK = 2
    _MODE = "max"


class AveragePooling1D(_Pooling):
    """``keras.layers.AveragePooling1D`` (channels last): the mean of each window of steps.

    With ``padding="same"`` a window that overlaps the padding averages its real
    steps only, as ``tf.nn.avg_pool``.

    Args:
      pool_size: the window length (Keras's default 2).
      strides: the step between windows (default: ``pool_size``).
      padding: "valid" or "same".

    Raises:
      ValueError: for another padding, or a size or stride that is not positive.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import AveragePooling1D
      >>> pool = AveragePooling1D(2)
      >>> pool(jnp.arange(4.0).reshape(1, 4, 1))
      Array([[[0.5],
              [2.5]]], dtype=float32)
    """

    _RANK = 1
    _MODE = "average"


class AveragePooling2D(_Pooling):
    """``keras.layers.AveragePooling2D`` (channels last): the mean of each window of pixels.

    With ``padding="same"`` a window that overlaps the padding averages its real
    pixels only, as ``tf.nn.avg_pool``.

    Args:
      pool_size: an int or ``(ph, pw)`` (Keras's default ``(2, 2)``).
      strides: an int or ``(sh, sw)`` (default: ``pool_size``).
      padding: "valid" or "same".

    Raises:
      ValueError: for another padding, or a size or stride that is not positive.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import AveragePooling2D
      >>> pool = AveragePooling2D(3, strides=2, padding="same")
      >>> y = pool(jnp.ones((4, 7, 7, 3)))
      >>> y.shape, bool((y == 1).all())
      ((4, 4, 4, 3), True)

      The windows on the padded last row and column average their real pixels only:

      >>> AveragePooling2D(2, padding="same")(jnp.arange(9.0).reshape(1, 3, 3, 1))[0, :, :, 0]
      Array([[2. , 3.5],
             [6.5, 8. ]], dtype=float32)
    """

    _RANK = 2
    _MODE = "average"


class _GlobalPooling(nnx.Module):
    """A reduction over the ``_RANK`` axes after the batch axis (channels last)."""

    _RANK: ClassVar[int]
    _MODE: ClassVar[str]  # "max" or "average"

    def __init__(self, *, keepdims: bool = False) -> None:
        self.keepdims: bool = bool(keepdims)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != self._RANK + 2:
            raise ValueError(
                f"x: expected (batch, {self._RANK} pooled axes, channels), got shape {x.shape}"
            )
        axes = tuple(range(1, 1 + self._RANK))
        reduce = jnp.max if self._MODE == "max" else jnp.mean
        return reduce(x, axis=axes, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling):
    """``keras.layers.GlobalAveragePooling1D`` (channels last): the mean over the steps.

    ``(batch, steps, channels) -> (batch, channels)`` (``(batch, 1, channels)``
    with ``keepdims=True``). Keras's masks are not supported.

    Args:
      keepdims: whether to keep the steps axis (with size 1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import GlobalAveragePooling1D
      >>> x = jnp.arange(12.0).reshape(2, 3, 2)
      >>> GlobalAveragePooling1D()(x)
      Array([[2., 3.],
             [8., 9.]], dtype=float32)
      >>> GlobalAveragePooling1D(keepdims=True)(x).shape
      (2, 1, 2)
    """

    _RANK = 1
    _MODE = "average"


class GlobalAveragePooling2D(_GlobalPooling):
    """``keras.layers.GlobalAveragePooling2D`` (channels last): the mean over the pixels.

    ``(batch, height, width, channels) -> (batch, channels)`` (``(batch, 1, 1,
    channels)`` with ``keepdims=True``).

    Args:
      keepdims: whether to keep the height and width axes (with size 1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import GlobalAveragePooling2D
      >>> GlobalAveragePooling2D(keepdims=True)(jnp.ones((4, 5, 5, 3))).shape
      (4, 1, 1, 3)
      >>> GlobalAveragePooling2D()(jnp.arange(8.0).reshape(1, 2, 2, 2))
      Array([[3., 4.]], dtype=float32)
    """

    _RANK = 2
    _MODE = "average"


class GlobalMaxPooling1D(_GlobalPooling):
    """``keras.layers.GlobalMaxPooling1D`` (channels last): the max over the steps.

    Args:
      keepdims: whether to keep the steps axis (with size 1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import GlobalMaxPooling1D
      >>> GlobalMaxPooling1D()(jnp.ones((4, 10, 8))).shape
      (4, 8)
      >>> GlobalMaxPooling1D()(jnp.arange(12.0).reshape(2, 3, 2))
      Array([[ 4.,  5.],
             [10., 11.]], dtype=float32)
    """

    _RANK = 1
    _MODE = "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """``keras.layers.GlobalMaxPooling2D`` (channels last): the max over the pixels.

    Args:
      keepdims: whether to keep the height and width axes (with size 1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import GlobalMaxPooling2D
      >>> GlobalMaxPooling2D()(jnp.ones((4, 5, 5, 3))).shape
      (4, 3)
      >>> GlobalMaxPooling2D()(jnp.arange(8.0).reshape(1, 2, 2, 2))
      Array([[6., 7.]], dtype=float32)
    """

    _RANK = 2
    _MODE = "max"
