"""Benchmarks, measured side by side: the engine vs Keras, a bare JAX loop and scikit-learn.

Every measurement runs in a fresh process (``--worker``), the systems of a
case are alternated within each repeat so that machine noise hits all alike,
and the tables show medians over repeats and ratios. Inside a process the
engine and the bare loop each take the fastest of at least 7 runs after a
warm-up, and of as many as fit in one second (as ``timeit`` does: noise on
a shared machine only ever adds time). Cases:

1. ``line_outliers`` (old name ``seed002``): the blog post's experiment (1-10-10-10-1
   linear MLP, batch size 1, SGD lr 0.01, 5 epochs over 40 points) with L2 0.3 and
   with proximal L1 0.3: seed-steps/s of Keras 3 ``model.fit`` (one seed; Keras has no vmap), a
   Python loop over seeds of a jitted one-seed step, a bare jit + scan + vmap
   loop written here with no library code, and the engine with all its
   recording, at 1 to 10,000 seeds. For proximal L1 the bare loop's loss
   has no penalty term (the prox step applies it), while the engine records
   the regularized loss every step; a second bare loop that also records it
   ("bare + penalty") shows what that recording costs in plain JAX.
   The engine and the bare loops run on one JAX CPU device here
   (``RESEARCH_CPU_DEVICES=1``), so that the ratio compares the same hardware.
1b. ``cores``: the engine at 1 and 10,000 seeds on all cores (its default: seeds
   split over one CPU device per core, ``research.engine.devices``) vs one core
   (``taskset -c 0``, one device) vs one device on all cores.
2. ``sweep``: 32 strengths x 100 seeds in one vmapped program vs 32 runs;
   compilations of the training program.
3. ``overhead``: a step of ``optax.sgd`` alone vs with ``proximal(L1)``,
   ``add_regularization(L1)``, ``proximal(MCP)``, ``proximal(SCAD)`` and
   ``proximal(Weighted(L1))`` (factors per kernel, per input, per entry; and the same
   per-entry soft thresholding written in plain JAX) on 10M parameters.
4. ``lasso``: a Lasso path of 50 strengths on three shapes (n=1000, p=500;
   n=200, p=5000; n=20000, p=200), float64: ``research.lasso_path`` vs
   scikit-learn's ``lasso_path`` and celer's ``celer_path``, each at the loosest
   ``tol`` (from 1e-6) whose path has a relative duality gap of at most 1e-6 at
   every strength by one shared check; zero patterns compared with scikit-learn's.
5. ``compile``: time to the first result of the default experiment, with a
   cold and a warm persistent compilation cache.
6. ``glm``: ``research.glm_path`` against R's glmnet (timed inside R), scikit-learn's
   saga ``LogisticRegression``, skglm's ``ProxNewton`` and celer's ``celer_path`` where
   they fit the family: binomial (n=1000, p=500; n=200, p=5000; n=20000, p=200),
   multinomial (10 classes, n=5000, p=100) and Poisson (n=10000, p=100), L1, the
   strengths of glmnet's grid, each at the loosest ``tol`` (from 1e-4) whose path is
   within 1e-6 (relative) of the best objective at every strength, by one shared check;
   then ``glm_cv`` against ``cv.glmnet`` with the same 10 folds. ``--quick`` makes it
   tiny; without R's glmnet it says so and leaves glmnet out.

  python scripts/benchmark.py                    # everything (about 35 minutes on 2 cores)
  python scripts/benchmark.py --cases line_outliers cores lasso --repeats 3
  python scripts/benchmark.py --quick --json out.json   # CI-sized (a smoke run: one repeat,
                                                        # workers in one process where they can)
  python scripts/benchmark.py --cases line_outliers --baseline ../old  # vs another checkout
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPOCHS = 5
N_TRAIN = 40
LR = 0.01
STRENGTH = 0.3
WIDTHS = (1, 10, 10, 10, 1)
TIMED_RUNS = 7  # engine and bare loop: the fastest of at least this many runs per process...
TIMED_SECONDS = 1.0  # ...and of as many more as fit in this time (short runs: hundreds)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fastest(run) -> float:
    """Seconds of the fastest call of ``run`` (already warm), as ``timeit`` reports."""
    times: list[float] = []
    deadline = time.perf_counter() + TIMED_SECONDS
    while len(times) < TIMED_RUNS or time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


# --------------------------------------------------------------------------- case 1 workers
def _line_data():
    from research.data import line_outliers

    d = line_outliers()
    return d.x_train, d.y_train


def w_engine(seeds: int, variant: str, epochs: int = EPOCHS) -> dict:
    """One steady-state engine run: train, evaluate, record, copy to host."""
    from research.engine import Experiment

    reg = {"name": "l2", "l2": STRENGTH} if variant == "l2" else {"name": "l1", "l1": STRENGTH}
    experiment = Experiment(
        {
            "regularizer": reg,
            "method": "subgradient" if variant == "l2" else "proximal",
            "epochs": epochs,
            "num_seeds": seeds,
            "progress": False,
        }
    )
    res = experiment.run()  # compile
    assert res.metrics["train_loss"].shape == (seeds, 1)
    return {"seconds": _fastest(experiment.run), "seed_steps": seeds * epochs * N_TRAIN}


def _bare_functions(variant: str):
    """The bare loop: plain JAX, no library code."""
    import jax
    import jax.numpy as jnp

    def init(key):
        params = []
        keys = jax.random.split(key, len(WIDTHS) - 1)
        for k, (a, b) in zip(keys, itertools.pairwise(WIDTHS), strict=True):
            limit = (6 / (a + b)) ** 0.5
            params.append(
                (jax.random.uniform(k, (a, b), minval=-limit, maxval=limit), jnp.zeros(b))
            )
        return params

    def loss(params, xb, yb):
        h = xb
        for w, b in params:
            h = h @ w + b
        data = jnp.sum(jnp.abs(h - yb))
        if variant == "l2":
            return data + STRENGTH * sum(jnp.sum(w * w) for w, _ in params)
        return data

    def step(params, xb, yb):
        value, grads = jax.value_and_grad(loss)(params, xb, yb)
        if variant == "l1_prox_recorded":  # also record the penalty, as the engine does
            value = value + STRENGTH * sum(jnp.sum(jnp.abs(w)) for w, _ in params)
        new = [(w - LR * gw, b - LR * gb) for (w, b), (gw, gb) in zip(params, grads, strict=True)]
        if variant.startswith("l1_prox"):
            t = LR * STRENGTH
            new = [(jnp.sign(w) * jnp.maximum(jnp.abs(w) - t, 0), b) for w, b in new]
        return new, value

    return init, step


def w_bare(seeds: int, variant: str, epochs: int = EPOCHS) -> dict:
    import jax
    import jax.numpy as jnp

    x, y = (jnp.asarray(a) for a in _line_data())
    init, step = _bare_functions(variant)

    @jax.jit
    def run(keys):
        def one(key):
            def body(params, i):
                xb = jax.lax.dynamic_slice_in_dim(x, i, 1)
                yb = jax.lax.dynamic_slice_in_dim(y, i, 1)
                return step(params, xb, yb)

            return jax.lax.scan(body, init(key), jnp.tile(jnp.arange(N_TRAIN), epochs))

        return jax.vmap(one)(keys)

    keys = jax.random.split(jax.random.key(0), seeds)
    jax.block_until_ready(run(keys))
    seconds = _fastest(lambda: jax.block_until_ready(run(keys)))
    return {"seconds": seconds, "seed_steps": seeds * epochs * N_TRAIN}


def w_pyloop(seeds: int, variant: str, epochs: int = EPOCHS) -> dict:
    import jax
    import jax.numpy as jnp

    x, y = (jnp.asarray(a) for a in _line_data())
    init, step = _bare_functions(variant)
    step = jax.jit(step)
    keys = jax.random.split(jax.random.key(0), seeds)
    jax.block_until_ready(step(init(keys[0]), x[:1], y[:1]))
    start = time.perf_counter()
    for key in keys:
        params = init(key)
        for _ in range(epochs):
            for i in range(N_TRAIN):
                params, _ = step(params, x[i : i + 1], y[i : i + 1])
        jax.block_until_ready(params)
    return {"seconds": time.perf_counter() - start, "seed_steps": seeds * epochs * N_TRAIN}


def w_keras(seeds: int, variant: str, epochs: int = EPOCHS) -> dict:
    """Keras 3 (TensorFlow) ``model.fit(batch_size=1)``, one seed after another."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    x, y = _line_data()

    def sae(y_true, y_pred):
        return keras.ops.sum(keras.ops.abs(y_true - y_pred), axis=-1)

    reg = keras.regularizers.L2(STRENGTH) if variant == "l2" else keras.regularizers.L1(STRENGTH)
    total = 0.0
    for s in range(seeds):
        keras.utils.set_random_seed(s)
        model = keras.Sequential(
            [keras.Input((1,))]
            + [keras.layers.Dense(w, kernel_regularizer=reg) for w in WIDTHS[1:]]
        )
        model.compile(optimizer=keras.optimizers.SGD(LR), loss=sae)
        model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)  # build + trace
        start = time.perf_counter()
        model.fit(x, y, batch_size=1, epochs=epochs, shuffle=False, verbose=0)
        total += time.perf_counter() - start
    return {"seconds": total, "seed_steps": seeds * epochs * N_TRAIN}


