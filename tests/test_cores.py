"""Every core for one job: the device count rule, and seeds split over CPU devices.

The multi-device tests start a fresh JAX process (the device count is fixed
when JAX starts); ``tests/conftest.py`` pins this process to one device.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from research.cli.configs import config_dir
from research.engine import devices

from helpers import research_train

ROOT = Path(__file__).resolve().parents[1]
MANY = 2 * devices.MIN_RUNS_PER_DEVICE + 1  # splits over 2 devices, padded to an even count


def _python(script: str, **env: str) -> subprocess.CompletedProcess:
    """Runs ``script`` in a fresh process with warnings as errors and our CPU settings unset."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RESEARCH_CPU_DEVICES", "JAX_NUM_CPU_DEVICES", "XLA_FLAGS")
    }
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**clean, **env},
    )


def test_device_count_is_cores_over_jobs_side_by_side():
    rule = lambda *a, **kw: devices.cpu_device_count(*a, **kw, environ={})  # noqa: E731
    assert rule(8) == 8
    assert rule(8, jobs=2) == 4
    assert rule(8, jobs=3) == 2  # 2 cores left idle rather than oversubscribed
    assert rule(2, jobs=4) == 1
    assert rule(8, jobs=-1) == 1  # joblib's n_jobs=-1: one job per core
    assert rule(8, jobs=-3) == 1  # cores - 2 = 6 jobs
    assert rule(16, jobs=-13) == 4  # 16 + 1 - 13 = 4 jobs
    assert rule(8, cpus_per_job=3) == 3  # submitit's cpus_per_task
    assert rule(2, cpus_per_job=4) == 2  # never more than the cores there are


def test_environment_variable_overrides_the_rule():
    assert devices.cpu_device_count(8, jobs=4, environ={"RESEARCH_CPU_DEVICES": "3"}) == 3
    assert devices.cpu_device_count(8, jobs=4, environ={"RESEARCH_CPU_DEVICES": "auto"}) == 2
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError, match="RESEARCH_CPU_DEVICES: expected a count >= 1"):
            devices.cpu_device_count(8, environ={"RESEARCH_CPU_DEVICES": bad})


