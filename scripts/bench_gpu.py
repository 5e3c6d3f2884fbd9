"""The GPU benchmark: the line-with-outliers table up to 1,000,000 seeds, and the Lasso path.

On a CUDA machine (Linux, an NVIDIA driver for CUDA 12):

  pip install -e '.[gpu]'   # JAX with CUDA 12 (the jax[cuda12] extra)
  make bench-gpu            # = python scripts/bench_gpu.py --json outputs/bench_gpu.json

Every measurement runs in a fresh process (``--worker``), so that its peak
memory is its own: ``memory_stats()["peak_bytes_in_use"]`` of the device, or,
where the platform keeps no such statistics (``memory_stats()`` is None on
CPU), the process's peak resident set size, labelled so. Parts:

1. ``line_outliers``: scripts/benchmark.py's engine and bare-loop workers (the
   1-10-10-10-1 linear MLP, 5 epochs x 40 steps of batch 1) with L2 0.3
   (``method=subgradient``) and proximal L1 0.3 at 1,000 to 1,000,000 seeds:
   seed-steps/s of the fastest of at least 7 warm runs, engine/bare, peak
   memory. A seed count that does not fit in device memory is a row that says
   "out of memory".
2. ``lasso``: ``research.lasso_path(X, y, alphas=50, tol=1e-6)`` next to
   scikit-learn's ``lasso_path`` at the same tol, float64, on three shapes;
   the fastest of 3 runs after a warm-up. Both solve on the host CPU (so their
   memory is peak RSS). The duality gap of both solvers' coefficients is
   computed here, against scikit-learn's stopping rule ``gap <= tol * ||y||^2 / n``.

A time budget (``--budget``, 285 s) bounds the whole run: a measurement whose
predicted time does not fit in what is left is skipped, one that outruns it is
stopped, and the tables say which. Without a CUDA GPU the script says so and
exits 0; ``--cpu`` runs the same code paths on CPU at tiny sizes (a smoke test).

  python scripts/bench_gpu.py --json outputs/bench_gpu.json --budget 600
  python scripts/bench_gpu.py --cpu --json /tmp/bench_gpu_smoke.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
VARIANTS = {"l2": "L2 0.3 (subgradient)", "l1_prox": "proximal L1 0.3"}
SYSTEMS = ("w_bare", "w_engine")
OUT_OF_MEMORY = "out of memory"


class Sizes:
    """What each mode measures: seed counts, Lasso shapes (n, p) and the path's settings."""

    def __init__(self, cpu: bool):
        self.seeds = (8,) if cpu else (1_000, 10_000, 100_000, 1_000_000)
        self.lasso_shapes = ((60, 40),) if cpu else ((1000, 500), (200, 5000), (20000, 200))
        self.n_alphas = 50
        self.tol = 1e-6
        self.lasso_runs = 3  # timed runs after the warm-up (fewer where a run is long)


# --------------------------------------------------------------------------- workers
def _is_oom(text: str) -> bool:
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def guarded(fn) -> dict:
    """``fn()``'s result, or ``{"status": "out of memory"}`` where the device ran out of it.

    XLA reports an allocation that does not fit as ``RESOURCE_EXHAUSTED: Out of
    memory ...`` (a ``JaxRuntimeError``); other errors propagate.
    """
    try:
        return {"status": "ok", **fn()}
    except Exception as e:
        if not _is_oom(str(e)):
            raise
        return {"status": OUT_OF_MEMORY, "error": str(e)[:500]}


def peak_memory(device: bool) -> dict:
    """The device's peak bytes in use (this process is its only user), else peak RSS."""
    if device:
        import jax

        stats = jax.devices()[0].memory_stats()
        if stats and "peak_bytes_in_use" in stats:
            return {
                "peak_bytes": int(stats["peak_bytes_in_use"]),
                "memory": f"{jax.devices()[0].platform} peak_bytes_in_use",
                "bytes_limit": stats.get("bytes_limit"),
            }
    # ru_maxrss is in KiB on Linux.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_bytes": rss, "memory": "host peak RSS", "bytes_limit": None}


