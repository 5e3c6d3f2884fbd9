"""``research-aggregate SWEEP_DIR``: one tidy table for a multirun, and its summary.

Reads every job under ``SWEEP_DIR`` (see ``research.tables.aggregate``),
writes ``SWEEP_DIR/summary.csv`` (one row per job x seed x strength; also
``summary.parquet`` when pyarrow is installed) and ``SWEEP_DIR/cells.csv``
(mean and std over seeds per grid cell), and prints the cells as a table: a
rich table on a terminal, a Markdown table at full width elsewhere (Slurm
logs, CI, pipes). ``--metrics a,b`` picks the metric columns; ``--to mlflow``
also logs the jobs to MLflow (``research.tracking``), as ``logger=mlflow``
would have.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path

from research.io import METRICS, is_complete, write_text
from research.tables import aggregate, job_dirs, metric_columns, summarize

__all__ = ["main", "run"]

_SHOWN = ("total_error", "test_accuracy", "test_loss", "exact_zeros", "dead_neurons")
_DEFAULT = ("total_error", "test_accuracy", "test_loss", "train_loss", "exact_zeros",
            "near_zeros", "dead_neurons")  # fmt: skip


def run(
    sweep_dir: Path,
    *,
    quiet: bool = False,
    metrics: list[str] | None = None,
    style: str = "auto",
):
    """Aggregates ``sweep_dir``; returns ``(table, cells)`` as pandas DataFrames.

    Args:
      sweep_dir: a multirun directory.
      quiet: write the files, print nothing.
      metrics: the metric columns printed (default: the main ones present);
        they are also in ``cells.csv``.
      style: ``"rich"``, ``"markdown"``, or ``"auto"``: rich on a terminal,
        Markdown elsewhere.

    Raises:
      FileNotFoundError: when ``sweep_dir`` holds no job.
      ValueError: naming ``--metrics`` and the metrics there are, for an unknown one.

    Example::

      table, cells = run(Path("outputs/multirun/digits"), metrics=["test_accuracy"])
    """
    table = aggregate(sweep_dir)
    available = metric_columns(table)
    unknown = [m for m in metrics or () if m not in available]
    if unknown:
        raise ValueError(f"--metrics: unknown metric(s) {unknown}; this grid has {available}")
    chosen = [m for m in _DEFAULT if m in available]
    cells = summarize(table, chosen + [m for m in metrics or () if m not in chosen])
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
        shown = metrics or [m for m in _SHOWN if m in available]
        _print(table, cells, sweep_dir, shown, style)
    return table, cells


def _rows(cells, metrics: list[str]) -> tuple[list[str], list[list[str]], int]:
    """Headers, rows of strings and the number of leading key columns."""
    keys = [c for c in cells.columns
            if not c.endswith(("_mean", "_std")) and c not in ("seeds", "diverged")]  # fmt: skip
    # Keys that every cell shares say nothing about the grid; the CSV keeps them.
    varying = [k for k in keys if cells[k].astype(str).nunique() > 1]
    headers = [c.removeprefix("strength.") for c in [*varying, "seeds", "diverged", *metrics]]
    rows = []
    for _, row in cells.iterrows():
        values = [str(row[k]) for k in varying]
        values += [str(row["seeds"]), f"{row['diverged']:.0%}"]
        for m in metrics:
            mean, std = row[f"{m}_mean"], row[f"{m}_std"]
            values.append("-" if math.isnan(mean) else f"{mean:.4g} ± {std:.2g}")
        rows.append(values)
    return headers, rows, len(varying)


def _print(table, cells, sweep_dir: Path, metrics: list[str], style: str) -> None:
    headers, rows, num_keys = _rows(cells, metrics)
    title = f"{sweep_dir}: mean ± std over seeds (diverged seeds left out)"
    failed = [
        (row["job"], str(row.get("error")))
        for _, row in table[table["status"] == "failed"].iterrows()
    ]
    footer = f"{len(table)} rows -> {sweep_dir / 'summary.csv'}"
    if style == "auto":
        style = "rich" if sys.stdout.isatty() else "markdown"
    if style == "rich":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        out = Table(title=title)
        for i, header in enumerate(headers):
            out.add_column(header, justify="left" if i < num_keys else "right")
        for values in rows:
            out.add_row(*values)
        console = Console()
        console.print(out)
        for job, error in failed:
            console.print(Text("failed", style="red") + Text(f" {job}: {error}"))
        console.print(footer, markup=False)
        return
    from tabulate import tabulate

    align = ["left"] * num_keys + ["right"] * (len(headers) - num_keys)
    body = tabulate(rows, headers, tablefmt="github", disable_numparse=True, colalign=align)
    lines = [f"failed {job}: {error}" for job, error in failed]
    print("\n".join([title, "", body, "", *lines, footer]))


def _mlflow_target(sweep_dir: Path, uri: str | None, experiment: str | None):
    """The tracker ``--to mlflow`` logs to: the arguments, else what the grid's jobs
    used (``logger=mlflow``), else ``logger=mlflow``'s defaults for this grid."""
    from research.tracking import MlflowTracker, local_store_uri

    run: dict = {}
    for job_dir in job_dirs(sweep_dir):
        if is_complete(job_dir):
            run = json.loads((job_dir / METRICS).read_text()).get("run") or {}
            break
    logger = run.get("logger") or {}
    if logger.get("name") != "mlflow":
        logger = {}
    if sweep_dir.resolve().parent.name == "multirun":
        root = sweep_dir.resolve().parents[1]
    else:
        root = Path(run.get("output_root", "outputs"))
    return MlflowTracker(
        tracking_uri=uri or logger.get("tracking_uri") or local_store_uri(root),
        experiment_name=experiment or logger.get("experiment_name") or run.get("name")
        or sweep_dir.resolve().name,
    )  # fmt: skip


