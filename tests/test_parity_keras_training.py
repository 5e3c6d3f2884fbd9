"""Whole training runs match Keras 3 (TensorFlow backend) from the same initial weights."""

import keras
import numpy as np
import pytest

from research.engine import train_and_evaluate

pytestmark = pytest.mark.parity

assert keras.backend.backend() == "tensorflow", keras.backend.backend()


class SumAbsoluteError(keras.losses.Loss):
    """The blog post's loss: the sum of absolute errors over the batch."""

    def __init__(self):
        super().__init__(reduction="sum", name="sum_absolute_error")

    def call(self, y_true, y_pred):
        return keras.ops.sum(keras.ops.abs(y_true - y_pred), axis=-1)


def _initial_weights(res, n_layers):
    """Seed 0's initial weights, from the engine's step-0 snapshot, in Keras's order."""
    return [
        res.history[f"snapshots/layers/{i}/{name}"][0, 0, 0]
        for i in range(n_layers)
        for name in ("kernel", "bias")
    ]


def _keras_step_losses(model, x, y, batch_size, epochs):
    """Per-batch losses (penalty included) from train_on_batch, Keras's own train step."""
    losses = []
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            losses.append(float(model.train_on_batch(xb, yb)))
    return np.array(losses)


KERAS_REGULARIZERS = {
    "none": (None, {"name": "none"}),
    "l1": (lambda: keras.regularizers.L1(0.3), {"name": "l1", "l1": 0.3}),
    # The blog post's TF1 l2_regularizer(0.3) is 0.3 * sum(w**2) / 2 = Keras L2(0.15).
    "l2": (lambda: keras.regularizers.L2(0.15), {"name": "l2", "l2": 0.15}),
    "l1l2": (
        lambda: keras.regularizers.L1L2(0.1, 0.05),
        {"name": "elastic_net", "l1": 0.1, "l2": 0.05},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KERAS_REGULARIZERS))
def test_line_outliers_training_matches_keras_fit(kind):
    make_reg, reg_config = KERAS_REGULARIZERS[kind]
    epochs = 2
    res = train_and_evaluate(
        {
            "regularizer": reg_config,
            "epochs": epochs,
            "num_seeds": 1,
            "record_every": 0,
            "record_step_loss": True,
        }
    )
    d = res.data

    def build():
        layers = [
            keras.layers.Dense(w, kernel_regularizer=make_reg() if make_reg else None)
            for w in (10, 10, 10, 1)
        ]
        model = keras.Sequential([keras.Input((1,)), *layers])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss=SumAbsoluteError())
        model.set_weights(_initial_weights(res, 4))
        return model

    fitted = build()
    history = fitted.fit(
        d.x_train, d.y_train, batch_size=1, epochs=epochs, shuffle=False, verbose=0
    )
    step_losses = _keras_step_losses(build(), d.x_train, d.y_train, 1, epochs)

    # Same float32 math in a different order: over these 80 steps the weights agree to
    # ~3e-7. (Over 10 epochs, L1's sign(w) flips for weights that hover at zero amplify
    # last-bit differences to ~2e-4, so the comparison stays at two epochs.)
    for i, keras_w in enumerate(fitted.get_weights()):
        ours = res.params[f"layers/{i // 2}/{'kernel' if i % 2 == 0 else 'bias'}"][0, 0]
        np.testing.assert_allclose(ours, keras_w, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(res.history["step_loss"][0, 0], step_losses, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(res.history["epoch_loss"][0, 0], history.history["loss"], rtol=2e-5)
    # The run really trained: weights moved away from their start.
    start = _initial_weights(res, 4)[2]
    assert np.abs(fitted.get_weights()[2] - start).max() > 1e-2


@pytest.mark.slow
def test_tutorial_classifier_with_l1_matches_keras_fit():
    lr, batch_size, epochs = 0.05, 32, 3
    res = train_and_evaluate(
        {
            "data": {"name": "digits"},
            "model": {"name": "classifier"},
            "loss": "cross_entropy",
            "optimizer": {"name": "sgd", "learning_rate": lr},
            "regularizer": {"name": "l1", "l1": 0.01, "layers": [0]},
            "batch_size": batch_size,
            "epochs": epochs,
            "num_seeds": 1,
            "record_every": 0,
        }
    )
    d = res.data
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                64, activation="relu", kernel_regularizer=keras.regularizers.L1(0.01)
            ),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.set_weights(_initial_weights(res, 2))
    # 1437 training images in batches of 32: the last batch of each epoch has 29.
    history = model.fit(
        d.x_train, d.y_train, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0
    )
    for i, keras_w in enumerate(model.get_weights()):
        ours = res.params[f"layers/{i // 2}/{'kernel' if i % 2 == 0 else 'bias'}"][0, 0]
        np.testing.assert_allclose(ours, keras_w, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(res.history["epoch_loss"][0, 0], history.history["loss"], rtol=1e-4)
    _, keras_accuracy = model.evaluate(d.x_test, d.y_test, verbose=0)
    assert res.metrics["test_accuracy"][0, 0] == pytest.approx(keras_accuracy, abs=1 / 360 + 1e-9)
