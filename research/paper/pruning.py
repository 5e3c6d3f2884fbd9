"""Figure 10, the blog post's "adjusting the network according to L1".

The post removes the neurons L1 disconnected (1-10-10-10-1 to 1-10-10-1-1) and
retrains the smaller network. Here ``research.prune`` removes the units that
proximal L1 disconnected in the ``line_outliers`` runs; the pruned network
(built with ``research.models``) computes the same outputs, and both the
post's adjusted widths and the pruned ones are retrained with L1(0.3) in
sweep ``line_outliers_adjusted``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from research import figures, models
from research.paper.output import Figure, save
from research.paper.reference import BLOG_POST
from research.paper.sweeps import Sweep, Sweeps
from research.prune import dead_units, prune_mlp
from research.results import Results

__all__ = ["adjusted_widths", "fig10_adjusted_network", "pruned_outputs"]


def _arch(widths) -> str:
    return "-".join(map(str, widths))


def adjusted_widths(line_outliers: Sweep) -> list[int]:
    """Widths of the network pruned from the proximal-L1 runs (largest over seeds)."""
    job = line_outliers.pick(regularizer__name="l1", method="proximal")
    widths = [prune_mlp(job.params_tree(s))[1] for s in range(job.num_seeds)]
    return [int(w) for w in np.max(widths, axis=0)]


def pruned_outputs(job: Results, x: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Each seed's pruned network on ``x``: outputs ``(seeds, n)`` and widths per seed.

    The pruned params are float64 (biases of removed units are folded in
    float64), so the pruned network runs in float64: its difference from the
    trained network is then the pruning's, not float32 rounding of its own.
    """
    outputs, widths = [], []
    for s in range(job.num_seeds):
        pruned, w = prune_mlp(job.params_tree(s), job.config["model"].get("activation"))
        assert sum(d.sum() for d in dead_units(pruned)) == 0
        with jax.enable_x64(True):
            graph = models.graphdef({"name": "mlp", "widths": w}, w[0], w[-1])
            outputs.append(np.asarray(models.apply(graph, pruned, x.astype(np.float64)))[:, 0])
        widths.append(w)
    return np.stack(outputs), widths


def fig10_adjusted_network(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 10: the network adjusted according to L1."""
    line_outliers, adjusted = sweeps["line_outliers"], sweeps["line_outliers_adjusted"]
    l1_sub = line_outliers.pick(regularizer__name="l1", method="subgradient")
    l1_prox = line_outliers.pick(regularizer__name="l1", method="proximal")
    x = np.linspace(-5, 15, 64).astype(np.float32)[:, None]
    pruned, per_seed_widths = pruned_outputs(l1_prox, x)
    max_diff = float(np.abs(pruned - l1_prox.predict(x)[..., 0]).max())
    mine_widths = adjusted_widths(line_outliers)
    blog = adjusted.pick(model__widths=list(BLOG_POST.adjusted_widths))
    mine = adjusted.pick(model__widths=mine_widths)
    l1_label = f"L1 subgradient {_arch(BLOG_POST.widths)}"
    blog_label = f"adjusted {_arch(BLOG_POST.adjusted_widths)} (the blog post)"
    runs = {
        l1_label: l1_sub,
        f"L1 proximal {_arch(BLOG_POST.widths)}": l1_prox,
        blog_label: blog,
        f"adjusted {_arch(mine_widths)} (pruned)": mine,
    }
    groups = {k: np.asarray(job.metrics["total_error"])[:, 0] for k, job in runs.items()}
    reported = {l1_label: BLOG_POST.l1_total_errors, blog_label: BLOG_POST.adjusted_total_errors}
    fig = figures.total_errors(
        groups,
        title="Adjusting the network according to L1",
        reference=reported,
        reference_label="the blog post's runs",
    )
    data = {
        **{f"total_error/{k}": v for k, v in groups.items()},
        "pruned_widths": np.asarray(per_seed_widths),
        "max_output_difference": max_diff,
    }
    save(out, "fig10_adjusted_network", fig, data)
    numbers: dict[str, Any] = {k: f"{v.mean():.2f} ± {v.std():.2f}" for k, v in groups.items()}
    numbers["pruned widths per seed"] = [_arch(w) for w in per_seed_widths]
    numbers["max |output difference| pruned vs full"] = f"{max_diff:.2e}"
    return Figure(
        "fig10_adjusted_network",
        "Total test error of L1 networks and of adjusted (smaller) networks retrained with "
        f"L1({BLOG_POST.l1:g}) over the same seeds; crosses are the blog post's reported runs. "
        "research.prune removes the units proximal L1 disconnected; the pruned network "
        "computes the same outputs.",
        numbers,
    )