# --------------------------------------------------------------------------- case 2
def w_sweep(strengths: int, seeds: int, epochs: int) -> dict:
    import numpy as np

    from research.engine import Experiment

    values = np.geomspace(1e-3, 1.0, strengths).tolist()
    base = {"method": "proximal", "epochs": epochs, "num_seeds": seeds, "progress": False}
    start = time.perf_counter()
    vmapped = Experiment({**base, "regularizer": {"name": "l1", "l1": values}})
    vmapped.run()
    vmapped_first = time.perf_counter() - start
    compiles_vmapped = vmapped.compile_count()
    start = time.perf_counter()
    vmapped.run({"l1": np.asarray(values) * 1.5})  # new values: the same compiled program
    vmapped_steady = time.perf_counter() - start
    compiles_new_values = vmapped.compile_count()

    def separate():
        for v in values:
            Experiment({**base, "regularizer": {"name": "l1", "l1": v}}).run()

    start = time.perf_counter()
    separate()  # the first run compiles the one-strength program; the others reuse it
    separate_first = time.perf_counter() - start
    start = time.perf_counter()
    separate()
    separate_steady = time.perf_counter() - start
    single = Experiment({**base, "regularizer": {"name": "l1", "l1": values[0]}})
    return {
        "vmapped_seconds_with_compile": vmapped_first,
        "separate_seconds_with_compile": separate_first,
        "vmapped_seconds": vmapped_steady,
        "separate_seconds": separate_steady,
        "program_compiles_vmapped": compiles_vmapped,
        "program_compiles_vmapped_new_values": compiles_new_values,
        "program_compiles_separate_runs": single.compile_count(),
    }


