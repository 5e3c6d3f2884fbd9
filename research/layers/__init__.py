"""Keras-style Flax NNX layers with weight and activity regularizers and constraints.

Each layer mirrors one Keras 3 layer, with the same keywords and parameter layout:

| here | Keras | parameters |
|---|---|---|
| ``Dense`` | ``keras.layers.Dense`` | ``kernel`` (in, out), ``bias`` |
| ``Conv`` | ``keras.layers.Conv2D`` (channels last) | ``kernel`` (kh, kw, in, out) |
| ``Conv1D`` | ``keras.layers.Conv1D`` (channels last) | ``kernel`` (k, in, out) |
| ``MaxPooling2D`` | ``keras.layers.MaxPooling2D`` | none (also ``1D``) |
| ``AveragePooling2D`` | ``keras.layers.AveragePooling2D`` | none (also ``1D``) |
| ``GlobalAveragePooling2D`` | ``keras.layers.GlobalAveragePooling2D`` | none (also ``1D``) |
| ``GlobalMaxPooling2D`` | ``keras.layers.GlobalMaxPooling2D`` | none (also ``1D``) |
| ``Reshape`` | ``keras.layers.Reshape`` | none |
| ``Activation`` | ``keras.layers.Activation`` | none |
| ``ActivityRegularization`` | ``keras.layers.ActivityRegularization`` | none |
| ``Flatten`` | ``keras.layers.Flatten`` | none |
| ``Dropout`` | ``keras.layers.Dropout`` | none (an RNG stream) |
| ``BatchNormalization`` | ``keras.layers.BatchNormalization`` | ``gamma``, ``beta`` (+ stats) |
| ``LayerNormalization`` | ``keras.layers.LayerNormalization`` | ``gamma``, ``beta`` |
| ``Add`` / ``Multiply`` | ``keras.layers.Add`` / ``Multiply`` | none |
| ``Average`` | ``keras.layers.Average`` | none |
| ``Concatenate`` | ``keras.layers.Concatenate`` | none |
| ``Sequential`` | ``keras.Sequential`` | ``layers/<i>/...`` |
| ``Graph`` | a functional ``keras.Model`` (a DAG) | ``layers/<i>/...`` |

* Activations (``ACTIVATIONS``, for ``Dense``, ``Conv``, ``Conv1D``, ``Activation``):
  linear, relu, tanh, sigmoid, softmax, gelu (the erf form), elu, softplus,
  silu / swish, leaky_relu (slope 0.2), as Keras's TensorFlow backend computes them.
* Pooling pads as TF's ``"SAME"`` (the odd entry after); a ``"same"`` average
  divides by the real entries of its window.
* Weight penalties: ``kernel_regularizer(kernel) + bias_regularizer(bias)``
  (``gamma_regularizer`` / ``beta_regularizer`` for the normalization layers),
  undivided, as Keras's ``Layer.losses``.
* Activity penalties: as Keras's ``Layer.__call__`` (``keras/src/layers/layer.py``),
  every call stores ``activity_regularizer(output) / output.shape[0]`` (the batch
  size of that call; no division for a scalar output) in an ``ActivityLoss``
  variable, which is not an ``nnx.Param`` and so is not trained. Inside
  ``example_weights(w)`` padded rows are left out (a compiled loop's last
  partial batch).
* ``Dropout`` drops only when called with ``training=True`` (``Sequential``
  passes ``training`` and ``rngs`` on), as a Keras model.
* ``BatchNormalization`` called with ``training=True`` normalizes by the batch
  and updates its moving statistics in place (``nnx.BatchStat`` variables, not
  trained); ``Graph`` passes ``training`` on to it, ``Sequential`` does not.

``regularization_loss(model)`` sums both over a model (the activity terms of
its most recent call), to add to the data loss inside ``nnx.value_and_grad``;
``constraints(model)`` is an optax transform, chained last, applying the
``kernel_constraint`` / ``bias_constraint`` (``gamma_`` / ``beta_constraint``)
callables after each update as Keras's optimizers do. Each public name's docstring has an example.
"""

from research.layers._base import (
    ACTIVATIONS,
    ActivityLoss,
    Layer,
    constraints,
    example_weights,
    regularization_loss,
)
from research.layers._core import ActivityRegularization, Conv, Conv1D, Dense
from research.layers._graph import Add, Average, Concatenate, Graph, Merge, Multiply
from research.layers._normalization import BatchNormalization, LayerNormalization
from research.layers._pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from research.layers._structure import LOGIT_ACTIVATIONS, Dropout, Flatten, Sequential
from research.layers._transform import Activation, Reshape

__all__ = [
    "ACTIVATIONS",
    "LOGIT_ACTIVATIONS",
    "Activation",
    "ActivityLoss",
    "ActivityRegularization",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv",
    "Conv1D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Graph",
    "Layer",
    "LayerNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "Merge",
    "Multiply",
    "Reshape",
    "Sequential",
    "constraints",
    "example_weights",
    "regularization_loss",
]
