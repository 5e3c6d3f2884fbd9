"""Experiment trackers: real grids logged to MLflow and TensorBoard and read back through
their own readers, resumes without duplicate runs, a tracker that is down, the table
research-aggregate prints off a terminal."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from research import schemas, tracking
from research.cli import aggregate as aggregate_cli
from research.cli.configs import GROUP_SCHEMAS
from research.cli.train import run_job
from research.io import is_complete, load_job, write_job
from research.results import Results

from helpers import TINY, compose, grid_args, research_train

GRID = ["regularizer=l1,l2", "method=subgradient,proximal"]


def _train(root, *extra, timeout=420):
    """The 2 x 2 grid ``g`` under ``root``."""
    return research_train(*grid_args(root, *TINY, *GRID, *extra, name="g"), cwd=root,
                          timeout=timeout)  # fmt: skip


def _fake_job(job_dir, *, strengths=(0.1,), epochs=3, overrides=(), shift=0.0):
    """A complete job's files without training: 2 seeds, seed 1 diverged at strength 0."""
    rng = np.random.default_rng(0)
    shape = (2, len(strengths))
    diverged = np.zeros(shape, bool)
    diverged[1, 0] = True
    metrics = {
        "total_error": rng.random(shape) + shift,
        "train_loss": rng.random(shape),
        "exact_zeros/layers/0/kernel": rng.integers(0, 6, shape),
        "diverged": diverged,
        "diverged_step": np.where(diverged, 7, -1),
    }
    results = Results(
        metrics=metrics,
        history={"epoch_loss": rng.random((*shape, epochs))},
        params={"layers/0/kernel": rng.normal(size=(*shape, 2, 3)), "layers/0/bias": np.zeros(3)},
        strengths={"l1": np.asarray(strengths)},
        config={"regularizer": {"name": "l1", "l1": list(strengths)}, "seed": 0, "epochs": epochs},
        info={},
    )
    write_job(job_dir, results, overrides=list(overrides), elapsed_s=0.0)


def _fake_sweep(root):
    sweep = root / "multirun" / "g"
    sweep.mkdir(parents=True)
    task = ["name=g", "regularizer=l1", "method=subgradient,proximal"]
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": task}}}))
    for method in ("subgradient", "proximal"):
        overrides = ["name=g", "regularizer=l1", f"method={method}"]
        _fake_job(sweep / f"method={method},regularizer=l1", overrides=overrides)
    return sweep


def _mlflow_runs(uri, experiment="g"):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("research.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("research.role") == "job"]
    return client, parents, children


# --------------------------------------------------------------------------- configs
def test_logger_group_composes_and_stays_out_of_job_directory_names(tmp_path):
    assert set(GROUP_SCHEMAS["logger"]) == {"none", *tracking.TRACKERS}
    assert set(GROUP_SCHEMAS) == {*schemas.GROUP_SCHEMAS, "logger"}  # the library's groups, too
    assert "logger" not in schemas.GROUP_SCHEMAS
    assert compose().logger.name == "none"
    cfg = compose([f"output_root={tmp_path}", "name=grid", "logger=mlflow"], hydra=True)
    tracker = tracking.from_config(dict(cfg.logger))
    assert tracker.uri == tracking.local_store_uri(tmp_path)  # sqlite:///<output_root>/mlflow/...
    assert tracker.experiment_name == "grid"
    cfg = compose([f"output_root={tmp_path}", "name=grid", "logger=tensorboard"], hydra=True)
    assert cfg.logger.log_dir == f"{tmp_path}/tensorboard/grid"
    # Choosing or configuring a tracker keeps the job's directory (and so its resume).
    excluded = set(cfg.hydra.job.config.override_dirname.exclude_keys)
    for schema in GROUP_SCHEMAS["logger"].values():
        keys = {f"logger.{f}" for f in schema.__dataclass_fields__} - {"logger.name"}
        assert {"logger", *keys} <= excluded


def test_an_unknown_logger_key_is_rejected_naming_it():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="logger.tracking_url"):
        compose(["logger=mlflow", "logger.tracking_url=http://x"])
    with pytest.raises(ValueError, match=r"logger: unknown tracker 'wandb'"):
        tracking.from_config({"name": "wandb"})


def test_a_missing_extra_is_named(tmp_path, monkeypatch):
    _fake_job(tmp_path / "job")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[tracking\]'"):
        tracking.MlflowTracker(f"sqlite:///{tmp_path}/m.db").log_job(tmp_path / "job")
    with pytest.raises(ImportError, match=r"logger=tensorboard needs tensorboardX.*\[tracking\]"):
        tracking.TensorBoardTracker(str(tmp_path / "tb")).log_job(tmp_path / "job")


