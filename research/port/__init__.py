"""Bring a Keras model over: its layers, weights, compiled optimizer and loss.

``from_keras_model(model)`` converts a built (and usually compiled) Keras 3
model into ``Ported(model, tx, loss_fn, loss, keras_optimizer)``: a
``research.layers.Sequential`` with the same weights, regularizers and
constraints, the compiled optimizer as an optax transformation
(``research.optim.from_keras_optimizer``, the constraints chained last), the
compiled loss plus the layers' penalties, and the optimizer's Keras config.
``fit(ported, x, y, epochs=..., batch_size=...)`` trains it as ``model.fit``
does, and ``ported.model`` works with ``nnx.Optimizer`` in one's own loop.
``load_keras_model(path)`` reads a ``.keras`` file with Keras's safe mode on.

Back to Keras: ``to_keras_model(model)`` builds the Keras model of a
``research.layers`` model (same weights bit for bit, regularizers,
constraints, initializers; one ``EXPORTERS`` entry per layer class), and
``prune(model)`` first removes the units whose weights make them irrelevant.

Examples:
  A Keras model with a dead ReLU unit (no input weights, no bias), which training
  leaves dead:

  >>> import os
  >>> import tempfile
  >>> import jax.numpy as jnp
  >>> import keras
  >>> import numpy as np
  >>> import research.port
  >>> keras_model = keras.Sequential(
  ...     [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
  ... )
  >>> keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
  >>> kernel, bias = keras_model.layers[0].get_weights()
  >>> kernel[:, 3] = 0.0
  >>> keras_model.layers[0].set_weights([kernel, bias])
  >>> ported = research.port.from_keras_model(keras_model)
  >>> x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
  >>> y = x.sum(axis=1, keepdims=True)
  >>> model, losses = research.port.fit(ported, x, y, epochs=3, batch_size=4)
  >>> bool(losses[-1] < losses[0])
  True
  >>> path = os.path.join(tempfile.mkdtemp(), "small.keras")
  >>> research.port.to_keras_model(research.port.prune(model)).save(path)
  >>> small = research.port.load_keras_model(path)
  >>> [layer.units for layer in small.layers]  # the dead unit is gone
  [3, 1]
  >>> bool(np.allclose(small(x), model(jnp.asarray(x)), atol=1e-6))
  True
"""

from research.port._cache import (
    cached_loss,
    cached_model,
    cached_optimizer,
    cached_variables,
    file_version,
)
from research.port._converters import SUPPORTED_LAYERS
from research.port._export import EXPORTERS, keras_loss, to_keras_model
from research.port._file import load_keras_model
from research.port._fit import FitResult, fit
from research.port._init import from_keras_initializer
from research.port._keras_layers import Context, Exported, Exporter
from research.port._loss import KerasLoss, from_keras_loss
from research.port._model import (
    Ported,
    final_activation,
    from_keras_model,
    initial_learning_rate,
    loss_function,
    reinitialize,
    variable_paths,
)
from research.port._prune import PASS_THROUGH, Through, prune, remove_units

__all__ = [
    "EXPORTERS",
    "PASS_THROUGH",
    "SUPPORTED_LAYERS",
    "Context",
    "Exported",
    "Exporter",
    "FitResult",
    "KerasLoss",
    "Ported",
    "Through",
    "cached_loss",
    "cached_model",
    "cached_optimizer",
    "cached_variables",
    "file_version",
    "final_activation",
    "fit",
    "from_keras_initializer",
    "from_keras_loss",
    "from_keras_model",
    "initial_learning_rate",
    "keras_loss",
    "load_keras_model",
    "loss_function",
    "prune",
    "reinitialize",
    "remove_units",
    "to_keras_model",
    "variable_paths",
]
