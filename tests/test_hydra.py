"""The Hydra command line: configs, single jobs, multiruns on three launchers, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from research.cli.configs import GROUP_SCHEMAS, config_dir
from research.cli.train import run_job
from research.io import is_complete, load_job

from helpers import TINY, compose, grid_args, research_train, train_command

CONFIGS = config_dir()
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
SWEEPS = sorted(p.stem for p in (CONFIGS / "sweep").glob("*.yaml"))
LAUNCHERS = sorted(p.stem for p in (CONFIGS / "hydra" / "launcher").glob("*.yaml"))


def test_every_config_file_composes():
    files = {p.relative_to(CONFIGS).with_suffix("") for p in CONFIGS.rglob("*.yaml")}
    composed = set()
    for group, options in GROUP_SCHEMAS.items():
        for path in sorted((CONFIGS / group).glob("*.yaml")):
            cfg = compose([f"{group}={path.stem}"])
            assert cfg[group]["name"] in options  # each file names a registered option
            assert cfg[group]["name"] == path.stem or path.stem == "mlp_adjusted"
            composed.add(Path(group) / path.stem)
    for name in EXPERIMENTS:
        cfg = compose([f"experiment={name}"])
        assert cfg.name == name
        composed.add(Path("experiment") / name)
    for name in SWEEPS:
        cfg = compose([f"+sweep={name}"], hydra=True)
        assert cfg.hydra.sweeper.params, name  # a sweep is a grid
        composed.add(Path("sweep") / name)
    for launcher in LAUNCHERS:
        cfg = compose([f"hydra/launcher={launcher}"], hydra=True)
        assert "_target_" in cfg.hydra.launcher
        composed.add(Path("hydra/launcher") / launcher)
    composed.add(Path("train"))
    assert files == composed  # no config file goes untested
    assert {"parallel", "local", "slurm"} <= set(LAUNCHERS)


def test_launchers_extend_the_plugins():
    targets = {
        "parallel": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
        "local": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
        # submitit's Slurm launcher, waiting on squeue and recording lost jobs:
        "slurm": "hydra_plugins.research_launcher.launcher.SlurmLauncher",
    }
    for name, target in targets.items():
        cfg = compose([f"hydra/launcher={name}"], hydra=True)
        assert cfg.hydra.launcher._target_ == target
    from hydra_plugins.research_launcher.launcher import SlurmLauncher

    parents = {f"{c.__module__}.{c.__qualname__}" for c in SlurmLauncher.__mro__}
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in parents
    slurm = compose(["hydra/launcher=slurm"], hydra=True).hydra.launcher
    assert "export XLA_PYTHON_CLIENT_PREALLOCATE=false" in slurm.setup


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("regularizer.l3=1", "regularizer.l3"),  # unknown key
        ("epochs=ten", "epochs"),  # wrong type
        ("data.n_samples=many", "data.n_samples"),
        ("optimizer.learning_rate=fast", "optimizer.learning_rate"),
        ("num_seed=3", "num_seed"),
    ],
)
def test_schema_rejects_unknown_keys_and_wrong_types(override, key):
    with pytest.raises(ConfigCompositionException) as info:
        compose(["regularizer=l1", override])
    assert key in str(info.value) + str(info.value.__cause__)


def test_negative_strength_fails_before_training_naming_the_key(tmp_path):
    cfg = compose(["regularizer=elastic_net", "regularizer.l2=-0.5", *TINY])
    with pytest.raises(ValueError, match=r"regularizer.l2: expected a finite number >= 0"):
        run_job(cfg, tmp_path, [], multirun=False)
    failure = json.loads((tmp_path / "failure.json").read_text())
    assert "regularizer.l2" in failure["error"]
    assert not is_complete(tmp_path)


def test_single_job_through_the_cli_function(tmp_path):
    cfg = compose(["experiment=line_outliers", "regularizer.l1=[0.1,0.3]", *TINY])
    cfg.compilation_cache_dir = str(tmp_path / "cache")
    run_job(cfg, tmp_path / "job", ["regularizer.l1=[0.1,0.3]"], multirun=False)
    job = load_job(tmp_path / "job")
    assert job.info["status"] == "complete" and job.num_seeds == 2
    assert {k: v.tolist() for k, v in job.strengths.items()} == {"l1": [0.1, 0.3]}
    assert job.metrics["total_error"].shape == (2, 2)
    assert job.params["layers/1/kernel"].shape == (2, 2, 10, 10)
    assert job.history["epoch_loss"].shape == (2, 2, 2)
    assert job.config["regularizer"]["l1"] == [0.1, 0.3]
    mean = np.mean(job.metrics["total_error"], axis=0)
    np.testing.assert_allclose(job.info["summary"]["total_error"]["mean"], mean, rtol=1e-6)
    # A second call finds the job complete and leaves its files alone.
    stamp = (tmp_path / "job" / "params.npz").stat().st_mtime_ns
    run_job(cfg, tmp_path / "job", [], multirun=False)
    assert (tmp_path / "job" / "params.npz").stat().st_mtime_ns == stamp


def test_gd_1d_experiment_reaches_zero_in_ten_steps(tmp_path):
    cfg = compose(["experiment=gd_1d", "compilation_cache_dir=null"])
    run_job(cfg, tmp_path, [], multirun=False)
    path = load_job(tmp_path).history["snapshots/layers/0/kernel"][0, 0, :, 0, 0]
    np.testing.assert_array_equal(path[:11], 5.0 - 0.5 * np.arange(11))
    np.testing.assert_array_equal(path[10:], 0.0)


# --------------------------------------------------------------------------- subprocesses
@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "parallel", "local"])
def test_multirun_on_each_launcher(tmp_path, launcher):
    # The basic launcher runs a 2 x 2 grid; the others (one worker process per job) two jobs.
    extra = [] if launcher == "basic" else [f"hydra/launcher={launcher}"]
    methods = "method=subgradient,proximal" if launcher == "basic" else "method=proximal"
    args = grid_args(tmp_path, *TINY, "regularizer=l1,l2", methods, *extra)
    out = research_train(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = sorted(
        p for p in (tmp_path / "multirun" / "grid").iterdir() if p.is_dir() and "=" in p.name
    )
    assert len(jobs) == (4 if launcher == "basic" else 2)
    assert all(is_complete(j) for j in jobs)
    assert any((tmp_path / "cache").iterdir())  # the persistent compilation cache is used
    # Job directories are named by their overrides.
    assert "epochs=2,method=proximal,num_seeds=2,regularizer=l1" in {j.name for j in jobs}

    agg = subprocess.run(
        [sys.executable, "-m", "research.aggregate", str(tmp_path / "multirun" / "grid")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert agg.returncode == 0, agg.stderr
    table = pd.read_csv(tmp_path / "multirun" / "grid" / "summary.csv")
    assert len(table) == len(jobs) * 2  # jobs x seeds x strengths
    assert {"regularizer", "method", "seed", "total_error", "strength.l1", "strength.l2"} <= set(
        table
    )
    one = table[(table.regularizer == "l2") & (table.method == "proximal")].sort_values("seed")
    job = load_job(
        tmp_path / "multirun" / "grid" / "epochs=2,method=proximal,num_seeds=2,regularizer=l2"
    )
    np.testing.assert_allclose(one.total_error, job.metrics["total_error"][:, 0])


@pytest.mark.slow
def test_kill_a_multirun_and_resume_it(tmp_path):
    args = grid_args(
        tmp_path,
        *TINY,
        "regularizer=l1",
        "regularizer.l1=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8",
        "epochs=100",
    )
    sweep = tmp_path / "multirun" / "grid"
    proc = subprocess.Popen(
        train_command(*args),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    done = []
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in sweep.glob("*/metrics.json")] if sweep.exists() else []
        if len(done) >= 2:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.parent for p in sweep.glob("*/metrics.json")}
    assert 2 <= len(finished) < 8, "the kill should land mid-grid"
    # Hydra itself rewrites .hydra/ and appends to train.log; the results must stay.
    outputs = ("params.npz", "history.npz", "metrics.json")
    stamps = {job / f: (job / f).stat().st_mtime_ns for job in finished for f in outputs}

    out = research_train(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = [p for p in sweep.iterdir() if p.is_dir() and "=" in p.name]
    assert len(jobs) == 8 and all(is_complete(j) for j in jobs)
    for path, stamp in stamps.items():
        assert path.stat().st_mtime_ns == stamp, f"{path} was rewritten"
    assert out.stdout.count("skipped") + out.stderr.count("skipped") == len(finished)


@pytest.mark.slow
def test_a_failing_job_is_recorded_and_the_others_finish(tmp_path):
    # A bad value fails the launch before any job (test_cli_errors.py); a job that fails
    # while running (here: its params.npz cannot be written) leaves failure.json and the
    # grid goes on.
    args = grid_args(tmp_path, *TINY, "regularizer=l1", "regularizer.l1=0.1,0.2")
    sweep = tmp_path / "multirun" / "grid"
    good = sweep / "epochs=2,num_seeds=2,regularizer.l1=0.1,regularizer=l1"
    bad = sweep / "epochs=2,num_seeds=2,regularizer.l1=0.2,regularizer=l1"
    (bad / "params.npz").mkdir(parents=True)  # a directory where the job writes its file
    out = research_train(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert is_complete(good) and not is_complete(bad)
    error = json.loads((bad / "failure.json").read_text())["error"]
    assert f"could not write {bad / 'params.npz'}" in error
    from research.tables import aggregate

    table = aggregate(sweep)
    assert set(table.status) == {"complete", "failed"}
    assert len(table[table.status == "complete"]) == 2


@pytest.mark.slow
def test_seed_axis_sharded_over_two_cpu_devices(tmp_path):
    script = """
