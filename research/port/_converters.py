"""One Keras layer as its ``research.layers`` layer: ``convert_layer``.

The supported layers, activations and options; anything else is a
``ValueError`` naming the layer and the supported set. Weights are set by
``research.port._model``. Private: import the public names from
``research.port``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from flax import nnx

from research import constraints as constraints_lib
from research import layers
from research.port._init import from_keras_initializer
from research.regularizers import from_keras as regularizer_from_keras

POOLING_LAYERS = (
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
)  # fmt: skip
NORMALIZATION_LAYERS = ("BatchNormalization", "LayerNormalization")
MERGE_LAYERS = ("Add", "Concatenate", "Multiply", "Average")
SUPPORTED_LAYERS = (
    "InputLayer", "Dense", "Conv1D", "Conv2D", *POOLING_LAYERS, "Flatten", "Reshape",
    "Activation", "ActivityRegularization", "Dropout", *NORMALIZATION_LAYERS, *MERGE_LAYERS,
)  # fmt: skip
NO_ACTIVITY_PENALTY = (
    *POOLING_LAYERS, "Reshape", "Activation", "Flatten", "Dropout", *MERGE_LAYERS,
)  # fmt: skip
"""Layers converted without an ``activity_regularizer``: one set on them in Keras raises."""
ACTIVATIONS = (
    "linear", "relu", "tanh", "sigmoid", "softmax", "gelu", "elu", "softplus", "silu", "swish",
    "leaky_relu",
)  # fmt: skip


def _where(layer: Any) -> str:
    return f"layer {type(layer).__name__} {layer.name!r}"


def _activation(layer: Any, config: dict[str, Any]) -> str:
    name = config.get("activation", "linear")
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"{_where(layer)}: activation {name!r} is not supported; supported: "
            f"{', '.join(ACTIVATIONS)}"
        )
    return name


def _penalties(layer: Any, weights: tuple[str, ...], where: str) -> dict[str, Any]:
    """The layer's ``<weight>_regularizer``, ``activity_regularizer`` and
    ``<weight>_constraint`` s, converted (None where unset)."""
    out: dict[str, Any] = {}
    for key in (*(f"{w}_regularizer" for w in weights), "activity_regularizer"):
        value = getattr(layer, key, None)
        out[key] = None if value is None else _convert(regularizer_from_keras, value, where)
    for key in (f"{w}_constraint" for w in weights):
        value = getattr(layer, key, None)
        out[key] = None if value is None else _convert(constraints_lib.from_keras, value, where)
    return out


def _options(layer: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Activation, bias, regularizers, constraints and initializers of a Dense / Conv2D."""
    where = _where(layer)
    options: dict[str, Any] = {
        "activation": _activation(layer, config),
        "use_bias": bool(config.get("use_bias", True)),
        "param_dtype": jnp.dtype(layer.variable_dtype),
    }
    options |= _penalties(layer, ("kernel", "bias"), where)
    for key in ("kernel", "bias"):
        try:
            init = from_keras_initializer(
                config.get(f"{key}_initializer"), f"{where} {key}_initializer"
            )
        except ValueError as err:  # raised if new weights are drawn (not for the file's)
            init = _Unsupported(str(err))
        options[f"{key}_init"] = init
    return options


def _built_with(cls: type, *args: Any, options: dict[str, Any], rngs: nnx.Rngs) -> Any:
    """``cls(*args, **options)`` built with zeros (the Keras weights are set next), keeping
    the converted initializers for ``reinitialize``."""
    zeros = nnx.initializers.zeros_init()
    layer = cls(*args, **{**options, "kernel_init": zeros, "bias_init": zeros}, rngs=rngs)
    layer.kernel_init, layer.bias_init = options["kernel_init"], options["bias_init"]
    return layer


