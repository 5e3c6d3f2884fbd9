"""Keras 3's learning-rate schedules as JAX functions of the step count.

Each function follows ``__call__`` of its class in
``keras/src/optimizers/schedules/learning_rate_schedule.py`` operation by
operation (same casts, same order of float32 operations), so a schedule here
and the Keras object agree to float rounding at every step. Keras computes a
schedule in the dtype of its ``initial_learning_rate`` tensor: float32 for a
Python float (``keras.config.floatx()``), as here.

Private: ``research.optim.from_keras_optimizer`` converts an optimizer's
schedule with ``schedule_from_keras``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax


def _div(x, d):
    """``x / d`` as TF divides: XLA rewrites a division by a constant or broadcast
    scalar as a product with its reciprocal (an ulp off, which ``power`` then
    amplifies); a divisor computed from ``x`` keeps the true division."""
    x = jnp.asarray(x)
    return x / (x * 0 + d)


def _progress(count, decay_steps, staircase: bool, dtype: Any):
    """``count / decay_steps``, floored for a staircase schedule."""
    p = _div(jnp.asarray(count, dtype), decay_steps)
    return jnp.floor(p) if staircase else p


def _exponential(s: Any, dtype: Any) -> optax.Schedule:
    initial = jnp.asarray(s.initial_learning_rate, dtype)
    decay_steps = jnp.asarray(s.decay_steps, dtype)
    decay_rate = jnp.asarray(s.decay_rate, dtype)

    def schedule(count):
        return initial * jnp.power(decay_rate, _progress(count, decay_steps, s.staircase, dtype))

    return schedule


def _piecewise_constant(s: Any, dtype: Any) -> optax.Schedule:
    values = [jnp.asarray(v, dtype) for v in s.values]

    def schedule(count):
        # Keras casts the boundaries to the step's (integer) dtype.
        bounds = [jnp.asarray(b).astype(jnp.asarray(count).dtype) for b in s.boundaries]
        out = jnp.zeros([], dtype)
        out = out + (count <= bounds[0]).astype(dtype) * values[0]
        out = out + (count > bounds[-1]).astype(dtype) * values[-1]
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1], strict=True):
            out = out + ((count > low) & (count <= high)).astype(dtype) * value
        return out

    return schedule


def _polynomial(s: Any, dtype: Any) -> optax.Schedule:
    initial = jnp.asarray(s.initial_learning_rate, dtype)
    end = jnp.asarray(s.end_learning_rate, dtype)
    power = jnp.asarray(s.power, dtype)

    def schedule(count):
        step = jnp.asarray(count, dtype)
        decay_steps = jnp.asarray(s.decay_steps, dtype)
        if s.cycle:
            # The first multiple of decay_steps above the step (1 at step 0).
            multiplier = jnp.where(step == 0, 1.0, jnp.ceil(_div(step, s.decay_steps)))
            decay_steps = decay_steps * multiplier
        else:
            step = jnp.minimum(step, decay_steps)
        p = _div(step, decay_steps)
        return (initial - end) * jnp.power(1 - p, power) + end

    return schedule


def _inverse_time(s: Any, dtype: Any) -> optax.Schedule:
    initial = jnp.asarray(s.initial_learning_rate, dtype)
    decay_steps = jnp.asarray(s.decay_steps, dtype)
    decay_rate = jnp.asarray(s.decay_rate, dtype)

    def schedule(count):
        p = _progress(count, decay_steps, s.staircase, dtype)
        return initial / (jnp.asarray(1, dtype) + decay_rate * p)

    return schedule


def _cosine(s: Any, dtype: Any) -> optax.Schedule:
    initial = jnp.asarray(s.initial_learning_rate, dtype)
    decay_steps = jnp.asarray(s.decay_steps, dtype)
    pi = jnp.asarray(math.pi, dtype)

    def decay(step, decay_from):
        cosine = 0.5 * (1.0 + jnp.cos(pi * _div(step, decay_steps)))
        return decay_from * ((1 - s.alpha) * cosine + s.alpha)

    if s.warmup_target is None:
        return lambda count: decay(jnp.minimum(jnp.asarray(count, dtype), decay_steps), initial)

    target = jnp.asarray(s.warmup_target, dtype)
    warmup_steps = jnp.asarray(s.warmup_steps, dtype)

    def schedule(count):
        step = jnp.minimum(jnp.asarray(count, dtype), decay_steps + warmup_steps)
        warm = (target - initial) * _div(step, warmup_steps) + initial
        return jnp.where(step < warmup_steps, warm, decay(step - warmup_steps, target))

    return schedule


def _cosine_restarts(s: Any, dtype: Any) -> optax.Schedule:
    initial = jnp.asarray(s.initial_learning_rate, dtype)
    first = jnp.asarray(s.first_decay_steps, dtype)
    alpha = jnp.asarray(s.alpha, dtype)
    t_mul = jnp.asarray(s._t_mul, dtype)
    m_mul = jnp.asarray(s._m_mul, dtype)
    pi = jnp.asarray(math.pi, dtype)
    geometric = np.asarray(s._t_mul, dtype) != 1.0  # Keras's cond on t_mul == 1, static here

    def schedule(count):
        fraction = _div(jnp.asarray(count, dtype), first)
        if geometric:
            i_restart = jnp.floor(_div(jnp.log(1.0 - fraction * (1.0 - t_mul)), jnp.log(t_mul)))
            sum_r = _div(1.0 - jnp.power(t_mul, i_restart), 1.0 - t_mul)
            fraction = _div(fraction - sum_r, jnp.power(t_mul, i_restart))
        else:
            i_restart = jnp.floor(fraction)
            fraction = fraction - i_restart
        cosine = 0.5 * jnp.power(m_mul, i_restart) * (1.0 + jnp.cos(pi * fraction))
        return initial * ((1 - alpha) * cosine + alpha)

    return schedule


_SCHEDULES: dict[str, Callable[[Any, Any], optax.Schedule]] = {
    "ExponentialDecay": _exponential,
    "PiecewiseConstantDecay": _piecewise_constant,
    "PolynomialDecay": _polynomial,
    "InverseTimeDecay": _inverse_time,
    "CosineDecay": _cosine,
    "CosineDecayRestarts": _cosine_restarts,
}


def schedule_from_keras(schedule: Any, keras: Any) -> optax.Schedule:
    """A ``keras.optimizers.schedules`` schedule as a JAX function of the int step count.

    Args:
      schedule: an instance of one of the classes in ``_SCHEDULES`` (exactly
        that class: a subclass may override ``__call__``).
      keras: the ``keras`` module.

    Returns:
      ``count -> learning rate`` (a float scalar in Keras's ``floatx``), traceable.

    Raises:
      ValueError: for any other schedule or callable, naming its class.
    """
    schedules = keras.optimizers.schedules
    for name, build in _SCHEDULES.items():
        if type(schedule) is getattr(schedules, name):
            return build(schedule, jnp.dtype(keras.config.floatx()))
    raise ValueError(
        f"learning rate schedule {type(schedule).__name__} is not supported; supported: "
        f"{', '.join(_SCHEDULES)} (keras.optimizers.schedules), or pass learning_rate= "
        "(a float or an optax schedule)"
    )
