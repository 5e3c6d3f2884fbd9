"""The bridge to real glmnet (``tests/glmnet_r.py``) against facts about glmnet 4.1.

What crosses to R and back must be what glmnet computed: shapes, the start of each
family's path (all coefficients zero, intercepts from the class or count means, the
first lambda in closed form), arrays bit for bit, cross-validation recomputed from
per-fold fits. The session fixture ``glmnet_r`` installs R and glmnet where needed
(``scripts/glmnet_local.sh``) and fails these tests where it cannot.
"""

import numpy as np
import pytest

from glmnet_r import EXAMPLES, RError, cv_glmnet, glmnet_batch, glmnet_path, r_examples

pytestmark = [pytest.mark.glmnet, pytest.mark.usefixtures("glmnet_r")]


@pytest.fixture(scope="module")
def examples():
    return r_examples(*EXAMPLES)


@pytest.fixture(scope="module")
def family_paths(examples):
    """The binomial, multinomial (grouped) and Poisson paths of their examples, one Rscript."""
    settings = {
        "binomial": ("BinomialExample", {}),
        "multinomial": ("MultinomialExample", {"type_multinomial": "grouped"}),
        "poisson": ("PoissonExample", {}),
    }
    calls = [
        ("glmnet", {"x": examples[name][0], "y": examples[name][1], "family": family, **kw})
        for family, (name, kw) in settings.items()
    ]
    return dict(zip(settings, glmnet_batch(calls), strict=True))


def _standardized(x):
    """x centered and scaled by its population sd (divide by n), as glmnet does."""
    return (x - x.mean(0)) / x.std(0)


def test_the_example_data_sets_have_glmnets_shapes_and_labels(examples):
    shapes = {name: (x.shape, y.shape) for name, (x, y) in examples.items()}
    assert shapes == {
        "QuickStartExample": ((100, 20), (100,)),
        "BinomialExample": ((100, 30), (100,)),
        "MultinomialExample": ((500, 30), (500,)),
        "PoissonExample": ((500, 20), (500,)),
    }
    assert set(examples["BinomialExample"][1]) == {0.0, 1.0}
    assert set(examples["MultinomialExample"][1]) == {1.0, 2.0, 3.0}
    counts = examples["PoissonExample"][1]
    assert counts.min() >= 0 and np.array_equal(counts, np.round(counts))


def test_the_gaussian_path_starts_at_the_largest_standardized_correlation(examples):
    x, y = examples["QuickStartExample"]
    fit = glmnet_path(x, y)
    n, p = x.shape
    corr = np.abs(_standardized(x).T @ (y - y.mean())) / n
    np.testing.assert_allclose(fit["lambda"][0], corr.max(), rtol=1e-12)
    assert fit["beta"].shape == (p, len(fit["lambda"]))
    assert np.all(fit["beta"][:, 0] == 0) and fit["df"][0] == 0
    np.testing.assert_allclose(fit["a0"][0], y.mean(), rtol=1e-13)
    assert fit["beta"][corr.argmax(), 1] != 0  # the most correlated feature enters first
    # lambda.min.ratio = 1e-4 when n >= p: a geometric grid of 100 from lambda_max.
    k = np.arange(len(fit["lambda"]))
    np.testing.assert_allclose(fit["lambda"], corr.max() * 1e-4 ** (k / 99), rtol=1e-12)
    np.testing.assert_allclose(fit["dev_ratio"][0], 0, atol=1e-12)
    np.testing.assert_allclose(fit["nulldev"], np.sum((y - y.mean()) ** 2), rtol=1e-12)


def test_the_gaussian_path_solves_the_lasso_on_standardized_features(examples):
    # min 1/(2n) |y - a0 - x b|^2 + lambda sum_j sd_j |b_j|: at the solution the
    # standardized features' correlations with the residual are lambda sign(b_j) where
    # b_j != 0 and at most lambda in size elsewhere. glmnet's thresh bounds coefficient
    # changes, not this gap: 1e-14 leaves it near 1e-5 (relative), 1e-30 near 1e-12.
    x, y = examples["QuickStartExample"]
    fit = glmnet_path(x, y, thresh=1e-30)
    residual = y[:, None] - fit["a0"] - x @ fit["beta"]
    grad = _standardized(x).T @ residual / len(y)
    active = fit["beta"] != 0
    gap = np.abs(grad - fit["lambda"] * np.sign(fit["beta"])) / fit["lambda"]
    assert gap[active].max() < 1e-10
    assert (np.abs(grad) / fit["lambda"])[~active].max() <= 1 + 1e-10
    np.testing.assert_allclose(residual.mean(0), 0, atol=1e-12)


def test_arguments_cross_to_r_bit_for_bit_and_take_effect(examples):
    x, y = examples["QuickStartExample"]
    lam = np.array([0.7, 0.1 * 3, 1 / 7, 0.01])  # not short decimals
    weakest = np.argmin(np.abs(_standardized(x).T @ (y - y.mean())))
    factor = np.ones(x.shape[1])
    factor[weakest] = 0.0  # unpenalized: in the model at every lambda
    plain, free, capped = glmnet_batch(
        [
            ("glmnet", {"x": x, "y": y, "lambda": lam}),
            ("glmnet", {"x": x, "y": y, "lambda": lam, "penalty_factor": factor}),
            ("glmnet", {"x": x, "y": y, "lambda": lam, "upper_limits": 0.0}),
        ]
    )
    assert np.array_equal(plain["lambda"], lam)
    assert np.all(free["beta"][weakest] != 0) and plain["beta"][weakest, 0] == 0
    assert np.all(capped["beta"] <= 0) and np.any(plain["beta"] > 0)


