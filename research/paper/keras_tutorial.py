"""Figures 11-13, the Keras tutorial: L1(0.01) on a digits classifier, and its pitfalls.

The tutorial puts ``kernel_regularizer=L1(0.01)`` on ``Dense(64, relu)``,
warns that too strong a penalty (``L2(10.0)``) underfits, and that L1 with
SGD at lr 0.1 trains unstably where Adam at lr 1e-3 does not. The runs are
the sweeps ``digits`` (11 strengths vmapped per job) and ``digits_sgd`` +
``digits_adam`` (both in the multirun ``digits_optimizers``). Figure 12 adds the
exact L1 path of a linear softmax classifier on the same data (sweep
``digits_linear``, ``method=coordinate_descent``: ``research.glm_path``), whose
loss and penalty are the networks' (mean cross-entropy plus ``l1 * sum |W|``),
so that its strengths are on the same scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from research import figures
from research.paper.output import Figure, save
from research.paper.reference import KERAS_TUTORIAL
from research.paper.sweeps import Sweeps
from research.results import Results

__all__ = [
    "exact_linear_path",
    "fig11_weight_histograms",
    "fig12_strength_sweep",
    "fig13_optimizers",
]


def _subgradient_runs(sweeps: Sweeps) -> dict[str, Results]:
    """Keras's method: regularizer name -> its job of sweep ``digits``."""
    jobs = sweeps["digits"]
    return {r: jobs.pick(regularizer__name=r, method="subgradient") for r in ("l1", "l2")}


def _training(job: Results) -> str:
    """ "Adam lr 0.001, 20 epochs": the optimizer and length of a run, from its config."""
    o = job.config["optimizer"]
    return f"{o['name'].capitalize()} lr {o['learning_rate']:g}, {job.config['epochs']} epochs"


def exact_linear_path(sweeps: Sweeps, data: dict) -> Results:
    """The exact L1 path of a linear classifier (sweep ``digits_linear``) on ``data``.

    Raises:
      ValueError: when its data settings are not ``data`` (the networks').
    """
    job = sweeps["digits_linear"].pick(model__name="linear", method="coordinate_descent")
    if job.config["data"] != data:
        raise ValueError(
            f"{sweeps['digits_linear'].dir}: data {job.config['data']} differs from the "
            f"networks' {data}"
        )
    return job


def _linear_numbers(strengths: np.ndarray, accuracy: np.ndarray, zeros: np.ndarray) -> dict:
    """Figure 12's numbers of the exact linear path (strengths ascending)."""
    best = int(np.argmax(accuracy))
    reached = {
        f"{level:.0%}": f"λ = {strengths[np.argmax(zeros >= level)]:g}"
        if np.any(zeros >= level)
        else "none"
        for level in (0.5, 0.9, 1.0)
    }
    return {
        "linear, exact path: best accuracy": (
            f"{accuracy[best]:.4f} at λ = {strengths[best]:g} "
            f"({zeros[best]:.1%} of the kernel exactly 0)"
        ),
        "linear, exact path: weakest strength": (
            f"λ = {strengths[0]:g}: accuracy {accuracy[0]:.4f}, {zeros[0]:.1%} exactly 0"
        ),
        "linear, exact path: weakest strength of the grid with this share of the kernel "
        "exactly 0": reached,
    }


def _linear_summary(strengths: np.ndarray, accuracy: np.ndarray, zeros: np.ndarray) -> str:
    """Figure 12's caption sentence on the exact linear path (strengths ascending)."""
    best = int(np.argmax(accuracy))
    text = (
        f"Its best test accuracy is {accuracy[best]:.3f} (λ = {strengths[best]:g}, "
        f"{zeros[best]:.0%} of its kernel exactly 0)"
    )
    if zeros[-1] == 1:
        empty = int(np.argmax(zeros == 1))
        text += (
            f"; from λ = {strengths[empty]:g} its kernel is exactly 0 and it predicts one class "
            f"(accuracy {accuracy[empty]:.2f})"
        )
    return text + "."


def _nearest(strengths: np.ndarray, value: float) -> int:
    return int(np.argmin(np.abs(strengths - value)))


