"""The benchmark script runs (CI-sized), so that it cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


@pytest.mark.slow
@pytest.mark.glmnet
def test_benchmark_quick_runs_every_case(tmp_path, glmnet_r):
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
    (lasso,) = results["lasso"]["rows"]
    for system in ("research", "sklearn", "celer"):
        assert 0 < lasso[system]["seconds"] and lasso[system]["max_relative_gap"] <= 1e-6
    assert lasso["research/sklearn speed"] > 0 and lasso["research/celer speed"] > 0
    (cores,) = results["cores"]["rows"]
    assert cores["all cores"] > 0 and cores["one core"] > 0 and cores["all cores/one core"] > 0
    assert "4. Lasso path" in run.stdout and "1b. Cores" in run.stdout
    assert results["compile"]["cold_seconds"] > 0 and results["overhead"]["parameters"] > 0
    assert "1. Line with outliers" in run.stdout
    glm = results["glm"]
    # The glm case leaves glmnet out only with a reason; here it must have run (glmnet_r).
    assert glm["glmnet_missing"] is None, glm["glmnet_missing"]
    assert glm["versions"].startswith("R ") and "glmnet" in glm["versions"]
    assert [r["family"] for r in glm["rows"]] == ["binomial", "multinomial", "poisson"]
    for row in glm["rows"]:
        systems = {"binomial": ("research", "glmnet", "sklearn", "celer"),
                   "multinomial": ("research", "glmnet", "sklearn"),
                   "poisson": ("research", "glmnet")}[row["family"]]  # fmt: skip
        for system in systems:
            entry = row[system]
            assert entry["passes_check"] and entry["max_suboptimality"] <= 1e-6, (row, system)
            assert entry["finished"] == row["strengths"] and entry["seconds"] > 0
        # The same algorithm as glmnet: the same number of passes, give or take one.
        assert abs(row["research"]["passes"] - row["glmnet"]["passes"]) <= 1
        assert row["research/glmnet speed"] > 0
    cv = glm["cv"]
    assert cv["same_strengths"] and cv["same_alpha_min"] and cv["max_cv_mean_difference"] < 1e-8
    assert cv["research"]["seconds"] > 0 and cv["research/glmnet speed"] > 0
    assert "6. GLM paths" in run.stdout and "6b. glm_cv vs cv.glmnet" in run.stdout
