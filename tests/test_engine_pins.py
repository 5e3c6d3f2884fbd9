"""Pins of the training engine's behaviour, through its public entry point only.

Each test states one behaviour of ``train_and_evaluate`` that no other test
pins and that a rewrite of the engine could lose silently: the per-epoch
reshuffle, the optimizer each ``method`` builds, the initial params' key
scheme, the ``regularizer.layers`` selection, the metrics' definitions, the
``seed`` key, GroupLasso's ``axis`` and step counts that the unrolled step
loop does not divide.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import models
from research.methods import PROXIMAL_METHODS
from research.optim import add_regularization, fista, proximal, proximal_adam
from research.regularizers import L1, ElasticNet
from research.train import train_and_evaluate


# --------------------------------------------------------------------------- helpers
def _flatten(tree):
    """'/'-joined paths -> leaves, the naming of ``Results.params``."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = [str(getattr(e, "key", getattr(e, "idx", e))) for e in path]
        out["/".join(names)] = np.asarray(leaf)
    return out


def _init_params(model, in_features, out_features, seed, num_seeds, i):
    """Seed ``i``'s initial params by the engine's documented key scheme:
    ``init_params(model_fn, fold_in(split(key(seed), num_seeds)[i], 0))``."""
    key = jax.random.split(jax.random.key(seed), num_seeds)[i]
    model_fn = lambda rngs: models.build_model(model, in_features, out_features, rngs)  # noqa: E731
    return models.init_params(model_fn, jax.random.fold_in(key, 0))


def _layer_params(res, s, k=0):
    """Seed ``s``, strength ``k``: ``[(kernel, bias), ...]`` as float64 NumPy arrays."""
    n_layers = len([p for p in res.params if p.endswith("/kernel")])
    return [
        (
            res.params[f"layers/{i}/kernel"][s, k].astype(np.float64),
            res.params[f"layers/{i}/bias"][s, k].astype(np.float64),
        )
        for i in range(n_layers)
    ]


def _forward(layers, x):
    """The linear MLP (no activation) in float64 NumPy."""
    x = np.asarray(x, np.float64)
    for kernel, bias in layers:
        x = x @ kernel + bias
    return x


def _visit_orders(res, epochs):
    """Which training sample each step used, per seed: ``(S, epochs, n)``.

    With learning rate 0 the params never move, so the loss of a step with
    batch size 1 is the absolute error of its one sample under the final
    (= initial) params; the sample is the one whose error matches.
    """
    d = res.data
    n = d.x_train.shape[0]
    step_loss = res.history["step_loss"]
    num_seeds = step_loss.shape[0]
    assert step_loss.shape == (num_seeds, 1, epochs * n)
    orders = []
    for s in range(num_seeds):
        per_sample = np.abs(_forward(_layer_params(res, s), d.x_train) - d.y_train)[:, 0]
        # Distinct per-sample losses, far apart compared with float32 rounding (about
        # 1e-7 of the largest); each step then matches one sample by a wide margin.
        gaps = np.diff(np.sort(per_sample))
        assert gaps.min() > 1e-5 * per_sample.max()
        distance = np.abs(step_loss[s, 0][:, None] - per_sample[None, :])
        np.testing.assert_array_less(distance.min(1), gaps.min() / 4)
        orders.append(distance.argmin(1).reshape(epochs, n))
    return np.stack(orders)


# --------------------------------------------------------------------------- 1. shuffling
FROZEN = {  # batch size 1 and learning rate 0: each step's loss names its sample
    "batch_size": 1,
    "optimizer": {"name": "sgd", "learning_rate": 0.0},
    "record_step_loss": True,
    "epochs": 3,
}


@functools.cache
def _frozen_runs():
    """Shuffled runs with 2 and 3 seeds, at near-zero tolerances 0.05 and the default 1e-3
    (shared by the shuffling and the metrics tests)."""
    two = train_and_evaluate({**FROZEN, "shuffle": True, "num_seeds": 2, "sparsity_tol": 0.05})
    three = train_and_evaluate({**FROZEN, "shuffle": True, "num_seeds": 3})
    return two, three


