"""research.port / research.layers: pooling, Conv1D, Reshape, Activation and the newer
activations, each against real Keras 3 (TensorFlow backend).

Forward passes (and the pooling layers' gradients under jit) run in float64 (Keras's
floatx and dtype policy, JAX's x64) and agree to 1e-12 (measured: 2e-16 pooling, 4e-16
Conv1D); the activations also in float32 (1e-6). Two exceptions are TensorFlow's own
rounding, asserted at what it allows: its float64 erfc is off by up to 5e-9 (gelu), and
it casts a penalty's Python-float strength through float32 (2.2e-8 in float64).

The two Keras users' models (the simple MNIST convnet on scikit-learn's 8x8 digits, a
Conv1D sequence classifier) train two epochs with ``model.fit`` and ``research.port.fit``
from the same initial weights; weights and epoch losses agree within 1e-6 relative
(measured: 4e-9 and 2e-8).
"""

import jax
import keras
import numpy as np
import pytest
import tensorflow as tf
from flax import nnx
from scipy.special import erfc
from sklearn.datasets import load_digits

import research.port
from research import layers

from helpers import keras_dtype, keras_weights

assert keras.backend.backend() == "tensorflow", keras.backend.backend()

FORWARD_RTOL = 1e-12
FIT_RTOL = 1e-6
NEW_ACTIVATIONS = ("gelu", "elu", "softplus", "silu", "swish", "leaky_relu")


def _sequential(input_shape, *keras_layers, dtype="float64", seed=0, **compile_args):
    """A Keras model built in ``dtype``, compiled with ``compile_args`` if given."""
    keras.utils.set_random_seed(seed)
    with keras_dtype(dtype):
        model = keras.Sequential([keras.Input(input_shape), *(make() for make in keras_layers)])
        if compile_args:
            model.compile(**compile_args)
    return model


def _random_bias(seed=1):
    return keras.initializers.RandomNormal(stddev=0.5, seed=seed)


