"""optax transforms that regularize: penalty subgradients and proximal steps.

Two ways to minimize ``loss(w) + R(w)`` with a ``research.regularizers`` penalty:

* **Subgradient** (what Keras does with ``kernel_regularizer``): add the
  penalty's (sub)gradient to the loss gradient, then take any optimizer step.
  ``add_regularization(reg)`` goes *before* the optimizer in a chain:

  ```python
  tx = optax.chain(add_regularization(L2(0.3)), optax.sgd(0.01))
  ```

  One step of ``tx`` is exactly one Keras ``SGD(0.01)`` step on
  ``loss + L2(0.3)``. With L1, weights hover around zero at a distance of
  about ``learning_rate * l1`` instead of reaching it.

* **Proximal** (forward-backward splitting): take the optimizer step on the
  loss alone, then map the result through ``reg.prox(., learning_rate)``.
  ``proximal(reg, learning_rate)`` goes *after* the optimizer:

  ```python
  tx = optax.chain(optax.sgd(0.01), proximal(L1(1e-3), learning_rate=0.01))
  ```

  This gives exact zeros. With ``optax.sgd(lr)`` before it, one step equals
  TensorFlow's ``ResourceApplyProximalGradientDescent(alpha=lr, l1=l1,
  l2=2 * l2)``: TensorFlow's ``l2`` multiplies ``w**2 / 2``, Keras's and
  ours multiply ``w**2``.

With an adaptive optimizer such as ``optax.adam(lr)``, ``proximal(reg, lr)``
applies the prox with the *base* learning rate ``lr`` to the point Adam
reached; it is a valid forward-backward step in the Euclidean metric, but not
the prox in Adam's preconditioned metric. ``proximal_adam`` and
``proximal_adagrad`` are the exact diagonal-preconditioned versions (each
coordinate thresholded with its own step ``lr / denominator``);
``proximal_adagrad`` is TensorFlow's ``ProximalAdagrad`` update.

All transforms are ordinary ``optax.GradientTransformation`` objects: they
work under ``jax.jit`` and ``jax.vmap`` and with ``optax.chain``,
``optax.masked`` and ``optax.inject_hyperparams`` (pass
``static_args=("reg", "mask")`` there: a regularizer is callable, and
``inject_hyperparams`` would otherwise take it for a schedule).

Weight constraints (Keras's ``kernel_constraint``): ``constrain(c)`` goes
*after* the optimizer and projects the new params with a
``research.constraints`` constraint (``MaxNorm``, ``MinMaxNorm``, ``NonNeg``,
``UnitNorm``), as Keras does after each optimizer update:

```python
tx = optax.chain(optax.sgd(0.1), constrain(MaxNorm(2.0)))
```

Keras's ``weight_decay=`` on any optimizer: ``decoupled_weight_decay(wd, lr)``
after the optimizer adds ``-lr_t * wd * w`` to its update, for every
parameter unless a mask says otherwise.

A whole Keras optimizer: ``from_keras_optimizer(keras_opt)`` converts a Keras 3
``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad`` or ``Ftrl`` (with its
clipping, weight decay and learning-rate schedule) into one transform whose
steps equal Keras's ``optimizer.apply(grads, variables)``.
"""

from research.optim._common import LearningRate
from research.optim._constrain import constrain
from research.optim._fista import FistaState, fista
from research.optim._ftrl import FtrlState, ftrl
from research.optim._keras import from_keras_optimizer
from research.optim._preconditioned import (
    PreconditionedProximalState,
    proximal_adagrad,
    proximal_adam,
)
from research.optim._regularize import ProximalState, add_regularization, proximal
from research.optim._weight_decay import DecoupledWeightDecayState, decoupled_weight_decay

__all__ = [
    "DecoupledWeightDecayState",
    "FistaState",
    "FtrlState",
    "LearningRate",
    "PreconditionedProximalState",
    "ProximalState",
    "add_regularization",
    "constrain",
    "decoupled_weight_decay",
    "fista",
    "from_keras_optimizer",
    "ftrl",
    "proximal",
    "proximal_adagrad",
    "proximal_adam",
]