@pytest.mark.slow
def test_shuffle_visits_every_sample_once_per_epoch_in_a_new_order_per_epoch_and_seed():
    two, three = _frozen_runs()
    n = two.data.x_train.shape[0]
    assert n == 40
    orders = _visit_orders(three, epochs=3)  # (seeds, epochs, n)
    for s in range(3):
        for e in range(3):
            np.testing.assert_array_equal(np.sort(orders[s, e]), np.arange(n))
        # A new permutation every epoch ...
        assert not np.array_equal(orders[s, 0], orders[s, 1])
        assert not np.array_equal(orders[s, 1], orders[s, 2])
        assert not np.array_equal(orders[s, 0], np.arange(n))
    # ... and per seed ...
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    # ... and seed i's orders do not depend on num_seeds.
    np.testing.assert_array_equal(_visit_orders(two, epochs=3), orders[:2])
    # Without shuffling every epoch visits the samples in the data's order: with batches
    # of 2 (41 points, the last batch of 1), step j's loss is the summed error of samples
    # 2j and 2j + 1 under the unchanged params.
    plain = train_and_evaluate({**ODD_STEPS, "optimizer": {"name": "sgd", "learning_rate": 0.0}})
    for s in range(2):
        error = np.abs(_forward(_layer_params(plain, s), plain.data.x_train) - plain.data.y_train)
        in_order = np.add.reduceat(error[:, 0], np.arange(0, 41, 2))
        np.testing.assert_allclose(
            plain.history["step_loss"][s, 0], np.tile(in_order, 3), rtol=1e-5
        )


def test_initial_params_follow_the_documented_key_scheme():
    # With learning rate 0 the final params are the initial params, bitwise.
    _, three = _frozen_runs()
    model = {"name": "mlp", "widths": [1, 10, 10, 10, 1], "activation": None}
    for i in range(3):
        want = _flatten(_init_params(model, 1, 1, seed=0, num_seeds=3, i=i)[1])
        assert want.keys() == three.params.keys()
        for path, value in want.items():
            np.testing.assert_array_equal(three.params[path][i, 0], value, err_msg=path)
    # The same for the linear model and another seed.
    res = train_and_evaluate({**LINEAR, "optimizer": {**_sgd(), "learning_rate": 0.0}, "seed": 3})
    want = _flatten(_init_params({"name": "linear"}, 6, 1, seed=3, num_seeds=1, i=0)[1])
    for path, value in want.items():
        np.testing.assert_array_equal(res.params[path][0, 0], value, err_msg=path)


# --------------------------------------------------------------------------- 2. methods
LINEAR = {
    "data": {"name": "sparse_regression", "n_samples": 50, "n_features": 6, "n_informative": 2},
    "model": {"name": "linear"},
    "loss": "half_mse",
    "batch_size": 64,  # one full batch of the 40 training points
    "num_seeds": 1,
    "epochs": 25,  # 25 steps: odd, too
}
ENET = {"name": "elastic_net", "l1": 0.05, "l2": 0.01}
LR, B1, B2, EPS = 0.05, 0.8, 0.99, 1e-6  # Adam's non-default hyperparameters must reach it


def _sgd(momentum=None):
    return {"name": "sgd", "learning_rate": LR, "momentum": momentum}


ADAM = {"name": "adam", "learning_rate": LR, "b1": B1, "b2": B2, "eps": EPS}
ENET_REG = ElasticNet(l1=0.05, l2=0.01)
L1_REG = L1(0.05)

CASES = {
    "subgradient-sgd": (
        "subgradient",
        _sgd(),
        ENET,
        optax.chain(add_regularization(ENET_REG), optax.sgd(LR)),
        ENET_REG,
    ),
    "proximal-sgd": (
        "proximal",
        _sgd(),
        ENET,
        optax.chain(optax.sgd(LR), proximal(ENET_REG, LR)),
        ENET_REG,
    ),
    "proximal-sgd-momentum": (
        "proximal",
        _sgd(0.9),
        ENET,
        optax.chain(optax.sgd(LR, momentum=0.9), proximal(ENET_REG, LR)),
        ENET_REG,
    ),
    "proximal-adam": (
        "proximal",
        ADAM,
        ENET,
        optax.chain(optax.adam(LR, b1=B1, b2=B2, eps=EPS), proximal(ENET_REG, LR)),
        ENET_REG,
    ),
    "preconditioned-adam": (
        "preconditioned",
        ADAM,
        ENET,
        proximal_adam(ENET_REG, LR, b1=B1, b2=B2, eps=EPS),
        ENET_REG,
    ),
    "fista": ("fista", _sgd(), {"name": "l1", "l1": 0.05}, fista(L1_REG, LR), L1_REG),
    "none-subgradient-sgd": ("subgradient", _sgd(), {"name": "none"}, optax.sgd(LR), None),
}