def w_devices() -> dict:
    import jax

    try:
        cuda = [str(d) for d in jax.devices("cuda")]
    except RuntimeError:  # "Unknown backend cuda": no plugin, no driver or no GPU
        cuda = []
    d = jax.devices()[0]
    return {
        "devices": [str(d) for d in jax.devices()],
        "cuda": cuda,
        "device_kind": d.device_kind,
        "platform_version": getattr(d.client, "platform_version", ""),
        "jax": jax.__version__,
    }


def w_line(system: str, seeds: int, variant: str, smoke: bool) -> dict:
    """scripts/benchmark.py's ``w_engine`` or ``w_bare`` (the fastest of >= 7 warm runs)."""
    sys.path.insert(0, str(SCRIPTS))
    import benchmark

    if smoke and hasattr(benchmark, "TIMED_SECONDS"):
        benchmark.TIMED_SECONDS = 0.0  # code paths, not speed: 7 runs, not topped up to 1 s
    epochs = getattr(benchmark, "EPOCHS", 5)
    r = getattr(benchmark, system)(seeds, variant, epochs)
    return {"seconds": r["seconds"], "seed_steps": r["seed_steps"], "epochs": epochs}


def lasso_problem(n: int, p: int):
    """``n`` training rows of ``research.data.sparse_regression`` (its test fifth unused)."""
    import numpy as np

    from research.data import sparse_regression

    d = sparse_regression(
        n_samples=round(n / 0.8), n_features=p, n_informative=20, noise=0.5, seed=0
    )
    x, y = d.x_train.astype(np.float64), d.y_train[:, 0].astype(np.float64)
    assert x.shape == (n, p), x.shape
    return x, y


def lasso_gaps(x, y, alphas, coefs):
    """Objective and duality gap of each path point, for ``||y - Xw||^2 / 2n + alpha ||w||_1``.

    The dual point is the residual scaled into the dual's feasible set
    ``||X^T theta||_inf <= n alpha``; the gap ``P(w) - D(theta)`` bounds how far
    ``P(w)`` is above the optimum (scikit-learn's ``dual_gaps``, formulation A).
    """
    import numpy as np

    n = len(y)
    resid = y[:, None] - x @ coefs  # (n, K)
    primal = 0.5 * np.sum(resid**2, axis=0) / n + alphas * np.abs(coefs).sum(axis=0)
    corr = np.abs(x.T @ resid).max(axis=0)
    theta = resid * np.minimum(1.0, n * alphas / np.maximum(corr, np.finfo(float).tiny))
    dual = (theta.T @ y - 0.5 * np.sum(theta**2, axis=0)) / n
    return primal, primal - dual


def w_lasso(solver: str, n: int, p: int, n_alphas: int, tol: float, runs: int) -> dict:
    """One solver's path: warm-up, then the fastest of ``runs`` (fewer if a run is long)."""
    import numpy as np

    x, y = lasso_problem(n, p)
    if solver == "research":
        import research

        path = getattr(research, "lasso_path", None)
        if path is None:
            return {"status": "research.lasso_path is missing in this checkout"}
    else:
        from sklearn.linear_model import lasso_path as path

    alphas, coefs, gaps = path(x, y, alphas=n_alphas, tol=tol)  # warm-up (compiles)
    times = []
    while len(times) < runs and sum(times) < 10.0:
        start = time.perf_counter()
        alphas, coefs, gaps = path(x, y, alphas=n_alphas, tol=tol)
        np.asarray(coefs)  # on the host, as scikit-learn's
        times.append(time.perf_counter() - start)
    alphas, coefs = np.asarray(alphas, np.float64), np.asarray(coefs, np.float64)
    objective, gap = lasso_gaps(x, y, alphas, coefs)
    return {
        "seconds": min(times),
        "runs": len(times),
        "alphas": alphas.tolist(),
        "objective": objective.tolist(),
        "gap": gap.tolist(),
        "gap_tolerance": tol * float(y @ y) / n,  # scikit-learn stops at gap <= this
        "reported_max_dual_gap": float(np.max(gaps)),
    }


WORKERS = {f.__name__: f for f in (w_devices, w_line, w_lasso)}


