"""Keras-exact weight penalties with subgradients and proximal maps.

Four penalties, each a pure function of a params pytree:

==================  ==============================================  =====================
class               penalty ``R(w)``                                Keras equivalent
==================  ==============================================  =====================
``L1(l1)``          ``l1 * sum(|w|)``                               ``keras.regularizers.L1``
``L2(l2)``          ``l2 * sum(w**2)``  (no 1/2 factor)             ``keras.regularizers.L2``
``ElasticNet``      ``l1 * sum(|w|) + l2 * sum(w**2)``              ``keras.regularizers.L1L2``
``GroupLasso``      ``strength * sum_g sqrt(|g|) * ||w_g||_2``      none
==================  ==============================================  =====================

Every regularizer offers three operations on a params pytree:

* ``reg(params)``: the scalar penalty summed over the selected leaves.
* ``reg.grad(params)``: a subgradient, with ``sign(0) = 0`` as in TensorFlow
  (``jax.grad(jnp.abs)(0.0)`` is 1.0; the penalties here are written so that
  ``jax.grad(reg)`` also gives 0 at 0).
* ``reg.prox(params, step)``: the proximal map of ``step * R``,
  ``argmin_w 1/2 ||w - v||^2 + step * R(w)``, which produces exact zeros.

Selection: by default only leaves with a path entry named ``kernel`` are
penalized, which is what Keras's ``kernel_regularizer`` does (biases are left
alone). Pass ``mask=`` (a pytree of bools shaped like params, or a prefix of
it, or a callable from params to one) to select other leaves.

Strengths may be Python floats or JAX scalars, so a regularizer can be built
inside ``jit`` or ``vmap``; a grid of strengths is one vmapped program::

  import jax, jax.numpy as jnp
  from research.regularizers import L1

  params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
  penalties = jax.vmap(lambda s: L1(s)(params))(jnp.array([0.0, 0.1, 1.0]))
  # -> [0.0, 0.6, 6.0]: only the kernel is penalized.

Regularizers are registered as pytrees (strengths are the leaves), so they
may also be passed into jitted functions as arguments.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "REGULARIZERS",
    "ElasticNet",
    "GroupLasso",
    "Regularizer",
    "from_keras",
    "kernel_mask",
    "sum_by_dot",
]

PyTree = Any
Mask = PyTree | Callable[[PyTree], PyTree] | None

_KERAS_DEFAULT = 0.01  # keras.regularizers.L1() / L2() default strength.


# --------------------------------------------------------------------------- #
# Selection of leaves
# --------------------------------------------------------------------------- #
def _entry_name(entry: Any) -> Any:
    """The name of one pytree path entry (dict key, attribute or index)."""
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return getattr(entry, attr)
    return None


def kernel_mask(params: PyTree) -> PyTree:
    """The default selection: True for leaves with a path entry named ``kernel``.

    This matches Keras's ``kernel_regularizer`` for Flax Linen param dicts
    (``{"Dense_0": {"kernel": ..., "bias": ...}}``) and for Flax NNX states
    (``state["layers"][0]["kernel"].value``).

    Args:
      params: a pytree of arrays.

    Returns:
      A pytree of Python bools with the structure of ``params``.
    """
    return jax.tree_util.tree_map_with_path(
        lambda path, _: any(_entry_name(e) == "kernel" for e in path), params
    )


def _selection(mask: Mask, params: PyTree, treedef: Any) -> list[bool]:
    """Resolves ``mask`` against ``params`` into one bool per leaf."""
    tree = kernel_mask(params) if mask is None else (mask(params) if callable(mask) else mask)
    try:
        # A mask may be a prefix of params (as in optax): one bool then selects
        # a whole subtree.
        full = jax.tree.map(lambda b, sub: jax.tree.map(lambda _: b, sub), tree, params)
        flags = treedef.flatten_up_to(full)
    except (ValueError, TypeError) as err:
        raise ValueError(
            "mask: expected a pytree of bools with the structure of params (or a prefix "
            f"of it); params have structure {treedef} but the mask has structure "
            f"{jax.tree.structure(tree)}"
        ) from err
    for flag in flags:
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(
                f"mask: expected Python bools as leaves, got {type(flag).__name__} "
                f"({flag!r}); masks select whole leaves and must be static"
            )
    return [bool(f) for f in flags]


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #
def _is_traced(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def check_nonnegative(name: str, value: Any, *, allow_tree: bool = False) -> Any:
    """Raises ``ValueError`` naming ``name`` unless a concrete value is finite and >= 0.

    Traced values (inside ``jit`` / ``vmap``) cannot be inspected and pass
    through unchanged.
    """
    leaves = jax.tree.leaves(value) if allow_tree else [value]
    for leaf in leaves:
        if _is_traced(leaf):
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


def _scalar(name: str, value: Any) -> Any:
    check_nonnegative(name, value)
    if _is_traced(value) and jnp.ndim(value) != 0:
        raise ValueError(
            f"{name}: expected a scalar, got a traced array of shape {jnp.shape(value)}"
        )
    return value


def _as(value: Any, like: jax.Array) -> jax.Array:
    """Casts a strength or step to a leaf's dtype (Keras computes in the weight's dtype)."""
    return jnp.asarray(value, dtype=like.dtype)


class _Static:
    """Holds a mask as pytree aux data: compared by identity, so unhashable masks work."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)