def _forward_gap(kmodel, x):
    """Max relative gap of the ported model's output to Keras's (asserted to 1e-12)."""
    ours = np.asarray(research.port.from_keras_model(kmodel).model(x))
    theirs = np.asarray(kmodel(x))
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype == x.dtype
    scale = np.max(np.abs(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=FORWARD_RTOL, atol=FORWARD_RTOL * scale)
    return np.max(np.abs(ours - theirs)) / scale


# ----------------------------------------------------------------------------- pooling
L = keras.layers
POOLING = {
    # Odd sizes and strides != pool sizes make TF's "same" padding asymmetric: 8 rows,
    # pool 3, stride 2 pad (0, 1); 6 columns, pool 4, stride 1 pad (1, 2).
    "max2d_valid": (lambda: L.MaxPooling2D(2), (7, 9, 2)),
    "max2d_same_3_stride2": (lambda: L.MaxPooling2D(3, strides=2, padding="same"), (8, 7, 2)),
    "max2d_same_rect": (lambda: L.MaxPooling2D((3, 4), strides=1, padding="same"), (5, 6, 2)),
    "max2d_valid_rect_strides": (lambda: L.MaxPooling2D((2, 3), strides=(1, 2)), (5, 8, 3)),
    "avg2d_valid": (lambda: L.AveragePooling2D(3, strides=2), (7, 8, 2)),
    "avg2d_same": (lambda: L.AveragePooling2D(2, padding="same"), (7, 9, 2)),
    "avg2d_same_3_stride2": (lambda: L.AveragePooling2D(3, strides=2, padding="same"), (8, 7, 2)),
    "avg2d_same_rect": (lambda: L.AveragePooling2D((3, 4), strides=1, padding="same"), (5, 6, 2)),
    "max1d_valid": (lambda: L.MaxPooling1D(2), (11, 3)),
    "max1d_same": (lambda: L.MaxPooling1D(4, strides=1, padding="same"), (7, 3)),
    "max1d_same_stride3": (lambda: L.MaxPooling1D(2, strides=3, padding="same"), (10, 3)),
    "avg1d_valid": (lambda: L.AveragePooling1D(3, strides=2), (11, 3)),
    "avg1d_same": (lambda: L.AveragePooling1D(4, strides=1, padding="same"), (7, 3)),
    "avg1d_same_stride2": (lambda: L.AveragePooling1D(3, strides=2, padding="same"), (10, 3)),
    "global_avg2d": (lambda: L.GlobalAveragePooling2D(), (5, 7, 3)),
    "global_avg2d_keepdims": (lambda: L.GlobalAveragePooling2D(keepdims=True), (5, 7, 3)),
    "global_max2d": (lambda: L.GlobalMaxPooling2D(), (5, 7, 3)),
    "global_max2d_keepdims": (lambda: L.GlobalMaxPooling2D(keepdims=True), (5, 7, 3)),
    "global_avg1d": (lambda: L.GlobalAveragePooling1D(), (9, 3)),
    "global_avg1d_keepdims": (lambda: L.GlobalAveragePooling1D(keepdims=True), (9, 3)),
    "global_max1d": (lambda: L.GlobalMaxPooling1D(), (9, 3)),
    "global_max1d_keepdims": (lambda: L.GlobalMaxPooling1D(keepdims=True), (9, 3)),
}


@pytest.mark.parametrize("case", list(POOLING))
def test_pooling_layer_matches_keras_float64(case, float64):
    make, shape = POOLING[case]
    kmodel = _sequential(shape, make)
    # Mostly negative entries: a max that let zero padding win, or an average that
    # divided by the padded window, would be off by O(1).
    x = np.random.default_rng(0).normal(size=(3, *shape)) - 1.0
    _forward_gap(kmodel, x)
    model = research.port.from_keras_model(kmodel).model
    assert type(model.layers[0]).__name__ == type(kmodel.layers[0]).__name__
    # The gradient through the pooling, under jit (as in training), is TensorFlow's.
    weights = np.random.default_rng(1).normal(size=np.shape(kmodel(x)))
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        total = tf.reduce_sum(kmodel(x_tf) * weights)
    theirs = tape.gradient(total, x_tf).numpy()
    ours = jax.jit(jax.grad(lambda v: (model(v) * weights).sum()))(x)
    np.testing.assert_allclose(ours, theirs, rtol=FORWARD_RTOL, atol=FORWARD_RTOL)


def test_same_average_pooling_divides_by_the_real_entries():
    """All ones stay ones at the padded borders (TF's rule), 8 rows pad (0, 1)."""
    pool = layers.AveragePooling2D(3, strides=2, padding="same")
    out = np.asarray(pool(np.ones((1, 8, 7, 1), np.float32)))
    assert out.shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(out, 1.0)


# ----------------------------------------------------------------------------- Conv1D
CONV1D = {
    "valid": dict(kernel_size=3),
    "valid_stride2": dict(kernel_size=3, strides=2),
    "same_k4": dict(kernel_size=4, padding="same"),  # 11 steps, pad (1, 2)
    "same_stride2": dict(kernel_size=3, strides=2, padding="same"),
    "causal": dict(kernel_size=3, padding="causal"),
    "causal_stride2_k4": dict(kernel_size=4, strides=2, padding="causal"),
}


@pytest.mark.parametrize("case", list(CONV1D))
def test_conv1d_matches_keras_float64(case, float64):
    def conv():
        return L.Conv1D(
            4,
            activation="tanh",
            bias_initializer=_random_bias(),
            kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.02),
            bias_regularizer=keras.regularizers.L2(0.03),
            **CONV1D[case],
        )

    kmodel = _sequential((11, 2), conv)
    x = np.random.default_rng(1).normal(size=(3, 11, 2))
    _forward_gap(kmodel, x)
    ported = research.port.from_keras_model(kmodel).model
    assert isinstance(ported.layers[0], layers.Conv1D)
    assert ported.layers[0].kernel[...].shape == kmodel.layers[0].kernel.shape
    penalty = float(layers.regularization_loss(ported))
    # Keras's TF backend casts a penalty's Python-float strength through float32
    # (ops.cast(0.01, float64) is float32(0.01)): 2.2e-8 relative in float64.
    np.testing.assert_allclose(penalty, float(sum(kmodel.losses)), rtol=5e-8)