# --------------------------------------------------------------------------- driver
class Budget:
    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)


def measure(worker: str, env: dict, timeout: float | None, **kwargs) -> dict:
    """Runs one worker in a fresh process; a failure becomes a status, not an exception."""
    start = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", worker, json.dumps(kwargs)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"status": "stopped: time budget", "wall": time.perf_counter() - start}
    wall = time.perf_counter() - start
    if out.returncode != 0:
        tail = out.stderr.strip()[-2000:]
        last = tail.splitlines()[-1] if tail else ""
        status = OUT_OF_MEMORY if _is_oom(tail) else f"failed (exit {out.returncode}): {last}"
        return {"status": status, "wall": wall, "stderr": tail}
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall": wall}


def predict_line(done: dict, system: str, variant: str, seeds: int) -> float | None:
    """Seconds the next seed count will take: the last one's fixed cost plus its runs, scaled.

    Run time is taken as linear in seeds (an overestimate while the device is not
    full); a worker times a warm-up plus at least 7 runs and at least 1 s of them.
    """
    prev = [(s, r) for (sy, v, s), r in done.items() if (sy, v) == (system, variant)]
    if not prev:
        return None
    s0, r0 = max(prev)
    if "seconds" not in r0:
        return None
    run0, run1 = r0["seconds"], r0["seconds"] * seeds / s0
    timed = lambda r: r + max(7 * r, 1.0)  # noqa: E731
    return r0["wall"] - timed(run0) + timed(run1)


def plan(sizes: Sizes) -> list[list[tuple]]:
    """Stages of measurements, by size: each seed count, and a Lasso shape beside it.

    What a stage skips is decided from the stages before it.
    """
    stages = []
    shapes = list(sizes.lasso_shapes)
    for seeds in sizes.seeds:
        stage = [("line", s, v, seeds) for v in VARIANTS for s in SYSTEMS]
        if shapes:
            n, p = shapes.pop(0)
            stage += [("lasso", solver, n, p) for solver in ("research", "sklearn")]
        stages.append(stage)
    return stages


def run_line(job, done, env, budget, smoke) -> dict:
    _, system, variant, seeds = job
    smaller = [s for (sy, v, s), r in done.items() if (sy, v) == (system, variant) and s < seeds]
    if smaller and done[(system, variant, max(smaller))]["status"].startswith(OUT_OF_MEMORY):
        return {"status": f"{OUT_OF_MEMORY} (not run: {max(smaller):,} seeds did not fit)"}
    predicted = predict_line(done, system, variant, seeds)
    if budget.left() < 1.0 or (predicted is not None and predicted > budget.left()):
        return {"status": "skipped: time budget", "predicted_seconds": predicted}
    return measure(
        "w_line", env, budget.left(), system=system, seeds=seeds, variant=variant, smoke=smoke
    )


def line_rows(done: dict, sizes: Sizes) -> list[dict]:
    rows = []
    for variant in VARIANTS:
        for seeds in sizes.seeds:
            row: dict = {"variant": variant, "seeds": seeds}
            for system in SYSTEMS:
                r = done.get((system, variant, seeds), {"status": "skipped: time budget"})
                name = system.removeprefix("w_")
                rate = r["seed_steps"] / r["seconds"] if r.get("status") == "ok" else None
                row[name] = rate
                row[f"{name}_status"] = r["status"]
                row[f"{name}_peak_bytes"] = r.get("peak_bytes")
                row[f"{name}_memory"] = r.get("memory")
                row[f"{name}_bytes_limit"] = r.get("bytes_limit")
                row[f"{name}_wall_seconds"] = r.get("wall")
            ok = row["engine"] is not None and row["bare"] is not None
            row["engine/bare"] = row["engine"] / row["bare"] if ok else None
            rows.append(row)
    return rows


