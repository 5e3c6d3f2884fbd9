"""Parity with real TensorFlow: Keras regularizers, a Keras SGD step and TF's proximal ops."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import tensorflow as tf

from research.optim import add_regularization, proximal, proximal_adagrad
from research.regularizers import L1, L2, ElasticNet, GroupLasso, from_keras

pytestmark = pytest.mark.parity

# Parity is with Keras on TensorFlow (conftest sets KERAS_BACKEND); never skip silently.
assert keras.backend.backend() == "tensorflow", keras.backend.backend()

SHAPES = [(7,), (5, 3), (3, 3, 2, 4)]  # a vector, a Dense kernel, a Conv2D kernel

# Keras casts its strengths to float32 even for float64 weights, so float64 parity uses
# strengths that float32 represents exactly; float32 uses everyday values.
STRENGTHS = {
    "float32": {"L1": {"l1": 0.3}, "L2": {"l2": 0.3}, "L1L2": {"l1": 0.1, "l2": 0.2}},
    "float64": {"L1": {"l1": 0.375}, "L2": {"l2": 0.3125}, "L1L2": {"l1": 0.125, "l2": 0.1875}},
}
RTOL = {"float32": 1e-6, "float64": 1e-12}


def _weights(rng, shape, dtype):
    w = rng.normal(size=shape).astype(dtype)
    w.reshape(-1)[:: max(2, w.size // 3)] = 0.0  # exact zeros, where sign(0) matters
    return w


@pytest.mark.parametrize("kind", ["L1", "L2", "L1L2"])
@pytest.mark.parametrize("shape", SHAPES)
def test_penalty_and_gradient_match_keras(kind, shape, dtype):
    keras_reg = getattr(keras.regularizers, kind)(**STRENGTHS[dtype][kind])
    ours = from_keras(keras_reg)
    w = _weights(np.random.default_rng(len(shape)), shape, dtype)
    var = tf.Variable(w)
    with tf.GradientTape() as tape:
        keras_value = keras_reg(var)
    keras_grad = tape.gradient(keras_value, var).numpy()

    params = {"kernel": jnp.asarray(w)}
    value = ours(params)
    assert value.dtype == np.dtype(dtype)
    np.testing.assert_allclose(value, keras_value.numpy(), rtol=RTOL[dtype])
    np.testing.assert_allclose(ours.grad(params)["kernel"], keras_grad, rtol=RTOL[dtype])
    np.testing.assert_allclose(jax.grad(ours)(params)["kernel"], keras_grad, rtol=RTOL[dtype])
    np.testing.assert_array_equal(keras_grad[w == 0] == 0, ours.grad(params)["kernel"][w == 0] == 0)


def test_regularizers_built_directly_match_keras_in_float32():
    w = {"kernel": jnp.asarray(_weights(np.random.default_rng(0), (6, 4), "float32"))}
    pairs = [
        (L1(0.3), keras.regularizers.L1(0.3)),
        (L2(0.3), keras.regularizers.L2(0.3)),
        (ElasticNet(0.1, 0.2), keras.regularizers.L1L2(0.1, 0.2)),
    ]
    for ours, theirs in pairs:
        want = theirs(tf.constant(np.asarray(w["kernel"]))).numpy()
        np.testing.assert_allclose(ours(w), want, rtol=1e-6)


def test_default_strengths_equal_keras_defaults():
    assert L1().l1 == pytest.approx(keras.regularizers.L1().get_config()["l1"], rel=1e-7)
    assert L2().l2 == pytest.approx(keras.regularizers.L2().get_config()["l2"], rel=1e-7)
    keras_en = keras.regularizers.L1L2().get_config()
    assert (ElasticNet().l1, ElasticNet().l2) == (keras_en["l1"], keras_en["l2"])


@pytest.mark.parametrize("kind", ["L1", "L2", "L1L2"])
def test_keras_round_trip(kind):
    keras_reg = getattr(keras.regularizers, kind)(**STRENGTHS["float32"][kind])
    for source in (keras_reg, keras_reg.get_config(), keras.regularizers.serialize(keras_reg)):
        ours = from_keras(source)
        back = ours.to_keras()
        assert type(back) is type(keras_reg)
        assert back.get_config() == pytest.approx(keras_reg.get_config())


def test_unknown_keras_regularizers_raise_naming_the_class():
    assert from_keras(keras.regularizers.OrthogonalRegularizer(0.01)).name == "orthogonal"

    class MyPenalty(keras.regularizers.Regularizer):
        def __call__(self, x):
            return tf.reduce_sum(x)

        def get_config(self):
            return {}

    with pytest.raises(ValueError, match="'MyPenalty'"):
        from_keras(MyPenalty())
    with pytest.raises(ValueError, match="GroupLasso has no Keras equivalent"):
        GroupLasso(0.1).to_keras()


@pytest.mark.parametrize("kind", ["L1", "L2", "L1L2"])
def test_one_sgd_step_matches_keras_dense_with_kernel_regularizer(kind):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    kernel = _weights(rng, (4, 3), "float32")
    bias = rng.normal(size=3).astype("float32")
    lr = 0.05
    keras_reg = getattr(keras.regularizers, kind)(**STRENGTHS["float32"][kind])

    layer = keras.layers.Dense(3, kernel_regularizer=keras_reg)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    layer.set_weights([kernel, bias])
    model.train_on_batch(x, y)
    keras_kernel, keras_bias = (v.numpy() for v in layer.weights)

    params = {"dense": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}}

    def loss(p):
        return jnp.mean((x @ p["dense"]["kernel"] + p["dense"]["bias"] - y) ** 2)

    grads = jax.grad(loss)(params)
    tx = optax.chain(add_regularization(from_keras(keras_reg)), optax.sgd(lr))
    updates, _ = tx.update(grads, tx.init(params), params)
    ours = optax.apply_updates(params, updates)

    np.testing.assert_allclose(ours["dense"]["kernel"], keras_kernel, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours["dense"]["bias"], keras_bias, rtol=1e-6, atol=1e-7)
    # The penalty moved the kernel (the comparison is not vacuous) but not the bias.
    plain = optax.apply_updates(params, optax.sgd(lr).update(grads, optax.sgd(lr).init(params))[0])
    assert np.max(np.abs(keras_kernel - np.asarray(plain["dense"]["kernel"]))) > 1e-3
    np.testing.assert_allclose(keras_bias, plain["dense"]["bias"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("l1", "l2"), [(0.0, 0.0), (2.0, 0.0), (0.0, 1.5), (2.0, 1.5)])
def test_proximal_sgd_step_matches_tf_proximal_gradient_descent(l1, l2, dtype):
    rng = np.random.default_rng(5)
    w = _weights(rng, (6, 5), dtype)
    g = rng.normal(size=(6, 5)).astype(dtype)
    lr = 0.125
    var = tf.Variable(w)
    tf.raw_ops.ResourceApplyProximalGradientDescent(
        var=var.handle,
        alpha=tf.constant(lr, dtype),
        l1=tf.constant(l1, dtype),
        l2=tf.constant(2 * l2, dtype),  # TF's l2 multiplies w**2 / 2
        delta=tf.constant(g),
    )
    want = var.numpy()

    tx = optax.chain(optax.sgd(lr), proximal(ElasticNet(l1, l2), lr))
    params = {"kernel": jnp.asarray(w)}
    updates, _ = tx.update({"kernel": jnp.asarray(g)}, tx.init(params), params)
    got = np.asarray(optax.apply_updates(params, updates)["kernel"])

    assert got.dtype == np.dtype(dtype)
    # apply_updates adds (prox - w) back to w: at most an ulp of |w| apart from TF.
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(w).max())
    np.testing.assert_array_equal(got == 0, want == 0)
    if l1 > 0:
        assert (want == 0).sum() >= 5


def test_proximal_adagrad_matches_tf_apply_proximal_adagrad(dtype):
    rng = np.random.default_rng(9)
    w = _weights(rng, (4, 6), dtype)
    grads = [rng.normal(size=(4, 6)).astype(dtype) for _ in range(4)]
    lr, l1, l2, init = 0.25, 0.125, 0.5, 0.1
    var, accum = tf.Variable(w), tf.Variable(np.full_like(w, init))
    for g in grads:
        tf.raw_ops.ResourceApplyProximalAdagrad(
            var=var.handle,
            accum=accum.handle,
            lr=tf.constant(lr, dtype),
            l1=tf.constant(l1, dtype),
            l2=tf.constant(2 * l2, dtype),
            grad=tf.constant(g),
        )
    want = var.numpy()

    tx = proximal_adagrad(ElasticNet(l1, l2), lr, initial_accumulator_value=init)
    params = {"kernel": jnp.asarray(w)}
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update({"kernel": jnp.asarray(g)}, state, params)
        params = optax.apply_updates(params, updates)
    got = np.asarray(params["kernel"])
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(w).max())
    np.testing.assert_array_equal(got == 0, want == 0)
    assert (want == 0).any()
