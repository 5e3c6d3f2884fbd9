"""The package as users install it: a wheel, in a fresh virtual environment, run from a
directory that is not the repository.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation``) from a copy of
the source tree and installed with ``--no-deps --no-index`` into a new virtual
environment; the dependencies (JAX, Hydra, ...) come from the test environment through a
path file, so nothing is downloaded. Its ``research`` must be the wheel's, not this
checkout's editable install.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import research

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

_SKIP = (".git", ".venv", "outputs", "build", "*.egg-info", "__pycache__", ".*_cache", "dist")


def _run(args, *, cwd, env=None, timeout=600):
    out = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"{args}\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with the wheel installed: its bin/ and an environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*_SKIP))
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src],
         cwd=tmp)  # fmt: skip
    (wheel,) = (tmp / "dist").glob("*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    _run([*pip, "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], cwd=tmp)
    # The dependencies: the test environment's site-packages, after the venv's own (a path
    # line adds the directory but runs none of its .pth files, so not its editable install).
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    work = tmp / "elsewhere"
    work.mkdir()
    return {"wheel": wheel, "bin": env_dir / "bin", "purelib": Path(purelib), "env": env,
            "cwd": work}  # fmt: skip


def test_the_wheel_holds_the_configs_the_launcher_and_the_type_marker(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert installed["wheel"].name == f"regulax-{research.__version__}-py3-none-any.whl"
    shipped = {n.split("research/configs/", 1)[1] for n in names if "research/configs/" in n}
    in_tree = {str(p.relative_to(ROOT / "research/configs")) for p in
               (ROOT / "research/configs").rglob("*") if p.suffix in (".yaml", ".py")
               and p.parent.name != "local"}  # fmt: skip
    assert shipped == in_tree and "train.yaml" in shipped and "sweep/lasso_path.yaml" in shipped
    assert {
        "research/py.typed",
        "research/figures/research.mplstyle",
        "hydra_plugins/research_launcher/launcher.py",
    } <= names


def test_the_installed_package_is_the_wheels_with_the_same_version(installed):
    out = _run(
        [installed["bin"] / "python", "-c",
         "import research, importlib.metadata as m; "
         "print(research.__file__); print(research.__version__, m.version('regulax'))"],
        cwd=installed["cwd"], env=installed["env"],
    ).stdout.split()  # fmt: skip
    assert Path(out[0]).is_relative_to(installed["purelib"]), out[0]
    assert out[1] == out[2] == research.__version__


def test_research_train_runs_one_job_and_a_grid_from_another_directory(installed):
    bin_, env, cwd = installed["bin"], installed["env"], installed["cwd"]
    common = ["epochs=2", "num_seeds=2", "compilation_cache_dir=null"]
    _run([bin_ / "research-train", *common], cwd=cwd, env=env)
    (job,) = (cwd / "outputs" / "runs" / "default").iterdir()
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["status"] == "complete"
    assert metrics["num_seeds"] == 2 and len(metrics["per_seed"]["total_error"]) == 2
    assert metrics["config"]["epochs"] == 2
    _run([bin_ / "research-train", "-m", "regularizer=l1,l2", "name=grid", *common],
         cwd=cwd, env=env)  # fmt: skip
    grid = cwd / "outputs" / "multirun" / "grid"
    jobs = sorted(p.name for p in grid.iterdir() if (p / "metrics.json").exists())
    assert jobs == ["epochs=2,num_seeds=2,regularizer=l1", "epochs=2,num_seeds=2,regularizer=l2"]
    _run([bin_ / "research-aggregate", "--quiet", grid], cwd=cwd, env=env)
    rows = (grid / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2  # header + 2 jobs x 2 seeds
    out = _run([bin_ / "research-figures", "--help"], cwd=cwd, env=env).stdout
    assert "--run" in out
    # The figure pipeline reads the sweeps it needs and names the first one missing.
    missing = subprocess.run([bin_ / "research-figures"], cwd=cwd, env=env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert missing.returncode == 2, missing.stderr[-2000:]
    assert "no complete jobs under outputs/multirun/line_outliers" in missing.stderr