def test_causal_conv1d_output_does_not_see_the_future():
    conv = layers.Conv1D(1, 1, 3, padding="causal", rngs=nnx.Rngs(0))
    x = np.zeros((1, 8, 1), np.float32)
    x[0, 5, 0] = 1.0
    out = np.asarray(conv(x))[0, :, 0]
    np.testing.assert_array_equal(out[:5], 0.0)
    kernel = np.asarray(conv.kernel[...])[:, 0, 0]
    np.testing.assert_allclose(out[5:], kernel[::-1], rtol=1e-6)  # out[5 + j] = kernel[2 - j]


# ----------------------------------------------------------------------------- activations
def _activation_gap(kmodel, x, rtol):
    ours = np.asarray(research.port.from_keras_model(kmodel).model(x))
    theirs = np.asarray(kmodel(x))
    assert ours.dtype == theirs.dtype == x.dtype
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)
    return np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1.0))


# TensorFlow's float64 erfc is off by up to 5e-9 near |x / sqrt(2)| = 1 (ours agrees with
# scipy to 2e-13, checked below): gelu's float64 gap to Keras is TF's.
ACTIVATION_RTOL = {"float32": 1e-6, "float64": 1e-12}
GELU_FLOAT64_RTOL = 1e-8


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_dense_activation_matches_keras(activation, dtype, x64):
    def dense():
        return L.Dense(7, activation=activation, bias_initializer=_random_bias())

    kmodel = _sequential((5,), dense, dtype=dtype)
    x = (3 * np.random.default_rng(2).normal(size=(64, 5))).astype(dtype)
    rtol = ACTIVATION_RTOL[dtype]
    if activation == "gelu" and dtype == "float64":
        rtol = GELU_FLOAT64_RTOL
    _activation_gap(kmodel, x, rtol)


@pytest.mark.parametrize("activation", [*NEW_ACTIVATIONS, "softmax", "sigmoid", "relu"])
def test_activation_layer_matches_keras_float64(activation, float64):
    kmodel = _sequential((6,), lambda: L.Activation(activation))
    # Steps around 0 and +-sqrt(2) (gelu's erfc), large negatives (elu, softplus).
    x = np.linspace(-30, 12, 6 * 50).reshape(50, 6)
    rtol = GELU_FLOAT64_RTOL if activation == "gelu" else FORWARD_RTOL
    _activation_gap(kmodel, x, rtol)


def test_gelu_is_the_exact_erf_form(x64):
    x = np.linspace(-30, 12, 4201)
    ours = np.asarray(layers.Activation("gelu")(x))
    # x / 2 * (1 + erf(x / sqrt(2))), written with erfc to stay exact in the lower tail
    np.testing.assert_allclose(ours, 0.5 * x * erfc(-x / np.sqrt(2)), rtol=1e-12, atol=0)


def test_leaky_relu_slope_is_kerass_activation_default():
    x = np.array([-2.0, -0.5, 0.0, 3.0], np.float32)
    out = np.asarray(layers.Activation("leaky_relu")(x))
    np.testing.assert_allclose(out, [-0.4, -0.1, 0.0, 3.0], rtol=1e-7)


# ----------------------------------------------------------------------------- logits
def _loss_gap(kmodel, x, y):
    """The compiled loss of Keras's ``evaluate`` and of ``ported.loss_fn``."""
    theirs = kmodel.evaluate(x, y, batch_size=len(x), verbose=0)
    ported = research.port.from_keras_model(kmodel)
    return float(ported.loss_fn(ported.model, x, y)), float(theirs)