import numpy as np, jax
from research.engine import Experiment
assert len(jax.devices()) == 2, jax.devices()
cfg = {"regularizer": {"name": "l1", "l1": [0.1, 0.3]}, "method": "proximal",
       "epochs": 2, "num_seeds": 4}
sharded = Experiment({**cfg, "shard_seeds": True})
out = sharded.outputs()
kernel = out["params"]["layers"][1]["kernel"]
assert len(kernel.sharding.device_set) == 2, kernel.sharding
a, b = sharded.run(), Experiment(cfg).run()
for k in a.params:
    np.testing.assert_array_equal(a.params[k], b.params[k])
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.slow
def test_aggregate_of_a_missing_dir_is_a_clear_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "research.aggregate", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "is not a directory" in out.stderr


def test_compose_gives_the_engine_everything_it_needs():
    cfg = compose(["experiment=lasso_path"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert len(plain["regularizer"]["l1"]) == 20
    assert plain["method"] == {"name": "coordinate_descent"}  # the exact path
    assert plain["batch_size"] == 160  # full batch on the 160 training points (method=proximal)


def test_a_removed_experiment_name_fails_naming_it(tmp_path):
    root = tmp_path / "out"
    out = research_train(
        "experiment=seed001_gd_1d", f"output_root={root}", "compilation_cache_dir=null",
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert line.startswith("research-train: error:") and "experiment/seed001_gd_1d" in line
    assert not root.exists() and not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_a_sweep_file_is_the_grid_and_the_command_line_narrows_it(tmp_path):
    out = research_train(
        "-m", "+sweep=gd_1d", f"output_root={tmp_path}", "method=proximal", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = tmp_path / "multirun" / "gd_1d"  # the sweep file names the multirun
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and "=" in p.name)
    assert jobs == [
        "method=proximal,regularizer.l1=1.0,regularizer.l2=0.5,regularizer=l1",
        "method=proximal,regularizer.l1=1.0,regularizer.l2=0.5,regularizer=l2",
    ]
    l1 = load_job(sweep / jobs[0])
    assert l1.config["model"]["kernel_init"] == 5.0  # experiment=gd_1d, from the sweep file
    path = l1.history["snapshots/layers/0/kernel"][0, 0, :, 0, 0]
    np.testing.assert_array_equal(path[10:], 0.0)
