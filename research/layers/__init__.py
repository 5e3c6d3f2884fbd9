"""Keras-style Flax NNX layers with weight and activity regularizers and constraints.

Each layer mirrors one Keras 3 layer, with the same keywords and parameter layout:

==========================  =======================================  ===========================
here                        Keras                                    parameters
==========================  =======================================  ===========================
``Dense``                   ``keras.layers.Dense``                   ``kernel`` (in, out), ``bias``
``Conv``                    ``keras.layers.Conv2D`` (channels last)  ``kernel`` (kh, kw, in, out)
``ActivityRegularization``  ``keras.layers.ActivityRegularization``  none
``Flatten``                 ``keras.layers.Flatten``                 none
``Dropout``                 ``keras.layers.Dropout``                 none (an RNG stream)
``Sequential``              ``keras.Sequential``                     ``layers/<i>/...``
==========================  =======================================  ===========================

* Weight penalties: ``kernel_regularizer(kernel) + bias_regularizer(bias)``,
  undivided, as Keras's ``Layer.losses``.
* Activity penalties: as Keras's ``Layer.__call__`` (``keras/src/layers/layer.py``),
  every call stores ``activity_regularizer(output) / output.shape[0]`` (the batch
  size of that call; no division for a scalar output) in an ``ActivityLoss``
  variable, which is not an ``nnx.Param`` and so is not trained. Inside
  ``example_weights(w)`` padded rows are left out (a compiled loop's last
  partial batch).
* ``Dropout`` drops only when called with ``training=True`` (``Sequential``
  passes ``training`` and ``rngs`` on), as a Keras model.

``regularization_loss(model)`` sums both over a model (the activity terms of
its most recent call), to add to the data loss inside ``nnx.value_and_grad``;
``constraints(model)`` is an optax transform, chained last, applying the
``kernel_constraint`` / ``bias_constraint`` callables after each update as
Keras's optimizers do. Each public name's docstring has an example.
"""

from research.layers._base import (
    ACTIVATIONS,
    ActivityLoss,
    Layer,
    constraints,
    example_weights,
    regularization_loss,
)
from research.layers._core import ActivityRegularization, Conv, Dense
from research.layers._structure import LOGIT_ACTIVATIONS, Dropout, Flatten, Sequential

__all__ = [
    "ACTIVATIONS",
    "LOGIT_ACTIVATIONS",
    "ActivityLoss",
    "ActivityRegularization",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "Sequential",
    "constraints",
    "example_weights",
    "regularization_loss",
]
