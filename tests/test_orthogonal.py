"""``Orthogonal``: Keras's OrthogonalRegularizer, value and gradient against real TensorFlow."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import tensorflow as tf

from research.optim import add_regularization, proximal
from research.regularizers import Orthogonal, from_keras


def _kernel(zero_row: bool, zero_column: bool = False, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).normal(size=(5, 4)).astype(np.float32)
    if zero_row:
        w[2] = 0.0
    if zero_column:
        w[:, 1] = 0.0
    return w


def _keras_value_and_grad(w, factor, mode):
    reg = keras.regularizers.OrthogonalRegularizer(factor=factor, mode=mode)
    v = tf.Variable(w)
    with tf.GradientTape() as tape:
        value = reg(v)
    return value.numpy(), tape.gradient(value, v).numpy()


@pytest.mark.parity
@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("zeros", ["none", "row", "column"])
def test_value_and_gradient_match_keras(mode, zeros):
    w = _kernel(zero_row=zeros == "row", zero_column=zeros == "column")
    want_value, want_grad = _keras_value_and_grad(w, 0.3, mode)
    reg = Orthogonal(0.3, mode)
    params = {"kernel": jnp.asarray(w)}
    np.testing.assert_allclose(reg(params), want_value, rtol=1e-6)
    grad = reg.grad(params)["kernel"]
    np.testing.assert_allclose(grad, want_grad, rtol=2e-5, atol=1e-8)
    np.testing.assert_allclose(jax.grad(reg)(params)["kernel"], want_grad, rtol=2e-5, atol=1e-8)
    if zeros == "row":  # the zero row has zero norm: its gradient is 0 (no NaN), as in TF
        np.testing.assert_array_equal(grad[2], 0.0)
        assert np.all(np.isfinite(grad))


@pytest.mark.parity
def test_one_keras_step_with_the_penalty_equals_add_regularization():
    w = _kernel(zero_row=True)
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    y = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    layer = keras.layers.Dense(
        4, use_bias=False, kernel_regularizer=keras.regularizers.OrthogonalRegularizer(0.5)
    )
    model = keras.Sequential([keras.Input((5,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    layer.set_weights([w])
    model.train_on_batch(x, y)
    reg = from_keras(layer.kernel_regularizer)
    tx = optax.chain(add_regularization(reg), optax.sgd(0.1))
    params = {"kernel": jnp.asarray(w)}
    grads = jax.grad(lambda p: jnp.mean((x @ p["kernel"] - y) ** 2))(params)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(
        optax.apply_updates(params, updates)["kernel"], layer.get_weights()[0], rtol=1e-5, atol=1e-7
    )


def test_keras_conversion_round_trips():
    reg = from_keras(keras.regularizers.OrthogonalRegularizer(0.3, mode="columns"))
    assert isinstance(reg, Orthogonal) and reg.mode == "columns"
    assert reg.factor == np.float32(0.3)  # Keras keeps its strength in float32
    assert (
        reg.to_keras().get_config()
        == keras.regularizers.OrthogonalRegularizer(0.3, mode="columns").get_config()
    )
    assert from_keras("orthogonal_regularizer").get_config() == {"factor": 0.01, "mode": "rows"}
    same = from_keras({"factor": 0.2, "mode": "rows"})
    assert isinstance(same, Orthogonal) and same.factor == 0.2


def test_bad_arguments_and_weights_are_named():
    with pytest.raises(ValueError, match="mode: expected one of"):
        Orthogonal(0.1, mode="diagonal")
    with pytest.raises(ValueError, match="factor: expected a finite number >= 0"):
        Orthogonal(-0.1)
    with pytest.raises(ValueError, match=r"must be 2-D .* shape \(2, 3, 4\)"):
        Orthogonal()({"kernel": jnp.ones((2, 3, 4))})
    with pytest.raises(ValueError, match=r"shape \(1, 10\) has fewer than two rows"):
        Orthogonal()({"kernel": jnp.ones((1, 10))})
    with pytest.raises(ValueError, match=r"proximal: Orthogonal has no closed-form proximal map; "
                                         r"use add_regularization"):  # fmt: skip
        proximal(Orthogonal(), 0.1)


def test_strengths_vmap_without_recompiling():
    params = {"kernel": jnp.asarray(_kernel(zero_row=False))}
    values = jax.vmap(lambda f: Orthogonal(f)(params))(jnp.array([0.0, 0.1, 0.2]))
    np.testing.assert_allclose(values[2], 2 * values[1], rtol=1e-6)
    assert values[0] == 0.0
