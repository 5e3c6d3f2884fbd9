"""What a figure function returns and how its files are written.

Every figure is a PNG and a PDF in ``<root>/figures/``, with the arrays behind
it in ``<root>/figures/data/<key>.npz``; its caption and headline numbers go
to the index (``README.md``, ``numbers.json``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from research import figures
from research.io import write_npz

if TYPE_CHECKING:
    from matplotlib.animation import Animation
    from matplotlib.figure import Figure as MplFigure

__all__ = ["Figure", "save", "write_gif"]


@dataclasses.dataclass
class Figure:
    """One drawn figure: its file name ``key``, its caption, its headline numbers and the
    sweeps it was drawn from (set by ``research.paper.build``; empty for library calls)."""

    key: str
    caption: str
    numbers: dict[str, Any]
    sweeps: tuple[str, ...] = ()


def save(out: Path, key: str, fig: MplFigure, data: dict[str, Any]) -> list[Path]:
    """Writes ``fig`` as ``<key>.png`` and ``<key>.pdf`` and ``data`` to ``data/<key>.npz``."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{key}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        figures.save_figure(fig, path)
    plt.close(fig)
    write_npz(out / "data" / f"{key}.npz", {k: np.asarray(v) for k, v in data.items()})
    return paths


def write_gif(anim: Animation, path: Path) -> None:
    """Writes a matplotlib animation as a GIF (8 frames per second), atomically."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import PillowWriter

    tmp = path.with_suffix(".tmp.gif")
    anim.save(tmp, writer=PillowWriter(fps=8))
    tmp.replace(path)
    plt.close("all")
