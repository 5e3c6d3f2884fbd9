"""Figures 1-5: penalties of one weight, the Stats.SE answer's descent, the 2-D constraint."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from research.figures.style import COLORS, color, style


def penalty_and_gradient(
    w: np.ndarray,
    value: np.ndarray,
    grad: np.ndarray,
    *,
    name: str,
    formula: str,
    grad_formula: str,
) -> Figure:
    """Figures 1 and 2: a penalty of one parameter and its (sub)gradient.

    Args:
      w: the parameter values, shape ``(n,)``.
      value, grad: the penalty and its subgradient at ``w`` (from the library).
      name: the regularizer's name ("l1", "l2"), which picks the colour.
      formula, grad_formula: axis labels, e.g. ``"|w|"`` and ``"sign(w)"``.
    """
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        axes[0].plot(w, value, color=color(name))
        axes[0].set(xlabel="w", ylabel=f"penalty  {formula}", title=f"{name.upper()} penalty")
        axes[1].plot(w, grad, color=color(name))
        zero = np.flatnonzero(w == 0)
        if zero.size:
            axes[1].plot(w[zero], grad[zero], "o", color=color(name), label="value at w = 0")
            axes[1].legend(loc="upper left")
        axes[1].set(xlabel="w", ylabel=f"d/dw  {grad_formula}", title="its (sub)gradient")
        fig.tight_layout()
    return fig


def descent_path(
    path: np.ndarray,
    w: np.ndarray,
    value: np.ndarray,
    *,
    name: str,
    formula: str,
    learning_rate: float,
) -> Figure:
    """Figures 3 and 4: gradient descent on a penalty alone from ``path[0]``.

    Args:
      path: the parameter after each step, ``(steps + 1,)`` (from training runs).
      w, value: the penalty curve to draw the iterates on.
    """
    steps = np.arange(len(path))
    c = color(name)
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        axes[0].plot(steps, path, "o-", color=c, markersize=4)
        axes[0].axhline(0, color="0.3", linewidth=0.8)
        first_zero = np.flatnonzero(path == 0)
        if first_zero.size:
            k = int(first_zero[0])
            axes[0].annotate(
                f"w = 0 exactly at step {k}",
                (k, 0),
                xytext=(k + 1, 0.35 * path[0]),
                arrowprops={"arrowstyle": "->"},
            )
        else:
            axes[0].annotate(
                f"step {steps[-1]}: w = {path[-1]:.3g} > 0",
                (steps[-1], path[-1]),
                xytext=(0.45 * steps[-1], 0.4 * path[0]),
                arrowprops={"arrowstyle": "->"},
            )
        axes[0].set(
            xlabel="step",
            ylabel="w",
            title=f"{name.upper()}: w := w - {learning_rate:g} * d/dw {formula}",
        )
        axes[1].plot(w, value, color="0.6")
        on_curve = np.interp(path, w, value)
        axes[1].plot(path, on_curve, "o-", color=c, markersize=4)
        axes[1].set(xlabel="w", ylabel=formula, title="the iterates on the penalty")
        fig.tight_layout()
    return fig


def constraint_contours(
    w1: np.ndarray,
    w2: np.ndarray,
    loss: np.ndarray,
    penalties: dict[str, np.ndarray],
    optima: dict[str, dict[str, np.ndarray | float]],
    unregularized: np.ndarray,
) -> Figure:
    """Figure 5: penalty balls (L1 diamond, L2 circle, ElasticNet) and least-squares contours.

    Args:
      w1, w2: grid axes ``(n,)``; ``loss`` and each penalty are ``(n, n)`` on ``meshgrid(w1, w2)``.
      penalties: name -> penalty values on the grid.
      optima: name -> ``{"point": (2,), "loss": float, "penalty": float}``, the
        regularized optimum (computed with the library's prox) and the loss and
        penalty there: the level sets drawn through it touch.
      unregularized: the least-squares optimum ``(2,)``.
    """
    with style():
        fig, axes = plt.subplots(1, len(penalties), figsize=(4 * len(penalties), 4), sharey=True)
        for ax, (name, pen) in zip(np.atleast_1d(axes), penalties.items(), strict=True):
            opt = np.asarray(optima[name]["point"])
            level_pen, level_loss = float(optima[name]["penalty"]), float(optima[name]["loss"])
            ax.contour(w1, w2, loss, levels=8, colors="0.65", linewidths=0.8)
            ax.contour(w1, w2, loss, levels=[level_loss], colors="0.2", linewidths=1.2)
            ax.contourf(w1, w2, pen, levels=[0, level_pen], colors=[color(name)], alpha=0.25)
            ax.contour(w1, w2, pen, levels=[level_pen], colors=[color(name)], linewidths=1.8)
            ax.plot(*unregularized, "k+", markersize=10)
            ax.plot(*opt, "o", color=color(name), markersize=7)
            ax.axhline(0, color="0.3", linewidth=0.6)
            ax.axvline(0, color="0.3", linewidth=0.6)
            on_axis = "on an axis" if np.any(opt == 0) else "off the axes"
            title = f"{name.replace('_', ' ')}: optimum {on_axis}"
            ax.set(xlabel="w1", title=f"{title}\n(w1, w2) = ({opt[0]:.3g}, {opt[1]:.3g})")
            ax.set_aspect("equal")
        first = np.atleast_1d(axes)[0]
        first.set_ylabel("w2")
        # Below the panels (inside one, it would cross the penalty ball); the optimum's
        # marker in grey, as each panel has its own colour.
        handles = [
            Line2D([], [], marker="+", color="k", markersize=10, linestyle="none"),
            Line2D([], [], marker="o", color="0.4", markersize=7, linestyle="none"),
        ]
        fig.legend(handles, ["least squares", "regularized optimum"], loc="lower center", ncol=2)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


__all__ = ["COLORS", "constraint_contours", "descent_path", "penalty_and_gradient"]
