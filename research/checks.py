"""Argument checks shared by the library and the config: a bad value names its argument.

Traced values (inside ``jit`` / ``vmap``) cannot be inspected and pass through.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import jax
import numpy as np

__all__ = ["check_nonnegative", "check_strengths", "is_traced"]


def is_traced(value: Any) -> bool:
    """Whether ``value`` is a tracer (a value inside ``jit`` or ``vmap``)."""
    return isinstance(value, jax.core.Tracer)


def check_nonnegative(name: str, value: Any, *, allow_tree: bool = False) -> Any:
    """Raises ``ValueError`` naming ``name`` unless a concrete value is finite and >= 0.

    Traced values (inside ``jit`` / ``vmap``) cannot be inspected and pass
    through unchanged.
    """
    leaves = jax.tree.leaves(value) if allow_tree else [value]
    for leaf in leaves:
        if is_traced(leaf):
            continue
        if isinstance(leaf, bool | np.bool_) or leaf is None:
            raise TypeError(f"{name}: expected a number, got {leaf!r}")
        arr = np.asarray(leaf)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name}: expected a real number, got {leaf!r}")
        if not allow_tree and arr.ndim != 0:
            raise ValueError(
                f"{name}: expected a scalar, got an array of shape {arr.shape}; to sweep "
                "strengths, build the regularizer inside jax.vmap over a vector of them"
            )
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name}: expected a finite number >= 0, got {leaf!r}")
    return value


def check_strengths(alphas: Any) -> int | np.ndarray:
    """A path's ``alphas``: an int >= 1 (the size of a computed grid), returned as an int,
    or a 1-D array of finite strengths >= 0, returned as float64 in decreasing order.
    Anything else is a ``ValueError`` naming ``alphas``."""
    if isinstance(alphas, Integral) and not isinstance(alphas, bool):
        if int(alphas) < 1:
            raise ValueError(f"alphas: expected an int >= 1 or an array of strengths, got {alphas}")
        return int(alphas)
    try:
        values = np.asarray(alphas, dtype=np.float64) if alphas is not None else None
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"alphas: expected an int >= 1 or a 1-D array of strengths, got {alphas!r}"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("alphas: strengths must be finite and >= 0")
    return np.sort(values)[::-1].copy()
