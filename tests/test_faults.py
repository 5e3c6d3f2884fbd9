"""Bad input and faults: strict ``+key`` overrides, non-finite data, disk errors while writing."""

import errno
import functools
import json

import numpy as np
import pytest

from research import data, io
from research.cli.configs import LaunchError, check_overrides
from research.cli.train import run_job
from research.engine import Experiment

from helpers import TINY, compose, research_train


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("+num_seed=3", "'num_seed' is not a config key"),
        ("++epoch=3", "'epoch' is not a config key"),
        ("+model.width=[1,4,1]", "'model.width' is not a key of model"),
        ("+foo.bar=1", "'foo' is not a config key or group"),
    ],
)
def test_appended_unknown_keys_are_rejected_naming_them(override, named):
    with pytest.raises(LaunchError, match=named):
        check_overrides([override, "epochs=2"])
    assert issubclass(LaunchError, ValueError)


@pytest.mark.parametrize(
    "override", ["+sweep=gd_1d", "++epochs=3", "+regularizer.l1=0.1", "+hydra.job.name=x"]
)
def test_appended_known_keys_and_groups_pass(override):
    check_overrides([override])


def test_command_line_exits_2_on_an_appended_unknown_key(tmp_path):
    root = tmp_path / "out"
    out = research_train("+num_seed=3", *TINY, f"output_root={root}", cwd=tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()  # one line, no traceback
    assert line.startswith("research-train: error: +num_seed=3: 'num_seed' is not a config key")
    assert not root.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_fails_naming_the_data_set_before_compiling(monkeypatch, bad):
    clean = data.LOADERS["line_outliers"]

    @functools.wraps(clean)  # the same signature: the same config keys
    def dirty(**kwargs):
        dataset = clean(**kwargs)
        x = dataset.x_train.copy()
        x[3, 0] = bad
        return type(dataset)(**{**dataset.__dict__, "x_train": x})

    monkeypatch.setitem(data.LOADERS, "line_outliers", dirty)
    with pytest.raises(ValueError, match=r"data \(line_outliers\): x_train has 1 NaN or infinite"):
        Experiment({"epochs": 1, "num_seeds": 1})


def _failing_savez(name):
    real = np.savez_compressed

    def savez(file, **arrays):
        if "snapshot_steps" in arrays or name == "params.npz":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(file, **arrays)

    return savez


@pytest.mark.parametrize("name", ["params.npz", "history.npz"])
def test_a_disk_error_while_writing_leaves_no_complete_job(tmp_path, monkeypatch, name):
    cfg = compose(["experiment=line_outliers", *TINY])
    cfg.compilation_cache_dir = None
    job = tmp_path / "job"
    monkeypatch.setattr(io.np, "savez_compressed", _failing_savez(name))
    run_job(cfg, job, ["epochs=2"], multirun=True)  # a multirun goes on after a failure
    assert not (job / "metrics.json").exists() and not io.is_complete(job)
    assert not list(job.glob(".*.tmp"))  # no temp file left behind
    failure = json.loads((job / "failure.json").read_text())
    assert "No space left on device" in failure["error"] and str(job) in failure["error"]
    # A single run raises the error, naming the file.
    with pytest.raises(io.JobWriteError, match=r"could not write .*\.npz: No space left"):
        run_job(cfg, tmp_path / "single", [], multirun=False)
    # With the disk back, the relaunch completes the job.
    monkeypatch.undo()
    run_job(cfg, job, ["epochs=2"], multirun=True)
    assert io.is_complete(job) and not (job / "failure.json").exists()


def test_a_failure_that_cannot_be_recorded_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    cfg = compose(["experiment=line_outliers", *TINY, "regularizer=l1", "regularizer.l1=-1"])
    cfg.compilation_cache_dir = None

    def no_disk(job_dir, error, overrides=()):
        raise io.JobWriteError(errno.EACCES, f"could not write {job_dir}/failure.json")

    monkeypatch.setattr(io, "write_failure", no_disk)
    run_job(cfg, tmp_path / "job", [], multirun=True)  # the grid goes on
    assert "could not record the failure" in caplog.text and "failure.json" in caplog.text
    assert "regularizer.l1" in caplog.text  # the job's own error is still logged
    assert not (tmp_path / "job" / "metrics.json").exists()
