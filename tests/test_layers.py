"""research.layers: Keras-style layers with weight/activity regularizers and constraints.

The parity tests train real Keras 3 (TensorFlow backend) and the layers here
from the same initial weights, one ``train_on_batch`` step at a time, float32.
"""

import keras
import numpy as np
import optax
import pytest
from flax import nnx
from jax import numpy as jnp

from research import layers
from research.regularizers import L1, L2

assert keras.backend.backend() == "tensorflow", keras.backend.backend()

# One float32 SGD step computed in a different order: weights and losses agree
# to a few ulps; these bounds leave a margin of ~10x.
RTOL, ATOL = 1e-5, 1e-6
LR = 0.1


def _weights(model):
    """Kernels and biases in Keras's ``get_weights`` order."""
    out = []
    for _, layer in nnx.iter_graph(model):
        if isinstance(layer, layers.Layer) and getattr(layer, "kernel", None) is not None:
            out.append(np.asarray(layer.kernel[...]))
            if layer.bias is not None:
                out.append(np.asarray(layer.bias[...]))
    return out


def _train_both(model, keras_layers, input_shape, batches):
    """Runs one SGD step per ``(x, y)`` batch in Keras and here; compares each step."""
    kmodel = keras.Sequential([keras.Input(input_shape), *keras_layers])
    # run_eagerly: the same Keras train step, without tracing a graph per batch shape.
    kmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="mse", run_eagerly=True)
    kmodel.set_weights(_weights(model))
    optimizer = nnx.Optimizer(model, optax.sgd(LR), wrt=nnx.Param)

    for x, y in batches:
        keras_loss = float(kmodel.train_on_batch(x, y))

        def loss_fn(m, x=x, y=y):
            return jnp.mean((m(x) - y) ** 2) + layers.regularization_loss(m)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)

        step = f"step on a batch of {len(x)}"
        np.testing.assert_allclose(float(loss), keras_loss, rtol=RTOL, err_msg=step)
        ours = _weights(model)
        theirs = kmodel.get_weights()
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=step)
    return kmodel


def _batches(rng, shapes, out_shape):
    return [
        (
            rng.normal(size=(n, *shapes)).astype(np.float32),
            rng.normal(size=(n, *out_shape)).astype(np.float32),
        )
        for n in (8, 5)  # a full batch, then a partial one
    ]


# --------------------------------------------------------------------------- parity
@pytest.mark.parity
def test_dense_regularizers_match_keras_full_and_partial_batch():
    rng = np.random.default_rng(0)
    model = layers.Sequential(
        layers.Dense(
            3,
            4,
            activation="tanh",
            kernel_regularizer=L1(0.01),
            bias_regularizer=L2(0.02),
            activity_regularizer=L1(0.03),
            bias_init=nnx.initializers.normal(0.5),
            rngs=nnx.Rngs(0),
        )
    )
    dense = keras.layers.Dense(
        4,
        activation="tanh",
        kernel_regularizer=keras.regularizers.L1(0.01),
        bias_regularizer=keras.regularizers.L2(0.02),
        activity_regularizer=keras.regularizers.L1(0.03),
    )
    _train_both(model, [dense], (3,), _batches(rng, (3,), (4,)))


@pytest.mark.parity
@pytest.mark.parametrize(("strides", "padding"), [(1, "same"), (2, "same"), (2, "valid")])
def test_conv_regularizers_match_keras(strides, padding):
    rng = np.random.default_rng(1)
    model = layers.Conv(
        2,
        3,
        3,
        strides=strides,
        padding=padding,
        activation="tanh",
        kernel_regularizer=L2(0.01),
        activity_regularizer=L2(0.001),
        rngs=nnx.Rngs(1),
    )
    conv = keras.layers.Conv2D(
        3,
        3,
        strides=strides,
        padding=padding,
        activation="tanh",
        kernel_regularizer=keras.regularizers.L2(0.01),
        activity_regularizer=keras.regularizers.L2(0.001),
    )
    x = rng.normal(size=(8, 7, 7, 2)).astype(np.float32)
    out = model(x).shape
    kout = keras.Sequential([keras.Input((7, 7, 2)), conv])(x).shape
    assert tuple(out) == tuple(kout)
    y = rng.normal(size=out).astype(np.float32)
    # Padding "same" with stride 2 on 7 pixels: output 4, one pad pixel each side; on
    # even sizes TF puts the odd one after, which the shape check above also covers.
    _train_both(model, [conv], (7, 7, 2), [(x, y), (x[:5], y[:5])])


