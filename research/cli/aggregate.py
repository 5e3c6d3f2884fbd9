"""``research-aggregate SWEEP_DIR``: one tidy table for a multirun, and its summary.

Reads every job under ``SWEEP_DIR`` (see ``research.tables.aggregate``),
writes ``SWEEP_DIR/summary.csv`` (one row per job x seed x strength; also
``summary.parquet`` when pyarrow is installed) and ``SWEEP_DIR/cells.csv``
(mean and std over seeds per grid cell), and prints the cells as a table.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

from research.io import write_text
from research.tables import aggregate, summarize


def run(sweep_dir: Path, *, quiet: bool = False):
    """Aggregates ``sweep_dir``; returns ``(table, cells)`` as pandas DataFrames."""
    table = aggregate(sweep_dir)
    cells = summarize(table)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    write_text(sweep_dir / "summary.csv", buffer.getvalue())
    buffer = io.StringIO()
    cells.to_csv(buffer, index=False)
    write_text(sweep_dir / "cells.csv", buffer.getvalue())
    try:
        table.to_parquet(sweep_dir / "summary.parquet", index=False)
    except ImportError:
        pass
    if not quiet:
        _print(table, cells, sweep_dir)
    return table, cells


def _print(table, cells, sweep_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title=f"{sweep_dir}: mean ± std over seeds (diverged seeds left out)")
    shown = [m for m in _SHOWN if f"{m}_mean" in cells.columns]
    keys = [c for c in cells.columns if not c.endswith(("_mean", "_std")) and c not in _SHOWN]
    # Keys that every cell shares say nothing about the grid; the CSV keeps them.
    varying = [k for k in keys if cells[k].astype(str).nunique() > 1]
    for c in [*varying, "seeds", "diverged", *shown]:
        out.add_column(c.removeprefix("strength."), justify="left" if c in varying else "right")
    for _, row in cells.iterrows():
        values = [str(row[k]) for k in varying]
        values += [str(row["seeds"]), f"{row['diverged']:.0%}"]
        for m in shown:
            mean, std = row[f"{m}_mean"], row[f"{m}_std"]
            values.append("-" if math.isnan(mean) else f"{mean:.4g} ± {std:.2g}")
        out.add_row(*values)
    console = Console()
    console.print(out)
    failed = table[table["status"] == "failed"]
    for _, row in failed.iterrows():
        console.print(f"[red]failed[/red] {row['job']}: {row.get('error')}")
    console.print(f"{len(table)} rows -> {sweep_dir / 'summary.csv'}")


_SHOWN = ("total_error", "test_accuracy", "test_loss", "exact_zeros", "dead_neurons")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="research-aggregate", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (hydra.sweep.dir)")
    parser.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    args = parser.parse_args(argv)
    try:
        run(args.sweep_dir, quiet=args.quiet)
    except FileNotFoundError as err:
        print(f"research-aggregate: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
