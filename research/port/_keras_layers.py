"""One Keras layer per layer of ``research.layers``: the entries of the export table.

Each entry is ``(layer, context) -> Exported(keras_layer, weights)``: the
Keras layer (not yet called) with the layer's options, penalties
(``reg.to_keras()``), constraints (``constraint.to_keras()``) and, where they
are Keras's, initializers; and the weights in ``get_weights()`` order.
``research.port._export`` adds the containers (``Sequential``, ``Graph``).
Private: import the public names from ``research.port``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from research import layers
from research.compat import import_keras
from research.port import _init


class Context(NamedTuple):
    """What an export table entry knows besides its layer.

    Attributes:
      path: the layer's parameter path, e.g. ``"layers/1"``.
      where: how errors name it, e.g. ``"layers/1 (Dense)"``.
      dtype: the model's dtype (every Keras layer's dtype policy).
      input_shape: the shape of the layer's input without the batch axis (a
        list of them for a merge layer).
    """

    path: str
    where: str
    dtype: str
    input_shape: Any


class Exported(NamedTuple):
    """What an export table entry returns for one layer.

    Attributes:
      layer: the Keras layer, not yet called (a ``keras.Sequential`` or a
        functional ``keras.Model`` for a nested container).
      weights: its weights in the order of ``layer.get_weights()``, as NumPy
        arrays in the model's dtype (set bit for bit once the layer is built).
    """

    layer: Any
    weights: list[np.ndarray]


Exporter = Callable[[Any, Context], Exported]
"""``(layer, context) -> Exported``: one entry of ``research.port.EXPORTERS``."""


# --------------------------------------------------------------------------- options
def keras_object(value: Any, key: str, where: str) -> Any:
    """A penalty's or constraint's Keras object (its ``to_keras()``); None for None.

    Raises:
      ValueError: naming the layer, the keyword and the object, for one
        without a Keras form (``GroupLasso``, ``MCP``, a plain callable).
    """
    if value is None:
        return None
    to_keras = getattr(value, "to_keras", None)
    try:
        if to_keras is None:
            raise ValueError("a plain callable has no Keras form")
        out = to_keras()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {key} {value!r} cannot be exported to Keras: {err}") from err
    if isinstance(getattr(out, "axis", None), tuple):
        out.axis = list(out.axis)  # a constraint's axis as Keras's docs and saved files have it
    return out


def keras_initializer(fn: Any) -> Any:
    """The Keras initializer of a JAX one when it is one of Keras's, else None.

    Recognized: ``research.port``'s conversions of Keras initializers, and
    ``jax.nn.initializers`` (Flax's) ``zeros``, ``ones``, ``constant`` and the
    ``variance_scaling`` family with Keras's fans (``in_axis=-2``, ``out_axis=-1``).
    """
    keras = import_keras()
    if fn is jax.nn.initializers.zeros:
        return keras.initializers.Zeros()
    if fn is jax.nn.initializers.ones:
        return keras.initializers.Ones()
    try:
        found = inspect.getclosurevars(fn).nonlocals
    except TypeError:  # not a Python function
        return None
    name = getattr(fn, "__qualname__", "")
    if name == "constant.<locals>.init" and np.ndim(found.get("value", ())) == 0:
        value = float(np.asarray(found["value"]))
        if value in (0.0, 1.0):
            return keras.initializers.Zeros() if value == 0 else keras.initializers.Ones()
        return keras.initializers.Constant(value)
    axes = (found.get("in_axis", -2), found.get("out_axis", -1), found.get("batch_axis", ()))
    if name != "variance_scaling.<locals>.init" or "scale" not in found or axes != (-2, -1, ()):
        return None
    # jax's "normal" is untruncated; its "truncated_normal" is rescaled as Keras's.
    distribution = found["distribution"]
    distribution = "untruncated_normal" if distribution == "normal" else distribution
    key = (float(found["scale"]), found["mode"], distribution)
    named = {v: k for k, v in _init._VARIANCE_SCALING.items()}.get(key)
    if named is not None:
        return getattr(keras.initializers, named)()
    return keras.initializers.VarianceScaling(*key)


def _initializers(layer: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``<name>_initializer`` keywords for the convertible ``<name>_init`` s."""
    out = {}
    for name in names:
        init = keras_initializer(getattr(layer, f"{name}_init", None))
        if init is not None:
            out[f"{name}_initializer"] = init
    return out


def _weight_options(layer: Any, ctx: Context, names: tuple[str, ...]) -> dict[str, Any]:
    """Per weight name: its regularizer, constraint and initializer keywords."""
    options = _initializers(layer, names)
    for name in names:
        for kind in ("regularizer", "constraint"):
            key = f"{name}_{kind}"
            options[key] = keras_object(getattr(layer, key, None), key, ctx.where)
    activity = getattr(layer, "activity_regularizer", None)
    options["activity_regularizer"] = keras_object(activity, "activity_regularizer", ctx.where)
    return options


def weights_of(layer: Any, names: tuple[str, ...]) -> list[np.ndarray]:
    """The arrays of the named weights a layer has (None ones left out), in order."""
    found = (getattr(layer, name, None) for name in names)
    return [np.asarray(w[...]) for w in found if w is not None]


def _activation(layer: Any) -> str:
    return "linear" if layer.activation is None else layer.activation


# --------------------------------------------------------------------------- entries
def _dense(layer: layers.Dense, ctx: Context) -> Exported:
    options = _weight_options(layer, ctx, ("kernel", "bias"))
    dense = import_keras().layers.Dense(
        layer.out_features,
        activation=_activation(layer),
        use_bias=layer.bias is not None,
        dtype=ctx.dtype,
        **options,
    )
    return Exported(dense, weights_of(layer, ("kernel", "bias")))


def _conv(layer: layers.Conv, ctx: Context) -> Exported:
    """``Conv`` as ``Conv2D``, ``Conv1D`` as ``Conv1D``."""
    keras = import_keras()
    cls = keras.layers.Conv1D if isinstance(layer, layers.Conv1D) else keras.layers.Conv2D
    conv = cls(
        layer.out_features,
        layer.kernel_size,
        strides=layer.strides,
        padding=layer.padding,
        data_format="channels_last",
        activation=_activation(layer),
        use_bias=layer.bias is not None,
        dtype=ctx.dtype,
        **_weight_options(layer, ctx, ("kernel", "bias")),
    )
    return Exported(conv, weights_of(layer, ("kernel", "bias")))


def _normalization(layer: Any, ctx: Context) -> Exported:
    """``BatchNormalization`` (with its moving statistics) or ``LayerNormalization``."""
    keras = import_keras()
    options = _weight_options(layer, ctx, ("gamma", "beta"))
    options |= {"axis": layer.axis, "epsilon": layer.epsilon, "dtype": ctx.dtype}
    options |= {"center": layer.center, "scale": layer.scale}
    names: tuple[str, ...] = ("gamma", "beta")
    if isinstance(layer, layers.BatchNormalization):
        options |= _initializers(layer, ("moving_mean", "moving_variance"))
        out = keras.layers.BatchNormalization(momentum=layer.momentum, **options)
        names += ("moving_mean", "moving_variance")
    else:
        if layer.rms_scaling:
            options["rms_scaling"] = True  # Keras's deprecated option (a warning)
        out = keras.layers.LayerNormalization(**options)
    return Exported(out, weights_of(layer, names))


def _pooling(layer: Any, ctx: Context) -> Exported:
    cls = getattr(import_keras().layers, type(layer).__name__)
    if type(layer).__name__.startswith("Global"):
        pool = cls(keepdims=layer.keepdims, data_format="channels_last", dtype=ctx.dtype)
    else:
        pool = cls(
            layer.pool_size,
            strides=layer.strides,
            padding=layer.padding,
            data_format="channels_last",
            dtype=ctx.dtype,
        )
    return Exported(pool, [])


def _merge(layer: Any, ctx: Context) -> Exported:
    cls = getattr(import_keras().layers, type(layer).__name__)
    options = {"axis": layer.axis} if isinstance(layer, layers.Concatenate) else {}
    return Exported(cls(dtype=ctx.dtype, **options), [])


def _flatten(layer: layers.Flatten, ctx: Context) -> Exported:
    return Exported(import_keras().layers.Flatten(dtype=ctx.dtype), [])


def _reshape(layer: layers.Reshape, ctx: Context) -> Exported:
    return Exported(import_keras().layers.Reshape(layer.target_shape, dtype=ctx.dtype), [])


def _activation_layer(layer: layers.Activation, ctx: Context) -> Exported:
    return Exported(import_keras().layers.Activation(_activation(layer), dtype=ctx.dtype), [])


def _dropout(layer: layers.Dropout, ctx: Context) -> Exported:
    shape = None if layer.noise_shape is None else list(layer.noise_shape)
    return Exported(
        import_keras().layers.Dropout(layer.rate, noise_shape=shape, dtype=ctx.dtype), []
    )


def _activity_regularization(layer: layers.ActivityRegularization, ctx: Context) -> Exported:
    keras = import_keras()
    out = keras.layers.ActivityRegularization(l1=layer.l1, l2=layer.l2, dtype=ctx.dtype)
    return Exported(out, [])


POOLING = (
    layers.MaxPooling1D, layers.MaxPooling2D, layers.AveragePooling1D, layers.AveragePooling2D,
    layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalMaxPooling1D,
    layers.GlobalMaxPooling2D,
)  # fmt: skip
LAYER_EXPORTERS: dict[type, Exporter] = {
    layers.Dense: _dense,
    layers.Conv: _conv,
    layers.Conv1D: _conv,
    layers.BatchNormalization: _normalization,
    layers.LayerNormalization: _normalization,
    **dict.fromkeys(POOLING, _pooling),
    **dict.fromkeys((layers.Add, layers.Multiply, layers.Average, layers.Concatenate), _merge),
    layers.Flatten: _flatten,
    layers.Reshape: _reshape,
    layers.Activation: _activation_layer,
    layers.Dropout: _dropout,
    layers.ActivityRegularization: _activity_regularization,
}
"""Layer class -> exporter, for the layers without sublayers."""
