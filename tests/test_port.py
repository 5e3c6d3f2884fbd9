"""research.port: Keras models converted, trained here, and compared with real ``model.fit``.

Keras 3 on the TensorFlow backend trains the same initial weights with
``fit(shuffle=False)``; the weights and the per-epoch losses Keras reports
must agree within 1e-4 relative.

The multi-epoch comparisons of the L1-penalized classifier run in float64
(Keras's ``floatx`` and dtype policy, JAX's x64):
in float32, after one epoch of the L1-penalized classifier the two agree to
4e-7, but the L1 subgradient makes kernel entries near zero flip sign from
step to step, and momentum amplifies those last-bit differences to ~5e-3 on a
tenth of the entries by epoch three. In float64 the same rounding stays far
below the tolerance. One epoch is also checked in float32.
"""

import jax
import keras
import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.datasets import load_digits

import research.port
from research import layers
from research.regularizers import L1, L2

from helpers import keras_weights

assert keras.backend.backend() == "tensorflow", keras.backend.backend()

RTOL = 1e-4


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int32)


def _classifier(optimizer, seed=0, kernel_l1=0.01):
    """The digits classifier with every kind of penalty and a constraint."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                64,
                activation="relu",
                kernel_regularizer=keras.regularizers.L1(kernel_l1) if kernel_l1 else None,
                bias_regularizer=keras.regularizers.L2(1e-3),
                activity_regularizer=keras.regularizers.L1(1e-4),
                kernel_constraint=keras.constraints.MaxNorm(3),
            ),
            keras.layers.Dense(
                10, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.01)
            ),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def _compare(kmodel, x, y, *, epochs, batch_size):
    ported = research.port.from_keras_model(kmodel)  # before fit: the same initial weights
    history = kmodel.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    trained, losses = research.port.fit(ported, x, y, epochs=epochs, batch_size=batch_size)
    np.testing.assert_allclose(losses, history.history["loss"], rtol=RTOL)
    theirs = kmodel.get_weights()
    ours = keras_weights(trained)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        scale = np.max(np.abs(b))
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)
    return ported, trained, losses


@pytest.mark.slow
def test_digits_classifier_one_epoch_float32_matches_fit(digits):
    x, y = digits
    kmodel = _classifier(keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=1e-4))
    ported = research.port.from_keras_model(kmodel)
    history = kmodel.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    trained, losses = research.port.fit(ported, x, y, epochs=1, batch_size=32)
    assert trained.layers[0].kernel[...].dtype == np.float32
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-5)
    for a, b in zip(keras_weights(trained), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.max(np.abs(b)))


def test_digits_classifier_without_l1_kernels_float32_three_epochs_match_fit(digits):
    """Without the L1 kernel penalty's sign flips, float32 stays within 1e-4 too."""
    x, y = digits
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=1e-4)
    _compare(_classifier(optimizer, kernel_l1=0.0), x, y, epochs=3, batch_size=32)


@pytest.mark.slow
def test_digits_classifier_sgd_momentum_weight_decay_matches_fit(digits, float64):
    x, y = digits
    kmodel = _classifier(keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=1e-4))
    ported, trained, losses = _compare(kmodel, x, y, epochs=3, batch_size=32)
    # The conversion kept every penalty and the constraint.
    first = ported.model.layers[0]
    assert isinstance(first.kernel_regularizer, L1) and isinstance(first.bias_regularizer, L2)
    assert isinstance(first.activity_regularizer, L1)
    assert float(first.kernel_constraint.max_value) == 3.0
    # MaxNorm(3) held after training (column norms of the first kernel).
    norms = np.linalg.norm(np.asarray(trained.layers[0].kernel[...]), axis=0)
    assert norms.max() <= 3.0 + 1e-5
    assert losses[-1] < losses[0]


def _excluding_biases(optimizer):
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.Adam(1e-3),
        lambda: keras.optimizers.AdamW(1e-3, weight_decay=0.004),
        lambda: _excluding_biases(keras.optimizers.AdamW(2e-3, weight_decay=0.05)),
    ],
    ids=["adam", "adamw", "adamw_biases_excluded"],
)
@pytest.mark.slow
def test_digits_classifier_adam_and_adamw_match_fit(digits, optimizer, float64):
    x, y = digits
    _compare(_classifier(optimizer()), x, y, epochs=3, batch_size=32)


@pytest.mark.slow
def test_conv2d_model_matches_fit(digits, float64):
    x, y = digits
    x = x.reshape(-1, 8, 8, 1)
    keras.utils.set_random_seed(1)
    kmodel = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                4, 3, padding="same", activation="relu",
                kernel_regularizer=keras.regularizers.L2(1e-3),
            ),
            keras.layers.Conv2D(
                6, 3, strides=2, activation="tanh", kernel_regularizer=keras.regularizers.L2(1e-3)
            ),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.0),
            keras.layers.Dense(10, kernel_regularizer=keras.regularizers.L2(1e-3)),
        ]
    )  # fmt: skip
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    _compare(kmodel, x, y, epochs=1, batch_size=64)


