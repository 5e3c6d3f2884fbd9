"""Keras 3's built-in losses (TensorFlow backend) as traceable JAX functions.

``KerasLoss`` computes mean squared / absolute error and binary, categorical and sparse
categorical cross-entropy operation by operation as ``keras/src/losses/losses.py`` and
``keras/src/backend/tensorflow/nn.py`` do: the rank fix-up of ``y_true`` / ``y_pred``
(``squeeze_or_expand_to_same_rank``), probabilities clipped to ``[epsilon, 1 - epsilon]``
(with ``tf.clip_by_value``'s gradient, which passes at the bounds), label smoothing, and the
reduction (``reduce_weighted_values``: weights multiplied in, summed, divided by the number of
weighted values for ``"sum_over_batch_size"``). Derivatives follow TensorFlow's gradients.

``logits=`` covers the graph-mode shortcut of the TF backend (``_get_logits``): in a compiled
``fit``, a cross-entropy of the output of a softmax / sigmoid activation is computed from the
activation's input as if ``from_logits=True`` (whatever ``from_logits`` says), not from the
clipped probabilities.

Differences from Keras: masks (``_keras_mask``) are not applied; an empty batch reduces to
``0.0`` (Keras returns the empty array); an out-of-range sparse label gives NaN (TensorFlow's
CPU kernel raises). Private: ``research.port`` converts a compiled model's loss with
``from_keras_loss``.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import jax
import jax.numpy as jnp

MSE = "mean_squared_error"
MAE = "mean_absolute_error"
BCE = "binary_crossentropy"
CCE = "categorical_crossentropy"
SPARSE_CCE = "sparse_categorical_crossentropy"
NAMES = (MSE, MAE, BCE, CCE, SPARSE_CCE)
REDUCTIONS = ("sum_over_batch_size", "sum")
EPSILON = 1e-7  # keras.config.epsilon()'s default

# The names keras.losses.get resolves to these losses (case-sensitive, as there).
_CLASSES = {
    "MeanSquaredError": MSE,
    "MeanAbsoluteError": MAE,
    "BinaryCrossentropy": BCE,
    "CategoricalCrossentropy": CCE,
    "SparseCategoricalCrossentropy": SPARSE_CCE,
}
_ALIASES = {name: name for name in NAMES} | _CLASSES
_ALIASES |= {"mse": MSE, "MSE": MSE, "mae": MAE, "MAE": MAE, "bce": BCE, "BCE": BCE}
_ACTIVATIONS = {BCE: "sigmoid", CCE: "softmax", SPARSE_CCE: "softmax"}
_SUPPORTED = (
    "supported: 'mean_squared_error' ('mse'), 'mean_absolute_error' ('mae'), "
    "'binary_crossentropy' ('bce'), 'categorical_crossentropy', "
    "'sparse_categorical_crossentropy': as a string, a keras.losses function, "
    f"a keras.losses object ({', '.join(_CLASSES)}) or its serialized dict"
)


def _same_rank(x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keras's ``squeeze_or_expand_to_same_rank`` (``expand_rank_1=True``)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2[:, None]) if x2.ndim == 1 else (jnp.squeeze(x1, -1), x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1[:, None], x2) if x1.ndim == 1 else (x1, jnp.squeeze(x2, -1))
    return x1, x2


def _clip(x: jax.Array, epsilon: float) -> jax.Array:
    """``tf.clip_by_value(x, epsilon, 1 - epsilon)``: the gradient passes at the bounds."""
    return jnp.where(x < epsilon, epsilon, jnp.where(x > 1.0 - epsilon, 1.0 - epsilon, x))


def _check_same_shape(y_true: jax.Array, y_pred: jax.Array, name: str) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true.shape={y_true.shape} != y_pred.shape={y_pred.shape}")


@jax.custom_jvp
def _sigmoid_xent(labels: jax.Array, logits: jax.Array) -> jax.Array:
    """``tf.nn.sigmoid_cross_entropy_with_logits``; its derivative adds the terms in TF's
    order, ``(relu' - labels) + log1p'``, which matters where they cancel (large |logits|)."""
    positive = logits >= 0
    relu_logits = jnp.where(positive, logits, 0.0)
    neg_abs_logits = jnp.where(positive, -logits, logits)
    return relu_logits - logits * labels + jnp.log1p(jnp.exp(neg_abs_logits))


@_sigmoid_xent.defjvp
def _sigmoid_xent_jvp(primals, tangents):
    labels, logits = primals
    labels_dot, logits_dot = tangents
    positive = logits >= 0
    exp_neg_abs = jnp.exp(jnp.where(positive, -logits, logits))
    log1p_grad = exp_neg_abs * (1.0 / (1.0 + exp_neg_abs))
    grad = (jnp.where(positive, 1.0, 0.0) - labels) + jnp.where(positive, -log1p_grad, log1p_grad)
    return _sigmoid_xent(labels, logits), grad * logits_dot - logits * labels_dot


@jax.custom_jvp
def _softmax_xent(labels: jax.Array, logits: jax.Array) -> jax.Array:
    """``tf.nn.softmax_cross_entropy_with_logits`` (last axis) with the derivative of TF's
    kernel, ``softmax(logits) - labels``, also for labels whose rows do not sum to 1."""
    shifted = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    log_sum_exp = jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))
    return jnp.sum(labels * (log_sum_exp - shifted), axis=-1)


@_softmax_xent.defjvp
def _softmax_xent_jvp(primals, tangents):
    labels, logits = primals
    labels_dot, logits_dot = tangents
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    backprop = jnp.exp(log_probs) - labels
    tangent = jnp.sum(backprop * logits_dot, axis=-1) - jnp.sum(log_probs * labels_dot, axis=-1)
    return _softmax_xent(labels, logits), tangent


def _sparse_xent(labels: jax.Array, logits: jax.Array) -> jax.Array:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits``; NaN for an out-of-range label."""
    num_classes = logits.shape[-1]
    valid = (labels >= 0) & (labels < num_classes)
    index = jnp.where(valid, labels, 0)[..., None]
    shifted = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    log_sum_exp = jnp.log(jnp.sum(jnp.exp(shifted), axis=-1))
    loss = log_sum_exp - jnp.take_along_axis(shifted, index, axis=-1)[..., 0]
    return jnp.where(valid, loss, jnp.nan)


@dataclasses.dataclass(frozen=True)
class KerasLoss:
    """One of Keras's built-in losses, computed in JAX as Keras 3's TF backend does.

    Attributes:
      name: one of ``NAMES`` (Keras's function names).
      from_logits: ``y_pred`` holds logits (cross-entropies only).
      label_smoothing: Keras's label smoothing (binary and categorical only).
      axis: the class axis of the cross-entropies (the mean axis of binary
        cross-entropy); ``-1`` for the mean errors.
      reduction: ``"sum_over_batch_size"`` or ``"sum"``.
      epsilon: the clipping bound of probabilities, ``keras.config.epsilon()``.
    """

    name: str
    from_logits: bool = False
    label_smoothing: float = 0.0
    axis: int = -1
    reduction: str = "sum_over_batch_size"
    epsilon: float = EPSILON

    def __post_init__(self) -> None:
        where = f"KerasLoss({self.name!r})"
        if self.name not in NAMES:
            raise ValueError(f"{where}: name={self.name!r} is not one of {NAMES}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"{where}: reduction={self.reduction!r} is not one of {REDUCTIONS}")
        if self.label_smoothing and self.name not in (BCE, CCE):
            raise ValueError(f"{where}: label_smoothing={self.label_smoothing} is not an option")
        if self.name in (MSE, MAE) and (self.from_logits or self.axis != -1):
            raise ValueError(f"{where}: from_logits / axis={self.axis} are not options")

    @property
    def activation(self) -> str | None:
        """The final activation whose input Keras's graph mode takes as logits: ``"softmax"``
        (categorical cross-entropies), ``"sigmoid"`` (binary) or ``None`` (mean errors)."""
        return _ACTIVATIONS.get(self.name)

    def per_example(self, y_true: Any, y_pred: Any, *, logits: Any = None) -> jax.Array:
        """The loss values before reduction (``LossFunctionWrapper.call``).

        Args:
          y_true: targets; for sparse cross-entropy class ids (integer or float),
            shaped like ``y_pred`` without its last axis or with a last axis of 1.
          y_pred: predictions (probabilities unless ``from_logits``).
          logits: the input of the softmax / sigmoid that produced ``y_pred``:
            a cross-entropy is then computed from it as if ``from_logits=True``
            (Keras's graph mode). Ignored by the mean errors.

        Returns:
          Values in the predictions' float dtype (float32 for other inputs),
          e.g. of shape ``(batch,)`` for 2-d predictions.
        """
        y_pred = jnp.asarray(y_pred)
        y_pred = y_pred.astype(_float_dtype(y_pred))
        y_true, reshaped = _same_rank(jnp.asarray(y_true, y_pred.dtype), y_pred)
        if self.name in (MSE, MAE):
            error = y_true - reshaped
            # error * sign(error): |error| with tf.abs's derivative, 0 at 0.
            loss = jnp.square(error) if self.name == MSE else error * jnp.sign(error)
            return jnp.mean(loss, axis=-1)
        from_logits, output = self.from_logits, reshaped
        if logits is not None:
            logits = jnp.asarray(logits, y_pred.dtype)
            if logits.shape != y_pred.shape:
                raise ValueError(f"{self.name}: logits.shape={logits.shape} != {y_pred.shape}")
            # Keras finds the logits on y_pred itself; a reshaped y_pred has none.
            if reshaped.shape == y_pred.shape:
                from_logits, output = True, logits
        if self.name == BCE:
            return self._binary(y_true, output, from_logits)
        if self.name == CCE:
            return self._categorical(y_true, output, from_logits)
        return self._sparse(y_true, output, from_logits)

    def _binary(self, y_true: jax.Array, output: jax.Array, from_logits: bool) -> jax.Array:
        _check_same_shape(y_true, output, self.name)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if from_logits:
            values = _sigmoid_xent(y_true, output)
        else:
            output = _clip(output, self.epsilon)
            values = -(y_true * jnp.log(output) + (1 - y_true) * jnp.log(1 - output))
        return jnp.mean(values, axis=self.axis)

    def _categorical(self, y_true: jax.Array, output: jax.Array, from_logits: bool) -> jax.Array:
        _check_same_shape(y_true, output, self.name)
        if self.label_smoothing:
            # Keras counts the classes on the last axis, whatever `axis` is.
            num_classes = jnp.asarray(y_true.shape[-1], y_true.dtype)
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        if from_logits:
            return _softmax_xent(
                jnp.moveaxis(y_true, self.axis, -1), jnp.moveaxis(output, self.axis, -1)
            )
        output = output / jnp.sum(output, axis=self.axis, keepdims=True)
        output = _clip(output, self.epsilon)
        return -jnp.sum(y_true * jnp.log(output), axis=self.axis)

    def _sparse(self, y_true: jax.Array, output: jax.Array, from_logits: bool) -> jax.Array:
        if y_true.ndim == output.ndim and y_true.shape[self.axis] == 1:
            y_true = jnp.squeeze(y_true, self.axis)
        if self.axis not in (-1, output.ndim - 1):  # as Keras's TF backend
            raise ValueError(f"{self.name}: axis={self.axis}: only the last axis is supported")
        if y_true.shape != output.shape[:-1]:
            raise ValueError(f"{self.name}: labels {y_true.shape} for predictions {output.shape}")
        if not from_logits:
            output = jnp.log(_clip(output, self.epsilon))
        return _sparse_xent(y_true.astype(jnp.int32), output)

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, *, logits: Any = None
    ) -> jax.Array:
        """The reduced loss, as ``keras.losses.Loss.__call__`` computes it.

        Args:
          y_true: as for ``per_example``.
          y_pred: as for ``per_example``.
          sample_weight: optional weights, broadcast against the per-example
            values after Keras's rank fix-up.
          logits: as for ``per_example``.

        Returns:
          A scalar (the predictions' dtype): the weighted sum, divided by the number of weighted
          values for ``"sum_over_batch_size"``.
        """
        values = self.per_example(y_true, y_pred, logits=logits)
        if sample_weight is not None:
            values, weights = _same_rank(values, jnp.asarray(sample_weight, values.dtype))
            values = values * weights
        total = jnp.sum(values)
        if self.reduction == "sum" or values.ndim == 0:
            return total
        return total / values.size if values.size else jnp.zeros((), values.dtype)


def _build(name: str, options: dict[str, Any], epsilon: float, what: str) -> KerasLoss:
    """A ``KerasLoss`` from a loss name and Keras's options (``get_config`` keys)."""
    options = {k: v for k, v in options.items() if k not in ("name", "fn")}
    where = f"from_keras_loss({what})"
    ignore_class = options.pop("ignore_class", None)
    if ignore_class is not None:
        raise ValueError(f"{where}: ignore_class={ignore_class} is not supported")
    dtype = options.pop("dtype", None)
    if dtype not in (None, "float32", "float64"):
        raise ValueError(f"{where}: dtype={dtype!r} is not supported (float32 or float64)")
    reduction = options.pop("reduction", "sum_over_batch_size")
    if reduction == "mean":  # the same branch as "sum_over_batch_size" in Keras
        reduction = "sum_over_batch_size"
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: reduction={reduction!r} is not supported: {REDUCTIONS}")
    unknown = sorted(set(options) - {"from_logits", "label_smoothing", "axis"})
    if unknown:
        raise ValueError(f"{where}: option(s) {unknown} are not supported")
    try:
        return KerasLoss(name, reduction=reduction, epsilon=epsilon, **options)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _float_dtype(a: jax.Array) -> Any:
    """The dtype a loss is computed in: the predictions' float dtype, else float32."""
    return a.dtype if jnp.issubdtype(a.dtype, jnp.floating) else jnp.float32


def _keras_epsilon() -> float:
    """``keras.config.epsilon()`` when Keras is imported."""
    keras = sys.modules.get("keras")
    return EPSILON if keras is None else float(keras.config.epsilon())


def _from_serialized(loss: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The loss name and options of ``keras.losses.serialize``'s dict."""
    class_name: Any  # the file's value: a name, or None (.get then finds nothing)
    class_name, config = loss.get("class_name"), loss.get("config")
    if class_name == "function" and isinstance(config, str):
        return (config if config in NAMES else None), {}
    if not isinstance(config, dict):
        return None, {}
    if class_name == "LossFunctionWrapper" and isinstance(config.get("fn"), dict):
        return _from_serialized(config["fn"])[0], config
    return _CLASSES.get(class_name), config


def _from_keras_object(loss: Any) -> tuple[str | None, dict[str, Any]]:
    """The loss name and options of a ``keras.losses`` object or function."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None, {}
    functions = [(getattr(keras.losses, name), name) for name in NAMES]

    def function_name(fn: Any) -> str | None:
        return next((name for f, name in functions if f is fn), None)

    if not isinstance(loss, keras.losses.Loss):
        return function_name(loss), {}
    options = {**loss.get_config(), "dtype": loss.dtype}
    kind = type(loss).__name__
    if type(loss) is getattr(keras.losses, kind, None) and kind in _CLASSES:
        # SparseCategoricalCrossentropy's get_config leaves out its axis.
        axis = getattr(loss, "_fn_kwargs", {}).get("axis", -1)
        return _CLASSES[kind], {"axis": axis, **options}
    if kind == "LossFunctionWrapper" and type(loss).__module__.startswith("keras."):
        return function_name(getattr(loss, "fn", None)), options
    return None, {}


def _describe(loss: Any) -> str:
    if isinstance(loss, (list, tuple)):
        return f"a {type(loss).__name__} of losses (multi-output models are not supported)"
    if isinstance(loss, dict) and "class_name" not in loss:
        return "a dict of losses (multi-output models are not supported)"
    if isinstance(loss, (str, dict)) or loss is None:
        return repr(loss)
    is_function = callable(loss) and hasattr(loss, "__qualname__")
    where = loss if is_function else type(loss)
    module = getattr(where, "__module__", "?")
    module = "keras.losses" if module.startswith("keras.src.losses") else module
    name = f"{module}.{where.__qualname__}"
    return f"function {name}" if is_function else f"{name} object"


def from_keras_loss(loss: Any) -> KerasLoss:
    """The ``KerasLoss`` of a loss as ``model.compile(loss=...)`` takes it.

    Args:
      loss: a string as ``keras.losses.get`` resolves it (``"mse"``, ``"bce"``,
        ``"mean_squared_error"``, ``"CategoricalCrossentropy"``, ...), a
        ``keras.losses`` object (``MeanSquaredError``, ``MeanAbsoluteError``,
        ``BinaryCrossentropy``, ``CategoricalCrossentropy``,
        ``SparseCategoricalCrossentropy``, or a ``LossFunctionWrapper`` of a
        supported function), a ``keras.losses`` function, the dict
        ``keras.losses.serialize`` makes of one of these, or a ``KerasLoss``.

    Returns:
      The loss, with Keras's options (``from_logits``, ``label_smoothing``,
      ``axis``, ``reduction``) and ``keras.config.epsilon()``.

    Raises:
      ValueError: for another loss (Huber, ``"hinge"``, a custom function, a
        list or dict of per-output losses, ``None``), naming it and the
        supported ones; for an option that cannot be honored, naming it
        (``ignore_class``, ``reduction`` other than ``"sum_over_batch_size"``,
        ``"mean"`` or ``"sum"``, a dtype other than float32).

    Examples:
      >>> import jax
      >>> import keras
      >>> import numpy as np
      >>> from research.port import from_keras_loss
      >>> keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
      >>> loss = from_keras_loss(keras_loss)
      >>> loss.name, loss.label_smoothing, loss.from_logits
      ('categorical_crossentropy', 0.1, False)
      >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
      >>> z = np.array([[1.0, 2.0], [0.5, -0.5]], "float32")
      >>> probs = np.asarray(jax.nn.softmax(z))
      >>> bool(np.isclose(loss(y_true, probs), keras_loss(y_true, probs)))  # the Keras value
      True

      With the softmax's input as ``logits``: Keras's compiled-fit value, from the logits:

      >>> from_logits = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, from_logits=True)
      >>> bool(np.isclose(loss(y_true, probs, logits=z), from_logits(y_true, z)))
      True
      >>> from_keras_loss("hinge")
      Traceback (most recent call last):
      ...
      ValueError: from_keras_loss: 'hinge' is not supported; supported: ...
    """
    if isinstance(loss, KerasLoss):
        return loss
    if isinstance(loss, str) and loss.lower() in ("crossentropy", "ce"):
        raise ValueError(
            f"from_keras_loss: {loss!r} picks a cross-entropy from the data's shapes in "
            f"Keras; name it instead. {_SUPPORTED}"
        )
    options: dict[str, Any]
    if isinstance(loss, str):
        name, options = _ALIASES.get(loss), {}
    elif isinstance(loss, dict) and "class_name" in loss:
        name, options = _from_serialized(loss)
    elif isinstance(loss, (dict, list, tuple)) or loss is None:
        name, options = None, {}
    else:
        name, options = _from_keras_object(loss)
    if name is None:
        raise ValueError(f"from_keras_loss: {_describe(loss)} is not supported; {_SUPPORTED}")
    return _build(name, options, _keras_epsilon(), _describe(loss))
