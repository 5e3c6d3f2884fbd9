"""Normalization layers: ``BatchNormalization`` and ``LayerNormalization``.

Private: import the public names from ``research.layers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from research.layers._base import Constraint, Layer, Penalty, row_weights

ONES = nnx.initializers.ones_init()
ZEROS = nnx.initializers.zeros_init()


def _check_axis(axis: Any) -> int:
    """``axis`` when it is -1 (the features, channels last), else a ValueError."""
    if isinstance(axis, bool) or not isinstance(axis, int) or axis != -1:
        raise ValueError(f"axis: only -1 (the last axis, channels last) is supported, got {axis!r}")
    return -1


def _check_epsilon(epsilon: Any) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon > 0:
        raise ValueError(f"epsilon: expected a number > 0, got {epsilon!r}")
    return float(epsilon)


def _moments(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and biased variance over every axis but the last, as ``tf.nn.moments``;
    over the real rows only within ``example_weights`` (a padded batch)."""
    axes = tuple(range(x.ndim - 1))
    weight = row_weights(x.shape[0])
    if weight is None:
        mean = jnp.mean(x, axis=axes, keepdims=True)
        # The gradient through the mean of the variance is zero (TF stops it too).
        centered = jnp.square(x - jax.lax.stop_gradient(mean))
        return mean, jnp.mean(centered, axis=axes, keepdims=True)
    rows = weight.astype(x.dtype).reshape(-1, *(1,) * (x.ndim - 1))
    count = jnp.maximum(jnp.sum(rows) * (x[0, ..., 0].size), 1)
    mean = jnp.sum(x * rows, axis=axes, keepdims=True) / count
    centered = jnp.square(x - jax.lax.stop_gradient(mean)) * rows
    return mean, jnp.sum(centered, axis=axes, keepdims=True) / count


def _param(
    init: Callable[..., jax.Array], shape: tuple[int, ...], dtype: Any, rngs: nnx.Rngs, on: bool
) -> nnx.Param[jax.Array] | None:
    return nnx.Param(init(rngs.params(), shape, dtype)) if on else None


