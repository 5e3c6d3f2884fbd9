"""research.port._loss against real Keras 3.15.1 / TF 2.21.0: values, gradients with respect
to the predictions (and the logits in graph mode), conversion of every form of a loss, errors."""

from contextlib import nullcontext

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.losses.losses import LossFunctionWrapper

from research.port._loss import KerasLoss, from_keras_loss

# Parity is with Keras on TensorFlow (conftest sets KERAS_BACKEND); never skip silently.
assert keras.backend.backend() == "tensorflow", keras.backend.backend()

L = keras.losses
F32 = np.float32
_rng = np.random.default_rng(0)
N, K = 6, 4
# Probabilities with exact zeros / ones, values below epsilon and the clip bounds themselves.
PROBS = _rng.dirichlet(np.ones(K), N).astype(F32)
PROBS[0], PROBS[1] = [1, 0, 0, 0], [1e-9, 1 - 1e-9, 0, 0]
LABELS = _rng.integers(0, K, N)
ONE_HOT = np.eye(K, dtype=F32)[LABELS]
BPROBS = _rng.uniform(size=(N, K)).astype(F32)
BPROBS[0, :3], BPROBS[1, :3] = [0, 1, F32(1e-7)], [F32(1 - 1e-7), 0.5, 1e-9]
BLABELS = _rng.integers(0, 2, (N, K)).astype(F32)
LOGITS = (3 * _rng.normal(size=(N, K))).astype(F32)
LOGITS[0, 0] = 30.0  # a probability of 1 after softmax / sigmoid, clipped when eager
TARGETS = _rng.normal(size=(N, K)).astype(F32)
WEIGHTS = _rng.uniform(0.1, 2.0, N).astype(F32)

# id: (Keras loss, y_true, y_pred)
CASES = {
    "mse": (lambda: L.MeanSquaredError(), TARGETS, TARGETS + LOGITS / 3),
    "mse_sum": (lambda: L.MeanSquaredError(reduction="sum"), TARGETS, LOGITS),
    "mae": (lambda: L.MeanAbsoluteError(), TARGETS, np.where(BLABELS > 0, TARGETS, BPROBS)),
    "mae_rank1_vs_col": (lambda: L.MeanAbsoluteError(), TARGETS[:, 0], BPROBS[:, :1]),
    "bce": (lambda: L.BinaryCrossentropy(), BLABELS, BPROBS),
    "bce_smooth": (lambda: L.BinaryCrossentropy(label_smoothing=0.2), BLABELS, BPROBS),
    "bce_logits": (lambda: L.BinaryCrossentropy(from_logits=True), BLABELS, LOGITS * 4),
    "bce_logits_smooth_sum": (
        lambda: L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum"),
        BLABELS,
        LOGITS,
    ),
    "bce_axis0": (lambda: L.BinaryCrossentropy(axis=0), BLABELS, BPROBS),
    "cce": (lambda: L.CategoricalCrossentropy(), ONE_HOT, PROBS),
    "cce_smooth": (lambda: L.CategoricalCrossentropy(label_smoothing=0.1), ONE_HOT, PROBS),
    "cce_logits": (lambda: L.CategoricalCrossentropy(from_logits=True), ONE_HOT, LOGITS),
    "cce_logits_smooth": (
        lambda: L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
        ONE_HOT,
        LOGITS,
    ),
    "cce_logits_unnormalized_labels": (  # a row of zeros: TF's kernel gradient is softmax
        lambda: L.CategoricalCrossentropy(from_logits=True),
        ONE_HOT * np.array([[0.5], [0], [1], [2], [1], [1]], F32),
        LOGITS,
    ),
    "cce_axis0": (lambda: L.CategoricalCrossentropy(axis=0), ONE_HOT.T, PROBS.T),
    "cce_wrapper": (
        lambda: LossFunctionWrapper(L.categorical_crossentropy, from_logits=True),
        ONE_HOT,
        LOGITS,
    ),
    "sparse": (lambda: L.SparseCategoricalCrossentropy(), LABELS, PROBS),
    "sparse_col": (lambda: L.SparseCategoricalCrossentropy(), LABELS[:, None], PROBS),
    "sparse_float_labels": (lambda: L.SparseCategoricalCrossentropy(), LABELS.astype(F32), PROBS),
    "sparse_logits_sum": (
        lambda: L.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
        LABELS[:, None].astype(F32),
        LOGITS,
    ),
}


