"""What the engine records as each epoch's loss, and how it finds divergence.

With ``method=subgradient`` an epoch's loss is the batch-size-weighted mean of
its batches' regularized losses (Keras's). With the proximal methods the
penalty is not part of the differentiated loss: an epoch's loss is the mean of
its data losses plus the penalty once, at the params that end the epoch. The
expected values come from a NumPy training loop written here, or from the
weight snapshots, never from the engine's own recording.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.engine import Experiment, loop

LR, L1 = 0.05, 0.1
N_TRAIN = 40
MINI_BATCHES = {
    "data": {"name": "sparse_regression", "n_samples": 50, "n_features": 5, "seed": 1},
    "model": {"name": "linear"},
    "loss": "half_mse",
    "regularizer": {"name": "l1", "l1": L1},
    "optimizer": {"name": "sgd", "learning_rate": LR},
    "epochs": 3,
    "num_seeds": 2,
    "shuffle": False,
    "progress": False,
}


def _train_by_hand(kernel, bias, x, y, batch_size, method):
    """Mini-batch SGD on the half mean squared error of ``x @ kernel + bias`` with L1 as
    Keras's subgradient or as its prox; returns the final kernel, the epoch losses as
    documented and each step's regularized loss (at the params before the step)."""
    epoch_losses, step_losses = [], []
    for _ in range(MINI_BATCHES["epochs"]):
        weighted = 0.0
        for start in range(0, N_TRAIN, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            err = xb @ kernel + bias - yb
            data, penalty = 0.5 * np.mean(err**2), L1 * np.abs(kernel).sum()
            step_losses.append(data + penalty)
            weighted += len(xb) * (data + penalty if method == "subgradient" else data)
            grad = xb.T @ err / len(xb)
            if method == "subgradient":
                grad = grad + L1 * np.sign(kernel)
            kernel, bias = kernel - LR * grad, bias - LR * err.mean(0)
            if method == "proximal":
                kernel = np.sign(kernel) * np.maximum(np.abs(kernel) - LR * L1, 0)
        end_penalty = L1 * np.abs(kernel).sum() if method == "proximal" else 0.0
        epoch_losses.append(weighted / N_TRAIN + end_penalty)
    return kernel, np.array(epoch_losses), np.array(step_losses)


def _check_against_hand(config, method):
    """Runs ``config`` and checks it against ``_train_by_hand`` from the same initial
    params (snapshot 0); returns the run and seed 1's step losses by hand."""
    res = Experiment({**MINI_BATCHES, **config, "method": method}).run()
    x, y = (a.astype(np.float64) for a in (res.data.x_train, res.data.y_train))
    for s in range(2):
        kernel, bias = (
            res.history[f"snapshots/layers/0/{k}"][s, 0, 0].astype(np.float64)
            for k in ("kernel", "bias")
        )
        kernel, epochs, steps = _train_by_hand(kernel, bias, x, y, config["batch_size"], method)
        # The hand-written loop trains the same weights (so its losses are comparable)...
        np.testing.assert_allclose(res.params["layers/0/kernel"][s, 0], kernel, 1e-5, 1e-6)
        # ... and its losses are the recorded ones.
        np.testing.assert_allclose(res.history["epoch_loss"][s, 0], epochs, rtol=1e-5)
        assert res.metrics["train_loss"][s, 0] == pytest.approx(epochs[-1], rel=1e-5)
        if config.get("record_step_loss"):
            np.testing.assert_allclose(res.history["step_loss"][s, 0], steps, rtol=1e-5)
    return res, steps


# Each case's loop structure: whether chunks (40 steps between snapshots, or the whole
# run if shorter) start epochs, and so whether the epoch-end penalty is taken statically
# or in a branch once a block.
CASES = {
    "batch 1, one epoch a block": ({"batch_size": 1}, True),
    "batch 1, four blocks an epoch": ({"batch_size": 1, "record_buffer": 20}, True),
    "batch 3, epochs across snapshots": ({"batch_size": 3}, False),
    "batch 16, three epochs a block": ({"batch_size": 16}, True),
    "batch 3, step losses recorded": ({"batch_size": 3, "record_step_loss": True}, False),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_proximal_epoch_loss_is_the_data_mean_plus_the_penalty_at_the_epoch_end(case):
    config, chunks_start_epochs = CASES[case]
    spec = Experiment({**MINI_BATCHES, **config, "method": "proximal"}).spec
    assert spec.penalty_at_epoch_end
    assert spec.chunks_start_epochs == chunks_start_epochs
    res, steps = _check_against_hand(config, "proximal")
    # The epoch-end penalty differs from the mean of the steps' penalties (what the
    # subgradient recording adds), so the check above tells the two apart.
    batch = config["batch_size"]
    sizes = np.diff([*range(0, N_TRAIN, batch), N_TRAIN])
    per_step = (steps.reshape(3, -1) * sizes).sum(-1) / N_TRAIN
    assert not np.allclose(res.history["epoch_loss"][1, 0], per_step, rtol=1e-3)  # seed 1


def test_subgradient_epoch_loss_is_the_mean_of_regularized_batch_losses():
    config = {"batch_size": 3, "record_step_loss": True}
    spec = Experiment({**MINI_BATCHES, **config, "method": "subgradient"}).spec
    assert not spec.penalty_at_epoch_end
    _check_against_hand(config, "subgradient")


FULL_BATCH = {
    "data": {"name": "sparse_regression", "n_samples": 50, "n_features": 5, "seed": 1},
    "model": {"name": "linear"},
    "loss": "half_mse",
    "regularizer": {"name": "elastic_net", "l1": 0.2, "l2": 0.05},
    "batch_size": 40,
    "epochs": 6,
    "num_seeds": 1,
    "record_every": 1,
    "progress": False,
}


@pytest.mark.parametrize(
    ("method", "optimizer"),
    [("proximal", "sgd"), ("preconditioned", "adam"), ("fista", "sgd")],
)
def test_full_batch_epoch_loss_from_the_snapshots(method, optimizer):
    """Full batches: epoch ``e`` is step ``e``; its loss is the data loss at snapshot ``e``
    plus the penalty at snapshot ``e + 1`` (every step snapshotted)."""
    res = Experiment(
        {**FULL_BATCH, "method": method, "optimizer": {"name": optimizer, "learning_rate": 0.05}}
    ).run()
    x, y = (a.astype(np.float64) for a in (res.data.x_train, res.data.y_train))
    kernels = res.history["snapshots/layers/0/kernel"][0, 0].astype(np.float64)  # (7, 5, 1)
    biases = res.history["snapshots/layers/0/bias"][0, 0].astype(np.float64)
    data = [0.5 * np.mean((x @ k + b - y) ** 2) for k, b in zip(kernels, biases, strict=True)]
    penalty = [0.2 * np.abs(k).sum() + 0.05 * np.square(k).sum() for k in kernels]
    want = np.array(data[:-1]) + np.array(penalty[1:])
    np.testing.assert_allclose(res.history["epoch_loss"][0, 0], want, rtol=2e-5)
    assert res.metrics["penalty"][0, 0] == pytest.approx(penalty[-1], rel=1e-5)
    assert not np.allclose(want, np.array(data[:-1]) + np.array(penalty[:-1]), rtol=1e-3)


def test_a_diverging_proximal_run_is_flagged_at_its_first_non_finite_loss():
    # lr 50 is far past 2 / L for these features: the weights grow geometrically.
    config = {
        **MINI_BATCHES,
        "method": "proximal",
        "batch_size": 3,
        "optimizer": {"name": "sgd", "learning_rate": 50.0},
    }
    res = Experiment(config).run()  # the program of "batch 3, epochs across snapshots"
    steps = Experiment({**config, "record_step_loss": True}).run().history["step_loss"]
    bad = ~np.isfinite(steps[:, 0])
    assert bad.any(axis=-1).all()
    np.testing.assert_array_equal(res.metrics["diverged"][:, 0], True)
    np.testing.assert_array_equal(res.metrics["diverged_step"][:, 0], bad.argmax(-1))


def test_record_adds_each_epoch_end_penalty_once_and_flags_it():
    """One block of two 2-step epochs (steps 4 to 7; 5 epochs in all) of 2 seeds x 1
    strength, then a block of one epoch."""
    spec = Experiment({**MINI_BATCHES, "method": "proximal"}).spec
    spec = dataclasses.replace(spec, n_train=4, batch_size=2, epochs=5)
    assert spec.steps_per_epoch == 2
    record = jax.jit(functools.partial(loop.record, spec))
    states = {"epoch_loss": jnp.zeros((2, 1, 5)), "diverged_step": jnp.array([[-1], [-1]])}
    losses = jnp.array([1.0, 2.0, 3.0, 4.0])[:, None, None] * jnp.ones((4, 2, 1))
    losses = losses.at[3, 0, 0].set(jnp.nan)  # seed 0: the data loss of step 7
    penalties = jnp.array([[[10.0], [20.0]], [[30.0], [jnp.inf]]])  # (epochs, seeds, 1)
    # seed 1: only the params that end the last epoch are not finite
    out = record(states, 8, losses, jnp.array([2.0, 2.0]), penalties)
    # Sums of n_train times the mean: epoch 2 (steps 4, 5) 2 * 1 + 2 * 2 + 4 * penalty.
    np.testing.assert_allclose(out["epoch_loss"][:, 0, 2], [6 + 40, 6 + 80])
    assert np.isnan(out["epoch_loss"][0, 0, 3]) and np.isinf(out["epoch_loss"][1, 0, 3])
    np.testing.assert_array_equal(out["epoch_loss"][:, 0, :2], 0)
    # A penalty counts at the step after its epoch: step 8 for the last one.
    np.testing.assert_array_equal(out["diverged_step"][:, 0], [7, 8])
    # A bad penalty ends an epoch before a bad data loss of the next epoch: it comes first.
    penalties = penalties.at[0, 0, 0].set(jnp.inf)
    again = record(states, 8, losses, jnp.array([2.0, 2.0]), penalties)
    np.testing.assert_array_equal(again["diverged_step"][:, 0], [6, 8])
    # The last epoch (steps 8, 9); divergence already found stays.
    later = record(out, 10, losses[:2], jnp.array([2.0, 2.0]), jnp.full((1, 2, 1), 5.0))
    np.testing.assert_allclose(later["epoch_loss"][:, 0, 4], [6 + 20, 6 + 20])
    np.testing.assert_array_equal(later["diverged_step"][:, 0], [7, 8])
