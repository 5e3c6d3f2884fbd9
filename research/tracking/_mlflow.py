"""``logger=mlflow``: one parent run per multirun, one child run per job.

The default store is MLflow's recommended local one, a SQLite database
(``sqlite:///<output_root>/mlflow/mlflow.db``) with artifacts in
``artifacts/`` next to it; ``logger.tracking_uri=http://host:5000`` logs to a
team's server instead. Jobs in separate processes (joblib, Slurm) find the
parent run by its ``research.sweep_id`` tag and their own run by
``research.job_id``, so a relaunch or ``research-aggregate --to mlflow``
never duplicates a run: an up-to-date run is left alone, a stale one (the job
ran again, or logging stopped halfway) is replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from research.io import METRICS
from research.tracking._record import JobRecord, digest, job_record, sweep_overrides

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["MlflowTracker", "local_store_uri"]

_EXTRA = "pip install -e '.[tracking]'"
_MAX_PARAM = 6000  # MLflow's limits on a param value and a tag value
_MAX_TAG = 8000
_LOCK_WAIT_S = 60.0


def local_store_uri(output_root: str | Path) -> str:
    """The local store ``logger=mlflow`` uses by default: ``sqlite:///<output_root>/mlflow/mlflow.db``."""
    return f"sqlite:///{Path(output_root).expanduser().resolve() / 'mlflow' / 'mlflow.db'}"


def _import_mlflow():
    try:
        import mlflow
    except ImportError as err:
        raise ImportError(f"logger=mlflow needs MLflow, in the tracking extra: {_EXTRA}") from err
    return mlflow


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).expanduser().resolve()


@contextlib.contextmanager
def _store_lock(db: Path | None) -> Iterator[None]:
    """Serializes the processes of a grid on a local SQLite store: its first use creates
    the tables, and one process at a time finds or creates the parent run."""
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() > deadline:
                    message = f"{db} locked by another process for {_LOCK_WAIT_S}s"
                    raise TimeoutError(message) from err
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclasses.dataclass(frozen=True)
class MlflowTracker:
    """Logs jobs to MLflow: the config as params, metrics, epoch curves, job files.

    Attributes:
      tracking_uri: where runs go: ``sqlite:///path/mlflow.db`` (a local store,
        the default under ``output_root``), ``http://host:5000`` (a server).
      experiment_name: the MLflow experiment (the grid's ``name`` by default).
      artifact_location: where a new experiment keeps artifacts; null: the
        ``artifacts/`` folder next to a SQLite store, the server's default
        otherwise.
      timeout_s: seconds an HTTP request to a server may take
        (``MLFLOW_HTTP_REQUEST_TIMEOUT``).
      retries: HTTP retries (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``); 0 so that an
        unreachable server costs a job one failed request, not minutes.

    Examples:
      A multirun's job logged to a file store in a temporary folder (MLflow 3 takes
      one only with ``MLFLOW_ALLOW_FILE_STORE=true``; ``local_store_uri`` gives the
      default SQLite store):

      >>> import os
      >>> import tempfile
      >>> from pathlib import Path
      >>> from unittest import mock
      >>> from research.engine import train_and_evaluate
      >>> from research.io import write_job
      >>> from research.tracking import MlflowTracker
      >>> config = {"model": {"name": "linear"}, "loss": "mse", "batch_size": 40,
      ...           "epochs": 5, "num_seeds": 3, "method": "proximal",
      ...           "regularizer": {"name": "l1", "l1": [0.01, 0.1]}}
      >>> root = Path(tempfile.mkdtemp())
      >>> sweep = root / "multirun" / "lasso_path"
      >>> job = sweep / "method=proximal"
      >>> write_job(job, train_and_evaluate(config), overrides=["method=proximal"])
      >>> tracker = MlflowTracker((root / "mlruns").as_uri(), "lasso_path")
      >>> with mock.patch.dict(os.environ, MLFLOW_ALLOW_FILE_STORE="true"):
      ...     logged = tracker.log_job(job, sweep_dir=sweep), tracker.log_job(job, sweep_dir=sweep)
      ...     client = tracker.client()
      ...     runs = client.search_runs([tracker.experiment_id(client)])
      >>> logged  # the second call finds the run up to date
      (True, False)
      >>> sorted((run.info.run_name, run.data.tags["research.role"]) for run in runs)
      [('lasso_path', 'sweep'), ('method=proximal', 'job')]
      >>> runs[0].data.params["method"]
      'proximal'
    """

    tracking_uri: str = "sqlite:///outputs/mlflow/mlflow.db"
    experiment_name: str = "default"
    artifact_location: str | None = None
    timeout_s: float = 5.0
    retries: int = 0

    @property
    def uri(self) -> str:
        """``tracking_uri`` with a SQLite path made absolute (jobs may run elsewhere)."""
        db = _sqlite_path(self.tracking_uri)
        return f"sqlite:///{db}" if db else self.tracking_uri

    def client(self) -> MlflowClient:
        """An ``mlflow.MlflowClient`` for ``tracking_uri``, with this tracker's HTTP limits."""
        _import_mlflow()
        from mlflow import MlflowClient

        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(math.ceil(self.timeout_s))
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(self.retries)
        db = _sqlite_path(self.tracking_uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.uri)

    def experiment_id(self, client: MlflowClient) -> str:
        """Finds or creates the experiment ``experiment_name``."""
        from mlflow.exceptions import MlflowException

        name = self.experiment_name
        found = client.get_experiment_by_name(name)
        if found is None:
            db = _sqlite_path(self.tracking_uri)
            location = self.artifact_location
            if location is None and db is not None:
                location = (db.parent / "artifacts").as_uri()
            try:
                return client.create_experiment(name, artifact_location=location)
            except MlflowException:  # created by another job meanwhile
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage != "active":
            raise ValueError(
                f"logger.experiment_name: experiment {name!r} is deleted in {self.uri}; "
                "restore it (mlflow experiments restore) or choose another name"
            )
        return found.experiment_id

    def log_job(self, job_dir: Path, *, sweep_dir: Path | None = None) -> bool:
        """Logs one complete job as a run (a child of the sweep's run in a multirun).

        Returns:
          True when a run was logged, False when an up-to-date run was there.
        """
        record = job_record(job_dir, sweep_dir)
        with _store_lock(_sqlite_path(self.tracking_uri)):
            client = self.client()
            experiment = self.experiment_id(client)
            existing = _find(client, experiment, "job", "research.job_id", record.tags)
            if any(_up_to_date(run, record) for run in existing):
                return False
            for run in existing:
                client.delete_run(run.info.run_id)
            parent = self.parent_run(client, experiment, record.sweep_dir)
            _log_child(client, experiment, record, parent)
            if parent is not None:
                client.set_terminated(parent, "FINISHED")  # its end time: the last job's
        return True

    def log_sweep_files(self, sweep_dir: Path, files: list[Path]) -> None:
        """Logs files of the multirun (``summary.csv``, ``cells.csv``) to its parent run."""
        with _store_lock(_sqlite_path(self.tracking_uri)):
            client = self.client()
            parent = self.parent_run(client, self.experiment_id(client), sweep_dir)
            for path in files:
                client.log_artifact(parent, str(path))

    def parent_run(
        self, client: MlflowClient, experiment: str, sweep_dir: Path | None
    ) -> str | None:
        """Finds or creates the multirun's run; None for a single run."""
        if sweep_dir is None:
            return None
        sweep_dir = Path(sweep_dir).resolve()
        tags = {"research.sweep_id": digest(str(sweep_dir))}
        found = _find(client, experiment, "sweep", "research.sweep_id", tags)
        if found:
            return _first(found)
        run_id = _create_parent(client, experiment, sweep_dir)
        # Processes on other hosts may have raced (no shared lock with a server): keep the
        # oldest parent and delete the others' duplicates, so all jobs agree on one.
        chosen = _first(_find(client, experiment, "sweep", "research.sweep_id", tags))
        if chosen != run_id:
            client.delete_run(run_id)
        return chosen


