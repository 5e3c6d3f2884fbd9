"""Keras initializers as JAX initializers ``(key, shape, dtype) -> array``.

Private: ``research.port`` converts a Keras layer's ``kernel_initializer`` /
``bias_initializer`` with ``from_keras_initializer``.

The distributions are Keras's (``keras/src/initializers``): variance scaling
with Keras's fans (``compute_fans``: the last axis is the output, the one
before it the input, the others a receptive field), a normal truncated at two
standard deviations and rescaled by ``0.87962566103423978``; the draws come
from JAX keys, so they are not Keras's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Initializer = Callable[[jax.Array, tuple[int, ...], Any], jax.Array]

# name: (scale, mode, distribution), as keras.initializers defines each.
_VARIANCE_SCALING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
}
SUPPORTED = (*_VARIANCE_SCALING, "Zeros", "Ones", "Constant")
# Keras's string names (``keras.initializers.get``) of the same classes.
_ALIASES = {
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform",
    "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal",
    "zeros": "Zeros",
    "ones": "Ones",
    "constant": "Constant",
}


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's ``compute_fans``."""
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Keras's ``VarianceScaling`` (uniform or truncated normal) drawn from a JAX key."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return jax.random.uniform(key, shape, dtype, -limit, limit)
        stddev = math.sqrt(variance) / 0.87962566103423978
        return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)

    return init


def constant(value: float) -> Initializer:
    """Every entry ``value`` (the key is not used)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        del key
        return jnp.full(shape, value, dtype)

    return init


def from_keras_initializer(initializer: Any, where: str = "initializer") -> Initializer:
    """The JAX initializer of a Keras initializer (object, name or config dict).

    Args:
      initializer: a ``keras.initializers`` object, its string name or its
        serialized dict (``{"class_name": ..., "config": ...}``).
      where: how to name it in an error (``layer 'dense' kernel_initializer``).

    Raises:
      ValueError: for another initializer, naming it and the supported ones.
    """
    name: str | None
    if isinstance(initializer, str):
        name, config = _ALIASES.get(initializer, initializer), {}
    elif isinstance(initializer, dict):
        name, config = initializer.get("class_name"), dict(initializer.get("config") or {})
    else:
        name = type(initializer).__name__
        config = initializer.get_config() if hasattr(initializer, "get_config") else {}
    if name in _VARIANCE_SCALING:
        return variance_scaling(*_VARIANCE_SCALING[name])
    if name in ("Zeros", "Ones"):
        return constant(0.0 if name == "Zeros" else 1.0)
    if name == "Constant":
        return constant(float(config.get("value", 0.0)))
    raise ValueError(
        f"{where}: the Keras initializer {name} is not supported; supported: "
        f"{', '.join(SUPPORTED)} (or model.init=file to start from the file's weights)"
    )
