"""A Keras model's layers, weights, optimizer and loss, converted: ``from_keras_model``.

Private: import the public names from ``research.port``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from research import constraints as constraints_lib
from research import layers
from research.compat import import_keras
from research.optim import from_keras_optimizer
from research.port._functional import layer_calls
from research.port._init import from_keras_initializer
from research.port._loss import KerasLoss, from_keras_loss
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

ParamPath = tuple[Any, ...]


class Ported(NamedTuple):
    """A converted Keras model.

    Attributes:
      model: the ``research.layers.Sequential`` with the Keras layers' weights,
        regularizers and constraints: a ``research.layers.Graph`` (a
        ``Sequential`` whose layers are wired as a graph) for a functional
        model that is not a chain, or has ``BatchNormalization``.
      tx: the compiled optimizer as an optax transformation, the layers'
        constraints chained last (None when the Keras model was not compiled).
      loss_fn: ``loss_fn(model, x, y, rngs=None)``: the compiled loss of a
        training call plus ``research.layers.regularization_loss(model)``
        (None when not compiled).
      loss: the compiled loss as a ``KerasLoss`` (None when not compiled).
      keras_optimizer: the compiled Keras optimizer's serialized config
        (``keras.optimizers.serialize``; None when not compiled): what
        ``to_keras_model`` compiles an exported model with. It stays when
        ``tx`` is replaced (a proximal step chained to it has no Keras form).
    """

    model: layers.Sequential
    tx: optax.GradientTransformation | None
    loss_fn: Callable[..., jax.Array] | None
    loss: KerasLoss | None = None
    keras_optimizer: dict[str, Any] | None = None


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


def _options(layer: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Activation, bias, regularizers, constraints and initializers of a Dense / Conv2D."""
    where = _where(layer)
    options: dict[str, Any] = {
        "activation": _activation(layer, config),
        "use_bias": bool(config.get("use_bias", True)),
        "param_dtype": jnp.dtype(layer.variable_dtype),
    }
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
        value = getattr(layer, key, None)
        options[key] = None if value is None else _convert(regularizer_from_keras, value, where)
    for key in ("kernel_constraint", "bias_constraint"):
        value = getattr(layer, key, None)
        options[key] = None if value is None else _convert(constraints_lib.from_keras, value, where)
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


def _layer(layer: Any, rngs: nnx.Rngs) -> Any:
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
    if kind in ("Sequential", "Functional") and hasattr(layer, "layers"):
        return _sequential(layer, rngs)[0]
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
    for key in ("beta_regularizer", "gamma_regularizer", "activity_regularizer"):
        value = getattr(layer, key, None)
        options[key] = None if value is None else _convert(regularizer_from_keras, value, where)
    for key in ("beta_constraint", "gamma_constraint"):
        value = getattr(layer, key, None)
        options[key] = None if value is None else _convert(constraints_lib.from_keras, value, where)
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


def _weights(layer: Any, ours: Any, index: int) -> dict[ParamPath, Any]:
    """Sets ``ours``'s weights (and moving statistics) to the Keras layer's; returns, per
    parameter path, the Keras variable."""
    variables: dict[ParamPath, Any] = {}
    for name in ours.weight_names if isinstance(ours, layers.Layer) else ():
        if getattr(ours, name, None) is not None:
            getattr(ours, name)[...] = jnp.asarray(getattr(layer, name).numpy())
            variables[("layers", index, name)] = getattr(layer, name)
    if isinstance(ours, layers.BatchNormalization):  # statistics, not parameters
        ours.moving_mean[...] = jnp.asarray(layer.moving_mean.numpy())
        ours.moving_variance[...] = jnp.asarray(layer.moving_variance.numpy())
    return variables


