"""A model of ``research.layers`` as a Keras 3 model: ``to_keras_model``.

``EXPORTERS`` maps each layer class to the function that makes its Keras
layer (``research.port._keras_layers``) or, for ``Sequential`` and
``Graph``, its nested Keras model; a new layer class is one entry. Private:
import the public names from ``research.port``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx

from research import layers
from research.compat import import_keras
from research.port._keras_layers import LAYER_EXPORTERS, Context, Exported, Exporter
from research.port._loss import BCE, CCE, MAE, MSE, SPARSE_CCE, KerasLoss
from research.port._model import Ported


def _shape(tensor: Any) -> tuple[Any, ...]:
    return tuple(tensor.shape[1:])


def _exporter(layer: Any, where: str) -> Exporter:
    for cls in type(layer).__mro__:  # a subclass uses its nearest registered base's entry
        if cls in EXPORTERS:
            return EXPORTERS[cls]
    supported = ", ".join(sorted(cls.__name__ for cls in EXPORTERS))
    raise ValueError(
        f"{where}: no Keras export for {type(layer).__name__}; supported: {supported} "
        "(research.port.EXPORTERS)"
    )


def _call(layer: Any, path: str, dtype: str, inputs: Any) -> tuple[Any, Any]:
    """Exports one layer, calls it on the symbolic ``inputs`` (building it), sets its
    weights; returns the Keras layer and its symbolic output."""
    where = f"{path} ({type(layer).__name__})"
    shape = [_shape(x) for x in inputs] if isinstance(inputs, list) else _shape(inputs)
    exported = _exporter(layer, where)(layer, Context(path, where, dtype, shape))
    out = exported.layer(inputs)
    if exported.weights:
        try:
            exported.layer.set_weights(exported.weights)
        except ValueError as err:
            raise ValueError(f"{where}: the Keras layer's weights do not fit: {err}") from err
    return exported.layer, out


def _chain(model: layers.Sequential, x: Any, prefix: str, dtype: str) -> list[Any]:
    """The Keras layers of a ``Sequential``'s layers, built on the symbolic ``x``."""
    out = []
    for i, layer in enumerate(model.layers):
        keras_layer, x = _call(layer, f"{prefix}layers/{i}", dtype, x)
        out.append(keras_layer)
    return out


def _sequential(layer: layers.Sequential, ctx: Context) -> Exported:
    """A ``keras.Sequential`` (with its ``Input`` when the layer has an ``input_shape``).

    The weights are set while its layers are built, so none are returned.
    """
    keras = import_keras()
    shape = layer.input_shape or ctx.input_shape
    inner = _chain(layer, keras.Input(shape, dtype=ctx.dtype), f"{ctx.path}/", ctx.dtype)
    if layer.input_shape is not None:
        inner = [keras.Input(layer.input_shape, dtype=ctx.dtype), *inner]
    return Exported(keras.Sequential(inner), [])


def _graph(layer: layers.Graph, ctx: Context) -> Exported:
    """A functional ``keras.Model`` wired by the ``Graph``'s ``sources``."""
    keras = import_keras()
    inputs = keras.Input(layer.input_shape or ctx.input_shape, dtype=ctx.dtype)
    nodes: list[Any] = []
    prefix = f"{ctx.path}/" if ctx.path else ""
    for i, (sub, sources) in enumerate(zip(layer.layers, layer.sources, strict=True)):
        found = [inputs if j == -1 else nodes[j] for j in sources]
        x = found if isinstance(sub, layers.Merge) else found[0]
        nodes.append(_call(sub, f"{prefix}layers/{i}", ctx.dtype, x)[1])
    return Exported(keras.Model(inputs, nodes[-1]), [])


EXPORTERS: dict[type, Exporter] = {
    **LAYER_EXPORTERS,
    layers.Sequential: _sequential,
    layers.Graph: _graph,
}
"""Layer class -> ``Exporter`` ``(layer, Context) -> Exported(keras_layer, weights)``.

A new layer class is one entry; a subclass uses its nearest registered
base's entry. ``Context`` gives the layer's path, the model's dtype and the
input shape; ``Exported`` holds the Keras layer (not yet called) and its
weights in ``get_weights()`` order.
"""