# --------------------------------------------------------------------------- names
def test_job_record_names_seeds_strengths_and_epochs(tmp_path):
    _fake_job(tmp_path / "one")
    one = tracking.job_record(tmp_path / "one")
    job = load_job(tmp_path / "one")
    assert one.final["total_error/seed_1"] == pytest.approx(job.metrics["total_error"][1, 0])
    # The mean leaves the diverged seed out.
    assert one.final["total_error/mean"] == pytest.approx(job.metrics["total_error"][0, 0])
    assert one.final["diverged/fraction"] == 0.5
    np.testing.assert_allclose(one.curves["epoch_loss/mean"], job.history["epoch_loss"][0, 0])
    np.testing.assert_allclose(one.curves["epoch_loss/seed_1"], job.history["epoch_loss"][1, 0])
    assert one.epochs == 3 and one.params["regularizer.l1"] == "[0.1]"
    assert set(one.kernels) == {"kernels/layers/0/kernel/seed_0", "kernels/layers/0/kernel/seed_1"}

    _fake_job(tmp_path / "two", strengths=(0.1, 0.3))
    two = tracking.job_record(tmp_path / "two")
    job = load_job(tmp_path / "two")
    assert two.final["total_error/l1_0.3/seed_1"] == pytest.approx(job.metrics["total_error"][1, 1])
    assert two.final["diverged/l1_0.3/fraction"] == 0.0
    assert "epoch_loss/l1_0.1/mean" in two.curves and "total_error/mean" not in two.final


# --------------------------------------------------------------------------- mlflow
@pytest.mark.slow
def test_aggregate_to_mlflow_logs_a_sweep_once_and_replaces_a_stale_run(tmp_path):
    sweep = _fake_sweep(tmp_path)
    status = aggregate_cli.to_mlflow(sweep)
    assert status == 0
    uri = tracking.local_store_uri(tmp_path)
    _, parents, children = _mlflow_runs(uri)
    assert len(parents) == 1 and len(children) == 2
    assert {r.data.tags["swept.method"] for r in children} == {"subgradient", "proximal"}
    assert "swept.regularizer" not in children[0].data.tags  # not swept: one value
    assert parents[0].data.params["method"] == "subgradient,proximal"
    # Again: nothing new. A job that ran again (new metrics.json) replaces its run.
    assert aggregate_cli.to_mlflow(sweep) == 0
    _fake_job(sweep / "method=proximal,regularizer=l1", shift=10.0,
              overrides=["name=g", "regularizer=l1", "method=proximal"])  # fmt: skip
    done = tracking.log_sweep(tracking.MlflowTracker(uri, "g"), sweep)
    assert len(done["logged"]) == 1 and len(done["up_to_date"]) == 1
    _, parents, children = _mlflow_runs(uri)
    assert len(parents) == 1 and len(children) == 2
    (new,) = [r for r in children if r.data.tags["swept.method"] == "proximal"]
    assert new.data.metrics["total_error/seed_0"] > 10.0


@pytest.mark.slow
def test_mlflow_grid_read_back_resumed_without_duplicates(tmp_path, capsys):
    # Two worker processes (joblib) share the local store and find one parent run.
    out = _train(tmp_path, "logger=mlflow", "hydra/launcher=parallel")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "WARNING" not in out.stdout + out.stderr
    sweep = tmp_path / "multirun" / "g"
    uri = tracking.local_store_uri(tmp_path)
    client, parents, children = _mlflow_runs(uri)
    assert len(parents) == 1 and len(children) == 4
    (parent,) = parents
    assert parent.info.run_name == "g"
    assert parent.data.params["regularizer"] == "l1,l2"
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        job_dir = Path(run.data.tags["research.job_dir"])
        assert job_dir.parent == sweep.resolve() and run.info.run_name == job_dir.name
        job = load_job(job_dir)
        tags = run.data.tags
        assert tags["research.swept"] == "method,regularizer"
        assert run.data.params["regularizer.name"] == tags["swept.regularizer"]
        assert run.data.params["method"] == tags["swept.method"]
        assert run.data.params["optimizer.learning_rate"] == "0.01"
        assert run.data.metrics["total_error/seed_1"] == pytest.approx(
            job.metrics["total_error"][1, 0]
        )
        mean = job.info["summary"]["total_error"]["mean"][0]
        assert run.data.metrics["total_error/mean"] == pytest.approx(mean)
        history = client.get_metric_history(run.info.run_id, "epoch_loss/seed_0")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2]
        np.testing.assert_allclose(
            [m.value for m in sorted(history, key=lambda m: m.step)],
            job.history["epoch_loss"][0, 0],
            rtol=1e-6,
        )
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
            "metrics.json",
            "params.npz",
        }
    one = children[0]
    local = client.download_artifacts(one.info.run_id, "params.npz", str(tmp_path))
    job = load_job(Path(one.data.tags["research.job_dir"]))
    with np.load(local) as npz:
        np.testing.assert_array_equal(npz["layers/0/kernel"], job.params["layers/0/kernel"])

    # The relaunch skips every job and logs nothing new; so does --to mlflow.
    ids = {r.info.run_id for r in children}
    out = _train(tmp_path, "logger=mlflow")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (out.stdout + out.stderr).count("complete already, skipped") == 4
    assert aggregate_cli.to_mlflow(sweep) == 0
    assert "0 job(s) logged, 4 up to date" in capsys.readouterr().out
    client, parents, children = _mlflow_runs(uri)
    assert len(parents) == 1 and {r.info.run_id for r in children} == ids


