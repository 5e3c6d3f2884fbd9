"""The examples in the public docstrings (``>>>`` lines) give what they say."""

import doctest
import importlib
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import research

LIBRARY = (
    *("regularizers", "optim", "constraints", "layers", "lasso", "glm", "port", "models"),
    *("data", "losses", "methods", "checks", "trees", "compat", "prune", "results", "config"),
    *("engine", "io", "tables", "tracking", "claims"),
)


def _modules():
    for info in pkgutil.walk_packages(research.__path__, "research."):
        if info.name.split(".")[1] in LIBRARY:
            yield importlib.import_module(info.name)


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    for module in _modules():
        for test in finder.find(module):
            if test.examples:
                yield pytest.param(test, id=test.name)


@pytest.mark.parametrize("test", list(_examples()))
def test_docstring_example(test):
    globs = {"jax": jax, "jnp": jnp, "np": np, **test.globs}
    if any("keras." in ex.source for ex in test.examples):
        import keras

        globs["keras"] = keras
    test.globs = globs
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{test.name}: {runner.failures} example(s) failed (see above)"


def test_the_examples_are_found():
    assert len(list(_examples())) >= 8