def _train_by_hand(tx, reg, params, x, y, steps, end_penalty=False):
    """Full-batch training of ``x @ kernel + bias`` on the half MSE; returns the final
    params and each step's loss plus penalty at the params before the step (after it
    with ``end_penalty``)."""

    def loss(p):
        layer = p["layers"][0]
        return 0.5 * jnp.mean(jnp.square(x @ layer["kernel"] + layer["bias"] - y))

    @jax.jit
    def step(p, state):
        value, grads = jax.value_and_grad(loss)(p)
        updates, state = tx.update(grads, state, p)
        new = optax.apply_updates(p, updates)
        total = value + (reg(new if end_penalty else p) if reg is not None else 0.0)
        return new, state, total

    state, totals = tx.init(params), []
    for _ in range(steps):
        params, state, total = step(params, state)
        totals.append(total)
    return _flatten(params), np.asarray(totals)


@pytest.mark.parametrize("case", list(CASES))
def test_each_method_is_the_documented_optax_chain(case):
    method, optimizer, regularizer, tx, reg = CASES[case]
    res = train_and_evaluate(
        {**LINEAR, "method": method, "optimizer": optimizer, "regularizer": regularizer}
    )
    d = res.data
    assert d.x_train.shape == (40, 6)
    _, params = _init_params({"name": "linear"}, 6, 1, seed=0, num_seeds=1, i=0)
    x, y = jnp.asarray(d.x_train), jnp.asarray(d.y_train)
    end_penalty = method in PROXIMAL_METHODS
    want, totals = _train_by_hand(tx, reg, params, x, y, LINEAR["epochs"], end_penalty)
    # The engine trains this full-batch linear least-squares problem from the data's
    # centered second moments (X^T X ...) rather than from the data, so it agrees with
    # the hand-written loop to float32 rounding, not bitwise.
    for path, value in want.items():
        np.testing.assert_allclose(
            res.params[path][0, 0], value, rtol=1e-4, atol=1e-5, err_msg=path
        )
    # Full batches: an epoch's loss is its one step's loss plus the penalty (at the
    # params after the step for the proximal methods, which record it at epoch ends).
    np.testing.assert_allclose(res.history["epoch_loss"][0, 0], totals, rtol=1e-4, atol=1e-6)
    # Training moved the params (the comparison is not of two untrained models).
    kernel = "layers/0/kernel"
    assert not np.allclose(want[kernel], _flatten(params)[kernel], rtol=1e-2, atol=1e-3)


# --------------------------------------------------------------------------- 3. layers
@functools.cache
def _layers_run(seed=0):
    """Proximal L1 on the kernels of layers 0 and 2 only."""
    return train_and_evaluate(
        {
            "regularizer": {"name": "l1", "l1": 0.1, "layers": [0, 2]},
            "method": "proximal",
            "epochs": 3,
            "num_seeds": 2,
            "seed": seed,
        }
    )


def test_regularizer_layers_select_the_penalized_kernels():
    res = _layers_run()
    for s in range(2):
        kernels = [k for k, _ in _layer_params(res, s)]
        selected = 0.1 * (np.abs(kernels[0]).sum() + np.abs(kernels[2]).sum())
        everything = 0.1 * sum(np.abs(k).sum() for k in kernels)
        assert res.metrics["penalty"][s, 0] == pytest.approx(selected, rel=1e-5)
        assert abs(everything - selected) > 0.1 * selected
    # Training penalizes the same kernels: the prox zeroes entries of layers 0 and 2
    # and leaves the others without zeros.
    zeros = {i: res.metrics[f"exact_zeros/layers/{i}/kernel"] for i in range(4)}
    assert np.all(zeros[2] > 0)
    np.testing.assert_array_equal(zeros[1], 0)
    np.testing.assert_array_equal(zeros[3], 0)


