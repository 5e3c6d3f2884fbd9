"""Figures of the Keras tutorial's digits classifier, and the Lasso path."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from research.figures.style import COLORS, color, style

__all__ = ["lasso_path", "optimizer_curves", "strength_sweep", "weight_histograms"]


def weight_histograms(weights: dict[str, np.ndarray], *, bins: int = 81) -> Figure:
    """Figure 11: sparsity vs shrinkage, histograms of trained first-layer weights.

    Args:
      weights: label -> all trained weights (any shape; flattened).
    """
    with style():
        fig, axes = plt.subplots(1, len(weights), figsize=(3.3 * len(weights), 3.3), sharey=True)
        for ax, (label, w) in zip(np.atleast_1d(axes), weights.items(), strict=True):
            w = np.ravel(w)
            zeros = int((w == 0).sum())
            lim = float(np.quantile(np.abs(w), 0.995)) or 1.0
            ax.hist(w[w != 0], bins=np.linspace(-lim, lim, bins), color=color(label), alpha=0.85)
            if zeros:  # labelled beside its top (a legend's swatch would cross the bar)
                ax.bar(0, zeros, width=2 * lim / bins, color="k")
                ax.annotate(
                    f"exactly 0: {zeros}",
                    (0.6 * lim / bins, zeros),
                    xytext=(0.12 * lim, zeros),
                    va="center",
                    arrowprops={"arrowstyle": "-"},
                )
            ax.set_yscale("log")
            near = int((np.abs(w) < 1e-3).sum())
            ax.set(xlabel="weight", title=f"{label}\n|w| < 1e-3: {near} of {w.size}")
        np.atleast_1d(axes)[0].set_ylabel("count (log scale)")
        fig.tight_layout()
    return fig


def strength_sweep(
    strengths: dict[str, np.ndarray],
    accuracy: dict[str, np.ndarray],
    sparsity: dict[str, np.ndarray],
    *,
    sparsity_label: str,
) -> Figure:
    """Figure 12: test accuracy and weight sparsity vs strength, mean and band over seeds.

    Args:
      strengths: regularizer -> ``(K,)`` strengths.
      accuracy, sparsity: regularizer -> ``(seeds, K)``.
    """
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
        for name, s in strengths.items():
            for ax, values in zip(axes, (accuracy[name], sparsity[name]), strict=True):
                mean = values.mean(axis=0)
                ax.plot(s, mean, "o-", color=color(name), label=name.upper())
                ax.fill_between(
                    s, values.min(axis=0), values.max(axis=0), color=color(name), alpha=0.2
                )
        axes[0].set(
            xscale="log", xlabel="regularization strength", ylabel="test accuracy", title="Accuracy"
        )
        axes[1].set(
            xscale="log", xlabel="regularization strength", ylabel=sparsity_label, title="Sparsity"
        )
        if "l2" in strengths and np.any(np.isclose(strengths["l2"], 10.0)):
            k = int(np.argmin(np.abs(strengths["l2"] - 10.0)))
            acc = accuracy["l2"][:, k].mean()
            axes[0].annotate(
                f"L2(10.0): {acc:.0%}",
                (10.0, acc),
                xytext=(0.68, 0.45),  # right of where L1's accuracy drops
                textcoords="axes fraction",
                arrowprops={"arrowstyle": "->"},
            )
        axes[0].legend()
        fig.tight_layout()
    return fig


def optimizer_curves(curves: dict[str, np.ndarray]) -> Figure:
    """Figure 13: training loss per epoch, mean and range over seeds.

    Args:
      curves: label -> ``(seeds, epochs)`` epoch-mean training loss (penalty included).
    """
    with style():
        fig, ax = plt.subplots()
        for (label, loss), c in zip(
            curves.items(), [COLORS["l1"], COLORS["l2"], "#009E73"], strict=False
        ):
            epochs = np.arange(1, loss.shape[1] + 1)
            ax.plot(epochs, loss.mean(axis=0), color=c, label=label)
            ax.fill_between(epochs, loss.min(axis=0), loss.max(axis=0), color=c, alpha=0.2)
        ax.set(
            xlabel="epoch",
            ylabel="training loss + L1 penalty",
            yscale="log",
            title="L1(0.01) on digits: optimizer and learning rate",
        )
        ax.legend()
        fig.tight_layout()
    return fig


def lasso_path(
    alphas: np.ndarray, coefs: np.ndarray, exact_alphas: np.ndarray, exact_coefs: np.ndarray
) -> Figure:
    """Figure 15: Lasso coefficients vs strength; the exact path as lines.

    Args:
      alphas: ``(K,)`` strengths of the engine's vmapped run; ``coefs`` ``(K, p)``.
      exact_alphas: ``(M,)``; ``exact_coefs`` ``(p, M)`` from ``research.lasso_path``
        (or ``sklearn.linear_model.lasso_path``: the same shapes).
    """
    with style():
        fig, ax = plt.subplots()
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        active = np.flatnonzero(np.any(coefs != 0, axis=0) | np.any(exact_coefs != 0, axis=1))
        for i, j in enumerate(active):
            c = cycle[i % len(cycle)]
            ax.plot(alphas, coefs[:, j], "o", color=c, ms=3.5)
            ax.plot(exact_alphas, exact_coefs[j], "-", color=c, linewidth=1.0)
        ax.plot([], [], "o", color="0.4", label="engine (vmapped proximal gradient)")
        ax.plot([], [], "-", color="0.4", label="research.lasso_path (exact)")
        ax.set(
            xscale="log",
            xlabel="L1 strength (alpha)",
            ylabel="coefficient",
            title="Lasso path on sparse_regression",
        )
        ax.invert_xaxis()
        ax.legend()
        fig.tight_layout()
    return fig