def _keras_value_and_grad(loss, y_true, y_pred, sample_weight=None):
    y_pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = loss(y_true, y_pred, sample_weight=sample_weight)
    return value.numpy(), tape.gradient(value, y_pred).numpy()


@pytest.mark.parity
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", list(CASES))
def test_value_and_gradient_match_keras(case, weighted):
    make, y_true, y_pred = CASES[case]
    keras_loss = make()
    ours = from_keras_loss(keras_loss)
    per_example = keras_loss.call(tf.constant(y_true, tf.float32), tf.constant(y_pred))
    weights = WEIGHTS[: per_example.shape[0]] if weighted else None
    value, grad = _keras_value_and_grad(keras_loss, y_true, y_pred, weights)
    our_value, our_grad = jax.value_and_grad(lambda p: ours(y_true, p, weights))(y_pred)
    assert our_value.dtype == jnp.float32 and our_value.shape == ()
    np.testing.assert_allclose(our_value, value, rtol=1e-6)
    np.testing.assert_allclose(our_grad, grad, rtol=1e-5)
    np.testing.assert_allclose(ours.per_example(y_true, y_pred), per_example, rtol=1e-6)


def _graph_mode(keras_loss, activation, y_true, z):
    """Keras's loss on activation(z) inside a tf.function (compiled fit), and d/dz."""

    @tf.function
    def value_and_grad(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = keras_loss(y_true, activation(z))
        return value, tape.gradient(value, z)

    return [t.numpy() for t in value_and_grad(tf.constant(z))]


LOGIT_CASES = {
    "bce": (L.BinaryCrossentropy, keras.activations.sigmoid, jax.nn.sigmoid, BLABELS),
    "cce": (L.CategoricalCrossentropy, keras.activations.softmax, jax.nn.softmax, ONE_HOT),
    "sparse": (L.SparseCategoricalCrossentropy, keras.activations.softmax, jax.nn.softmax, LABELS),
}


@pytest.mark.parity
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("case", list(LOGIT_CASES))
def test_logits_path_matches_graph_mode(case, from_logits):
    cls, keras_act, jax_act, y_true = LOGIT_CASES[case]
    z = LOGITS
    y_true = y_true.copy()  # the logit 30 on a wrong class: its probability clips to 1
    y_true[0] = 1 if case == "sparse" else [0, 1, 0, 0]
    keras_loss = cls(from_logits=from_logits)
    ours = from_keras_loss(keras_loss)
    warns = pytest.warns(UserWarning, match="from_logits=True") if from_logits else nullcontext()
    with warns:
        value, grad = _graph_mode(keras_loss, keras_act, y_true, z)
    our_value, our_grad = jax.value_and_grad(lambda z: ours(y_true, jax_act(z), logits=z))(z)
    np.testing.assert_allclose(our_value, value, rtol=1e-6)
    # atol: graph-mode TF sums sigmoid_cross_entropy's derivative terms in another order,
    # which differs in the last bits where they cancel (|logit| ~ 9: 1e-4 = 1 - 1 + 1e-4).
    np.testing.assert_allclose(our_grad, grad, rtol=1e-5, atol=1e-8)
    if not from_logits:  # eager Keras clips the probabilities: another value, as here
        probs = np.asarray(jax_act(z))
        eager = keras_loss(y_true, probs).numpy()
        np.testing.assert_allclose(ours(y_true, probs), eager, rtol=1e-6)
        assert value > eager + 0.5


@pytest.mark.parametrize("name", ["mean_absolute_error", "binary_crossentropy", "sparse"])
def test_jit_and_vmap(name):
    loss = from_keras_loss({"sparse": "sparse_categorical_crossentropy"}.get(name, name))
    y_true, y_pred = (LABELS, PROBS) if name == "sparse" else (BLABELS, BPROBS)
    expected = loss(y_true, y_pred, WEIGHTS)
    np.testing.assert_allclose(jax.jit(loss)(y_true, y_pred, WEIGHTS), expected, rtol=1e-6)
    batched = jax.vmap(loss)(np.stack([y_true, y_true]), np.stack([y_pred, y_pred[::-1]]))
    expected = [loss(y_true, y_pred), loss(y_true, y_pred[::-1])]
    np.testing.assert_allclose(batched, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("mse", "mean_squared_error"),
        ("MSE", "mean_squared_error"),
        ("mean_squared_error", "mean_squared_error"),
        ("MeanSquaredError", "mean_squared_error"),
        ("mae", "mean_absolute_error"),
        ("MAE", "mean_absolute_error"),
        ("mean_absolute_error", "mean_absolute_error"),
        ("bce", "binary_crossentropy"),
        ("BCE", "binary_crossentropy"),
        ("binary_crossentropy", "binary_crossentropy"),
        ("categorical_crossentropy", "categorical_crossentropy"),
        ("CategoricalCrossentropy", "categorical_crossentropy"),
        ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"),
    ],
)
def test_string_aliases(alias, name):
    resolved = keras.losses.get(alias)
    assert getattr(resolved, "name", getattr(resolved, "__name__", None)) == name
    assert from_keras_loss(alias) == KerasLoss(name)
    assert from_keras_loss(resolved) == KerasLoss(name)
    assert from_keras_loss(keras.losses.serialize(resolved)) == KerasLoss(name)


