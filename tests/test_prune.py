"""Pruning disconnected neurons keeps the network's function."""

import itertools

import jax
import numpy as np
import pytest

from research import models
from research.engine import train_and_evaluate
from research.prune import dead_units, prune_mlp


def _forward(params, x, activation):
    act = {None: lambda h: h, "relu": lambda h: np.maximum(h, 0), "tanh": np.tanh}[activation]
    layers = [params["layers"][i] for i in sorted(params["layers"])]
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(layers):
        h = h @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)
        if i < len(layers) - 1:
            h = act(h)
    return h


def _random_mlp(rng, widths):
    return {
        "layers": {
            i: {"kernel": rng.normal(size=(a, b)), "bias": rng.normal(size=b)}
            for i, (a, b) in enumerate(itertools.pairwise(widths))
        }
    }


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_pruned_network_computes_the_same_function(activation):
    rng = np.random.default_rng(0)
    params = _random_mlp(rng, [3, 6, 5, 2])
    params["layers"][0]["kernel"][:, [1, 4]] = 0.0  # units 1, 4 of layer 0: no inputs
    params["layers"][1]["kernel"][2, :] = 0.0  # unit 2 of layer 0: no outputs
    params["layers"][2]["kernel"][0, :] = 0.0  # unit 0 of layer 1: no outputs
    pruned, widths = prune_mlp(params, activation)
    assert widths == [3, 3, 4, 2]
    x = rng.normal(size=(100, 3))
    np.testing.assert_allclose(
        _forward(pruned, x, activation), _forward(params, x, activation), rtol=1e-12, atol=1e-12
    )
    assert not any(d.any() for d in dead_units(pruned))


def test_a_fully_dead_layer_keeps_one_silent_unit():
    rng = np.random.default_rng(1)
    params = _random_mlp(rng, [1, 4, 3, 1])
    params["layers"][1]["kernel"][:] = 0.0  # layer 1 gets no input at all
    pruned, widths = prune_mlp(params)
    assert widths == [1, 1, 1, 1]
    x = rng.normal(size=(20, 1))
    np.testing.assert_allclose(_forward(pruned, x, None), _forward(params, x, None), atol=1e-12)
    out = _forward(pruned, x, None)
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape))  # a constant


@pytest.mark.slow
def test_proximal_l1_line_outliers_networks_prune_to_the_same_outputs():
    res = train_and_evaluate(
        {
            "regularizer": {"name": "l1", "l1": 0.3},
            "method": "proximal",
            "epochs": 20,
            "num_seeds": 3,
        }
    )
    graphdef, _ = models.init_params(
        lambda r: models.MLP([1, 10, 10, 10, 1], rngs=r), jax.random.key(0)
    )
    x = np.linspace(-5, 15, 50)[:, None].astype(np.float32)
    for s in range(3):
        params = {
            "layers": {
                i: {n: res.params[f"layers/{i}/{n}"][s, 0] for n in ("kernel", "bias")}
                for i in range(4)
            }
        }
        dead = dead_units(params)
        assert sum(d.sum() for d in dead) == sum(
            res.metrics[f"dead_neurons/{i}"][s, 0] for i in range(3)
        )
        pruned, widths = prune_mlp(params)
        assert sum(widths[1:-1]) == 30 - sum(d.sum() for d in dead) or min(widths[1:-1]) == 1
        assert sum(widths[1:-1]) < 30
        want = np.asarray(models.apply(graphdef, params, x), np.float64)
        np.testing.assert_allclose(_forward(pruned, x, None), want, rtol=1e-5, atol=1e-5)


def test_bad_activation_is_rejected():
    with pytest.raises(ValueError, match="activation"):
        prune_mlp(_random_mlp(np.random.default_rng(0), [1, 2, 1]), "gelu")