@pytest.mark.parity
def test_activity_regularization_in_sequential_matches_keras():
    rng = np.random.default_rng(2)
    model = layers.Sequential(
        [
            layers.Dense(3, 5, activation="relu", rngs=nnx.Rngs(2)),
            layers.ActivityRegularization(l1=0.01, l2=0.01),
            layers.Dense(5, 2, rngs=nnx.Rngs(3)),
        ]
    )
    keras_layers = [
        keras.layers.Dense(5, activation="relu"),
        keras.layers.ActivityRegularization(l1=0.01, l2=0.01),
        keras.layers.Dense(2),
    ]
    _train_both(model, keras_layers, (3,), _batches(rng, (3,), (2,)))


# --------------------------------------------------------------------------- units
def test_dense_init_is_bitwise_nnx_linear():
    init = {
        "kernel_init": nnx.initializers.glorot_uniform(),
        "bias_init": nnx.initializers.normal(1.0),  # random, so the bias key counts
    }
    rngs_a, rngs_b = nnx.Rngs(42), nnx.Rngs(42)
    ours = [layers.Dense(3, 4, rngs=rngs_a, **init), layers.Dense(4, 2, rngs=rngs_a, **init)]
    theirs = [nnx.Linear(3, 4, rngs=rngs_b, **init), nnx.Linear(4, 2, rngs=rngs_b, **init)]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.kernel[...], b.kernel[...])
        np.testing.assert_array_equal(a.bias[...], b.bias[...])
    # The defaults are Glorot-uniform kernels and zero biases, as nnx.Linear's call here.
    a = layers.Dense(3, 4, rngs=nnx.Rngs(5))
    b = nnx.Linear(
        3,
        4,
        kernel_init=nnx.initializers.glorot_uniform(),
        bias_init=nnx.initializers.zeros_init(),
        rngs=nnx.Rngs(5),
    )
    np.testing.assert_array_equal(a.kernel[...], b.kernel[...])
    np.testing.assert_array_equal(a.bias[...], b.bias[...])
    assert {path for path, _ in nnx.to_flat_state(nnx.state(a, nnx.Param))} == {
        ("kernel",),
        ("bias",),
    }


def test_conv_init_is_bitwise_nnx_conv_and_keras_layout():
    init = {"kernel_init": nnx.initializers.lecun_normal(), "bias_init": nnx.initializers.ones}
    a = layers.Conv(2, 3, (3, 2), rngs=nnx.Rngs(9), **init)
    b = nnx.Conv(2, 3, (3, 2), rngs=nnx.Rngs(9), **init)
    assert a.kernel.shape == (3, 2, 2, 3)  # (kh, kw, in, out), as Keras's Conv2D
    np.testing.assert_array_equal(a.kernel[...], b.kernel[...])
    np.testing.assert_array_equal(a.bias[...], b.bias[...])


