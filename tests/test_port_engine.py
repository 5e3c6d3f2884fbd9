"""``model=keras``: a saved ``.keras`` file trained by the engine and by the command line."""

import json

import keras
import numpy as np
import pytest

import research.port
from research.engine import Experiment, train_and_evaluate

from helpers import research_train

assert keras.backend.backend() == "tensorflow", keras.backend.backend()


def _save(path, *, activity=True, optimizer=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                16,
                activation="relu",
                kernel_regularizer=keras.regularizers.L1(1e-3),
                activity_regularizer=keras.regularizers.L2(1e-4) if activity else None,
                kernel_constraint=keras.constraints.MaxNorm(2.0),
            ),
            keras.layers.Dropout(0.0),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    model.save(path)
    return model


def _config(path, **extra):
    return {
        "data": {"name": "digits"},
        "model": {"name": "keras", "path": str(path), "init": "file"},
        "optimizer": {"name": "keras"},
        "loss": "keras",
        "epochs": 2,
        "batch_size": 32,  # 1437 training examples: a last batch of 29
        "num_seeds": 1,
        "record_every": 0,
        "snapshot_seeds": 0,
        **extra,
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    _save(path)
    return path


@pytest.mark.slow
def test_engine_with_the_file_equals_port_fit(saved):
    experiment = Experiment(_config(saved))
    res = experiment.run()
    data = experiment.data
    ported = research.port.from_keras_model(keras.saving.load_model(saved))
    trained, losses = research.port.fit(ported, data.x_train, data.y_train, epochs=2, batch_size=32)
    np.testing.assert_allclose(res.history["epoch_loss"][0, 0], losses, rtol=1e-4)
    for path, ours in research.results.flat_paths(res.params_tree(0)).items():
        layer, name = path.split("/")[1], path.split("/")[2]
        theirs = np.asarray(getattr(trained.layers[int(layer)], name)[...])
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert res.metrics["test_accuracy"][0, 0] > 0.8


@pytest.mark.slow
def test_command_line_model_keras_equals_port_fit(saved, tmp_path):
    out = tmp_path / "run"
    research_train(
        "data=digits", "model=keras", f"model.path={saved}", "model.init=file",
        "optimizer=keras", "loss=keras", "epochs=1", "batch_size=32", "num_seeds=1",
        "record_every=0", "snapshot_seeds=0", f"hydra.run.dir={out}",
        cwd=tmp_path, timeout=600, check=True,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    experiment = Experiment(_config(saved, epochs=1))
    ported = research.port.from_keras_model(keras.saving.load_model(saved))
    _, losses = research.port.fit(
        ported, experiment.data.x_train, experiment.data.y_train, epochs=1, batch_size=32
    )
    assert metrics["status"] == "complete"
    train_loss = np.asarray(metrics["per_seed"]["train_loss"]).reshape(-1)[0]
    np.testing.assert_allclose(train_loss, losses[-1], rtol=1e-4)


@pytest.mark.slow
def test_random_init_gives_each_seed_its_own_weights(saved):
    res = train_and_evaluate(_config(saved, epochs=1, num_seeds=2, **{"model": {
        "name": "keras", "path": str(saved), "init": "random"}}))  # fmt: skip
    kernel = res.params["layers/0/kernel"]
    assert kernel.shape[:2] == (2, 1)
    assert not np.allclose(kernel[0], kernel[1])


@pytest.mark.slow
def test_regularizer_override_replaces_the_file_kernel_penalties(saved):
    base = _config(saved, epochs=1)
    l1 = dict(base, regularizer={"name": "l1", "l1": [0.0, 0.05]}, method="proximal")
    res = train_and_evaluate(l1)
    zeros = res.metrics["exact_zeros/layers/0/kernel"][0]
    assert zeros[0] == 0 and zeros[1] > 100  # proximal L1 at 0.05 zeroes weights; at 0 none
    # Without an override the file's L1(1e-3) trains as saved: the same as l1=0 plus the
    # file's penalty; with l1=0 the file's kernel penalty is gone, so the runs differ.
    kept = train_and_evaluate(base)
    assert not np.allclose(kept.history["epoch_loss"][0, 0], res.history["epoch_loss"][0, 0])


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"path": "missing.keras"}, "does not exist"),
        ({"path": "model.h5"}, "not a .keras file"),
        ({"path": None}, "model.path"),
        ({"init": "glorot"}, "model.init"),
    ],
)
def test_bad_model_config_raises_before_training(saved, model, match):
    config = _config(saved)
    config["model"] = {**config["model"], **model}
    with pytest.raises(ValueError, match=match):
        Experiment(config)


def test_unreadable_and_unsafe_files_are_refused(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .keras file"):
        research.port.load_keras_model(bad)
    unsafe = tmp_path / "lambda.keras"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 2)])
    model.save(unsafe)
    with pytest.raises(ValueError, match="safe"):
        research.port.load_keras_model(unsafe)


