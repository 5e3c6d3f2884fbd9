"""``research.glm_cv`` against real ``cv.glmnet`` with the same ``foldid``: every family and
measure, weights, given strengths; ``cvm`` and ``cvsd`` within 1e-4 (absolute; in practice
1e-8 or closer), ``lambda.min`` and ``lambda.1se`` equal. Plus errors naming the argument."""

import numpy as np
import pytest

from research import glm_cv

from glmnet_r import glmnet_batch, r_examples

pytestmark = [pytest.mark.glmnet, pytest.mark.parity]

EXAMPLE = {
    "gaussian": "QuickStartExample",
    "binomial": "BinomialExample",
    "multinomial": "MultinomialExample",
    "poisson": "PoissonExample",
}
CASES = [  # (family, measure, extra)
    ("gaussian", "deviance", {}),
    ("gaussian", "mae", {"weights": True}),
    ("binomial", "deviance", {"weights": True}),
    ("binomial", "class", {}),
    ("binomial", "auc", {}),
    ("binomial", "mse", {"l1_ratio": 0.5}),
    ("poisson", "deviance", {}),
    ("poisson", "mse", {"given": True}),
    ("multinomial", "deviance", {}),
    ("multinomial", "class", {"grouped": True}),
    ("multinomial", "mae", {"l1_ratio": 0.3}),
]


@pytest.fixture(scope="module")
def results():
    examples = r_examples(*EXAMPLE.values())
    ours, calls = [], []
    for family, measure, extra in CASES:
        x, y = examples[EXAMPLE[family]]
        n = len(y)
        rng = np.random.default_rng(len(ours))
        foldid = rng.permutation(np.arange(n) % 10) + 1
        kwargs = {"family": family, "tol": 1e-14}
        r_measure = "mse" if (family, measure) == ("gaussian", "deviance") else measure
        theirs = {"x": x, "y": y, "foldid": foldid, "family": family, "type_measure": r_measure}
        if extra.get("weights"):
            kwargs["sample_weight"] = theirs["weights"] = rng.uniform(0.3, 2.0, n)
        if "l1_ratio" in extra:
            kwargs["l1_ratio"] = theirs["alpha"] = extra["l1_ratio"]
        if extra.get("given"):
            grid = np.geomspace(0.5, 0.005, 15)
            kwargs["alphas"], theirs["lambda"] = grid, grid
        if extra.get("grouped"):
            kwargs["grouped"], theirs["type_multinomial"] = True, "grouped"
        ours.append(glm_cv(x, y, fold_ids=foldid, measure=measure, **kwargs))
        calls.append(("cv.glmnet", theirs))
    return list(zip(ours, glmnet_batch(calls), strict=True))


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=[f"{f}-{m}-{sorted(e)}" for f, m, e in CASES]
)
def test_cross_validation_is_cv_glmnets(results, index):
    ours, ref = results[index]
    np.testing.assert_allclose(ours.alphas, ref["lambda"], rtol=1e-12)
    assert np.abs(ours.cv_mean - ref["cvm"]).max() < 1e-4
    assert np.abs(ours.cv_std - ref["cvsd"]).max() < 1e-4
    assert ours.alpha_min == pytest.approx(ref["lambda_min"], rel=1e-12)
    assert ours.alpha_1se == pytest.approx(ref["lambda_1se"], rel=1e-12)
    assert ours.alpha_1se >= ours.alpha_min and np.ptp(ours.cv_mean) > 0


def test_folds_are_balanced_and_reproducible():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((53, 5)), rng.standard_normal(53)
    a = glm_cv(x, y, n_folds=5, seed=3, alphas=8)
    b = glm_cv(x, y, n_folds=5, seed=3, alphas=8)
    np.testing.assert_array_equal(a.fold_ids, b.fold_ids)
    np.testing.assert_array_equal(np.bincount(a.fold_ids)[1:], [11, 11, 11, 10, 10])
    np.testing.assert_array_equal(a.cv_mean, b.cv_mean)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"measure": "auc"}, r"measure: family=gaussian takes one of \['deviance', 'mse', 'mae'\]"),
        ({"n_folds": 2}, r"n_folds: expected an int in \[3, n_samples=40\]"),
        ({"fold_ids": np.ones(40, int)}, "fold_ids: expected at least 3 folds"),
        ({"fold_ids": np.ones(39, int)}, "fold_ids: expected 40 integers"),
        ({"family": "ordinal"}, "family: expected one of"),
    ],
)
def test_bad_arguments_are_errors_naming_them(kwargs, message):
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match=message):
        glm_cv(rng.standard_normal((40, 3)), rng.standard_normal(40), **kwargs)