class BatchNormalization(Layer):
    """``keras.layers.BatchNormalization`` over the last axis (channels last).

    With ``training=True`` the input is normalized with the statistics of the
    batch (the mean and the biased variance over every axis but the last),
    and the moving statistics are updated in place, as Keras updates them:

    ```python
    moving_mean     = moving_mean * momentum + mean * (1 - momentum)
    moving_variance = moving_variance * momentum + variance * (1 - momentum)
    ```

    Otherwise (the default, as a Keras model called without ``training=True``)
    the moving statistics normalize. Either way the output is
    ``tf.nn.batch_normalization``'s: ``x * inv + (beta - mean * inv)`` with
    ``inv = gamma / sqrt(variance + epsilon)``, computed in at least float32.

    ``gamma`` and ``beta`` are ``nnx.Param`` s (trained, penalized by
    ``gamma_regularizer`` / ``beta_regularizer`` in ``regularization_loss``,
    projected by the constraints in ``constraints``); ``moving_mean`` and
    ``moving_variance`` are ``nnx.BatchStat`` s, which
    ``nnx.Optimizer(model, tx, wrt=nnx.Param)`` leaves alone.

    Args:
      num_features: the size of the last axis.
      axis: -1 only (Keras's default).
      momentum: the weight of the old moving statistics in an update.
      epsilon: added to the variance.
      center: whether there is an offset ``beta``.
      scale: whether there is a scale ``gamma``.
      beta_init: initializer ``(key, shape, dtype)`` of ``beta`` (zeros).
      gamma_init: initializer of ``gamma`` (ones).
      moving_mean_init: initializer of the moving mean (zeros).
      moving_variance_init: initializer of the moving variance (ones).
      beta_regularizer: penalty on ``beta``: a ``research.regularizers`` object
        or a callable ``w -> scalar``.
      gamma_regularizer: penalty on ``gamma``, as ``beta_regularizer``.
      activity_regularizer: penalty on the output, divided by the batch size.
      beta_constraint: callable ``w -> w`` applied to ``beta`` after each
        optimizer step (see ``constraints``).
      gamma_constraint: as ``beta_constraint``, for ``gamma``.
      param_dtype: dtype of the weights and the moving statistics.
      rngs: Flax NNX random streams (``params`` for the initializers).

    Raises:
      ValueError: for an ``axis`` other than -1, an ``epsilon`` <= 0 or a
        ``momentum`` outside [0, 1].

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from flax import nnx
      >>> from research.layers import BatchNormalization
      >>> bn = BatchNormalization(2, momentum=0.9, rngs=nnx.Rngs(0))
      >>> x = jnp.array([[0.0, 1.0], [2.0, 5.0]])  # batch mean (1, 3), variance (1, 4)
      >>> np.asarray(bn(x, training=True)).round(2)  # normalized by the batch
      array([[-1., -1.],
             [ 1.,  1.]], dtype=float32)
      >>> bn.moving_mean[...], bn.moving_variance[...]  # moved a tenth of the way
      (Array([0.1, 0.3], dtype=float32), Array([1. , 1.3], dtype=float32))
      >>> np.asarray(bn(x)).round(2)  # normalized by the moving statistics
      array([[-0.1 ,  0.61],
             [ 1.9 ,  4.12]], dtype=float32)
    """

    weight_names: ClassVar[tuple[str, ...]] = ("gamma", "beta")

    def __init__(
        self,
        num_features: int,
        *,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_init: Callable[..., jax.Array] = ZEROS,
        gamma_init: Callable[..., jax.Array] = ONES,
        moving_mean_init: Callable[..., jax.Array] = ZEROS,
        moving_variance_init: Callable[..., jax.Array] = ONES,
        beta_regularizer: Penalty = None,
        gamma_regularizer: Penalty = None,
        activity_regularizer: Penalty = None,
        beta_constraint: Constraint = None,
        gamma_constraint: Constraint = None,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        if isinstance(momentum, bool) or not isinstance(momentum, int | float):
            raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}")
        self.num_features: int = int(num_features)
        self.axis: int = _check_axis(axis)
        self.momentum: float = float(momentum)
        self.epsilon: float = _check_epsilon(epsilon)
        self.center: bool = bool(center)
        self.scale: bool = bool(scale)
        self.beta_init: Callable[..., jax.Array] = beta_init
        self.gamma_init: Callable[..., jax.Array] = gamma_init
        self.moving_mean_init: Callable[..., jax.Array] = moving_mean_init
        self.moving_variance_init: Callable[..., jax.Array] = moving_variance_init
        self.beta_regularizer: Penalty = beta_regularizer
        self.gamma_regularizer: Penalty = gamma_regularizer
        self.beta_constraint: Constraint = beta_constraint
        self.gamma_constraint: Constraint = gamma_constraint
        self._init_activity(param_dtype, activity_regularizer)
        shape = (self.num_features,)
        # Keras's build order: gamma, beta, moving mean, moving variance.
        self.gamma: nnx.Param[jax.Array] | None = _param(
            gamma_init, shape, param_dtype, rngs, scale
        )
        self.beta: nnx.Param[jax.Array] | None = _param(beta_init, shape, param_dtype, rngs, center)
        self.moving_mean: nnx.BatchStat[jax.Array] = nnx.BatchStat(
            moving_mean_init(rngs.params(), shape, param_dtype)
        )
        self.moving_variance: nnx.BatchStat[jax.Array] = nnx.BatchStat(
            moving_variance_init(rngs.params(), shape, param_dtype)
        )

    def __call__(self, x: jax.Array, *, training: bool = False) -> jax.Array:
        """The normalized ``x``; with ``training=True`` also updates the moving statistics."""
        if x.ndim < 2 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"x: expected inputs of shape (batch, ..., {self.num_features}), got {x.shape}"
            )
        # Keras computes in at least float32 (half-precision inputs are upcast).
        x = x.astype(jnp.result_type(x.dtype, jnp.float32))
        if training:
            mean, variance = _moments(x)
            mean, variance = mean.reshape(-1), variance.reshape(-1)
            old_mean = self.moving_mean[...].astype(x.dtype)
            old_variance = self.moving_variance[...].astype(x.dtype)
            new_mean = old_mean * self.momentum + mean * (1.0 - self.momentum)
            new_variance = old_variance * self.momentum + variance * (1.0 - self.momentum)
            self.moving_mean[...] = new_mean.astype(self.moving_mean[...].dtype)
            self.moving_variance[...] = new_variance.astype(self.moving_variance[...].dtype)
        else:
            mean = self.moving_mean[...].astype(x.dtype)
            variance = self.moving_variance[...].astype(x.dtype)
        # tf.nn.batch_normalization's order of operations.
        inv = jax.lax.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma[...].astype(x.dtype)
        offset = -mean * inv if self.beta is None else self.beta[...].astype(x.dtype) - mean * inv
        return self._activity(x * inv + offset)


