"""Job claims: concurrent launches compute no job twice; interrupts leave nothing half-done."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from research import claims
from research.io import is_complete

from helpers import grid_args, research_train, train_command


def _write_claim(job_dir, **fields):
    job_dir.mkdir(parents=True, exist_ok=True)
    data = {"host": socket.gethostname(), "pid": os.getpid(), "token": "t", **fields}
    (job_dir / claims.CLAIM).write_text(json.dumps(data))


def test_a_claim_is_exclusive_while_held_and_released_after(tmp_path):
    with claims.claim(tmp_path) as mine:
        assert mine is not None
        held = json.loads((tmp_path / claims.CLAIM).read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        with claims.claim(tmp_path) as second:  # this process is alive: not stale
            assert second is None
        assert (tmp_path / claims.CLAIM).exists()  # the loser did not remove it
    assert not (tmp_path / claims.CLAIM).exists()


def test_the_claim_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    _write_claim(tmp_path, pid=int(dead.stdout))
    with claims.claim(tmp_path) as mine:
        assert mine is not None and mine["pid"] == os.getpid()


def test_a_reused_pid_is_not_the_old_holder(tmp_path):
    _write_claim(tmp_path, process_start="1")  # this pid, another start time
    with claims.claim(tmp_path) as mine:
        assert mine is not None


def test_a_requeued_slurm_job_takes_over_its_own_claim(tmp_path, monkeypatch):
    _write_claim(tmp_path, host="node-a", pid=12345, slurm_job="77_3")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    with claims.claim(tmp_path) as mine:
        assert mine is not None and mine["slurm_job"] == "77_3"
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")  # another task of the array: respected
    _write_claim(tmp_path, host="node-a", pid=12345, slurm_job="77_3")
    with claims.claim(tmp_path) as mine:
        assert mine is None


def test_another_hosts_claim_is_stale_only_without_a_heartbeat(tmp_path):
    _write_claim(tmp_path, host="elsewhere", pid=1)
    with claims.claim(tmp_path) as mine:
        assert mine is None
    old = time.time() - claims.STALE_AFTER_S - 5
    os.utime(tmp_path / claims.CLAIM, (old, old))
    with claims.claim(tmp_path) as mine:
        assert mine is not None


def _grid(root, *extra, jobs=8):
    """The arguments of a grid ``grid`` of ``jobs`` jobs (one L1 strength each) under ``root``."""
    strengths = "regularizer.l1=" + ",".join(f"0.{i}" for i in range(1, jobs + 1))
    return grid_args(root, "num_seeds=2", "regularizer=l1", strengths, *extra)


@pytest.mark.slow
def test_two_launches_of_one_grid_compute_each_job_once(tmp_path):
    args = train_command(*_grid(tmp_path, "epochs=20"))
    procs = [
        subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    jobs = [m.parent for m in (tmp_path / "multirun" / "grid").glob("*/metrics.json")]
    assert len(jobs) == 8 and all(is_complete(j) for j in jobs)
    assert not list((tmp_path / "multirun").rglob(claims.CLAIM))
    ran = [json.loads((j / "metrics.json").read_text())["ran_by"]["pid"] for j in jobs]
    trained = sum(out.count("total_error mean") for out in outs)
    assert trained == 8, "each job trained exactly once over both launches"
    assert set(ran) <= {p.pid for p in procs}
    skipped = sum(out.count("skipped") for out in outs)
    assert skipped == 8  # the other launch said why it skipped each job
    assert any("claimed by another launch" in out for out in outs) or len(set(ran)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_grid_leaves_nothing_half_done_and_resumes(tmp_path, signum):
    args = train_command(*_grid(tmp_path, "epochs=1500", jobs=3))
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    sweep = tmp_path / "multirun" / "grid"
    deadline = time.time() + 240
    while time.time() < deadline and not list(sweep.glob(f"*/{claims.CLAIM}")):
        time.sleep(0.05)
    running = next(sweep.glob(f"*/{claims.CLAIM}")).parent
    time.sleep(1.0)  # inside training
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    assert "Run the same command again" in err and signal.Signals(signum).name in err
    assert not (running / "metrics.json").exists() and not is_complete(running)
    assert not (running / claims.CLAIM).exists()
    assert not list(sweep.rglob("*.tmp"))
    # Relaunching the same grid completes every job.
    out = research_train(*_grid(tmp_path, "epochs=1500", jobs=3), cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert is_complete(running)
    jobs = [j for j in sweep.iterdir() if j.is_dir() and "=" in j.name]
    assert len(jobs) == 3 and all(is_complete(j) for j in jobs)