def _saturated_classifier(*tail, units=3, **compile_args):
    """A Dense with large weights: probabilities underflow, so a loss computed from the
    probabilities (clipped at 1e-7) and one from the logits differ by far."""
    model = _sequential(
        (4,),
        lambda: L.Dense(units, kernel_initializer=keras.initializers.RandomNormal(stddev=300.0)),
        *tail,
        **compile_args,
    )
    return model


@pytest.mark.parametrize(
    "tail",
    [
        [lambda: L.Activation("softmax")],
        [lambda: L.Activation("softmax"), lambda: L.Dropout(0.0)],
        [lambda: L.Activation("softmax"), lambda: L.Activation("linear")],
    ],
    ids=["softmax", "softmax_then_dropout", "softmax_then_linear"],
)
def test_final_softmax_activation_layer_gives_keras_logits(tail, float64):
    kmodel = _saturated_classifier(*tail, optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 4)), rng.integers(0, 3, size=16)
    ours, theirs = _loss_gap(kmodel, x, y)
    assert theirs > 2 * -np.log(1e-7)  # from the logits: far beyond the clipped bound
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_final_sigmoid_activation_layer_gives_keras_logits(float64):
    kmodel = _saturated_classifier(
        lambda: L.Activation("sigmoid"), units=1, optimizer="sgd", loss="binary_crossentropy"
    )
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 4)), rng.integers(0, 2, size=(16, 1)).astype(np.float64)
    ours, theirs = _loss_gap(kmodel, x, y)
    assert theirs > 2 * -np.log(1e-7)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_softmax_followed_by_reshape_gives_no_logits(float64):
    """Keras's reshaped probabilities lose their logits: the clipped loss, here too."""
    kmodel = _saturated_classifier(
        lambda: L.Activation("softmax"),
        lambda: L.Reshape((3,)),
        optimizer="sgd",
        loss="sparse_categorical_crossentropy",
    )
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 4)), rng.integers(0, 3, size=16)
    ours, theirs = _loss_gap(kmodel, x, y)
    assert theirs < -np.log(1e-7) + 1e-6  # bounded by the clipping
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# ----------------------------------------------------------------------------- Reshape
def test_reshape_between_conv2d_and_conv1d_matches_keras_float64(float64):
    kmodel = _sequential(
        (6, 6, 1),
        lambda: L.Conv2D(4, 3, padding="same", activation="elu", bias_initializer=_random_bias()),
        lambda: L.Reshape((-1, 8)),  # (6, 6, 4) -> (18, 8)
        lambda: L.Conv1D(3, 4, strides=2, activation="silu", bias_initializer=_random_bias()),
        lambda: L.Reshape((3, 8, 1)),
        lambda: L.GlobalMaxPooling2D(),
    )
    x = np.random.default_rng(5).normal(size=(4, 6, 6, 1))
    _forward_gap(kmodel, x)


def test_reshape_checks_its_target_shape():
    assert layers.Reshape((-1, 4))(np.ones((2, 3, 4, 2))).shape == (2, 6, 4)
    with pytest.raises(ValueError, match="target_shape"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match=r"do not fit target_shape \(5, -1\)"):
        layers.Reshape((5, -1))(np.ones((2, 12)))


# ----------------------------------------------------------------------------- models
def _mnist_convnet(dropout=0.5, seed=0, **compile_args):
    """Keras's "simple MNIST convnet" for 8x8x1 digits ("same" convs keep 8x8 -> 4x4 -> 2x2)."""
    return _sequential(
        (8, 8, 1),
        lambda: L.Conv2D(
            8, 3, padding="same", activation="relu",
            kernel_regularizer=keras.regularizers.L2(1e-3),
        ),
        lambda: L.MaxPooling2D(2),
        lambda: L.Conv2D(
            16, 3, padding="same", activation="relu",
            kernel_regularizer=keras.regularizers.L1(1e-4),
        ),
        lambda: L.MaxPooling2D(2),
        lambda: L.Flatten(),
        lambda: L.Dropout(dropout),
        lambda: L.Dense(
            10, activation="softmax", kernel_regularizer=keras.regularizers.L1L2(1e-4, 1e-3)
        ),
        seed=seed,
        **compile_args,
    )  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).reshape(-1, 8, 8, 1), y.astype(np.int32)