def _sequential(model: Any, rngs: nnx.Rngs) -> tuple[layers.Sequential, dict[ParamPath, Any]]:
    """The converted model and, per parameter path, the Keras variable it came from.

    A chain of layers becomes a ``Sequential``; a graph (or a chain with a merge
    layer) a ``Graph``. Both name parameters ``layers/<i>/...``.
    """
    converted: list[Any] = []
    variables: dict[ParamPath, Any] = {}
    calls = layer_calls(model)
    for index, (layer, _) in enumerate(calls):
        if type(layer).__name__ in ("Sequential", "Functional") and hasattr(layer, "layers"):
            ours, inner = _sequential(layer, rngs)
            variables |= {("layers", index, *path): v for path, v in inner.items()}
        else:
            ours = _layer(layer, rngs)
            variables |= _weights(layer, ours, index)
        converted.append(ours)
    shape = getattr(model, "input_shape", None)
    shape = shape[1:] if isinstance(shape, tuple) and None not in shape[1:] else None
    sources = [s for _, s in calls]
    chain = all(s == (i - 1,) for i, s in enumerate(sources))
    if chain and not any(isinstance(o, layers.Merge) for o in converted):
        return layers.Sequential(converted, input_shape=shape), variables
    return layers.Graph(converted, sources=sources, input_shape=shape), variables


def variable_paths(model: Any) -> dict[ParamPath, Any]:
    """The Keras variable behind each parameter path of ``from_keras_model(model).model``."""
    _built(model)
    return _sequential(model, nnx.Rngs(params=0))[1]


def _built(model: Any) -> None:
    # `built`, not `weights`: a model of pooling / reshaping layers has none.
    if not getattr(model, "built", False):
        raise ValueError(
            f"model {getattr(model, 'name', model)!r}: not built; give it an Input shape "
            "(keras.Input) or call it on data first"
        )


def loss_function(loss: KerasLoss) -> Callable[..., jax.Array]:
    """``loss_fn(model, x, y, rngs=None)``: a training call's loss, as Keras sums it."""

    def loss_fn(model: layers.Sequential, x, y, rngs=None) -> jax.Array:
        pred, logits = model.call_with_logits(x, training=True, rngs=rngs)
        logits = logits if loss.activation and final_activation(model) == loss.activation else None
        return loss(y, pred, logits=logits) + layers.regularization_loss(model)

    return loss_fn


def final_activation(model: layers.Sequential) -> str | None:
    """The activation of the last ``Dense`` / ``Conv`` / non-linear ``Activation`` layer
    (the one ``call_with_logits`` reports)."""
    if isinstance(model, layers.Graph):
        return _graph_final_activation(model)
    for layer in reversed(list(model.layers)):
        if isinstance(layer, layers.Sequential):
            return final_activation(layer)
        if isinstance(layer, layers.Activation) and layer.activation in (None, "linear"):
            continue  # the identity: Keras's logits pass through it
        if isinstance(layer, layers.Dense | layers.Conv | layers.Activation):
            return layer.activation
    return None


def _graph_final_activation(model: layers.Graph) -> str | None:
    """``final_activation`` of a ``Graph``: the output's sources followed back (None at a merge)."""
    i = len(model.layers) - 1
    while i >= 0:
        layer = model.layers[i]
        if isinstance(layer, layers.Sequential):
            return final_activation(layer)
        if isinstance(layer, layers.Merge):
            return None
        linear = isinstance(layer, layers.Activation) and layer.activation in (None, "linear")
        if not linear and isinstance(layer, layers.Dense | layers.Conv | layers.Activation):
            return layer.activation
        i = model.sources[i][0]
    return None