def lasso_row(n: int, p: int, research: dict, sk: dict) -> dict:
    import numpy as np

    row: dict = {"n": n, "p": p}
    for name, r in (("research", research), ("sklearn", sk)):
        row[name] = {k: r.get(k) for k in ("status", "seconds", "runs", "peak_bytes", "memory")}
        row[name]["wall_seconds"] = r.get("wall")
        if r.get("status") == "ok":
            row[name]["max_gap"] = max(r["gap"])
            row[name]["max_gap/tolerance"] = max(r["gap"]) / r["gap_tolerance"]
            row[name]["reported_max_dual_gap"] = r["reported_max_dual_gap"]
    if research.get("status") == "ok" and sk.get("status") == "ok":
        a_r, a_s = np.asarray(research["alphas"]), np.asarray(sk["alphas"])
        row["alphas_match"] = bool(a_r.shape == a_s.shape and np.allclose(a_r, a_s, rtol=1e-9))
        row["research/sklearn speed"] = sk["seconds"] / research["seconds"]
        if row["alphas_match"]:
            o_r, o_s = np.asarray(research["objective"]), np.asarray(sk["objective"])
            # Both objectives are within their own gap of the one optimum at each alpha.
            slack = np.asarray(research["gap"]) + np.asarray(sk["gap"]) + 1e-12 * np.abs(o_s)
            row["max_relative_objective_diff"] = float(np.max(np.abs(o_r - o_s) / o_s))
            row["objective_diff_within_gaps"] = bool(np.all(np.abs(o_r - o_s) <= slack))
    return row


def run_job(job: tuple, done: dict, env: dict, budget: Budget, sizes: Sizes, smoke: bool):
    if job[0] == "line":
        return run_line(job, done, env, budget, smoke)
    if budget.left() < 1.0:
        return {"status": "skipped: time budget"}
    _, solver, n, p = job
    return measure(
        "w_lasso", env, budget.left(), solver=solver, n=n, p=p,
        n_alphas=sizes.n_alphas, tol=sizes.tol, runs=sizes.lasso_runs,
    )  # fmt: skip


def run_all(sizes: Sizes, env: dict, budget: Budget, smoke: bool, jobs: int) -> dict:
    """Runs the plan, ``jobs`` measurements at a time (1 on a GPU: they share it)."""
    done: dict = {}
    lasso: dict = {}
    with ThreadPoolExecutor(jobs) as pool:
        for stage in plan(sizes):
            before = dict(done)
            futures = [
                (job, pool.submit(run_job, job, before, env, budget, sizes, smoke)) for job in stage
            ]
            for job, future in futures:
                r = future.result()
                (done if job[0] == "line" else lasso)[job[1:]] = r
                label = " ".join(f"{j:,}" if isinstance(j, int) else j for j in job)
                took = f"{r['wall']:.1f} s" if "wall" in r else "not run"
                print(f"[bench-gpu] {label}: {r['status']} ({took}, {budget.left():.0f} s left)")
    skipped = lambda r: r["status"].startswith(("skipped", "stopped"))  # noqa: E731
    return {
        "line_outliers": {"rows": line_rows(done, sizes)},
        "lasso": {
            "n_alphas": sizes.n_alphas,
            "tol": sizes.tol,
            "rows": [
                lasso_row(n, p, lasso[("research", n, p)], lasso[("sklearn", n, p)])
                for n, p in sizes.lasso_shapes
                if ("research", n, p) in lasso
            ],
        },
        "not_measured_for_time": [
            " ".join(map(str, k)) for k, r in [*done.items(), *lasso.items()] if skipped(r)
        ],
    }


# --------------------------------------------------------------------------- report
def _mem(nbytes) -> str:
    return "-" if nbytes is None else f"{nbytes / 2**20:,.0f} MiB"


def _rate(row: dict, name: str) -> str:
    return f"{row[name]:,.0f}" if row[name] is not None else row[f"{name}_status"]


