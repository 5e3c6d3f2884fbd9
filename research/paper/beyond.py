"""Figures 15-16 and 20, beyond the source documents: a Lasso path, the L1 loss, and
cross-validation.

Figure 15 checks the engine against the exact path: a Lasso path (sweep
``lasso_path``, 20 strengths trained side by side in one vmapped proximal-gradient
job) against the same strengths solved by ``method=coordinate_descent``
(``research.lasso_path``, coordinate descent to a certified duality gap), which in
turn is checked against ``sklearn.linear_model.lasso_path``. Figure 16 separates two things the blog
post mixes: robustness to outliers comes from the absolute-error *loss*, not
from the L1 *penalty* (sweep ``loss_caveat``, a linear model on the post's
data under both losses). Figure 20 picks the strength of figure 12's linear
classifier as glmnet's ``cv.glmnet`` does (``research.glm_cv``: k-fold
cross-validation of the multinomial lasso path on the same training split, drawn
as ``plot.cv.glmnet`` draws it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from research import figures
from research.paper.keras_tutorial import exact_linear_path
from research.paper.output import Figure, save
from research.paper.sweeps import Sweeps

if TYPE_CHECKING:
    from research.glm import GLMCV

__all__ = ["CROSS_VALIDATION", "fig15_lasso_path", "fig16_loss_caveat", "fig20_cross_validation"]

CROSS_VALIDATION = {
    "full": {"n_folds": 10, "alphas": 100},
    "quick": {"n_folds": 5, "alphas": 30},
}
"""Figure 20's folds and number of strengths (glmnet's grid), at full and --quick settings."""


def _reference_paths(x: np.ndarray, y: np.ndarray, alphas: np.ndarray):
    """scikit-learn's path at ``alphas`` (descending) and ``research.lasso_path`` on a dense
    grid over the same range, both with an unpenalized intercept."""
    from sklearn.linear_model import lasso_path as sk_lasso_path

    from research import lasso_path

    # An unpenalized intercept is the same as centring X and y.
    xc, yc = x - x.mean(0), y - y.mean()
    descending = np.sort(alphas)[::-1]
    _, sk_coefs, _ = sk_lasso_path(xc, yc, alphas=descending, tol=1e-12, max_iter=100_000)
    grid = np.geomspace(descending[0], descending[-1], 200)
    _, dense, _ = lasso_path(xc, yc, alphas=grid, tol=1e-10)
    return sk_coefs, grid, dense


def fig15_lasso_path(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 15: the engine's Lasso path vs ``research.lasso_path`` (and scikit-learn's)."""
    job = sweeps["lasso_path"].pick(method="proximal")
    solved = sweeps["lasso_path"].pick(method="coordinate_descent")
    d = job.dataset()
    alphas = np.asarray(job.strengths["l1"])
    coefs = job.params["layers/0/kernel"][0, :, :, 0]
    order = np.argsort(alphas)[::-1]
    exact = solved.params["layers/0/kernel"][0, :, :, 0][order].T  # (p, K), descending
    x, y = d.x_train.astype(np.float64), d.y_train[:, 0].astype(np.float64)
    sk_coefs, grid, dense = _reference_paths(x, y, alphas)
    max_diff = float(np.abs(coefs[order] - exact.T).max())
    exact_vs_sk = float(np.abs(exact - sk_coefs).max())
    fig = figures.lasso_path(alphas, coefs, grid, dense)
    data = {
        "alphas": alphas,
        "coefs": coefs,
        "exact_coefs": exact,
        "sk_coefs": sk_coefs,
        "dense_alphas": grid,
        "dense_coefs": dense,
    }
    save(
        out,
        "fig15_lasso_path",
        fig,
        data | {"max_abs_difference": max_diff, "exact_vs_sklearn": exact_vs_sk},
    )
    support_match = float(np.mean((coefs[order] != 0) == (exact.T != 0)))
    return Figure(
        "fig15_lasso_path",
        f"Lasso coefficients vs strength on {d.name}: {alphas.size} strengths "
        "trained side by side in one vmapped proximal-gradient job (points); the exact path "
        f"(method=coordinate_descent, research.lasso_path) on {grid.size} strengths (lines).",
        {
            "max |coef difference| vs the exact path": f"{max_diff:.2e}",
            "zero pattern agreement": f"{support_match:.1%}",
            "exact path vs scikit-learn (tol 1e-12)": f"{exact_vs_sk:.1e}",
        },
    )