# --------------------------------------------------------------------------- compile
def keras_loss(loss: KerasLoss) -> Any:
    """The ``keras.losses`` object of a ``KerasLoss``, with its options.

    ``epsilon`` is not an option of Keras's losses: Keras reads
    ``keras.config.epsilon()`` when the loss is computed.

    Args:
      loss: a ``KerasLoss`` (``Ported.loss``).

    Returns:
      ``MeanSquaredError``, ``MeanAbsoluteError``, ``BinaryCrossentropy``,
      ``CategoricalCrossentropy`` or ``SparseCategoricalCrossentropy`` with
      the same ``from_logits``, ``label_smoothing``, ``axis`` and ``reduction``.

    Examples:
      >>> import keras
      >>> import numpy as np
      >>> from research.port import KerasLoss, keras_loss
      >>> ours = KerasLoss("binary_crossentropy", from_logits=True, label_smoothing=0.1)
      >>> loss = keras_loss(ours)
      >>> config = loss.get_config()
      >>> type(loss).__name__, config["from_logits"], config["label_smoothing"]
      ('BinaryCrossentropy', True, 0.1)
      >>> y_true = np.array([[1.0], [0.0]], "float32")
      >>> logits = np.array([[2.0], [-1.0]], "float32")
      >>> bool(np.isclose(loss(y_true, logits), ours(y_true, logits)))
      True
      >>> keras_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
      >>> keras_model.compile(optimizer="sgd", loss=loss)
    """
    losses = import_keras().losses
    reduction = {"reduction": loss.reduction}
    if loss.name == MSE:
        return losses.MeanSquaredError(**reduction)
    if loss.name == MAE:
        return losses.MeanAbsoluteError(**reduction)
    options = {"from_logits": loss.from_logits, "axis": loss.axis, **reduction}
    if loss.name == SPARSE_CCE:
        return losses.SparseCategoricalCrossentropy(**options)
    cls = {BCE: losses.BinaryCrossentropy, CCE: losses.CategoricalCrossentropy}[loss.name]
    return cls(label_smoothing=loss.label_smoothing, **options)


def _keras_optimizer(optimizer: Any) -> Any:
    """A string, or a Keras optimizer (copied from its config if it already trained a model)."""
    keras = import_keras()
    if isinstance(optimizer, str):
        return optimizer
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"optimizer: expected a keras.optimizers object or a string, got "
            f"{type(optimizer).__name__} (an optax transform has no Keras form)"
        )
    if getattr(optimizer, "built", False):
        return type(optimizer).from_config(optimizer.get_config())
    return optimizer


# --------------------------------------------------------------------------- the model
def _dtype(model: layers.Sequential) -> str:
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    return str(np.asarray(params[0]).dtype) if params else import_keras().config.floatx()


