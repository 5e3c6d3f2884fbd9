"""A Keras model's layers, weights, optimizer and loss, converted: ``from_keras_model``.

Private: import the public names from ``research.port``.
"""

from __future__ import annotations

import itertools
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
from research.port._init import from_keras_initializer
from research.port._loss import KerasLoss, from_keras_loss
from research.regularizers import from_keras as regularizer_from_keras

SUPPORTED_LAYERS = (
    "InputLayer", "Dense", "Conv2D", "Flatten", "ActivityRegularization", "Dropout",
)  # fmt: skip
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")

ParamPath = tuple[Any, ...]


class Ported(NamedTuple):
    """A converted Keras model.

    Attributes:
      model: the ``research.layers.Sequential`` with the Keras layers' weights,
        regularizers and constraints.
      tx: the compiled optimizer as an optax transformation, the layers'
        constraints chained last (None when the Keras model was not compiled).
      loss_fn: ``loss_fn(model, x, y, rngs=None)``: the compiled loss of a
        training call plus ``research.layers.regularization_loss(model)``
        (None when not compiled).
      loss: the compiled loss as a ``KerasLoss`` (None when not compiled).
    """

    model: layers.Sequential
    tx: optax.GradientTransformation | None
    loss_fn: Callable[..., jax.Array] | None
    loss: KerasLoss | None = None


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
    _check(layer, config, data_format="channels_last", dilation_rate=(1, 1), groups=1)
    kh, kw, channels, filters = layer.kernel.shape
    options = _options(layer, config) | {
        "strides": tuple(config["strides"]),
        "padding": config["padding"],
    }
    return _built_with(layers.Conv, channels, filters, (kh, kw), options=options, rngs=rngs)


def _layer(layer: Any, rngs: nnx.Rngs) -> Any:
    """The layer here of one Keras layer (None for an ``InputLayer``)."""
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "InputLayer":
        return None
    if kind == "Dense":
        return _dense(layer, config, rngs)
    if kind == "Conv2D":
        return _conv(layer, config, rngs)
    if kind == "Flatten":
        _check(layer, config, data_format="channels_last")
        return layers.Flatten()
    if kind == "ActivityRegularization":
        return layers.ActivityRegularization(l1=config["l1"], l2=config["l2"])
    if kind == "Dropout":
        seed = config.get("seed")
        rng = nnx.Rngs(dropout=0 if seed is None else int(seed))
        return layers.Dropout(config["rate"], noise_shape=config.get("noise_shape"), rngs=rng)
    if kind in ("Sequential", "Functional") and hasattr(layer, "layers"):
        return _sequential(layer, rngs)[0]
    raise ValueError(
        f"{_where(layer)}: not supported; supported layers: {', '.join(SUPPORTED_LAYERS)} "
        "(in a Sequential or a single-input, single-output chain)"
    )


def _chain(model: Any) -> list[Any]:
    """The layers of a Sequential, or of a functional model that is one chain."""
    ops = list(model.layers)
    if type(model).__name__ == "Sequential":
        return ops
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"model {model.name!r}: only single-input, single-output models")
    for before, after in itertools.pairwise(ops):
        if after.input is not before.output:
            raise ValueError(
                f"{_where(after)}: its input is not the output of {_where(before)}; only a "
                "chain of layers (as keras.Sequential) is supported"
            )
    return ops


def _sequential(model: Any, rngs: nnx.Rngs) -> tuple[layers.Sequential, dict[ParamPath, Any]]:
    """The converted model and, per parameter path, the Keras variable it came from."""
    converted: list[Any] = []
    variables: dict[ParamPath, Any] = {}
    for layer in _chain(model):
        ours = _layer(layer, rngs)
        if ours is None:
            continue
        index = len(converted)
        if isinstance(ours, layers.Sequential):
            inner = _sequential(layer, rngs)[1]
            variables |= {("layers", index, *path): v for path, v in inner.items()}
        for name in ("kernel", "bias"):
            if getattr(ours, name, None) is not None:
                getattr(ours, name)[...] = jnp.asarray(getattr(layer, name).numpy())
                variables[("layers", index, name)] = getattr(layer, name)
        converted.append(ours)
    shape = getattr(model, "input_shape", None)
    shape = shape[1:] if isinstance(shape, tuple) and None not in shape[1:] else None
    return layers.Sequential(converted, input_shape=shape), variables


