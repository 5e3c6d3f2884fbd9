"""``decoupled_weight_decay``: Keras's ``weight_decay=`` on SGD (momentum, Nesterov) and Adam."""

import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

from research.optim import decoupled_weight_decay

from helpers import keras_run, optax_run, params_and_grads

STEPS = 3
LR, WD = 0.1, 0.2


def _problem():
    return params_and_grads({"kernel": (4, 3), "bias": (3,)}, STEPS, seed=0)


CASES = {
    "sgd": (lambda: keras.optimizers.SGD(LR, weight_decay=WD), lambda: optax.sgd(LR)),
    "momentum": (
        lambda: keras.optimizers.SGD(LR, momentum=0.9, weight_decay=WD),
        lambda: optax.sgd(LR, momentum=0.9),
    ),
    "nesterov": (
        lambda: keras.optimizers.SGD(LR, momentum=0.9, nesterov=True, weight_decay=WD),
        lambda: optax.sgd(LR, momentum=0.9, nesterov=True),
    ),
    # Keras adds Adam's epsilon to sqrt(v) before the bias correction, optax after it; a
    # tiny epsilon makes the two placements agree to float32 rounding.
    "adam": (
        lambda: keras.optimizers.Adam(LR, epsilon=1e-12, weight_decay=WD),
        lambda: optax.adam(LR, eps=1e-12),
    ),
}


@pytest.mark.parity
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("exclude_bias", [False, True])
def test_matches_keras_weight_decay(case, exclude_bias):
    params, grads = _problem()
    keras_opt, optax_opt = CASES[case]
    want = keras_run(keras_opt(), params, grads, exclude=["bias"] if exclude_bias else None)
    mask = {"kernel": True, "bias": not exclude_bias}
    tx = optax.chain(optax_opt(), decoupled_weight_decay(WD, LR, mask=mask))
    got = optax_run(tx, params, grads)
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for k in params:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} {step}")
    # The decay acts: without it the kernel ends elsewhere.
    plain = optax_run(optax_opt(), params, grads)
    assert not np.allclose(plain[-1]["kernel"], want[-1]["kernel"], atol=1e-4)
    if exclude_bias:
        np.testing.assert_allclose(plain[-1]["bias"], want[-1]["bias"], rtol=1e-5, atol=1e-6)


@pytest.mark.parity
def test_a_learning_rate_schedule_is_read_at_keras_iterations():
    params, grads = _problem()
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(LR, decay_steps=1, decay_rate=0.5)
    schedule = optax.exponential_decay(LR, transition_steps=1, decay_rate=0.5)
    want = keras_run(keras.optimizers.SGD(keras_schedule, weight_decay=WD), params, grads)
    tx = optax.chain(optax.sgd(schedule), decoupled_weight_decay(WD, schedule))
    got = optax_run(tx, params, grads)
    for k in params:
        np.testing.assert_allclose(got[-1][k], want[-1][k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_every_parameter_decays_by_default_and_bad_arguments_are_named():
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    tx = decoupled_weight_decay(0.5, 0.1)
    updates, _ = tx.update(
        {k: jnp.zeros_like(v) for k, v in params.items()}, tx.init(params), params
    )
    for k in params:
        np.testing.assert_allclose(updates[k], -0.05 * params[k])
    with pytest.raises(ValueError, match="weight_decay: expected a finite number >= 0"):
        decoupled_weight_decay(-0.1, 0.1)
    with pytest.raises(ValueError, match="learning_rate: expected a finite number >= 0"):
        decoupled_weight_decay(0.1, -1.0)
    with pytest.raises(
        ValueError, match="decoupled_weight_decay: update.. needs the current params"
    ):
        tx.update(params, tx.init(params))
