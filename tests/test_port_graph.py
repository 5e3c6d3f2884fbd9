"""research.port / research.layers: BatchNormalization, LayerNormalization, the merge
layers and functional models that are graphs, each against real Keras 3 (TensorFlow).

Forward passes run in float64 (Keras's float64 dtype policy, JAX's x64) and agree to
1e-12, as do the moving statistics after one training step. A residual classifier on
scikit-learn's 8x8 digits (Dense and Conv2D blocks: BatchNormalization, Add, an L2
kernel penalty, a gamma penalty and constraint) trains two epochs with Keras's
``model.fit`` and ``research.port.fit`` from the same initial weights; weights, moving
statistics and epoch losses agree within 1e-4 relative (the arithmetic allows ~1e-10).
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.datasets import load_digits

import research.port
from research import layers

from helpers import keras_dtype

pytestmark = pytest.mark.parity

assert keras.backend.backend() == "tensorflow", keras.backend.backend()

FORWARD_RTOL = 1e-12
FIT_RTOL = 1e-4


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float64), y.astype(np.int32)


def _randomize(kmodel, seed=1):
    """Random gammas, betas and moving statistics (Keras starts them at 1, 0, 0, 1)."""
    rng = np.random.default_rng(seed)
    for layer in kmodel.layers:
        if isinstance(layer, keras.layers.BatchNormalization | keras.layers.LayerNormalization):
            for var in layer.weights:
                positive = "variance" in var.name or "gamma" in var.name
                low = 0.5 if positive else -1.0
                var.assign(rng.uniform(low, 2.0, var.shape))


def _close(ours, theirs, rtol=FORWARD_RTOL, floor=0.0):
    """Within ``rtol`` relative to the largest entry (at least ``floor``); the max difference."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    scale = max(float(np.max(np.abs(theirs))), floor)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale)
    return float(np.max(np.abs(ours - theirs)))


# The bias of a Dense followed by BatchNormalization has a zero gradient (the batch mean
# is subtracted): it stays at zero plus rounding (~1e-17) in both, so weights are compared
# relative to their largest entry or this floor, whichever is larger.
WEIGHT_FLOOR = 1e-3


def _moving(model):
    """The moving statistics of every BatchNormalization, in model order."""
    return [
        np.asarray(getattr(layer, name)[...])
        for _, layer in nnx.iter_graph(model)
        if isinstance(layer, layers.BatchNormalization)
        for name in ("moving_mean", "moving_variance")
    ]


def _keras_moving(kmodel):
    return [
        v.numpy()
        for layer in kmodel.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in (layer.moving_mean, layer.moving_variance)
    ]


BN_OPTIONS = {
    "defaults": {},
    "no_center": {"center": False},
    "no_scale": {"scale": False},
    "neither": {"center": False, "scale": False},
    "epsilon_momentum": {"epsilon": 0.1, "momentum": 0.5},
}


@pytest.mark.parametrize("shape", [(6,), (5, 5, 3)], ids=["dense", "conv"])
@pytest.mark.parametrize("options", list(BN_OPTIONS))
def test_batch_normalization_matches_keras_in_inference_and_training(float64, options, shape):
    kmodel = keras.Sequential(
        [keras.Input(shape), keras.layers.BatchNormalization(**BN_OPTIONS[options])]
    )
    _randomize(kmodel)
    model = research.port.from_keras_model(kmodel).model
    assert type(model) is layers.Sequential  # a chain: Sequential passes training on to BN
    x = np.random.default_rng(0).normal(2.0, 3.0, (16, *shape))
    _close(model(x), kmodel(x, training=False))
    _close(_moving(model), _keras_moving(kmodel))  # unchanged by inference
    _close(model(x, training=True), kmodel(x, training=True))
    for ours, theirs in zip(_moving(model), _keras_moving(kmodel), strict=True):
        _close(ours, theirs)  # both moved towards the batch statistics
    _close(model(x), kmodel(x, training=False))  # inference with the moved statistics


