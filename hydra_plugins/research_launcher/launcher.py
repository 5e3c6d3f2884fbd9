"""``SlurmLauncher``: submitit's Slurm launcher, waiting on ``squeue`` and recording lost jobs.

Hydra's submitit launcher waits for each job's result file and asks ``sacct``
for job states. A job that Slurm ends without a result (``scancel``, a time
limit after the last requeue, out of memory, a node failure) then either
fails the whole wait with one error, or, on a cluster without accounting
(``sacct`` unavailable, as on a single-node test cluster), is waited for
forever. This launcher submits the same array, then polls each job: a result
file means it ran; a job gone from ``squeue`` without one is recorded in its
job directory as ``failure.json`` (the Slurm job id, its log files) and
returned as failed, so the multirun exits non-zero after every job has ended,
naming the lost jobs, and relaunching the grid reruns exactly those.
Requeued jobs (preemption, ``scontrol requeue``, submitit's checkpointing on
a time limit) stay in ``squeue`` and are waited for.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _Slurm

log = logging.getLogger(__name__)

POLL_S = 2.0


def _in_queue(job_ids: list[str]) -> set[str]:
    """The jobs of ``job_ids`` that ``squeue`` still lists (array tasks as ``<job>_<task>``)."""
    out = subprocess.run(
        ["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(job_ids)],  # -r: one line per task
        capture_output=True,
        text=True,
    )
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        raise RuntimeError(f"squeue failed: {out.stderr.strip()}")
    listed = set(out.stdout.split())
    return {j for j in job_ids if j in listed or j.split("_")[0] in listed}


class SlurmLauncher(_Slurm):
    """``hydra/launcher=slurm``: submitit's Slurm launcher that never loses a job silently."""

    def launch(self, job_overrides, initial_job_idx):  # Hydra's Launcher.launch
        import submitit

        executor = self._executor(submitit)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        args = []
        for i, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(overrides)))
            args.append(
                (list(overrides), "hydra.sweep.dir", initial_job_idx + i, f"job_id_for_{i}",
                 self._singleton_state())
            )  # fmt: skip
        jobs = executor.map_array(self, *zip(*args, strict=True))
        return self._wait(jobs, [list(o) for o in job_overrides])

    def _executor(self, submitit: Any) -> Any:
        """submitit's executor with this launcher's parameters (as the parent builds it)."""
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
        from omegaconf import OmegaConf

        params = dict(self.params)
        folder = params.pop("submitit_folder")
        max_timeout = params.pop("max_num_timeout", 0)
        executor = submitit.AutoExecutor(
            folder=folder, cluster=self._EXECUTOR, slurm_max_num_timeout=max_timeout
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in shared else f"{self._EXECUTOR}_{k}": v for k, v in params.items()}
        )
        return executor

    @staticmethod
    def _singleton_state() -> Any:
        from hydra.core.singleton import Singleton

        return Singleton.get_state()

    def _job_dir(self, overrides: list[str]) -> Path:
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)

    def _wait(self, jobs: list[Any], overrides: list[list[str]]) -> list[JobReturn]:
        """Each job's return: its result, or a failure once it left the queue without one."""
        returns: dict[int, JobReturn] = {}
        missing: dict[int, int] = {}
        while len(returns) < len(jobs):
            pending = [i for i in range(len(jobs)) if i not in returns]
            queued = _in_queue([jobs[i].job_id for i in pending])
            for i in pending:
                job = jobs[i]
                if job.paths.result_pickle.exists():
                    returns[i] = job.results()[0]
                elif job.job_id not in queued:
                    missing[i] = missing.get(i, 0) + 1
                    if missing[i] >= 2:  # twice: the result file may be landing
                        returns[i] = self._lost(job, overrides[i])
                else:
                    missing.pop(i, None)
            if len(returns) < len(jobs):
                time.sleep(POLL_S)
        return [returns[i] for i in range(len(jobs))]

    def _lost(self, job: Any, overrides: list[str]) -> JobReturn:
        """Records a job Slurm ended without a result; returns it as failed."""
        from research.io import FAILURE, is_complete, write_failure

        job_dir = self._job_dir(overrides)
        error = RuntimeError(
            f"Slurm job {job.job_id} ended without a result (cancelled, killed at its time "
            f"limit (hydra.launcher.max_num_timeout={self.params.get('max_num_timeout', 0)} "
            f"requeues), out of memory or a node failure); its logs: {job.paths.stdout} "
            f"and {job.paths.stderr}"
        )
        if not is_complete(job_dir) and not (job_dir / FAILURE).exists():
            try:
                write_failure(job_dir, error, overrides=overrides)
            except OSError as err:
                log.error("could not record the failure in %s: %s", job_dir, err)
        log.error("%s: %s", job_dir, error)
        ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
        ret.return_value = error  # a failed JobReturn raises it when read
        return ret
