"""Figures of the Keras tutorial's digits classifier, the Lasso path and cross-validation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from research.figures.style import COLORS, color, style

__all__ = [
    "cross_validation",
    "lasso_path",
    "optimizer_curves",
    "strength_sweep",
    "weight_histograms",
]


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
    exact: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> Figure:
    """Figure 12: test accuracy and weight sparsity vs strength, mean and band over seeds.

    Args:
      strengths: regularizer -> ``(K,)`` strengths.
      accuracy, sparsity: regularizer -> ``(seeds, K)``.
      sparsity_label: the sparsity panel's y label.
      exact: label -> ``(strengths, accuracy, sparsity)``, each ``(M,)``: one solution per
        strength (an exact path), drawn in black, dashed, with square markers.
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
        for label, (s, acc, frac) in (exact or {}).items():
            for ax, values in zip(axes, (acc, frac), strict=True):
                ax.plot(s, values, "s--", color="k", markersize=4, linewidth=1.2, label=label)
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


def cross_validation(
    alphas: np.ndarray,
    cv_mean: np.ndarray,
    cv_std: np.ndarray,
    nonzero: np.ndarray,
    chosen: dict[str, float],
    *,
    ylabel: str,
    nonzero_label: str,
    title: str,
    ticks: int = 12,
) -> Figure:
    """Figure 20: a cross-validation curve in the style of glmnet's ``plot.cv.glmnet``.

    The mean of the measure over the folds with error bars of one standard error,
    against the strength on a log axis; a vertical dashed line at each chosen
    strength; the number of nonzero coefficients along the top axis.

    Args:
      alphas: ``(K,)`` strengths (any order); ``cv_mean``, ``cv_std``, ``nonzero``: ``(K,)``.
      chosen: legend label -> strength, one dashed line each (``alpha_min``, ``alpha_1se``).
      ylabel: the measure; ``nonzero_label``: the top axis's label.
      ticks: about how many strengths get a count on the top axis.
    """
    with style():
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        ax.errorbar(
            alphas,
            cv_mean,
            yerr=cv_std,
            fmt="o",
            color=COLORS["l1"],
            ecolor="0.6",
            markersize=3.5,
            elinewidth=1.0,
            capsize=2,
            label="mean over folds ± 1 standard error",
        )
        for (label, alpha), dashes in zip(chosen.items(), ["--", (0, (2, 2))], strict=False):
            ax.axvline(alpha, color="0.2", linestyle=dashes, linewidth=1.0, label=label)
        ax.set(xscale="log", xlabel="strength λ (log scale)", ylabel=ylabel, title=title)
        # A log y axis, so that the error bars near the minimum show beside the null model's
        # deviance; plain numbers at 1, 2, 5 x 10^n.
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        order = np.argsort(alphas)
        at = order[np.unique(np.linspace(0, alphas.size - 1, ticks).round().astype(int))]
        top = ax.secondary_xaxis("top")
        top.set_xticks(alphas[at], [str(int(n)) for n in nonzero[at]])
        top.xaxis.set_minor_locator(NullLocator())
        top.set_xlabel(nonzero_label)
        ax.legend(loc="upper left")
        fig.tight_layout()
    return fig
