"""Shared test setup: quiet TensorFlow, one JAX CPU device per worker, a float64 switch,
real glmnet for the glmnet tests."""

import os
import subprocess
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bitwise-stable TF CPU kernels
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# pytest-xdist runs one worker per core: one JAX CPU device per worker (and per subprocess
# a test starts), so workers do not oversubscribe the cores and results do not depend on
# the machine. tests/test_cores.py starts its multi-device processes without it.
os.environ.setdefault("RESEARCH_CPU_DEVICES", "1")

import jax
import pytest


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """Runs a test in float32 and in float64 (JAX x64 on for the latter only)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param == "float64")
    yield request.param
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def x64():
    """Enables float64 in JAX for one test."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def float64(x64):
    """Keras (floatx and dtype policy) and JAX in float64 for one test: Keras's ``fit`` and
    ``evaluate`` cast predictions to floatx before the loss (a float32 cast hides a
    softmax's logits)."""
    from helpers import keras_dtype

    with keras_dtype("float64"):
        yield


@pytest.fixture(scope="session")
def glmnet_r():
    """R's glmnet, ready for ``tests/glmnet_r.py``; returns its versions ("R 4.2.2, glmnet 4.1.6").

    Where ``library(glmnet)`` fails and the tests run as root, it runs
    ``scripts/glmnet_local.sh install`` (apt-get) first. Where glmnet is still missing the
    test fails: a parity test must not pass without its reference.
    """
    from glmnet_r import glmnet_loads

    script = Path(__file__).resolve().parents[1] / "scripts" / "glmnet_local.sh"
    ok, why = glmnet_loads()
    install = ""
    if not ok and os.geteuid() == 0:
        done = subprocess.run(
            ["bash", script, "install"], capture_output=True, text=True, timeout=1800
        )
        install = f"\n{script.name} install (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        ok, why = glmnet_loads()
    if not ok:
        pytest.fail(
            f"R's glmnet is not available ({why}); as root run: "
            f"bash scripts/glmnet_local.sh install{install}",
            pytrace=False,
        )
    return why
