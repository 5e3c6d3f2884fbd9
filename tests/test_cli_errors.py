"""research-train checks every job before Hydra runs one: a bad value or name is one line on
stderr, exit status 2, and nothing written; ``--config-dir`` adds configs of one's own."""

import os

import pytest

from research.io import is_complete, load_job

from helpers import research_train

ERROR = "research-train: error: "


def _fails(out, root):
    """The one stderr line of a launch that exited 2 having created nothing."""
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr[-3000:]
    assert lines[0].startswith(ERROR), lines[0]
    assert not root.exists()  # no output_root, no run or multirun directory
    return lines[0]


def test_a_bad_value_is_one_line_and_exit_2(tmp_path):
    root = tmp_path / "out"
    out = research_train("epochs=-1", f"output_root={root}", cwd=tmp_path)
    assert _fails(out, root) == f"{ERROR}epochs: expected an integer >= 1, got -1"
    assert out.stdout == "" and not any(tmp_path.iterdir())


def test_an_unknown_group_option_names_the_group_and_its_options(tmp_path):
    root = tmp_path / "out"
    out = research_train("regularizer=l3", f"output_root={root}", cwd=tmp_path)
    line = _fails(out, root)
    assert "Could not find 'regularizer/l3'" in line
    assert line.endswith(
        "Available options in 'regularizer': elastic_net group_lasso l0 l1 l2 log_sum lq mcp "
        "none orthogonal scad sparse_group_lasso"
    )
    assert "schema_" not in line and "Config search path" not in line


@pytest.mark.slow
def test_a_grid_with_one_bad_job_fails_at_once_naming_its_overrides(tmp_path):
    root = tmp_path / "out"
    args = ["-m", f"output_root={root}", "regularizer=l1", "regularizer.l1=0.1,-0.2,0.3"]
    line = _fails(research_train(*args, cwd=tmp_path), root)
    assert line == (
        f"{ERROR}job output_root={root} regularizer=l1 regularizer.l1=-0.2: "
        "regularizer.l1: expected a finite number >= 0, got -0.2"
    )
    # Two groups swept: the bad job is named by all of its overrides.
    args = ["-m", "regularizer=l1,l2", "regularizer.l2=0.1,-0.2", f"output_root={root}"]
    line = _fails(research_train(*args, cwd=tmp_path), root)
    assert line == (
        f"{ERROR}job regularizer=l2 regularizer.l2=-0.2 output_root={root}: "
        "regularizer.l2: expected a finite number >= 0, got -0.2"
    )
    assert not any(tmp_path.iterdir())  # no multirun directory anywhere


def test_hydra_full_error_shows_the_traceback(tmp_path):
    root = tmp_path / "out"
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    out = research_train("epochs=-1", f"output_root={root}", cwd=tmp_path, env=env)
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "LaunchError" in out.stderr
    assert "epochs: expected an integer >= 1, got -1" in out.stderr
    assert ERROR not in out.stderr  # the traceback instead of the one line
    assert not root.exists()


@pytest.mark.slow
def test_an_experiment_of_ones_own_in_config_dir(tmp_path):
    mine = tmp_path / "conf"
    (mine / "experiment").mkdir(parents=True)
    (mine / "experiment" / "mine.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n"
        "  - override /model: linear\n"
        "name: mine\n"
        "epochs: 1\n"
        "num_seeds: 1\n"
        "seed: 7\n"
    )
    root = tmp_path / "out"
    tiny = ["epochs=1", "num_seeds=1", "compilation_cache_dir=null"]
    out = research_train(
        "--config-dir", mine, "experiment=mine", f"output_root={root}", *tiny, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (job_dir,) = (root / "runs" / "mine").iterdir()  # the experiment's name
    assert is_complete(job_dir)
    job = load_job(job_dir)
    assert job.config["seed"] == 7 and job.config["model"]["name"] == "linear"
    assert job.num_seeds == 1 and job.history["epoch_loss"].shape[-1] == 1
    # Without --config-dir the name is unknown: one line naming it.
    out = research_train("experiment=mine", f"output_root={root}", *tiny, cwd=tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert line.startswith(ERROR) and "experiment/mine" in line


# ----------------------------------------------------------------- the check, in this process
def _check(*args):
    from research.cli.configs import check_launch, register_configs

    register_configs()
    return check_launch(list(args))


def test_a_grid_job_that_does_not_compose_is_named():
    from research.cli.configs import LaunchError

    with pytest.raises(LaunchError, match=r"^job model=linear model.widths=\[4\]: .*'widths'"):
        _check("-m", "model=mlp,linear", "model.widths=[4]")


def test_every_job_of_a_sweep_file_and_the_command_line_is_checked():
    assert _check("-m", "+sweep=line_outliers") == 6  # 3 regularizers x 2 methods
    assert _check("-m", "+sweep=line_outliers", "method=proximal") == 3
    assert _check("epochs=3") == 1
    assert _check("--cfg", "job", "epochs=-1") == 0  # a query: left to Hydra


def test_values_hydra_sets_when_the_job_runs_are_not_rejected():
    assert _check("-m", "seed=${hydra:job.num}", "regularizer=l1,l2") == 2
    assert _check("output_root=${hydra:runtime.cwd}/out") == 1


def test_a_group_of_ones_own_in_config_dir_is_a_group(tmp_path):
    from research.cli.configs import LaunchError, check_overrides

    (tmp_path / "mygroup").mkdir()
    (tmp_path / "mygroup" / "x.yaml").write_text("# @package _global_\nepochs: 1\n")
    check_overrides(["--config-dir", str(tmp_path), "+mygroup=x"])
    check_overrides([f"--config-dir={tmp_path}", "+mygroup=x"])
    with pytest.raises(LaunchError, match="'mygroup' is not a config key"):
        check_overrides(["+mygroup=x"])
    assert _check("--config-dir", str(tmp_path), "+mygroup=x") == 1
