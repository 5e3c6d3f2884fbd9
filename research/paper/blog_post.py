"""Figures 5-9 and 14, the blog post: the L1 diamond, and its line-with-outliers networks.

The post draws the L1 and L2 level sets in 2-D (figure 5, recomputed with the
library's proximal step), then trains 1-10-10-10-1 linear networks with SGD
0.01, batch 1 and lambda 0.3 on a line with outliers, five runs each, and
looks at the fits, the weights and the total test errors (figures 6-9). Figure
14 adds what the post could not show: the subgradient method leaves almost no
exact zeros where the proximal method of the same L1 leaves many. The networks
are the runs of sweep ``line_outliers``, read once per build.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import jax.numpy as jnp
import numpy as np
import optax

from research import figures
from research.optim import proximal
from research.paper.output import Figure, save, write_gif
from research.paper.reference import BLOG_POST
from research.paper.sweeps import Sweeps
from research.regularizers import L1, L2, ElasticNet
from research.results import Results

__all__ = [
    "fig05_constraint_contours",
    "fig06_line_fits",
    "fig07_hinton",
    "fig08_weight_strip",
    "fig09_total_error",
    "fig14_zero_fraction",
    "networks",
    "sparsity_counts",
]

NETWORKS = {  # label -> (regularizer, method) in sweep line_outliers
    "none": ("none", "subgradient"),
    "L1 subgradient": ("l1", "subgradient"),
    "L1 proximal": ("l1", "proximal"),
    "L2": ("l2", "subgradient"),
}
KERNEL_TITLES = [f"{a}x{b}" for a, b in itertools.pairwise(BLOG_POST.widths)]
NUM_KERNELS = len(BLOG_POST.widths) - 1
NUM_WEIGHTS = sum(a * b for a, b in itertools.pairwise(BLOG_POST.widths))
NUM_UNITS = sum(BLOG_POST.widths[1:-1])


def networks(sweeps: Sweeps) -> dict[str, Results]:
    """The blog post's four networks (label -> job of sweep ``line_outliers``)."""
    jobs = sweeps["line_outliers"]
    return {label: jobs.pick(regularizer__name=r, method=m) for label, (r, m) in NETWORKS.items()}


def _two_d_optimum(reg, center, hessian, steps=3000) -> np.ndarray:
    """argmin 1/2 (w - c)^T H (w - c) + R(w) by proximal gradient with the library's transforms."""
    h, c = jnp.asarray(hessian), jnp.asarray(center)
    lr = 1.0 / float(np.linalg.eigvalsh(hessian).max())
    tx = optax.chain(optax.sgd(lr), proximal(reg, lr))
    params = {"kernel": jnp.zeros(2)}
    state = tx.init(params)
    for _ in range(steps):
        grad = {"kernel": h @ (params["kernel"] - c)}
        updates, state = tx.update(grad, state, params)
        params = optax.apply_updates(params, updates)
    return np.asarray(params["kernel"], np.float64)


