"""The penalties: L1, L2, ElasticNet (= L1L2), GroupLasso, and their registry.

Private: import the public names from ``research.regularizers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from research.compat import import_keras
from research.regularizers._base import (
    KERAS_DEFAULT,
    Mask,
    Regularizer,
    abs_sign_grad,
    cast,
    check_scalar,
    soft_threshold,
    total_abs,
)
from research.regularizers._composite import Bounded
from research.regularizers._nonconvex import L0, MCP, SCAD, LogSum, Lq
from research.regularizers._orthogonal import Orthogonal


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

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import L1
      >>> params = {"kernel": jnp.array([1.0, -2.0, 0.0]), "bias": jnp.ones(3)}
      >>> L1(0.5)(params)  # the bias is not penalized
      Array(1.5, dtype=float32)
      >>> L1(0.5).grad(params)["kernel"]  # sign(0) = 0
      Array([ 0.5, -0.5,  0. ], dtype=float32)
      >>> L1(0.5).prox(params, 2.0)["kernel"]  # soft thresholding at 2 * 0.5
      Array([ 0., -1.,  0.], dtype=float32)
    """

    _fields = ("l1",)
    name = "l1"
    keras_name = "L1"

    def __init__(self, l1: float | jax.Array = KERAS_DEFAULT, *, mask: Mask = None) -> None:
        self.l1 = check_scalar("l1", l1)
        self.mask = mask

    def leaf_value(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * total_abs(w)

    def entry_values(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * abs_sign_grad(w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * jnp.sign(w)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        return soft_threshold(w, cast(step, w) * cast(self.l1, w))

    def to_keras(self) -> Any:
        return import_keras().regularizers.L1(**self.get_config())


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

    def __init__(self, l2: float | jax.Array = KERAS_DEFAULT, *, mask: Mask = None) -> None:
        self.l2 = check_scalar("l2", l2)
        self.mask = mask

    def entry_values(self, w: jax.Array) -> jax.Array:
        return cast(self.l2, w) * jnp.square(w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return 2 * cast(self.l2, w) * w

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        return w / (1 + 2 * cast(step, w) * cast(self.l2, w))

    def to_keras(self) -> Any:
        return import_keras().regularizers.L2(**self.get_config())


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
    ) -> None:
        self.l1 = check_scalar("l1", l1)
        self.l2 = check_scalar("l2", l2)
        self.mask = mask

    def leaf_value(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * total_abs(w) + cast(self.l2, w) * jnp.sum(jnp.square(w))

    def entry_values(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * abs_sign_grad(w) + cast(self.l2, w) * jnp.square(w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * jnp.sign(w) + 2 * cast(self.l2, w) * w

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        step = cast(step, w)
        return soft_threshold(w, step * cast(self.l1, w)) / (1 + 2 * step * cast(self.l2, w))

    def to_keras(self) -> Any:
        return import_keras().regularizers.L1L2(**self.get_config())


L1L2 = ElasticNet


def _safe_norm(w: jax.Array, axis: tuple[int, ...]) -> jax.Array:
    """``||w||_2`` over ``axis`` (kept dims) whose gradient is 0, not NaN, at 0."""
    sq = jnp.sum(jnp.square(w), axis=axis, keepdims=True)
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1)), 0)


def _check_scalar_step(penalty: str, step: Any) -> None:
    """A group penalty's proximal map takes a scalar step only."""
    if jnp.ndim(step) != 0:
        raise ValueError(
            f"step: {penalty}'s proximal map needs a scalar step (a per-coordinate "
            "metric has no closed form for a group penalty)"
        )


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
    separable = False

    def __init__(
        self,
        strength: float | jax.Array = KERAS_DEFAULT,
        axis: int | Sequence[int] = 0,
        *,
        mask: Mask = None,
    ) -> None:
        self.strength = check_scalar("strength", strength)
        if isinstance(axis, int):
            axis = (axis,)
        if not axis or not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise TypeError(f"axis: expected an int or a non-empty tuple of ints, got {axis!r}")
        self.axis = tuple(axis)
        self.mask = mask

    def _groups(self, w: jax.Array) -> tuple[tuple[int, ...], float]:
        if w.ndim == 0 or any(not -w.ndim <= a < w.ndim for a in self.axis):
            raise ValueError(
                f"axis: {self.axis} is out of range for a selected leaf of shape {w.shape}"
            )
        axes = tuple(sorted({a % w.ndim for a in self.axis}))
        return axes, math.sqrt(math.prod(w.shape[a] for a in axes))

    def leaf_value(self, w: jax.Array) -> jax.Array:
        axes, root = self._groups(w)
        return cast(self.strength, w) * root * jnp.sum(_safe_norm(w, axes))

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        axes, root = self._groups(w)
        norm = _safe_norm(w, axes)
        return cast(self.strength, w) * root * w / jnp.where(norm > 0, norm, 1)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        _check_scalar_step("GroupLasso", step)
        axes, root = self._groups(w)
        norm = _safe_norm(w, axes)
        threshold = cast(step, w) * cast(self.strength, w) * root
        scale = jnp.where(norm > threshold, 1 - threshold / jnp.where(norm > 0, norm, 1), 0)
        return w * scale


class SparseGroupLasso(Regularizer):
    """``l1 * sum(|w|) + group * sum_g sqrt(|g|) * ||w_g||_2``: ``L1(l1) + GroupLasso(group,
    axis)`` (Simon, Friedman, Hastie and Tibshirani, 2013), zeroing whole groups and single
    weights inside the groups it keeps. The groups are ``GroupLasso``'s (``axis``).

    Subgradient: the sum of the two (0 on zero entries and zero groups). Proximal map:
    block soft thresholding of the soft-thresholded weights,
    ``u_g * max(0, 1 - step * group * sqrt(|g|) / ||u_g||)`` with
    ``u = sign(v) * max(|v| - step * l1, 0)``; a scalar step only.

    Args:
      l1: the L1 strength, >= 0; a float or a JAX scalar.
      group: the group strength, >= 0; a float or a JAX scalar.
      axis: the dimensions inside one group, as for ``GroupLasso``.
      mask: leaves to penalize; default: those named ``kernel``.
    """

    _fields = ("l1", "group")
    name = "sparse_group_lasso"
    options = ("axis",)
    separable = False

    def __init__(
        self,
        l1: float | jax.Array = KERAS_DEFAULT,
        group: float | jax.Array = KERAS_DEFAULT,
        axis: int | Sequence[int] = 0,
        *,
        mask: Mask = None,
    ) -> None:
        self.l1 = check_scalar("l1", l1)
        self.group = check_scalar("group", group)
        self.axis = GroupLasso(0.0, axis).axis
        self.mask = mask

    def _groups(self) -> GroupLasso:
        return GroupLasso(self.group, self.axis)

    def leaf_value(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * total_abs(w) + self._groups().leaf_value(w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return cast(self.l1, w) * jnp.sign(w) + self._groups().leaf_grad(w)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        _check_scalar_step("SparseGroupLasso", step)
        shrunk = soft_threshold(w, cast(step, w) * cast(self.l1, w))
        return self._groups().leaf_prox(shrunk, step)


REGULARIZERS: dict[str, type[Regularizer]] = {
    cls.name: cls
    for cls in (
        *(L1, L2, ElasticNet, GroupLasso, Orthogonal),
        *(MCP, SCAD, Lq, LogSum, L0, SparseGroupLasso),
    )
}
"""The regularizers by config name (``regularizer=<name>``); the one list of them."""


BOX_KEYS = ("lower", "upper")
"""The box-limit keys every separable penalty takes in a config (``regularizer.lower``)."""


def from_config(
    name: str, *, lower: Any = None, upper: Any = None, mask: Mask = None, **kwargs: Any
) -> Regularizer:
    """The penalty ``REGULARIZERS[name](**kwargs, mask=mask)``, in ``Bounded`` when a limit
    is given: how a config's ``regularizer`` group (strengths, options, ``lower``,
    ``upper``) becomes a penalty.

    Examples:
      >>> from research.regularizers import from_config
      >>> from_config("l1", l1=0.1)
      L1(l1=0.1)
      >>> from_config("mcp", strength=0.1, gamma=2.0, lower=0.0)
      Bounded(MCP(strength=0.1, gamma=2.0), lower=0.0, upper=None)
    """
    if name not in REGULARIZERS:
        raise ValueError(f"name: expected one of {sorted(REGULARIZERS)}, got {name!r}")
    build: Any = REGULARIZERS[name]  # the subclasses' __init__ take their own keys
    reg = build(**kwargs, mask=mask)
    if lower is None and upper is None:
        return reg
    if not reg.separable:
        raise ValueError(
            f"lower: box limits need a separable penalty (a sum over entries); {name} is not"
        )
    return Bounded(reg, lower=lower, upper=upper)
