"""Experiment trackers: a view of a grid's job files in MLflow or TensorBoard.

The job files (``research.io``) and ``research-aggregate`` stay the source of
truth; a tracker logs each complete job read back from its files, so logging
live (``research-train -m logger=mlflow ...``) and after the fact
(``research-aggregate --to mlflow SWEEP_DIR``) give the same runs. The
``logger`` config group picks one: ``none`` (default), ``mlflow``,
``tensorboard``; ``TRACKERS`` maps the names to classes, whose fields are the
group's config keys.

Names (MLflow metric keys and TensorBoard tags alike), for each metric of
``metrics.json`` (``total_error``, ``test_accuracy``, ``train_loss``,
``exact_zeros/layers/0/kernel``, ...):

* ``<metric>/seed_<s>``: seed ``s`` of the job's seed axis (PRNG seed index
  ``s`` of ``jax.random.split(key(seed), num_seeds)``; ``seed`` is the
  ``research.seed`` tag);
* ``<metric>/mean``, ``<metric>/std``: over the seeds that did not diverge;
  ``diverged/fraction``: the fraction that did;
* ``epoch_loss/mean``, ``epoch_loss/std``, ``epoch_loss/seed_<s>``: the mean
  training loss of each epoch, with the epoch (1, 2, ...) as the step; the
  final metrics are logged at step ``epochs``;
* TensorBoard also has ``kernels/<path>/seed_<s>``: histograms of the final
  kernels.

A job that vmaps several strengths (``regularizer.l1=[0.1,0.3]``) has a
strength segment after the metric, ``total_error/l1_0.1/mean``; with one
strength there is none (the strength is a param: ``regularizer.l1``).

MLflow runs also carry: the resolved config as params (``optimizer.learning_rate``,
...), a tag ``swept.<key>`` per key the multirun sweeps (``swept.regularizer``),
``research.job_dir``, ``research.overrides``, and, as artifacts, the job's
``metrics.json`` and ``params.npz``; their parent run is named after the
multirun and carries its overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from research.tracking._mlflow import MlflowTracker, local_store_uri
from research.tracking._record import JobRecord, job_record
from research.tracking._tensorboard import TensorBoardTracker

__all__ = [
    "TRACKERS",
    "JobRecord",
    "MlflowTracker",
    "TensorBoardTracker",
    "from_config",
    "job_record",
    "local_store_uri",
    "log_sweep",
]

TRACKERS: dict[str, type] = {"mlflow": MlflowTracker, "tensorboard": TensorBoardTracker}
"""Tracker name (the ``logger`` option) -> class; ``logger=none`` tracks nothing."""


def from_config(logger: Mapping[str, Any] | None) -> MlflowTracker | TensorBoardTracker | None:
    """The tracker a ``logger`` config node names (None for ``none``).

    Raises:
      ValueError: naming ``logger`` and the options when the name is unknown.

    Examples:
      >>> from research.tracking import from_config
      >>> from_config({"name": "tensorboard", "log_dir": "outputs/tensorboard/g"})
      TensorBoardTracker(log_dir='outputs/tensorboard/g')
      >>> from_config({"name": "none"}) is None
      True
      >>> from_config({"name": "wandb"})
      Traceback (most recent call last):
      ...
      ValueError: logger: unknown tracker 'wandb'; expected one of none, ['mlflow', 'tensorboard']
    """
    options = dict(logger or {"name": "none"})
    name = options.pop("name", "none")
    if name == "none":
        return None
    if name not in TRACKERS:
        raise ValueError(
            f"logger: unknown tracker {name!r}; expected one of none, {sorted(TRACKERS)}"
        )
    return TRACKERS[name](**options)


def log_sweep(tracker: MlflowTracker | TensorBoardTracker, sweep_dir: Path) -> dict[str, list]:
    """Logs every complete job of a multirun (what ``research-aggregate --to`` does).

    Jobs whose runs are up to date are left alone; a job that fails to log is
    reported and the others go on, unless the first three all fail (the
    tracker is down): then the rest are not tried.

    Returns:
      ``{"logged": [job dirs], "up_to_date": [...], "failed": [(job dir, error)],
      "not_tried": [...]}``.

    Examples:
      A multirun ``g`` with one job, logged to TensorBoard (an ``MlflowTracker`` is
      passed the same way):

      >>> import tempfile
      >>> from pathlib import Path
      >>> from research.engine import train_and_evaluate
      >>> from research.io import write_job
      >>> from research.tracking import TensorBoardTracker, log_sweep
      >>> config = {"model": {"name": "linear"}, "loss": "mse", "batch_size": 40,
      ...           "epochs": 5, "num_seeds": 3, "method": "proximal",
      ...           "regularizer": {"name": "l1", "l1": [0.01, 0.1]}}
      >>> root = Path(tempfile.mkdtemp())
      >>> sweep = root / "multirun" / "g"
      >>> job = sweep / "regularizer=l1"
      >>> write_job(job, train_and_evaluate(config), overrides=["regularizer=l1"])
      >>> tracker = TensorBoardTracker(str(root / "tensorboard"))
      >>> done = log_sweep(tracker, sweep)
      >>> [job.name for job in done["logged"]], done["failed"], done["not_tried"]
      (['regularizer=l1'], [], [])
      >>> [job.name for job in log_sweep(tracker, sweep)["up_to_date"]]  # nothing new to log
      ['regularizer=l1']
    """
    from research.io import is_complete
    from research.tables import job_dirs

    done: dict[str, list] = {"logged": [], "up_to_date": [], "failed": [], "not_tried": []}
    for job_dir in job_dirs(Path(sweep_dir)):
        if not is_complete(job_dir):
            continue
        if len(done["failed"]) >= 3 and not done["logged"] and not done["up_to_date"]:
            done["not_tried"].append(job_dir)
            continue
        try:
            logged = tracker.log_job(job_dir, sweep_dir=sweep_dir)
        except Exception as err:
            done["failed"].append((job_dir, f"{type(err).__name__}: {err}"))
            continue
        done["logged" if logged else "up_to_date"].append(job_dir)
    return done
