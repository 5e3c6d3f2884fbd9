"""The training engine: seeds, strengths, determinism, divergence, recording, metrics."""

import jax
import numpy as np
import pytest

from research import engine, models
from research.engine import Experiment, program_cache_info, train_and_evaluate

TINY = {"epochs": 3, "num_seeds": 2}
L1_PROX = {"regularizer": {"name": "l1", "l1": 0.3}, "method": "proximal"}


def _equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_shapes_seed_axis_first_then_strengths():
    res = train_and_evaluate(
        {**TINY, "num_seeds": 3, "regularizer": {"name": "l1", "l1": [0.1, 0.2]}}
    )
    assert res.metrics["total_error"].shape == (3, 2)
    assert res.params["layers/1/kernel"].shape == (3, 2, 10, 10)
    assert res.history["epoch_loss"].shape == (3, 2, 3)
    np.testing.assert_array_equal(res.strengths["l1"], [0.1, 0.2])


@pytest.mark.slow
def test_seed_i_does_not_depend_on_num_seeds():
    small = train_and_evaluate({**TINY, **L1_PROX, "num_seeds": 2, "shuffle": True})
    large = train_and_evaluate({**TINY, **L1_PROX, "num_seeds": 5, "shuffle": True})
    for k, v in small.params.items():
        np.testing.assert_array_equal(v, large.params[k][:2], err_msg=k)
    # ... and seeds really differ from each other.
    assert not np.array_equal(
        large.params["layers/0/kernel"][0], large.params["layers/0/kernel"][1]
    )


@pytest.mark.slow
def test_same_config_twice_is_bitwise_identical():
    config = {**TINY, **L1_PROX, "shuffle": True, "record_step_loss": True}
    a, b = train_and_evaluate(config), train_and_evaluate(config)
    _equal(a.params, b.params)
    _equal(a.metrics, b.metrics)
    _equal(a.history, b.history)


@pytest.mark.slow
def test_vmapped_strengths_equal_separate_runs_and_do_not_recompile():
    grid = train_and_evaluate(
        {**TINY, "regularizer": {"name": "elastic_net", "l1": [0.0, 0.3], "l2": [0.1, 0.05]}}
    )
    for k, (l1, l2) in enumerate([(0.0, 0.1), (0.3, 0.05)]):
        one = train_and_evaluate(
            {**TINY, "regularizer": {"name": "elastic_net", "l1": l1, "l2": l2}}
        )
        for name, v in one.params.items():
            np.testing.assert_allclose(grid.params[name][:, k], v[:, 0], rtol=1e-6, atol=1e-7)
    before = program_cache_info().misses
    again = train_and_evaluate(
        {**TINY, "regularizer": {"name": "elastic_net", "l1": [0.7, 0.2], "l2": [0.0, 0.3]}}
    )
    assert program_cache_info().misses == before  # new strength values, same program
    assert not np.array_equal(again.params["layers/1/kernel"], grid.params["layers/1/kernel"])


