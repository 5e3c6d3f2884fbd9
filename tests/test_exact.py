"""method=coordinate_descent: a linear model's exact path, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, lasso_path

from research.engine import Experiment

pytestmark = pytest.mark.parity

BASE = {
    "data": {"name": "sparse_regression"},
    "model": {"name": "linear"},
    "loss": "half_mse",
    "method": "coordinate_descent",
    "num_seeds": 2,
    "progress": False,
}


def _centered(data):
    x, y = data.x_train.astype(np.float64), data.y_train[:, 0].astype(np.float64)
    return x, y, x - x.mean(0), y - y.mean()


def test_lasso_strengths_match_scikit_learn_with_intercept():
    strengths = [0.001, 1.0, 0.05]  # any order: each strength keeps its place
    e = Experiment({**BASE, "regularizer": {"name": "l1", "l1": strengths}})
    res = e.run()
    x, y, xc, yc = _centered(e.data)
    _, sk, _ = lasso_path(xc, yc, alphas=[1.0, 0.05, 0.001], tol=1e-12, max_iter=100_000)
    sk = sk[:, [2, 0, 1]]  # back to the config's order
    kernel = res.params["layers/0/kernel"]
    assert kernel.shape == (2, 3, x.shape[1], 1)
    np.testing.assert_array_equal(kernel[0], kernel[1])  # nothing varies with the seed
    np.testing.assert_allclose(kernel[0, :, :, 0], sk.T, atol=1e-6)
    np.testing.assert_array_equal(kernel[0, :, :, 0] == 0, sk.T == 0)
    intercept = y.mean() - x.mean(0) @ sk
    np.testing.assert_allclose(res.params["layers/0/bias"][0, :, 0], intercept, atol=1e-5)
    # The recorded loss is the objective at the solution, penalty included.
    objective = [
        0.5 * np.mean((y - x @ sk[:, k] - intercept[k]) ** 2) + a * np.abs(sk[:, k]).sum()
        for k, a in enumerate(strengths)
    ]
    np.testing.assert_allclose(res.metrics["train_loss"][0], objective, rtol=1e-5)
    np.testing.assert_allclose(res.history["epoch_loss"][0, :, -1], objective, rtol=1e-5)
    zeros = (sk == 0).sum(axis=0)
    np.testing.assert_array_equal(res.metrics["exact_zeros/layers/0/kernel"][1], zeros)
    assert zeros[1] > 0 and zeros[0] < zeros[1]


def test_elastic_net_and_ridge_in_keras_conventions():
    """``l1 |w| + l2 w^2`` is scikit-learn's ``alpha = l1 + 2 l2``,
    ``l1_ratio = l1 / alpha``; ridge (l1 = 0) has a closed form."""
    reg = {"name": "elastic_net", "l1": [0.02, 0.0, 0.1], "l2": [0.05, 0.3, 0.0]}
    e = Experiment({**BASE, "regularizer": reg})
    res = e.run()
    x, y, xc, yc = _centered(e.data)
    kernel = res.params["layers/0/kernel"][0, :, :, 0]
    for k, (l1, l2) in enumerate(zip(reg["l1"], reg["l2"], strict=True)):
        if l1 == 0:  # (Xc'Xc + 2 n l2 I) w = Xc'yc
            expect = np.linalg.solve(xc.T @ xc + 2 * len(y) * l2 * np.eye(x.shape[1]), xc.T @ yc)
        else:
            alpha = l1 + 2 * l2
            sk = ElasticNet(alpha=alpha, l1_ratio=l1 / alpha, tol=1e-12, max_iter=100_000)
            expect = sk.fit(x, y).coef_
        np.testing.assert_allclose(kernel[k], expect, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model": {"name": "mlp", "widths": [50, 4, 1]}}, r"^method: coordinate_descent solves"),
        ({"loss": "mse"}, r"^loss: method=coordinate_descent minimizes"),
        ({"regularizer": {"name": "group_lasso", "strength": 0.1}}, r"^regularizer: method=coo"),
    ],
)
def test_what_it_cannot_solve_is_named(change, match):
    with pytest.raises(ValueError, match=match):
        Experiment({**BASE, "regularizer": {"name": "l1", "l1": 0.1}, **change})