def to_keras_model(
    model: layers.Sequential | Ported,
    *,
    input_shape: Sequence[int] | None = None,
    optimizer: Any = None,
    loss: Any = None,
) -> Any:
    """A ``research.layers`` model as a Keras 3 model with the same weights.

    Every layer becomes its Keras layer (``EXPORTERS``), with its activation,
    its kernel / bias / activity (``gamma`` / ``beta``) regularizers
    (``reg.to_keras()``), its constraints (``constraint.to_keras()``) and its
    initializers where they are Keras's (``research.port``'s conversions,
    Flax's Glorot / He / LeCun, zeros, ones, constants; another keeps
    Keras's default, which matters only for new weights). The weights (and
    a ``BatchNormalization``'s moving statistics) are set bit for bit; every
    layer and the ``Input`` get the model's dtype (float64 parameters make a
    float64 Keras model). A ``Sequential`` becomes a ``keras.Sequential``, a
    ``Graph`` a functional ``keras.Model``, nested ones nested models, so
    ``from_keras_model(to_keras_model(m))`` has ``m``'s parameters. Nothing
    outside ``keras`` is used: the saved file loads with ``safe_mode=True``.

    Args:
      model: a ``research.layers.Sequential`` or ``Graph`` (from
        ``from_keras_model`` or built directly), or a ``Ported``: its model,
        compiled with its Keras optimizer (``ported.keras_optimizer``, the
        compiled model's config, a fresh state) and its loss
        (``keras_loss(ported.loss)``) unless ``optimizer`` / ``loss`` are
        given. A ``Ported`` with a ``tx`` but no Keras optimizer's config
        needs ``optimizer``.
      input_shape: the input shape without the batch axis; default: the
        model's ``input_shape`` (``from_keras_model`` sets it).
      optimizer: compiles the Keras model with it: a ``keras.optimizers``
        object (one that already trained a model is copied from its config)
        or a Keras name (``"sgd"``). None: not compiled.
      loss: with ``optimizer``: a Keras loss (name or object) or a ``KerasLoss``.

    Returns:
      A built ``keras.Sequential`` (a functional ``keras.Model`` for a ``Graph``).

    Raises:
      ValueError: naming ``input_shape`` when the shape is unknown;
        ``optimizer`` when it is missing (a ``Ported`` with a ``tx`` and
        no Keras optimizer's config, or a ``loss`` alone) or not a Keras one; the layer path and the
        regularizer or constraint that has no Keras form (``GroupLasso``,
        ``MCP``, a plain callable, ...); a layer class without an entry.

    Examples:
      >>> import os
      >>> import tempfile
      >>> import jax.numpy as jnp
      >>> import keras
      >>> import numpy as np
      >>> from flax import nnx
      >>> import research.port
      >>> from research.layers import Dense, Sequential
      >>> from research.regularizers import L1
      >>> model = Sequential(
      ...     Dense(3, 2, activation="relu", kernel_regularizer=L1(0.01), rngs=nnx.Rngs(0))
      ... )
      >>> keras_model = research.port.to_keras_model(model, input_shape=(3,))
      >>> keras_model.layers[0].kernel_regularizer.get_config()
      {'l1': 0.009999999776482582}
      >>> bool(np.array_equal(keras_model.layers[0].kernel, model.layers[0].kernel[...]))
      True
      >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
      >>> keras_model.save(path)
      >>> loaded = keras.saving.load_model(path, safe_mode=True)
      >>> x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
      >>> bool(np.allclose(loaded(x), model(jnp.asarray(x))))
      True

      A ``Ported`` comes back compiled as the original, or with another optimizer:

      >>> original = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
      >>> original.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mae")
      >>> ported = research.port.from_keras_model(original)
      >>> keras_model = research.port.to_keras_model(ported)
      >>> type(keras_model.optimizer).__name__, type(keras_model.loss).__name__
      ('SGD', 'MeanAbsoluteError')
      >>> keras_model = research.port.to_keras_model(ported, optimizer=keras.optimizers.Adam(0.1))
      >>> type(keras_model.optimizer).__name__, type(keras_model.loss).__name__
      ('Adam', 'MeanAbsoluteError')
    """
    keras = import_keras()
    if isinstance(model, Ported):
        if optimizer is None and model.keras_optimizer is not None:
            optimizer = keras.optimizers.deserialize(model.keras_optimizer)
        if model.tx is not None and optimizer is None:
            raise ValueError(
                "optimizer: this Ported's optimizer is an optax transform without a Keras "
                "optimizer's config (from_keras_model keeps one); pass "
                "optimizer=keras.optimizers.<Class>(...), or export ported.model uncompiled"
            )
        loss = model.loss if loss is None else loss
        model = model.model
    if not isinstance(model, layers.Sequential):
        raise TypeError(
            f"model: expected a research.layers.Sequential, Graph or Ported, got "
            f"{type(model).__name__}"
        )
    if loss is not None and optimizer is None:
        raise ValueError("optimizer: a loss was given without an optimizer to compile with")
    shape = model.input_shape if input_shape is None else tuple(int(d) for d in input_shape)
    if shape is None:
        raise ValueError(
            "input_shape: the model has no input_shape (it is set by from_keras_model); "
            "pass input_shape=(features,), without the batch axis"
        )
    dtype = _dtype(model)
    if isinstance(model, layers.Graph):
        out = _graph(model, Context("", "the model", dtype, shape)).layer
    else:
        inner = _chain(model, keras.Input(shape, dtype=dtype), "", dtype)
        out = keras.Sequential([keras.Input(shape, dtype=dtype), *inner])
    if optimizer is not None:
        loss = keras_loss(loss) if isinstance(loss, KerasLoss) else loss
        out.compile(optimizer=_keras_optimizer(optimizer), loss=loss)
    return out