def test_options_are_read():
    bce = L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, axis=0, reduction="sum")
    expected = KerasLoss("binary_crossentropy", True, 0.1, 0, "sum")
    assert from_keras_loss(bce) == from_keras_loss(keras.losses.serialize(bce)) == expected
    assert from_keras_loss(L.SparseCategoricalCrossentropy(axis=1)).axis == 1
    wrapper = LossFunctionWrapper(L.categorical_crossentropy, label_smoothing=0.2)
    assert from_keras_loss(wrapper) == KerasLoss("categorical_crossentropy", label_smoothing=0.2)
    assert from_keras_loss(L.MeanSquaredError(reduction="mean")).reduction == "sum_over_batch_size"
    assert from_keras_loss(expected) is expected
    assert [KerasLoss(n).activation for n in ("mean_squared_error", "binary_crossentropy")] == [
        None,
        "sigmoid",
    ]
    assert from_keras_loss("sparse_categorical_crossentropy").activation == "softmax"


def test_epsilon_follows_keras_config():
    previous = keras.config.epsilon()
    keras.config.set_epsilon(1e-3)
    try:
        ours = from_keras_loss("bce")
        expected = L.BinaryCrossentropy()(BLABELS, BPROBS).numpy()
    finally:
        keras.config.set_epsilon(previous)
    assert ours.epsilon == 1e-3
    np.testing.assert_allclose(ours(BLABELS, BPROBS), expected, rtol=1e-6)


def _custom_loss(y_true, y_pred):
    return (y_true - y_pred) ** 2


@pytest.mark.parametrize(
    ("loss", "match"),
    [
        (L.Huber(), "keras.losses.Huber object is not supported; supported: 'mean_squared"),
        ("hinge", "'hinge' is not supported"),
        (L.KLDivergence(), "KLDivergence object is not supported"),
        (L.huber, "function keras.losses.huber is not supported"),
        (_custom_loss, "_custom_loss is not supported"),
        (["mse", "mse"], "a list of losses .multi-output"),
        ({"out": "mse"}, "a dict of losses .multi-output"),
        (None, "None is not supported"),
        ("crossentropy", "picks a cross-entropy from the data's shapes"),
        (L.SparseCategoricalCrossentropy(ignore_class=0), "ignore_class=0"),
        (L.BinaryCrossentropy(reduction="none"), "reduction='none'"),
        (L.BinaryCrossentropy(reduction=None), "reduction=None"),
        (L.MeanSquaredError(reduction="mean_with_sample_weight"), "reduction='mean_with"),
        (L.MeanSquaredError(dtype="float16"), "dtype='float16'"),
        (
            LossFunctionWrapper(L.sparse_categorical_crossentropy, label_smoothing=0.1),
            "label_smoothing=0.1 is not an option",
        ),
    ],
)
def test_unsupported_raises(loss, match):
    with pytest.raises(ValueError, match=match):
        from_keras_loss(loss)


def test_invalid_keras_loss_fields_raise():
    with pytest.raises(TypeError, match="label_smoothing"):  # Keras has no such option there
        L.SparseCategoricalCrossentropy(label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing=0.1"):
        KerasLoss("sparse_categorical_crossentropy", label_smoothing=0.1)
    with pytest.raises(ValueError, match="reduction='none'"):
        KerasLoss("mean_squared_error", reduction="none")
    with pytest.raises(ValueError, match="name='huber' is not one of"):
        KerasLoss("huber")
    with pytest.raises(ValueError, match="logits.shape"):
        KerasLoss("binary_crossentropy")(BLABELS, BPROBS, logits=LOGITS[:, :3])
