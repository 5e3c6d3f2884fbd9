"""One job's output files: written atomically, read back as ``Results``.

A job directory (Hydra's, next to its ``.hydra/``) holds:

* ``params.npz``: final params, keys are '/'-joined parameter paths, arrays
  ``(num_seeds, num_strengths, ...)``;
* ``history.npz``: ``epoch_loss``, ``snapshot_steps``, ``snapshots/<path>``
  and, if recorded, ``step_loss``;
* ``metrics.json``: per-seed metrics (``[seed][strength]``), a summary (mean
  and std over seeds that did not diverge), the strengths, the resolved
  config and the job's overrides; written last, so its presence (with
  ``"status": "complete"``) marks a complete job;
* ``failure.json`` instead, when the job raised.

Every file is written to a temporary name and renamed, so a reader (or a
relaunch after a kill) never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from research.results import Results

__all__ = [
    "ARRAY_FILES",
    "FAILURE",
    "METRICS",
    "JobWriteError",
    "is_complete",
    "load_job",
    "write_failure",
    "write_job",
    "write_json",
    "write_npz",
    "write_text",
]

_UMASK = os.umask(0)
os.umask(_UMASK)
METRICS = "metrics.json"
FAILURE = "failure.json"
ARRAY_FILES = ("params.npz", "history.npz")


class JobWriteError(OSError):
    """A job file could not be written (disk full, permission denied, ...); names the path."""


def _atomic(path: Path, write) -> None:
    try:
        _write_atomic(path, write)
    except JobWriteError:
        raise
    except OSError as err:
        raise JobWriteError(
            err.errno, f"could not write {path}: {err.strerror or err}", str(path)
        ) from err


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_text(path: Path, text: str) -> None:
    """Writes text (UTF-8) atomically."""
    data = text.encode()
    _atomic(Path(path), lambda f: f.write(data))


def write_json(path: Path, data: Any) -> None:
    """Writes ``data`` as JSON atomically."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=True).encode()
    _atomic(Path(path), lambda f: f.write(text))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes arrays to a compressed ``.npz`` atomically."""
    _atomic(Path(path), lambda f: np.savez_compressed(f, **arrays))  # type: ignore[arg-type]  # numpy's stub checks **arrays against allow_pickle: bool


def is_complete(job_dir: Path) -> bool:
    """True when every output file of the job is there and ``metrics.json`` says complete."""
    job_dir = Path(job_dir)
    if not all((job_dir / name).is_file() for name in (*ARRAY_FILES, METRICS)):
        return False
    try:
        return json.loads((job_dir / METRICS).read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def _summary(values: np.ndarray, diverged: np.ndarray) -> dict[str, list[float]]:
    """Mean and std over seeds (axis 0) that did not diverge, per strength."""
    vals = np.where(diverged, np.nan, values.astype(np.float64))
    with np.errstate(all="ignore"):
        mean = np.nanmean(vals, axis=0) if np.any(~diverged) else np.full(vals.shape[1:], np.nan)
        std = np.nanstd(vals, axis=0) if np.any(~diverged) else np.full(vals.shape[1:], np.nan)
    return {"mean": mean.tolist(), "std": std.tolist()}


def write_job(
    job_dir: Path,
    results: Results,
    *,
    overrides: Iterable[str] = (),
    elapsed_s: float | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Writes one job's ``params.npz``, ``history.npz`` and, last, ``metrics.json``."""
    job_dir = Path(job_dir)
    (job_dir / FAILURE).unlink(missing_ok=True)
    write_npz(job_dir / "params.npz", results.params)
    write_npz(job_dir / "history.npz", results.history)
    diverged = np.asarray(results.metrics["diverged"], bool)
    metrics = {
        "status": "complete",
        "num_seeds": int(diverged.shape[0]),
        "strengths": {k: v.tolist() for k, v in results.strengths.items()},
        "per_seed": {k: np.asarray(v).tolist() for k, v in results.metrics.items()},
        "summary": {
            k: _summary(np.asarray(v), diverged)
            for k, v in results.metrics.items()
            if k not in ("diverged", "diverged_step")
        },
        "diverged_fraction": diverged.mean(axis=0).tolist(),
        "config": results.config,
        "overrides": list(overrides),
        "elapsed_s": elapsed_s,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    write_json(job_dir / METRICS, metrics)


def write_failure(job_dir: Path, error: BaseException, *, overrides: Iterable[str] = ()) -> None:
    """Records a job that raised: the error, its traceback and the overrides."""
    write_json(
        Path(job_dir) / FAILURE,
        {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "traceback": "".join(traceback.format_exception(error)),
            "overrides": list(overrides),
            "failed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def load_job(job_dir: Path) -> Results:
    """Reads a complete job back as ``Results``.

    ``metrics`` are the per-seed metrics as arrays, ``params`` and ``history``
    the arrays of ``params.npz`` and ``history.npz``; ``info`` holds the rest
    of ``metrics.json`` (``status``, ``summary``, ``overrides``, ...) and the
    job's ``dir``.

    Raises:
      FileNotFoundError: when the job is not complete.
    """
    job_dir = Path(job_dir)
    if not is_complete(job_dir):
        raise FileNotFoundError(f"{job_dir} is not a complete job (no complete {METRICS})")
    info = json.loads((job_dir / METRICS).read_text())
    arrays = {}
    for name in ARRAY_FILES:
        with np.load(job_dir / name) as npz:
            arrays[name] = {k: npz[k] for k in npz.files}
    per_seed = info.pop("per_seed")
    return Results(
        metrics={k: np.asarray(v) for k, v in per_seed.items()},
        history=arrays["history.npz"],
        params=arrays["params.npz"],
        strengths={k: np.asarray(v) for k, v in info.pop("strengths").items()},
        config=info.pop("config"),
        info={**info, "dir": job_dir},
    )
