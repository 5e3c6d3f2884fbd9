"""Figures of the blog post's networks: fits, Hinton diagrams, animation, errors, zeros in time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure

from research.figures.style import COLORS, LINESTYLES, SIGN_COLORS, color, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "hinton",
    "hinton_grid",
    "line_fits",
    "loss_caveat",
    "total_errors",
    "weight_animation",
    "weight_strip",
    "zero_fraction",
]


def line_fits(
    x: np.ndarray,
    y: np.ndarray,
    outlier: np.ndarray,
    test: np.ndarray,
    x_grid: np.ndarray,
    fits: dict[str, np.ndarray],
    *,
    true_slope: float,
) -> Figure:
    """Figure 6: the data (outliers marked) and the fitted lines of each network.

    Args:
      x, y: all points ``(n,)``; ``outlier`` and ``test`` are bool masks.
      x_grid: where the fits are evaluated ``(g,)``.
      fits: label -> predictions ``(seeds, g)``; seed 0 solid, the others faint.
    """
    with style():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.plot(x_grid, true_slope * x_grid, ":", color="0.4", label=f"y = {true_slope:g}x")
        train, normal = ~test, ~outlier
        ax.plot(x[train & normal], y[train & normal], "o", color="0.35", ms=4, label="train")
        ax.plot(
            x[train & outlier], y[train & outlier], "x", color="k", ms=6, mew=1.6, label="outliers"
        )
        ax.plot(x[test], y[test], "s", mfc="none", color="0.35", ms=5, label="test")
        for label, pred in fits.items():
            c = color(label)
            ls = LINESTYLES["proximal" if "proximal" in label else "subgradient"]
            for s in range(1, pred.shape[0]):
                ax.plot(x_grid, pred[s], ls, color=c, alpha=0.25, linewidth=1)
            ax.plot(x_grid, pred[0], ls, color=c, label=label)
        ax.set(
            xlabel="x", ylabel="y", title="Line with outliers: fits of 1-10-10-10-1 linear networks"
        )
        ax.legend(ncol=2, loc="upper left")
        fig.tight_layout()
    return fig


def hinton(
    ax: Axes, matrix: np.ndarray, *, scale: float | None = None, max_size: float = 220.0
) -> None:
    """Draws a Hinton diagram: square area proportional to |w|, colour by sign.

    Exact zeros draw nothing. ``scale`` is the |w| of a full-size square
    (default: the matrix's own largest |w|).
    """
    m = np.atleast_2d(np.asarray(matrix, np.float64))
    scale = float(np.abs(m).max()) if scale is None else scale
    rows, cols = np.indices(m.shape)
    sizes = max_size * np.abs(m) / scale if scale > 0 else np.zeros_like(m)
    colors = np.where(m > 0, SIGN_COLORS["positive"], SIGN_COLORS["negative"])
    ax.set_facecolor("0.96")
    ax.scatter(
        cols.ravel(), rows.ravel(), s=sizes.ravel(), c=colors.ravel(), marker="s", linewidths=0
    )
    ax.set_xlim(-0.7, m.shape[1] - 0.3)
    ax.set_ylim(m.shape[0] - 0.3, -0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_aspect("equal")


def hinton_grid(rows: Mapping[str, Sequence[np.ndarray]], *, titles: Sequence[str]) -> Figure:
    """Figure 7: one row of Hinton diagrams per trained network, one column per kernel.

    Each panel is scaled to its own matrix (as the blog post's animation). Blue is
    positive, vermillion negative, no square an exact zero; the panel title
    counts exact zeros and removable (disconnected) units.
    """
    n_rows, n_cols = len(rows), len(titles)
    with style():
        fig, axes = plt.subplots(
            n_rows, n_cols, figsize=(2.3 * n_cols, 2.3 * n_rows), squeeze=False
        )
        for r, (label, kernels) in enumerate(rows.items()):
            for c, kernel in enumerate(kernels):
                ax = axes[r, c]
                # Kernels of shape (1, n) or (n, 1) are drawn as rows for room.
                hinton(
                    ax,
                    kernel.T
                    if kernel.shape[0] < kernel.shape[1] and kernel.shape[0] == 1
                    else kernel,
                )
                zeros = int((kernel == 0).sum())
                ax.set_title(f"{titles[c]}: {zeros}/{kernel.size} zero", fontsize=8)
            axes[r, 0].set_ylabel(label, color=color(label), fontsize=10)
        fig.suptitle("Trained kernels (square area = |w|, blue +, vermillion -, none = exact 0)")
        fig.tight_layout()
    return fig


def weight_strip(
    snapshots: dict[str, Sequence[np.ndarray]], steps: np.ndarray, frames: Sequence[int]
) -> Figure:
    """Figure 8 (static): the hidden 10x10 kernels at a few training steps, per network.

    Args:
      snapshots: label -> ``(T, rows, cols)`` snapshots of one kernel.
      steps: ``(T,)`` the training step of each snapshot.
      frames: indices into ``T`` to show.
    """
    with style():
        fig = plt.figure(figsize=(1.9 * len(frames), 2.1 * len(snapshots)))
        axes = fig.subplots(len(snapshots), len(frames), squeeze=False)
        for r, (label, snaps) in enumerate(snapshots.items()):
            for c, t in enumerate(frames):
                hinton(axes[r, c], snaps[t])
                axes[r, c].set_title(f"step {int(steps[t])}", fontsize=8)
            axes[r, 0].set_ylabel(label, color=color(label))
        fig.suptitle("Evolution of the second hidden kernel (each panel scaled to itself)")
        fig.tight_layout()
    return fig


def weight_animation(
    snapshots: dict[str, Sequence[np.ndarray]], steps: np.ndarray, *, titles: Sequence[str]
) -> animation.FuncAnimation:
    """Figure 8 (GIF): every kernel of each network over training, a 2x2 grid per network.

    Args:
      snapshots: label -> list of kernels' snapshots, each ``(T, rows, cols)``.
      steps: ``(T,)`` training steps.
    """
    labels = list(snapshots)
    n_k = len(titles)
    with style():
        fig = plt.figure(figsize=(4.2 * len(labels), 4.4))
        subfigs = fig.subfigures(1, len(labels))
        grids = list(np.atleast_1d(subfigs))  # type: ignore[arg-type]  # numpy wraps a lone SubFigure in a 1-element array
        axes = [g.subplots(2, (n_k + 1) // 2).ravel() for g in grids]
        for g, label in zip(grids, labels, strict=True):
            g.suptitle(label, color=color(label))

        def draw(t):
            for a, label in zip(axes, labels, strict=True):
                for k, ax in enumerate(a[:n_k]):
                    ax.clear()
                    kernel = snapshots[label][k][t]
                    hinton(ax, kernel.T if kernel.shape[0] == 1 else kernel, max_size=120)
                    ax.set_title(titles[k], fontsize=8)
            fig.suptitle(f"step {int(steps[t])}", y=0.02, fontsize=9)
            return []

        anim = animation.FuncAnimation(fig, draw, frames=len(steps), blit=False)
    return anim


def total_errors(
    groups: dict[str, np.ndarray],
    *,
    title: str,
    reference: dict | None = None,
    reference_label: str = "reported runs",
) -> Figure:
    """Figures 9 and 10: total test error per run, with mean and standard deviation.

    Args:
      groups: label -> ``(seeds,)`` sums of absolute test errors.
      reference: optional label -> values reported by a source document, drawn as crosses
        (labelled ``reference_label`` in the legend).
    """
    with style():
        legend_width = 1.8 if reference else 0.0  # the legend goes right of the axes
        fig, ax = plt.subplots(figsize=(1.5 + 1.25 * len(groups) + legend_width, 4))
        rng = np.random.default_rng(0)
        for i, (label, values) in enumerate(groups.items()):
            values = np.asarray(values, np.float64)
            jitter = rng.uniform(-0.12, 0.12, size=values.shape)
            c = color(label)
            ax.plot(i + jitter, values, "o", color=c, alpha=0.8)
            ax.errorbar(i + 0.3, values.mean(), yerr=values.std(), fmt="D", color=c, capsize=4)
            if reference and label in reference:
                ref = np.asarray(reference[label])
                ax.plot(
                    np.full(ref.shape, i - 0.3),
                    ref,
                    "x",
                    color="0.3",
                    label=reference_label if i == 0 else None,
                )
        ax.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right")
        ax.set(ylabel="total test error  (sum of |error|, 10 points)", title=title)
        if reference:  # outside: inside, its marker would read as one more reported run
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def zero_fraction(steps: np.ndarray, fractions: dict[str, np.ndarray], *, title: str) -> Figure:
    """Figure 14: fraction of exactly-zero kernel weights during training.

    Args:
      steps: ``(T,)`` training steps of the snapshots.
      fractions: label -> ``(seeds, T)`` fraction of kernel entries equal to 0.
    """
    with style():
        fig, ax = plt.subplots()
        for label, frac in fractions.items():
            ls = LINESTYLES["proximal" if "proximal" in label else "subgradient"]
            mean = frac.mean(axis=0)
            ax.plot(steps, mean, ls, color=color(label), label=label)
            ax.fill_between(
                steps, frac.min(axis=0), frac.max(axis=0), color=color(label), alpha=0.15
            )
        ax.set(
            xlabel="training step",
            ylabel="fraction of kernel weights exactly 0",
            title=title,
            ylim=(-0.02, 1.02),
        )
        ax.legend()
        fig.tight_layout()
    return fig


def loss_caveat(
    x: np.ndarray,
    y: np.ndarray,
    outlier: np.ndarray,
    x_grid: np.ndarray,
    fits: dict[str, np.ndarray],
    *,
    true_slope: float,
) -> Figure:
    """Figure 16: absolute-error vs squared-error *loss* on the same data, no penalty.

    The blog post argues that L1 is robust to outliers; that is a property of the
    L1 *loss*, while its experiment varied the *penalty*. Here the loss varies.
    """
    with style():
        fig, ax = plt.subplots()
        ax.plot(x[~outlier], y[~outlier], "o", color="0.35", ms=4, label="points")
        ax.plot(x[outlier], y[outlier], "x", color="k", ms=6, mew=1.6, label="outliers")
        ax.plot(x_grid, true_slope * x_grid, ":", color="0.4", label=f"y = {true_slope:g}x")
        for (label, pred), c in zip(fits.items(), [COLORS["l1"], COLORS["l2"]], strict=False):
            ax.plot(x_grid, pred.mean(axis=0), color=c, label=label)
        ax.set(
            xlabel="x",
            ylabel="y",
            title="The loss, not the penalty, decides robustness to outliers",
        )
        ax.legend()
        fig.tight_layout()
    return fig
