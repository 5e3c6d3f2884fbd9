"""Models (Flax NNX) and the seed experiments' data sets."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from research import data, models


# --------------------------------------------------------------------------- models
def _mlp(widths, **kw):
    return models.MLP(widths, rngs=nnx.Rngs(0), **kw)


def test_mlp_layers_names_and_keras_initialization():
    graphdef, params = models.init_params(
        lambda r: models.MLP([1, 10, 10, 10, 1], rngs=r), jax.random.key(3)
    )
    assert sorted(params["layers"]) == [0, 1, 2, 3]
    for i, (fan_in, fan_out) in enumerate([(1, 10), (10, 10), (10, 10), (10, 1)]):
        kernel, bias = params["layers"][i]["kernel"], params["layers"][i]["bias"]
        assert kernel.shape == (fan_in, fan_out) and bias.shape == (fan_out,)
        limit = math.sqrt(6 / (fan_in + fan_out))  # Glorot uniform
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.5 * limit
        np.testing.assert_array_equal(bias, 0.0)
    out = models.apply(graphdef, params, jnp.ones((4, 1)))
    assert out.shape == (4, 1)


def test_linear_activation_makes_the_network_affine_and_relu_does_not():
    x = jnp.linspace(-3, 3, 7)[:, None]
    for act, affine in [(None, True), ("identity", True), ("relu", False), ("tanh", False)]:
        model = _mlp([1, 10, 10, 1], activation=act)
        model.layers[0].bias[...] = jnp.linspace(-1, 1, 10)  # make relu's kink visible
        y = np.asarray(model(x))[:, 0]
        second_diff = y[2:] - 2 * y[1:-1] + y[:-2]
        assert np.allclose(second_diff, 0, atol=1e-5) == affine, act


def test_adjusted_mlp_and_classifier_and_linear_shapes():
    assert _mlp([1, 10, 10, 1, 1])(jnp.ones((2, 1))).shape == (2, 1)
    clf = models.Classifier(64, rngs=nnx.Rngs(0))
    assert clf.layers[0].kernel.shape == (64, 64) and clf.layers[1].kernel.shape == (64, 10)
    assert clf.activation == "relu"
    lin = models.Linear(5, rngs=nnx.Rngs(0))
    assert len(lin.layers) == 1 and lin(jnp.ones((3, 5))).shape == (3, 1)
    no_bias = models.MLP([2, 3, 1], use_bias=False, rngs=nnx.Rngs(0))
    assert "bias" not in nnx.to_pure_dict(nnx.state(no_bias))["layers"][0]


def test_model_config_errors_name_the_key():
    with pytest.raises(ValueError, match="model.activation"):
        _mlp([1, 2, 1], activation="selu")
    with pytest.raises(ValueError, match=r"model.widths: \[2, 3, 1\] does not fit the data"):
        models.build_model({"name": "mlp", "widths": [2, 3, 1]}, 1, 1, nnx.Rngs(0))
    with pytest.raises(ValueError, match="model.name"):
        models.build_model({"name": "resnet"}, 1, 1, nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"model \(linear\): unknown key\(s\) \['depth'\]"):
        models.build_model({"name": "linear", "depth": 3}, 1, 1, nnx.Rngs(0))


# --------------------------------------------------------------------------- data
def test_line_outliers_is_the_blog_posts_data():
    d = data.line_outliers(seed=0)
    assert d.x_train.shape == (40, 1) and d.x_test.shape == (10, 1)
    x = np.linspace(0.5, 9.5, 50)
    test_idx = np.arange(4, 50, 5)
    np.testing.assert_allclose(d.x_test[:, 0], x[test_idx], rtol=1e-6)
    np.testing.assert_array_equal(d.info["outlier_indices"], np.arange(2, 50, 5))
    assert d.info["outlier_train"].sum() == 10 and not d.info["outlier_test"].any()
    offset = d.info["offset"]
    assert 0 <= offset < 10
    residual = d.y_train[:, 0] - 2 * d.x_train[:, 0]
    residual[d.info["outlier_train"]] -= offset  # one shared offset
    assert residual.min() >= -1e-5 and residual.max() < 2 + 1e-5
    assert residual.std() > 0.3  # U(0, 2) noise really is there
    again = data.line_outliers(seed=0)
    np.testing.assert_array_equal(again.y_train, d.y_train)
    assert not np.array_equal(data.line_outliers(seed=1).y_train, d.y_train)


def test_line_outliers_options():
    d = data.line_outliers(n_samples=100, noise=0.0, n_outliers=0, test_every=4, slope=3.0)
    assert d.x_train.shape == (75, 1) and d.x_test.shape == (25, 1)
    np.testing.assert_allclose(d.y_train, 3 * d.x_train, rtol=1e-6)
    # The offset is U(0, outlier_scale) from the same draw: scaling it scales the offset.
    big = data.line_outliers(outlier_scale=100.0, seed=2)
    assert big.info["offset"] == pytest.approx(10 * data.line_outliers(seed=2).info["offset"])
    with pytest.raises(ValueError, match="data.noise"):
        data.line_outliers(noise=-1.0)
    with pytest.raises(ValueError, match="data.n_outliers"):
        data.line_outliers(n_outliers=60)
    with pytest.raises(ValueError, match=r"data \(line_outliers\): unknown key"):
        data.load({"name": "line_outliers", "n_points": 3})
    with pytest.raises(ValueError, match="data.name"):
        data.load({"name": "mnist"})


def test_sparse_regression_has_a_known_sparse_truth():
    d = data.sparse_regression(n_samples=500, n_features=30, n_informative=4, noise=0.05, seed=3)
    coef = d.info["true_coef"]
    assert (coef != 0).sum() == 4 and np.abs(coef[coef != 0]).min() >= 1
    assert d.x_train.shape == (400, 30) and d.y_test.shape == (100, 1)
    residual = d.y_train[:, 0] - d.x_train @ coef
    assert residual.std() == pytest.approx(0.05, rel=0.2)


def test_digits_standardized_fixed_split():
    d = data.digits()
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.num_classes == 10 and set(np.unique(d.y_train)) == set(range(10))
    varying = d.x_train.std(0) > 0
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(0)[varying], 1, rtol=1e-4)
    np.testing.assert_array_equal(data.digits().y_test, d.y_test)
