"""Figures 17-19, beyond the source documents: non-convex penalties against L1.

Figure 17 draws the library's proximal maps (no training): soft (L1), hard (L0)
and firm (MCP) thresholding, SCAD, L1/2 and log-sum. Figure 18 measures L1's
bias on ``sparse_regression``, whose true coefficients are known (sweep
``nonconvex_bias``): where a penalty recovers the zero pattern best, L1 has
shrunk the nonzero coefficients by about its strength, and MCP, SCAD and L0 have
not. Figure 19 trains the blog post's network with proximal L1, MCP and L0 over
a grid of strengths (sweep ``nonconvex_network``) and counts the units each
disconnects against its test error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research import figures
from research.data import Dataset
from research.paper.blog_post import NUM_UNITS, sparsity_counts
from research.paper.output import Figure, save
from research.paper.reference import BLOG_POST
from research.paper.sweeps import Sweep, Sweeps
from research.regularizers import L0, L1, MCP, SCAD, LogSum, Lq, Regularizer
from research.results import Results

__all__ = [
    "THRESHOLDING",
    "fig17_thresholding",
    "fig18_nonconvex_bias",
    "fig19_nonconvex_network",
    "support_scores",
    "threshold",
]

THRESHOLDING: dict[str, tuple[str, Regularizer]] = {  # name -> (title, penalty at strength 1)
    "l1": ("L1: soft", L1(1.0)),
    "l0": ("L0: hard", L0(1.0)),
    "mcp": ("MCP (gamma = 3): firm", MCP(1.0, gamma=3.0)),
    "scad": ("SCAD (a = 3.7)", SCAD(1.0, a=3.7)),
    "lq": ("L1/2 (Lq, q = 1/2)", Lq(1.0, q=0.5)),
    "log_sum": ("log-sum (eps = 1)", LogSum(1.0, eps=1.0)),
}
"""The penalties of figure 17, each at strength 1 with its class's default option."""

TITLES = {"l1": "L1", "mcp": "MCP", "scad": "SCAD", "l0": "L0"}


def _prox(reg: Regularizer, v: np.ndarray, step: float) -> np.ndarray:
    """The penalty's proximal map of ``step * R`` entry by entry, in float64."""
    with jax.enable_x64(True):
        return np.asarray(reg.prox({"kernel": jnp.asarray(v, jnp.float64)}, step)["kernel"])


def threshold(reg: Regularizer, step: float, high: float, *, points: int = 2001) -> float:
    """The smallest ``v >= 0`` above which ``prox(v)`` is non-zero, to ``high / (points-1)**3``.

    Three rounds of a grid of ``points`` values, each on the interval between the
    last zero and the first non-zero output of the round before (the maps are zero
    on ``[0, threshold]`` and non-zero above it). ``inf`` when ``prox`` is zero up to
    ``high``.
    """
    low = 0.0
    for _ in range(3):
        v = np.linspace(low, high, points)
        nonzero = np.flatnonzero(_prox(reg, v, step) != 0)
        if nonzero.size == 0:
            return float("inf")
        if nonzero[0] == 0:
            return low
        low, high = float(v[nonzero[0] - 1]), float(v[nonzero[0]])
    return high