def to_mlflow(sweep_dir: Path, uri: str | None = None, experiment: str | None = None) -> int:
    """Logs a multirun's jobs to MLflow and prints what it did; returns the exit status.

    Example::

      to_mlflow(Path("outputs/multirun/digits"))  # the local store under outputs/
    """
    from research.tracking import log_sweep

    tracker = _mlflow_target(sweep_dir, uri, experiment)
    tracker.client()  # the missing extra is one clear error, not one per job
    done = log_sweep(tracker, sweep_dir)
    if done["logged"] or done["up_to_date"]:
        files = [sweep_dir / "summary.csv", sweep_dir / "cells.csv"]
        try:
            tracker.log_sweep_files(sweep_dir, [f for f in files if f.is_file()])
        except Exception as err:
            done["failed"].append((sweep_dir, f"{type(err).__name__}: {err}"))
    for path, error in done["failed"]:
        print(f"mlflow: could not log {path}: {error}", file=sys.stderr)
    print(
        f"mlflow: {len(done['logged'])} job(s) logged, {len(done['up_to_date'])} up to date, "
        f"{len(done['failed'])} failed, {len(done['not_tried'])} not tried "
        f"-> experiment {tracker.experiment_name!r} at {tracker.uri}"
    )
    if tracker.uri.startswith("sqlite:"):
        print(f"view: mlflow ui --backend-store-uri {tracker.uri}")
    return 1 if done["failed"] or done["not_tried"] else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="research-aggregate", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (hydra.sweep.dir)")
    parser.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    parser.add_argument(
        "--metrics", help="comma-separated metric columns to print, e.g. test_accuracy,exact_zeros"
    )
    parser.add_argument(
        "--format",
        choices=["auto", "rich", "markdown"],
        default="auto",
        help="the printed table: rich on a terminal and Markdown elsewhere (auto), or either",
    )
    parser.add_argument("--to", choices=["mlflow"], help="also log the jobs to this tracker")
    parser.add_argument(
        "--tracking-uri", help="with --to mlflow; default: the one the jobs logged to, else "
        "the local store sqlite:///<output_root>/mlflow/mlflow.db"
    )  # fmt: skip
    parser.add_argument("--experiment-name", help="with --to mlflow; default: the grid's name")
    args = parser.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        run(args.sweep_dir, quiet=args.quiet, metrics=metrics, style=args.format)
        if args.to == "mlflow":
            sys.exit(to_mlflow(args.sweep_dir, args.tracking_uri, args.experiment_name))
    except (FileNotFoundError, ValueError, ImportError) as err:
        print(f"research-aggregate: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
