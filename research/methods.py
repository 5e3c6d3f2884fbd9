"""Optimizers and regularization methods by config name: one registry each.

An experiment names an optimizer (``optimizer=sgd``) and a method
(``method=proximal``); ``transform`` turns the pair, a regularizer and a
learning rate into one ``optax.GradientTransformation``. The optimizers'
keys and defaults are their builders' signatures here: the Hydra schemas and
the config checks are derived from them (``research.config``).

Methods:

* ``subgradient``: the penalty's (sub)gradient is added before the optimizer
  (Keras's ``kernel_regularizer``);
* ``proximal``: the optimizer's step, then the penalty's prox with the base
  learning rate (exact zeros);
* ``preconditioned``: the prox in the optimizer's own diagonal metric
  (``proximal_adam`` for adam; for sgd, whose metric is the identity, the same
  as ``proximal``);
* ``fista``: accelerated proximal gradient, an optimizer of its own for
  full-batch convex problems; ``optimizer=sgd`` (no momentum) gives its step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import optax

from research.optim import add_regularization, fista, proximal, proximal_adam
from research.regularizers import L1, Regularizer

__all__ = [
    "METHODS",
    "OPTIMIZERS",
    "adam",
    "check_method",
    "keras",
    "optimizer_defaults",
    "sgd",
    "transform",
]

LearningRate = float | jax.Array


def sgd(
    learning_rate: float = 0.01, momentum: float | None = None, nesterov: bool = False
) -> optax.GradientTransformation:
    """``optax.sgd`` (Keras's ``SGD`` default learning rate, 0.01)."""
    return optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)


def adam(
    learning_rate: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """``optax.adam`` (Keras's ``Adam`` default learning rate, 1e-3)."""
    return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)


def keras(
    learning_rate: float | None = None, path: str | None = None, _from_file: bool = False
) -> optax.GradientTransformation:
    """The compiled optimizer of a saved Keras model (``research.optim.from_keras_optimizer``).

    Args:
      learning_rate: replaces the file's learning rate (null: the file's, a
        schedule included).
      path: the ``.keras`` file (null: ``model.path``).
      _from_file: set by the config check when ``learning_rate`` was null; the
        engine then passes the file's initial rate, which this ignores.
    """
    from research import port

    return port.cached_optimizer(path, None if _from_file else learning_rate)


OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": sgd,
    "adam": adam,
    "keras": keras,
}
"""The optimizers by config name; each builder's signature lists its keys and defaults."""


def optimizer_defaults(name: str) -> dict[str, Any]:
    """The keys of optimizer ``name`` with their defaults (``learning_rate`` included)."""
    params = inspect.signature(OPTIMIZERS[name]).parameters.values()
    return {p.name: p.default for p in params if not p.name.startswith("_")}


# --------------------------------------------------------------------------- methods
# Each method: (regularizer or None, optimizer name, its options, learning rate) -> transform.
def _subgradient(reg, name, options, lr):
    opt = OPTIMIZERS[name](lr, **options)
    return opt if reg is None else optax.chain(add_regularization(reg), opt)


def _proximal(reg, name, options, lr):
    opt = OPTIMIZERS[name](lr, **options)
    return opt if reg is None else optax.chain(opt, proximal(reg, lr))


def _preconditioned(reg, name, options, lr):
    if reg is not None and name == "adam":
        return proximal_adam(reg, lr, **options)
    return _proximal(reg, name, options, lr)  # SGD's metric is the identity


def _fista(reg, name, options, lr):
    del name, options  # FISTA is its own optimizer: gradient step, prox, momentum on the prox
    return fista(L1(0.0) if reg is None else reg, lr)


def _coordinate_descent(reg, name, options, lr):
    del reg, name, options, lr
    raise ValueError(
        "method: coordinate_descent solves a linear model's path exactly on the host "
        "(research.engine.exact); it has no optax transformation"
    )


METHODS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "subgradient": _subgradient,
    "proximal": _proximal,
    "preconditioned": _preconditioned,
    "fista": _fista,
    "coordinate_descent": _coordinate_descent,
}
"""The regularization methods by config name; the one list of them."""


PROXIMAL_METHODS = ("proximal", "preconditioned", "fista")
"""The methods that apply the penalty's proximal map (so need a penalty that has one)."""


EXACT_PENALTIES = ("none", "l1", "l2", "elastic_net")
"""The penalties ``method=coordinate_descent`` solves exactly (``research.lasso_path``)."""


def check_exact(method: str, model: str, loss: str, regularizer: str, layers: Any) -> None:
    """Raises ``ValueError`` naming the key when ``method=coordinate_descent`` cannot solve
    the run: it needs ``model=linear``, ``loss=half_mse`` and a penalty of ``EXACT_PENALTIES``
    on the one kernel."""
    if method != "coordinate_descent":
        return
    if model != "linear":
        raise ValueError(
            f"method: coordinate_descent solves a linear model exactly; use model=linear "
            f"(got model={model})"
        )
    if loss not in ("half_mse", "cross_entropy"):
        raise ValueError(
            "loss: method=coordinate_descent minimizes scikit-learn's Lasso / ElasticNet "
            "objective (loss=half_mse) or glmnet's multinomial / binomial one "
            f"(loss=cross_entropy); got {loss}"
        )
    if regularizer not in EXACT_PENALTIES:
        raise ValueError(
            f"regularizer: method=coordinate_descent supports {', '.join(EXACT_PENALTIES)} "
            f"(got {regularizer})"
        )
    if layers is not None:
        raise ValueError("regularizer.layers: method=coordinate_descent penalizes the one kernel")


def check_method(
    method: str, optimizer: str, options: dict[str, Any], reg: type[Regularizer] | None = None
) -> None:
    """Raises ``ValueError`` naming the key when a method cannot use the optimizer or penalty."""
    if reg is not None and method in PROXIMAL_METHODS and not reg.has_prox:
        raise ValueError(
            f"method: {method} applies the penalty's proximal map, and {reg.__name__} has "
            "none in closed form; use method=subgradient"
        )
    if reg is not None and method == "preconditioned" and not reg.separable:
        raise ValueError(
            f"method: preconditioned takes a per-coordinate step, which needs a separable "
            f"penalty; {reg.__name__} is not one (use method=proximal)"
        )
    if method == "fista" and (optimizer != "sgd" or options.get("momentum")):
        raise ValueError(
            "method: fista is an optimizer of its own; use it with optimizer=sgd "
            "(no momentum), whose learning_rate is FISTA's step"
        )


def transform(
    method: str,
    reg: Regularizer | None,
    optimizer: str,
    options: dict[str, Any],
    learning_rate: LearningRate,
) -> optax.GradientTransformation:
    """The optax transformation of ``method`` with ``optimizer`` on ``reg`` (None: no penalty).

    Args:
      method: a key of ``METHODS``.
      reg: the penalty, or None for none.
      optimizer: a key of ``OPTIMIZERS``.
      options: the optimizer's keyword arguments other than the learning rate.
      learning_rate: a float or a traced scalar (a sweep does not recompile).
    """
    return METHODS[method](reg, optimizer, options, learning_rate)
