"""``build``: run the sweeps behind the figures, draw every figure, write the index.

``build(root, run=True)`` launches the sweeps of ``configs/sweep/`` the
figures need (``research-train -m +sweep=<name>``, seeds vmapped inside each
job; complete jobs are reused), reads each multirun once, and calls one
function per figure. Every figure is written as PNG and PDF (plus one GIF) to
``<root>/figures/``, the numbers behind it to ``<root>/figures/data/<key>.npz``,
and an index with captions to ``<root>/figures/README.md`` and
``<root>/figures/numbers.json``.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from research.io import write_json, write_text
from research.paper import beyond, blog_post, keras_tutorial, nonconvex, pruning, stats_answer
from research.paper.output import Figure
from research.paper.reference import BLOG_POST
from research.paper.sweeps import Sweeps, run_sweep

__all__ = ["ADJUSTED", "FIGURES", "SWEEPS", "build", "run_sweeps"]

_DIGITS_QUICK = ("num_seeds=2", "epochs=3")
SWEEPS: dict[str, tuple[str, ...]] = {
    "gd_1d": (),
    "line_outliers": ("num_seeds=3",),
    "digits": _DIGITS_QUICK,
    "digits_sgd": _DIGITS_QUICK,
    "digits_adam": _DIGITS_QUICK,
    "digits_linear": ("regularizer.l1=[3e-3,1e-2,3e-2,0.1,0.3,1.0]",),
    "lasso_path": ("epochs=1500",),
    "loss_caveat": ("epochs=50",),
    "nonconvex_bias": ("data.seed=0", "num_seeds=2", "epochs=300"),
    "nonconvex_network": ("num_seeds=2",),
}
"""The sweeps (``configs/sweep/<name>.yaml``) in the order they run -> overrides for --quick.

The blog post's networks at --quick differ only in the number of seeds (the
post's own setting, 100 epochs of batch-1 SGD, is fast); the exact linear path of
``digits_linear`` in its strengths (its weakest ones take the longest)."""

ADJUSTED = ("line_outliers_adjusted", ("num_seeds=3",))
"""Sweep of figure 10 and its --quick overrides; it runs last, with the widths pruned from
sweep ``line_outliers`` (``pruning.adjusted_widths``) added to the blog post's."""

FigureStep = Callable[[Sweeps, Path], Figure]
FIGURES: tuple[FigureStep, ...] = (
    stats_answer.fig01_l1_penalty,
    stats_answer.fig03_l1_descent,
    stats_answer.fig02_l2_penalty,
    stats_answer.fig04_l2_descent,
    blog_post.fig05_constraint_contours,
    blog_post.fig06_line_fits,
    blog_post.fig07_hinton,
    blog_post.fig08_weight_strip,
    blog_post.fig09_total_error,
    blog_post.fig14_zero_fraction,
    pruning.fig10_adjusted_network,
    keras_tutorial.fig11_weight_histograms,
    keras_tutorial.fig12_strength_sweep,
    keras_tutorial.fig13_optimizers,
    beyond.fig15_lasso_path,
    beyond.fig16_loss_caveat,
    nonconvex.fig17_thresholding,
    nonconvex.fig18_nonconvex_bias,
    nonconvex.fig19_nonconvex_network,
    beyond.fig20_cross_validation,
)
"""One function per figure, in the order of the index (by source document)."""


def _widths_override(widths: list[int]) -> str:
    sweep = [list(BLOG_POST.adjusted_widths), widths]
    return "model.widths=" + ",".join(f"[{','.join(map(str, w))}]" for w in sweep)


def _commands(widths: list[int], quick: bool) -> list[str]:
    """The ``research-train`` command lines behind the figures."""
    name, adjusted_quick = ADJUSTED
    runs: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
        (sweep, overrides, ()) for sweep, overrides in SWEEPS.items()
    ]
    runs.append((name, adjusted_quick, (f"'{_widths_override(widths)}'",)))
    return [
        " ".join(
            ["research-train -m", f"+sweep={sweep}", *map(shlex.quote, q if quick else ()), *extra]
        )
        for sweep, q, extra in runs
    ]


