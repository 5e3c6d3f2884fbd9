"""The figures' shared style: one .mplstyle file and one colour per regularizer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # figures are files; no screen needed

import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = Path(__file__).with_name("research.mplstyle")

# Okabe-Ito colours, the same regularizer in the same colour in every figure.
COLORS = {
    "none": "#555555",
    "l1": "#D55E00",
    "l2": "#0072B2",
    "elastic_net": "#009E73",
    "group_lasso": "#CC79A7",
    # The non-convex penalties (Paul Tol's muted colours, distinct from the above).
    "mcp": "#332288",
    "scad": "#117733",
    "l0": "#882255",
    "lq": "#999933",
    "log_sum": "#44AA99",
    "adjusted": "#E69F00",
    "sklearn": "#000000",
}
# Methods differ by line style and marker, not by colour.
LINESTYLES = {"subgradient": "-", "proximal": "--"}
MARKERS = {"subgradient": "o", "proximal": "s"}
SIGN_COLORS = {"positive": "#0072B2", "negative": "#D55E00"}


@contextmanager
def style() -> Iterator[None]:
    """Context in which figures are created with the project's style."""
    with plt.style.context(str(STYLE)):
        yield


def save_figure(fig: Figure, path: Path) -> None:
    """Writes ``fig`` to ``path`` with the style's ``savefig`` settings (tight box, 150 dpi).

    ``style()`` applies while a figure is drawn; saving outside it would use
    matplotlib's defaults, which crop whatever reaches past the figure's edge
    (titles above the top row, labels of rotated ticks).
    """
    with style():
        fig.savefig(path)


def color(label: str) -> str:
    """The colour of a regularizer, from a label that starts with its name."""
    key = label.lower().replace(" ", "_").replace("-", "_")
    for name in sorted(COLORS, key=len, reverse=True):
        if key.startswith(name):
            return COLORS[name]
    return COLORS["none"]
