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
6. ``glm``: ``glm_path`` and ``glm_cv`` against R's glmnet and others (scripts/bench_glm.py).

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
import statistics
import tempfile
import time
from pathlib import Path

import bench_common
import bench_glm
from bench_common import ONE_DEVICE, _peak_mb, _spread, measure, measure_baseline

EPOCHS = 5
N_TRAIN = 40
LR = 0.01
STRENGTH = 0.3
WIDTHS = (1, 10, 10, 10, 1)
TIMED_RUNS = 7  # engine and bare loop: the fastest of at least this many runs per process...
TIMED_SECONDS = 1.0  # ...and of as many more as fit in this time (short runs: hundreds)


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


# --------------------------------------------------------------------------- driver
# Every worker, this script's and bench_glm's: for ``--worker`` and ``measure``.
bench_common.WORKERS.update(
    {
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
            bench_glm.w_glm_problem,
            bench_glm.w_glm,
            bench_glm.w_glm_cv,
        )
    }
)


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


CASES = {
    "line_outliers": case_line_outliers,
    "cores": case_cores,
    "sweep": case_sweep,
    "overhead": case_overhead,
    "lasso": case_lasso,
    "compile": case_compile,
    "glm": bench_glm.case_glm,
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
        bench_glm._print_glm(console, results["glm"])


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
        result = bench_common.WORKERS[name](**json.loads(kwargs))
        print(json.dumps({**result, "peak_mb": _peak_mb()}))
        return
    if args.quick:
        args.repeats = 1
        bench_common.IN_PROCESS = True
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