# --------------------------------------------------------------------------- 4. metrics
def test_losses_and_near_zero_counts_are_computed_from_the_final_params():
    res = _layers_run()
    d = res.data
    np.testing.assert_allclose(
        res.metrics["train_loss"], res.history["epoch_loss"][..., -1], rtol=1e-6
    )
    assert not np.allclose(res.history["epoch_loss"][..., -1], res.history["epoch_loss"][..., -2])
    for s in range(2):
        pred = _forward(_layer_params(res, s), d.x_test)
        # abs_sum: the sum over test samples (not the mean) of the absolute errors.
        want = np.abs(pred - d.y_test).sum()
        assert res.metrics["test_loss"][s, 0] == pytest.approx(want, rel=1e-5)
        assert res.metrics["total_error"][s, 0] == pytest.approx(want, rel=1e-5)
    # sparsity_tol: the same params (learning rate 0) counted at two tolerances.
    two, three = _frozen_runs()  # tolerance 0.05 and the default 1e-3
    differ = 0
    for run, tol in ((two, 0.05), (three, 1e-3)):
        for path in (p for p in run.params if p.endswith("kernel")):
            want = (np.abs(run.params[path]) < tol).sum(axis=tuple(range(2, 4)))
            np.testing.assert_array_equal(run.metrics[f"near_zeros/{path}"], want, err_msg=path)
            if run is two:
                differ += np.sum(want != three.metrics[f"near_zeros/{path}"][:2])
    assert differ > 0


# --------------------------------------------------------------------------- 5. seed
def test_the_seed_key_changes_the_run_and_is_reproducible():
    zero, one = _layers_run(0), _layers_run(1)
    again = train_and_evaluate({**one.config})
    for path, value in one.params.items():
        np.testing.assert_array_equal(again.params[path], value, err_msg=path)
        assert not np.array_equal(value, zero.params[path]), path
    assert not np.allclose(one.metrics["test_loss"], zero.metrics["test_loss"])


# --------------------------------------------------------------------------- 6. group lasso
@pytest.mark.slow
def test_group_lasso_axis_chooses_the_groups_the_prox_zeroes():
    def run(axis):
        return train_and_evaluate(
            {
                "regularizer": {"name": "group_lasso", "strength": 0.5, "axis": axis},
                "method": "proximal",
                "epochs": 2,
                "num_seeds": 2,
            }
        )

    def zero_groups(res, axis):
        """Complete zero columns (axis 0) or rows (axis 1) of the 10 x 10 kernels."""
        zero = np.stack([res.params[f"layers/{i}/kernel"] == 0 for i in (1, 2)])
        return zero, zero.all(axis=3 + axis, keepdims=True)

    by_column, by_row = run(0), run(1)
    zero, columns = zero_groups(by_column, 0)
    assert columns.sum() > 0 and zero_groups(by_column, 1)[1].sum() == 0
    # Every zero of the axis-0 run lies in a zero column: the prox zeroes whole units.
    np.testing.assert_array_equal(zero, np.broadcast_to(columns, zero.shape))
    assert zero_groups(by_row, 1)[1].sum() > 0 and zero_groups(by_row, 0)[1].sum() == 0


# --------------------------------------------------------------------------- 7. odd step counts
# 41 training points in batches of 2: 20 pairs and a last batch of 1, 21 steps an epoch;
# 3 epochs are 63 steps, which the engine's step loop (unrolled by 2) does not divide.
ODD_STEPS = {
    "data": {"name": "line_outliers", "n_samples": 51},
    "batch_size": 2,
    "epochs": 3,
    "num_seeds": 2,
    "record_every": 0,
    "record_step_loss": True,
}


def test_an_odd_number_of_steps_with_a_partial_batch_equals_plain_sgd():
    res = train_and_evaluate(ODD_STEPS)
    d = res.data
    assert d.x_train.shape[0] == 41
    assert res.history["step_loss"].shape == (2, 1, 63)
    graphdef, _ = _init_params(res.config["model"], 1, 1, seed=0, num_seeds=2, i=0)
    tx = optax.sgd(0.01)

    @jax.jit
    def step(p, state, xb, yb):
        # abs_sum: the sum of the batch's absolute errors (a last batch of 1 counts once).
        loss = lambda q: jnp.sum(jnp.abs(models.apply(graphdef, q, xb) - yb))  # noqa: E731
        value, grads = jax.value_and_grad(loss)(p)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, value

    for i in range(2):
        params = _init_params(res.config["model"], 1, 1, seed=0, num_seeds=2, i=i)[1]
        state, losses = tx.init(params), []
        for _ in range(3):
            for start in range(0, 41, 2):
                xb, yb = d.x_train[start : start + 2], d.y_train[start : start + 2]
                params, state, value = step(params, state, xb, yb)
                losses.append(value)
        # The last (63rd) step is taken: its loss is recorded and its update applied.
        np.testing.assert_allclose(res.history["step_loss"][i, 0], losses, rtol=1e-5)
        for path, value in _flatten(params).items():
            np.testing.assert_allclose(
                res.params[path][i, 0], value, rtol=1e-5, atol=1e-6, err_msg=path
            )