def test_mnist_convnet_converts_and_predicts_as_keras(digits, float64):
    kmodel = _mnist_convnet()
    x = digits[0][:64]
    _forward_gap(kmodel, x)  # inference: Dropout(0.5) passes its input through
    ours = research.port.from_keras_model(kmodel).model.layers
    assert [type(layer).__name__ for layer in ours] == [
        "Conv", "MaxPooling2D", "Conv", "MaxPooling2D", "Flatten", "Dropout", "Dense",
    ]  # fmt: skip
    assert ours[5].rate == 0.5 and ours[1].pool_size == ours[1].strides == (2, 2)


def _fit_both(kmodel, x, y, *, epochs, batch_size):
    """``model.fit`` and ``research.port.fit`` from the same weights; returns the largest
    relative gaps (weights, epoch losses) after asserting them below ``FIT_RTOL``."""
    ported = research.port.from_keras_model(kmodel)  # before fit: the same initial weights
    history = kmodel.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    trained, losses = research.port.fit(ported, x, y, epochs=epochs, batch_size=batch_size)
    np.testing.assert_allclose(losses, history.history["loss"], rtol=FIT_RTOL)
    theirs, ours = kmodel.get_weights(), keras_weights(trained)
    assert len(ours) == len(theirs)
    gaps = []
    for a, b in zip(ours, theirs, strict=True):
        scale = np.max(np.abs(b))
        np.testing.assert_allclose(a, b, rtol=FIT_RTOL, atol=FIT_RTOL * scale)
        gaps.append(np.max(np.abs(a - b)) / scale)
    # The runs really trained: the loss fell, the weights moved.
    assert losses[-1] < 0.9 * losses[0]
    start = [np.asarray(p) for p in keras_weights(ported.model)]
    assert max(np.max(np.abs(a - b)) for a, b in zip(start, theirs, strict=True)) > 1e-2
    loss_gap = np.max(np.abs(np.asarray(losses) - history.history["loss"]) / losses)
    return max(gaps), loss_gap


@pytest.mark.slow
@pytest.mark.parity
def test_simple_mnist_convnet_on_digits_matches_fit(digits, float64):
    """Dropout at rate 0 here: Keras's and JAX's dropout masks come from different random
    streams, so a run with dropping cannot be compared step by step (the rate-0.5 model is
    compared in inference above)."""
    x, y = digits
    kmodel = _mnist_convnet(
        dropout=0.0,
        seed=2,
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
    )
    _fit_both(kmodel, x, y, epochs=2, batch_size=64)