def _find(client, experiment: str, role: str, key: str, tags: dict[str, str]) -> list:
    query = f"tags.`research.role` = '{role}' and tags.`{key}` = '{tags[key]}'"
    return list(client.search_runs([experiment], filter_string=query, max_results=1000))


def _first(runs: list) -> str:
    return min(runs, key=lambda r: (r.info.start_time, r.info.run_id)).info.run_id


def _up_to_date(run: Any, record: JobRecord) -> bool:
    fingerprint = run.data.tags.get("research.fingerprint")
    return run.info.status == "FINISHED" and fingerprint == record.tags["research.fingerprint"]


def _create_parent(client, experiment: str, sweep_dir: Path) -> str:
    from mlflow.entities import Param
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

    overrides = sweep_overrides(sweep_dir)
    tags = {
        "research.role": "sweep",
        "research.sweep_dir": str(sweep_dir),
        "research.sweep_id": digest(str(sweep_dir)),
        "research.overrides": " ".join(overrides)[:_MAX_TAG],
        MLFLOW_RUN_NOTE: f"research-train -m {' '.join(overrides)}"[:_MAX_TAG],
    }
    run_id = client.create_run(experiment, run_name=sweep_dir.name, tags=tags).info.run_id
    params = {}
    for item in overrides:
        key, _, value = item.partition("=")
        params[key.lstrip("+~")] = value[:_MAX_PARAM]
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_child(client, experiment: str, record: JobRecord, parent: str | None) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    tags = {k: v[:_MAX_TAG] for k, v in record.tags.items()}
    if parent is not None:
        tags[MLFLOW_PARENT_RUN_ID] = parent
    run_id = client.create_run(experiment, run_name=record.name, tags=tags).info.run_id
    try:
        now = int(time.time() * 1000)
        params = [Param(k, v[:_MAX_PARAM]) for k, v in record.params.items()]
        metrics = [Metric(k, v, now, record.epochs) for k, v in record.final.items()]
        metrics += [
            Metric(name, float(value), now, epoch)
            for name, values in record.curves.items()
            for epoch, value in enumerate(values, start=1)
        ]
        client.log_batch(run_id, metrics=metrics, params=params, synchronous=True)
        for name in (METRICS, "params.npz"):
            client.log_artifact(run_id, str(record.job_dir / name))
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")  # replaced by the next log of this job
        raise
    client.set_terminated(run_id, "FINISHED")  # last: marks the run complete