class _Unsupported:
    """An initializer that cannot be converted: raises its error when new weights are drawn."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, *args: Any) -> Any:
        raise ValueError(self.message)


def _convert(fn: Callable[[Any], Any], value: Any, where: str) -> Any:
    try:
        return fn(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from err


def _check(layer: Any, config: dict[str, Any], **expected: Any) -> None:
    for key, want in expected.items():
        got = config.get(key, want)
        got = tuple(got) if isinstance(got, list) else got
        if got != want:
            raise ValueError(f"{_where(layer)}: {key}={got!r} is not supported (only {want!r})")


def _dense(layer: Any, config: dict[str, Any], rngs: nnx.Rngs) -> layers.Dense:
    if config.get("lora_rank") or getattr(layer, "quantization_mode", None):
        raise ValueError(f"{_where(layer)}: LoRA and quantized Dense layers are not supported")
    kernel_in, units = layer.kernel.shape
    return _built_with(layers.Dense, kernel_in, units, options=_options(layer, config), rngs=rngs)


def _conv(layer: Any, config: dict[str, Any], rngs: nnx.Rngs) -> layers.Conv:
    """A ``Conv2D`` as a ``Conv``, a ``Conv1D`` as a ``Conv1D``."""
    *size, channels, filters = layer.kernel.shape
    ones = (1,) * len(size)
    _check(layer, config, data_format="channels_last", dilation_rate=ones, groups=1)
    options = _options(layer, config) | {
        "strides": tuple(config["strides"]),
        "padding": config["padding"],
    }
    cls = layers.Conv1D if len(size) == 1 else layers.Conv
    return _built_with(cls, channels, filters, tuple(size), options=options, rngs=rngs)


def _weightless(layer: Any, config: dict[str, Any]) -> Any:
    """A pooling, ``Reshape`` or ``Activation`` layer (no weights, no activity penalty)."""
    kind = type(layer).__name__
    if kind == "Reshape":
        return layers.Reshape(config["target_shape"])
    if kind == "Activation":
        return layers.Activation(_activation(layer, config))
    _check(layer, config, data_format="channels_last")
    if kind.startswith("Global"):
        return getattr(layers, kind)(keepdims=bool(config["keepdims"]))
    pool_size, strides = tuple(config["pool_size"]), tuple(config["strides"])
    return getattr(layers, kind)(pool_size, strides=strides, padding=config["padding"])


def convert_layer(layer: Any, rngs: nnx.Rngs) -> Any:
    """The layer here of one Keras layer (None for an ``InputLayer``)."""
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "InputLayer":
        return None
    if kind in NO_ACTIVITY_PENALTY and getattr(layer, "activity_regularizer", None) is not None:
        raise ValueError(
            f"{_where(layer)}: activity_regularizer is supported on Dense, Conv1D, Conv2D and "
            "the normalization layers (or as an ActivityRegularization layer), not here"
        )
    if kind == "Dense":
        return _dense(layer, config, rngs)
    if kind in ("Conv1D", "Conv2D"):
        return _conv(layer, config, rngs)
    if kind in (*POOLING_LAYERS, "Reshape", "Activation"):
        return _weightless(layer, config)
    if kind == "Flatten":
        _check(layer, config, data_format="channels_last")
        return layers.Flatten()
    if kind == "ActivityRegularization":
        return layers.ActivityRegularization(l1=config["l1"], l2=config["l2"])
    if kind == "Dropout":
        seed = config.get("seed")
        rng = nnx.Rngs(dropout=0 if seed is None else int(seed))
        return layers.Dropout(config["rate"], noise_shape=config.get("noise_shape"), rngs=rng)
    if kind in NORMALIZATION_LAYERS:
        return _normalization(layer, config, rngs)
    if kind in MERGE_LAYERS:
        if kind == "Concatenate":
            return layers.Concatenate(axis=int(config["axis"]))
        return getattr(layers, kind)()
    raise ValueError(
        f"{_where(layer)}: not supported; supported layers: {', '.join(SUPPORTED_LAYERS)} "
        "(in a Sequential or a single-input, single-output functional model)"
    )


def _normalization_axis(layer: Any, axis: Any) -> None:
    """Raises unless ``axis`` is the last axis (-1, or its index for the layer's input)."""
    axes = list(axis) if isinstance(axis, list | tuple) else [axis]
    try:
        rank = len(layer.input.shape)
    except (AttributeError, ValueError):  # no single input: -1 alone is known to be last
        rank = None
    if len(axes) != 1 or axes[0] not in (-1, None if rank is None else rank - 1):
        raise ValueError(f"{_where(layer)}: axis={axis!r} is not supported (only -1, the last)")


def _normalization(
    layer: Any, config: dict[str, Any], rngs: nnx.Rngs
) -> layers.BatchNormalization | layers.LayerNormalization:
    """A ``BatchNormalization`` / ``LayerNormalization`` with its options (weights set later)."""
    where, batch = _where(layer), type(layer).__name__ == "BatchNormalization"
    for key in ("renorm", "synchronized") if batch else ():
        if config.get(key):
            raise ValueError(f"{where}: {key}=True is not supported")
    if not layer.trainable:
        raise ValueError(f"{where}: trainable=False (a frozen layer) is not supported")
    _normalization_axis(layer, config["axis"])
    options: dict[str, Any] = {
        "epsilon": config["epsilon"],
        "center": bool(config["center"]),
        "scale": bool(config["scale"]),
        "param_dtype": jnp.dtype(layer.variable_dtype),
    }
    if batch:
        options["momentum"] = config["momentum"]
    elif config.get("rms_scaling"):
        options["rms_scaling"] = True
    options |= _penalties(layer, ("beta", "gamma"), where)
    names = ("gamma", "beta", "moving_mean", "moving_variance") if batch else ("gamma", "beta")
    inits: dict[str, Any] = {}
    for name in names:
        try:
            inits[name] = from_keras_initializer(
                config.get(f"{name}_initializer"), f"{where} {name}_initializer"
            )
        except ValueError as err:  # raised if new weights are drawn (not for the file's)
            inits[name] = _Unsupported(str(err))
    features = int(layer.moving_mean.shape[0]) if batch else int(layer.input.shape[-1])
    cls = layers.BatchNormalization if batch else layers.LayerNormalization
    ours = cls(features, **options, rngs=rngs)  # default initializers; the Keras weights next
    for name, init in inits.items():
        setattr(ours, f"{name}_init", init)
    return ours