def fig16_loss_caveat(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 16: the L1 *loss*, not the L1 penalty, resists outliers."""
    jobs = sweeps["loss_caveat"]
    d = jobs.jobs[0].dataset()
    noise = jobs.jobs[0].config["data"]["noise"]
    x_grid = np.linspace(0, 10, 101).astype(np.float32)[:, None]
    fits, slopes = {}, {}
    for loss, label in (("abs_sum", "absolute-error loss"), ("mse", "squared-error loss")):
        job = jobs.pick(loss=loss)
        fits[label] = job.predict(x_grid)[..., 0]
        slopes[f"slope, {label}"] = float(job.params["layers/0/kernel"][:, 0, 0, 0].mean())
        slopes[f"intercept, {label}"] = float(job.params["layers/0/bias"][:, 0, 0].mean())
    fig = figures.loss_caveat(
        np.concatenate([d.x_train[:, 0], d.x_test[:, 0]]),
        np.concatenate([d.y_train[:, 0], d.y_test[:, 0]]),
        np.concatenate([d.info["outlier_train"], d.info["outlier_test"]]),
        x_grid[:, 0],
        fits,
        true_slope=d.info["slope"],
    )
    save(out, "fig16_loss_caveat", fig, {f"fit/{k}": v for k, v in fits.items()})
    return Figure(
        "fig16_loss_caveat",
        "The blog post attributes robustness to outliers to L1, but its experiment "
        "varied the penalty; varying the loss instead (linear model, no penalty) shows the "
        "effect: the absolute-error fit follows the bulk, the squared-error fit is pulled up.",
        {k: round(v, 3) for k, v in slopes.items()}
        | {"true line": f"y = {d.info['slope']:g}x, noise U(0, {noise:g})"},
    )


def _chosen(cv: GLMCV, k: int, accuracy: np.ndarray, p: int) -> str:
    """One chosen strength's line of figure 20's numbers."""
    nonzero = int(np.count_nonzero(cv.path.coef[..., k]))
    return (
        f"λ = {cv.alphas[k]:.4g}: CV deviance {cv.cv_mean[k]:.4f} ± {cv.cv_std[k]:.4f}, "
        f"{cv.path.df[k]} of {p} features nonzero ({nonzero} coefficients), "
        f"test accuracy {accuracy[k]:.4f}"
    )


def fig20_cross_validation(sweeps: Sweeps, out: Path) -> Figure:
    """Figure 20: cross-validating the linear classifier's L1 path (``research.glm_cv``)."""
    from research import glm_cv

    job = exact_linear_path(sweeps, sweeps["digits"].jobs[0].config["data"])
    d = job.dataset()
    x, y = d.x_train.astype(np.float64), d.y_train
    settings = CROSS_VALIDATION["quick" if sweeps.quick else "full"]
    # On the data as given (already standardized by the training split), as the engine
    # solves it: the strengths are figure 12's.
    cv = glm_cv(x, y, family="multinomial", measure="deviance", standardize=False, **settings)
    predicted = cv.path.predict(d.x_test.astype(np.float64), kind="class")  # (n, K)
    accuracy = (predicted == d.y_test[:, None]).mean(axis=0)
    k_min = int(np.flatnonzero(cv.alphas == cv.alpha_min)[0])
    k_1se = int(np.flatnonzero(cv.alphas == cv.alpha_1se)[0])
    p = x.shape[1]
    fig = figures.cross_validation(
        cv.alphas,
        cv.cv_mean,
        cv.cv_std,
        cv.path.df,
        {
            f"alpha_min = {cv.alpha_min:.3g}": cv.alpha_min,
            f"alpha_1se = {cv.alpha_1se:.3g}": cv.alpha_1se,
        },
        ylabel="multinomial deviance (held-out folds)",
        nonzero_label=f"features with a nonzero coefficient (of {p})",
        title=f"{settings['n_folds']}-fold cross-validation, linear classifier on digits",
    )
    data = {
        "alphas": cv.alphas,
        "cv_mean": cv.cv_mean,
        "cv_std": cv.cv_std,
        "df": cv.path.df,
        "coef": cv.path.coef,
        "alpha_min": cv.alpha_min,
        "alpha_1se": cv.alpha_1se,
        "fold_ids": cv.fold_ids,
        "test_accuracy": accuracy,
    }
    save(out, "fig20_cross_validation", fig, data)
    return Figure(
        "fig20_cross_validation",
        f"Choosing the strength of figure 12's linear classifier by {settings['n_folds']}-fold "
        f"cross-validation on its {len(y)} training digits, as glmnet's cv.glmnet does and "
        "drawn as plot.cv.glmnet draws it (research.glm_cv: the multinomial lasso path, "
        f"unstandardized as the engine solves it, on glmnet's grid of {cv.alphas.size} "
        "strengths): the held-out multinomial deviance, mean over the folds ± one standard "
        "error; dashed: alpha_min, the strength of the least mean, and alpha_1se, the largest "
        "strength whose mean is within one standard error of it; top: the features (pixels) "
        "with a nonzero coefficient in any class. Test accuracy is on the held-out test split "
        "of figure 12.",
        {
            "alpha_min": _chosen(cv, k_min, accuracy, p),
            "alpha_1se": _chosen(cv, k_1se, accuracy, p),
            "strengths": f"{cv.alphas.size}, from {cv.alphas[0]:.3g} down to {cv.alphas[-1]:.3g}",
        },
    )
