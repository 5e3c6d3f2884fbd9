"""Figures 1-4, the Stats.SE answer: L1 and L2 of one weight, and gradient descent on each.

The answer plots ``|w|`` and ``w^2 / 2`` with their (sub)gradients, then runs
gradient descent on each penalty alone from w = 5 with step 1/2: L1 reaches 0
after 10 steps, L2 halves w every step and never does. The penalties come from
``research.regularizers``; the descents are the runs of sweep ``gd_1d``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from research import figures
from research.paper.output import Figure, save
from research.paper.reference import STATS_ANSWER
from research.paper.sweeps import Sweeps
from research.regularizers import L1, L2

__all__ = ["fig01_l1_penalty", "fig02_l2_penalty", "fig03_l1_descent", "fig04_l2_descent"]

# name -> (regularizer, formula, subgradient formula), in the answer's notation
PENALTIES = {
    "l1": (L1(STATS_ANSWER.l1), "|w|", "sign(w)"),
    "l2": (L2(STATS_ANSWER.l2), "w^2 / 2", "w"),
}


def _w_grid() -> np.ndarray:
    return np.round(np.linspace(-5, 5, 201), 6)  # includes 0 exactly


def _penalty_curve(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, penalty, subgradient)`` of one parameter on a grid, from the library."""
    reg = PENALTIES[name][0]
    w = _w_grid()
    value = jax.vmap(lambda v: reg({"kernel": v}))(jnp.asarray(w, jnp.float32))
    grad = reg.grad({"kernel": jnp.asarray(w, jnp.float32)})["kernel"]
    return w, np.asarray(value), np.asarray(grad)


def _penalty_figure(name: str, key: str, out: Path) -> Figure:
    reg, formula, grad_formula = PENALTIES[name]
    w, value, grad = _penalty_curve(name)
    fig = figures.penalty_and_gradient(
        w, value, grad, name=name, formula=formula, grad_formula=grad_formula
    )
    save(out, key, fig, {"w": w, "value": value, "grad": grad})
    return Figure(
        key,
        f"{name.upper()} penalty {formula} and its subgradient {grad_formula} for one parameter, "
        f"as plotted in the Stats.SE answer (from research.regularizers: {type(reg).__name__}).",
        {"subgradient at w=0": float(grad[w == 0][0])},
    )


def _descent_path(sweeps: Sweeps, name: str, method: str = "subgradient") -> np.ndarray:
    """The one weight after each step ``(steps + 1,)`` of a ``gd_1d`` run."""
    job = sweeps["gd_1d"].pick(regularizer__name=name, method=method)
    return job.history["snapshots/layers/0/kernel"][0, 0, :, 0, 0]


def _descent_figure(sweeps: Sweeps, name: str, key: str, out: Path) -> Figure:
    _, formula, _ = PENALTIES[name]
    w, value, _ = _penalty_curve(name)
    path = _descent_path(sweeps, name)
    fig = figures.descent_path(
        path, w, value, name=name, formula=formula, learning_rate=STATS_ANSWER.learning_rate
    )
    extra = {"proximal_path": _descent_path(sweeps, name, "proximal")} if name == "l1" else {}
    save(out, key, fig, {"path": path, **extra})
    zeros = np.flatnonzero(path == 0)
    return Figure(
        key,
        f"Gradient descent on {formula} alone from w = {STATS_ANSWER.w_start:g} with step 1/2, "
        f"as in the Stats.SE answer (research-train -m +sweep=gd_1d, its regularizer={name} "
        "subgradient run).",
        {
            "first step with w == 0": int(zeros[0]) if zeros.size else None,
            "w after 10 steps": float(path[10]),
            "w after 20 steps": float(path[-1]),
        },
    )


def fig01_l1_penalty(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 1: the L1 penalty |w| and its subgradient sign(w)."""
    return _penalty_figure("l1", "fig01_l1_penalty", out)


def fig02_l2_penalty(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 2: the L2 penalty w^2 / 2 and its gradient w."""
    return _penalty_figure("l2", "fig02_l2_penalty", out)


def fig03_l1_descent(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 3: gradient descent on |w| reaches 0 exactly."""
    return _descent_figure(sweeps, "l1", "fig03_l1_descent", out)


def fig04_l2_descent(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 4: gradient descent on w^2 / 2 never reaches 0."""
    return _descent_figure(sweeps, "l2", "fig04_l2_descent", out)