def test_regularization_loss_before_and_after_a_call():
    dense = layers.Dense(
        3,
        2,
        kernel_regularizer=L1(0.01),
        bias_regularizer=L2(0.02),
        activity_regularizer=L1(0.03),
        bias_init=nnx.initializers.ones,
        rngs=nnx.Rngs(0),
    )
    model = layers.Sequential(dense, layers.ActivityRegularization(l2=0.5))
    k = np.asarray(dense.kernel[...])
    weights = 0.01 * np.abs(k).sum() + 0.02 * 2.0
    # Before any call: the weight penalties only (not divided by anything).
    np.testing.assert_allclose(layers.regularization_loss(model), weights, rtol=1e-6)

    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    out = np.asarray(model(x))
    activity = 0.03 * np.abs(out).sum() / 4 + 0.5 * (out**2).sum() / 4
    np.testing.assert_allclose(layers.regularization_loss(model), weights + activity, rtol=1e-6)
    # The activity penalties are variables, but not parameters.
    assert len(nnx.to_flat_state(nnx.state(model, layers.ActivityLoss))) == 2
    assert len(nnx.to_flat_state(nnx.state(model, nnx.Param))) == 2
    # A later call replaces them (here a batch of 1).
    out1 = np.asarray(model(x[:1]))
    activity1 = 0.03 * np.abs(out1).sum() + 0.5 * (out1**2).sum()
    np.testing.assert_allclose(layers.regularization_loss(model), weights + activity1, rtol=1e-6)


def test_regularization_loss_gradient_under_jit():
    model = layers.Dense(3, 2, activation="sigmoid", activity_regularizer=L2(0.1), rngs=nnx.Rngs(1))
    x = jnp.ones((4, 3))

    def loss_fn(m):
        m(x)
        return layers.regularization_loss(m)

    eager_loss, eager_grads = nnx.value_and_grad(loss_fn)(model)
    jit_loss, jit_grads = nnx.jit(nnx.value_and_grad(loss_fn))(model)
    np.testing.assert_allclose(jit_loss, eager_loss, rtol=1e-6)
    g = np.asarray(jit_grads["kernel"][...])
    np.testing.assert_allclose(g, np.asarray(eager_grads["kernel"][...]), rtol=1e-5)
    assert np.abs(g).max() > 0  # the activity penalty of that call is differentiated


def test_constraints_apply_after_the_update_and_leave_other_params_alone():
    def build():
        return layers.Sequential(
            layers.Dense(3, 4, kernel_constraint=lambda w: jnp.clip(w, 0, None), rngs=nnx.Rngs(0)),
            layers.Dense(
                4, 1, bias_constraint=lambda w: jnp.clip(w, None, -0.05), rngs=nnx.Rngs(1)
            ),
        )

    x = jnp.linspace(-1, 1, 15).reshape(5, 3)
    y = jnp.ones((5, 1))

    def loss_fn(m):
        return jnp.mean((m(x) - y) ** 2)

    constrained, plain = build(), build()
    opt_c = nnx.Optimizer(
        constrained, optax.chain(optax.sgd(LR), layers.constraints(constrained)), wrt=nnx.Param
    )
    opt_p = nnx.Optimizer(plain, optax.sgd(LR), wrt=nnx.Param)
    opt_c.update(constrained, nnx.grad(loss_fn)(constrained))
    opt_p.update(plain, nnx.grad(loss_fn)(plain))

    (k0, b0, k1, b1), (pk0, pb0, pk1, pb1) = _weights(constrained), _weights(plain)
    assert (pk0 < 0).any() and (pb1 > -0.05).all()  # the constraints have work to do
    np.testing.assert_allclose(k0, np.clip(pk0, 0, None), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b1, np.clip(pb1, None, -0.05), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(b0, pb0)
    np.testing.assert_array_equal(k1, pk1)
    # A model without constraints: the transform is the identity.
    tx = layers.constraints(layers.Sequential(layers.Dense(3, 4, rngs=nnx.Rngs(0))))
    updates = {"layers": {0: {"kernel": jnp.ones((3, 4))}}}
    assert tx.update(updates, tx.init(updates), updates)[0] is updates


def test_bad_activation_and_padding_raise():
    with pytest.raises(ValueError, match="activation"):
        layers.Dense(2, 2, activation="gelu_typo", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="activation"):
        layers.Conv(2, 2, 3, activation="swishy", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="padding"):
        layers.Conv(2, 2, 3, padding="causal", rngs=nnx.Rngs(0))
