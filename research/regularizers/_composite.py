"""Penalties built on a separable penalty: per-entry factors (``Weighted``) and box limits
(``Bounded``), glmnet's ``penalty.factor`` and ``lower.limits`` / ``upper.limits``.

Both take their factors or limits as a scalar, an array broadcast against every selected
leaf, or a pytree matched to the params by path (the full params structure, a prefix of
it, or only the selected leaves' paths), so that each leaf gets its own.

Private: import the public names from ``research.regularizers``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research.checks import check_nonnegative, is_traced
from research.regularizers._base import PyTree, Regularizer, cast
from research.trees import entry_key, path_str

__all__ = ["Bounded", "Weighted"]


def _keys(path: Any) -> tuple[Any, ...]:
    return tuple(entry_key(e) for e in path)


def _per_leaf(name: str, data: Any, params: PyTree, flags: list[bool]) -> list[Any]:
    """``data`` matched to each leaf of ``params``: a leaf of ``data`` applies to every
    params leaf under its path (the longest such path wins); None where not selected.

    Raises ``ValueError`` naming ``name`` when a selected leaf has no entry, an entry
    matches no leaf, or an entry does not broadcast to its leaf's shape.
    """
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(data)):
        entries = [((), data)]
    else:
        entries = [(_keys(p), x) for p, x in jax.tree_util.tree_flatten_with_path(data)[0]]
    paths = [_keys(p) for p, _ in flat]
    for keys, _ in entries:
        if not any(p[: len(keys)] == keys for p in paths):
            raise ValueError(
                f"{name}: the entry {'/'.join(map(str, keys))!r} matches no leaf of params "
                f"(their leaves are {[path_str(p) for p, _ in flat][:8]})"
            )
    out: list[Any] = []
    for (path, w), keys, selected in zip(flat, paths, flags, strict=True):
        if not selected:
            out.append(None)
            continue
        found = [(len(k), x) for k, x in entries if keys[: len(k)] == k]
        if not found:
            raise ValueError(
                f"{name}: no entry for the selected leaf {path_str(path)!r}; give a pytree "
                "with the structure of params (or of the selected leaves), or one value for all"
            )
        value = max(found, key=lambda item: item[0])[1]
        shape = jnp.shape(value)
        try:
            fits = jnp.broadcast_shapes(shape, jnp.shape(w)) == jnp.shape(w)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name}: the entry for leaf {path_str(path)!r} has shape {shape}, which does "
                f"not broadcast to the leaf's shape {jnp.shape(w)}"
            )
        out.append(value)
    return out


def _check_separable(name: str, reg: Any) -> Regularizer:
    if not isinstance(reg, Regularizer):
        raise TypeError(
            f"reg: {name} wraps a research.regularizers penalty, got {type(reg).__name__}"
        )
    if not reg.separable:
        raise ValueError(
            f"reg: {name} needs a separable penalty (a sum over entries: L1, L2, ElasticNet, "
            f"MCP, SCAD, Lq, LogSum, L0, or one of those wrapped); {type(reg).__name__} is not"
        )
    return reg


def _is_leaf(data: Any) -> bool:
    return jax.tree_util.treedef_is_leaf(jax.tree.structure(data))


class _Wrapper(Regularizer):
    """A penalty around ``reg``: its selection (mask) is ``reg``'s; ``_data`` names the
    fields that may be pytrees matched to the params leaf by leaf."""

    _data: tuple[str, ...] = ()
    reg: Regularizer

    def _inherit(self) -> None:
        """The selection, and whether a prox exists or is needed, are the wrapped penalty's."""
        self.mask = self.reg.mask
        self.has_prox = self.reg.has_prox
        self.needs_prox = self.reg.needs_prox or type(self).needs_prox

    def _static(self) -> tuple[Any, ...]:
        return ()

    def _set_static(self, aux: tuple[Any, ...]) -> None:
        del aux
        self._inherit()

    @classmethod
    def _bind(cls, **fields: Any) -> Any:
        """An instance from already-checked fields (the per-leaf penalties)."""
        obj = object.__new__(cls)
        for key, value in fields.items():
            object.__setattr__(obj, key, value)
        obj._inherit()
        return obj

    def leaf_regularizers(self, params: PyTree, flags: list[bool]) -> list[Regularizer | None]:
        inner = self.reg.leaf_regularizers(params, flags)
        data = {
            k: _per_leaf(k, getattr(self, k), params, flags)
            if getattr(self, k) is not None
            else [None] * len(flags)
            for k in self._data
        }
        out: list[Regularizer | None] = []
        for i, reg in enumerate(inner):
            if reg is None:
                out.append(None)
                continue
            fields = {k: data[k][i] for k in self._data}
            self._check_leaf(**fields)
            out.append(self._bind(reg=reg, **fields))
        return out

    def _check_leaf(self, **fields: Any) -> None:
        """Checks one leaf's concrete data (``Bounded``: ``lower <= upper``)."""

    def _leaf_data(self, key: str) -> Any:
        value = getattr(self, key)
        if value is not None and not _is_leaf(value):
            raise ValueError(
                f"{key}: {type(self).__name__} holds a pytree of them, matched to params by "
                "path; apply it to a params pytree (reg(params), reg.prox(params, step), the "
                "optax transforms), not to one array"
            )
        return value

    def replace(self, **changes: Any) -> Regularizer:
        """A copy with ``reg``, its data, or the wrapped penalty's strengths or mask replaced."""
        own = {k: changes.pop(k) for k in ("reg", *self._data) if k in changes}
        reg = own.pop("reg", self.reg)
        if changes:
            reg = reg.replace(**changes)
        kwargs = {k: getattr(self, k) for k in self._data}
        kwargs.update(own)
        build: Any = type(self)  # Weighted(reg, weights) or Bounded(reg, lower, upper)
        return build(reg, **kwargs)

    def get_config(self) -> dict[str, float]:
        raise ValueError(f"{type(self).__name__} has no Keras config (Keras has no equivalent)")

    def __repr__(self) -> str:
        parts = [repr(self.reg), *(f"{k}={getattr(self, k)!r}" for k in self._data)]
        return f"{type(self).__name__}({', '.join(parts)})"