def print_tables(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    rows = results["line_outliers"]["rows"]
    memory = sorted({r[k] for r in rows for k in ("engine_memory", "bare_memory") if r[k]})
    t = Table(
        title=f"1. Line with outliers on {results['device']} (5 epochs x 40 steps, batch 1): "
        f"seed-steps/s, fastest of >= 7 warm runs; memory: {', '.join(memory) or '-'}"
    )
    for c in ("penalty", "seeds", "engine", "bare loop", "engine/bare", "engine peak", "bare peak"):
        t.add_column(c, justify="right")
    for r in rows:
        ratio = "-" if r["engine/bare"] is None else f"{r['engine/bare']:.2f}x"
        t.add_row(
            VARIANTS[r["variant"]], f"{r['seeds']:,}", _rate(r, "engine"), _rate(r, "bare"),
            ratio, _mem(r["engine_peak_bytes"]), _mem(r["bare_peak_bytes"]),
        )  # fmt: skip
    console.print(t)
    lasso = results["lasso"]
    t = Table(
        title=f"2. Lasso path, {lasso['n_alphas']} alphas, tol={lasso['tol']:g}, float64: "
        "seconds (fastest of 3 after a warm-up); gap/tol = max duality gap / (tol ||y||^2 / n)"
    )
    for c in ("n", "p", "research", "sklearn", "research/sklearn", "gap/tol research",
              "gap/tol sklearn", "objective diff", "research peak", "sklearn peak"):  # fmt: skip
        t.add_column(c, justify="right")
    for r in lasso["rows"]:
        res, sk = r["research"], r["sklearn"]
        cell = lambda d, k, f: "-" if d.get(k) is None else format(d[k], f)  # noqa: E731
        t.add_row(
            f"{r['n']:,}", f"{r['p']:,}",
            cell(res, "seconds", ".3f") if res["status"] == "ok" else res["status"],
            cell(sk, "seconds", ".3f") if sk["status"] == "ok" else sk["status"],
            "-" if "research/sklearn speed" not in r else f"{r['research/sklearn speed']:.2f}x",
            cell(res, "max_gap/tolerance", ".2g"), cell(sk, "max_gap/tolerance", ".2g"),
            cell(r, "max_relative_objective_diff", ".1e"),
            _mem(res.get("peak_bytes")), _mem(sk.get("peak_bytes")),
        )  # fmt: skip
    console.print(t)
    skipped = results["not_measured_for_time"]
    console.print(
        f"Total {results['seconds']:.0f} s of a {results['budget_seconds']:.0f} s budget; "
        + (f"not measured for time: {', '.join(skipped)}" if skipped else "everything measured")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="write the results here (outputs/bench_gpu.json; with --cpu bench_gpu_smoke.json)",
    )
    parser.add_argument("--budget", type=float, default=285.0, help="seconds for the whole run")
    parser.add_argument(
        "--cpu", action="store_true", help="smoke test: the same code paths on CPU, tiny sizes"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, kwargs = args.worker
        result = guarded(lambda: WORKERS[name](**json.loads(kwargs)))
        # Both Lasso solvers run on the host (research.lasso_path is compiled with numba).
        print(json.dumps({**peak_memory(device=name == "w_line"), **result}))
        return
    budget = Budget(args.budget)
    env = {**os.environ}
    jobs = 1  # one at a time on the GPU, so that each has it to itself
    if args.cpu:
        # The smoke test checks code paths, not speed: measurements run side by side,
        # and XLA does not spend its ~15 s optimizing each program for this CPU.
        jobs = os.cpu_count() or 1
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0"
    devices = measure("w_devices", env, None)
    if devices["status"] != "ok":
        sys.exit(f"could not list JAX's devices: {devices['status']}")
    if not args.cpu and not devices.get("cuda"):
        print(f"no CUDA GPU visible to JAX (devices: {devices.get('devices', devices)}); "
              "nothing to measure")  # fmt: skip
        return
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "mode": "cpu smoke test" if args.cpu else "gpu",
        "device": f"{devices['device_kind']} ({devices['platform_version']})",
        "devices": devices["devices"],
        "jax": devices["jax"],
        "host": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "budget_seconds": args.budget,
        **run_all(Sizes(cpu=args.cpu), env, budget, smoke=args.cpu, jobs=jobs),
        "seconds": args.budget - budget.left(),
    }
    print_tables(results)
    path = args.json or Path(f"outputs/bench_gpu{'_smoke' if args.cpu else ''}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"[bench-gpu] wrote {path}")


if __name__ == "__main__":
    main()
