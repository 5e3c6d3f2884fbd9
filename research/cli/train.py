"""``research-train`` / ``python -m research.train``: Hydra's command line, one job per call.

``run_job(cfg, job_dir, overrides, multirun=...)`` is the job runner the
Hydra task function calls, and what the tests call with a composed config:
skip a complete job, else train, evaluate and write the job's files
(``research.io``). ``main`` checks every job of the command line first
(``research.cli.configs.check_launch``): a bad value or name prints one line,
exits 2 and writes nothing (``HYDRA_FULL_ERROR=1`` shows the traceback).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from research import claims
from research.config import TrainConfig

__all__ = ["configure_runtime", "main", "run_job"]

log = logging.getLogger("research.train")


def configure_runtime(compilation_cache_dir: str | None) -> None:
    """Environment and JAX settings for a job; call before JAX starts a backend.

    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` lets several jobs share a GPU (JAX
    otherwise takes 75% of its memory at start); values already in the
    environment win. The persistent compilation cache lets jobs in separate
    processes (joblib, submitit, Slurm) reuse each other's compiled programs.
    """
    import jax

    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU/GPU probe notes
    if compilation_cache_dir:
        path = Path(compilation_cache_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _plain_config(cfg: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _log_summary(job_dir: Path, metrics: dict[str, np.ndarray], elapsed: float) -> dict:
    main_metric = "test_accuracy" if "test_accuracy" in metrics else "total_error"
    diverged = metrics["diverged"]
    log.info(
        "%s: %s mean %.4g over %d seeds x %d strengths, %d diverged, %.1fs",
        job_dir,
        main_metric,
        float(np.nanmean(np.where(diverged, np.nan, metrics[main_metric]))),
        diverged.shape[0],
        diverged.shape[1],
        int(diverged.sum()),
        elapsed,
    )
    return {main_metric: metrics[main_metric].tolist()}


def run_job(
    cfg: Any,
    job_dir: Path,
    overrides: list[str],
    *,
    multirun: bool,
    sweep_dir: Path | None = None,
) -> dict | None:
    """One Hydra job: skip it if complete or claimed, else train, evaluate and write its files.

    The job is claimed first (``research.claims``): a concurrent launch of the
    same grid skips it and logs who holds it. A job that raises leaves a
    ``failure.json``; in a multirun the other jobs go on, in a single run the
    error is raised. An interrupt (SIGINT, SIGTERM) leaves no completion
    marker and releases the claim. A complete job, run now or skipped, is
    logged to the tracker ``cfg.logger`` names unless its run there is up to
    date (``research.tracking``); ``sweep_dir`` (``hydra.sweep.dir``) groups
    the jobs of a multirun under one parent run.
    """
    from research.io import is_complete

    if is_complete(job_dir):
        log.info("complete already, skipped: %s", job_dir)
        _track(cfg, job_dir, sweep_dir)
        return None
    with claims.claim(job_dir) as mine:
        if mine is None:
            other = claims.holder(job_dir) or {}
            log.info(
                "claimed by another launch, skipped: %s (held by %s)",
                job_dir,
                claims.describe(other),
            )
            return None
        if is_complete(job_dir):  # completed by another launch meanwhile
            log.info("complete already, skipped: %s", job_dir)
            return None
        for leftover in Path(job_dir).glob(".*.tmp"):  # a killed writer's; the claim is ours
            leftover.unlink(missing_ok=True)
        try:
            summary = _run_claimed(cfg, job_dir, overrides, multirun=multirun)
        except KeyboardInterrupt:
            log.warning("interrupted: %s left incomplete (no %s)", job_dir, "metrics.json")
            raise
    if summary is not None:
        _track(cfg, job_dir, sweep_dir)
    return summary


_tracker_down: dict[str, tuple[float, str]] = {}
"""Tracker config -> (when it last failed, the error), so that the next jobs of this process
skip a tracker that just failed for ``_RETRY_TRACKER_S`` instead of waiting on it again."""
_RETRY_TRACKER_S = 60.0


def _track(cfg: Any, job_dir: Path, sweep_dir: Path | None) -> None:
    """Logs a complete job to the tracker ``cfg.logger`` names; a failure only warns."""
    from omegaconf import OmegaConf

    node = OmegaConf.select(cfg, "logger", default=None, throw_on_missing=False)
    logger = _plain_config(node) if node is not None else {}
    name = logger.get("name", "none")
    if name == "none":
        return
    later = (
        f"log it later with: research-aggregate --to mlflow {sweep_dir or Path(job_dir).parent}"
        if name == "mlflow"
        else "relaunching the grid logs it (complete jobs are logged when skipped)"
    )
    key = repr(sorted(logger.items()))
    failed_at, error = _tracker_down.get(key, (-math.inf, ""))
    if time.monotonic() - failed_at < _RETRY_TRACKER_S:
        log.warning("logger=%s not tried for %s (failed %.0fs ago: %s); %s", name, job_dir,
                    time.monotonic() - failed_at, error, later)  # fmt: skip
        return
    from research import tracking

    tracker = tracking.from_config(logger)
    if tracker is None:
        return
    try:
        tracker.log_job(Path(job_dir), sweep_dir=sweep_dir)
    except Exception as err:
        error = f"{type(err).__name__}: {err}".strip()[:1000]
        _tracker_down[key] = (time.monotonic(), error)
        log.warning("logger=%s could not log %s: %s; the job's files are complete, %s",
                    name, job_dir, error, later)  # fmt: skip


def _run_claimed(cfg: Any, job_dir: Path, overrides: list[str], *, multirun: bool) -> dict | None:
    from research.engine import train_and_evaluate
    from research.io import write_failure, write_job

    try:
        configure_runtime(cfg.get("compilation_cache_dir"))
        engine_keys = {f.name for f in dataclasses.fields(TrainConfig)}
        plain = _plain_config(cfg)
        start = time.perf_counter()
        results = train_and_evaluate({k: v for k, v in plain.items() if k in engine_keys})
        elapsed = time.perf_counter() - start
        ran_by = {"host": socket.gethostname(), "pid": os.getpid(), "devices": _devices()}
        extra = {"run": plain, "ran_by": ran_by}
        write_job(job_dir, results, overrides=overrides, elapsed_s=elapsed, extra=extra)
    except Exception as err:
        try:
            write_failure(job_dir, err, overrides=overrides)
        except OSError as write_err:  # the disk fault may stop this one too
            log.error("could not record the failure in %s: %s", job_dir, write_err)
        log.error("job failed (%s): %s: %s", job_dir, type(err).__name__, err)
        if not multirun:
            raise
        return None
    return _log_summary(job_dir, results.metrics, elapsed)


def _devices() -> int:
    """How many devices JAX's default backend has (CPU: ``research.engine.devices``)."""
    import jax

    return len(jax.devices())


def _task(cfg: Any) -> dict | None:
    """The Hydra task function (module level, so launchers pickle it by reference)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from research.engine import devices

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    # Jobs side by side share the cores (README, Cores); before the job starts JAX.
    devices.configure(*devices.launcher_share(hc.launcher if multirun else None))
    return run_job(
        cfg,
        Path(hc.runtime.output_dir),
        list(hc.overrides.task),
        multirun=multirun,
        sweep_dir=Path(hc.sweep.dir) if multirun else None,
    )


def main() -> None:
    """``research-train`` / ``python -m research.train``: Hydra's command line."""
    import hydra

    from research.cli.configs import (
        CONFIG_PATH,
        VERSION_BASE,
        LaunchError,
        check_launch,
        check_overrides,
        register_configs,
    )

    try:
        check_overrides(sys.argv[1:])
        register_configs()
        check_launch(sys.argv[1:])
    except LaunchError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"research-train: error: {err}", file=sys.stderr)
        sys.exit(2)
    received = _raise_on_sigterm()
    try:
        hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="train")(_task)()
    except KeyboardInterrupt:
        signum = received.get("signum", signal.SIGINT)
        print(
            f"research-train: interrupted by {signal.Signals(signum).name}; the running job "
            "was left incomplete (no metrics.json) and released. Run the same command again "
            "to resume: complete jobs are skipped.",
            file=sys.stderr,
        )
        # The job's files and claim are cleaned up by now; skip the interpreter's teardown,
        # which can crash while XLA's threads are still running the interrupted program.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)


def _raise_on_sigterm() -> dict[str, int]:
    """Makes SIGTERM interrupt like Ctrl-C (``KeyboardInterrupt``), so that a running job
    cleans up; returns a dict that records which signal arrived."""
    received: dict[str, int] = {}

    def interrupt(signum: int, frame: Any) -> None:
        received["signum"] = signum
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    return received
