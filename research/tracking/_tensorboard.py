"""``logger=tensorboard``: one TensorBoard run (a folder of event files) per job.

Written with ``tensorboardX``, which needs neither TensorFlow nor PyTorch.
A job's events go to ``<log_dir>/<job directory relative to the sweep>``
(``<log_dir>/<job directory name>`` for a single run), so
``tensorboard --logdir <log_dir>`` lists the jobs by their overrides.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from research.io import METRICS
from research.tracking._record import JobRecord, job_record

__all__ = ["TensorBoardTracker"]

_EVENTS = "events.out.tfevents.*"


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as err:
        raise ImportError(
            "logger=tensorboard needs tensorboardX, in the tracking extra: "
            "pip install -e '.[tracking]'"
        ) from err
    return SummaryWriter


@dataclasses.dataclass(frozen=True)
class TensorBoardTracker:
    """Writes each job's curves, final metrics and kernel histograms as event files.

    Attributes:
      log_dir: the folder to point ``tensorboard --logdir`` at; each job is a
        run (sub-folder) in it.

    Examples:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from research.engine import train_and_evaluate
      >>> from research.io import write_job
      >>> from research.tracking import TensorBoardTracker
      >>> config = {"model": {"name": "linear"}, "loss": "mse", "batch_size": 40,
      ...           "epochs": 5, "num_seeds": 3, "method": "proximal",
      ...           "regularizer": {"name": "l1", "l1": [0.01, 0.1]}}
      >>> root = Path(tempfile.mkdtemp())
      >>> sweep = root / "multirun" / "lasso_path"
      >>> job = sweep / "method=proximal"
      >>> write_job(job, train_and_evaluate(config), overrides=["method=proximal"])
      >>> tracker = TensorBoardTracker(str(root / "tensorboard" / "lasso_path"))
      >>> tracker.log_job(job, sweep_dir=sweep), tracker.log_job(job, sweep_dir=sweep)
      (True, False)
      >>> run = tracker.run_dir(job, sweep)
      >>> run.relative_to(root).as_posix(), len(list(run.glob("events.out.tfevents.*")))
      ('tensorboard/lasso_path/method=proximal', 1)
    """

    log_dir: str = "outputs/tensorboard/default"

    def run_dir(self, job_dir: Path, sweep_dir: Path | None = None) -> Path:
        """The folder of the job's event files."""
        job_dir = Path(job_dir).resolve()
        if sweep_dir is not None and job_dir.is_relative_to(Path(sweep_dir).resolve()):
            name = job_dir.relative_to(Path(sweep_dir).resolve())
        else:
            name = Path(job_dir.name)
        return Path(self.log_dir).expanduser().resolve() / name

    def log_job(self, job_dir: Path, *, sweep_dir: Path | None = None) -> bool:
        """Writes the job's event file, replacing an older one.

        Returns:
          True when events were written, False when the job's events are newer
          than its ``metrics.json`` already.
        """
        run_dir = self.run_dir(job_dir, sweep_dir)
        old = sorted(run_dir.glob(_EVENTS))
        written = (Path(job_dir) / METRICS).stat().st_mtime_ns
        if old and min(p.stat().st_mtime_ns for p in old) >= written:
            return False
        record = job_record(job_dir, sweep_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        # Written aside and moved in, so that the run never holds half an event file.
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=run_dir))
        try:
            _write(record, staging)
            for path in old:
                path.unlink(missing_ok=True)
            for path in staging.glob(_EVENTS):
                os.replace(path, run_dir / path.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True


def _write(record: JobRecord, folder: Path) -> None:
    writer = _summary_writer()(logdir=str(folder), flush_secs=3600)
    try:
        table = "\n".join(f"| {k} | {v} |" for k, v in record.params.items())
        writer.add_text("config", "| key | value |\n|---|---|\n" + table, 0)
        swept = ", ".join(f"{k}={v}" for k, v in record.swept.items())
        writer.add_text("swept", swept or "(nothing swept)", 0)
        for name, values in record.curves.items():
            for epoch, value in enumerate(values, start=1):
                writer.add_scalar(name, float(value), epoch)
        for name, value in record.final.items():
            writer.add_scalar(name, value, record.epochs)
        for name, values in record.kernels.items():
            finite = values[np.isfinite(values)]
            if finite.size:
                writer.add_histogram(name, finite, record.epochs)
    finally:
        writer.close()