class Weighted(_Wrapper):
    """A separable penalty with a factor per entry or per leaf:
    ``sum_i weights_i * R(w_i)``, glmnet's ``penalty.factor``.

    A factor of 0 leaves its entry unpenalized (an intercept, a feature always kept);
    1 is the plain penalty. The factors are used as given (glmnet rescales its
    ``penalty.factor`` to sum to the number of variables; rescale the strength to match).
    Gradient: ``weights * grad R``. Proximal map of ``step * Weighted``: ``R``'s with the
    per-entry step ``step * weights`` (exact for every separable ``R``, since each entry's
    1-D problem is ``R``'s at that step).

    Args:
      reg: a separable penalty (``reg.separable``): ``L1``, ``L2``, ``ElasticNet``,
        ``MCP``, ``SCAD``, ``Lq``, ``LogSum``, ``L0`` or ``Bounded``; its mask selects
        the leaves.
      weights: factors >= 0: a scalar, an array broadcast against every selected leaf,
        or a pytree matched to params by path (the structure of params, a prefix of it,
        or of the selected leaves alone), whose leaves broadcast against theirs.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import L1, Weighted
      >>> reg = Weighted(L1(1.0), {"kernel": jnp.array([0.0, 1.0, 2.0])})
      >>> params = {"kernel": jnp.array([5.0, 1.0, 1.0]), "bias": jnp.ones(3)}
      >>> reg(params)  # 0 * 5 + 1 * 1 + 2 * 1
      Array(3., dtype=float32)
      >>> reg.prox(params, 0.5)["kernel"]  # thresholds 0, 0.5 and 1
      Array([5. , 0.5, 0. ], dtype=float32)
    """

    _fields = ("reg", "weights")
    _data = ("weights",)
    name = "weighted"

    def __init__(self, reg: Regularizer, weights: Any) -> None:
        self.reg = _check_separable("Weighted", reg)
        if weights is None or not jax.tree.leaves(weights):
            raise ValueError("weights: expected factors >= 0 (a scalar, an array or a pytree)")
        check_nonnegative("weights", weights, allow_tree=True)
        self.weights = weights
        self._inherit()

    def _factor(self, w: jax.Array) -> jax.Array:
        return cast(self._leaf_data("weights"), w)

    def entry_values(self, w: jax.Array) -> jax.Array:
        return self._factor(w) * self.reg.entry_values(w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return self._factor(w) * self.reg.leaf_grad(w)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        return self.reg.leaf_prox(w, cast(step, w) * self._factor(w))

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        return self.reg.leaf_candidates(v, cast(step, v) * self._factor(v))


def _check_limit(name: str, value: Any) -> Any:
    """A limit: a number (infinite allowed), an array or a pytree of them; not NaN."""
    for leaf in jax.tree.leaves(value):
        if is_traced(leaf):
            continue
        arr = np.asarray(leaf)
        if isinstance(leaf, bool | np.bool_) or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(
                f"{name}: expected a number, an array or a pytree of them, got {leaf!r}"
            )
        if np.any(np.isnan(arr)):
            raise ValueError(f"{name}: expected numbers (infinite allowed), got NaN")
    return value


class Bounded(_Wrapper):
    """A separable penalty plus box limits ``lower <= w <= upper`` (glmnet's
    ``lower.limits`` / ``upper.limits``); ``Bounded(L1(s), lower=0.0)`` is the
    non-negative lasso.

    The limits are a constraint kept by the proximal map: ``prox`` is the global
    minimizer of ``1/2 (w - v)**2 + step * R(w)`` over ``[lower, upper]``, entry by
    entry. For a convex ``R`` that is ``R``'s prox clipped to the box; for a non-convex
    one, clipping can miss it (L0 with ``upper`` below the threshold: 0 may beat the
    clipped value), so the best of ``R``'s local minimizers clipped to the box and the
    box's ends is taken (at ties, the clipped prox). The value and the gradient are
    ``R``'s (the box adds 0 inside it); the subgradient method cannot keep a box, so
    ``add_regularization`` refuses a ``Bounded`` penalty.

    Args:
      reg: a separable penalty (``reg.separable``); its mask selects the leaves.
      lower: the lower limit (None: none; ``-inf`` allowed): a scalar, an array broadcast
        against every selected leaf, or a pytree matched to params by path as for
        ``Weighted``.
      upper: the upper limit, likewise; ``lower <= upper`` where both are given.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import L1, Bounded
      >>> Bounded(L1(1.0), lower=0.0).prox({"kernel": jnp.array([-3.0, 0.5, 3.0])}, 1.0)
      {'kernel': Array([0., 0., 2.], dtype=float32)}
    """

    _fields = ("reg", "lower", "upper")
    _data = ("lower", "upper")
    name = "bounded"
    needs_prox = True

    def __init__(self, reg: Regularizer, lower: Any = None, upper: Any = None) -> None:
        self.reg = _check_separable("Bounded", reg)
        if lower is None and upper is None:
            raise ValueError("lower, upper: Bounded needs at least one limit")
        self.lower = _check_limit("lower", lower)
        self.upper = _check_limit("upper", upper)
        if _is_leaf(lower) and _is_leaf(upper):
            self._check_leaf(lower=lower, upper=upper)
        self._inherit()

    def _check_leaf(self, **fields: Any) -> None:
        lower, upper = fields["lower"], fields["upper"]
        if lower is None or upper is None or is_traced(lower) or is_traced(upper):
            return
        low, high = np.asarray(lower), np.asarray(upper)
        if np.any(low > high):
            raise ValueError(
                f"lower, upper: expected lower <= upper, got lower={lower!r} > upper={upper!r}"
            )

    def _box(self, v: jax.Array) -> tuple[jax.Array | None, jax.Array | None]:
        lower, upper = self._leaf_data("lower"), self._leaf_data("upper")
        return (
            None if lower is None else cast(lower, v),
            None if upper is None else cast(upper, v),
        )

    def entry_values(self, w: jax.Array) -> jax.Array:
        return self.reg.entry_values(w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return self.reg.leaf_grad(w)

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        lower, upper = self._box(v)
        clipped = [jnp.clip(c, lower, upper) for c in self.reg.leaf_candidates(v, step)]
        if len(clipped) == 1:  # a convex penalty: its clipped prox is the minimizer
            return clipped
        ends = [jnp.where(jnp.isinf(e), clipped[0], e) for e in (lower, upper) if e is not None]
        return [*clipped, *(jnp.broadcast_to(e, v.shape) for e in ends)]

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        candidates = self.leaf_candidates(w, step)
        if len(candidates) == 1:
            return candidates[0]
        stacked = jnp.stack(candidates)
        t = cast(step, w)
        objective = (stacked - w) ** 2 / 2 + t * self.reg.entry_values(stacked)
        return jnp.take_along_axis(stacked, jnp.argmin(objective, axis=0)[None], axis=0)[0]