# --------------------------------------------------------------------------- case 3
def w_overhead(params_millions: float, steps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from research.optim import add_regularization, proximal
    from research.regularizers import L1, MCP, SCAD, Weighted

    n_layers = 10
    side = int((params_millions * 1e6 / n_layers) ** 0.5)
    key = jax.random.key(0)
    params = {
        f"layer{i}": {"kernel": jax.random.normal(jax.random.fold_in(key, i), (side, side))}
        for i in range(n_layers)
    }
    grads = jax.tree.map(lambda p: 0.01 * p, params)

    # Factors in [0, 2) for Weighted(L1): one per kernel, per input (a row), or per entry
    # (one more read of the params' size).
    def factors(shape):
        return {
            name: {"kernel": 2 * jax.random.uniform(jax.random.fold_in(key, 100 + i), shape)}
            for i, name in enumerate(params)
        }

    per_entry = factors((side, side))

    def bare_weighted(updates, params):  # the same per-entry soft thresholding, plain JAX
        def leaf(u, w, f):
            v = w + u
            return jnp.sign(v) * jnp.maximum(jnp.abs(v) - 1e-7 * f["kernel"], 0) - w

        return {
            k: {"kernel": leaf(updates[k]["kernel"], params[k]["kernel"], per_entry[k])}
            for k in params
        }

    def prox(reg):
        return optax.chain(optax.sgd(1e-3), proximal(reg, 1e-3))

    txs = {
        "sgd": optax.sgd(1e-3),
        "sgd + proximal(L1)": prox(L1(1e-4)),
        "add_regularization(L1) + sgd": optax.chain(add_regularization(L1(1e-4)), optax.sgd(1e-3)),
        "sgd + proximal(MCP)": prox(MCP(1e-4, gamma=3.0)),
        "sgd + proximal(SCAD)": prox(SCAD(1e-4, a=3.7)),
        "sgd + proximal(Weighted(L1)), a factor per kernel": prox(Weighted(L1(1e-4), 1.5)),
        "sgd + proximal(Weighted(L1)), per input": prox(Weighted(L1(1e-4), factors((side, 1)))),
        "sgd + proximal(Weighted(L1)), per entry": prox(Weighted(L1(1e-4), per_entry)),
        "sgd + bare JAX per-entry soft thresholding": optax.chain(
            optax.sgd(1e-3), optax.stateless(bare_weighted)
        ),
    }
    out = {"parameters": n_layers * side * side}
    timings: dict[str, list[float]] = {name: [] for name in txs}
    compiled = {}
    states = {}
    for name, tx in txs.items():

        def step(p, s, g, tx=tx):
            updates, s = tx.update(g, s, p)
            return optax.apply_updates(p, updates), s

        compiled[name] = jax.jit(step, donate_argnums=(0, 1))
        states[name] = (jax.tree.map(jnp.copy, params), tx.init(params))
        states[name] = compiled[name](*states[name], grads)
        jax.block_until_ready(states[name])
    for _ in range(steps):  # alternate transforms step by step
        for name in txs:
            start = time.perf_counter()
            states[name] = compiled[name](*states[name], grads)
            jax.block_until_ready(states[name])
            timings[name].append(time.perf_counter() - start)
    for name, t in timings.items():
        out[f"{name} ms"] = 1e3 * statistics.median(t)
    return out


# --------------------------------------------------------------------------- case 4
LASSO_SHAPES = ((1000, 500), (200, 5000), (20000, 200))  # n = p / 2, p >> n, n >> p
LASSO_ALPHAS = 50
LASSO_GAP = 1e-6  # every solver: relative duality gap at most this at every strength


def _lasso_problem(n: int, p: int):
    """``sparse_regression``'s training split (n rows, p features), centered, float64."""
    import numpy as np

    from research.data import sparse_regression

    d = sparse_regression(n_samples=int(n / 0.8), n_features=p, n_informative=20, noise=0.5, seed=0)
    x, y = d.x_train.astype(np.float64), d.y_train[:, 0].astype(np.float64)
    xc, yc = np.asfortranarray(x - x.mean(0)), y - y.mean()
    return d, x, y, xc, yc


def _relative_gaps(xc, yc, alphas, coefs, thetas=None):
    """Each strength's duality gap over ||y||^2 in scikit-learn's n-scaling: the primal at
    ``coefs`` minus the dual at scikit-learn's dual point (the residual, rescaled to be
    feasible), or at the solver's own dual point ``thetas`` when it returns one, whichever
    certifies the smaller gap. The one check every solver of the table passes."""
    import numpy as np

    n = len(yc)
    r = yc[:, None] - xc @ coefs  # (n, K)
    a = alphas * n
    primal = 0.5 * np.sum(r * r, axis=0) + a * np.abs(coefs).sum(axis=0)

    def dual(theta):  # theta (n, K), made feasible: |X' theta| <= a
        scale = np.minimum(1.0, a / np.maximum(np.abs(xc.T @ theta).max(axis=0), 1e-300))
        theta = theta * scale
        return theta.T @ yc - 0.5 * np.sum(theta * theta, axis=0)

    best = dual(r)
    if thetas is not None:  # celer's theta is the residual over n
        best = np.maximum(best, dual(np.asarray(thetas).T * n))
    return (primal - best) / (yc @ yc)


def _lasso_solver(system: str):
    """``solve(x, y, alphas, tol) -> (coefs, dual points or None)`` of one system."""
    if system == "research":
        from research import lasso_path

        return lambda x, y, alphas, tol: (lasso_path(x, y, alphas=alphas, tol=tol)[1], None)
    if system in ("sklearn", "reference"):
        from sklearn.linear_model import lasso_path

        def solve(x, y, alphas, tol):
            return lasso_path(x, y, alphas=alphas, tol=tol, max_iter=1_000_000)[1], None

        return solve
    if system == "celer":
        from celer import celer_path

        def solve(x, y, alphas, tol):
            _, coefs, _, thetas = celer_path(
                x, y, "lasso", alphas=alphas, tol=tol, max_iter=1000, return_thetas=True
            )
            return coefs, thetas

        return solve
    raise ValueError(system)


def w_lasso(system: str, n: int, p: int, tol: float, runs: int = 3) -> dict:
    """One solver's path at ``tol`` in a fresh process: the fastest of ``runs`` calls after a
    warm-up (numba's compiled code loaded, every import done), the gaps and zero pattern."""
    import warnings

    import numpy as np

    _, _, _, xc, yc = _lasso_problem(n, p)
    alpha_max = np.abs(xc.T @ yc).max() / n
    alphas = np.geomspace(alpha_max, alpha_max * 1e-3, LASSO_ALPHAS)  # scikit-learn's grid
    solve = _lasso_solver(system)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve(xc[:50], yc[:50], alphas[:3], tol)  # warm-up on a slice
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            coefs, thetas = solve(xc, yc, alphas, tol)
            times.append(time.perf_counter() - start)
    return {
        "seconds": min(times),
        "max_relative_gap": float(_relative_gaps(xc, yc, alphas, coefs, thetas).max()),
        "support": np.packbits(coefs != 0).tobytes().hex(),
    }


# --------------------------------------------------------------------------- case 5
def w_first_result(cache_dir: str) -> dict:
    start = time.perf_counter()
    import jax

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    from research.engine import train_and_evaluate

    res = train_and_evaluate({"num_seeds": 5, "progress": False})
    assert res.metrics["total_error"].shape == (5, 1)
    return {"seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------- case 6
GLM_SHAPES = (  # (family, n, p): n = 2p, p >> n, n >> p; 10 classes; counts
    ("binomial", 1000, 500),
    ("binomial", 200, 5000),
    ("binomial", 20000, 200),
    ("multinomial", 5000, 100),
    ("poisson", 10000, 100),
)
GLM_QUICK_SHAPES = (("binomial", 200, 5), ("multinomial", 150, 4), ("poisson", 100, 5))
GLM_CLASSES = {False: 10, True: 3}  # multinomial classes: full run, --quick
GLM_SUBOPTIMALITY = 1e-6  # every solver: relative suboptimality at most this at every strength
GLM_TOLS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10)  # tried loosest first
GLM_REFERENCE_TOL = 1e-14  # glm_path's and glmnet's reference paths
GLM_SYSTEMS = {  # the solvers of each family (scikit-learn has no L1 Poisson regression)
    "binomial": ("research", "glmnet", "sklearn", "skglm", "celer"),
    "multinomial": ("research", "glmnet", "sklearn"),
    "poisson": ("research", "glmnet", "skglm"),
}
# Seconds: scikit-learn's and skglm's paths stop after the strength that passes GLM_LIMIT; a
# path that takes over GLM_BUDGET is not tried at a tighter tolerance, nor timed again (its
# one call in the search stands).
GLM_LIMIT = 120.0
GLM_BUDGET = 20.0
GLM_CV_FOLDS = 10
GLM_QUICK_LEAVES_OUT = ("skglm",)  # --quick: skglm's numba compilation alone takes ~12 s


def _glm_data(family: str, n: int, p: int, classes: int, seed: int = 0):
    """Generated data with sparse true coefficients: ``(z, y)``, the features standardized
    (mean 0, population standard deviation 1), so that every solver fits the same problem
    with ``standardize=False`` and an intercept. Binomial rows come in mirrored pairs
    ``(x, y)`` and ``(-x, 1 - y)`` (both draws of a model with intercept 0): the optimal
    intercept is then 0 at every strength, so that celer, which fits none, solves the same
    problem as the solvers that fit one."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if family == "binomial":
        k, half = min(20, p), n // 2
        x = rng.standard_normal((half, p))
        beta = np.zeros(p)
        beta[rng.choice(p, k, replace=False)] = (
            rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 3.0, k) / np.sqrt(k)
        )
        y = (rng.random(half) < 1 / (1 + np.exp(-x @ beta))).astype(np.float64)
        x, y = np.vstack([x, -x]), np.concatenate([y, 1 - y])
    elif family == "multinomial":
        x = rng.standard_normal((n, p))
        coef = np.zeros((classes, p))
        for c in range(classes):
            k = min(5, p)
            coef[c, rng.choice(p, k, replace=False)] = rng.choice([-1.0, 1.0], k) * rng.uniform(
                0.5, 1.0, k
            )
        link = x @ coef.T
        prob = np.exp(link - link.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        y = (prob.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1).astype(np.float64)
    else:
        k = min(10, p)
        x = rng.standard_normal((n, p))
        beta = np.zeros(p)
        beta[rng.choice(p, k, replace=False)] = rng.choice([-1.0, 1.0], k) * rng.uniform(
            0.1, 0.3, k
        )
        y = rng.poisson(np.exp(0.5 + x @ beta)).astype(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    return np.asfortranarray(z), y


def _glm_objectives(family: str, z, y, alphas, coef, intercept):
    """glmnet's objective at each strength (weights 1/n, no standardization: ``z`` is
    standardized), less the saturated model's constant: half the mean deviance plus
    ``alpha * ||coef||_1``. ``coef`` (p, K) or multinomial (C, p, K), ``intercept`` (K,) or
    (C, K), in ``glm_path``'s layout. The one check every solver of the table passes."""
    import numpy as np
    from scipy.special import logsumexp

    if family == "multinomial":
        link = np.einsum("np,cpk->nck", z, coef) + intercept[None]
        rows = np.arange(len(y))
        loss = (logsumexp(link, axis=1) - link[rows, y.astype(np.int64), :]).mean(axis=0)
        return loss + alphas * np.abs(coef).sum(axis=(0, 1))
    link = z @ coef + intercept[None]
    if family == "binomial":
        loss = (np.logaddexp(0.0, link) - y[:, None] * link).mean(axis=0)
    else:  # poisson, less the saturated model's mean(y - y log y)
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
        loss = (np.exp(link) - y[:, None] * link).mean(axis=0) - (y - ylogy).mean()
    return loss + alphas * np.abs(coef).sum(axis=0)


def _glm_null(family: str, y) -> float:
    """The intercept-only model's value of ``_glm_objectives`` (the suboptimality's scale)."""
    import numpy as np

    if family == "binomial":
        m = y.mean()
        return float(-(m * np.log(m) + (1 - m) * np.log(1 - m)))
    if family == "multinomial":
        share = np.bincount(y.astype(np.int64)) / len(y)
        share = share[share > 0]
        return float(-(share * np.log(share)).sum())
    m = y.mean()
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
    return float((m - y * np.log(m)).mean() - (y - ylogy).mean())


def w_glm_problem(family: str, n: int, p: int, classes: int, directory: str) -> dict:
    """Writes a shape's problem into ``directory``: the data, the strengths (glmnet's default
    grid of ``glm_path``'s own first run, as far as its early stop goes), the null objective
    and the cross-validation folds; raw float64 files for R."""
    import numpy as np

    from research.glm import glm_path

    z, y = _glm_data(family, n, p, classes)
    start = time.perf_counter()
    grid = glm_path(z, y, family=family, standardize=False)
    seconds = time.perf_counter() - start
    folds = np.random.default_rng(1).permutation(np.arange(n) % GLM_CV_FOLDS) + 1.0
    d = Path(directory)
    np.savez(
        d / "problem.npz", z=z, y=y, alphas=grid.alphas, null=_glm_null(family, y), folds=folds
    )
    for name, value in (
        ("x", z),
        ("y", y),
        ("lambda", grid.alphas),
        ("dims", [n, p]),
        ("foldid", folds),
    ):
        np.asarray(value, dtype="<f8").ravel(order="F").tofile(d / name)
    return {"strengths": int(grid.alphas.size), "first_run_seconds": seconds}


