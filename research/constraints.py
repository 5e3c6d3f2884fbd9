"""Keras weight constraints as pure JAX functions: MaxNorm, MinMaxNorm, NonNeg, UnitNorm.

Each constraint maps one weight array to its projection with the formulas and
constants of Keras 3's ``keras.constraints``: norms ``n`` are taken over
``axis`` with ``keepdims``, and ``EPSILON`` (Keras's ``keras.config.epsilon()``,
1e-7) is added to them in the denominator, so ``MaxNorm`` rescales a weight by
``n / (EPSILON + n)`` even inside the ball, exactly as Keras does:

* ``MaxNorm(max_value=2, axis=0)``: ``w * (clip(n, 0, max_value) / (EPSILON + n))``
* ``MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)``:
  ``w * (d / (EPSILON + n))``, ``d = rate * clip(n, min_value, max_value) + (1 - rate) * n``
* ``NonNeg()``: ``maximum(w, 0)``
* ``UnitNorm(axis=0)``: ``w / (EPSILON + n)``

Everything is computed in the weight's dtype, as Keras casts its Python
arguments to it. ``axis=0`` constrains the weights into each unit of a Dense
kernel ``(inputs, units)``; ``axis=(0, 1, 2)`` each filter of a Conv2D kernel.

Keras applies a layer's ``kernel_constraint`` after every optimizer step, never
when the layer is built. In optax, chain ``research.optim.constrain`` last:

```python
tx = optax.chain(optax.sgd(0.1), constrain(MaxNorm(2.0)))
```

Constraints are pytrees (the numeric arguments are the leaves, ``axis`` is
static) and, with concrete arguments, hashable: they can be closed over in
``jax.jit``, or passed to it as an argument or a static argument.
"""

from __future__ import annotations

import inspect
import numbers
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research.checks import check_nonnegative, is_traced
from research.compat import import_keras

__all__ = [
    "CONSTRAINTS",
    "EPSILON",
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "from_keras",
]

EPSILON = 1e-7
"""Keras's fuzz factor ``keras.config.epsilon()`` (keras/src/backend/config.py)."""

Axis = int | tuple[int, ...]


# Argument checks
def _check_axis(axis: Any) -> Axis:
    """An int, or a tuple of ints (a list, as in Keras's docs, becomes a tuple)."""

    def is_int(a: Any) -> bool:
        return isinstance(a, numbers.Integral) and not isinstance(a, bool | np.bool_)

    if is_int(axis):
        return int(axis)
    if isinstance(axis, tuple | list) and all(is_int(a) for a in axis):
        return tuple(int(a) for a in axis)
    raise TypeError(f"axis: expected an int or a tuple of ints, got {axis!r}")


def _check_max_value(value: Any) -> Any:
    """A number >= 0; +inf is allowed (no upper bound)."""
    if isinstance(value, float | np.floating) and np.isposinf(value):
        return value
    return check_nonnegative("max_value", value)


def _check_rate(rate: Any) -> Any:
    check_nonnegative("rate", rate)
    if not is_traced(rate) and np.asarray(rate) > 1:
        raise ValueError(f"rate: expected a number in [0, 1], got {rate!r}")
    return rate


def _scalar(value: Any, w: jax.Array) -> Any:
    """An argument in the weight's dtype; Python numbers stay weakly typed, as
    TensorFlow converts Keras's (so ``1 - rate`` is computed in double, as there)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return jnp.asarray(value, dtype=w.dtype)


def _norms(w: jax.Array, axis: Axis | None) -> jax.Array:
    """Keras's ``sqrt(sum(square(w), axis, keepdims=True))``."""
    return jnp.sqrt(jnp.sum(jnp.square(w), axis=axis, keepdims=True))