def fig17_thresholding(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 17: the non-convex penalties' thresholding functions."""
    del sweeps  # the library's proximal maps, no runs
    step, v = 1.0, np.linspace(-5.0, 5.0, 2001)
    maps = {name: _prox(reg, v, step) for name, (_, reg) in THRESHOLDING.items()}
    taus = {name: threshold(reg, step, float(v[-1])) for name, (_, reg) in THRESHOLDING.items()}
    titles = {name: title for name, (title, _) in THRESHOLDING.items()}
    fig = figures.thresholding_maps(v, maps, taus, titles)
    data: dict[str, Any] = {"v": v, "step": step, "strength": 1.0}
    data |= {f"prox/{k}": m for k, m in maps.items()}
    data |= {f"threshold/{k}": t for k, t in taus.items()}
    save(out, "fig17_thresholding", fig, data)
    return Figure(
        "fig17_thresholding",
        "The proximal maps prox(v) = argmin_w 1/2 (w - v)^2 + step * R(w) of the library's "
        "penalties (research.regularizers, evaluated in float64), all at strength 1 and step "
        "1 (MCP gamma = 3, SCAD a = 3.7, log-sum eps = 1: the classes' defaults); dashed: the "
        "identity, grey: L1's soft thresholding, shaded: the dead zone. Thresholds to 1e-9. "
        "Past its threshold L1 shifts every weight by the strength; MCP, SCAD and L0 return "
        "large weights unchanged, L1/2 and log-sum shrink them less and less.",
        {
            titles[k]: f"threshold {taus[k]:.6f}, prox({v[-1]:g}) = {maps[k][-1]:.4f}"
            for k in THRESHOLDING
        },
    )


def support_scores(w: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Estimates ``w`` ``(..., p)`` against the true coefficients ``true`` ``(p,)``.

    Returns, over the leading axes: ``rmse`` and ``shrinkage`` (mean of
    ``|w*| - sign(w*) w``, positive toward 0) on the true nonzero coefficients, and
    the ``precision`` and ``recall`` of the estimated support ``w != 0`` (exact
    zeros, as the proximal maps give; precision 0 when no weight is nonzero) and
    their ``f1``.
    """
    on = true != 0
    est = w != 0
    hits = (est & on).sum(-1)
    precision = hits / np.maximum(est.sum(-1), 1)
    recall = hits / on.sum()
    return {
        "rmse": np.sqrt(np.mean((w[..., on] - true[on]) ** 2, axis=-1)),
        "shrinkage": np.mean(np.abs(true[on]) - np.sign(true[on]) * w[..., on], axis=-1),
        "precision": precision,
        "recall": recall,
        "f1": 2 * hits / (est.sum(-1) + on.sum()),
    }


def _oracle_rmse(d: Dataset) -> float:
    """RMSE of least squares (with an intercept) on the true support: the oracle's error."""
    true = d.info["true_coef"]
    on = true != 0
    x = np.c_[d.x_train[:, on], np.ones(len(d.x_train))].astype(np.float64)
    coef = np.linalg.lstsq(x, d.y_train[:, 0].astype(np.float64), rcond=None)[0][:-1]
    return float(np.sqrt(np.mean((coef - true[on]) ** 2)))


def _bias_scores(sweep: Sweep) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]], list]:
    """The strengths ``(K,)``; penalty -> score -> ``(runs, K)`` over every data draw and
    seed; the oracle's RMSE per data draw."""
    scores: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in TITLES}
    grids, oracle = [], {}
    for job in sweep:
        d = job.dataset()
        scores[job.config["regularizer"]["name"]].append(
            support_scores(job.params["layers/0/kernel"][..., 0], d.info["true_coef"])
        )
        grids.append(next(iter(job.strengths.values())))
        oracle[job.config["data"]["seed"]] = _oracle_rmse(d)
    if any(not np.array_equal(g, grids[0]) for g in grids):
        raise ValueError(f"{sweep.dir}: the penalties' strength grids differ")
    stacked = {
        name: {q: np.concatenate([s[q] for s in runs]) for q in runs[0]}
        for name, runs in scores.items()
    }
    return grids[0], stacked, [oracle[k] for k in sorted(oracle)]


def _best_recovery(score: dict[str, np.ndarray]) -> int:
    """The strength index with the best mean F1 of the support; ties: the smallest error."""
    f1, rmse = score["f1"].mean(axis=0), score["rmse"].mean(axis=0)
    return int(np.lexsort((rmse, -np.round(f1, 9)))[0])


def _bias_numbers(strengths, scores, best, oracle: list[float]) -> dict[str, Any]:
    """Figure 18's numbers: each penalty's scores at its best recovery, and the references."""
    numbers: dict[str, Any] = {}
    for n, k in best.items():
        mean = {q: float(v[:, k].mean()) for q, v in scores[n].items()}
        numbers[f"{TITLES[n]}: best recovery"] = (
            f"λ = {strengths[k]:g}: RMSE {mean['rmse']:.3f} (shrinkage {mean['shrinkage']:.3f}), "
            f"precision {mean['precision']:.2f}, recall {mean['recall']:.2f}"
        )
    numbers["oracle least squares RMSE"] = round(float(np.mean(oracle)), 3)
    numbers["least squares (λ = 0) RMSE"] = round(float(scores["l1"]["rmse"][:, 0].mean()), 3)
    return numbers


def _bias_caption(job: Results, runs: int, draws: int, num_strengths: int) -> str:
    d = job.dataset()
    return (
        f"Sparse recovery on sparse_regression ({d.in_features} features, "
        f"{int((d.info['true_coef'] != 0).sum())} nonzero, noise {job.config['data']['noise']:g})"
        f" by full-batch proximal gradient (step {job.config['optimizer']['learning_rate']:g}; "
        "L0 is iterative hard thresholding at sqrt(2 step λ)): mean and range over "
        f"{runs} runs ({draws} data draw{'s' * (draws > 1)} x {job.num_seeds} seeds), "
        f"{num_strengths} strengths (0 included) vmapped in each job. Stars: each penalty's "
        "best support recovery (mean F1; ties: the smallest error), where L1 has shrunk the "
        "nonzero coefficients by about λ while MCP, SCAD and L0 stay near the error of least "
        "squares on the true support (the oracle). L0's λ is a cost per nonzero weight, not "
        "a slope."
    )


