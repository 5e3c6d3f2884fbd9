"""The benchmark script runs (CI-sized), so that it cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


@pytest.mark.slow
def test_benchmark_quick_runs_every_case(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    rows = results["line_outliers"]["rows"]
    assert rows and all(r["engine"] > 0 and r["bare"] > 0 and r["keras"] > 0 for r in rows)
    # Vectorized seeds beat Keras's one-seed-at-a-time fit even at CI size.
    assert all(r["engine/keras"] > 10 for r in rows)
    assert [r["variant"] for r in rows] == ["l2", "l1_prox"]
    assert rows[1]["bare_recorded"] > 0 and rows[0]["bare_recorded"] is None
    sweep = results["sweep"]
    assert sweep["program_compiles_vmapped"] == 1
    assert sweep["program_compiles_vmapped_new_values"] == 1
    assert sweep["program_compiles_separate_runs"] == 1
    assert results["lasso"]["engine_gap"] <= 1e-6 and results["lasso"]["sklearn_gap"] <= 1e-6
    assert results["compile"]["cold_seconds"] > 0 and results["overhead"]["parameters"] > 0
    assert "1. Line with outliers" in run.stdout