def _glm_solver(system: str, family: str):
    """``solve(z, y, alphas, tol, deadline) -> (coef, intercept, passes or None)`` of one
    Python system, in ``glm_path``'s layout; scikit-learn and skglm stop after the strength
    that passes ``deadline`` (``time.perf_counter``), returning the strengths done."""
    import numpy as np

    if system == "research":
        from research.glm import glm_path

        def solve(z, y, alphas, tol, deadline):
            path = glm_path(z, y, family=family, alphas=alphas, standardize=False, tol=tol)
            return path.coef, path.intercept, path.n_passes

        return solve
    if system == "sklearn":
        from sklearn.linear_model import LogisticRegression

        def solve(z, y, alphas, tol, deadline):
            # scikit-learn minimizes C sum(loss) + ||w||_1 = C n (mean(loss) + ||w||_1 / (C n)),
            # glmnet's objective times C n at C = 1 / (n alpha); saga warm-starts each strength
            # from the last; the intercept is not penalized.
            model = LogisticRegression(
                solver="saga", l1_ratio=1.0, tol=tol, max_iter=100_000, warm_start=True
            )
            coefs, intercepts = [], []
            for alpha in alphas:
                model.set_params(C=1.0 / (len(y) * alpha))
                model.fit(z, y)
                coefs.append(model.coef_.copy())
                intercepts.append(model.intercept_.copy())
                if time.perf_counter() > deadline:
                    break
            coef, intercept = np.stack(coefs, axis=-1), np.stack(intercepts, axis=-1)
            if family == "binomial":  # (1, p, K) -> (p, K)
                coef, intercept = coef[0], intercept[0]
            return coef, intercept, None

        return solve
    if system == "skglm":
        from skglm.datafits import Logistic, Poisson
        from skglm.penalties import L1
        from skglm.solvers import ProxNewton

        def solve(z, y, alphas, tol, deadline):
            # skglm's datafits are means (Logistic takes labels -1/1; Poisson is
            # mean(exp(Xw) - y Xw)) and L1(alpha) is alpha ||w||_1: glmnet's strength as it
            # is. ProxNewton (skglm's solver for both) with an unpenalized intercept, each
            # strength warm-started from the last.
            target = 2 * y - 1 if family == "binomial" else y
            datafit = Logistic() if family == "binomial" else Poisson()
            solver = ProxNewton(tol=tol, fit_intercept=True, max_iter=1000)
            p = z.shape[1]
            w = np.zeros(p + 1)
            coefs, intercepts = [], []
            for alpha in alphas:
                w, _, _ = solver.solve(
                    z, target, datafit, L1(alpha), w_init=w.copy(), Xw_init=z @ w[:p] + w[p]
                )
                coefs.append(w[:p].copy())
                intercepts.append(w[p])
                if time.perf_counter() > deadline:
                    break
            return np.stack(coefs, axis=-1), np.asarray(intercepts), None

        return solve
    if system == "celer":
        from celer import celer_path

        def solve(z, y, alphas, tol, deadline):
            # celer's logreg minimizes sum(log(1 + exp(-y Xw))) + alpha ||w||_1 with labels
            # -1/1 and no intercept: alpha = n times glmnet's (the data's optimal intercept is
            # 0). Its prox-Newton solver, the default of celer's LogisticRegression.
            _, coef, _ = celer_path(
                z, 2 * y - 1, "logreg", alphas=alphas * len(y), tol=tol, use_PN=True
            )
            return coef, np.zeros(coef.shape[1]), None

        return solve
    raise ValueError(system)


_GLMNET_R = r"""
suppressMessages(library(glmnet))
a <- commandArgs(TRUE)
src <- a[1]; out <- a[2]; family <- a[3]; mode <- a[4]; runs <- as.integer(a[5])
batch <- as.numeric(a[6])
rd <- function(d, f) {
  readBin(file.path(d, f), "double", file.size(file.path(d, f)) / 8, size = 8, endian = "little")
}
wr <- function(f, v) writeBin(as.double(v), file.path(out, f), size = 8, endian = "little")
writeLines(c(paste(R.version$major, R.version$minor, sep = "."),
             as.character(packageVersion("glmnet"))), file.path(out, "versions"))
dims <- rd(src, "dims")
x <- matrix(rd(src, "x"), dims[1], dims[2])
y <- rd(src, "y")
# The fastest of `runs` timings of fn(), each the mean of as many calls as fill `batch`
# seconds (system.time counts milliseconds); returns the seconds per call and fn()'s value.
fastest <- function(fn) {
  best <- Inf
  for (r in seq_len(runs)) {
    calls <- 0
    start <- proc.time()[["elapsed"]]
    t <- system.time(repeat {
      value <- fn()
      calls <- calls + 1
      if (proc.time()[["elapsed"]] - start >= batch) break
    })[["elapsed"]]
    best <- min(best, t / calls)
  }
  list(seconds = best, value = value)
}
if (mode == "path") {
  lambda <- rd(src, "lambda")
  tols <- rd(out, "tols")
  fit <- function(tol, lam) {
    glmnet(x, y, family = family, lambda = lam, standardize = FALSE, thresh = tol)
  }
  invisible(fit(tols[1], lambda[seq_len(min(3, length(lambda)))]))  # warm-up
  done <- NULL
  for (i in seq_along(tols)) {
    r <- fastest(function() fit(tols[i], lambda))
    f <- r$value
    if (family == "multinomial") {  # classes x p x strengths
      wr(paste0("coef", i), aperm(simplify2array(lapply(f$beta, as.matrix)), c(3, 1, 2)))
      wr(paste0("intercept", i), as.matrix(f$a0))
    } else {
      wr(paste0("coef", i), as.matrix(f$beta))
      wr(paste0("intercept", i), f$a0)
    }
    done <- c(done, tols[i], r$seconds, f$npasses)
  }
  wr("done", done)
} else {  # cv.glmnet with the given folds, glmnet's defaults otherwise
  foldid <- rd(src, "foldid")
  invisible(cv.glmnet(x, y, family = family, foldid = foldid, nlambda = 3))  # warm-up
  r <- fastest(function() cv.glmnet(x, y, family = family, foldid = foldid))
  wr("lambda", r$value$lambda)
  wr("cvm", r$value$cvm)
  wr("done", c(r$seconds, r$value$lambda.min))
}
"""


def _glmnet_r(directory: str, family: str, mode: str, runs: int, batch: float, tols=()) -> dict:
    """Runs ``_GLMNET_R`` on a problem directory: R reads the data once and times glmnet
    inside R (``system.time``), so that R's start and the transfers are not counted."""
    import shutil

    import numpy as np

    exe = shutil.which("Rscript")
    if exe is None:
        raise RuntimeError("Rscript not found (scripts/glmnet_local.sh install installs R)")
    with tempfile.TemporaryDirectory(prefix="glmnet_bench_") as tmp:
        out = Path(tmp)
        (out / "run.R").write_text(_GLMNET_R)
        np.asarray(tols, dtype="<f8").tofile(out / "tols")
        arguments = [directory, tmp, family, mode, str(runs), str(batch)]
        done = subprocess.run(
            [exe, "--vanilla", str(out / "run.R"), *arguments],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"Rscript exited with {done.returncode}:\n{done.stderr[-3000:]}")
        read = {
            f.name: np.fromfile(f, dtype="<f8")
            for f in out.iterdir()
            if f.name not in ("run.R", "tols", "versions")
        }
        versions = (out / "versions").read_text().split()
    read["versions"] = f"R {versions[0]}, glmnet {versions[1]}"
    return read