def fig18_nonconvex_bias(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 18: the bias of L1 against MCP, SCAD and L0 on sparse regression."""
    sweep = sweeps["nonconvex_bias"]
    strengths, scores, oracle = _bias_scores(sweep)
    if strengths[0] != 0:
        raise ValueError(f"{sweep.dir}: the strength grid must start at 0 (least squares)")
    best = {name: _best_recovery(s) for name, s in scores.items()}
    labels = (
        ("rmse", "RMSE on the true nonzero coefficients"),
        ("precision", "precision of the support (w ≠ 0)"),
        ("recall", "recall of the support"),
    )
    panels = [(label, {TITLES[n]: s[q][:, 1:] for n, s in scores.items()}) for q, label in labels]
    references = {
        0: {
            "oracle least squares": float(np.mean(oracle)),
            "λ = 0": float(scores["l1"]["rmse"][:, 0].mean()),
        }
    }
    marks = {0: {TITLES[n]: k - 1 for n, k in best.items() if k > 0}}
    fig = figures.strength_curves(
        strengths[1:],
        panels,
        references=references,
        marks=marks,
        log_y=(0,),
        title="L1's bias against MCP, SCAD and L0 on sparse_regression",
    )
    data: dict[str, Any] = {"strengths": strengths, "oracle_rmse": np.asarray(oracle)}
    data |= {f"{q}/{n}": v for n, s in scores.items() for q, v in s.items()}
    data |= {f"best/{n}": k for n, k in best.items()}
    save(out, "fig18_nonconvex_bias", fig, data)
    runs = scores["l1"]["rmse"].shape[0]
    return Figure(
        "fig18_nonconvex_bias",
        _bias_caption(sweep.jobs[0], runs, len(oracle), strengths.size),
        _bias_numbers(strengths, scores, best, oracle),
    )


def _network_numbers(strengths, dead, error) -> dict[str, Any]:
    """Figure 19's numbers: no penalty; each penalty at the blog post's strength and where
    it disconnects the most units at a mean test error no worse than no penalty's."""
    none = error["L1"][:, 0]
    numbers: dict[str, Any] = {"no penalty (λ = 0)": f"error {none.mean():.2f} ± {none.std():.2f}"}
    k_post = int(np.argmin(np.abs(strengths - BLOG_POST.l1)))
    for label in dead:
        d, e = dead[label].mean(axis=0), error[label].mean(axis=0)
        numbers[f"{label}, λ = {strengths[k_post]:g}"] = (
            f"{d[k_post]:.1f} units disconnected, error {e[k_post]:.2f} ± "
            f"{error[label][:, k_post].std():.2f}"
        )
        free = 1 + np.flatnonzero(e[1:] <= none.mean())
        k = int(free[np.argmax(d[free])]) if free.size else 0
        numbers[f"{label}, most units at an error <= no penalty's"] = (
            f"λ = {strengths[k]:g}: {d[k]:.1f} units, error {e[k]:.2f}" if free.size else "none"
        )
    return numbers


def fig19_nonconvex_network(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 19: the blog post's network with proximal L1, MCP and L0."""
    sweep = sweeps["nonconvex_network"]
    jobs = {TITLES[n]: sweep.pick(regularizer__name=n) for n in ("l1", "mcp", "l0")}
    strengths = next(iter(jobs["L1"].strengths.values()))
    if strengths[0] != 0:
        raise ValueError(f"{sweep.dir}: the strength grid must start at 0 (no penalty)")
    dead = {label: sparsity_counts(job)["dead_neurons"] for label, job in jobs.items()}
    error = {label: np.asarray(job.metrics["total_error"]) for label, job in jobs.items()}
    fig = figures.strength_curves(
        strengths[1:],
        [
            (f"disconnected units (of {NUM_UNITS})", {k: v[:, 1:] for k, v in dead.items()}),
            ("total test error (sum of |error|)", {k: v[:, 1:] for k, v in error.items()}),
        ],
        # lambda = 0 is no penalty: the same runs for every penalty
        references={1: {"no penalty (λ = 0)": float(error["L1"][:, 0].mean())}},
        title="The blog post's network, proximal method",
    )
    data: dict[str, Any] = {"strengths": strengths}
    data |= {f"dead_units/{k}": v for k, v in dead.items()}
    data |= {f"total_error/{k}": v for k, v in error.items()}
    save(out, "fig19_nonconvex_network", fig, data)
    c = jobs["L1"].config
    return Figure(
        "fig19_nonconvex_network",
        f"The blog post's {'-'.join(map(str, BLOG_POST.widths))} linear network on its data "
        f"(SGD lr {c['optimizer']['learning_rate']:g}, batch {c['batch_size']}, {c['epochs']} "
        "epochs, sum of absolute errors) with proximal L1, MCP (gamma = 3) and L0 at "
        f"{strengths.size} strengths (vmapped, 0 included) x {jobs['L1'].num_seeds} seeds: "
        f"hidden units disconnected (all incoming or all outgoing weights exactly 0, as in "
        f"figure 7) and total test error over the {BLOG_POST.test_points} test points; mean "
        "and range over seeds. L0's λ is a cost per nonzero weight (hard threshold "
        "sqrt(2 lr λ) each step), so its curves sit at larger λ.",
        _network_numbers(strengths, dead, error),
    )
