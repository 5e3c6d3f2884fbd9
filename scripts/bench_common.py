"""The measuring machinery that scripts/benchmark.py and scripts/bench_glm.py share.

``measure`` runs a worker (a function of the registry ``WORKERS``, which
scripts/benchmark.py fills with its own workers and bench_glm's) in a fresh process:
``python scripts/benchmark.py --worker NAME KWARGS``, whose last line of output is the
worker's result as JSON. Under ``--quick`` benchmark.py sets ``IN_PROCESS`` here, and
``measure`` then runs the workers it can in its own process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).with_name("benchmark.py")  # the script ``measure`` runs workers in

WORKERS: dict = {}
"""Every worker by name, for ``--worker`` and ``measure``: filled by scripts/benchmark.py."""


def _peak_mb() -> float:
    """This process's peak resident memory, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


ONE_DEVICE = {"RESEARCH_CPU_DEVICES": "1"}  # the engine's seeds on one JAX CPU device


IN_PROCESS = False
"""Set by ``--quick``: workers run in this process where that measures the same thing.
``measure`` reads it here: set it as ``bench_common.IN_PROCESS`` (benchmark.py's main)."""
_FRESH_PROCESS = {"w_sweep", "w_first_result"}  # they count compilations / time a cold start


def measure(worker: str, *, env: dict | None = None, one_core: bool = False, **kwargs) -> dict:
    """Runs one worker in a fresh process; returns its result and peak memory.

    ``env``: extra environment (``ONE_DEVICE`` keeps the engine's seeds on one device);
    ``one_core``: the process may run on one core only (``taskset -c 0``). A smoke run
    (``--quick``) runs a worker in this process instead when ``env`` is this process's
    already and the worker neither counts compilations nor times a cold start, so that
    it imports JAX and TensorFlow once (its numbers then check the code paths, not speed:
    compiled code is warm and ``peak_mb`` is the whole process's).
    """
    same_env = all(os.environ.get(k) == v for k, v in (env or {}).items())
    if IN_PROCESS and same_env and not one_core and worker not in _FRESH_PROCESS:
        result = WORKERS[worker](**json.loads(json.dumps(kwargs)))
        return json.loads(json.dumps({**result, "peak_mb": _peak_mb()}))
    command = [sys.executable, str(BENCHMARK), "--worker", worker, json.dumps(kwargs)]
    out = subprocess.run(
        (["taskset", "-c", "0"] if one_core else []) + command,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{worker}({kwargs}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_baseline(checkout: Path, **kwargs) -> dict:
    """The engine of another checkout of this project (``--baseline``), in a fresh process."""
    out = subprocess.run(
        [sys.executable, str(checkout / "scripts" / "benchmark.py"), "--worker", "w_engine",
         json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(checkout)},
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"baseline w_engine({kwargs}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spread(a: list[float], b: list[float]) -> list[float]:
    """The lowest and highest ratio ``a[i] / b[i]`` over the repeats (measured side by side)."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return [min(ratios), max(ratios)]