def test_ported_model_trains_with_nnx_optimizer(digits):
    x, y = digits
    ported = research.port.from_keras_model(_classifier(keras.optimizers.SGD(0.05)))
    model = ported.model
    optimizer = nnx.Optimizer(model, ported.tx, wrt=nnx.Param)
    first = None

    @nnx.jit
    def step(model, optimizer, xb, yb):
        loss, grads = nnx.value_and_grad(ported.loss_fn)(model, xb, yb)
        optimizer.update(model, grads)
        return loss

    for i in range(0, 320, 32):
        loss = float(step(model, optimizer, x[i : i + 32], y[i : i + 32]))
        first = loss if first is None else first
    assert loss < first


def test_dropout_drops_in_training_only():
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential(
        [keras.Input((50,)), keras.layers.Dropout(0.5), keras.layers.Dense(1, use_bias=False)]
    )
    model = research.port.from_keras_model(kmodel).model
    x = np.ones((200, 50), np.float32)
    expected = x @ kmodel.get_weights()[0]
    np.testing.assert_allclose(model(x), expected, rtol=1e-5)  # evaluation: no dropout
    drop = model.layers[0]
    out = np.asarray(drop(x, training=True, rngs=nnx.Rngs(dropout=3)))
    assert set(np.unique(out)) == {0.0, 2.0}  # kept entries scaled by 1 / (1 - rate)
    assert 0.4 < np.mean(out == 0) < 0.6


def test_activity_penalty_of_a_padded_batch_counts_real_rows():
    reg = layers.ActivityRegularization(l1=0.1)
    x = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    reg(x[:3])
    real = float(layers.regularization_loss(reg))
    with layers.example_weights(np.array([1.0, 1.0, 1.0, 0.0], np.float32)):
        reg(x)
    np.testing.assert_allclose(float(layers.regularization_loss(reg)), real, rtol=1e-6)
    np.testing.assert_allclose(real, 0.1 * np.abs(x[:3]).sum() / 3, rtol=1e-6)


def test_uncompiled_model_has_no_optimizer_or_loss():
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    ported = research.port.from_keras_model(kmodel)
    assert ported.tx is None and ported.loss_fn is None
    with pytest.raises(ValueError, match="not compiled"):
        research.port.fit(ported, np.ones((4, 3)), np.ones((4, 2)), epochs=1, batch_size=2)


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (lambda: keras.layers.UnitNormalization(name="un"), "UnitNormalization 'un'"),
        (lambda: keras.layers.LSTM(2, name="rnn"), "LSTM 'rnn'"),
        (lambda: keras.layers.Dense(2, activation="selu", name="d"), "activation 'selu'"),
        (
            lambda: keras.layers.Dense(2, kernel_constraint=keras.constraints.Constraint()),
            "Constraint",
        ),
    ],
)
def test_unsupported_layers_raise_naming_them(layer, match):
    shape = (4, 3) if "LSTM" in match else (3,)
    kmodel = keras.Sequential([keras.Input(shape), layer()])
    with pytest.raises(ValueError, match=match):
        research.port.from_keras_model(kmodel)


def test_unsupported_optimizer_and_loss_raise_naming_them():
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    kmodel.compile(optimizer=keras.optimizers.Nadam(), loss="mse")
    with pytest.raises(ValueError, match="Nadam"):
        research.port.from_keras_model(kmodel)
    kmodel.compile(optimizer="sgd", loss="hinge")
    with pytest.raises(ValueError, match="hinge"):
        research.port.from_keras_model(kmodel)


def test_reinitialize_draws_from_the_keras_initializers():
    kmodel = keras.Sequential(
        [
            keras.Input((400,)),
            keras.layers.Dense(300, kernel_initializer="he_normal", bias_initializer="ones"),
            keras.layers.Dense(200, kernel_initializer="lecun_uniform"),
        ]
    )
    fresh = research.port.reinitialize(
        research.port.from_keras_model(kmodel).model, jax.random.key(0)
    )
    k0, b0 = np.asarray(fresh.layers[0].kernel[...]), np.asarray(fresh.layers[0].bias[...])
    k1 = np.asarray(fresh.layers[1].kernel[...])
    np.testing.assert_allclose(k0.std(), np.sqrt(2 / 400), rtol=0.02)  # He: var 2 / fan_in
    assert np.abs(k0).max() <= 2 * np.sqrt(2 / 400) / 0.87962566103423978 + 1e-6  # truncated
    np.testing.assert_array_equal(b0, 1.0)
    limit = np.sqrt(3 / 300)  # LeCun uniform: limit sqrt(3 / fan_in)
    assert np.abs(k1).max() <= limit and np.abs(k1).max() > 0.99 * limit
    # Different from the Keras weights (new draws), and the Keras model untouched.
    assert not np.allclose(k0, kmodel.get_weights()[0])


def test_optax_chain_matches_a_hand_written_step():
    """``ported.tx`` for plain SGD is optax.sgd followed by the (empty) constraints."""
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    ported = research.port.from_keras_model(kmodel)
    params = nnx.state(ported.model, nnx.Param)
    grads = jax.tree.map(lambda p: p * 0 + 1.0, params)
    ours = ported.tx.update(grads, ported.tx.init(params), params)[0]
    ref = optax.sgd(0.1).update(grads, optax.sgd(0.1).init(params))[0]
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
