"""Shared test setup: quiet TensorFlow, one JAX CPU device per worker, a float64 switch."""

import os

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
