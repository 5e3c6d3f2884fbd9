"""The base of the penalties: leaf selection, argument checks, ``Regularizer``, sums of ``|w|``.

Private: import the public names from ``research.regularizers``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research.checks import check_nonnegative, is_traced
from research.trees import entry_key, path_str

PyTree = Any
Mask = PyTree | Callable[[PyTree], PyTree] | None

KERAS_DEFAULT = 0.01  # keras.regularizers.L1() / L2() default strength.


# --------------------------------------------------------------------------- #
# Selection of leaves
# --------------------------------------------------------------------------- #
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
        lambda path, _: any(entry_key(e) == "kernel" for e in path), params
    )


def by_name(*names: str) -> Callable[[PyTree], PyTree]:
    """A mask selecting the leaves with a path entry named one of ``names``.

    For params whose weight matrices are not named ``kernel`` (the default
    selection): Haiku's ``{"linear": {"w": ..., "b": ...}}`` takes
    ``by_name("w")``, an Equinox ``Linear`` ``by_name("weight")``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import L1, by_name
      >>> params = {"linear": {"w": jnp.ones(2), "b": jnp.ones(2)}}
      >>> by_name("w")(params)
      {'linear': {'b': False, 'w': True}}
      >>> float(L1(0.5, mask=by_name("w"))(params))  # the bias "b" is left alone
      1.0
    """
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names: expected one or more strings, got {names!r}")
    wanted = set(names)

    def mask(params: PyTree) -> PyTree:
        return jax.tree_util.tree_map_with_path(
            lambda path, _: any(entry_key(e) in wanted for e in path), params
        )

    return mask


def select_leaves(mask: Mask, params: PyTree, treedef: Any) -> list[bool]:
    """Resolves ``mask`` against ``params`` (with structure ``treedef``): one bool per leaf.

    ``mask`` is None (the default selection, ``kernel_mask``), a pytree of
    bools with the structure of ``params`` or a prefix of it, or a callable
    from params to one, as in optax.
    """
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
    if mask is None and flags and not any(flags):
        paths = [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        raise ValueError(
            "mask: the default selection (leaves with a path entry named 'kernel', as Flax "
            "and Keras name weight matrices) selects no leaf of these params, so the penalty "
            f"would act on nothing; their leaves are {paths[:8]}{' ...' * (len(paths) > 8)}. "
            "Select with mask=research.regularizers.by_name('w') (Haiku; 'weight' for Equinox "
            "and PyTorch-style names), a pytree of bools or a callable"
        )
    return [bool(f) for f in flags]


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #
def check_scalar(name: str, value: Any) -> Any:
    check_nonnegative(name, value)
    if is_traced(value) and jnp.ndim(value) != 0:
        raise ValueError(
            f"{name}: expected a scalar, got a traced array of shape {jnp.shape(value)}"
        )
    return value


def cast(value: Any, like: jax.Array) -> jax.Array:
    """Casts a strength or step to a leaf's dtype (Keras computes in the weight's dtype)."""
    return jnp.asarray(value, dtype=like.dtype)


class ByIdentity:
    """Holds a mask as pytree aux data: compared by identity, so unhashable masks work."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByIdentity) and other.value is self.value

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
    has_prox: bool = True  # False: no closed-form prox; use the subgradient method
    separable: bool = True  # a sum over entries: its prox takes a per-coordinate step
    needs_prox: bool = False  # True: a constraint (box limits) that only a prox step keeps
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
        return (ByIdentity(self.mask), *(getattr(self, k) for k in self.options))

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
        for key, value in zip(self.options, aux[1:], strict=True):
            object.__setattr__(self, key, value)

    # per-leaf math, implemented by subclasses
    @classmethod
    def strength_keys(cls) -> tuple[str, ...]:
        """The names of the strengths (the pytree leaves), e.g. ``("l1", "l2")``."""
        return cls._fields

    def leaf_value(self, w: jax.Array) -> jax.Array:
        """The penalty of one selected leaf (for a separable one, the sum of ``entry_values``)."""
        return jnp.sum(self.entry_values(w))

    def entry_values(self, w: jax.Array) -> jax.Array:
        """The penalty of each entry of one selected leaf (separable penalties only)."""
        raise TypeError(f"{type(self).__name__} is not separable: it has no per-entry values")

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        """Points among which every local minimizer of ``1/2 (w - v)**2 + step * R(w)`` lies,
        entry by entry (separable penalties), the proximal map first.

        A box-constrained prox (``Bounded``) picks the best of these clipped to the box
        and the box's ends. The default, the proximal map alone, holds for the convex
        penalties, whose 1-D problem has one local minimizer; the non-convex ones add
        their other local minimizers (0, and one away from 0).
        """
        return [self.leaf_prox(v, step)]

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        """A subgradient of the penalty of one selected leaf (``sign(0) = 0``)."""
        raise NotImplementedError

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        """The proximal map of ``step * penalty`` on one selected leaf."""
        raise NotImplementedError

    # public API
    def __call__(self, params: PyTree) -> jax.Array:
        """The scalar penalty summed over the selected leaves of ``params``."""
        leaves, regs, _ = self._per_leaf(params)
        terms = [r.leaf_value(w) for w, r in zip(leaves, regs, strict=True) if r is not None]
        if not terms:
            return jnp.zeros((), dtype=jnp.result_type(*leaves) if leaves else float)
        return sum(terms[1:], terms[0])

    def grad(self, params: PyTree) -> PyTree:
        """A subgradient of the penalty: zeros on unselected leaves, ``sign(0) = 0``."""
        leaves, regs, treedef = self._per_leaf(params)
        out = [
            r.leaf_grad(w) if r is not None else jnp.zeros_like(w)
            for w, r in zip(leaves, regs, strict=True)
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
        leaves, regs, treedef = self._per_leaf(params)
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
            r.leaf_prox(w, s) if r is not None else w
            for w, s, r in zip(leaves, steps, regs, strict=True)
        ]
        return treedef.unflatten(out)

    def map_leaves(self, fn: Callable[..., jax.Array], params: PyTree, *rest: PyTree) -> PyTree:
        """Applies ``fn(leaf_reg, param, *rest_leaves)`` to the selected leaves; the others
        take ``rest[0]``'s leaf.

        ``leaf_reg`` is the penalty acting on that leaf: ``self``, or for ``Weighted`` and
        ``Bounded`` with per-leaf factors or limits, one holding that leaf's. The building
        block of the optax transforms: unselected leaves pass through untouched, so no
        work is spent on them.
        """
        leaves, regs, treedef = self._per_leaf(params)
        rest_leaves = [treedef.flatten_up_to(r) for r in rest]
        out = []
        for i, (w, r) in enumerate(zip(leaves, regs, strict=True)):
            others = [x[i] for x in rest_leaves]
            out.append(fn(r, w, *others) if r is not None else others[0])
        return treedef.unflatten(out)

    def map_selected(self, fn: Callable[..., jax.Array], params: PyTree, *rest: PyTree) -> PyTree:
        """``map_leaves`` for a ``fn(param, *rest_leaves)`` that does not take the penalty."""
        return self.map_leaves(lambda _, w, *others: fn(w, *others), params, *rest)

    def _per_leaf(self, params: PyTree) -> tuple[list[Any], list[Regularizer | None], Any]:
        """The leaves of ``params``, the penalty acting on each (None: unselected), the treedef."""
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flags = select_leaves(self.mask, params, treedef)
        return leaves, self.leaf_regularizers(params, flags), treedef

    def leaf_regularizers(self, params: PyTree, flags: list[bool]) -> list[Regularizer | None]:
        """The penalty acting on each leaf of ``params`` (None where ``flags`` is False):
        ``self``; ``Weighted`` and ``Bounded`` give each leaf its own factors or limits."""
        del params
        return [self if f else None for f in flags]

    def replace(self, **changes: Any) -> Regularizer:
        """A copy with some strengths or the mask replaced (validated like ``__init__``)."""
        kwargs = {f: getattr(self, f) for f in self._fields}
        kwargs.update(self._init_extras())
        kwargs["mask"] = self.mask
        kwargs.update(changes)
        return type(self)(**kwargs)

    def _init_extras(self) -> dict[str, Any]:
        """The static options, as keyword arguments of ``__init__`` (``replace``, ``repr``)."""
        return {k: getattr(self, k) for k in self.options}

    def get_config(self) -> dict[str, float]:
        """The strengths as Python floats, in Keras's ``get_config()`` format."""
        config = {}
        for f in self._fields:
            value = getattr(self, f)
            if is_traced(value):
                raise ValueError(f"{f}: a traced strength has no concrete config value")
            config[f] = float(value)
        return config

    def to_keras(self) -> Any:
        """The equivalent ``keras.regularizers`` object (needs Keras installed).

        The mask is not carried over: Keras attaches a regularizer per layer.
        """
        raise ValueError(
            f"{type(self).__name__} has no Keras equivalent (keras.regularizers offers L1, L2, "
            "L1L2 and OrthogonalRegularizer)"
        )

    def __repr__(self) -> str:
        parts = [f"{f}={getattr(self, f)!r}" for f in self._fields]
        parts += [f"{k}={v!r}" for k, v in self._init_extras().items()]
        if self.mask is not None:
            parts.append(f"mask={self.mask!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


@jax.custom_jvp
def abs_sign_grad(w: jax.Array) -> jax.Array:
    """``|w|`` whose derivative is ``sign(w)``: 0 at 0, like TensorFlow's gradient of abs
    (``jax.grad(jnp.abs)(0.0)`` is 1.0)."""
    return jnp.abs(w)


@abs_sign_grad.defjvp
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


def total_abs(w: jax.Array) -> jax.Array:
    """Sum of ``|w|`` (a dot product with ones under ``sum_by_dot``)."""
    x = abs_sign_grad(w)
    if not _SUM_BY_DOT.get():
        return jnp.sum(x)
    flat = jnp.ravel(x)
    return jnp.dot(flat, jnp.ones_like(flat), precision=jax.lax.Precision.HIGHEST)


def soft_threshold(v: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - t, 0)
