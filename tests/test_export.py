"""research.port.to_keras_model / prune and research-export: models back to real Keras.

The reference is Keras 3 on the TensorFlow backend: the exported model's
``predict`` equals the JAX model's output (1e-6 in float32, 1e-12 in float64),
its weights and its regularizers' and constraints' configs equal the Keras
model the JAX model came from, and a continued ``fit`` matches
``research.port.fit``. Pruning is checked against ``research.prune.prune_mlp``
(the engine's implementation) and against Keras's predictions.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
from flax import nnx

import research.port
from research import layers
from research.engine import train_and_evaluate
from research.io import load_job, write_job
from research.models import PER_SEED
from research.optim import proximal
from research.prune import prune_mlp
from research.regularizers import L1, MCP, GroupLasso

assert keras.backend.backend() == "tensorflow", keras.backend.backend()

TOL = {"float32": 1e-6, "float64": 1e-12}


@pytest.fixture(params=["float32", "float64"])
def precision(request):
    """Keras (floatx, dtype policy) and JAX (x64) in one precision for one test."""
    previous = jax.config.jax_enable_x64, keras.config.floatx(), keras.config.dtype_policy()
    jax.config.update("jax_enable_x64", request.param == "float64")
    keras.config.set_floatx(request.param)
    keras.config.set_dtype_policy(request.param)
    yield request.param
    jax.config.update("jax_enable_x64", previous[0])
    keras.config.set_floatx(previous[1])
    keras.config.set_dtype_policy(previous[2])


def _params(model):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]


def _penalized(units, **extra):
    regs = keras.regularizers
    return {
        "kernel_regularizer": regs.L1L2(l1=0.01, l2=0.02),
        "bias_regularizer": regs.L2(0.03),
        "activity_regularizer": regs.L1(1e-3),
        "kernel_constraint": keras.constraints.MaxNorm(1.5, axis=0),
        "bias_constraint": keras.constraints.NonNeg(),
        **extra,
    }


def _mlp(rate=0.25):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, activation="relu", **_penalized(8)),
            keras.layers.Dropout(rate),
            keras.layers.Dense(
                6,
                activation="tanh",
                kernel_regularizer=keras.regularizers.L1(0.1),
                kernel_initializer="he_uniform",
            ),
            keras.layers.ActivityRegularization(l1=0.01, l2=0.02),
            keras.layers.Dense(3, activation="softmax", bias_initializer="ones"),
        ]
    )


def _conv():
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((7, 7, 2)),
            keras.layers.Conv2D(
                4,
                3,
                padding="same",
                strides=2,
                activation="relu",
                **_penalized(4, kernel_constraint=keras.constraints.MaxNorm(2.0, axis=[0, 1, 2])),
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.05)),
        ]
    )


def _configs(model, key):
    return [
        getattr(layer, key).get_config() if getattr(layer, key, None) is not None else None
        for layer in model.layers
    ]


@pytest.mark.parametrize("build, shape", [(_mlp, (5,)), (_conv, (7, 7, 2))], ids=["mlp", "conv"])
def test_an_exported_keras_model_predicts_as_the_jax_model_with_its_weights_and_configs(
    precision, build, shape
):
    original = build()
    ported = research.port.from_keras_model(original)
    exported = research.port.to_keras_model(ported.model)
    x = np.random.default_rng(0).normal(size=(9, *shape)).astype(precision)
    ours = np.asarray(ported.model(jnp.asarray(x)))
    theirs = exported.predict(x, verbose=0)
    assert theirs.dtype == np.dtype(precision)
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=TOL[precision])
    for a, b in zip(original.get_weights(), exported.get_weights(), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(b, a)  # bit for bit
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                "kernel_constraint", "bias_constraint"):  # fmt: skip
        assert _configs(exported, key) == _configs(original, key), key
    kinds = [type(layer).__name__ for layer in exported.layers]
    assert kinds == [type(layer).__name__ for layer in original.layers]
    init = [layer.get_config().get("kernel_initializer") for layer in exported.layers]
    want = [layer.get_config().get("kernel_initializer") for layer in original.layers]
    assert [i and i["class_name"] for i in init] == [w and w["class_name"] for w in want]
    # And back: the same parameters, bit for bit.
    again = research.port.from_keras_model(exported).model
    for a, b in zip(_params(ported.model), _params(again), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a)


def test_a_model_built_here_needs_an_input_shape_and_exports_its_initializers():
    rngs = nnx.Rngs(0)
    model = layers.Sequential(
        layers.Dense(4, 6, activation="sigmoid", kernel_regularizer=L1(0.2), rngs=rngs),
        layers.Dense(6, 2, kernel_init=nnx.initializers.he_normal(), rngs=rngs),
    )
    with pytest.raises(ValueError, match="input_shape"):
        research.port.to_keras_model(model)
    exported = research.port.to_keras_model(model, input_shape=(4,))
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(exported.predict(x, verbose=0), model(x), rtol=0, atol=1e-6)
    first, second = exported.layers
    assert first.kernel_regularizer.get_config() == keras.regularizers.L1(0.2).get_config()
    assert first.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert second.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    assert first.get_config()["activation"] == "sigmoid"


@pytest.mark.parametrize("reg", [GroupLasso(0.1, axis=0), MCP(0.1, 3.0)], ids=["group", "mcp"])
def test_a_penalty_without_a_keras_form_raises_naming_it_and_the_layer(reg):
    rngs = nnx.Rngs(0)
    inner = layers.Sequential(layers.Dense(3, 2, kernel_regularizer=reg, rngs=rngs))
    model = layers.Sequential(layers.Dense(4, 3, rngs=rngs), inner, input_shape=(4,))
    with pytest.raises(ValueError, match=rf"layers/1/layers/0 \(Dense\): kernel_regularizer "
                       rf"{type(reg).__name__}"):  # fmt: skip
        research.port.to_keras_model(model)


def test_layers_beyond_dense_export_with_their_statistics():
    """Conv1D, pooling, BatchNormalization (moving statistics) and a Graph with Add."""
    rngs = nnx.Rngs(2)
    bn = layers.BatchNormalization(4, momentum=0.9, rngs=rngs)
    bn.moving_mean[...] = jnp.array([0.1, -0.2, 0.3, 0.0])
    bn.moving_variance[...] = jnp.array([1.5, 0.5, 2.0, 1.0])
    bn.gamma[...] = jnp.array([1.0, 2.0, 0.5, 1.0])
    graph = layers.Graph(
        [layers.Dense(4, 4, rngs=rngs), layers.Activation("relu"), layers.Add()],
        sources=[-1, 0, (-1, 1)],
    )
    model = layers.Sequential(
        layers.Conv1D(2, 4, 3, padding="causal", activation="elu", rngs=rngs),
        layers.MaxPooling1D(2, padding="same"),
        bn,
        layers.GlobalAveragePooling1D(),
        graph,
        layers.Dense(4, 1, rngs=rngs),
        input_shape=(9, 2),
    )
    exported = research.port.to_keras_model(model)
    x = np.random.default_rng(2).normal(size=(6, 9, 2)).astype(np.float32)
    np.testing.assert_allclose(exported.predict(x, verbose=0), model(x), rtol=0, atol=1e-6)
    bn_keras = exported.layers[2]
    np.testing.assert_array_equal(bn_keras.moving_variance.numpy(), [1.5, 0.5, 2.0, 1.0])
    assert bn_keras.momentum == 0.9
    back = research.port.from_keras_model(exported).model
    for a, b in zip(_params(model), _params(back), strict=True):
        np.testing.assert_array_equal(b, a)
    stats = [np.asarray(v) for v in jax.tree.leaves(nnx.state(back, nnx.BatchStat))]
    np.testing.assert_array_equal(stats[1], [1.5, 0.5, 2.0, 1.0])


def _sparse_mlp(seed=0, steps=300):
    """A relu MLP trained with a proximal L1 step until some units have exact-zero weights."""
    rngs = nnx.Rngs(seed)
    model = layers.Sequential(
        layers.Dense(3, 12, activation="relu", bias_init=nnx.initializers.constant(0.1), rngs=rngs),
        layers.Dense(12, 10, activation="relu", rngs=rngs),
        layers.Dense(10, 1, rngs=rngs),
        input_shape=(3,),
    )
    x = np.random.default_rng(seed).normal(size=(64, 3)).astype(np.float32)
    y = x[:, :1] - 0.5 * x[:, 1:2]
    lr = 0.05
    tx = optax.chain(optax.sgd(lr), proximal(L1(0.05), learning_rate=lr))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    for _ in range(steps):
        step(model, optimizer)
    return model, x


def test_pruning_after_proximal_l1_keeps_the_function_with_smaller_widths():
    model, x = _sparse_mlp()
    kernels = [np.asarray(layer.kernel[...]) for layer in model.layers]
    dead = [np.all(k == 0, axis=0) for k in kernels[:-1]]
    assert sum(d.sum() for d in dead) > 0, "the proximal step made no unit's kernel zero"
    # Some of them output a nonzero constant relu(bias) that reaches the next layer: folded.
    bias = np.asarray(model.layers[0].bias[...])
    assert np.any(dead[0] & (bias > 0) & np.any(kernels[1] != 0, axis=1))
    pruned = research.port.prune(model)
    # The engine's implementation on the same weights: the same widths and kernels.
    params = {
        "layers": {
            i: {"kernel": k, "bias": np.asarray(layer.bias[...])}
            for i, (k, layer) in enumerate(zip(kernels, model.layers, strict=True))
        }
    }
    want, widths = prune_mlp(params, "relu")
    assert [3] + [layer.out_features for layer in pruned.layers] == widths
    assert widths[1] < 12 or widths[2] < 10
    for i, layer in enumerate(pruned.layers):
        np.testing.assert_array_equal(layer.kernel[...], want["layers"][i]["kernel"])
        np.testing.assert_allclose(layer.bias[...], want["layers"][i]["bias"], rtol=1e-6)
    assert [k.shape for k in kernels] == [(3, 12), (12, 10), (10, 1)]  # the input is unchanged
    exported = research.port.to_keras_model(pruned)
    assert [layer.units for layer in exported.layers] == widths[1:]
    np.testing.assert_allclose(exported.predict(x, verbose=0), model(x), rtol=0, atol=1e-6)


def test_pruning_removes_conv_filters_and_their_rows_after_flatten():
    rngs = nnx.Rngs(3)
    model = layers.Sequential(
        layers.Conv(2, 4, 3, activation="tanh", rngs=rngs),
        layers.Flatten(),
        layers.Dense(4 * 4 * 4, 3, activation="relu", rngs=rngs),
        layers.Dense(3, 1, rngs=rngs),
        input_shape=(6, 6, 2),
    )
    conv, dense = model.layers[0], model.layers[2]
    conv.kernel[...] = conv.kernel[...].at[..., 1].set(0.0)  # filter 1: the constant tanh(b)
    conv.bias[...] = jnp.array([0.1, 0.7, -0.3, 0.2])
    rows = np.array(dense.kernel[...]).reshape(16, 4, 3)
    rows[:, 3, :] = 0.0  # filter 3 reaches nothing
    dense.kernel[...] = jnp.asarray(rows.reshape(64, 3))
    pruned = research.port.prune(model)
    assert pruned.layers[0].kernel.shape == (3, 3, 2, 2)
    assert pruned.layers[2].kernel.shape == (32, 3)
    np.testing.assert_array_equal(
        np.asarray(pruned.layers[2].kernel[...]).reshape(16, 2, 3), rows[:, [0, 2], :]
    )
    assert model.layers[0].kernel.shape == (3, 3, 2, 4)  # the input model is unchanged
    x = np.random.default_rng(3).normal(size=(5, 6, 6, 2)).astype(np.float32)
    exported = research.port.to_keras_model(pruned)
    np.testing.assert_allclose(exported.predict(x, verbose=0), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("precision", ["float64"], indirect=True)  # as test_port.py's epochs
def test_keras_fit_continued_from_the_export_matches_port_fit(precision):
    original = _mlp(rate=0.0)  # Keras's dropout masks are not JAX's
    original.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    ported = research.port.from_keras_model(original)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 5)), rng.integers(0, 3, size=40).astype(np.int32)
    trained = research.port.fit(ported, x, y, epochs=1, batch_size=8).model
    continued = ported._replace(model=trained)
    with pytest.raises(ValueError, match="optimizer: this Ported's optimizer is an optax"):
        research.port.to_keras_model(continued._replace(keras_optimizer=None))
    exported = research.port.to_keras_model(continued)  # the compiled SGD(0.05), fresh
    theirs = exported.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    ours = research.port.fit(continued, x, y, epochs=1, batch_size=8)
    np.testing.assert_allclose(theirs.history["loss"], ours.losses, rtol=1e-4)
    weights = [
        np.asarray(layer.kernel[...]) if i % 2 == 0 else np.asarray(layer.bias[...])
        for layer in ours.model.layers
        if isinstance(layer, layers.Dense)
        for i in range(2)
    ]
    for a, b in zip(exported.get_weights(), weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-8)


def test_a_saved_export_reloads_in_safe_mode_with_the_same_predictions(tmp_path):
    ported = research.port.from_keras_model(_conv())
    exported = research.port.to_keras_model(ported.model)
    path = tmp_path / "model.keras"
    exported.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(5).normal(size=(4, 7, 7, 2)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), exported.predict(x, verbose=0))
    np.testing.assert_allclose(again.predict(x, verbose=0), ported.model(x), rtol=0, atol=1e-6)


# ------------------------------------------------------- the three models, trained
def _convnet():
    """Keras's simple MNIST convnet, sized for 8x8 digits (dropout 0: the masks differ)."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(8, 3, padding="same", activation="relu",
                 kernel_regularizer=keras.regularizers.L2(1e-3)),
        L.MaxPooling2D(2),
        L.Conv2D(16, 3, padding="same", activation="relu",
                 kernel_constraint=keras.constraints.MaxNorm(3.0, axis=[0, 1, 2])),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dropout(0.0),
        L.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.L1(1e-4)),
    ])  # fmt: skip