@pytest.mark.slow
@pytest.mark.parametrize("store", ["http://127.0.0.1:9", "sqlite:////proc/not-writable/mlflow.db"])
def test_a_tracker_that_is_down_leaves_the_job_complete_with_a_warning(tmp_path, caplog, store):
    cfg = compose(["logger=mlflow", f"logger.tracking_uri={store}", *TINY])
    # A tracker of its own: the job process skips a tracker that just failed for a while.
    cfg.logger.experiment_name = tmp_path.name
    cfg.compilation_cache_dir = str(tmp_path / "cache")
    start = time.perf_counter()
    with caplog.at_level("WARNING", logger="research.train"):
        run_job(cfg, tmp_path / "job", [], multirun=False)
    overhead = time.perf_counter() - start - load_job(tmp_path / "job").info["elapsed_s"]
    assert is_complete(tmp_path / "job")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("logger=mlflow could not log")
    assert "research-aggregate --to mlflow" in warning
    assert overhead < 20.0  # importing MLflow and one failed request, not MLflow's retries


# --------------------------------------------------------------------------- tensorboard
@pytest.mark.slow
def test_tensorboard_grid_read_back_through_the_event_reader(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = _train(tmp_path, "logger=tensorboard")
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = tmp_path / "multirun" / "g"
    runs = sorted(p for p in (tmp_path / "tensorboard" / "g").iterdir() if p.is_dir())
    assert [p.name for p in runs] == sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 4
    for run in runs:
        events = EventAccumulator(str(run), size_guidance={"scalars": 0, "histograms": 0})
        events.Reload()
        job = load_job(sweep / run.name)
        for s in range(2):
            curve = events.Scalars(f"epoch_loss/seed_{s}")
            assert [e.step for e in curve] == [1, 2]
            loss = job.history["epoch_loss"][s, 0]
            np.testing.assert_allclose([e.value for e in curve], loss, rtol=1e-6)
        mean = events.Scalars("epoch_loss/mean")[-1].value
        np.testing.assert_allclose(mean, job.history["epoch_loss"][:, 0, -1].mean(), rtol=1e-6)
        (final,) = events.Scalars("total_error/mean")
        assert final.step == 2
        assert final.value == pytest.approx(job.info["summary"]["total_error"]["mean"][0], rel=1e-6)
        (hist,) = events.Histograms("kernels/layers/1/kernel/seed_0")
        assert hist.histogram_value.num == job.params["layers/1/kernel"][0, 0].size
        kernel = job.params["layers/1/kernel"][0, 0]
        assert hist.histogram_value.sum == pytest.approx(kernel.sum(), abs=1e-4)
    # A relaunch skips the jobs and leaves their event files alone.
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "tensorboard").rglob("events.*")}
    assert _train(tmp_path, "logger=tensorboard").returncode == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "tensorboard").rglob("events.*")} == stamps


# --------------------------------------------------------------------------- the table
def test_aggregate_off_a_terminal_prints_full_values_and_chosen_metrics(tmp_path, capsys):
    sweep = _fake_sweep(tmp_path)
    aggregate_cli.main([str(sweep)])
    text = capsys.readouterr().out
    assert "| method " in text and "subgradient" in text and "…" not in text
    mean = json.loads((sweep / "method=proximal,regularizer=l1" / "metrics.json").read_text())
    mean = mean["summary"]["total_error"]["mean"][0]
    assert f"{mean:.4g}" in text
    assert max(len(line) for line in text.splitlines()) <= 400  # full width, not cut at 80

    aggregate_cli.main([str(sweep), "--metrics", "train_loss,exact_zeros"])
    header = next(line for line in capsys.readouterr().out.splitlines() if "method" in line)
    assert "train_loss" in header and "exact_zeros" in header and "total_error" not in header
    with pytest.raises(SystemExit) as info:
        aggregate_cli.main([str(sweep), "--metrics", "accuracy"])
    assert info.value.code == 2
    assert "--metrics: unknown metric(s) ['accuracy']" in capsys.readouterr().err
