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

from research import layers
from research.compat import import_keras
from research.optim import from_keras_optimizer
from research.port._converters import convert_layer
from research.port._functional import layer_calls
from research.port._loss import KerasLoss, from_keras_loss

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
            ours = convert_layer(layer, rngs)
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

    Examples:
      >>> import jax.numpy as jnp
      >>> import keras
      >>> import numpy as np
      >>> import research.port
      >>> l1 = keras.regularizers.L1(0.01)
      >>> keras_model = keras.Sequential([
      ...     keras.Input((3,)),
      ...     keras.layers.Dense(4, activation="relu", kernel_regularizer=l1),
      ...     keras.layers.Dense(2, activation="softmax"),
      ... ])
      >>> keras_model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
      ...                     loss="sparse_categorical_crossentropy")
      >>> ported = research.port.from_keras_model(keras_model)
      >>> type(ported.model).__name__, ported.loss.name, ported.keras_optimizer["class_name"]
      ('Sequential', 'sparse_categorical_crossentropy', 'SGD')
      >>> ported.model.layers[0].kernel_regularizer
      L1(l1=0.009999999776482582)
      >>> x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
      >>> y = (x.sum(axis=1) > 0).astype("int32")
      >>> bool(np.allclose(ported.model(jnp.asarray(x)), keras_model(x), atol=1e-6))
      True
      >>> trained, losses = research.port.fit(ported, x, y, epochs=3, batch_size=4)
      >>> losses.shape, bool(losses[-1] < losses[0])
      ((3,), True)
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

    Examples:
      >>> import jax
      >>> from flax import nnx
      >>> from research.layers import Dense, Sequential
      >>> from research.port import reinitialize
      >>> model = Sequential(Dense(3, 2, rngs=nnx.Rngs(0)))
      >>> fresh = reinitialize(model, jax.random.key(1))
      >>> kernel = fresh.layers[0].kernel[...]
      >>> kernel.shape, bool((kernel != model.layers[0].kernel[...]).all())
      ((3, 2), True)
      >>> fresh.layers[0].bias[...]  # the bias initializer: zeros
      Array([0., 0.], dtype=float32)
      >>> again = reinitialize(model, jax.random.key(1))
      >>> bool((again.layers[0].kernel[...] == kernel).all())  # the same key, the same weights
      True
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