def _residual():
    """Dense -> BatchNormalization -> relu, added to its input, then softmax."""
    L = keras.layers
    inputs = keras.Input((64,))
    hidden = L.Dense(16, kernel_regularizer=keras.regularizers.L1L2(1e-4, 1e-3))(inputs)
    normalized = L.BatchNormalization(
        momentum=0.8, gamma_regularizer=keras.regularizers.L2(1e-3),
        beta_constraint=keras.constraints.NonNeg(),
    )(hidden)  # fmt: skip
    block = L.Add()([hidden, L.Activation("relu")(normalized)])
    return keras.Model(inputs, L.Dense(10, activation="softmax")(block))


def _conv1d():
    L = keras.layers
    return keras.Sequential([
        keras.Input((16, 4)),
        L.Conv1D(6, 3, padding="causal", activation="tanh",
                 kernel_regularizer=keras.regularizers.L1(1e-3)),
        L.MaxPooling1D(2),
        L.Conv1D(8, 3, activation="elu", bias_constraint=keras.constraints.NonNeg()),
        L.GlobalAveragePooling1D(),
        L.Dense(10, activation="softmax"),
    ])  # fmt: skip


def _data(model):
    """Inputs of the model's shape from the digits (sequences: rows of the image)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = np.pad(x / 16.0, ((0, 0), (0, 64 - x.shape[1])))[:400]
    return x.reshape(-1, *model.input_shape[1:]), y[:400].astype(np.int32)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "float64"], indirect=True)
@pytest.mark.parametrize(
    "build", [_convnet, _residual, _conv1d], ids=["convnet", "residual", "conv1d"]
)
def test_trained_sparse_models_go_back_to_keras_and_train_on_there(build, precision):
    keras.utils.set_random_seed(3)
    original = build()
    original.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                     loss="sparse_categorical_crossentropy")  # fmt: skip
    x, y = _data(original)
    ported = research.port.from_keras_model(original)
    # Trained here with the exact proximal step: exact zeros, moved statistics.
    sparse = ported._replace(tx=optax.chain(ported.tx, proximal(L1(3e-2), learning_rate=0.05)))
    trained = research.port.fit(sparse, x, y, epochs=2, batch_size=50).model
    continued = ported._replace(model=trained)
    exported = research.port.to_keras_model(continued)  # ported's own SGD and loss
    assert type(exported.optimizer).__name__ == "SGD" and exported.optimizer.momentum == 0.9
    theirs = exported.predict(x, verbose=0)
    np.testing.assert_allclose(theirs, trained(x), rtol=0, atol=TOL[precision])

    # The same weights and statistics bit for bit, exact zeros included.
    def state(model):
        return [np.asarray(v) for v in jax.tree.leaves(nnx.state(model, PER_SEED))]

    ours, back = state(trained), state(research.port.from_keras_model(exported).model)
    assert len(ours) == len(back) == len(exported.get_weights())
    for a, b in zip(ours, back, strict=True):
        np.testing.assert_array_equal(b, a)
    zeros = sum(int(np.sum(w == 0)) for w in exported.get_weights() if w.ndim > 1)
    assert zeros == sum(int(np.sum(w == 0)) for w in ours if w.ndim > 1) > 0
    for key in ("kernel_regularizer", "kernel_constraint", "bias_constraint",
                "gamma_regularizer", "beta_constraint"):  # fmt: skip
        assert _configs(exported, key) == _configs(original, key), key
    if precision == "float64":  # as test_port.py's epochs: one more epoch on both sides
        history = exported.fit(x, y, epochs=1, batch_size=50, shuffle=False, verbose=0)
        again = research.port.fit(continued, x, y, epochs=1, batch_size=50)
        np.testing.assert_allclose(history.history["loss"], again.losses, rtol=1e-4)


# --------------------------------------------------------------------------- the engine
JOB = {"model": {"name": "mlp", "widths": [1, 6, 6, 1], "activation": "tanh"},
       "regularizer": {"name": "l1", "l1": [0.05, 0.5]}, "method": "proximal", "epochs": 2,
       "num_seeds": 2}  # fmt: skip


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("job")
    write_job(path, train_and_evaluate(JOB))
    return path


def test_a_jobs_model_exports_per_seed_and_strength(job_dir):
    job = load_job(job_dir)
    x = job.dataset().x_test
    exported = job.to_keras(seed=1, strength=1)
    assert [layer.units for layer in exported.layers] == [6, 6, 1]
    np.testing.assert_allclose(exported.predict(x, verbose=0), job.predict(x, 1)[1], atol=1e-6)
    np.testing.assert_array_equal(
        exported.layers[1].kernel.numpy(), job.params["layers/1/kernel"][1, 1]
    )
    assert not np.allclose(exported.predict(x, verbose=0), job.predict(x, 0)[1], atol=1e-3)
    pruned = job.to_keras(seed=1, strength=1, prune=True)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), job.predict(x, 1)[1], atol=1e-6)
    with pytest.raises(ValueError, match="seed: expected 0 to 1"):
        job.to_keras(seed=2)
    with pytest.raises(ValueError, match="strength: expected 0 to 1"):
        job.to_keras(strength=-1)


def _export(*args, cwd):
    command = [sys.executable, "-m", "research.cli.export", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_research_export_writes_a_safe_keras_file_and_names_bad_arguments(job_dir, tmp_path):
    out = tmp_path / "model.keras"
    done = _export(job_dir, "--seed", 1, "--strength", 0, "--out", out, "--prune", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job = load_job(job_dir)
    x = job.dataset().x_test
    model = keras.saving.load_model(out, safe_mode=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), job.predict(x, 0)[1], atol=1e-6)
    before = out.read_bytes()
    for args, message in [
        ((tmp_path / "nothing", "--out", tmp_path / "a.keras"), "JOB_DIR"),
        ((job_dir, "--seed", 2, "--out", tmp_path / "a.keras"), "--seed: expected 0 to 1"),
        ((job_dir, "--strength", 5, "--out", tmp_path / "a.keras"), "--strength"),
        ((job_dir, "--out", tmp_path / "a.h5"), "--out: .* is not a .keras file"),
        ((job_dir, "--out", out), "--out: .* exists; pass --force"),
    ]:
        done = _export(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert __import__("re").search(message, done.stderr), (message, done.stderr)
    assert out.read_bytes() == before
    assert not (tmp_path / "a.keras").exists()
    done = _export(job_dir, "--out", out, "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    model = keras.saving.load_model(out, safe_mode=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), job.predict(x, 0)[0], atol=1e-6)


def test_pruning_through_batch_normalization_drops_its_statistics_too():
    rngs = nnx.Rngs(0)
    bn = layers.BatchNormalization(4, rngs=rngs)
    bn.moving_mean[...] = jnp.array([0.1, 0.2, 0.3, 0.4])
    bn.moving_variance[...] = jnp.array([2.0, 0.5, 1.0, 3.0])
    bn.beta[...] = jnp.array([0.5, -0.5, 0.1, 0.0])
    model = layers.Sequential(
        layers.Dense(3, 4, activation="relu", rngs=rngs),
        bn,
        layers.Activation("tanh"),
        layers.Dense(4, 2, rngs=rngs),
        input_shape=(3,),
    )
    first = model.layers[0]
    first.kernel[...] = first.kernel[...].at[:, 1].set(0.0)  # unit 1: relu(0.3), through bn, tanh
    first.bias[...] = jnp.array([0.0, 0.3, 0.0, 0.1])
    pruned = research.port.prune(model)
    assert pruned.layers[0].kernel.shape == (3, 3) and pruned.layers[1].num_features == 3
    np.testing.assert_array_equal(pruned.layers[1].moving_variance[...], [2.0, 1.0, 3.0])
    x = np.random.default_rng(6).normal(size=(5, 3)).astype(np.float32)
    exported = research.port.to_keras_model(pruned)
    np.testing.assert_allclose(exported.predict(x, verbose=0), model(x), rtol=0, atol=1e-6)
