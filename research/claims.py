"""A job directory's claim: one launch runs a job, a concurrent launch skips it.

Two launches of the same grid (two terminals, a Slurm array and a local run,
a requeued Slurm job) may reach the same job directory. Before training, a
job takes ``claim.json`` there, created atomically (``O_CREAT | O_EXCL``),
holding the host, pid, process start time, Slurm job id (if any) and a random
token. Another launch that finds a live claim skips the job and says who
holds it. A claim is taken over when its holder is gone:

* same host: the pid is not running, or it is a new process with that pid
  (another start time);
* the same Slurm job (a requeued or preempted job running again, on any node);
* another host: its heartbeat (the file's modification time, touched every
  ``HEARTBEAT_S`` seconds while the job runs) is older than ``STALE_AFTER_S``.

A takeover replaces the file under a short-lived ``claim.json.lock`` (also
``O_EXCL``), rechecking under the lock, so two launches never both take over.
The claim is removed when the job ends (complete, failed or interrupted).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CLAIM", "HEARTBEAT_S", "STALE_AFTER_S", "claim", "describe", "holder", "is_stale"]

CLAIM = "claim.json"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0
_LOCK_STALE_S = 60.0


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _slurm_job() -> str | None:
    """This process's Slurm job (``<array job>_<task>`` for an array task), else None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def _identity() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "slurm_job": _slurm_job(),
        "claimed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "token": secrets.token_hex(8),
    }


def holder(job_dir: Path) -> dict[str, Any] | None:
    """The claim on ``job_dir`` (with its ``age_s`` since the last heartbeat), or None."""
    path = Path(job_dir) / CLAIM
    try:
        data = json.loads(path.read_text())
        data["age_s"] = time.time() - path.stat().st_mtime
        return data
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # being written: treat as a fresh claim of unknown holder
        return {"host": "?", "pid": -1, "age_s": 0.0, "token": None}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(other: dict[str, Any], me: dict[str, Any] | None = None) -> bool:
    """Whether the holder of claim ``other`` is gone (see the module docstring)."""
    me = me or _identity()
    if other.get("slurm_job") and other.get("slurm_job") == me.get("slurm_job"):
        return True
    if other.get("host") == me["host"] and isinstance(other.get("pid"), int) and other["pid"] > 0:
        if not _alive(other["pid"]):
            return True
        start = other.get("process_start")
        return start is not None and _process_start(other["pid"]) not in (None, start)
    return other.get("age_s", 0.0) > STALE_AFTER_S


def describe(other: dict[str, Any]) -> str:
    """``host:pid (Slurm job J) since T`` for a log line."""
    slurm = f" (Slurm job {other['slurm_job']})" if other.get("slurm_job") else ""
    return f"{other.get('host')}:{other.get('pid')}{slurm} since {other.get('claimed_at', '?')}"


def _create(path: Path, data: dict[str, Any]) -> bool:
    """Creates ``path`` with ``data`` unless it exists (atomic)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def _take_over(path: Path, me: dict[str, Any]) -> bool:
    """Replaces a stale claim under a lock, rechecking it there; True if ours now."""
    lock = path.with_name(CLAIM + ".lock")
    with contextlib.suppress(FileNotFoundError):
        if time.time() - lock.stat().st_mtime > _LOCK_STALE_S:  # a takeover that died
            lock.unlink()
    if not _create(lock, me):
        return False
    try:
        other = holder(path.parent)
        if other is not None and not is_stale(other, me):
            return False
        tmp = path.with_name(f".{CLAIM}.{me['token']}.tmp")
        tmp.write_text(json.dumps(me))
        os.replace(tmp, path)
        return True
    finally:
        lock.unlink(missing_ok=True)


def _heartbeat(path: Path, token: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("token") == token:
                os.utime(path)


@contextlib.contextmanager
def claim(job_dir: Path) -> Iterator[dict[str, Any] | None]:
    """Claims ``job_dir`` for the block; yields None when another live launch holds it.

    Examples:
      A launch trains the job only where ``claim`` yields its claim; a second claim of
      the same directory while the first is held (a concurrent launch) yields None:

      >>> import tempfile
      >>> from pathlib import Path
      >>> from research.claims import CLAIM, claim
      >>> job_dir = Path(tempfile.mkdtemp()) / "job"
      >>> with claim(job_dir) as mine:
      ...     with claim(job_dir) as other:
      ...         print(mine is not None, other is None, (job_dir / CLAIM).is_file())
      True True True
      >>> (job_dir / CLAIM).exists()  # removed when the block ends
      False
    """
    path = Path(job_dir) / CLAIM
    path.parent.mkdir(parents=True, exist_ok=True)
    me = _identity()
    ours = _create(path, me)
    if not ours:
        other = holder(path.parent)
        ours = other is None and _create(path, me)
        if not ours and other is not None and is_stale(other, me):
            ours = _take_over(path, me)
    if not ours:
        yield None
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, me["token"], stop), daemon=True)
    beat.start()
    try:
        yield me
    finally:
        stop.set()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("token") == me["token"]:
                path.unlink()