def _glm_python_fits(system: str, family: str, z, y, alphas, tols, runs: int):
    """Yields ``(tol, seconds, coef, intercept, passes)`` for each of ``tols``: the fastest of
    ``runs`` calls (one when a call takes over 5 s) after a warm-up on the path's first
    strengths (compiled code loaded, imports done)."""
    import warnings

    solve = _glm_solver(system, family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve(z, y, alphas[:3], tols[0], float("inf"))
        for tol in tols:
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                coef, intercept, passes = solve(z, y, alphas, tol, start + GLM_LIMIT)
                times.append(time.perf_counter() - start)
                if times[-1] > 5.0:
                    break
            yield tol, min(times), coef, intercept, passes


def _glmnet_fits(directory: str, family: str, p: int, K: int, tols, runs: int, batch: float):
    """glmnet's paths at every one of ``tols`` in one R process, as ``_glm_python_fits``
    yields them, and the versions of R and glmnet."""
    read = _glmnet_r(directory, family, "path", runs, batch, tols)
    fits = []
    for i, (tol, seconds, passes) in enumerate(read["done"].reshape(-1, 3), start=1):
        coef, intercept = read[f"coef{i}"], read[f"intercept{i}"]
        if family == "multinomial":  # (C, p, K), (C, K)
            coef = coef.reshape((-1, p, K), order="F")
            intercept = intercept.reshape((-1, K), order="F")
        else:
            coef = coef.reshape((p, K), order="F")
        fits.append((float(tol), float(seconds), coef, intercept, int(passes)))
    return fits, read["versions"]


def w_glm(
    system: str, family: str, directory: str, tols: list, runs: int = 1, batch: float = 0.05
) -> dict:
    """One solver's path at each of ``tols`` in turn, in a fresh process: each fit's time,
    strengths finished, passes (research, glmnet), objective at every strength and, once
    ``reference.npy`` exists, largest relative suboptimality. A Python solver stops at the
    first tolerance that passes the shared check, or after a path that stopped at
    ``GLM_LIMIT`` or took ``GLM_BUDGET`` seconds; glmnet runs every one of ``tols``."""
    import numpy as np

    d = Path(directory)
    problem = np.load(d / "problem.npz")
    z, y, alphas, null = problem["z"], problem["y"], problem["alphas"], float(problem["null"])
    reference = np.load(d / "reference.npy") if (d / "reference.npy").exists() else None
    versions = None
    if system == "glmnet":
        fits, versions = _glmnet_fits(directory, family, z.shape[1], alphas.size, tols, runs, batch)
    else:
        fits = _glm_python_fits(system, family, z, y, alphas, tols, runs)
    out = []
    for tol, seconds, coef, intercept, passes in fits:
        finished = int(np.shape(intercept)[-1])
        values = _glm_objectives(family, z, y, alphas[:finished], coef, intercept)
        fit = {
            "tol": tol,
            "seconds": seconds,
            "finished": finished,
            "passes": passes,
            "objectives": values.tolist(),
        }
        if reference is not None:
            fit["max_suboptimality"] = float(((values - reference[:finished]) / null).max())
        out.append(fit)
        if system != "glmnet" and (
            finished < alphas.size
            or seconds > GLM_BUDGET
            or fit.get("max_suboptimality", np.inf) <= GLM_SUBOPTIMALITY
        ):
            break
    return {"fits": out, "versions": versions}


def w_glm_cv(system: str, family: str, directory: str, runs: int = 3, batch: float = 0.05) -> dict:
    """10-fold cross-validation with the problem's folds at glmnet's defaults (its grid of
    100 strengths, tol 1e-7): ``glm_cv`` (folds in threads) or ``cv.glmnet`` (timed in R);
    the fastest of ``runs`` calls after a warm-up, the strengths and mean losses."""
    import numpy as np

    d = Path(directory)
    problem = np.load(d / "problem.npz")
    if system == "glmnet":
        read = _glmnet_r(directory, family, "cv", runs, batch)
        seconds, alpha_min = read["done"]
        alphas, cv_mean = read["lambda"], read["cvm"]
    else:
        from research.glm import glm_cv

        z, y, folds = problem["z"], problem["y"], problem["folds"].astype(np.int64)
        glm_cv(z, y, family=family, fold_ids=folds, alphas=3)  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            cv = glm_cv(z, y, family=family, fold_ids=folds)
            times.append(time.perf_counter() - start)
        seconds, alpha_min, alphas, cv_mean = min(times), cv.alpha_min, cv.alphas, cv.cv_mean
    return {
        "seconds": float(seconds),
        "alpha_min": float(alpha_min),
        "alphas": np.asarray(alphas).tolist(),
        "cv_mean": np.asarray(cv_mean).tolist(),
    }


WORKERS = {
    f.__name__: f
    for f in (
        w_engine,
        w_bare,
        w_pyloop,
        w_keras,
        w_sweep,
        w_overhead,
        w_lasso,
        w_first_result,
        w_glm_problem,
        w_glm,
        w_glm_cv,
    )
}


# --------------------------------------------------------------------------- driver
ONE_DEVICE = {"RESEARCH_CPU_DEVICES": "1"}  # the engine's seeds on one JAX CPU device


IN_PROCESS = False
"""Set by ``--quick``: workers run in this process where that measures the same thing."""
_FRESH_PROCESS = {"w_sweep", "w_first_result"}  # they count compilations / time a cold start


def measure(worker: str, *, env: dict | None = None, one_core: bool = False, **kwargs) -> dict:
    """Runs one worker in a fresh process; returns its result and peak memory.

    ``env``: extra environment (``ONE_DEVICE`` keeps the engine's seeds on one device);
    ``one_core``: the process may run on one core only (``taskset -c 0``). A smoke run
    (``--quick``) runs a worker in this process instead when ``env`` is this process's
    already and the worker neither counts compilations nor times a cold start, so that
    it imports JAX and TensorFlow once (its numbers then check the code paths, not speed:
    compiled code is warm and ``peak_mb`` is the whole process's).
    """
    same_env = all(os.environ.get(k) == v for k, v in (env or {}).items())
    if IN_PROCESS and same_env and not one_core and worker not in _FRESH_PROCESS:
        result = WORKERS[worker](**json.loads(json.dumps(kwargs)))
        return json.loads(json.dumps({**result, "peak_mb": _peak_mb()}))
    command = [sys.executable, __file__, "--worker", worker, json.dumps(kwargs)]
    out = subprocess.run(
        (["taskset", "-c", "0"] if one_core else []) + command,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{worker}({kwargs}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_baseline(checkout: Path, **kwargs) -> dict:
    """The engine of another checkout of this project (``--baseline``), in a fresh process."""
    out = subprocess.run(
        [sys.executable, str(checkout / "scripts" / "benchmark.py"), "--worker", "w_engine",
         json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(checkout)},
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"baseline w_engine({kwargs}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spread(a: list[float], b: list[float]) -> list[float]:
    """The lowest and highest ratio ``a[i] / b[i]`` over the repeats (measured side by side)."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return [min(ratios), max(ratios)]


def case_line_outliers(args) -> dict:
    seeds_list = [8] if args.quick else [1, 100, 1000, 10000]
    rows = []
    for variant in ("l2", "l1_prox"):
        rates: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.repeats):
            # Keras and the Python loop run one seed at a time: their rate per seed is measured
            # once per repeat, alternated with the vectorized systems.
            vectorized = ["w_bare", "w_engine"] + (
                ["w_bare_recorded"] if variant == "l1_prox" else []
            )
            vectorized += ["baseline"] if args.baseline else []
            for system, seeds in [("w_keras", 1), ("w_pyloop", 1)] + [
                (s, n) for n in seeds_list for s in vectorized
            ]:
                if system == "w_bare_recorded":
                    r = measure("w_bare", env=ONE_DEVICE, seeds=seeds, variant="l1_prox_recorded")
                elif system == "baseline":
                    r = measure_baseline(args.baseline, seeds=seeds, variant=variant)
                else:
                    r = measure(system, env=ONE_DEVICE, seeds=seeds, variant=variant)
                key = (system, seeds if system in vectorized else 0)
                rates.setdefault(key, []).append(r["seed_steps"] / r["seconds"])
                rates.setdefault(("peak_mb", key), []).append(r["peak_mb"])
        med = {k: statistics.median(v) for k, v in rates.items()}
        for n in seeds_list:
            e, b = med[("w_engine", n)], med[("w_bare", n)]
            rows.append(
                {
                    "variant": variant,
                    "seeds": n,
                    "engine": e,
                    "bare": b,
                    "keras": med[("w_keras", 0)],
                    "pyloop": med[("w_pyloop", 0)],
                    "engine/keras": e / med[("w_keras", 0)],
                    "engine/bare": e / b,
                    "spread engine/bare": _spread(rates[("w_engine", n)], rates[("w_bare", n)]),
                    "engine/bare_recorded": (
                        e / med[("w_bare_recorded", n)] if variant == "l1_prox" else None
                    ),
                    "bare_recorded": med.get(("w_bare_recorded", n)),
                    "baseline": med.get(("baseline", n)),
                    "baseline/bare": (med[("baseline", n)] / b if args.baseline else None),
                    "engine_peak_mb": med[("peak_mb", ("w_engine", n))],
                    "bare_peak_mb": med[("peak_mb", ("w_bare", n))],
                }
            )
    return {"rows": rows}


def case_cores(args) -> dict:
    """The engine on every core (its default) vs on one core (``taskset -c 0``, one device)
    and vs one device on every core (XLA's own threads only), alternated in each repeat."""
    seeds_list = [512] if args.quick else [1, 10_000]
    setups = {
        "all cores": {},
        "one device": {"env": ONE_DEVICE},
        "one core": {"env": ONE_DEVICE, "one_core": True},
    }
    rows = []
    for variant in ("l1_prox",) if args.quick else ("l2", "l1_prox"):
        for seeds in seeds_list:
            rates: dict[str, list[float]] = {name: [] for name in setups}
            for _ in range(args.repeats):
                for name, how in setups.items():
                    r = measure("w_engine", **how, seeds=seeds, variant=variant)
                    rates[name].append(r["seed_steps"] / r["seconds"])
            med = {k: statistics.median(v) for k, v in rates.items()}
            rows.append(
                {
                    "variant": variant,
                    "seeds": seeds,
                    **med,
                    "all cores/one core": med["all cores"] / med["one core"],
                    "all cores/one device": med["all cores"] / med["one device"],
                    "spread all/one core": _spread(rates["all cores"], rates["one core"]),
                }
            )
    return {"cores": os.cpu_count(), "rows": rows}


def case_sweep(args) -> dict:
    k, s, epochs = (4, 8, 2) if args.quick else (32, 100, EPOCHS)
    return {"strengths": k, "seeds": s, **measure("w_sweep", strengths=k, seeds=s, epochs=epochs)}


def case_overhead(args) -> dict:
    m, steps = (1.0, 5) if args.quick else (10.0, 30)
    results = [measure("w_overhead", params_millions=m, steps=steps) for _ in range(args.repeats)]
    keys = [k for k in results[0] if k.endswith(" ms")]
    out = {"parameters": results[0]["parameters"]}
    for k in keys:
        out[k] = statistics.median(r[k] for r in results)
    base, l1 = out["sgd ms"], out["sgd + proximal(L1) ms"]
    for k in keys:
        out[k.replace(" ms", " / sgd")] = out[k] / base
        out[k.replace(" ms", " / proximal(L1)")] = out[k] / l1
    out["peak_mb"] = max(r["peak_mb"] for r in results)
    return out


def case_lasso(args) -> dict:
    """Each shape: every solver at the loosest tolerance (from 1e-6 down) whose path passes
    the same gap check; then its time, alternated with the others, in ``repeats`` rounds."""
    import numpy as np

    shapes = [(50, 200)] if args.quick else list(LASSO_SHAPES)
    rows = []
    for n, p in shapes:
        tols, first = {}, {}
        for system in ("research", "sklearn", "celer"):
            for tol in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10):
                r = measure("w_lasso", system=system, n=n, p=p, tol=tol, runs=1)
                if r["max_relative_gap"] <= LASSO_GAP:
                    break
            tols[system], first[system] = tol, r
        seconds: dict[str, list[float]] = {s: [] for s in tols}
        for _ in range(args.repeats):
            for system, tol in tols.items():
                seconds[system].append(
                    measure("w_lasso", system=system, n=n, p=p, tol=tol)["seconds"]
                )
        med = {s: statistics.median(t) for s, t in seconds.items()}

        def support(result, p=p):
            bits = np.unpackbits(np.frombuffer(bytes.fromhex(result["support"]), np.uint8))
            return bits[: p * LASSO_ALPHAS].reshape(p, LASSO_ALPHAS).astype(bool)

        # The exact zero pattern, as far as a solver can tell: scikit-learn at tol=1e-12.
        exact = support(measure("w_lasso", system="reference", n=n, p=p, tol=1e-12, runs=1))
        sk_support = support(first["sklearn"])
        row = {"n": n, "p": p, "strengths": LASSO_ALPHAS}
        for system in tols:
            pattern = support(first[system])
            row[system] = {
                "tol": tols[system],
                "max_relative_gap": first[system]["max_relative_gap"],
                "seconds": med[system],
                "seconds_all": seconds[system],
                "peak_mb": first[system]["peak_mb"],
                "zero_pattern_differences_vs_sklearn": int((pattern != sk_support).sum()),
                "strengths_with_sklearn_zero_pattern": int(
                    (pattern == sk_support).all(axis=0).sum()
                ),
                "zero_pattern_differences_vs_exact": int((pattern != exact).sum()),
            }
        row["research/sklearn speed"] = med["sklearn"] / med["research"]
        row["research/celer speed"] = med["celer"] / med["research"]
        row["speed spread"] = {  # the speed ratio in each repeat: min and max
            other: _spread(seconds[other], seconds["research"]) for other in ("sklearn", "celer")
        }
        rows.append(row)
    return {"rows": rows}


def case_compile(args) -> dict:
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(measure("w_first_result", cache_dir=cache)["seconds"])
            warm.append(measure("w_first_result", cache_dir=cache)["seconds"])
    return {
        "cold_seconds": statistics.median(cold),
        "warm_seconds": statistics.median(warm),
        "speedup": statistics.median(cold) / statistics.median(warm),
    }


def _glm_suboptimality(fit: dict, reference, null: float) -> float:
    """A fit's largest relative suboptimality over the strengths it finished."""
    import numpy as np

    values = np.asarray(fit["objectives"])
    return float(((values - reference[: values.size]) / null).max())


def case_glm(args) -> dict:
    """Each shape (``_glm_shape``), then ``glm_cv`` against ``cv.glmnet`` on the first.
    Without R's glmnet the case says so and fills in everything else."""
    shapes = GLM_QUICK_SHAPES if args.quick else GLM_SHAPES
    out: dict = {"glmnet_missing": None, "versions": None, "rows": []}
    with tempfile.TemporaryDirectory(prefix="glm_bench_") as tmp:
        for index, (family, n, p) in enumerate(shapes):
            directory = os.path.join(tmp, str(index))
            os.makedirs(directory)
            out["rows"].append(_glm_shape(args, family, n, p, directory, out))
            if index == 0:
                out["cv"] = _glm_cv_rows(
                    args, family, n, p, directory, out["glmnet_missing"] is None
                )
    return out


def _glm_shape(args, family: str, n: int, p: int, directory: str, out: dict) -> dict:
    """One shape: the strengths of ``glm_path``'s first run; a reference objective at every
    strength (the lower of glm_path's and glmnet's at tol 1e-14); every solver at the
    loosest tolerance (from 1e-4 down) whose path passes the same check (relative
    suboptimality at most 1e-6 at every strength); then the time of each that passes,
    alternated with the others, in ``repeats`` rounds (a path over ``GLM_BUDGET`` seconds:
    its one call in the search). Records in ``out`` why glmnet is missing, if it is."""
    import numpy as np

    classes = GLM_CLASSES[args.quick]
    info = measure("w_glm_problem", family=family, n=n, p=p, classes=classes, directory=directory)
    problem = np.load(os.path.join(directory, "problem.npz"))
    null, K = float(problem["null"]), int(problem["alphas"].size)
    left_out = set(GLM_QUICK_LEAVES_OUT if args.quick else ())
    if out["glmnet_missing"]:
        left_out.add("glmnet")
    systems = [s for s in GLM_SYSTEMS[family] if s not in left_out]
    # --quick: a glmnet call is timed once, not over 0.05 s of calls
    common = {"family": family, "directory": directory, "batch": 0.0 if args.quick else 0.05}
    reference = np.asarray(
        measure("w_glm", system="research", tols=[GLM_REFERENCE_TOL], **common)["fits"][0][
            "objectives"
        ]
    )
    searched: dict[str, list[dict]] = {}
    if "glmnet" in systems:
        try:  # every tolerance and the reference in one R process
            r = measure("w_glm", system="glmnet", tols=[*GLM_TOLS, GLM_REFERENCE_TOL], **common)
            out["versions"] = r["versions"]
            reference = np.minimum(reference, r["fits"][-1]["objectives"])
            searched["glmnet"] = r["fits"][:-1]
        except RuntimeError as error:
            out["glmnet_missing"] = (str(error).strip() or repr(error)).splitlines()[0]
            print(
                "[benchmark] glm: R's glmnet is NOT available, its columns are left out: "
                + out["glmnet_missing"],
                flush=True,
            )
            systems.remove("glmnet")
    np.save(os.path.join(directory, "reference.npy"), reference)
    for system in systems:
        if system != "glmnet":
            searched[system] = measure("w_glm", system=system, tols=list(GLM_TOLS), **common)[
                "fits"
            ]
    chosen = {}
    for system in systems:
        for fit in searched[system]:
            fit["max_suboptimality"] = _glm_suboptimality(fit, reference, null)
        passing = [
            f
            for f in searched[system]
            if f["finished"] == K and f["max_suboptimality"] <= GLM_SUBOPTIMALITY
        ]
        chosen[system] = passing[0] if passing else searched[system][-1]
    passed = [
        s
        for s in systems
        if chosen[s]["finished"] == K and chosen[s]["max_suboptimality"] <= GLM_SUBOPTIMALITY
    ]
    # --quick: the search's times stand (its numbers check the code paths, not speed)
    timed = [] if args.quick else [s for s in passed if chosen[s]["seconds"] <= GLM_BUDGET]
    seconds: dict[str, list[float]] = {s: [] for s in timed}
    for _ in range(args.repeats):
        for system in timed:
            runs = 3 if chosen[system]["seconds"] < 5.0 else 1
            fit = measure(
                "w_glm", system=system, tols=[chosen[system]["tol"]], runs=runs, **common
            )["fits"][0]
            seconds[system].append(fit["seconds"])
    row: dict = {
        "family": family,
        "n": n,
        "p": p,
        "strengths": K,
        "classes": classes if family == "multinomial" else None,
        "first_run_seconds": info["first_run_seconds"],
    }
    for system in systems:
        fit = chosen[system]
        times = seconds.get(system, [fit["seconds"]])
        row[system] = {
            "tol": fit["tol"],
            "passes_check": system in passed,
            "timed_once": system not in timed,
            "max_suboptimality": fit["max_suboptimality"],
            "finished": fit["finished"],
            "seconds": statistics.median(times),
            "seconds_all": times,
            "passes": fit["passes"],
            "tried": {f"{f['tol']:g}": f["max_suboptimality"] for f in searched[system]},
        }
    if "glmnet" in passed and "research" in passed:
        row["research/glmnet speed"] = row["glmnet"]["seconds"] / row["research"]["seconds"]
        a, b = row["glmnet"]["seconds_all"], row["research"]["seconds_all"]
        row["speed spread"] = (
            _spread(a, b) if len(a) == len(b) else [statistics.median(a) / statistics.median(b)] * 2
        )
    return row


def _glm_cv_rows(args, family: str, n: int, p: int, directory: str, with_glmnet: bool) -> dict:
    """``glm_cv`` (its folds in threads on every core, and on one core) vs ``cv.glmnet``
    with the same folds, alternated in ``repeats`` rounds."""
    import numpy as np

    setups = {"research": {}, "research one core": {"one_core": True}}
    if args.quick:
        del setups["research one core"]
    if with_glmnet:
        setups["glmnet"] = {}
    seconds: dict[str, list[float]] = {s: [] for s in setups}
    last: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, how in setups.items():
            system = "glmnet" if name == "glmnet" else "research"
            last[name] = measure(
                "w_glm_cv",
                **how,
                system=system,
                family=family,
                directory=directory,
                runs=1 if args.quick else 3,
                batch=0.0 if args.quick else 0.05,
            )
            seconds[name].append(last[name]["seconds"])
    cv = {
        "family": family,
        "n": n,
        "p": p,
        "folds": GLM_CV_FOLDS,
        "strengths": len(last["research"]["alphas"]),
    }
    for name in setups:
        cv[name] = {"seconds": statistics.median(seconds[name]), "seconds_all": seconds[name]}
    if with_glmnet:
        ours, theirs = last["research"], last["glmnet"]
        a, b = np.asarray(ours["cv_mean"]), np.asarray(theirs["cv_mean"])
        same = a.size == b.size
        cv["max_cv_mean_difference"] = (
            float(np.abs(a - b).max() / np.abs(b).max()) if same else None
        )
        cv["same_strengths"] = same and bool(
            np.allclose(ours["alphas"], theirs["alphas"], rtol=1e-10)
        )
        cv["same_alpha_min"] = bool(np.isclose(ours["alpha_min"], theirs["alpha_min"], rtol=1e-10))
        cv["research/glmnet speed"] = cv["glmnet"]["seconds"] / cv["research"]["seconds"]
        cv["speed spread"] = _spread(seconds["glmnet"], seconds["research"])
        if "research one core" in cv:
            cv["research one core/glmnet speed"] = (
                cv["glmnet"]["seconds"] / cv["research one core"]["seconds"]
            )
    return cv


CASES = {
    "line_outliers": case_line_outliers,
    "cores": case_cores,
    "sweep": case_sweep,
    "overhead": case_overhead,
    "lasso": case_lasso,
    "compile": case_compile,
    "glm": case_glm,
}


CASE_ALIASES = {"seed002": "line_outliers"}  # the case's old name


def print_tables(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    if "line_outliers" in results:
        t = Table(
            title="1. Line with outliers (5 epochs x 40 steps, batch 1): seed-steps/s, medians"
        )
        for c in (
            "penalty",
            "seeds",
            "engine",
            "bare loop",
            "bare + penalty",
            "Keras fit",
            "Python loop",
            "engine/Keras",
            "engine/bare (spread)",
            "engine/bare+pen",
            "baseline/bare",
            "engine MB",
        ):
            t.add_column(c, justify="right")
        for r in results["line_outliers"]["rows"]:
            t.add_row(
                r["variant"],
                f"{r['seeds']:,}",
                f"{r['engine']:,.0f}",
                f"{r['bare']:,.0f}",
                "-" if r.get("bare_recorded") is None else f"{r['bare_recorded']:,.0f}",
                f"{r['keras']:,.0f}",
                f"{r['pyloop']:,.0f}",
                f"{r['engine/keras']:,.0f}x",
                "{:.2f}x ({:.2f}-{:.2f})".format(r["engine/bare"], *r["spread engine/bare"]),
                "-"
                if r.get("engine/bare_recorded") is None
                else f"{r['engine/bare_recorded']:.2f}x",
                "-" if r.get("baseline/bare") is None else f"{r['baseline/bare']:.2f}x",
                f"{r['engine_peak_mb']:.0f}",
            )
        console.print(t)
    if "cores" in results:
        t = Table(
            title=f"1b. Cores: the engine's seed-steps/s on all {results['cores']['cores']} cores "
            "(its default) vs one core and vs one device, medians"
        )
        for c in ("penalty", "seeds", "all cores", "one device", "one core", "all/one core",
                  "all/one device"):  # fmt: skip
            t.add_column(c, justify="right")
        for r in results["cores"]["rows"]:
            lo, hi = r["spread all/one core"]
            t.add_row(
                r["variant"],
                f"{r['seeds']:,}",
                f"{r['all cores']:,.0f}",
                f"{r['one device']:,.0f}",
                f"{r['one core']:,.0f}",
                f"{r['all cores/one core']:.2f}x ({lo:.2f}-{hi:.2f})",
                f"{r['all cores/one device']:.2f}x",
            )
        console.print(t)
    if "sweep" in results:
        r = results["sweep"]
        console.print(
            f"2. Sweep {r['strengths']} strengths x {r['seeds']} seeds: one vmapped program "
            f"{r['vmapped_seconds']:.2f} s vs {r['strengths']} runs {r['separate_seconds']:.2f} s "
            f"({r['separate_seconds'] / r['vmapped_seconds']:.1f}x); including compilation "
            f"{r['vmapped_seconds_with_compile']:.2f} s vs "
            f"{r['separate_seconds_with_compile']:.2f} s; "
            f"compilations of the training program: vmapped {r['program_compiles_vmapped']}, "
            f"after new strength values {r['program_compiles_vmapped_new_values']}, "
            f"{r['strengths']} separate runs {r['program_compiles_separate_runs']}"
        )
    if "overhead" in results:
        r = results["overhead"]
        t = Table(title=f"3. Step time at {r['parameters'] / 1e6:.1f}M parameters (medians)")
        for c in ("step", "ms", "/ sgd", "/ sgd + proximal(L1)"):
            t.add_column(c, justify="left" if c == "step" else "right")
        for k, v in r.items():
            if k.endswith(" ms"):
                name = k.removesuffix(" ms")
                t.add_row(
                    name,
                    f"{v:.2f}",
                    f"{r[name + ' / sgd']:.3f}x",
                    f"{r[name + ' / proximal(L1)']:.3f}x",
                )
        console.print(t)
    if "lasso" in results:
        t = Table(
            title=f"4. Lasso path, {LASSO_ALPHAS} strengths, float64, relative duality gap "
            f"<= {LASSO_GAP:g} at every strength: seconds (medians), ratios"
        )
        for c in (
            "n",
            "p",
            "research",
            "scikit-learn",
            "celer",
            "research/sklearn",
            "research/celer",
            "tol r / s / c",
            "max gap r / s / c",
            "strengths with sklearn's zeros: r / c",
            "zeros off tol=1e-12: r / s / c",
        ):
            t.add_column(c, justify="right")
        for r in results["lasso"]["rows"]:
            systems = ("research", "sklearn", "celer")
            spread = r["speed spread"]
            t.add_row(
                f"{r['n']:,}",
                f"{r['p']:,}",
                f"{r['research']['seconds']:.3f}",
                f"{r['sklearn']['seconds']:.3f}",
                f"{r['celer']['seconds']:.3f}",
                f"{r['research/sklearn speed']:.2f}x "
                f"({spread['sklearn'][0]:.2f}-{spread['sklearn'][1]:.2f})",
                f"{r['research/celer speed']:.2f}x "
                f"({spread['celer'][0]:.2f}-{spread['celer'][1]:.2f})",
                " / ".join(f"{r[s]['tol']:g}" for s in systems),
                " / ".join(f"{r[s]['max_relative_gap']:.1e}" for s in systems),
                f"{r['research']['strengths_with_sklearn_zero_pattern']} / "
                f"{r['celer']['strengths_with_sklearn_zero_pattern']}",
                " / ".join(str(r[s]["zero_pattern_differences_vs_exact"]) for s in systems),
            )
        console.print(t)
    if "compile" in results:
        r = results["compile"]
        console.print(
            f"5. Time to first result (default experiment, fresh process): cold cache "
            f"{r['cold_seconds']:.1f} s, warm cache {r['warm_seconds']:.1f} s ({r['speedup']:.2f}x)"
        )
    if "glm" in results:
        _print_glm(console, results["glm"])


GLM_NAMES = {
    "research": "research",
    "glmnet": "glmnet",
    "sklearn": "scikit-learn",
    "skglm": "skglm",
    "celer": "celer",
}


def _print_glm(console, r: dict) -> None:
    """Table 6: the GLM paths, and the cross-validation line."""
    from rich.table import Table

    if r["glmnet_missing"]:
        console.print(
            f"6. GLM paths: R's glmnet is NOT available ({r['glmnet_missing']}); "
            "its columns are left out"
        )
    t = Table(
        title=f"6. GLM paths, L1, the same strengths, each solver within {GLM_SUBOPTIMALITY:g} "
        "(relative) of the best objective at every strength: seconds (medians), ratios"
        + (f"; {r['versions']}" if r["versions"] else "")
    )
    for c in ("family", "n", "p", "K", *GLM_NAMES.values(), "research/glmnet", "passes r / g"):
        t.add_column(c, justify="right")

    def power(x: float) -> str:  # 3e-07 -> 3e-7
        return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")

    def seconds(row, system):
        entry = row.get(system)
        if entry is None:
            return "-"
        if entry["finished"] < row["strengths"]:  # stopped at the time limit
            return f">{entry['seconds']:.0f} ({entry['finished']}/{row['strengths']})"
        mark = "*" if not entry["passes_check"] else "+" if entry["timed_once"] else ""
        return f"{entry['seconds']:.3f}{mark}"

    def accuracy(row, system):
        entry = row.get(system)
        if entry is None:
            return "-"
        return f"{power(entry['tol'])}: {power(entry['max_suboptimality'])}"

    def shape(row):
        family = row["family"] + (f" ({row['classes']})" if row["classes"] else "")
        return family, f"{row['n']:,}", f"{row['p']:,}"

    for row in r["rows"]:
        ratio = "-"
        if "research/glmnet speed" in row:
            lo, hi = row["speed spread"]
            ratio = f"{row['research/glmnet speed']:.2f}x ({lo:.2f}-{hi:.2f})"
        passes = " / ".join(
            str(row[s]["passes"]) if s in row else "-" for s in ("research", "glmnet")
        )
        t.add_row(
            *shape(row),
            str(row["strengths"]),
            *(seconds(row, s) for s in GLM_NAMES),
            ratio,
            passes,
        )
    t.caption = (
        f"K strengths. research/glmnet: glmnet's time over research's (> 1: research faster), "
        f"the lowest and highest over the repeats. * did not pass the check: its time at the "
        f"tightest tolerance tried (none tighter once a path takes over {GLM_BUDGET:g} s), a "
        f"lower bound; + passed, timed once (a path over {GLM_BUDGET:g} s, or --quick, which "
        f"also leaves out {', '.join(GLM_QUICK_LEAVES_OUT)}); >T (k/K): stopped after "
        f"{GLM_LIMIT:g} s with k of K strengths done. passes: glm_path's n_passes, glmnet's "
        "npasses"
    )
    console.print(t)
    t = Table(
        title="6a. The tolerance each solver ran at: its largest relative suboptimality over "
        "the strengths"
    )
    for c in ("family", "n", "p", *GLM_NAMES.values()):
        t.add_column(c, justify="right")
    for row in r["rows"]:
        t.add_row(*shape(row), *(accuracy(row, s) for s in GLM_NAMES))
    t.caption = (
        "tol: glm_path's and glmnet's thresh, saga's tol, skglm ProxNewton's tol, celer's "
        "prox-Newton tol. Suboptimality: (objective - best) / the intercept-only model's "
        "objective, with glmnet's objective (mean loss + alpha ||coef||_1 on standardized "
        "features) and the best from glm_path and glmnet at tol 1e-14"
    )
    console.print(t)
    cv = r.get("cv")
    if cv:
        text = (
            f"6b. glm_cv vs cv.glmnet ({cv['family']}, n={cv['n']:,}, p={cv['p']:,}, "
            f"{cv['folds']} folds with the same fold ids, glmnet's defaults: tol 1e-7, "
            f"{cv['strengths']} strengths): glm_cv {cv['research']['seconds']:.3f} s "
            "(folds in threads on every core)"
        )
        if "research one core" in cv:
            text += f", on one core {cv['research one core']['seconds']:.3f} s"
        if "glmnet" in cv:
            lo, hi = cv["speed spread"]
            text += (
                f"; cv.glmnet {cv['glmnet']['seconds']:.3f} s (sequential); research/glmnet "
                f"{cv['research/glmnet speed']:.2f}x ({lo:.2f}-{hi:.2f})"
            )
            if "research one core/glmnet speed" in cv:
                text += f", on one core {cv['research one core/glmnet speed']:.2f}x"
            diff = cv["max_cv_mean_difference"]
            text += (
                f"; same strengths: {cv['same_strengths']}, same lambda.min: "
                f"{cv['same_alpha_min']}, largest cvm difference "
                + ("-" if diff is None else f"{diff:.1e}")
                + " (relative)"
            )
        console.print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=[*CASES, *CASE_ALIASES], default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of this project: its engine is measured beside this one "
        "(line_outliers case; e.g. a git worktree of the previous release)",
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, kwargs = args.worker
        result = WORKERS[name](**json.loads(kwargs))
        print(json.dumps({**result, "peak_mb": _peak_mb()}))
        return
    if args.quick:
        args.repeats = 1
        global IN_PROCESS
        IN_PROCESS = True
    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "quick": args.quick,
    }
    for name in dict.fromkeys(CASE_ALIASES.get(c, c) for c in args.cases):
        print(f"[benchmark] {name} ...", flush=True)
        results[name] = CASES[name](args)
    print_tables(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
