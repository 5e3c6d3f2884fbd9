"""Layers with weights: ``Dense``, ``Conv`` (2-D), ``Conv1D``; and ``ActivityRegularization``.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from research.layers._base import ACTIVATIONS, Constraint, Layer, Penalty
from research.regularizers import ElasticNet

GLOROT_UNIFORM = nnx.initializers.glorot_uniform()  # Keras's default kernel initializer
ZEROS = nnx.initializers.zeros_init()


def _check_activation(activation: str | None) -> str | None:
    """``activation``, when it names one of ``ACTIVATIONS`` (else a ValueError)."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected one of {sorted(k for k in ACTIVATIONS if k)} or None, "
            f"got {activation!r}"
        )
    return activation


def _init_weights(
    kernel_shape: tuple[int, ...],
    use_bias: bool,
    kernel_init: Callable[..., jax.Array],
    bias_init: Callable[..., jax.Array],
    dtype: Any,
    rngs: nnx.Rngs,
) -> tuple[nnx.Param[jax.Array], nnx.Param[jax.Array] | None]:
    """The kernel and the bias (None without one) of ``Dense`` / ``Conv``."""
    # nnx.Linear's / nnx.Conv's key order: one `params` key for the kernel, then
    # one for the bias (only when there is one).
    kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, dtype))
    bias = bias_init(rngs.params(), kernel_shape[-1:], dtype) if use_bias else None
    return kernel, None if bias is None else nnx.Param(bias)