class LayerNormalization(Layer):
    """``keras.layers.LayerNormalization`` over the last axis.

    Each example is normalized by the mean and the biased variance of its last
    axis, in Keras 3's order of operations:

    ```python
    inv = gamma / sqrt(variance + epsilon)
    y = x * inv + (beta - mean * inv)
    ```

    With ``rms_scaling=True`` (Keras's deprecated option, kept for old models)
    ``y = x * gamma / sqrt(variance + epsilon)``: the input scaled by its
    variance, not centred, with ``gamma`` and without ``beta``.

    Args:
      num_features: the size of the last axis.
      axis: -1 only (Keras's default).
      epsilon: added to the variance.
      center: whether there is an offset ``beta``.
      scale: whether there is a scale ``gamma``.
      rms_scaling: Keras's ``rms_scaling``.
      beta_init: initializer ``(key, shape, dtype)`` of ``beta`` (zeros).
      gamma_init: initializer of ``gamma`` (ones).
      beta_regularizer: as for ``BatchNormalization``.
      gamma_regularizer: as for ``BatchNormalization``.
      activity_regularizer: as for ``BatchNormalization``.
      beta_constraint: as for ``BatchNormalization``.
      gamma_constraint: as for ``BatchNormalization``.
      param_dtype: as for ``BatchNormalization``.
      rngs: as for ``BatchNormalization``.

    Raises:
      ValueError: for an ``axis`` other than -1 or an ``epsilon`` <= 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from flax import nnx
      >>> from research.layers import LayerNormalization
      >>> ln = LayerNormalization(4, rngs=nnx.Rngs(0))
      >>> y = ln(jnp.array([[1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]]))
      >>> np.asarray(y).round(2)  # each row with mean 0 and variance 1 (before gamma and beta)
      array([[-1.34, -0.45,  0.45,  1.34],
             [-1.34, -0.45,  0.45,  1.34]], dtype=float32)
    """

    weight_names: ClassVar[tuple[str, ...]] = ("gamma", "beta")

    def __init__(
        self,
        num_features: int,
        *,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_init: Callable[..., jax.Array] = ZEROS,
        gamma_init: Callable[..., jax.Array] = ONES,
        beta_regularizer: Penalty = None,
        gamma_regularizer: Penalty = None,
        activity_regularizer: Penalty = None,
        beta_constraint: Constraint = None,
        gamma_constraint: Constraint = None,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.num_features: int = int(num_features)
        self.axis: int = _check_axis(axis)
        self.epsilon: float = _check_epsilon(epsilon)
        self.center: bool = bool(center)
        self.scale: bool = bool(scale)
        self.rms_scaling: bool = bool(rms_scaling)
        self.beta_init: Callable[..., jax.Array] = beta_init
        self.gamma_init: Callable[..., jax.Array] = gamma_init
        self.beta_regularizer: Penalty = beta_regularizer
        self.gamma_regularizer: Penalty = gamma_regularizer
        self.beta_constraint: Constraint = beta_constraint
        self.gamma_constraint: Constraint = gamma_constraint
        self._init_activity(param_dtype, activity_regularizer)
        shape = (self.num_features,)
        has_gamma, has_beta = scale or rms_scaling, center and not rms_scaling
        self.gamma: nnx.Param[jax.Array] | None = _param(
            gamma_init, shape, param_dtype, rngs, has_gamma
        )
        self.beta: nnx.Param[jax.Array] | None = _param(
            beta_init, shape, param_dtype, rngs, has_beta
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim < 1 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"x: expected inputs of shape (..., {self.num_features}), got {x.shape}"
            )
        dtype = x.dtype
        x = x.astype(jnp.result_type(dtype, jnp.float32))
        gamma = None if self.gamma is None else self.gamma[...].astype(x.dtype)
        if self.rms_scaling:
            variance = jnp.var(x, axis=-1, keepdims=True)
            y = x * jax.lax.rsqrt(variance + self.epsilon)
            y = y if gamma is None else y * gamma
        else:
            mean = jnp.mean(x, axis=-1, keepdims=True)
            variance = jnp.mean(jnp.square(x - jax.lax.stop_gradient(mean)), axis=-1, keepdims=True)
            inv = jax.lax.rsqrt(variance + self.epsilon)
            inv = inv if gamma is None else inv * gamma
            offset = -mean * inv
            if self.beta is not None:
                offset = offset + self.beta[...].astype(x.dtype)
            y = x * inv + offset
        return self._activity(y.astype(dtype))