def test_the_binomial_path_starts_at_the_log_odds_of_the_labels(examples, family_paths):
    x, y = examples["BinomialExample"]
    fit = family_paths["binomial"]
    n_lambda = len(fit["lambda"])
    assert fit["a0"].shape == (n_lambda,) and fit["beta"].shape == (30, n_lambda)
    assert np.all(fit["beta"][:, 0] == 0)
    ybar = y.mean()
    np.testing.assert_allclose(fit["a0"][0], np.log(ybar / (1 - ybar)), rtol=1e-12)
    corr = np.abs(_standardized(x).T @ (y - ybar)) / len(y)
    np.testing.assert_allclose(fit["lambda"][0], corr.max(), rtol=1e-12)


def test_the_multinomial_path_has_one_coefficient_matrix_per_class(examples, family_paths):
    y = examples["MultinomialExample"][1]
    fit = family_paths["multinomial"]
    n_lambda = len(fit["lambda"])
    assert fit["beta"].shape == (3, 30, n_lambda) and fit["a0"].shape == (3, n_lambda)
    assert fit["classes"].tolist() == ["1", "2", "3"]
    assert np.all(fit["beta"][:, :, 0] == 0)
    # Grouped: a feature enters all classes at once.
    assert np.array_equal(fit["beta"][0] != 0, fit["beta"][1] != 0)
    # At the start the intercepts' softmax is the class frequencies.
    softmax = np.exp(fit["a0"][:, 0]) / np.exp(fit["a0"][:, 0]).sum()
    freq = np.array([np.mean(y == k) for k in (1, 2, 3)])
    np.testing.assert_allclose(softmax, freq, rtol=1e-10)


def test_the_poisson_path_starts_at_the_log_mean_count(examples, family_paths):
    y = examples["PoissonExample"][1]
    fit = family_paths["poisson"]
    assert np.all(fit["beta"][:, 0] == 0)
    np.testing.assert_allclose(fit["a0"][0], np.log(y.mean()), rtol=1e-12)
    np.testing.assert_allclose(fit["dev_ratio"][0], 0, atol=1e-12)


def test_cross_validation_is_the_mean_of_per_fold_fits(examples):
    x, y = examples["QuickStartExample"]
    foldid = np.arange(len(y)) % 4 + 1
    lam = 1.5 * 0.8 ** np.arange(20)
    calls = [("cv.glmnet", {"x": x, "y": y, "foldid": foldid, "lambda": lam})]
    calls += [
        ("glmnet", {"x": x[foldid != k], "y": y[foldid != k], "lambda": lam}) for k in range(1, 5)
    ]
    cv, *folds = glmnet_batch(calls)
    assert cv["measure"] == "Mean-Squared Error"
    # Equal folds: cvm is the mean held-out squared error, cvsd the standard error of the
    # four fold means.
    errors = np.stack(
        [
            np.mean((y[foldid == k, None] - fit["a0"] - x[foldid == k] @ fit["beta"]) ** 2, 0)
            for k, fit in zip(range(1, 5), folds, strict=True)
        ]
    )
    np.testing.assert_allclose(cv["cvm"], errors.mean(0), rtol=1e-10)
    np.testing.assert_allclose(cv["cvsd"], errors.std(0, ddof=1) / 2, rtol=1e-8)
    best = np.argmin(cv["cvm"])
    assert cv["lambda_min"] == cv["lambda"][best] and cv["lambda_min"] in cv["fit"]["lambda"]
    within = cv["cvm"] <= cv["cvm"][best] + cv["cvsd"][best]
    assert cv["lambda_1se"] == cv["lambda"][within].max()
    assert np.array_equal(cv["nzero"], cv["fit"]["df"])


def test_binomial_cross_validation_picks_lambdas_of_its_path(examples):
    x, y = examples["BinomialExample"]
    foldid = np.arange(len(y)) % 5 + 1
    cv = cv_glmnet(x, y, foldid, family="binomial", type_measure="class")
    assert cv["measure"] == "Misclassification Error"
    assert np.array_equal(cv["lambda"], cv["fit"]["lambda"])
    assert cv["lambda_min"] in cv["lambda"] and cv["lambda_1se"] >= cv["lambda_min"]
    # The largest lambda of least error (the class error ties often).
    assert cv["lambda_min"] == cv["lambda"][cv["cvm"] == cv["cvm"].min()].max()
    errors = cv["cvm"] * len(y)
    np.testing.assert_allclose(errors, np.round(errors), atol=1e-9)  # counts of mistakes


def test_r_errors_and_warnings_raise_with_rs_message(examples):
    x, y = examples["QuickStartExample"]
    with pytest.raises(RError, match="should be one of"):
        glmnet_path(x, y, family="nonsense")
    with pytest.raises(RError, match="Convergence for 2th lambda value not reached"):
        glmnet_path(x, y, maxit=1)  # a glmnet warning: an error here
