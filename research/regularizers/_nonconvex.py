"""Non-convex separable penalties with exact proximal maps: MCP, SCAD, Lq (q = 1/2, 2/3),
LogSum, L0.

Each keeps L1's exact zeros while shrinking large weights less (MCP, SCAD: not at
all past a threshold). Their proximal maps are global minimizers of the 1-D
problem ``1/2 (w - v)**2 + step * R(w)`` for every step, in closed form, entry
by entry (so a per-coordinate step works too). Where the problem has two
minimizers (at a threshold), the one returned is stated in each class.

Private: import the public names from ``research.regularizers``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from research.checks import is_traced
from research.regularizers._base import Mask, Regularizer, cast, check_scalar

__all__ = ["L0", "MCP", "SCAD", "LogSum", "Lq"]


def _check_option(name: str, value: Any, low: float, rule: str) -> float:
    """A static option (not traced) as a float, > ``low``."""
    if is_traced(value) or isinstance(value, bool):
        raise TypeError(f"{name}: expected a number (static, not traced), got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a number, got {value!r}") from err
    if not math.isfinite(number) or number <= low:
        raise ValueError(f"{name}: expected {rule}, got {value!r}")
    return number


class MCP(Regularizer):
    """The minimax concave penalty (Zhang, 2010), per entry:
    ``strength * |w| - w**2 / (2 * gamma)`` where ``|w| <= gamma * strength``, else
    ``gamma * strength**2 / 2`` (skglm's ``MCPenalty(alpha=strength, gamma=gamma)``).

    Gradient: ``sign(w) * (strength - |w| / gamma)`` inside, 0 outside and at 0.
    Proximal map of ``step * MCP``:

    * ``gamma > step``: firm thresholding, the unique minimizer: 0 where
      ``|v| <= step * strength``, ``v`` where ``|v| > gamma * strength``, and
      ``sign(v) * (|v| - step * strength) / (1 - step / gamma)`` between.
    * ``gamma <= step`` (the 1-D problem is not convex): hard thresholding at
      ``strength * sqrt(step * gamma)``: ``v`` above it, 0 at or below it (at the
      threshold both are minimizers; 0 is returned).

    Args:
      strength: >= 0; a float or a JAX scalar (a grid of strengths is one vmap).
      gamma: > 0, static (default 3.0).
      mask: leaves to penalize; default: those named ``kernel``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import MCP
      >>> params = {"kernel": jnp.array([0.5, 1.5, 3.0])}
      >>> float(MCP(1.0, gamma=2.0)(params))  # 0.4375 + 0.9375 + 1 (flat past gamma)
      2.375
      >>> MCP(1.0, gamma=2.0).prox(params, 1.0)["kernel"]  # 0, firm, kept
      Array([0., 1., 3.], dtype=float32)
    """

    _fields = ("strength",)
    name = "mcp"
    options = ("gamma",)

    def __init__(
        self, strength: float | jax.Array = 0.01, gamma: float = 3.0, *, mask: Mask = None
    ) -> None:
        self.strength = check_scalar("strength", strength)
        self.gamma = _check_option("gamma", gamma, 0.0, "a finite number > 0")
        self.mask = mask

    def entry_values(self, w: jax.Array) -> jax.Array:
        lam, gamma, a = cast(self.strength, w), cast(self.gamma, w), jnp.abs(w)
        inside = lam * a - a**2 / (2 * gamma)
        return jnp.where(a <= gamma * lam, inside, gamma * lam**2 / 2)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        lam, gamma, a = cast(self.strength, w), cast(self.gamma, w), jnp.abs(w)
        return jnp.where(a <= gamma * lam, jnp.sign(w) * (lam - a / gamma), 0)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        lam, gamma, t, a = cast(self.strength, w), cast(self.gamma, w), cast(step, w), jnp.abs(w)
        convex = gamma > t
        shrink = 1 - jnp.where(convex, t / gamma, 0)
        firm = jnp.where(
            a <= lam * t, 0, jnp.where(a > lam * gamma, w, jnp.sign(w) * (a - lam * t) / shrink)
        )
        hard = jnp.where(a > lam * jnp.sqrt(t * gamma), w, 0)
        return jnp.where(convex, firm, hard)

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        # Not convex (gamma <= step): 0 and the minimizer past gamma * strength.
        outer = jnp.sign(v) * jnp.maximum(jnp.abs(v), cast(self.gamma * self.strength, v))
        return [self.leaf_prox(v, step), jnp.zeros_like(v), outer]


def _scad_value(a: jax.Array, lam: jax.Array, gamma: jax.Array) -> jax.Array:
    """SCAD per entry at ``a = |w|``."""
    middle = (2 * gamma * lam * a - a**2 - lam**2) / (2 * (gamma - 1))
    outer = lam**2 * (gamma + 1) / 2
    return jnp.where(a <= lam, lam * a, jnp.where(a <= gamma * lam, middle, outer))


class SCAD(Regularizer):
    """Fan and Li's (2001) smoothly clipped absolute deviation, per entry:
    ``strength * |w|`` up to ``strength``, then
    ``(2 a strength |w| - w**2 - strength**2) / (2 (a - 1))`` up to ``a * strength``, then
    ``strength**2 (a + 1) / 2`` (skglm's ``SCAD(alpha=strength, gamma=a)``).

    Gradient: ``strength * sign(w)`` up to ``strength``,
    ``sign(w) * (a strength - |w|) / (a - 1)`` up to ``a * strength``, 0 past it and at 0.
    Proximal map of ``step * SCAD``: the best of the minimizers of the three pieces
    (soft thresholding on the first; on the middle one its stationary point
    ``((a - 1)|v| - step a strength) / (a - 1 - step)`` when ``a > 1 + step``, else its
    ends; ``v`` on the last), all clipped to their pieces, so it is a global
    minimizer for every step; at ties the smaller ``|w|`` is returned.

    Args:
      strength: >= 0; a float or a JAX scalar.
      a: > 2, static (Fan and Li's 3.7 by default).
      mask: leaves to penalize; default: those named ``kernel``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import SCAD
      >>> SCAD(1.0, a=3.7).prox({"kernel": jnp.array([0.5, 2.5, 5.0])}, 1.0)["kernel"]
      Array([0.       , 1.7941176, 5.       ], dtype=float32)
    """

    _fields = ("strength",)
    name = "scad"
    options = ("a",)

    def __init__(
        self, strength: float | jax.Array = 0.01, a: float = 3.7, *, mask: Mask = None
    ) -> None:
        self.strength = check_scalar("strength", strength)
        self.a = _check_option("a", a, 2.0, "a finite number > 2")
        self.mask = mask

    def entry_values(self, w: jax.Array) -> jax.Array:
        return _scad_value(jnp.abs(w), cast(self.strength, w), cast(self.a, w))

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        lam, gamma, a = cast(self.strength, w), cast(self.a, w), jnp.abs(w)
        middle = (gamma * lam - a) / (gamma - 1)
        slope = jnp.where(a <= lam, lam, jnp.where(a <= gamma * lam, middle, 0))
        return jnp.sign(w) * slope

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        t = cast(step, w)
        convex = cast(self.a, w) - 1 > t
        if jnp.ndim(t) != 0:  # a per-coordinate step
            return jnp.where(convex, self._firm(w, t), self._best_piece(w, t))
        if not is_traced(t):  # a concrete step: one branch, fused with the update around it
            return self._firm(w, t) if bool(convex) else self._best_piece(w, t)
        return jax.lax.cond(convex, self._firm, self._best_piece, w, t)

    def _firm(self, w: jax.Array, t: jax.Array) -> jax.Array:
        """The prox where the 1-D problem is convex (``a > 1 + step``): its one stationary
        point, soft thresholding up to ``(1 + step) strength``, then the middle piece's
        point up to ``a strength``, then ``w``."""
        lam, gamma, v = cast(self.strength, w), cast(self.a, w), jnp.abs(w)
        soft = jnp.maximum(v - t * lam, 0)
        middle = ((gamma - 1) * v - t * gamma * lam) / jnp.maximum(gamma - 1 - t, 1e-30)
        inner = jnp.where(v <= (1 + t) * lam, soft, middle)
        return jnp.where(v <= gamma * lam, jnp.sign(w) * inner, w)

    def _best_piece(self, w: jax.Array, t: jax.Array) -> jax.Array:
        """The best of the pieces' minimizers (any step), smaller ``|w|`` first at ties."""
        lam, gamma, v = cast(self.strength, w), cast(self.a, w), jnp.abs(w)
        best, best_objective = jnp.zeros_like(v), v**2 / 2
        for c in self._pieces(w, t)[1:]:
            objective = (c - v) ** 2 / 2 + t * _scad_value(c, lam, gamma)
            better = objective < best_objective
            best, best_objective = (
                jnp.where(better, c, best),
                jnp.where(better, objective, best_objective),
            )
        return jnp.sign(w) * best

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        return [self.leaf_prox(v, step), *(jnp.sign(v) * c for c in self._pieces(v, step))]

    def _pieces(self, w: jax.Array, step: Any) -> list[jax.Array]:
        """At ``|w|``: 0 and the minimizers of the three pieces (the middle one's ends where it
        is concave), in increasing order."""
        lam, gamma, t, v = cast(self.strength, w), cast(self.a, w), cast(step, w), jnp.abs(w)
        convex = gamma - 1 > t
        stationary = ((gamma - 1) * v - t * (gamma * lam)) / jnp.where(convex, gamma - 1 - t, 1)
        middle = jnp.clip(stationary, lam, gamma * lam)
        return [
            jnp.zeros_like(v),
            jnp.clip(v - t * lam, 0, lam),
            jnp.where(convex, middle, lam),
            jnp.where(convex, middle, gamma * lam),
            jnp.maximum(v, gamma * lam),
        ]


_Q = {0.5: "1/2", 2 / 3: "2/3"}


def _root_half(v: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """For ``u * |w|**(1/2)`` (Xu et al., 2012): the stationary point away from 0 (the
    prox above the threshold; finite, but not a root, where none exists) and whether
    ``|v|`` is below the threshold ``3/2 u**(2/3)``."""
    a = jnp.abs(v)
    safe = jnp.where(a > 0, a, 1)
    inner = jnp.clip(-(3.0**1.5 / 4) * u * safe**-1.5, -1, 1)
    value = v * (2 / 3) * (1 + jnp.cos((2 / 3) * jnp.arccos(inner)))
    return value, a < 1.5 * u ** (2 / 3)


def _root_two_thirds(v: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """For ``u * |w|**(2/3)`` (Cao et al., 2013), as ``_root_half``; the threshold is
    ``2 (2/3 u)**(3/4)``."""
    a = jnp.abs(v)
    root = jnp.sqrt(jnp.maximum(a**4 / 256 - 8 * u**3 / 729, 0))
    z = jnp.cbrt(a**2 / 16 + root) + jnp.cbrt(a**2 / 16 - root)
    z = jnp.where(z > 0, z, 1)
    inner = jnp.maximum(2 * a / jnp.sqrt(2 * z) - 2 * z, 0)
    value = jnp.sign(v) / 8 * (jnp.sqrt(2 * z) + jnp.sqrt(inner)) ** 3
    return value, a < 2 * (2 / 3 * u) ** 0.75


class Lq(Regularizer):
    """``strength * sum(|w|**q)`` for ``q = 1/2`` or ``q = 2/3`` (skglm's ``L0_5`` and
    ``L2_3``), the two powers below 1 whose proximal maps have closed forms.

    Gradient: ``strength * q * |w|**(q - 1) * sign(w)``, 0 at 0 (where the penalty
    has no derivative). Proximal map of ``step * Lq``: 0 below a threshold
    (``3/2 u**(2/3)`` for q = 1/2, ``2 (2/3 u)**(3/4)`` for q = 2/3, with
    ``u = step * strength``), the non-zero stationary point above; at the threshold,
    where both are minimizers, the non-zero one (as skglm).

    Args:
      strength: >= 0; a float or a JAX scalar.
      q: 0.5 or 2/3 (static; also the strings ``"1/2"``, ``"2/3"``); other values raise.
      mask: leaves to penalize; default: those named ``kernel``.
    """

    _fields = ("strength",)
    name = "lq"
    options = ("q",)

    def __init__(
        self, strength: float | jax.Array = 0.01, q: float = 0.5, *, mask: Mask = None
    ) -> None:
        self.strength = check_scalar("strength", strength)
        if isinstance(q, str) and q.strip() in _Q.values():  # "1/2", "2/3" (a config's spelling)
            q = next(k for k, v in _Q.items() if v == q.strip())
        number = _check_option("q", q, 0.0, "1/2 or 2/3")
        supported = [k for k in _Q if abs(number - k) < 1e-9]
        if not supported:
            raise ValueError(
                f"q: expected 1/2 or 2/3 (the powers with closed-form proximal maps), got {q!r}"
            )
        self.q = supported[0]
        self.mask = mask

    def entry_values(self, w: jax.Array) -> jax.Array:
        return cast(self.strength, w) * jnp.abs(w) ** cast(self.q, w)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        a = jnp.abs(w)
        slope = cast(self.q, w) * jnp.where(a > 0, a, 1) ** (cast(self.q, w) - 1)
        return jnp.where(a > 0, cast(self.strength, w) * slope * jnp.sign(w), 0)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        value, below = self._root(w, step)
        return jnp.where(below, 0, value)

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        value, below = self._root(v, step)
        return [jnp.where(below, 0, value), jnp.zeros_like(v), value]

    def _root(self, v: jax.Array, step: Any) -> tuple[jax.Array, jax.Array]:
        u = cast(step, v) * cast(self.strength, v)
        return _root_half(v, u) if self.q == 0.5 else _root_two_thirds(v, u)


class LogSum(Regularizer):
    """``strength * sum(log(1 + |w| / eps))`` (Candes, Wakin and Boyd, 2008; skglm's
    ``LogSumPenalty(alpha=strength, eps=eps)``).

    Gradient: ``strength * sign(w) / (eps + |w|)``, 0 at 0. Proximal map of
    ``step * LogSum`` with ``u = step * strength``: the larger root
    ``r = (|v| - eps) / 2 + sqrt((|v| + eps)**2 / 4 - u)`` of the stationarity
    condition (the only local minimizer away from 0) where it exists, is positive
    and has a smaller objective than 0; else 0. That comparison is the exact
    threshold (Prater-Bennette, Shen and Tripp, 2021, find it by bisection); at the
    threshold, where both are minimizers, 0 is returned.

    Args:
      strength: >= 0; a float or a JAX scalar.
      eps: > 0, static (the curvature: small ``eps`` is close to L0).
      mask: leaves to penalize; default: those named ``kernel``.
    """

    _fields = ("strength",)
    name = "log_sum"
    options = ("eps",)

    def __init__(
        self, strength: float | jax.Array = 0.01, eps: float = 1.0, *, mask: Mask = None
    ) -> None:
        self.strength = check_scalar("strength", strength)
        self.eps = _check_option("eps", eps, 0.0, "a finite number > 0")
        self.mask = mask

    def entry_values(self, w: jax.Array) -> jax.Array:
        return cast(self.strength, w) * jnp.log1p(jnp.abs(w) / cast(self.eps, w))

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return cast(self.strength, w) * jnp.sign(w) / (cast(self.eps, w) + jnp.abs(w))

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        root, better = self._root(w, step)
        return jnp.where(better, root, 0)

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        root, better = self._root(v, step)
        return [jnp.where(better, root, 0), jnp.zeros_like(v), root]

    def _root(self, w: jax.Array, step: Any) -> tuple[jax.Array, jax.Array]:
        """The local minimizer away from 0 (``sign(w) * max(r, 0)``) and where it beats 0."""
        u, eps, v = cast(step, w) * cast(self.strength, w), cast(self.eps, w), jnp.abs(w)
        disc = (v + eps) ** 2 / 4 - u
        root = (v - eps) / 2 + jnp.sqrt(jnp.maximum(disc, 0))
        gain = (root - v) ** 2 / 2 + u * jnp.log1p(jnp.maximum(root, 0) / eps) - v**2 / 2
        return jnp.sign(w) * jnp.maximum(root, 0), (disc >= 0) & (root > 0) & (gain < 0)


class L0(Regularizer):
    """``strength * count(w != 0)``: the number of non-zero weights.

    Gradient: 0 (the count is flat almost everywhere). Proximal map of
    ``step * L0``: hard thresholding at ``sqrt(2 * step * strength)``, ``v`` above
    it, 0 at or below it (at the threshold both are minimizers; 0 is returned).

    Args:
      strength: >= 0; a float or a JAX scalar.
      mask: leaves to penalize; default: those named ``kernel``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from research.regularizers import L0
      >>> params = {"kernel": jnp.array([0.0, -2.0, 0.1])}
      >>> L0(0.5)(params)  # two non-zero weights
      Array(1., dtype=float32)
      >>> L0(0.5).prox(params, 1.0)["kernel"]  # hard thresholding at sqrt(2 * 1 * 0.5)
      Array([ 0., -2.,  0.], dtype=float32)
    """

    _fields = ("strength",)
    name = "l0"

    def __init__(self, strength: float | jax.Array = 0.01, *, mask: Mask = None) -> None:
        self.strength = check_scalar("strength", strength)
        self.mask = mask

    def entry_values(self, w: jax.Array) -> jax.Array:
        return cast(self.strength, w) * (w != 0).astype(w.dtype)

    def leaf_grad(self, w: jax.Array) -> jax.Array:
        return jnp.zeros_like(w)

    def leaf_prox(self, w: jax.Array, step: Any) -> jax.Array:
        threshold = jnp.sqrt(2 * cast(step, w) * cast(self.strength, w))
        return jnp.where(jnp.abs(w) > threshold, w, 0)

    def leaf_candidates(self, v: jax.Array, step: Any) -> list[jax.Array]:
        return [self.leaf_prox(v, step), jnp.zeros_like(v), v]