def _sequences(n=600, steps=24, seed=0):
    """Noisy sinusoids with a random phase, labelled by their frequency (3 classes); a
    second channel of pure noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    t = np.arange(steps)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    x = 0.3 * rng.normal(size=(n, steps, 2))
    x[:, :, 0] += np.sin(2 * np.pi * (1 + y[:, None]) * t / 12 + phase)
    return x, y.astype(np.int32)


@pytest.mark.slow
@pytest.mark.parity
def test_conv1d_sequence_classifier_matches_fit(float64):
    x, y = _sequences()
    kmodel = _sequential(
        (24, 2),
        lambda: L.Conv1D(
            6, 3, padding="causal", activation="gelu",
            kernel_regularizer=keras.regularizers.L1(1e-3),
            bias_regularizer=keras.regularizers.L2(1e-3),
        ),
        lambda: L.MaxPooling1D(2),
        lambda: L.Conv1D(8, 3, padding="same", activation="elu",
                         kernel_regularizer=keras.regularizers.L2(1e-3)),
        lambda: L.AveragePooling1D(3, strides=2, padding="same"),
        lambda: L.GlobalAveragePooling1D(),
        lambda: L.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(1e-3)),
        seed=3,
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )  # fmt: skip
    _fit_both(kmodel, x, y, epochs=2, batch_size=32)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("shape", "layer", "match"),
    [
        ((4, 4, 2), lambda: L.UpSampling2D(name="up"), r"UpSampling2D 'up': not supported"),
        ((4, 3), lambda: L.LSTM(2, name="rnn"), r"LSTM 'rnn': not supported"),
        ((4, 3), lambda: L.Conv1D(2, 2, dilation_rate=2, name="c"), r"'c': dilation_rate=\(2,\)"),
        ((4, 4, 4), lambda: L.Conv2D(4, 2, groups=2, name="g"), r"'g': groups=2"),
        (
            (4, 4, 2),
            lambda: L.MaxPooling2D(data_format="channels_first", name="p"),
            r"MaxPooling2D 'p': data_format='channels_first'",
        ),
        (
            (4, 2),
            lambda: L.GlobalAveragePooling1D(data_format="channels_first", name="g"),
            r"'g': data_format='channels_first'",
        ),
        (
            (4, 4, 2),
            lambda: L.AveragePooling2D(
                2, activity_regularizer=keras.regularizers.L1(0.1), name="a"
            ),
            r"AveragePooling2D 'a': activity_regularizer",
        ),
        (
            (4, 2),
            lambda: L.Flatten(activity_regularizer=keras.regularizers.L2(0.1), name="f"),
            r"Flatten 'f': activity_regularizer is supported on Dense",
        ),
        (
            (3,),
            lambda: L.Dropout(0.1, activity_regularizer=keras.regularizers.L1(0.1), name="d"),
            r"Dropout 'd': activity_regularizer",
        ),
        ((3,), lambda: L.Activation("selu", name="act"), r"Activation 'act': activation 'selu'"),
        ((3,), lambda: L.Dense(2, activation="mish"), r"activation 'mish'.*leaky_relu"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unsupported_layers_and_options_raise_naming_them(shape, layer, match):
    kmodel = keras.Sequential([keras.Input(shape), layer()])
    with pytest.raises(ValueError, match=match) as err:
        research.port.from_keras_model(kmodel)
    if "supported layers:" in str(err.value):  # an unsupported layer lists them all
        for name in research.port.SUPPORTED_LAYERS:
            assert name in str(err.value)


def test_supported_layers_name_the_new_ones():
    assert {
        "Conv1D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
        "GlobalMaxPooling2D", "Reshape", "Activation",
    } <= set(research.port.SUPPORTED_LAYERS)  # fmt: skip


def test_layers_reject_bad_options_naming_them():
    with pytest.raises(ValueError, match="padding"):
        layers.MaxPooling2D(2, padding="full")
    with pytest.raises(ValueError, match="padding"):
        layers.Conv(1, 1, 3, padding="causal", rngs=nnx.Rngs(0))  # causal: Conv1D only
    with pytest.raises(ValueError, match="pool_size"):
        layers.AveragePooling1D((2, 2))
    with pytest.raises(ValueError, match="activation"):
        layers.Activation("selu")
    with pytest.raises(ValueError, match=r"x: expected \(batch, 2 pooled axes"):
        layers.MaxPooling2D()(np.ones((2, 4, 4)))


def test_ported_pooling_model_reinitializes_and_jits(float64):
    """The pooling layers have no parameters: ``reinitialize`` and ``jit`` pass over them."""
    kmodel = _sequential(
        (6, 2), lambda: L.Conv1D(3, 2), lambda: L.MaxPooling1D(2), lambda: L.Flatten()
    )
    model = research.port.from_keras_model(kmodel).model
    fresh = research.port.reinitialize(model, jax.random.key(0))
    x = np.random.default_rng(6).normal(size=(2, 6, 2))
    out = nnx.jit(lambda m, x: m(x))(fresh, x)
    assert out.shape == (2, 6)  # 6 steps -> 5 (kernel 2) -> 2 (pool 2), 3 channels
    assert not np.allclose(fresh.layers[0].kernel[...], model.layers[0].kernel[...])