def from_keras_model(model: Any) -> Ported:
    """Converts a built Keras 3 model, and its compiled optimizer and loss.

    Supported layers: ``InputLayer``, ``Dense``, ``Conv2D`` and ``Conv1D``
    (channels last, ``valid`` / ``same`` padding, ``causal`` for ``Conv1D``,
    strides; no dilation or groups), ``MaxPooling1D`` / ``2D``,
    ``AveragePooling1D`` / ``2D`` (``valid`` / ``same``, strides),
    ``GlobalAveragePooling1D`` / ``2D``, ``GlobalMaxPooling1D`` / ``2D``,
    ``Flatten``, ``Reshape``, ``Activation``, ``ActivityRegularization``,
    ``Dropout``, ``BatchNormalization`` and ``LayerNormalization`` (last
    axis; no renorm, synchronized or frozen layers), the merge layers ``Add``,
    ``Concatenate``, ``Multiply``, ``Average``; activations linear, relu,
    tanh, sigmoid, softmax, gelu, elu, softplus, silu / swish, leaky_relu; in
    a ``keras.Sequential`` or a functional model with one input and one output
    whose layers form a directed acyclic graph (each layer called once; a
    residual block, for one). A chain becomes a ``research.layers.Sequential``,
    anything else a ``research.layers.Graph``. Each layer keeps its weights (and moving
    statistics), kernel / bias / gamma / beta / activity regularizers,
    constraints and initializers (``research.port.reinitialize`` draws new
    weights with them).

    Args:
      model: a built ``keras.Model``, compiled or not.

    Returns:
      ``Ported(model, tx, loss_fn, loss, keras_optimizer)``; ``tx`` is
      ``research.optim.from_keras_optimizer(optimizer)`` chained with the
      layers' constraints, ``loss_fn`` the compiled loss plus the penalties.

    Raises:
      ValueError: naming an unsupported layer (its class and name), activation,
        initializer, regularizer, constraint, optimizer or loss, and the
        supported set; or the model, when it has several inputs or outputs,
        a shared layer or a ``keras.ops`` operation.

    Example::

      keras_model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                          loss="sparse_categorical_crossentropy")
      ported = research.port.from_keras_model(keras_model)
      trained, losses = research.port.fit(ported, x, y, epochs=3, batch_size=32)
    """
    _built(model)
    ours, variables = _sequential(model, nnx.Rngs(params=0))
    if not getattr(model, "compiled", False):
        return Ported(ours, None, None, None)
    loss = from_keras_loss(model.loss)
    optimizer = from_keras_optimizer(model.optimizer, variables=variables)
    tx = optax.chain(optimizer, layers.constraints(ours))
    config = import_keras().optimizers.serialize(model.optimizer)
    return Ported(ours, tx, loss_function(loss), loss, config)


def reinitialize(model: layers.Sequential, key: jax.Array) -> layers.Sequential:
    """A copy of ``model`` with new weights from its layers' initializers and ``key``.

    The layer at path ``("layers", i)`` draws its kernel from
    ``fold_in(fold_in(key, i), 0)`` and its bias from ``fold_in(fold_in(key, i), 1)``
    (nested ``Sequential`` s fold in each index of the path), with the layer's
    Keras initializers; a normalization layer its ``gamma`` (0) and ``beta``
    (1), and a ``BatchNormalization`` its moving mean (2) and variance (3) too.
    Works inside ``jax.jit`` / ``jax.vmap`` (a traced key).

    Example::

      fresh = reinitialize(ported.model, jax.random.key(1))
    """
    # nnx.split with two filters returns three parts; its stub says "two or more"
    graph, params, rest = cast(
        "tuple[nnx.GraphDef[Any], nnx.State, nnx.State]", nnx.split(model, nnx.Param, ...)
    )
    values, others = nnx.to_pure_dict(params), nnx.to_pure_dict(rest)
    for path, layer in nnx.iter_graph(model):
        if not isinstance(layer, layers.Layer):
            continue
        layer_key = key
        for entry in path:
            if isinstance(entry, int):
                layer_key = jax.random.fold_in(layer_key, entry)
        names = [(values, name) for name in layer.weight_names]
        if isinstance(layer, layers.BatchNormalization):  # statistics: not parameters
            names += [(others, "moving_mean"), (others, "moving_variance")]
        for j, (tree, name) in enumerate(names):
            weight = getattr(layer, name, None)
            if weight is None:
                continue
            node: Any = tree
            for entry in path:
                node = node[entry]
            init = getattr(layer, f"{name}_init")
            node[name] = init(jax.random.fold_in(layer_key, j), weight.shape, weight.dtype)
    # Pure dicts: the copy's variables are created here (also inside a trace).
    return nnx.merge(graph, values, others)


def initial_learning_rate(optimizer: Any) -> float:
    """A Keras optimizer's learning rate at step 0 (a schedule's first value)."""
    keras = import_keras()
    rate = optimizer._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return float(np.asarray(rate(0)))
    return float(np.asarray(rate))