class Dense(Layer):
    """``keras.layers.Dense``: ``activation(x @ kernel + bias)``.

    Same ``rngs``: bitwise the same initial weights as ``nnx.Linear``.

    Args:
      in_features: input width.
      out_features: output width (Keras's ``units``).
      activation: None or a name in ``ACTIVATIONS`` ("linear", "relu", "tanh",
        "sigmoid", "softmax", "gelu", "elu", "softplus", "silu" / "swish",
        "leaky_relu"), computed as Keras's TensorFlow backend does.
      use_bias: whether to add a bias.
      kernel_regularizer: penalty on the kernel: a ``research.regularizers``
        object (its ``leaf_value``, whatever the mask) or a callable ``w -> scalar``.
      bias_regularizer: penalty on the bias.
      activity_regularizer: penalty on the output, divided by the batch size.
      kernel_constraint: callable ``w -> w`` applied to the kernel after each
        optimizer step (see ``constraints``).
      bias_constraint: as ``kernel_constraint``, for the bias.
      kernel_init: initializer ``(key, shape, dtype)`` (Glorot-uniform).
      bias_init: initializer of the bias (zeros).
      param_dtype: dtype of the parameters.
      rngs: Flax NNX random streams (``params`` initializes the weights).

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Dense, regularization_loss
      >>> from research.regularizers import L1
      >>> dense = Dense(3, 2, activation="relu", kernel_regularizer=L1(0.01), rngs=nnx.Rngs(0))
      >>> y = dense(jnp.ones((8, 3)))
      >>> y.shape, dense.kernel.shape, bool((y >= 0).all())
      ((8, 2), (3, 2), True)
      >>> penalty = 0.01 * jnp.abs(dense.kernel[...]).sum()
      >>> bool(jnp.isclose(regularization_loss(dense), penalty))
      True
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
        kernel_init: Callable[..., jax.Array] = GLOROT_UNIFORM,
        bias_init: Callable[..., jax.Array] = ZEROS,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.in_features: int = int(in_features)
        self.out_features: int = int(out_features)
        self.activation: str | None = _check_activation(activation)
        self._init_regularizers(
            param_dtype,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.kernel_init: Callable[..., jax.Array] = kernel_init
        self.bias_init: Callable[..., jax.Array] = bias_init
        kernel, bias = _init_weights(
            (self.in_features, self.out_features),
            use_bias,
            kernel_init,
            bias_init,
            param_dtype,
            rngs,
        )
        self.kernel: nnx.Param[jax.Array] = kernel
        self.bias: nnx.Param[jax.Array] | None = bias

    def preactivation(self, x: jax.Array) -> jax.Array:
        """``x @ kernel + bias``: the output before the activation."""
        y = x @ self.kernel[...]
        return y if self.bias is None else y + self.bias[...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._activity(ACTIVATIONS[self.activation](self.preactivation(x)))


def _tuple(value: int | Sequence[int], rank: int, name: str) -> tuple[int, ...]:
    """``value`` as ``rank`` positive ints (an int is repeated), else a ValueError."""
    values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != rank or min(values) < 1:
        raise ValueError(f"{name}: expected a positive int or {rank} of them, got {value!r}")
    return values


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
      activation: as for ``Dense``.
      use_bias: as for ``Dense``.
      kernel_regularizer: as for ``Dense``.
      bias_regularizer: as for ``Dense``.
      activity_regularizer: as for ``Dense``.
      kernel_constraint: as for ``Dense``.
      bias_constraint: as for ``Dense``.
      kernel_init: as for ``Dense``.
      bias_init: as for ``Dense``.
      param_dtype: as for ``Dense``.
      rngs: as for ``Dense``.

    Raises:
      ValueError: for another padding or activation, or a size or stride below 1.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Conv
      >>> from research.regularizers import L2
      >>> conv = Conv(3, 8, 3, strides=2, padding="same", kernel_regularizer=L2(0.01),
      ...             rngs=nnx.Rngs(0))
      >>> conv.kernel.shape
      (3, 3, 3, 8)
      >>> conv(jnp.ones((4, 9, 9, 3))).shape
      (4, 5, 5, 8)
    """

    _RANK: ClassVar[int] = 2
    _DIMENSIONS: ClassVar[tuple[str, str, str]] = ("NHWC", "HWIO", "NHWC")
    _PADDINGS: ClassVar[tuple[str, ...]] = ("valid", "same")

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
        kernel_init: Callable[..., jax.Array] = GLOROT_UNIFORM,
        bias_init: Callable[..., jax.Array] = ZEROS,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        if not isinstance(padding, str) or padding.lower() not in self._PADDINGS:
            raise ValueError(f"padding: expected one of {self._PADDINGS}, got {padding!r}")
        self.in_features: int = int(in_features)
        self.out_features: int = int(out_features)
        self.kernel_size: tuple[int, ...] = _tuple(kernel_size, self._RANK, "kernel_size")
        self.strides: tuple[int, ...] = _tuple(strides, self._RANK, "strides")
        self.padding: str = padding.lower()
        self.activation: str | None = _check_activation(activation)
        self._init_regularizers(
            param_dtype,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.kernel_init: Callable[..., jax.Array] = kernel_init
        self.bias_init: Callable[..., jax.Array] = bias_init
        kernel, bias = _init_weights(
            (*self.kernel_size, self.in_features, self.out_features),
            use_bias,
            kernel_init,
            bias_init,
            param_dtype,
            rngs,
        )
        self.kernel: nnx.Param[jax.Array] = kernel
        self.bias: nnx.Param[jax.Array] | None = bias

    def preactivation(self, x: jax.Array) -> jax.Array:
        """``conv(x, kernel) + bias``: the output before the activation."""
        padding = self.padding.upper()
        if padding == "CAUSAL":  # Keras's Conv1D: k - 1 zeros before the first step
            x = jnp.pad(x, ((0, 0), (self.kernel_size[0] - 1, 0), (0, 0)))
            padding = "VALID"
        y = jax.lax.conv_general_dilated(
            x,
            self.kernel[...],
            window_strides=self.strides,
            # lax's "SAME" is TF's: total = max((ceil(n/s)-1)*s + k - n, 0), total//2 before.
            padding=padding,
            dimension_numbers=self._DIMENSIONS,
        )
        return y if self.bias is None else y + self.bias[...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._activity(ACTIVATIONS[self.activation](self.preactivation(x)))


class Conv1D(Conv):
    """``keras.layers.Conv1D`` (channels last): ``activation(conv(x, kernel) + bias)``.

    Inputs ``(batch, steps, channels)``, a kernel in Keras's layout
    ``(k, in, out)``; ``padding="same"`` pads as TF's ``"SAME"`` (the odd step
    after), ``padding="causal"`` pads ``k - 1`` zeros before the first step, so
    output ``t`` sees inputs ``t - k + 1 .. t`` only. A ``Conv`` in every other
    respect (its keywords, penalties, constraints and initializers).

    Args:
      in_features: input channels.
      out_features: output channels (Keras's ``filters``).
      kernel_size: an int or ``(k,)``.
      strides: an int or ``(s,)``.
      padding: "valid", "same" or "causal".
      activation: as for ``Dense``.
      use_bias: as for ``Dense``.
      kernel_regularizer: as for ``Dense``.
      bias_regularizer: as for ``Dense``.
      activity_regularizer: as for ``Dense``.
      kernel_constraint: as for ``Dense``.
      bias_constraint: as for ``Dense``.
      kernel_init: as for ``Dense``.
      bias_init: as for ``Dense``.
      param_dtype: as for ``Dense``.
      rngs: as for ``Dense``.

    Raises:
      ValueError: for another padding or activation, or a size or stride below 1.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from research.layers import Conv1D
      >>> from research.regularizers import L1
      >>> conv = Conv1D(2, 4, 3, padding="causal", kernel_regularizer=L1(0.01), rngs=nnx.Rngs(0))
      >>> conv(jnp.ones((8, 20, 2))).shape
      (8, 20, 4)

      With a kernel of ones, output ``t`` sums inputs ``t - 2 .. t`` (zeros before the first):

      >>> ones = Conv1D(1, 1, 3, padding="causal", use_bias=False,
      ...               kernel_init=nnx.initializers.ones, rngs=nnx.Rngs(0))
      >>> ones(jnp.arange(5.0).reshape(1, 5, 1))[0, :, 0]
      Array([0., 1., 3., 6., 9.], dtype=float32)
    """

    _RANK: ClassVar[int] = 1
    _DIMENSIONS: ClassVar[tuple[str, str, str]] = ("NWC", "WIO", "NWC")
    _PADDINGS: ClassVar[tuple[str, ...]] = ("valid", "same", "causal")


class ActivityRegularization(Layer):
    """``keras.layers.ActivityRegularization``: the identity, with an activity penalty.

    Each call stores ``(l1 * sum|x| + l2 * sum(x**2)) / x.shape[0]``.

    Args:
      l1: strength of the L1 term.
      l2: strength of the L2 term (no 1/2 factor).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.layers import ActivityRegularization, regularization_loss
      >>> reg = ActivityRegularization(l1=0.01, l2=0.01)
      >>> x = jnp.array([[1.0, -2.0], [3.0, 0.0]])
      >>> bool((reg(x) == x).all())
      True

      The penalty of ``x``, ``(0.01 * 6 + 0.01 * 14) / 2`` (two rows):

      >>> regularization_loss(reg)
      Array(0.1, dtype=float32)
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1: float = l1
        self.l2: float = l2
        self._init_regularizers(activity_regularizer=ElasticNet(l1=l1, l2=l2))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._activity(x)