def variable_paths(model: Any) -> dict[ParamPath, Any]:
    """The Keras variable behind each parameter path of ``from_keras_model(model).model``."""
    _built(model)
    return _sequential(model, nnx.Rngs(params=0))[1]


def _built(model: Any) -> None:
    if not getattr(model, "built", False) or not model.weights:
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
    """The activation of the last weighted layer (the one ``call_with_logits`` reports)."""
    for layer in reversed(list(model.layers)):
        if isinstance(layer, layers.Sequential):
            return final_activation(layer)
        if isinstance(layer, layers.Dense | layers.Conv):
            return layer.activation
    return None


def from_keras_model(model: Any) -> Ported:
    """Converts a built Keras 3 model, and its compiled optimizer and loss.

    Supported layers: ``InputLayer``, ``Dense``, ``Conv2D`` (channels last,
    ``valid`` / ``same`` padding, strides), ``Flatten``,
    ``ActivityRegularization``, ``Dropout``; activations linear, relu, tanh,
    sigmoid, softmax; in a ``keras.Sequential`` or a functional model that is
    one chain. Each layer keeps its weights, kernel / bias / activity
    regularizers, constraints and initializers (``research.port.reinitialize``
    draws new weights with them).

    Args:
      model: a built ``keras.Model``, compiled or not.

    Returns:
      ``Ported(model, tx, loss_fn, loss)``; ``tx`` is
      ``research.optim.from_keras_optimizer(optimizer)`` chained with the
      layers' constraints, ``loss_fn`` the compiled loss plus the penalties.

    Raises:
      ValueError: naming an unsupported layer (its class and name), activation,
        initializer, regularizer, constraint, optimizer or loss, and the
        supported set.

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
    return Ported(ours, tx, loss_function(loss), loss)


def reinitialize(model: layers.Sequential, key: jax.Array) -> layers.Sequential:
    """A copy of ``model`` with new weights from its layers' initializers and ``key``.

    The layer at path ``("layers", i)`` draws its kernel from
    ``fold_in(fold_in(key, i), 0)`` and its bias from ``fold_in(fold_in(key, i), 1)``
    (nested ``Sequential`` s fold in each index of the path), with the layer's
    Keras initializers. Works inside ``jax.jit`` / ``jax.vmap`` (a traced key).

    Example::

      fresh = reinitialize(ported.model, jax.random.key(1))
    """
    # nnx.split with two filters returns three parts; its stub says "two or more"
    graph, params, rest = cast(
        "tuple[nnx.GraphDef[Any], nnx.State, nnx.State]", nnx.split(model, nnx.Param, ...)
    )
    values = nnx.to_pure_dict(params)
    for path, layer in nnx.iter_graph(model):
        if not isinstance(layer, layers.Dense | layers.Conv):
            continue
        layer_key = key
        for entry in path:
            if isinstance(entry, int):
                layer_key = jax.random.fold_in(layer_key, entry)
        node: Any = values
        for entry in path:
            node = node[entry]
        for j, name in enumerate(("kernel", "bias")):
            param = getattr(layer, name, None)
            if param is not None:
                init = getattr(layer, f"{name}_init")
                node[name] = init(jax.random.fold_in(layer_key, j), param.shape, param.dtype)
    # Pure dicts: the copy's variables are created here (also inside a trace).
    return nnx.merge(graph, values, nnx.to_pure_dict(rest))


def initial_learning_rate(optimizer: Any) -> float:
    """A Keras optimizer's learning rate at step 0 (a schedule's first value)."""
    keras = import_keras()
    rate = optimizer._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return float(np.asarray(rate(0)))
    return float(np.asarray(rate))
