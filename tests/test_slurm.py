"""Grids on a real single-node Slurm cluster (``scripts/slurm_local.sh``), and its faults.

The session fixture starts the cluster (installing Debian's packages when
they are missing and the tests run as root) and stops it afterwards; where it
cannot be installed the tests are skipped with the script's reason.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from research import claims
from research.io import FAILURE, is_complete

from helpers import grid_args, research_train, train_command

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
# `make test` runs them in a serial pytest run of their own: one cluster, one user.
pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_env():
    """``os.environ`` plus ``SLURM_CONF`` of the running local cluster."""
    state = ROOT / "outputs" / "slurm"
    was_up = subprocess.run(["bash", SCRIPT, "status"], capture_output=True).returncode == 0
    start = subprocess.run(["bash", SCRIPT, "start"], capture_output=True, text=True, timeout=900)
    if start.returncode == 3:
        pytest.skip(f"no local Slurm cluster: {start.stdout}{start.stderr}".strip())
    assert start.returncode == 0, start.stdout + start.stderr
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    yield env
    if not was_up:
        subprocess.run(["bash", SCRIPT, "stop"], capture_output=True, timeout=300)


def _grid(root, *extra, timeout_min=10, parallel=2):
    """The arguments of a grid ``grid`` under ``root`` on the local cluster's debug partition."""
    return grid_args(
        root, "hydra/launcher=slurm", "hydra.launcher.partition=debug",
        "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2", f"hydra.launcher.timeout_min={timeout_min}",
        f"hydra.launcher.array_parallelism={parallel}", "num_seeds=2", *extra,
    )  # fmt: skip


def _jobs(root):
    sweep = root / "multirun" / "grid"
    return sorted(p for p in sweep.iterdir() if p.is_dir() and "=" in p.name)


def _squeue(env, fmt="%i %T"):
    out = subprocess.run(["squeue", "-h", "-o", fmt], capture_output=True, text=True, env=env)
    return out.stdout.split("\n") if out.stdout.strip() else []


