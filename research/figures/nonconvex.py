"""Figures 17-19: the non-convex penalties' thresholding maps, and curves against strength."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from research.figures.style import color, style

__all__ = ["strength_curves", "thresholding_maps"]


def _break_jumps(v: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(v, out)`` with a NaN inserted where ``out`` jumps (a hard threshold), so no line
    joins the two sides; a jump is a step larger than 10 grid steps of ``v``."""
    jumps = np.flatnonzero(np.abs(np.diff(out)) > 10 * np.abs(np.diff(v)).max()) + 1
    return np.insert(v.astype(np.float64), jumps, np.nan), np.insert(out, jumps, np.nan)


def thresholding_maps(
    v: np.ndarray,
    maps: dict[str, np.ndarray],
    thresholds: dict[str, float],
    titles: dict[str, str],
    *,
    reference: str = "l1",
) -> Figure:
    """Figure 17: proximal maps ``prox(v)`` against ``v``, one panel per penalty.

    Each panel has the identity (no penalty, dashed), the ``reference`` map in
    grey for comparison (soft thresholding), and the dead zone ``|v| <= threshold``
    shaded.

    Args:
      v: ``(n,)`` inputs, symmetric about 0.
      maps: penalty name (a key of ``COLORS``: ``l1``, ``mcp``, ...) -> ``prox(v)`` ``(n,)``.
      thresholds: name -> the smallest ``|v|`` with a non-zero output.
      titles: name -> panel title.
      reference: the map drawn in grey in the other panels.
    """
    with style():
        cols = 3
        rows = -(-len(maps) // cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(3.2 * cols, 3.0 * rows), sharex=True, sharey=True
        )
        flat = np.ravel(axes)
        for ax, (name, out) in zip(flat, maps.items(), strict=False):
            tau = thresholds[name]
            ax.axvspan(-tau, tau, color=color(name), alpha=0.1, linewidth=0)
            ax.plot(v, v, "--", color="0.55", linewidth=1.0, label="identity")
            if name != reference and reference in maps:
                ax.plot(v, maps[reference], color="0.7", linewidth=1.2, label=titles[reference])
            ax.plot(*_break_jumps(v, out), color=color(name), linewidth=2.0)
            ax.set_title(f"{titles[name]}\nthreshold {tau:.4g}, prox({v[-1]:g}) = {out[-1]:.3g}")
            ax.set_aspect("equal")
        for ax in flat[len(maps) :]:
            ax.set_visible(False)
        for ax in np.atleast_2d(axes)[:, 0]:
            ax.set_ylabel("prox(v)")
        for ax in np.atleast_2d(axes)[-1]:
            ax.set_xlabel("v")
        handles, labels = flat[1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _reference_lines(ax, references: dict[str, float], styles: list) -> None:
    for (label, y), dashes in zip(references.items(), styles, strict=False):
        ax.axhline(y, color="0.25", linestyle=dashes, linewidth=1.2, label=label)


def strength_curves(
    strengths: np.ndarray,
    panels: list[tuple[str, dict[str, np.ndarray]]],
    *,
    references: dict[int, dict[str, float]] | None = None,
    marks: dict[int, dict[str, int]] | None = None,
    log_y: tuple[int, ...] = (),
    xlabel: str = "strength λ",
    title: str | None = None,
) -> Figure:
    """Figures 18 and 19: metrics against strength, one line per penalty, mean and band.

    Args:
      strengths: ``(K,)`` positive strengths (a log axis), shared by every penalty.
      panels: ``(y label, {penalty label: (runs, K) values})`` per panel; the line is
        the mean over runs, the band the range (min to max). A label starts with
        the penalty's name (``"L1"``, ``"MCP"``), which picks its colour.
      references: panel index -> ``{label: y}``, horizontal reference lines (dotted,
        in the legend below the panels).
      marks: panel index -> ``{penalty label: k}``, a star on the mean at index ``k``.
      log_y: indices of the panels with a log y axis.
      title: the figure's title.
    """
    references, marks = references or {}, marks or {}
    styles = [(0, (1, 1.5)), (0, (5, 2)), (0, (3, 1, 1, 1))]
    with style():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.9), sharex=True)
        axes = np.atleast_1d(axes)
        for i, (ax, (ylabel, curves)) in enumerate(zip(axes, panels, strict=True)):
            for label, values in curves.items():
                c = color(label)
                ax.plot(strengths, values.mean(axis=0), "o-", color=c, markersize=3.5, label=label)
                ax.fill_between(
                    strengths, values.min(axis=0), values.max(axis=0), color=c, alpha=0.15
                )
            for label, k in marks.get(i, {}).items():
                y = curves[label].mean(axis=0)[k]
                ax.plot(strengths[k], y, "*", color=color(label), ms=14, markeredgecolor="k")
            _reference_lines(ax, references.get(i, {}), styles)
            ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel)
            if i in log_y:  # plain numbers at 1, 2, 5 x 10^n (0.2, not 2 x 10^-1)
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
        handles: dict[str, Any] = {}
        for ax in axes:  # penalties once, then every panel's references
            for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, h)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles))
        if title:
            fig.suptitle(title)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