def test_unsupported_initializer_raises_for_random_init(tmp_path):
    path = tmp_path / "orth.keras"
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(10, kernel_initializer="orthogonal")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.save(path)
    config = _config(path)
    config["model"]["init"] = "random"
    with pytest.raises(ValueError, match="Orthogonal"):
        Experiment(config)


def test_unsupported_file_optimizer_fails_only_where_it_is_used(tmp_path):
    path = tmp_path / "nadam.keras"
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Nadam(), loss="mse")
    model.save(path)
    config = _config(path, loss="cross_entropy")
    with pytest.raises(ValueError, match="Nadam"):
        Experiment(config)  # optimizer=keras: the file's Nadam
    res = train_and_evaluate(dict(config, optimizer={"name": "sgd", "learning_rate": 0.1}))
    assert res.metrics["test_accuracy"][0, 0] > 0.5  # the layers train with the engine's SGD


def test_keras_loss_and_optimizer_need_a_compiled_file(tmp_path):
    path = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)]).save(path)
    with pytest.raises(ValueError, match="compiled loss"):
        Experiment(_config(path))
    with pytest.raises(ValueError, match="compiled optimizer"):
        Experiment(_config(path, loss="cross_entropy"))
    with pytest.raises(ValueError, match="loss: keras"):
        Experiment(dict(_config(path), model={"name": "linear"}, optimizer={"name": "sgd"}))


@pytest.mark.slow
def test_a_rewritten_file_is_read_and_compiled_anew(tmp_path):
    path = tmp_path / "model.keras"
    for units in (16, 8):
        model = keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(units, activation="relu"),
             keras.layers.Dense(10, activation="softmax")]
        )  # fmt: skip
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.save(path)
        res = train_and_evaluate(_config(path, epochs=1))
        assert res.params["layers/0/kernel"].shape[-1] == units


def _save_batch_norm(path):
    """A residual classifier with BatchNormalization: Dense -> BN -> relu, plus a skip."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(16)(inputs)
    normalized = keras.layers.BatchNormalization(momentum=0.9)(hidden)
    block = keras.layers.Activation("relu")(keras.layers.Add()([hidden, normalized]))
    outputs = keras.layers.Dense(10, activation="softmax")(block)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    model.save(path)
    return model


@pytest.mark.slow
def test_batch_normalization_in_the_engine_equals_keras_fit(tmp_path):
    path = tmp_path / "bn.keras"
    model = _save_batch_norm(path)
    experiment = Experiment(_config(path))
    res = experiment.run()
    data = experiment.data
    # Keras's own fit on the same batches (in order; the last one of 29 rows).
    history = model.fit(
        data.x_train, data.y_train, epochs=2, batch_size=32, shuffle=False, verbose=0
    )
    np.testing.assert_allclose(res.history["epoch_loss"][0, 0], history.history["loss"], rtol=1e-4)
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    params = research.results.flat_paths(res.params_tree(0))
    stats = {k: v for k, v in params.items() if k.endswith(("moving_mean", "moving_variance"))}
    assert len(stats) == 2, sorted(params)
    for name, ours in stats.items():
        theirs = np.asarray(getattr(bn, name.rsplit("/", 1)[1]))
        assert not np.allclose(theirs, 0.0 if name.endswith("mean") else 1.0)  # they moved
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    # Evaluation uses the moving statistics, as Keras's predict does.
    theirs = model.predict(data.x_test, verbose=0)
    np.testing.assert_allclose(res.predict(data.x_test)[0], theirs, rtol=1e-3, atol=1e-5)
    accuracy = np.mean(np.argmax(theirs, -1) == data.y_test)
    np.testing.assert_allclose(res.metrics["test_accuracy"][0, 0], accuracy, atol=1e-9)
    # The job's model back in Keras, with its moving statistics.
    exported = res.to_keras(0)
    np.testing.assert_allclose(
        exported.predict(data.x_test, verbose=0), theirs, rtol=1e-3, atol=1e-5
    )
    bn_exported = next(
        layer for layer in exported.layers if isinstance(layer, keras.layers.BatchNormalization)
    )
    np.testing.assert_allclose(bn_exported.moving_mean, bn.moving_mean, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_batch_normalization_statistics_are_per_seed(tmp_path):
    path = tmp_path / "bn.keras"
    _save_batch_norm(path)
    config = _config(path, epochs=1, num_seeds=2)
    config["model"]["init"] = "random"
    res = train_and_evaluate(config)
    means = [v for k, v in res.params.items() if k.endswith("moving_mean")]
    assert len(means) == 1 and means[0].shape[:2] == (2, 1)
    assert not np.allclose(means[0][0], means[0][1])