def fig11_weight_histograms(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 11: first-layer weights under L1 and L2."""
    sub = _subgradient_runs(sweeps)
    prox = sweeps["digits"].pick(regularizer__name="l1", method="preconditioned")
    k1 = _nearest(sub["l1"].strengths["l1"], KERAS_TUTORIAL.l1)
    k2 = _nearest(sub["l2"].strengths["l2"], KERAS_TUTORIAL.l2)
    l1, l2 = f"L1({KERAS_TUTORIAL.l1:g})", f"L2({KERAS_TUTORIAL.l2:g})"
    weights = {
        f"{l1} subgradient": sub["l1"].params["layers/0/kernel"][:, k1],
        f"{l1} proximal (Adam metric)": prox.params["layers/0/kernel"][:, k1],
        l2: sub["l2"].params["layers/0/kernel"][:, k2],
    }
    fig = figures.weight_histograms(weights)
    save(out, "fig11_weight_histograms", fig, {f"weights/{n}": w for n, w in weights.items()})
    return Figure(
        "fig11_weight_histograms",
        "Trained first-layer weights of the Keras tutorial's digits classifier "
        f"(all seeds, {_training(sub['l1'])}): "
        "L1 piles weights near zero with Keras's subgradient "
        "method and exactly at zero with the proximal step in Adam's metric "
        "(method=preconditioned); L2 shrinks them without zeros.",
        {
            n: f"{int((w == 0).sum())} exact zeros, {int((np.abs(w) < 1e-3).sum())} below 1e-3 "
            f"of {w.size}"
            for n, w in weights.items()
        },
    )


def fig12_strength_sweep(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 12: accuracy and sparsity vs strength."""
    sub = _subgradient_runs(sweeps)
    strengths = {r: np.asarray(job.strengths[r]) for r, job in sub.items()}
    accuracy = {r: np.asarray(job.metrics["test_accuracy"]) for r, job in sub.items()}
    size = sub["l1"].params["layers/0/kernel"][0, 0].size
    sparsity = {
        r: np.asarray(job.metrics["near_zeros/layers/0/kernel"]) / size for r, job in sub.items()
    }
    linear = exact_linear_path(sweeps, sub["l1"].config["data"])
    order = np.argsort(linear.strengths["l1"])
    kernel = linear.params["layers/0/kernel"]  # (seeds, K, p, classes)
    # Every seed has the same solution (nothing random in an exact path): seed 0's.
    lin_strengths = np.asarray(linear.strengths["l1"])[order]
    lin_accuracy = np.asarray(linear.metrics["test_accuracy"])[0, order]
    lin_zeros = np.asarray(linear.metrics["exact_zeros/layers/0/kernel"])[0, order]
    lin_zeros = lin_zeros / kernel[0, 0].size
    label = "linear, exact path (glm_path)"
    fig = figures.strength_sweep(
        strengths,
        accuracy,
        sparsity,
        sparsity_label="fraction of |w| < 1e-3 (layer 1)\nlinear: fraction exactly 0",
        exact={label: (lin_strengths, lin_accuracy, lin_zeros)},
    )
    data = {
        **{f"strengths/{r}": s for r, s in strengths.items()},
        **{f"accuracy/{r}": a for r, a in accuracy.items()},
        **{f"sparsity/{r}": a for r, a in sparsity.items()},
        "strengths/linear": lin_strengths,
        "accuracy/linear": lin_accuracy,
        "exact_zeros/linear": lin_zeros,
    }
    save(out, "fig12_strength_sweep", fig, data)
    strong = KERAS_TUTORIAL.strong_l2
    k_strong = _nearest(strengths["l2"], strong)
    return Figure(
        "fig12_strength_sweep",
        "Test accuracy and first-layer sparsity vs strength on digits "
        f"({strengths['l1'].size} strengths x seeds vmapped in one job per regularizer, "
        f"{_training(sub['l1'])}, "
        "Keras's subgradient method): too strong a penalty underfits, as the Keras tutorial "
        f"warns of L2({strong}). Black, dashed: a linear softmax classifier's exact L1 path "
        f"on the same data at {lin_strengths.size} strengths (sweep digits_linear, "
        "method=coordinate_descent: research.glm_path, glmnet's multinomial lasso, the same "
        "mean cross-entropy plus l1 * sum |W| on its whole "
        f"{kernel.shape[-2]}x{kernel.shape[-1]} kernel, so the strengths are on the same "
        "scale); its sparsity is the fraction of kernel weights exactly 0. "
        + _linear_summary(lin_strengths, lin_accuracy, lin_zeros),
        {
            "best mean accuracy": {r: float(a.mean(axis=0).max()) for r, a in accuracy.items()},
            f"L2({strong}) mean accuracy": round(float(accuracy["l2"][:, k_strong].mean()), 4),
            **_linear_numbers(lin_strengths, lin_accuracy, lin_zeros),
        },
    )


def fig13_optimizers(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 13: L1 with SGD and with Adam."""
    order = lambda j: (j.config["optimizer"]["name"], -j.config["optimizer"]["learning_rate"])  # noqa: E731
    curves = {}
    for job in sorted(sweeps["digits_optimizers"], key=order):
        o = job.config["optimizer"]
        curves[f"{o['name'].upper()} lr {o['learning_rate']:g}"] = job.history["epoch_loss"][:, 0]
    fig = figures.optimizer_curves(curves)
    save(out, "fig13_optimizers", fig, {f"loss/{k}": v for k, v in curves.items()})
    final = {k: float(v[:, -1].mean()) for k, v in curves.items()}
    best = min(final, key=final.__getitem__)
    unstable = [k for k, v in curves.items() if np.any(np.diff(v.mean(axis=0)) > 0)]
    sgd = f"SGD lr {KERAS_TUTORIAL.sgd_learning_rate:g}"
    return Figure(
        "fig13_optimizers",
        f"Training loss (with the L1 penalty) of the digits classifier with "
        f"L1({KERAS_TUTORIAL.l1:g}) under SGD and Adam, mean and range over seeds. "
        f"Lowest final loss: {best}; "
        + (
            f"loss rose between epochs for {', '.join(unstable)}."
            if unstable
            else "no run's mean loss rose between epochs: the Keras tutorial's warning that L1 "
            f"with {sgd} trains unstably (its fix: Adam lr {KERAS_TUTORIAL.adam_learning_rate:g}) "
            "does not show on this problem."
        ),
        {k: f"final {v:.4f}" for k, v in final.items()},
    )