@pytest.mark.slow
def test_a_diverging_run_is_flagged_and_leaves_the_others_alone():
    # L2 of 1e4 with lr 0.01 multiplies the kernels by (1 - 200) each step: it blows up.
    grid = train_and_evaluate({**TINY, "regularizer": {"name": "l2", "l2": [0.15, 1e4]}})
    alone = train_and_evaluate({**TINY, "regularizer": {"name": "l2", "l2": 0.15}})
    np.testing.assert_array_equal(grid.metrics["diverged"], [[False, True], [False, True]])
    assert np.all(grid.metrics["diverged_step"][:, 1] >= 0)
    assert np.all(grid.metrics["diverged_step"][:, 0] == -1)
    for name, v in alone.params.items():
        np.testing.assert_allclose(grid.params[name][:, 0], v[:, 0], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_epoch_loss_and_divergence_agree_with_the_step_losses():
    # Batch size 3 over 40 points: 13 full batches and one of 1, weighted by size.
    config = {
        **TINY,
        "batch_size": 3,
        "record_step_loss": True,
        "regularizer": {"name": "l2", "l2": [0.15, 1e4]},
    }
    res = train_and_evaluate(config)
    steps = res.history["step_loss"]  # (S, K, 3 epochs x 14 steps)
    sizes = np.array([3] * 13 + [1], np.float64)
    want = (steps.reshape(2, 2, 3, 14) * sizes).sum(-1) / 40
    np.testing.assert_allclose(res.history["epoch_loss"][:, 0], want[:, 0], rtol=1e-6)
    bad = ~np.isfinite(steps[:, 1])
    np.testing.assert_array_equal(res.metrics["diverged_step"][:, 1], bad.argmax(-1))
    # Step losses are recorded in blocks of steps; blocks of one step give the same history.
    small_blocks = train_and_evaluate({**config, "record_buffer": 1})
    for k, v in res.history.items():  # the epoch sums may add in another order
        np.testing.assert_allclose(small_blocks.history[k], v, rtol=1e-6, err_msg=k)
    _equal(small_blocks.params, res.params)
    np.testing.assert_array_equal(
        small_blocks.metrics["diverged_step"], res.metrics["diverged_step"]
    )


@pytest.mark.slow
def test_penalty_sums_by_dot_over_many_seeds_agree_with_few():
    def dots(experiment):  # dot products in the traced program
        return str(experiment.jaxpr()).count("dot_general")

    few = Experiment({**L1_PROX, "epochs": 1, "num_seeds": 2})
    many = Experiment({**L1_PROX, "epochs": 1, "num_seeds": engine.spec.SUM_BY_DOT_FROM})
    assert dots(many) > dots(few)  # the wide program sums its penalties by dot products
    few, many = few.run(), many.run()
    for k in ("penalty", "train_loss"):
        np.testing.assert_allclose(many.metrics[k][:2], few.metrics[k], rtol=1e-5, err_msg=k)


@pytest.mark.slow
def test_snapshots_with_a_remainder_chunk_and_with_none_kept():
    cfg = {**L1_PROX, "regularizer": {"name": "l1", "l1": [0.1, 0.3]}, "epochs": 3, "num_seeds": 3}
    res = train_and_evaluate({**cfg, "record_every": 7, "snapshot_seeds": 2})
    steps = res.history["snapshot_steps"]  # 120 steps: every 7, then the last
    np.testing.assert_array_equal(steps, [*range(0, 120, 7), 120])
    for path, final in res.params.items():
        snap = res.history[f"snapshots/{path}"]
        assert snap.shape == (2, 2, len(steps), *final.shape[2:]), path
        # Equal to float32 rounding: XLA may compute the last (remainder) step separately for
        # the snapshot and for the params output.
        np.testing.assert_allclose(snap[:, :, -1], final[:2], rtol=1e-6, atol=1e-9, err_msg=path)
        assert not np.allclose(snap[:, :, -2], final[:2]), path  # one step earlier differs
    none = train_and_evaluate({**cfg, "record_every": 7, "snapshot_seeds": 0})
    assert none.history["snapshots/layers/1/kernel"].shape == (0, 2, len(steps), 10, 10)
    np.testing.assert_array_equal(none.params["layers/1/kernel"], res.params["layers/1/kernel"])


def test_snapshots_are_bounded_and_start_at_init():
    res = train_and_evaluate(
        {**TINY, "epochs": 10, "record_every": 1, "max_snapshots": 11, "snapshot_seeds": 1}
    )
    steps = res.history["snapshot_steps"]
    assert len(steps) <= 12 and steps[0] == 0 and steps[-1] == 400
    snap = res.history["snapshots/layers/1/kernel"]
    assert snap.shape == (1, 1, len(steps), 10, 10)
    np.testing.assert_array_equal(snap[0, 0, -1], res.params["layers/1/kernel"][0, 0])
    assert not np.array_equal(snap[0, 0, 0], snap[0, 0, -1])


def test_metrics_agree_with_the_final_params():
    res = train_and_evaluate({**TINY, **L1_PROX, "epochs": 20})
    graphdef, _ = models.init_params(
        lambda r: models.MLP([1, 10, 10, 10, 1], rngs=r), jax.random.key(0)
    )
    d = res.data
    for s in range(2):
        params = {
            "layers": {
                i: {n: res.params[f"layers/{i}/{n}"][s, 0] for n in ("kernel", "bias")}
                for i in range(4)
            }
        }
        pred = np.asarray(models.apply(graphdef, params, d.x_test))
        assert res.metrics["total_error"][s, 0] == pytest.approx(
            np.abs(pred - d.y_test).sum(), rel=1e-5
        )
        kernels = [params["layers"][i]["kernel"] for i in range(4)]
        for i, k in enumerate(kernels):
            assert res.metrics[f"exact_zeros/layers/{i}/kernel"][s, 0] == (k == 0).sum()
        for i in range(3):
            dead = (kernels[i] == 0).all(0) | (kernels[i + 1] == 0).all(1)
            assert res.metrics[f"dead_neurons/{i}"][s, 0] == dead.sum()
    assert res.metrics["dead_neurons/1"].sum() > 0  # proximal L1 0.3 disconnects units


@pytest.mark.slow
def test_progress_bar_does_not_change_results():
    quiet = train_and_evaluate({**TINY, "progress": False})
    shown = train_and_evaluate({**TINY, "progress": True})
    _equal(quiet.params, shown.params)


@pytest.mark.slow
def test_classifier_on_digits_with_partial_batches_learns():
    res = train_and_evaluate(
        {
            "data": {"name": "digits"},
            "model": {"name": "classifier"},
            "loss": "cross_entropy",
            "optimizer": {"name": "sgd", "learning_rate": 0.1},
            "regularizer": {"name": "l1", "l1": 1e-4, "layers": [0]},
            "batch_size": 64,
            "epochs": 3,
            "num_seeds": 2,
            "shuffle": True,
        }
    )
    assert np.all(res.metrics["test_accuracy"] > 0.85)
    assert res.history["epoch_loss"][0, 0, -1] < res.history["epoch_loss"][0, 0, 0]


LASSO = {
    "data": {"name": "sparse_regression", "n_samples": 200, "n_features": 20, "n_informative": 3},
    "model": {"name": "linear"},
    "loss": "half_mse",
    "optimizer": {"name": "sgd", "learning_rate": 0.1},
    "batch_size": 160,  # full batch on the 160 training points
    "num_seeds": 1,
}


def test_lasso_on_sparse_regression_recovers_the_support():
    res = train_and_evaluate(
        {**LASSO, "regularizer": {"name": "l1", "l1": 0.1}, "method": "proximal", "epochs": 300}
    )
    coef = res.params["layers/0/kernel"][0, 0, :, 0]
    np.testing.assert_array_equal(coef != 0, res.data.info["true_coef"] != 0)


@pytest.mark.slow
def test_a_strength_of_another_regularizer_is_ignored_with_a_warning(caplog):
    with_l1 = train_and_evaluate({**TINY, "regularizer": {"name": "l2", "l2": 0.15, "l1": 0.5}})
    assert "ignoring ['l1']" in caplog.text
    plain = train_and_evaluate({**TINY, "regularizer": {"name": "l2", "l2": 0.15}})
    _equal(with_l1.params, plain.params)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"epochs": 0}, "epochs: expected an integer >= 1"),
        ({"num_seeds": 1.5}, "num_seeds: expected an integer"),
        ({"method": "admm"}, "method: expected one of"),
        (
            {"regularizer": {"name": "l1", "l1": -1.0}},
            "regularizer.l1: expected a finite number >= 0",
        ),
        (
            {"regularizer": {"name": "l1", "l3": 0.1}},
            r"regularizer \(l1\): unknown key\(s\) \['l3'\]",
        ),
        ({"regularizer": {"name": "elastic_net", "l1": 0.1}}, "regularizer.l2: missing"),
        (
            {"regularizer": {"name": "elastic_net", "l1": [1, 2], "l2": [1]}},
            "strength lists must have one length",
        ),
        (
            {"optimizer": {"name": "sgd", "learning_rate": -0.1}},
            "optimizer.learning_rate: expected",
        ),
        ({"optimizer": {"name": "rmsprop", "learning_rate": 0.1}}, "optimizer.name"),
        ({"loss": "hinge"}, "loss: expected one of"),
        ({"model": {"name": "mlp", "widths": [1, 5, 2]}}, "model.widths"),
        ({"num_seed": 3}, r"config: unknown key\(s\) \['num_seed'\]"),
    ],
)
def test_bad_configs_fail_naming_the_key(override, message):
    with pytest.raises(ValueError, match=message):
        train_and_evaluate({**TINY, **override})