# Base class
class Constraint:
    """Base class: a projection of one weight array, as a Keras constraint.

    Subclasses name their numeric arguments (the pytree leaves; traced values
    skip the checks) in ``_fields`` and implement ``project``. ``axis`` (None:
    elementwise) is static."""

    _fields: tuple[str, ...] = ()
    axis: Axis | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_with_keys(
            cls, cls._tree_flatten_with_keys, cls._tree_unflatten, cls._tree_flatten
        )

    # pytree protocol: the numeric arguments are children, axis is aux data.
    def _tree_flatten(self):
        return tuple(getattr(self, f) for f in self._fields), self.axis

    def _tree_flatten_with_keys(self):
        children = tuple((jax.tree_util.GetAttrKey(f), getattr(self, f)) for f in self._fields)
        return children, self.axis

    @classmethod
    def _tree_unflatten(cls, axis, children):
        # Bypasses __init__: jax may unflatten with placeholder leaves.
        obj = object.__new__(cls)
        for f, c in zip(cls._fields, children, strict=True):
            setattr(obj, f, c)
        obj.axis = axis
        return obj

    def project(self, w: jax.Array) -> jax.Array:
        """The projection of one array (``w`` already a JAX array)."""
        raise NotImplementedError

    def __call__(self, w: Any) -> jax.Array:
        """Projects one weight array; works under ``jit`` and ``vmap``."""
        return self.project(jnp.asarray(w))

    def get_config(self) -> dict[str, Any]:
        """The arguments in Keras's ``get_config()`` format (``axis`` as an int or tuple)."""
        config = {}
        for f in self._fields:
            value = getattr(self, f)
            if is_traced(value):
                raise ValueError(f"{f}: a traced argument has no concrete config value")
            config[f] = value.item() if isinstance(value, np.generic | jax.Array) else value
        if self.axis is not None:
            config["axis"] = self.axis
        return config

    def to_keras(self) -> Any:
        """The equivalent ``keras.constraints`` object (needs Keras installed)."""
        keras = import_keras()
        return getattr(keras.constraints, type(self).__name__)(**self.get_config())

    # Equality and hashing by value when the arguments are concrete numbers.
    def _key(self) -> tuple[Any, ...] | None:
        values = tuple(getattr(self, f) for f in self._fields)
        if not all(isinstance(v, numbers.Number) for v in values):
            return None
        return (type(self), values, self.axis)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Constraint):
            return NotImplemented
        key = self._key()
        return self is other if key is None else key == other._key()

    def __hash__(self) -> int:
        key = self._key()
        return id(self) if key is None else hash(key)

    def __repr__(self) -> str:
        parts = [f"{f}={getattr(self, f)!r}" for f in self._fields]
        if self.axis is not None:
            parts.append(f"axis={self.axis!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


# The constraints
class MaxNorm(Constraint):
    """Caps the norm of the weights into each unit (``keras.constraints.MaxNorm``).

    ``c(w) = w * (clip(n, 0, max_value) / (EPSILON + n))`` with
    ``n = sqrt(sum(w**2, axis, keepdims=True))``. Inside the ball the factor is
    ``n / (EPSILON + n)``, slightly below 1, as in Keras; a zero slice stays zero.

    Args:
      max_value: the largest norm, >= 0 (Keras's default 2; +inf allowed).
      axis: the axis or axes of the norm (Keras's default 0: for a Dense
        kernel, the weights into each unit).

    Raises:
      ValueError: if a concrete ``max_value`` is negative or NaN; TypeError if
        ``axis`` is not an int or a tuple of ints.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.constraints import MaxNorm
      >>> MaxNorm(1.0)(jnp.array([[3.0], [4.0]]))   # norm 5 -> 1
      Array([[0.6], [0.8]], dtype=float32)
    """

    _fields = ("max_value",)

    def __init__(self, max_value: float | jax.Array = 2, axis: Axis = 0) -> None:
        self.max_value = _check_max_value(max_value)
        self.axis = _check_axis(axis)

    def project(self, w: jax.Array) -> jax.Array:
        norms = _norms(w, self.axis)
        desired = jnp.clip(norms, 0, _scalar(self.max_value, norms))
        return w.astype(norms.dtype) * (desired / (EPSILON + norms))


class MinMaxNorm(Constraint):
    """Keeps the norm of the weights into each unit in a range (``keras.constraints.MinMaxNorm``).

    ``c(w) = w * (d / (EPSILON + n))`` with ``n`` the norm over ``axis`` and
    ``d = rate * clip(n, min_value, max_value) + (1 - rate) * n``: ``rate=1``
    enforces the range, a smaller rate moves the norm part of the way towards it.
    A zero slice stays zero (it has no direction to scale).

    Args:
      min_value: the smallest norm, >= 0 (default 0.0).
      max_value: the largest norm, >= ``min_value`` (default 1.0; +inf allowed).
      rate: in [0, 1] (default 1.0).
      axis: the axis or axes of the norm (default 0).

    Raises:
      ValueError: if a concrete ``min_value`` is negative, ``max_value`` is below
        ``min_value`` or ``rate`` is outside [0, 1]; TypeError for a bad ``axis``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.constraints import MinMaxNorm
      >>> MinMaxNorm(1.0, 2.0, rate=0.5)(jnp.array([[3.0], [4.0]]))   # norm 5 -> 3.5
      Array([[2.1], [2.8]], dtype=float32)
    """

    _fields = ("min_value", "max_value", "rate")

    def __init__(
        self,
        min_value: float | jax.Array = 0.0,
        max_value: float | jax.Array = 1.0,
        rate: float | jax.Array = 1.0,
        axis: Axis = 0,
    ) -> None:
        self.min_value = check_nonnegative("min_value", min_value)
        self.max_value = _check_max_value(max_value)
        if not (is_traced(min_value) or is_traced(max_value)) and min_value > max_value:
            raise ValueError(
                f"min_value: expected min_value <= max_value, got min_value={min_value!r} "
                f"> max_value={max_value!r}"
            )
        self.rate = _check_rate(rate)
        self.axis = _check_axis(axis)

    def project(self, w: jax.Array) -> jax.Array:
        norms = _norms(w, self.axis)
        rate = _scalar(self.rate, norms)
        lo, hi = _scalar(self.min_value, norms), _scalar(self.max_value, norms)
        desired = rate * jnp.clip(norms, lo, hi) + (1 - rate) * norms
        return w.astype(norms.dtype) * (desired / (EPSILON + norms))


class NonNeg(Constraint):
    """Sets negative weights to zero (``keras.constraints.NonNeg``): ``maximum(w, 0)``.

    As Keras 3 (which replaced Keras 2's ``w * (w >= 0)``): ``-inf`` becomes 0
    and NaN stays NaN. Keras returns ``-0.0`` for ``-0.0``; this returns ``0.0``
    (the two compare equal).

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.constraints import NonNeg
      >>> NonNeg()(jnp.array([-1.0, 0.5]))
      Array([0. , 0.5], dtype=float32)
    """

    def project(self, w: jax.Array) -> jax.Array:
        return jnp.maximum(w, 0)


class UnitNorm(Constraint):
    """Scales the weights into each unit to unit norm (``keras.constraints.UnitNorm``).

    ``c(w) = w / (EPSILON + n)``, so the norm becomes ``n / (EPSILON + n)``,
    just below 1; a zero slice stays zero.

    Args:
      axis: the axis or axes of the norm (default 0); TypeError unless an int
        or a tuple of ints.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.constraints import UnitNorm
      >>> UnitNorm()(jnp.array([[3.0], [4.0]]))
      Array([[0.6], [0.8]], dtype=float32)
    """

    def __init__(self, axis: Axis = 0) -> None:
        self.axis = _check_axis(axis)

    def project(self, w: jax.Array) -> jax.Array:
        norms = _norms(w, self.axis)
        return w.astype(norms.dtype) / (EPSILON + norms)


CONSTRAINTS: dict[str, type[Constraint]] = {
    cls.__name__: cls for cls in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
}
"""The constraints by (Keras) class name; the one list of them."""


# Keras interop
def _snake_case(name: str) -> str:
    """Keras's alias of a class name (``keras.constraints.get``): ``MaxNorm`` -> ``max_norm``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_BY_KERAS_NAME = dict(CONSTRAINTS) | {_snake_case(n): cls for n, cls in CONSTRAINTS.items()}


def from_keras(obj_or_config: Any) -> Constraint:
    """Converts a Keras constraint (or its config, or its name) into the equivalent here.

    Accepts a ``keras.constraints`` ``MaxNorm`` / ``MinMaxNorm`` / ``NonNeg`` /
    ``UnitNorm`` object (or class), the dict of ``keras.constraints.serialize(obj)``
    (with ``class_name``), a bare ``obj.get_config()`` dict (recognised by its
    keys; ``{}`` is ``NonNeg``), or a Keras identifier (``keras.constraints.get``'s:
    a class name or ``"max_norm"``, ``"min_max_norm"``, ``"non_neg"``,
    ``"unit_norm"``) for Keras's defaults. Arguments are kept as Keras stores
    them, except that a list ``axis`` becomes a tuple.

    Raises:
      ValueError: for any other Keras constraint class (naming it), an unknown
        name or an unrecognised config.

    Examples:
      >>> import keras
      >>> from research.constraints import from_keras
      >>> from_keras(keras.constraints.MaxNorm(3.0))
      MaxNorm(max_value=3.0, axis=0)
      >>> from_keras("unit_norm")
      UnitNorm(axis=0)
    """
    if isinstance(obj_or_config, Constraint):
        return obj_or_config
    if isinstance(obj_or_config, str):
        cls = _BY_KERAS_NAME.get(obj_or_config)
        if cls is None:
            raise ValueError(
                f"from_keras: unknown constraint name {obj_or_config!r}; expected one of "
                f"{sorted(_BY_KERAS_NAME)}"
            )
        return cls()
    if isinstance(obj_or_config, dict):
        if "class_name" in obj_or_config:
            # A registered custom class has its own "module"; Keras's are "keras.*".
            known = (obj_or_config.get("module") or "keras").startswith("keras")
            config = obj_or_config.get("config") or {}
            return _from_class(obj_or_config["class_name"], config, known=known)
        keys = set(obj_or_config)
        for class_name, cls in CONSTRAINTS.items():
            if keys == set(cls().get_config()):
                return _from_class(class_name, obj_or_config)
        raise ValueError(
            f"from_keras: unrecognised constraint config keys {sorted(keys)}; expected a "
            f"get_config() dict of {', '.join(CONSTRAINTS)}, or a 'class_name' entry"
        )
    if isinstance(obj_or_config, type):
        cls, config = obj_or_config, {}
    else:
        cls = type(obj_or_config)
        get_config = getattr(obj_or_config, "get_config", None)
        if get_config is None:
            raise TypeError(
                "from_keras: expected a Keras constraint, its config dict or a name, got "
                f"{cls.__name__}"
            )
        config = get_config()
    # Only Keras's own classes: a user's subclass (even one named MaxNorm) may differ.
    is_keras = cls.__module__.startswith("keras.")
    return _from_class(cls.__name__ if is_keras else cls.__qualname__, config, known=is_keras)


def _from_class(class_name: str, config: dict[str, Any], known: bool = True) -> Constraint:
    cls = CONSTRAINTS.get(class_name) if known else None
    if cls is None:
        raise ValueError(
            f"from_keras: Keras constraint class {class_name!r} has no equivalent here; "
            f"supported: {', '.join(CONSTRAINTS)}"
        )
    try:
        inspect.signature(cls).bind(**config)
    except TypeError as err:
        raise ValueError(f"from_keras: bad config for {class_name}: {config!r}") from err
    return cls(**config)