def test_usable_cores_follow_the_affinity_mask_and_slurm():
    assert devices.usable_cores({}) == len(os.sched_getaffinity(0))
    assert devices.usable_cores({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert devices.usable_cores({"SLURM_CPUS_PER_TASK": "4096"}) == len(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_a_process_pinned_to_one_core_asks_for_one_device():
    script = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # as taskset -c 0 does
import jax
from research.engine import devices
assert devices.configure() == 1
assert devices.configure(jobs=1) is None  # the first call wins
print(devices.usable_cores(), len(jax.devices()))
"""
    out = _python(script)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["1", "1"]


def test_the_launchers_share_of_the_cores():
    parallel = OmegaConf.load(config_dir() / "hydra/launcher/parallel.yaml")
    local = OmegaConf.load(config_dir() / "hydra/launcher/local.yaml")
    assert devices.launcher_share(parallel) == (parallel.n_jobs, None)
    assert devices.launcher_share(local) == (1, local.cpus_per_task)
    assert devices.launcher_share({"_target_": "hydra._internal.BasicLauncher"}) == (1, None)
    assert devices.launcher_share(None) == (1, None)  # a single run
    assert devices.padded_seeds(301, 2) == 302 and devices.padded_seeds(300, 4) == 300


@pytest.mark.slow
def test_seeds_split_over_two_devices_give_the_same_results():
    script = f"""
import jax, numpy as np
from research.engine import Experiment
cfg = {{"regularizer": {{"name": "l1", "l1": 0.3}}, "method": "proximal", "epochs": 1,
       "num_seeds": {MANY}, "progress": False, "snapshot_seeds": 3, "model": {{"name": "linear"}}}}
split, one = Experiment(cfg), Experiment({{**cfg, "shard_seeds": False}})
assert len(jax.devices()) == 2, jax.devices()  # the first Experiment asked for them
assert len(split.devices) == 2 and len(one.devices) == 1
assert split.spec.num_seeds == {MANY + 1} and one.spec.num_seeds == {MANY}
kernel = split.outputs()["params"]["layers"][0]["kernel"]
assert len(kernel.sharding.device_set) == 2, kernel.sharding
a, b = split.run(), one.run()
for group in ("params", "metrics", "history"):
    x, y = getattr(a, group), getattr(b, group)
    assert x.keys() == y.keys(), group
    for k in x:
        assert x[k].shape == y[k].shape, (k, x[k].shape, y[k].shape)
        np.testing.assert_allclose(x[k], y[k], rtol=1e-6, atol=1e-6, err_msg=k)
for k in a.params:  # the steps are the same arithmetic on either device
    np.testing.assert_array_equal(a.params[k], b.params[k])
assert a.params["layers/0/kernel"].shape[0] == {MANY}
small = Experiment({{**cfg, "num_seeds": 3}})
assert len(small.devices) == 1  # too small to gain from a split
print("ok")
"""
    out = _python(script, RESEARCH_CPU_DEVICES="2")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.slow
def test_jax_started_by_the_user_is_used_as_it_is():
    script = f"""
import jax, jax.numpy as jnp
jnp.zeros(3).block_until_ready()  # the user's own JAX code starts the backends first
from research.engine import Experiment
e = Experiment({{"epochs": 1, "num_seeds": {MANY}, "progress": False,
                "model": {{"name": "linear"}}}})
assert len(jax.devices()) == 1 and len(e.devices) == 1
assert e.run().params["layers/0/kernel"].shape[0] == {MANY}
print("ok")
"""
    out = _python(script, RESEARCH_CPU_DEVICES="2")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
    assert out.stderr == ""  # no warning, no log line


@pytest.mark.slow
def test_a_device_count_chosen_by_the_user_wins():
    script = """
import jax
from research.engine import devices
assert devices.configure() is None
print(len(jax.devices()))
"""
    flags = _python(
        script, RESEARCH_CPU_DEVICES="2", XLA_FLAGS="--xla_force_host_platform_device_count=3"
    )
    assert flags.returncode == 0, flags.stderr[-3000:]
    assert flags.stdout.split() == ["3"]
    config = _python(
        "import jax\njax.config.update('jax_num_cpu_devices', 3)\n" + script,
        RESEARCH_CPU_DEVICES="2",
    )
    assert config.returncode == 0, config.stderr[-3000:]
    assert config.stdout.split() == ["3"]


def _train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``research-train`` in a fresh process with our CPU settings unset."""
    env = {k: v for k, v in os.environ.items() if k not in ("RESEARCH_CPU_DEVICES", "XLA_FLAGS")}
    return research_train(
        *args, "epochs=1", "num_seeds=2", "model=linear", f"output_root={cwd}",
        "compilation_cache_dir=null", "name=cores", cwd=cwd, timeout=600, env=env,
    )  # fmt: skip


@pytest.mark.slow
def test_joblib_jobs_side_by_side_share_the_cores(tmp_path):
    """A single run has a device per core; two joblib jobs side by side, cores // 2 each."""
    cores = devices.usable_cores()
    single = _train(cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    (job,) = (tmp_path / "runs" / "cores").iterdir()
    assert json.loads((job / "metrics.json").read_text())["ran_by"]["devices"] == cores
    grid = _train("-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "regularizer=l1,l2",
                  cwd=tmp_path)  # fmt: skip
    assert grid.returncode == 0, grid.stderr[-3000:]
    jobs = sorted((tmp_path / "multirun" / "cores").glob("*regularizer=*"))
    assert len(jobs) == 2
    for job in jobs:
        ran_by = json.loads((job / "metrics.json").read_text())["ran_by"]
        assert ran_by["devices"] == max(1, cores // 2), ran_by