def run_sweeps(root: Path, *, quick: bool = False, progress: Any = None) -> None:
    """Runs every sweep the figures need into ``root`` (complete jobs are reused).

    The pruned architecture of figure 10 is derived from the proximal-L1 runs of
    ``line_outliers`` before its own sweep runs. ``progress``: a rich ``(Progress,
    task)`` to advance once a sweep.
    """
    steps: list[tuple[str, tuple[str, ...], tuple[str, ...] | None]]
    steps = [(name, overrides, ()) for name, overrides in SWEEPS.items()]
    steps.append((*ADJUSTED, None))
    for name, overrides, extra in steps:
        if progress is not None:
            progress[0].update(progress[1], description=f"running sweep {name}")
        if extra is None:  # figure 10's: the widths pruned from line_outliers
            widths = pruning.adjusted_widths(Sweeps(root)["line_outliers"])
            extra = (_widths_override(widths),)
        run_sweep(root, name, overrides if quick else (), extra=extra)
        if progress is not None:
            progress[0].advance(progress[1])


def build(root: Path = Path("outputs"), *, run: bool = False, quick: bool = False) -> list[Figure]:
    """Draws every figure into ``root/figures`` (running the sweeps first if ``run``).

    With ``run``, every sweep the figures need is launched (complete jobs are
    reused, so a second call only draws); the pruned architecture of figure
    10 is derived from the proximal-L1 runs before its own sweep runs.
    ``quick`` runs (and names in the index) the small versions of the sweeps, and
    draws figure 20 from its small cross-validation.
    """
    from rich.progress import Progress

    root = Path(root)
    start = time.perf_counter()
    out = root / "figures"
    done: list[Figure] = []
    sweeps = Sweeps(root, quick=quick)
    with Progress() as progress:
        task = progress.add_task("reproducing", total=(len(SWEEPS) + 1) * run + len(FIGURES))
        if run:
            run_sweeps(root, quick=quick, progress=(progress, task))
        widths = pruning.adjusted_widths(sweeps["line_outliers"])
        for step in FIGURES:
            assert step.__doc__ is not None  # every figure function has a docstring
            progress.update(task, description=f"drawing {step.__doc__.splitlines()[0]}")
            sweeps.used.clear()
            figure = step(sweeps, out)
            figure.sweeps = tuple(sweeps.used)
            done.append(figure)
            progress.advance(task)
    elapsed = time.perf_counter() - start
    _write_index(out, done, _commands(widths, quick), elapsed, quick=quick)
    return done


def _rerun(figure: Figure, commands: list[str], quick: bool) -> str:
    """The command lines that rerun one figure into ``outputs/``: its sweeps, then the
    drawing (``research-figures`` draws them all)."""
    runs = [c for c in commands if c.split()[2].removeprefix("+sweep=") in figure.sweeps]
    return " && ".join([*runs, "research-figures" + " --quick" * quick])


def _write_index(
    out: Path, done: list[Figure], commands: list[str], elapsed: float, *, quick: bool
) -> None:
    """``README.md`` (every figure with its caption and numbers) and ``numbers.json``."""
    lines = [
        "# Figures",
        "",
        "Redrawn from real runs of this code by `research-figures --run` "
        f"({'quick' if quick else 'full'} settings, {elapsed:.0f} s including the runs). Each "
        "figure is a PNG and a PDF; the arrays behind it are in `data/<name>.npz`. The runs "
        "(the sweeps in `configs/sweep/`; figure 10's adds the widths pruned from the "
        "proximal-L1 runs of `line_outliers` to the blog post's):",
        "",
        *(f"    {c}" for c in commands),
        "",
    ]
    for f in done:
        lines += [f"## {f.key}", "", f"![{f.key}]({f.key}.png)", "", f.caption, ""]
        sources = ", ".join(f"`{s}`" for s in f.sweeps) or "none (library calls)"
        lines += [f"Sweeps: {sources}. Rerun: `{_rerun(f, commands, quick)}`", ""]
        for k, v in f.numbers.items():
            lines.append(f"- {k}: {json.dumps(v) if not isinstance(v, str) else v}")
        lines.append("")
    write_text(out / "README.md", "\n".join(lines))
    write_json(out / "numbers.json", {f.key: f.numbers for f in done})
