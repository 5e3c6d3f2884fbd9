"""What a tracker logs for one job, read from the job's files: names, values, tags.

Both trackers (MLflow, TensorBoard) and ``research-aggregate --to mlflow``
log a ``JobRecord``, so live logging and logging after the fact give the
same runs. The naming scheme is documented in ``research.tracking``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from research.io import METRICS, load_job
from research.results import Results

__all__ = ["JobRecord", "digest", "flatten", "job_record", "sweep_overrides", "swept_keys"]


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """One complete job, as a tracker logs it.

    Attributes:
      job_dir: the job directory (absolute).
      sweep_dir: the multirun directory (absolute), None for a single run.
      name: the run's name: the job directory relative to the sweep directory
        (Hydra names it by the job's overrides), or its own name.
      params: the resolved config, flattened to ``section.key`` -> string.
      swept: the swept keys of the multirun -> this job's value.
      tags: ``research.*`` tags that identify the job (``research.job_id``,
        a hash of ``job_dir``) and its contents (``research.fingerprint``, a
        hash of ``metrics.json``), and ``swept.<key>`` for each swept key.
      final: final metrics, name -> value (see ``research.tracking``).
      curves: per-epoch series, name -> ``(epochs,)`` values.
      kernels: final kernel values for histograms, name -> flat array.
      epochs: the number of epochs (the step of the final metrics).
    """

    job_dir: Path
    sweep_dir: Path | None
    name: str
    params: dict[str, str]
    swept: dict[str, str]
    tags: dict[str, str]
    final: dict[str, float]
    curves: dict[str, np.ndarray]
    kernels: dict[str, np.ndarray]
    epochs: int


def digest(text: str | bytes) -> str:
    """A short stable hash (16 hex digits), safe inside MLflow filter strings."""
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha1(data).hexdigest()[:16]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"optimizer.learning_rate": "0.01", ...}``; lists as JSON."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(list(value))
        else:
            out[name] = str(value)
    return out


def _parse(overrides: list[str]) -> dict[str, str]:
    """Overrides as key -> value: ``["+sweep=gd_1d"]`` -> ``{"sweep": "gd_1d"}``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:  # a hand-written metrics.json: split at the first '='
        return {k.lstrip("+~"): v for k, _, v in (o.partition("=") for o in overrides)}
    return {o.key_or_group: o.get_value_element_as_str() for o in parsed}


def swept_keys(sweep_dir: Path | None) -> list[str] | None:
    """The keys a multirun sweeps, from its ``multirun.yaml``: overrides with several values
    (``regularizer=l1,l2``) and the sweeper's params (``+sweep=...`` files); None when
    there is no ``multirun.yaml``."""
    path = Path(sweep_dir) / "multirun.yaml" if sweep_dir else None
    if path is None or not path.is_file():
        return None
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra = (yaml.safe_load(path.read_text()) or {}).get("hydra", {})
    task = (hydra.get("overrides") or {}).get("task") or []
    parsed = OverridesParser.create().parse_overrides(list(task))
    keys = [o.key_or_group for o in parsed if o.is_sweep_override()]
    keys += list((hydra.get("sweeper") or {}).get("params") or {})
    return sorted(set(keys))


def sweep_overrides(sweep_dir: Path) -> list[str]:
    """The command line's overrides of a multirun (``multirun.yaml``), or []."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not path.is_file():
        return []
    import yaml

    hydra = (yaml.safe_load(path.read_text()) or {}).get("hydra", {})
    return list((hydra.get("overrides") or {}).get("task") or [])


def _slices(results: Results) -> Iterator[tuple[str, int]]:
    """``(name segment, strength index)``: no segment for one strength, else
    ``/l1_0.1`` (every strength name with its value at that index)."""
    if results.num_strengths == 1:
        yield "", 0
        return
    for k in range(results.num_strengths):
        parts = [f"{n}_{float(v[k])!r}" for n, v in sorted(results.strengths.items())]
        yield "/" + "_".join(parts), k


def _final(results: Results) -> dict[str, float]:
    summary = results.info.get("summary", {})
    diverged = np.asarray(results.metrics["diverged"], bool)
    out: dict[str, float] = {}
    for seg, k in _slices(results):
        for name, values in sorted(results.metrics.items()):
            values = np.asarray(values, np.float64)
            for s in range(results.num_seeds):
                out[f"{name}{seg}/seed_{s}"] = float(values[s, k])
            if name in summary:
                out[f"{name}{seg}/mean"] = float(summary[name]["mean"][k])
                out[f"{name}{seg}/std"] = float(summary[name]["std"][k])
        out[f"diverged{seg}/fraction"] = float(diverged[:, k].mean())
    return out


def _curves(results: Results) -> dict[str, np.ndarray]:
    loss = np.asarray(results.history["epoch_loss"], np.float64)  # (S, K, E)
    diverged = np.asarray(results.metrics["diverged"], bool)
    kept = np.where(diverged[..., None], np.nan, loss)
    out: dict[str, np.ndarray] = {}
    for seg, k in _slices(results):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # every seed diverged: NaN
            out[f"epoch_loss{seg}/mean"] = np.nanmean(kept[:, k], axis=0)
            out[f"epoch_loss{seg}/std"] = np.nanstd(kept[:, k], axis=0)
        for s in range(results.num_seeds):
            out[f"epoch_loss{seg}/seed_{s}"] = loss[s, k]
    return out


def _kernels(results: Results) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for path, values in sorted(results.params.items()):
        if not path.endswith("kernel"):
            continue
        for seg, k in _slices(results):
            for s in range(results.num_seeds):
                out[f"kernels/{path}{seg}/seed_{s}"] = np.asarray(values[s, k]).ravel()
    return out


def job_record(job_dir: Path, sweep_dir: Path | None = None) -> JobRecord:
    """Reads a complete job (``research.io.load_job``) into what a tracker logs.

    Args:
      job_dir: a complete job directory.
      sweep_dir: its multirun directory (``hydra.sweep.dir``), or None for a
        single run.

    Returns:
      A ``JobRecord``.

    Raises:
      FileNotFoundError: when the job is not complete.

    Examples:
      A job of two strengths (so the names have a strength segment) in a multirun:

      >>> import tempfile
      >>> from pathlib import Path
      >>> from research.engine import train_and_evaluate
      >>> from research.io import write_job
      >>> from research.tracking import job_record
      >>> config = {"model": {"name": "linear"}, "loss": "mse", "batch_size": 40,
      ...           "epochs": 5, "num_seeds": 3, "method": "proximal",
      ...           "regularizer": {"name": "l1", "l1": [0.01, 0.1]}}
      >>> sweep = Path(tempfile.mkdtemp()) / "multirun" / "g"
      >>> job = sweep / "regularizer=l1"
      >>> write_job(job, train_and_evaluate(config), overrides=["regularizer=l1"])
      >>> record = job_record(job, sweep)
      >>> record.name, record.swept, record.epochs, record.params["method"]
      ('regularizer=l1', {'regularizer': 'l1'}, 5, 'proximal')
      >>> [name for name in record.final if name.startswith("total_error/l1_0.1/")]
      ['total_error/l1_0.1/seed_0', 'total_error/l1_0.1/seed_1', 'total_error/l1_0.1/seed_2',
       'total_error/l1_0.1/mean', 'total_error/l1_0.1/std']
      >>> record.curves["epoch_loss/l1_0.1/mean"].shape  # one value per epoch
      (5,)
    """
    job_dir = Path(job_dir).resolve()
    sweep_dir = Path(sweep_dir).resolve() if sweep_dir else None
    results = load_job(job_dir)
    overrides = _parse(results.info.get("overrides", []))
    keys = swept_keys(sweep_dir)
    swept = {k: v for k, v in overrides.items() if keys is None or k in keys}
    inside = sweep_dir is not None and job_dir.is_relative_to(sweep_dir) and job_dir != sweep_dir
    tags = {
        "research.role": "job",
        "research.job_dir": str(job_dir),
        "research.job_id": digest(str(job_dir)),
        "research.fingerprint": digest((job_dir / METRICS).read_bytes()),
        "research.overrides": " ".join(results.info.get("overrides", [])),
        "research.swept": ",".join(sorted(swept)),
        "research.seed": str(results.config.get("seed", 0)),
        "research.strengths": json.dumps({k: v.tolist() for k, v in results.strengths.items()}),
        **{f"swept.{k}": v for k, v in swept.items()},
    }
    if sweep_dir is not None:
        tags["research.sweep_dir"] = str(sweep_dir)
        tags["research.sweep_id"] = digest(str(sweep_dir))
    return JobRecord(
        job_dir=job_dir,
        sweep_dir=sweep_dir,
        name=str(job_dir.relative_to(sweep_dir))
        if inside and sweep_dir is not None
        else job_dir.name,
        params=flatten(results.config),
        swept=swept,
        tags=tags,
        final=_final(results),
        curves=_curves(results),
        kernels=_kernels(results),
        epochs=int(np.shape(results.history["epoch_loss"])[-1]),
    )
