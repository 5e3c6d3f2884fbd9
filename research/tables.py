"""One tidy table per multirun, and its summary per grid cell.

``aggregate(sweep_dir)`` reads every job's ``metrics.json`` (complete or
failed) into one row per job x seed x strength; ``summarize(table)`` gives
mean and std over seeds per grid cell.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from research.io import FAILURE, METRICS, is_complete

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["aggregate", "job_dirs", "metric_columns", "summarize"]


def _overrides(job_dir: Path, metrics: dict[str, Any]) -> dict[str, str]:
    listed = metrics.get("overrides")
    if listed is None:
        path = job_dir / ".hydra" / "overrides.yaml"
        listed = []
        if path.is_file():
            import yaml

            listed = yaml.safe_load(path.read_text()) or []
    pairs = {}
    for item in listed:
        key, _, value = item.partition("=")
        pairs[key.lstrip("+~")] = value
    return pairs


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job directory under ``sweep_dir`` (one with ``metrics.json`` or
    ``failure.json``), sorted."""
    found = {p.parent for p in sweep_dir.rglob(METRICS)} | {
        p.parent for p in sweep_dir.rglob(FAILURE)
    }
    return sorted(found)


def aggregate(sweep_dir: Path) -> pd.DataFrame:
    """Reads every job of a multirun into one tidy table.

    One row per job x seed x strength. Columns: ``job`` (the directory, relative
    to ``sweep_dir``), ``status``, one column per swept key (from the job's
    overrides, e.g. ``regularizer``, ``optimizer.learning_rate``), the
    strength values (``strength.l1``, ...), ``seed`` and one column per
    metric. A failed job gives one row with its ``error``.

    Returns:
      A ``pandas.DataFrame``.
    """
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep_dir: {sweep_dir} is not a directory")
    rows = []
    for job_dir in job_dirs(sweep_dir):
        name = str(job_dir.relative_to(sweep_dir)) or "."
        if not is_complete(job_dir):
            failure = job_dir / FAILURE
            if failure.is_file():
                info = json.loads(failure.read_text())
                rows.append({"job": name, "status": "failed", **_overrides(job_dir, info),
                             "error": info.get("error")})  # fmt: skip
            continue
        metrics = json.loads((job_dir / METRICS).read_text())
        swept = _overrides(job_dir, metrics)
        strengths = metrics.get("strengths", {})
        per_seed = metrics["per_seed"]
        num_seeds = metrics["num_seeds"]
        num_strengths = len(next(iter(strengths.values()))) if strengths else 1
        seed0 = metrics.get("config", {}).get("seed", 0)
        for s in range(num_seeds):
            for k in range(num_strengths):
                row = {"job": name, "status": "complete", **swept, "seed": s, "key_seed": seed0}
                row.update({f"strength.{n}": v[k] for n, v in strengths.items()})
                row.update({m: v[s][k] for m, v in per_seed.items()})
                rows.append(row)
    if not rows:
        raise FileNotFoundError(f"sweep_dir: no job outputs ({METRICS}) under {sweep_dir}")
    return pd.DataFrame(rows)


def _sparsity_columns(table) -> Any:
    """Adds totals over layers: exact zeros, near zeros and dead neurons."""
    for prefix in ("exact_zeros/", "near_zeros/", "dead_neurons/"):
        cols = [c for c in table.columns if c.startswith(prefix)]
        if cols:
            table[prefix.rstrip("/")] = table[cols].sum(axis=1, min_count=1)
    return table


def _is_metric(column: str) -> bool:
    return column in _KNOWN_METRICS or column.startswith(
        ("exact_zeros", "near_zeros", "dead_neurons")
    )


def metric_columns(table: pd.DataFrame) -> list[str]:
    """The metrics ``summarize`` can average: the table's metric columns and the
    sparsity totals over layers (``exact_zeros``, ...), without ``diverged``."""
    columns = _sparsity_columns(table.copy()).columns
    return [c for c in columns if _is_metric(c) and c not in ("diverged", "diverged_step")]


def summarize(table: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per grid cell (swept keys x strengths).

    Seeds that diverged are left out of the means; ``diverged`` is their
    fraction. Sparsity columns are totals over layers.
    """
    import pandas as pd

    table = _sparsity_columns(table[table["status"] == "complete"].copy())
    reserved = {"job", "status", "seed", "key_seed", "error"}
    cell = [c for c in table.columns if c not in reserved and not _is_metric(c)]
    if metrics is None:
        metrics = [m for m in _SUMMARY_METRICS if m in table.columns]
    rows = []
    groups = table.groupby(cell, dropna=False, sort=True) if cell else [((), table)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        diverged = group["diverged"].astype(bool)
        good = group[~diverged]
        row = dict(zip(cell, key, strict=True))
        row["seeds"] = len(group)
        row["diverged"] = float(diverged.mean())
        for m in metrics:
            values = good[m].astype(float)
            row[f"{m}_mean"] = values.mean() if len(values) else math.nan
            row[f"{m}_std"] = values.std(ddof=0) if len(values) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


_SUMMARY_METRICS = (
    "total_error",
    "test_accuracy",
    "test_loss",
    "train_loss",
    "exact_zeros",
    "near_zeros",
    "dead_neurons",
)
_KNOWN_METRICS = {
    "train_loss",
    "test_loss",
    "penalty",
    "diverged",
    "diverged_step",
    "total_error",
    "test_accuracy",
}