def fig05_constraint_contours(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 5: penalty level sets and least-squares contours in 2-D."""
    center, hessian = np.array([1.5, 0.3]), np.array([[1.0, 0.35], [0.35, 1.6]])
    regs = {"l1": L1(0.9), "l2": L2(0.35), "elastic_net": ElasticNet(0.6, 0.15)}
    w1 = w2 = np.linspace(-1.0, 2.5, 301)
    g1, g2 = np.meshgrid(w1, w2)
    diff = np.stack([g1 - center[0], g2 - center[1]], -1)
    loss = 0.5 * np.einsum("...i,ij,...j->...", diff, hessian, diff)
    penalties, optima = {}, {}
    for name, reg in regs.items():
        l1, l2 = getattr(reg, "l1", 0.0), getattr(reg, "l2", 0.0)
        penalties[name] = l1 * (np.abs(g1) + np.abs(g2)) + l2 * (g1**2 + g2**2)
        point = _two_d_optimum(reg, center, hessian)
        d = point - center
        optima[name] = {
            "point": point,
            "loss": 0.5 * d @ hessian @ d,
            "penalty": float(reg({"kernel": jnp.asarray(point, jnp.float32)})),
        }
    fig = figures.constraint_contours(w1, w2, loss, penalties, optima, center)
    data = {f"{k}_optimum": v["point"] for k, v in optima.items()}
    save(out, "fig05_constraint_contours", fig, {"center": center, **data})
    return Figure(
        "fig05_constraint_contours",
        "Penalty level sets (L1 diamond, L2 circle, ElasticNet) and least-squares contours, "
        "the blog post's picture of why L1 gives zeros; the regularized optimum (computed with "
        "optax + proximal) lies on an axis for L1 and off the axes for L2.",
        {k: [round(float(x), 4) for x in v["point"]] for k, v in optima.items()},
    )


def fig06_line_fits(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 6: the data and the lines the trained networks compute."""
    nets = networks(sweeps)
    d = nets["none"].dataset()
    x, test, outlier = d.info["x"], d.info["is_test"], d.info["is_outlier"]
    y = np.empty(x.shape)
    y[~test], y[test] = d.y_train[:, 0], d.y_test[:, 0]
    x_grid = np.linspace(0, 10, 101).astype(np.float32)[:, None]
    fits = {label: job.predict(x_grid)[..., 0] for label, job in nets.items()}
    fig = figures.line_fits(x, y, outlier, test, x_grid[:, 0], fits, true_slope=d.info["slope"])
    data = {"x": x, "y": y, "outlier": outlier, "test": test, "x_grid": x_grid[:, 0]}
    save(out, "fig06_line_fits", fig, data | {f"fit/{k}": v for k, v in fits.items()})
    return Figure(
        "fig06_line_fits",
        f"The blog post's data ({x.size} points, {outlier.sum()} outliers, every fifth point "
        "held out) and the lines computed by the trained "
        f"{'-'.join(map(str, BLOG_POST.widths))} linear networks without a penalty, with "
        f"L1({BLOG_POST.l1:g}) and with the post's L2 (TF1's l2_regularizer({BLOG_POST.lam:g}) "
        f"= L2({BLOG_POST.l2:g})) (seed 0 solid, other seeds faint).",
        {"outlier offset": round(d.info["offset"], 3)},
    )


def sparsity_counts(job: Results) -> dict[str, np.ndarray]:
    """Per seed and strength ``(S, K)``: exact zeros, ``|w| < sparsity_tol`` and disconnected
    units (``dead_neurons``: all incoming or all outgoing weights zero) over all kernels of
    the blog post's network."""
    m = job.metrics
    kernels = range(NUM_KERNELS)
    # sum's type allows its start, 0, for no terms; there are NUM_KERNELS (> 1) terms.
    return {
        "exact_zeros": cast(
            np.ndarray, sum(np.asarray(m[f"exact_zeros/layers/{i}/kernel"]) for i in kernels)
        ),
        "near_zeros": cast(
            np.ndarray, sum(np.asarray(m[f"near_zeros/layers/{i}/kernel"]) for i in kernels)
        ),
        "dead_neurons": cast(
            np.ndarray, sum(np.asarray(m[f"dead_neurons/{i}"]) for i in kernels[:-1])
        ),
    }


def fig07_hinton(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 7: Hinton diagrams of the trained kernels."""
    nets = networks(sweeps)
    rows = {
        label: [nets[label].params[f"layers/{i}/kernel"][0, 0] for i in range(NUM_KERNELS)]
        for label in ("L1 subgradient", "L1 proximal", "L2")
    }
    fig = figures.hinton_grid(rows, titles=KERNEL_TITLES)
    counts = {
        label: {q: v[:, 0] for q, v in sparsity_counts(job).items()} for label, job in nets.items()
    }
    save(
        out,
        "fig07_hinton",
        fig,
        {f"{k}/{q}": v for k, c in counts.items() for q, v in c.items()}
        | {f"kernel/{k}/{i}": v for k, ks in rows.items() for i, v in enumerate(ks)},
    )
    numbers = {
        k: f"{c['exact_zeros'].mean():.0f} exact zeros, "
        f"{c['near_zeros'].mean():.0f} with |w| < 1e-3, "
        f"{c['dead_neurons'].mean():.1f} disconnected units "
        f"(mean over seeds, of {NUM_WEIGHTS} weights / {NUM_UNITS} units)"
        for k, c in counts.items()
        if k != "none"
    }
    return Figure(
        "fig07_hinton",
        "Hinton diagrams of the four trained kernels (seed 0), as the blog post shows its "
        "weights: L1 with the proximal step zeroes whole rows and columns (disconnected units); "
        "the subgradient method leaves many tiny but nonzero weights; L2 shrinks without zeros.",
        numbers,
    )


def fig08_weight_strip(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 8: the weights during training (and the GIF of all kernels)."""
    nets = networks(sweeps)
    steps = nets["L2"].history["snapshot_steps"]
    snaps = {
        label: [
            nets[label].history[f"snapshots/layers/{i}/kernel"][0, 0] for i in range(NUM_KERNELS)
        ]
        for label in ("L1 proximal", "L1 subgradient", "L2")
    }
    frames = [int(i) for i in np.linspace(0, len(steps) - 1, 6).round()]
    fig = figures.weight_strip({k: v[1] for k, v in snaps.items()}, steps, frames)
    save(out, "fig08_weight_strip", fig, {"steps": steps[frames]})
    # The GIF shows at most 51 frames; each is a full redraw of every kernel.
    idx = np.arange(0, len(steps), max(1, (len(steps) - 1) // 50))
    anim = figures.weight_animation(
        {k: [a[idx] for a in v] for k, v in snaps.items()}, steps[idx], titles=KERNEL_TITLES
    )
    write_gif(anim, out / "fig08_weights.gif")
    return Figure(
        "fig08_weight_strip",
        "Weights during training (second hidden kernel, seed 0) at six steps, as the blog "
        "post's animation; fig08_weights.gif animates all four kernels of each network.",
        {"frames in the GIF": len(idx), "last step": int(steps[-1])},
    )


def fig09_total_error(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 9: total test error of every run."""
    nets = networks(sweeps)
    errors = {label: np.asarray(job.metrics["total_error"])[:, 0] for label, job in nets.items()}
    fig = figures.total_errors(
        errors, title=f"The blog post's networks: total test error over {len(errors['L2'])} runs"
    )
    save(out, "fig09_total_error", fig, {f"total_error/{k}": v for k, v in errors.items()})
    return Figure(
        "fig09_total_error",
        f"Total test error (sum of |error| over the {BLOG_POST.test_points} test points) of "
        "each run, with mean and standard deviation, as in the blog post's tables.",
        {k: f"{v.mean():.2f} ± {v.std():.2f}" for k, v in errors.items()},
    )


def fig14_zero_fraction(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 14: exact zeros during training, subgradient vs proximal L1."""
    nets = networks(sweeps)
    steps = nets["L2"].history["snapshot_steps"]
    fractions = {}
    for label in ("L1 subgradient", "L1 proximal"):
        h = nets[label].history
        zeros = sum(
            (h[f"snapshots/layers/{i}/kernel"][:, 0] == 0).sum(axis=(-2, -1))
            for i in range(NUM_KERNELS)
        )
        fractions[label] = zeros / NUM_WEIGHTS
    fig = figures.zero_fraction(
        steps, fractions, title=f"L1({BLOG_POST.l1:g}), same start: exact zeros during training"
    )
    data = {"steps": steps, **{f"fraction/{k}": v for k, v in fractions.items()}}
    save(out, "fig14_zero_fraction", fig, data)
    return Figure(
        "fig14_zero_fraction",
        "Fraction of kernel weights exactly 0 during training of the blog post's network, "
        "subgradient vs proximal L1 with the same strength and initial weights.",
        {k: f"final {v[:, -1].mean():.1%}" for k, v in fractions.items()},
    )
