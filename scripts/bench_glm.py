"""Case 6 of scripts/benchmark.py, ``glm``: GLM paths against glmnet and others.

``research.glm_path`` against R's glmnet (timed inside R), scikit-learn's
saga ``LogisticRegression``, skglm's ``ProxNewton`` and celer's ``celer_path`` where
they fit the family: binomial (n=1000, p=500; n=200, p=5000; n=20000, p=200),
multinomial (10 classes, n=5000, p=100) and Poisson (n=10000, p=100), L1, the
strengths of glmnet's grid, each at the loosest ``tol`` (from 1e-4) whose path is
within 1e-6 (relative) of the best objective at every strength, by one shared check;
then ``glm_cv`` against ``cv.glmnet`` with the same 10 folds. ``--quick`` makes it
tiny; without R's glmnet it says so and leaves glmnet out.

Run through scripts/benchmark.py (``--cases glm``), which registers the workers here
(``bench_common.WORKERS``) and prints table 6 with ``_print_glm``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_common import _spread, measure

# --------------------------------------------------------------------------- workers
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


# --------------------------------------------------------------------------- the case
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


# --------------------------------------------------------------------------- table 6
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
