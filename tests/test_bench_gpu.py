"""scripts/bench_gpu.py runs its GPU code paths on CPU (--cpu) and says so where there is no GPU."""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import research

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_gpu.py"


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


@pytest.mark.slow
def test_cpu_smoke_run_writes_every_row(tmp_path):
    out = tmp_path / "bench_gpu.json"
    run = _run("--cpu", "--json", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    sizes = _bench_gpu().Sizes(cpu=True)
    rows = results["line_outliers"]["rows"]
    assert [(r["variant"], r["seeds"]) for r in rows] == [
        (v, s) for v in ("l2", "l1_prox") for s in sizes.seeds
    ]
    for r in rows:
        assert r["engine_status"] == r["bare_status"] == "ok", r
        assert r["engine"] > 0 and r["bare"] > 0
        assert math.isfinite(r["engine/bare"]) and r["engine/bare"] > 0
        assert r["engine/bare"] == pytest.approx(r["engine"] / r["bare"])
        # memory_stats() is None on CPU: the process's peak RSS, labelled so; a JAX
        # process holds well over 50 MiB.
        assert r["engine_memory"] == r["bare_memory"] == "host peak RSS"
        assert r["engine_peak_bytes"] > 50 * 2**20 and r["bare_peak_bytes"] > 50 * 2**20
    assert results["not_measured_for_time"] == []
    assert "1. Line with outliers" in run.stdout and "2. Lasso path" in run.stdout
    [lasso] = results["lasso"]["rows"]
    assert (lasso["n"], lasso["p"]) == sizes.lasso_shapes[0]
    sk = lasso["sklearn"]
    assert sk["status"] == "ok" and sk["seconds"] > 0
    # scikit-learn stops once its duality gap is within tol * ||y||^2 / n; the gap computed
    # here from its coefficients agrees with the one it reports.
    assert sk["max_gap/tolerance"] <= 1.0
    assert sk["max_gap"] == pytest.approx(sk["reported_max_dual_gap"], rel=1e-6)
    if not hasattr(research, "lasso_path"):
        pytest.skip("research.lasso_path does not exist yet: its row says so")
    res = lasso["research"]
    assert res["status"] == "ok" and res["seconds"] > 0
    assert res["max_gap/tolerance"] <= 1.0  # converged by scikit-learn's own rule
    assert lasso["alphas_match"]
    assert lasso["objective_diff_within_gaps"]
    assert lasso["max_relative_objective_diff"] < 1e-3
    assert lasso["research/sklearn speed"] > 0


def test_without_a_gpu_it_says_so_and_exits_0(tmp_path):
    out = tmp_path / "bench_gpu.json"
    run = _run("--json", str(out), JAX_PLATFORMS="cpu")  # hides any GPU
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(
        r"no CUDA GPU visible to JAX \(devices: \['cpu:0'.*\]\); nothing to measure", run.stdout
    )
    assert not out.exists()


def test_the_time_budget_stops_and_skips_rows(tmp_path):
    out = tmp_path / "bench_gpu.json"
    run = _run("--cpu", "--budget", "0", "--json", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    statuses = [
        r[f"{s}_status"] for r in results["line_outliers"]["rows"] for s in ("engine", "bare")
    ]
    assert statuses and all(s == "skipped: time budget" for s in statuses)
    assert len(results["not_measured_for_time"]) == len(statuses) + 2  # and the two Lasso runs
    assert "not measured for time" in run.stdout


def test_out_of_memory_becomes_a_row_and_stops_larger_counts():
    bench = _bench_gpu()

    def oom():
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8.0GiB.")

    assert bench.guarded(oom)["status"] == "out of memory"
    with pytest.raises(ValueError, match="not memory"):
        bench.guarded(lambda: (_ for _ in ()).throw(ValueError("not memory")))
    done = {("w_engine", "l2", 1000): {"status": "out of memory"}}
    row = bench.run_line(("line", "w_engine", "l2", 10000), done, {}, bench.Budget(100), False)
    assert row["status"] == "out of memory (not run: 1,000 seeds did not fit)"


def test_predicted_time_scales_the_runs_not_the_start():
    bench = _bench_gpu()
    # 10 s in all, of which a warm-up + max(7 runs, 1 s) of 0.5 s runs = 4 s.
    done = {("w_bare", "l2", 1000): {"status": "ok", "seconds": 0.5, "wall": 10.0}}
    assert bench.predict_line(done, "w_bare", "l2", 10000) == pytest.approx(6.0 + 5.0 + 35.0)
    assert bench.predict_line(done, "w_engine", "l2", 10000) is None