def test_fista_method_solves_the_lasso_and_needs_plain_sgd():
    config = {
        **LASSO,
        "regularizer": {"name": "l1", "l1": [0.05, 0.1]},
        "method": "fista",
        "optimizer": {"name": "sgd", "learning_rate": 0.2},
        "epochs": 300,
    }
    res = train_and_evaluate(config)
    for k in range(2):
        coef = res.params["layers/0/kernel"][0, k, :, 0]
        np.testing.assert_array_equal(coef != 0, res.data.info["true_coef"] != 0)
    with pytest.raises(ValueError, match="method: fista is an optimizer of its own"):
        train_and_evaluate({**config, "optimizer": {"name": "adam", "learning_rate": 0.1}})


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["half_mse", "mse"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_full_batch_linear_training_from_moments_equals_training_on_the_data(loss, use_bias):
    config = {
        **LASSO,
        "loss": loss,
        "model": {"name": "linear", "use_bias": use_bias},
        "regularizer": {"name": "elastic_net", "l1": [0.0, 0.05], "l2": [0.01, 0.01]},
        "method": "proximal",
        "epochs": 50,
        "num_seeds": 2,
        "record_step_loss": True,
    }
    fast = Experiment(config)
    assert fast.spec.moments  # full batch, linear, squared error, p <= n
    fast = fast.run()
    direct = Experiment({**config, "use_moments": False})
    assert not direct.spec.moments
    direct = direct.run()
    for k, v in direct.params.items():
        np.testing.assert_allclose(fast.params[k], v, rtol=1e-4, atol=1e-5, err_msg=k)
    for k in ("epoch_loss", "step_loss"):
        np.testing.assert_allclose(fast.history[k], direct.history[k], rtol=1e-4, err_msg=k)
    # Mini-batches read the data.
    assert not Experiment({**config, "batch_size": 32}).spec.moments