def test_batch_normalization_moving_statistics_follow_keras_formula(float64):
    """One training call moves the statistics by momentum towards the biased batch ones."""
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(momentum=0.8)])
    model = research.port.from_keras_model(kmodel).model
    x = np.random.default_rng(3).normal(1.0, 2.0, (10, 4))
    kmodel(x, training=True)
    model(x, training=True)
    keras_mean, keras_var = _keras_moving(kmodel)
    np.testing.assert_allclose(keras_mean, 0.2 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(keras_var, 0.8 + 0.2 * x.var(0), rtol=1e-12)  # biased
    for ours, theirs in zip(_moving(model), (keras_mean, keras_var), strict=True):
        _close(ours, theirs)


LN_OPTIONS = {
    "defaults": {},
    "no_center": {"center": False},
    "no_scale": {"scale": False, "epsilon": 0.1},
    "rms_scaling": {"rms_scaling": True},
}


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")  # deprecated
@pytest.mark.parametrize("shape", [(6,), (3, 4, 5)], ids=["dense", "conv"])
@pytest.mark.parametrize("options", list(LN_OPTIONS))
def test_layer_normalization_matches_keras(float64, options, shape):
    norm = keras.layers.LayerNormalization(**LN_OPTIONS[options])
    kmodel = keras.Sequential([keras.Input(shape), norm])
    _randomize(kmodel)
    ported = research.port.from_keras_model(kmodel).model
    assert isinstance(ported, layers.Sequential) and not isinstance(ported, layers.Graph)
    x = np.random.default_rng(0).normal(2.0, 3.0, (7, *shape))
    _close(ported(x), kmodel(x))


def _merge_model(merge, n_branches=2):
    """x -> Dense branches (one Dense, one identity) -> merge -> Dense."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    branches = [keras.layers.Dense(5, activation="tanh")(inp) for _ in range(n_branches - 1)]
    merged = merge([inp, *branches])
    out = keras.layers.Dense(3, activation="softmax")(merged)
    return keras.Model(inp, out)


MERGES = {
    "add": lambda: keras.layers.Add(),
    "add3": lambda: keras.layers.Add(),
    "multiply": lambda: keras.layers.Multiply(),
    "average": lambda: keras.layers.Average(),
    "concatenate": lambda: keras.layers.Concatenate(axis=-1),
}


@pytest.mark.parametrize("kind", list(MERGES))
def test_merge_layers_match_keras_on_a_graph(float64, kind):
    with keras_dtype("float64"):
        kmodel = _merge_model(MERGES[kind](), 3 if kind == "add3" else 2)
    model = research.port.from_keras_model(kmodel).model
    assert isinstance(model, layers.Graph)
    x = np.random.default_rng(0).normal(size=(9, 5))
    _close(model(x), kmodel(x))
    _, logits = model.call_with_logits(x)
    assert research.port.final_activation(model) == "softmax"
    _close(jax.nn.softmax(logits), kmodel(x))  # the logits are the last Dense's


def test_concatenate_along_another_axis_and_ranks_expanded_as_keras(float64):
    with keras_dtype("float64"):
        inp = keras.Input((4, 3))
        a = keras.layers.Dense(3)(inp)
        cat = keras.layers.Concatenate(axis=1)([inp, a])
        flat = keras.layers.Flatten()(cat)
        pooled = keras.layers.Dense(8)(flat)
        out = keras.layers.Add()([flat, keras.layers.Dense(24)(pooled)])
        kmodel = keras.Model(inp, out)
    model = research.port.from_keras_model(kmodel).model
    x = np.random.default_rng(2).normal(size=(6, 4, 3))
    _close(model(x), kmodel(x))
    merged = layers.Multiply()([jnp.ones((2, 3)), jnp.arange(6.0).reshape(2, 3, 1)])
    assert merged.shape == (2, 3, 3)  # (2, 3) became (2, 1, 3), then broadcast


def _dense_residual(seed=0, optimizer=None):
    """Digits (64 features) -> Dense -> [Dense -> BN -> relu -> Dense -> BN] + x -> relu."""
    keras.utils.set_random_seed(seed)
    l2 = keras.regularizers.L2(2**-10)
    inp = keras.Input((64,))
    x = keras.layers.Dense(32, kernel_regularizer=l2)(inp)
    h = keras.layers.Dense(32, kernel_regularizer=l2)(x)
    h = keras.layers.BatchNormalization(
        momentum=0.9, gamma_regularizer=keras.regularizers.L2(2**-7)
    )(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Dense(32)(h)
    h = keras.layers.BatchNormalization(momentum=0.9, gamma_constraint=keras.constraints.NonNeg())(
        h
    )
    h = keras.layers.Activation("relu")(keras.layers.Add()([x, h]))
    out = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    return model


def _conv_residual(seed=0, optimizer=None):
    """8x8x1 digits -> Conv -> [Conv -> BN -> relu -> Conv -> BN] + 1x1 projection -> relu."""
    keras.utils.set_random_seed(seed)
    l2 = keras.regularizers.L2(2**-10)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = keras.layers.Conv2D(6, 3, padding="same", kernel_regularizer=l2)(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Conv2D(6, 3, padding="same")(h)
    h = keras.layers.BatchNormalization(epsilon=1e-2)(h)
    shortcut = keras.layers.Conv2D(6, 1, use_bias=False)(x)
    h = keras.layers.Activation("relu")(keras.layers.Add()([shortcut, h]))
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy"
    )
    return model


def _compare_fit(kmodel, x, y, *, epochs, batch_size):
    ported = research.port.from_keras_model(kmodel)  # before fit: the same initial weights
    paths = research.port.variable_paths(kmodel)
    history = kmodel.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    trained, losses = research.port.fit(ported, x, y, epochs=epochs, batch_size=batch_size)
    diffs = {"loss": _close(losses, history.history["loss"], FIT_RTOL)}
    params = nnx.to_flat_state(nnx.state(trained, nnx.Param))
    ours = {tuple(path): np.asarray(v[...]) for path, v in params}
    assert set(ours) == set(paths)  # every parameter maps to its Keras variable
    diffs["weights"] = max(
        _close(ours[p], v.numpy(), FIT_RTOL, WEIGHT_FLOOR) for p, v in paths.items()
    )
    moving = zip(_moving(trained), _keras_moving(kmodel), strict=True)
    diffs["moving"] = max(_close(a, b, FIT_RTOL) for a, b in moving)
    assert losses[-1] < losses[0]
    return ported, trained, diffs


@pytest.mark.slow
@pytest.mark.parametrize("build", [_dense_residual, _conv_residual], ids=["dense", "conv"])
def test_residual_model_with_batch_normalization_matches_fit(digits, float64, build):
    x, y = digits
    if build is _conv_residual:
        x = x.reshape(-1, 8, 8, 1)
    kmodel = build()
    # 1797 examples: 28 full batches and a last one of 5, normalized by its own statistics.
    ported, trained, diffs = _compare_fit(kmodel, x, y, epochs=2, batch_size=64)
    print(f"{build.__name__}: max |ours - keras| {diffs}")
    assert isinstance(ported.model, layers.Graph)
    # The statistics moved during training (Keras's started at 0 and 1).
    assert not np.allclose(_moving(trained)[0], 0.0)


def test_regularization_and_constraints_cover_gamma_and_beta(float64):
    """Strengths exact in float32: Keras's TensorFlow backend casts a Python float
    strength through float32 (``ops.cast(self.l2, x.dtype)``)."""
    kmodel = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.BatchNormalization(
                gamma_regularizer=keras.regularizers.L1(0.125),
                beta_regularizer=keras.regularizers.L2(0.25),
                beta_constraint=keras.constraints.MaxNorm(0.5),
            ),
            keras.layers.LayerNormalization(gamma_regularizer=keras.regularizers.L2(0.5)),
        ]
    )
    _randomize(kmodel)
    model = research.port.from_keras_model(kmodel).model
    x = np.random.default_rng(0).normal(size=(4, 5))
    kmodel(x, training=True)
    np.testing.assert_allclose(
        float(layers.regularization_loss(model)), sum(float(v) for v in kmodel.losses), rtol=1e-12
    )
    beta = model.layers[0].beta[...]
    tx = optax.chain(optax.sgd(1.0), layers.constraints(model))
    params = nnx.state(model, nnx.Param)
    grads = jax.tree.map(jnp.zeros_like, params)
    updates = tx.update(grads, tx.init(params), params)[0]
    new = optax.apply_updates(params, updates)
    expected = keras.constraints.MaxNorm(0.5)(keras.ops.convert_to_tensor(np.asarray(beta)))
    _close(new["layers"][0]["beta"][...], expected)


def test_own_nnx_loop_updates_moving_statistics_outside_the_optimizer(digits, float64):
    x, y = digits
    kmodel = _dense_residual(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    ported = research.port.from_keras_model(kmodel)
    model = ported.model
    optimizer = nnx.Optimizer(model, ported.tx, wrt=nnx.Param)
    names = {str(key) for path, _ in nnx.to_flat_state(nnx.state(optimizer)) for key in path}
    assert not names & {"moving_mean", "moving_variance"}
    assert "gamma" in names  # the momentum of the trained parameters

    @nnx.jit
    def step(model, optimizer, xb, yb):
        loss, grads = nnx.value_and_grad(ported.loss_fn)(model, xb, yb)
        optimizer.update(model, grads)
        return loss

    xb, yb = x[:48], y[:48]
    loss = step(model, optimizer, xb, yb)
    keras_loss = kmodel.train_on_batch(xb, yb)
    _close(loss, keras_loss)
    for ours, theirs in zip(_moving(model), _keras_moving(kmodel), strict=True):
        _close(ours, theirs)  # updated in place by the training call, as Keras's
    paths = research.port.variable_paths(kmodel)
    params = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    for path, var in paths.items():
        _close(params[path][...], var.numpy(), 1e-10, WEIGHT_FLOOR)


def test_chains_stay_sequential_with_batch_norm_too():
    inp = keras.Input((4,))
    h = keras.layers.Dense(3)(inp)
    chain = research.port.from_keras_model(keras.Model(inp, keras.layers.Dense(2)(h))).model
    assert type(chain) is layers.Sequential
    with_bn = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    model = research.port.from_keras_model(with_bn).model
    assert type(model) is layers.Sequential
    assert set(research.port.variable_paths(with_bn)) == {
        ("layers", 0, "kernel"), ("layers", 0, "bias"),
        ("layers", 1, "gamma"), ("layers", 1, "beta"),
    }  # fmt: skip


def _two_inputs():
    a, b = keras.Input((3,)), keras.Input((3,))
    return keras.Model([a, b], keras.layers.Add()([a, b]), name="two_in")


def _two_outputs():
    a = keras.Input((3,))
    return keras.Model(a, [keras.layers.Dense(2)(a), keras.layers.Dense(1)(a)], name="two_out")


def _subtract():
    a = keras.Input((3,))
    out = keras.layers.Subtract(name="sub")([a, keras.layers.Dense(3)(a)])
    return keras.Model(a, out)


def _shared():
    a = keras.Input((3,))
    dense = keras.layers.Dense(3, name="shared")
    return keras.Model(a, keras.layers.Add()([dense(a), dense(dense(a))]))


def _keras_op():
    a = keras.Input((3,))
    return keras.Model(a, keras.layers.Dense(3)(a) + a)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (_two_inputs, "model 'two_in': 2 inputs and 1 outputs; only single-input"),
        (_two_outputs, "model 'two_out': 1 inputs and 2 outputs"),
        (_subtract, "Subtract 'sub': not supported; supported layers: .*Add, Concatenate"),
        (_shared, "Dense 'shared' is called more than once"),
        (_keras_op, "is not a layer"),
        (
            lambda: keras.Sequential(
                [keras.Input((4, 4, 3)), keras.layers.BatchNormalization(axis=1, name="bn1")]
            ),
            "BatchNormalization 'bn1': axis=1 is not supported",
        ),
        (
            lambda: keras.Sequential(
                [keras.Input((3,)), keras.layers.BatchNormalization(renorm=True, name="re")]
            ),
            "BatchNormalization 're': renorm=True",
        ),
    ],
    ids=["two_inputs", "two_outputs", "subtract", "shared", "keras_op", "bn_axis", "renorm"],
)
def test_unsupported_models_and_layers_raise_naming_them(build, match):
    with pytest.raises(ValueError, match=match):
        research.port.from_keras_model(build())


def test_layer_and_graph_arguments_are_checked():
    with pytest.raises(ValueError, match="axis"):
        layers.BatchNormalization(3, axis=1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="axis"):
        layers.LayerNormalization(3, axis=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="momentum"):
        layers.BatchNormalization(3, momentum=1.5, rngs=nnx.Rngs(0))
    dense = layers.Dense(3, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"sources\[1\]"):
        layers.Graph([dense, layers.Add()], sources=[-1, (-1, 1)])  # not topological
    with pytest.raises(ValueError, match="takes one input"):
        layers.Graph([dense], sources=[(-1, -1)])
    graph = layers.Graph([dense, layers.Add()], sources=[-1, (-1, 0)])
    x = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(graph(x), x + x @ dense.kernel[...] + dense.bias[...], rtol=1e-6)


def test_a_residual_block_as_a_nested_model_trains_its_batch_norm(float64):
    """A functional block inside a Sequential: the outer chain passes ``training`` on."""
    inp = keras.Input((6,))
    h = keras.layers.BatchNormalization()(keras.layers.Dense(6)(inp))
    block = keras.Model(inp, keras.layers.Add()([inp, h]), name="block")
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6), block])
    model = research.port.from_keras_model(kmodel).model
    assert type(model) is layers.Sequential and type(model.layers[1]) is layers.Graph
    assert ("layers", 1, "layers", 1, "gamma") in research.port.variable_paths(kmodel)
    x = np.random.default_rng(0).normal(size=(8, 6))
    _close(model(x, training=True), kmodel(x, training=True))
    _close(_moving(model), _keras_moving(block))
    _close(model(x), kmodel(x))