def _wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_two_by_two_grid_completes_and_aggregates(slurm_env, tmp_path):
    args = _grid(tmp_path, "regularizer=l1,l2", "method=subgradient,proximal", "epochs=5")
    out = research_train(*args, cwd=tmp_path, env=slurm_env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = _jobs(tmp_path)
    assert len(jobs) == 4 and all(is_complete(j) for j in jobs)
    ran_on = {json.loads((j / "metrics.json").read_text())["ran_by"]["pid"] for j in jobs}
    assert os.getpid() not in ran_on  # each job ran in a Slurm job's process
    agg = subprocess.run(
        [sys.executable, "-m", "research.aggregate", str(tmp_path / "multirun" / "grid")],
        capture_output=True, text=True, env=slurm_env,
    )  # fmt: skip
    assert agg.returncode == 0, agg.stderr[-2000:]
    import pandas as pd

    table = pd.read_csv(tmp_path / "multirun" / "grid" / "summary.csv")
    assert table.job.nunique() == 4 and set(table.status) == {"complete"}


def test_scancel_then_relaunch_keeps_finished_jobs_and_completes_the_rest(slurm_env, tmp_path):
    args = _grid(tmp_path, "regularizer=l1", "regularizer.l1=0.1,0.2,0.3,0.4", "epochs=300",
                 parallel=1)  # fmt: skip
    proc = subprocess.Popen(train_command(*args), cwd=tmp_path, env=slurm_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    sweep = tmp_path / "multirun" / "grid"
    _wait_until(lambda: len(list(sweep.glob("*/metrics.json"))) >= 1, 600, "a finished job")
    arrays = {line.split()[0] for line in _squeue(slurm_env, "%F") if line}
    subprocess.run(["scancel", *arrays], env=slurm_env, check=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0  # the cancelled jobs are reported, not lost
    assert "ended without a result" in err
    finished = [j for j in _jobs(tmp_path) if is_complete(j)]
    lost = [p for p in sweep.iterdir() if p.is_dir() and "=" in p.name and not is_complete(p)]
    assert 1 <= len(finished) < 4 and lost
    assert all((j / FAILURE).exists() for j in lost)
    stamps = {f: f.stat().st_mtime_ns for j in finished for f in j.glob("*.npz")}
    stamps |= {j / "metrics.json": (j / "metrics.json").stat().st_mtime_ns for j in finished}

    out = research_train(*args, cwd=tmp_path, env=slurm_env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(_jobs(tmp_path)) == 4 and all(is_complete(j) for j in _jobs(tmp_path))
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())
    assert not any((j / FAILURE).exists() for j in _jobs(tmp_path))


def test_a_requeued_running_job_reruns_and_completes_cleanly(slurm_env, tmp_path):
    # submitit bypasses the requeue's SIGTERM, so Slurm kills the job KillWait (5 s) later:
    # the run (about 20 s of training here) must outlast that, or its first run completes it.
    args = _grid(tmp_path, "regularizer=l1", "regularizer.l1=0.1", "epochs=80000")
    proc = subprocess.Popen(train_command(*args), cwd=tmp_path, env=slurm_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    sweep = tmp_path / "multirun" / "grid"
    _wait_until(lambda: list(sweep.glob(f"*/{claims.CLAIM}")), 300, "the job to start")
    first = claims.holder(next(sweep.glob(f"*/{claims.CLAIM}")).parent)
    time.sleep(2.0)
    running = [line.split()[0] for line in _squeue(slurm_env) if line.endswith("RUNNING")]
    assert len(running) == 1
    subprocess.run(["scontrol", "requeue", running[0]], env=slurm_env, check=True)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    (job,) = _jobs(tmp_path)
    assert is_complete(job) and not (job / FAILURE).exists()
    names = sorted(p.name for p in job.iterdir() if p.is_file())
    assert names == ["history.npz", "metrics.json", "params.npz", "train.log"], names
    ran_by = json.loads((job / "metrics.json").read_text())["ran_by"]
    assert ran_by["pid"] != first["pid"]  # the requeued run finished it, not the first one
    assert first["slurm_job"] == running[0] or first["slurm_job"].startswith(running[0])


def _signal_when_running(env, sweep, pids_seen):
    """Waits for the job's claim by a new process, then sends it Slurm's time-limit signal
    (USR2, what ``--signal=USR2@<signal_delay_s>`` delivers before the limit)."""

    def new_claim():
        holders = [claims.holder(p.parent) for p in sweep.glob(f"*/{claims.CLAIM}")]
        return [h for h in holders if h and h.get("pid") not in pids_seen]

    _wait_until(new_claim, 300, "the job to (re)start")
    holder = new_claim()[0]
    pids_seen.add(holder["pid"])
    time.sleep(1.0)
    subprocess.run(["scancel", "--signal=USR2", holder["slurm_job"]], env=env, check=True)


def test_a_job_past_its_time_limit_is_requeued_then_recorded_as_failed(slurm_env, tmp_path):
    args = _grid(tmp_path, "regularizer=l1", "regularizer.l1=0.1", "epochs=200000",
                 "hydra.launcher.max_num_timeout=1")  # fmt: skip
    proc = subprocess.Popen(train_command(*args), cwd=tmp_path, env=slurm_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    sweep = tmp_path / "multirun" / "grid"
    pids = set()
    _signal_when_running(slurm_env, sweep, pids)  # timed out: checkpointed and requeued
    _signal_when_running(slurm_env, sweep, pids)  # timed out again: too many times
    _, err = proc.communicate(timeout=600)
    (job,) = _jobs(tmp_path)
    assert not is_complete(job) and not (job / claims.CLAIM).exists()
    failure = json.loads((job / FAILURE).read_text())
    assert "timed-out too many times" in failure["error"], failure["error"]
    logs = "".join(p.read_text() for p in sweep.rglob("*_log.err"))
    assert logs.count("this job is timed-out") == 2, err[-2000:]
    assert len(pids) == 2  # it ran twice: the requeue