# --------------------------------------------------------------------------- #
# Base class
# --------------------------------------------------------------------------- #
class Regularizer:
    """Base class: a penalty, its subgradient and its proximal map over selected leaves.

    Subclasses name their strengths in ``_fields`` and implement the three
    per-leaf functions ``leaf_value``, ``leaf_grad`` and ``leaf_prox``, which
    the optax transforms of ``research.optim`` call on each selected leaf.
    ``name`` is the config name (``regularizer=<name>``), ``keras_name`` the
    class name of the Keras equivalent (None: none) and ``options`` the
    constructor arguments that are not strengths (static in a program).
    """

    _fields: tuple[str, ...] = ()
    name: str = ""
    keras_name: str | None = None
    options: tuple[str, ...] = ()
    mask: Mask = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_with_keys(
            cls, cls._tree_flatten_with_keys, cls._tree_unflatten, cls._tree_flatten
        )

    # pytree protocol: strengths are children; mask and static options are aux data.
    def _static(self) -> tuple[Any, ...]:
        return (_Static(self.mask),)

    def _tree_flatten(self):
        return tuple(getattr(self, f) for f in self._fields), self._static()

    def _tree_flatten_with_keys(self):
        children = tuple((jax.tree_util.GetAttrKey(f), getattr(self, f)) for f in self._fields)
        return children, self._static()

    @classmethod
    def _tree_unflatten(cls, aux, children):
        # Bypasses __init__: jax may unflatten with placeholder leaves.
        obj = object.__new__(cls)
        for f, c in zip(cls._fields, children, strict=True):
            object.__setattr__(obj, f, c)
        obj._set_static(aux)
        return obj

    def _set_static(self, aux: tuple[Any, ...]) -> None:
        self.mask = aux[0].value

    # per-leaf math, implemented by subclasses
    @classmethod
    def strength_keys(cls) -> tuple[str, ...]:
        """The names of the strengths (the pytree leaves), e.g. ``("l1", "l2")``."""
        return cls._fields

    def leaf_value(self, w: jax.Array) -> jax.Array:
        """The penalty of one selected leaf."""
        raise NotImplementedError

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        """A subgradient of the penalty of one selected leaf (``sign(0) = 0``)."""
        raise NotImplementedError

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        """The proximal map of ``step * penalty`` on one selected leaf."""
        raise NotImplementedError

    # public API
    def __call__(self, params: PyTree) -> jax.Array:
        """The scalar penalty summed over the selected leaves of ``params``."""
        leaves, flags, _ = self._flatten(params)
        terms = [self.leaf_value(w) for w, f in zip(leaves, flags, strict=True) if f]
        if not terms:
            return jnp.zeros((), dtype=jnp.result_type(*leaves) if leaves else float)
        return sum(terms[1:], terms[0])

    def grad(self, params: PyTree) -> PyTree:
        """A subgradient of the penalty: zeros on unselected leaves, ``sign(0) = 0``."""
        leaves, flags, treedef = self._flatten(params)
        out = [
            self.leaf_grad(w) if f else jnp.zeros_like(w)
            for w, f in zip(leaves, flags, strict=True)
        ]
        return treedef.unflatten(out)

    def prox(self, params: PyTree, step: Any) -> PyTree:
        """The proximal map of ``step * penalty``; unselected leaves are returned unchanged.

        Args:
          params: the point ``v`` to map (a pytree of arrays).
          step: a scalar >= 0 (float or JAX scalar), or, for the separable
            penalties (L1, L2, ElasticNet), a pytree with the structure of
            ``params`` whose leaves broadcast against them: a diagonal metric,
            giving a per-coordinate step (as in ``proximal_adagrad``).

        Returns:
          ``argmin_w 1/2 ||w - v||^2 + step * R(w)`` leaf by leaf.
        """
        leaves, flags, treedef = self._flatten(params)
        check_nonnegative("step", step, allow_tree=True)
        if jax.tree_util.treedef_is_leaf(jax.tree.structure(step)):
            steps = [step] * len(leaves)
        else:
            try:
                steps = treedef.flatten_up_to(step)
            except (ValueError, TypeError) as err:
                raise ValueError(
                    "step: expected a scalar or a pytree with the structure of params"
                ) from err
        out = [
            self.leaf_prox(w, s) if f else w for w, s, f in zip(leaves, steps, flags, strict=True)
        ]
        return treedef.unflatten(out)

    def map_selected(self, fn: Callable[..., jax.Array], params: PyTree, *rest: PyTree) -> PyTree:
        """Applies ``fn(param, *rest_leaves)`` to selected leaves; others take ``rest[0]``'s leaf.

        The building block of the optax transforms: unselected leaves pass
        through untouched, so no work is spent on them.
        """
        leaves, flags, treedef = self._flatten(params)
        rest_leaves = [treedef.flatten_up_to(r) for r in rest]
        out = []
        for i, (w, f) in enumerate(zip(leaves, flags, strict=True)):
            others = [r[i] for r in rest_leaves]
            out.append(fn(w, *others) if f else others[0])
        return treedef.unflatten(out)

    def _flatten(self, params: PyTree):
        leaves, treedef = jax.tree_util.tree_flatten(params)
        return leaves, _selection(self.mask, params, treedef), treedef

    def replace(self, **changes: Any) -> Regularizer:
        """A copy with some strengths or the mask replaced (validated like ``__init__``)."""
        kwargs = {f: getattr(self, f) for f in self._fields}
        kwargs.update(self._init_extras())
        kwargs["mask"] = self.mask
        kwargs.update(changes)
        return type(self)(**kwargs)

    def _init_extras(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, float]:
        """The strengths as Python floats, in Keras's ``get_config()`` format."""
        config = {}
        for f in self._fields:
            value = getattr(self, f)
            if _is_traced(value):
                raise ValueError(f"{f}: a traced strength has no concrete config value")
            config[f] = float(value)
        return config

    def to_keras(self) -> Any:
        """The equivalent ``keras.regularizers`` object (needs Keras installed).

        The mask is not carried over: Keras attaches a regularizer per layer.
        """
        raise ValueError(f"{type(self).__name__} has no Keras equivalent")

    def __repr__(self) -> str:
        parts = [f"{f}={getattr(self, f)!r}" for f in self._fields]
        parts += [f"{k}={v!r}" for k, v in self._init_extras().items()]
        if self.mask is not None:
            parts.append(f"mask={self.mask!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


@jax.custom_jvp
def _abs(w: jax.Array) -> jax.Array:
    """``|w|`` whose derivative is ``sign(w)``: 0 at 0, like TensorFlow's gradient of abs
    (``jax.grad(jnp.abs)(0.0)`` is 1.0)."""
    return jnp.abs(w)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    (w,), (dw,) = primals, tangents
    return jnp.abs(w), jnp.sign(w) * dw


_SUM_BY_DOT = contextvars.ContextVar("research_sum_by_dot", default=False)


@contextlib.contextmanager
def sum_by_dot(enabled: bool = True) -> Iterator[None]:
    """L1 terms traced in this block sum ``|w|`` as a dot product with ones.

    A performance switch for penalties evaluated under a wide ``vmap`` on
    CPU, where a matrix-vector product can beat a reduction over a kernel's
    small trailing axes; under a narrow ``vmap`` the reduction is faster.
    Sums of squares (L2 terms) always reduce. The values agree to float
    rounding. The training engine turns this on for wide programs (see
    ``research.engine.spec.SUM_BY_DOT_FROM``); the measurements behind that
    threshold are in the README's Performance section.
    """
    token = _SUM_BY_DOT.set(enabled)
    try:
        yield
    finally:
        _SUM_BY_DOT.reset(token)


def _total_abs(w: jax.Array) -> jax.Array:
    """Sum of ``|w|`` (a dot product with ones under ``sum_by_dot``)."""
    x = _abs(w)
    if not _SUM_BY_DOT.get():
        return jnp.sum(x)
    flat = jnp.ravel(x)
    return jnp.dot(flat, jnp.ones_like(flat), precision=jax.lax.Precision.HIGHEST)


def _soft_threshold(v: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - t, 0)


def _keras():
    try:
        import keras
    except ImportError as err:  # pragma: no cover - keras is a test extra
        raise ImportError("to_keras/from_keras need Keras: pip install 'research[test]'") from err
    return keras


# --------------------------------------------------------------------------- #
# The penalties
# --------------------------------------------------------------------------- #
class L1(Regularizer):
    """``l1 * sum(|w|)`` over the selected leaves (``keras.regularizers.L1``).

    Subgradient ``l1 * sign(w)`` with ``sign(0) = 0``. Proximal map: soft
    thresholding, ``sign(v) * max(|v| - step * l1, 0)``, which sets every
    coordinate with ``|v| <= step * l1`` to exactly zero.

    Args:
      l1: strength >= 0 (Keras's default 0.01); a float or a JAX scalar.
      mask: leaves to penalize; default: those named ``kernel``.

    Example::

      >>> L1(0.5)({"kernel": jnp.array([1.0, -2.0, 0.0])})
      Array(1.5, dtype=float32)
    """

    _fields = ("l1",)
    name = "l1"
    keras_name = "L1"

    def __init__(self, l1: float | jax.Array = _KERAS_DEFAULT, *, mask: Mask = None):
        self.l1 = _scalar("l1", l1)
        self.mask = mask

    def leaf_value(self, w):
        return _as(self.l1, w) * _total_abs(w)

    def leaf_grad(self, w):
        return _as(self.l1, w) * jnp.sign(w)

    def leaf_prox(self, w, step):
        return _soft_threshold(w, _as(step, w) * _as(self.l1, w))

    def to_keras(self):
        return _keras().regularizers.L1(**self.get_config())


class L2(Regularizer):
    """``l2 * sum(w**2)`` over the selected leaves (``keras.regularizers.L2``).

    Note the convention: Keras's ``L2(l2)`` has no 1/2 factor, so its gradient
    is ``2 * l2 * w``. TensorFlow 1's ``tf.contrib.layers.l2_regularizer(s)``
    (and ``tf.nn.l2_loss``) is ``s * sum(w**2) / 2``: it equals ``L2(s / 2)``
    here. The blog post's networks used the TF1 form, so its lambda 0.3 is
    ``L2(0.15)``. TensorFlow's proximal ops take ``l2`` in the 1/2 form too
    (see ``research.optim.proximal``).

    Proximal map: ``v / (1 + 2 * step * l2)``, a shrinkage that never reaches
    zero for nonzero ``v``.

    Args:
      l2: strength >= 0 (Keras's default 0.01); a float or a JAX scalar.
      mask: leaves to penalize; default: those named ``kernel``.
    """

    _fields = ("l2",)
    name = "l2"
    keras_name = "L2"

    def __init__(self, l2: float | jax.Array = _KERAS_DEFAULT, *, mask: Mask = None):
        self.l2 = _scalar("l2", l2)
        self.mask = mask

    def leaf_value(self, w):
        return _as(self.l2, w) * jnp.sum(jnp.square(w))

    def leaf_grad(self, w):
        return 2 * _as(self.l2, w) * w

    def leaf_prox(self, w, step):
        return w / (1 + 2 * _as(step, w) * _as(self.l2, w))

    def to_keras(self):
        return _keras().regularizers.L2(**self.get_config())


class ElasticNet(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` (``keras.regularizers.L1L2``; alias ``L1L2``).

    Proximal map: ``sign(v) * max(|v| - step * l1, 0) / (1 + 2 * step * l2)``.
    The ``l2`` term has Keras's convention (no 1/2); see ``L2``.

    scikit-learn's ``ElasticNet(alpha, l1_ratio)`` minimizes
    ``1/(2n) ||y - Xw||^2 + alpha * l1_ratio * |w|_1 + alpha * (1 - l1_ratio) / 2 * ||w||^2``,
    which is this penalty with ``l1 = alpha * l1_ratio`` and
    ``l2 = alpha * (1 - l1_ratio) / 2`` on a mean-squared-error loss halved.

    Args:
      l1: L1 strength >= 0 (default 0.0, as Keras's ``L1L2``).
      l2: L2 strength >= 0 (default 0.0).
      mask: leaves to penalize; default: those named ``kernel``.
    """

    _fields = ("l1", "l2")
    name = "elastic_net"
    keras_name = "L1L2"

    def __init__(
        self,
        l1: float | jax.Array = 0.0,
        l2: float | jax.Array = 0.0,
        *,
        mask: Mask = None,
    ):
        self.l1 = _scalar("l1", l1)
        self.l2 = _scalar("l2", l2)
        self.mask = mask

    def leaf_value(self, w):
        return _as(self.l1, w) * _total_abs(w) + _as(self.l2, w) * jnp.sum(jnp.square(w))

    def leaf_grad(self, w):
        return _as(self.l1, w) * jnp.sign(w) + 2 * _as(self.l2, w) * w

    def leaf_prox(self, w, step):
        step = _as(step, w)
        return _soft_threshold(w, step * _as(self.l1, w)) / (1 + 2 * step * _as(self.l2, w))

    def to_keras(self):
        return _keras().regularizers.L1L2(**self.get_config())


L1L2 = ElasticNet


def _safe_norm(w: jax.Array, axis: tuple[int, ...]) -> jax.Array:
    """``||w||_2`` over ``axis`` (kept dims) whose gradient is 0, not NaN, at 0."""
    sq = jnp.sum(jnp.square(w), axis=axis, keepdims=True)
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1)), 0)


class GroupLasso(Regularizer):
    """``strength * sum_g sqrt(|g|) * ||w_g||_2``: zeroes whole groups (neurons).

    Each selected leaf is cut into groups along ``axis``: ``axis`` names the
    dimensions summed *inside* one group, so every index of the remaining
    dimensions is one group of ``|g| = prod(shape[axis])`` weights. For a
    Dense kernel of shape ``(fan_in, fan_out)``:

    * ``axis=0`` (default): one group per output unit (a column: its incoming
      weights); a zero group is a unit that ignores its inputs.
    * ``axis=1`` or ``-1``: one group per input unit (a row: its outgoing
      weights); a zero group disconnects that input from the layer.

    For a conv kernel ``(h, w, in, out)``, ``axis=(0, 1, 2)`` gives one group
    per filter. The ``sqrt(|g|)`` weighting is Yuan and Lin's (2006).

    Subgradient: ``strength * sqrt(|g|) * w_g / ||w_g||`` and 0 on a zero group.
    Proximal map: block soft thresholding,
    ``w_g * max(0, 1 - step * strength * sqrt(|g|) / ||w_g||)``.

    Args:
      strength: >= 0; a float or a JAX scalar.
      axis: an int or a tuple of ints, the dimensions inside one group.
      mask: leaves to penalize; default: those named ``kernel``.
    """

    _fields = ("strength",)
    name = "group_lasso"
    options = ("axis",)

    def __init__(
        self,
        strength: float | jax.Array = _KERAS_DEFAULT,
        axis: int | Sequence[int] = 0,
        *,
        mask: Mask = None,
    ):
        self.strength = _scalar("strength", strength)
        if isinstance(axis, int):
            axis = (axis,)
        if not axis or not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise TypeError(f"axis: expected an int or a non-empty tuple of ints, got {axis!r}")
        self.axis = tuple(axis)
        self.mask = mask

    def _static(self):
        return (_Static(self.mask), self.axis)

    def _set_static(self, aux):
        self.mask, self.axis = aux[0].value, aux[1]

    def _init_extras(self):
        return {"axis": self.axis}

    def _groups(self, w: jax.Array) -> tuple[tuple[int, ...], float]:
        if w.ndim == 0 or any(not -w.ndim <= a < w.ndim for a in self.axis):
            raise ValueError(
                f"axis: {self.axis} is out of range for a selected leaf of shape {w.shape}"
            )
        axes = tuple(sorted({a % w.ndim for a in self.axis}))
        return axes, math.sqrt(math.prod(w.shape[a] for a in axes))

    def leaf_value(self, w):
        axes, root = self._groups(w)
        return _as(self.strength, w) * root * jnp.sum(_safe_norm(w, axes))

    def leaf_grad(self, w):
        axes, root = self._groups(w)
        norm = _safe_norm(w, axes)
        return _as(self.strength, w) * root * w / jnp.where(norm > 0, norm, 1)

    def leaf_prox(self, w, step):
        if jnp.ndim(step) != 0:
            raise ValueError(
                "step: GroupLasso's proximal map needs a scalar step (a per-coordinate "
                "metric has no closed form for a group penalty)"
            )
        axes, root = self._groups(w)
        norm = _safe_norm(w, axes)
        threshold = _as(step, w) * _as(self.strength, w) * root
        scale = jnp.where(norm > threshold, 1 - threshold / jnp.where(norm > 0, norm, 1), 0)
        return w * scale


# --------------------------------------------------------------------------- #
# Keras interop
# --------------------------------------------------------------------------- #
REGULARIZERS: dict[str, type[Regularizer]] = {
    cls.name: cls for cls in (L1, L2, ElasticNet, GroupLasso)
}
"""The regularizers by config name (``regularizer=<name>``); the one list of them."""

_BY_KERAS_CLASS = {cls.keras_name: cls for cls in REGULARIZERS.values() if cls.keras_name}
# Keras's string aliases (keras.regularizers.get): the lowercase class names and "l1_l2".
_BY_KERAS_NAME = {name.lower(): cls for name, cls in _BY_KERAS_CLASS.items()} | {
    "l1_l2": ElasticNet
}


def from_keras(obj_or_config: Any) -> Regularizer:
    """Converts a Keras regularizer (or its config) into the equivalent regularizer.

    Accepts a ``keras.regularizers.L1`` / ``L2`` / ``L1L2`` object, the dict of
    ``keras.regularizers.serialize(obj)`` (with ``class_name``), a bare
    ``obj.get_config()`` dict (``{"l1": ...}``, ``{"l2": ...}`` or both), or
    a name (``"l1"``, ``"l2"``, ``"l1_l2"``) for Keras's defaults.

    Keras stores strengths rounded to float32 (``L1(0.3).get_config()`` is
    ``{"l1": 0.30000001192092896}``); the converted regularizer keeps that
    exact value, so it reproduces Keras in float64 too.

    Raises:
      ValueError: for any other Keras regularizer class (naming it) or an
        unrecognised config.

    Example::

      >>> from_keras(keras.regularizers.L1L2(l1=0.01, l2=0.1))
      ElasticNet(l1=0.009999999776482582, l2=0.10000000149011612)
    """
    if isinstance(obj_or_config, Regularizer):
        return obj_or_config
    if isinstance(obj_or_config, str):
        cls = _BY_KERAS_NAME.get(obj_or_config.lower())
        if cls is None:
            raise ValueError(
                f"from_keras: unknown regularizer name {obj_or_config!r}; expected one of "
                f"{sorted(_BY_KERAS_NAME)}"
            )
        return cls(0.01, 0.01) if cls is ElasticNet else cls()
    if isinstance(obj_or_config, dict):
        if "class_name" in obj_or_config:
            return _from_class(obj_or_config["class_name"], obj_or_config.get("config") or {})
        keys = set(obj_or_config)
        for class_name, cls in _BY_KERAS_CLASS.items():
            if keys == set(cls.strength_keys()):
                return _from_class(class_name, obj_or_config)
        raise ValueError(
            f"from_keras: unrecognised regularizer config keys {sorted(keys)}; expected "
            "'l1', 'l2' or both (a get_config() dict) or a 'class_name' entry"
        )
    get_config = getattr(obj_or_config, "get_config", None)
    if get_config is None:
        raise TypeError(
            "from_keras: expected a Keras regularizer, its config dict or a name, got "
            f"{type(obj_or_config).__name__}"
        )
    return _from_class(type(obj_or_config).__name__, get_config())


def _from_class(class_name: str, config: dict[str, Any]) -> Regularizer:
    cls = _BY_KERAS_CLASS.get(class_name)
    if cls is None:
        raise ValueError(
            f"from_keras: Keras regularizer class {class_name!r} has no equivalent here; "
            f"supported: {', '.join(_BY_KERAS_CLASS)}"
        )
    try:
        return cls(**{k: float(v) for k, v in config.items()})
    except TypeError as err:
        raise ValueError(f"from_keras: bad config for {class_name}: {config!r}") from err
