"""Helpers shared by the test files: ``from helpers import compose, research_train, ...``.

``tests/`` has no ``__init__.py``, so pytest (rootdir import mode) puts it on
``sys.path`` for every test file, in a plain run and in each pytest-xdist worker.
Heavy imports (Hydra, JAX, Keras) happen inside the helpers that need them.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from research.cli.configs import config_dir, register_configs

TINY = ("epochs=2", "num_seeds=2")
"""The smallest runs of the command line's tests: two epochs, two seeds."""


# --------------------------------------------------------------------------- Hydra
@functools.cache
def _register() -> None:
    register_configs()  # the schemas, once per process


def compose(overrides: Iterable[str] = (), hydra: bool = False) -> Any:
    """``train.yaml`` of the shipped configs composed with ``overrides``, as Hydra's compose
    API gives it (with the ``hydra`` node when ``hydra=True``)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    _register()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return hydra_compose("train", overrides=list(overrides), return_hydra_config=hydra)


# --------------------------------------------------------------------------- research-train
def train_command(*args: object) -> list[str]:
    """``python -m research.train <args>`` with this interpreter (for ``subprocess.Popen``)."""
    return [sys.executable, "-m", "research.train", *map(str, args)]


def research_train(
    *args: object,
    cwd: str | Path,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Runs ``python -m research.train <args>`` in ``cwd`` and returns the finished process,
    its stdout and stderr as text. ``env`` is the whole environment (``None``: this one's)."""
    return subprocess.run(
        train_command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        check=check,
    )


def grid_args(root: str | Path, *extra: str, name: str = "grid") -> list[str]:
    """A multirun writing under ``root``: ``-m output_root=root
    compilation_cache_dir=root/cache name=<name> <extra>``, so its jobs are under
    ``root/multirun/<name>``."""
    return ["-m", f"output_root={root}", f"compilation_cache_dir={root}/cache", f"name={name}",
            *extra]  # fmt: skip


# --------------------------------------------------------------------------- optimizers
def params_and_grads(
    shapes: Mapping[str, tuple[int, ...]], steps: int, *, scale: float = 1.0, seed: int = 0
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Float32 starting params of the given shapes and ``steps`` gradients, all standard normal
    (gradients times ``scale``), drawn in that order from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    grads = [
        {k: (scale * rng.normal(size=s)).astype(np.float32) for k, s in shapes.items()}
        for _ in range(steps)
    ]
    return params, grads


def optax_run(
    tx: Any, params: Mapping[str, Any], grads: Sequence[Mapping[str, Any]], *, jit: bool = False
) -> list[dict[str, np.ndarray]]:
    """The params after each step of the optax transform ``tx`` (``tx.update`` under
    ``jax.jit`` when ``jit``), one step per gradient."""
    import jax
    import jax.numpy as jnp
    import optax

    p = {k: jnp.asarray(v) for k, v in params.items()}
    state = tx.init(p)
    update = jax.jit(tx.update) if jit else tx.update
    out = []
    for g in grads:
        updates, state = update({k: jnp.asarray(v) for k, v in g.items()}, state, p)
        p = optax.apply_updates(p, updates)
        out.append({k: np.asarray(v) for k, v in p.items()})
    return out


def keras_run(
    optimizer: Any,
    params: Mapping[str, np.ndarray],
    grads: Sequence[Mapping[str, np.ndarray]],
    *,
    exclude: Sequence[str] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> list[dict[str, np.ndarray]]:
    """The values after each step of a Keras optimizer applied to ``keras.Variable``s holding
    ``params`` (named by their keys, or the given ``variables``); ``exclude``: variable names
    passed to ``exclude_from_weight_decay`` first."""
    import keras

    if exclude:
        optimizer.exclude_from_weight_decay(var_names=list(exclude))
    if not variables:
        variables = {k: keras.Variable(v, name=k) for k, v in params.items()}
    out = []
    for g in grads:
        optimizer.apply([g[k] for k in params], [variables[k] for k in params])
        out.append({k: np.asarray(keras.ops.convert_to_tensor(v)) for k, v in variables.items()})
    return out


# --------------------------------------------------------------------------- regression
def regression_problem(
    n: int,
    p: int,
    *,
    coef: Mapping[int, float] | None = None,
    informative: int = 0,
    noise: float = 0.3,
    intercept: float = 0.0,
    common: tuple[float, float] | None = None,
    pair: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A linear regression ``y = X @ w (+ intercept) + noise * N(0, 1)``, float64.

    Drawn from ``np.random.default_rng(seed)`` in this order:
      - ``X``: standard normal ``(n, p)``; with ``common=(a, b)`` instead
        ``a * z + b * N(0, 1)`` where ``z`` (``(n, 1)``, drawn first) is shared by
        every column (correlated columns);
      - ``pair``: column 1 is replaced by ``X[:, 0] + pair * N(0, 1)``;
      - ``w``: zero but for ``coef`` (index -> value) and, with ``informative=k``,
        its first ``k`` entries drawn uniform in [1, 3) with random signs;
      - the noise.
    """
    rng = np.random.default_rng(seed)
    if common is None:
        X = rng.standard_normal((n, p))
    else:
        a, b = common
        shared = rng.normal(size=(n, 1))
        X = a * shared + b * rng.normal(size=(n, p))
    if pair is not None:
        X[:, 1] = X[:, 0] + pair * rng.standard_normal(n)
    w = np.zeros(p)
    for i, value in (coef or {}).items():
        w[i] = value
    if informative:
        w[:informative] = rng.uniform(1, 3, informative) * rng.choice([-1, 1], informative)
    signal = X @ w + intercept if intercept else X @ w
    return X, signal + noise * rng.standard_normal(n)


@contextlib.contextmanager
def keras_dtype(dtype: str) -> Iterator[None]:
    """Keras layers built inside take ``dtype`` as their variables' and compute dtype
    (``keras.config`` floatx and dtype policy, restored after)."""
    import keras

    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def keras_weights(model: Any) -> list[np.ndarray]:
    """A ``research.layers`` model's kernels and biases in Keras's ``get_weights`` order
    (Dense and Conv layers, nested ones included)."""
    from flax import nnx

    from research import layers

    out = []
    for _, layer in nnx.iter_graph(model):
        if isinstance(layer, layers.Dense | layers.Conv):
            out += [np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])]
    return out
