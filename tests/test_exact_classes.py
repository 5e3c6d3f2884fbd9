"""method=coordinate_descent with loss=cross_entropy: a linear classifier's exact path (the
penalized mean softmax cross-entropy), against real glmnet on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from research.engine import Experiment

from glmnet_r import glmnet_batch

pytestmark = [pytest.mark.parity, pytest.mark.glmnet]


def _run(data, regularizer):
    base = {"data": data, "model": {"name": "linear"}, "loss": "cross_entropy",
            "method": "coordinate_descent", "num_seeds": 1, "progress": False}  # fmt: skip
    e = Experiment({**base, "regularizer": regularizer})
    return e, e.run()


def test_ten_digits_are_glmnets_multinomial_path():
    """``l1 |W| + l2 W**2`` on the (64, 10) kernel is glmnet's multinomial elastic net with
    ``lambda = l1 + 2 l2`` and ``alpha = l1 / lambda`` on the unstandardized features."""
    l1, l2 = np.array([0.05, 0.01, 0.004]), 0.002
    e, res = _run({"name": "digits"}, {"name": "elastic_net", "l1": l1.tolist(), "l2": l2})
    x, y = e.data.x_train.astype(np.float64), e.data.y_train.astype(np.float64)
    lam = l1 + 2 * l2
    kernel = res.params["layers/0/kernel"][0]  # (3, 64, 10)
    bias = res.params["layers/0/bias"][0]  # (3, 10)
    refs = glmnet_batch([
        ("glmnet", {"x": x, "y": y, "family": "multinomial", "alpha": float(l1[k] / lam[k]),
                    "lambda": np.geomspace(lam[k] * 30, lam[k], 25), "standardize": False,
                    "thresh": 1e-12, "maxit": 10_000_000})
        for k in range(3)
    ])  # fmt: skip
    for k, ref in enumerate(refs):
        beta = np.asarray(ref["beta"])[..., -1].T  # (64, 10)
        np.testing.assert_allclose(kernel[k], beta, atol=2e-5)
        # The intercepts are identified up to a shift common to the classes.
        a0 = ref["a0"][:, -1]
        np.testing.assert_allclose(bias[k] - bias[k].mean(), a0 - a0.mean(), atol=2e-5)
    zeros = res.metrics["exact_zeros/layers/0/kernel"][0]
    assert zeros[0] > zeros[2] > 0  # sparser at the larger strength
    assert res.metrics["test_accuracy"][0, 2] > 0.9


def test_two_digits_are_glmnets_binomial_path():
    """Two logit columns: only their difference ``d`` matters, and the penalty is least at
    ``(-d/2, d/2)``, where it is ``l1 |d| + l2/2 d**2``: glmnet's binomial family with
    ``lambda = l1 + l2``, ``alpha = l1 / lambda``."""
    l1, l2 = np.array([0.02, 0.005]), 0.01
    data = {"name": "digits", "classes": [3, 8]}
    e, res = _run(data, {"name": "elastic_net", "l1": l1.tolist(), "l2": l2})
    x, y = e.data.x_train.astype(np.float64), e.data.y_train.astype(np.float64)
    lam = l1 + l2
    refs = glmnet_batch([
        ("glmnet", {"x": x, "y": y, "family": "binomial", "alpha": float(l1[k] / lam[k]),
                    "lambda": np.geomspace(lam[k] * 30, lam[k], 25), "standardize": False,
                    "thresh": 1e-14})
        for k in range(2)
    ])  # fmt: skip
    kernel = res.params["layers/0/kernel"][0]  # (2, 64, 2)
    bias = res.params["layers/0/bias"][0]
    for k, ref in enumerate(refs):
        d = ref["beta"][:, -1]
        np.testing.assert_allclose(kernel[k, :, 1], d / 2, atol=1e-6)
        np.testing.assert_allclose(kernel[k, :, 0], -d / 2, atol=1e-6)
        assert bias[k, 1] - bias[k, 0] == pytest.approx(ref["a0"][-1], abs=1e-6)
    assert res.metrics["test_accuracy"][0].min() > 0.9


def test_a_zero_strength_is_refused_by_key():
    with pytest.raises(ValueError, match="regularizer.l1: method=coordinate_descent with loss"):
        _run({"name": "digits", "classes": [3, 8]}, {"name": "l1", "l1": [0.0, 0.1]})
