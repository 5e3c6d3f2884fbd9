"""``from_keras_optimizer``: Keras 3 optimizers against real Keras (TF backend), step by step."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

from research.optim import from_keras_optimizer
from research.optim._keras_schedules import schedule_from_keras

from helpers import keras_run, optax_run, params_and_grads

pytestmark = pytest.mark.parity

STEPS = 15
SHAPES = {"kernel": (4, 3), "bias": (3,), "embeddings": (2, 3, 2)}
K = keras.optimizers
S = keras.optimizers.schedules


def _problem(scale=1.0, steps=STEPS, seed=0):
    return params_and_grads(SHAPES, steps, scale=scale, seed=seed)


def _numpy(x):
    return np.asarray(keras.ops.convert_to_tensor(x))


def _keras_variables(params):
    return {k: keras.Variable(v, name=k) for k, v in params.items()}


def _optax_run(tx, params, grads):
    return optax_run(tx, params, grads, jit=True)


def _assert_runs_close(got, want, rtol=1e-5, atol=1e-7):
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=f"{k}@{step}")


def _compare(make, scale=1.0, exclude=None):
    params, grads = _problem(scale)
    opt = make()
    if exclude is not None:
        opt.exclude_from_weight_decay(var_names=exclude)
    got = _optax_run(from_keras_optimizer(opt), params, grads)
    _assert_runs_close(got, keras_run(opt, params, grads))
    return params, grads, got


OPTIMIZERS = {
    "sgd": lambda: K.SGD(0.05),
    "sgd_momentum": lambda: K.SGD(0.05, momentum=0.9),
    "sgd_nesterov": lambda: K.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: K.Adam(0.01),
    "adam_amsgrad": lambda: K.Adam(0.01, beta_1=0.8, amsgrad=True),
    "adamw": lambda: K.AdamW(0.01),
    "rmsprop": lambda: K.RMSprop(0.01),
    "rmsprop_momentum": lambda: K.RMSprop(0.01, rho=0.8, momentum=0.5),
    "rmsprop_centered": lambda: K.RMSprop(0.01, momentum=0.3, centered=True, epsilon=1e-5),
    "adagrad": lambda: K.Adagrad(0.1, initial_accumulator_value=0.2, epsilon=1e-6),
    "ftrl": lambda: K.Ftrl(
        0.1,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.01,
        l2_shrinkage_regularization_strength=0.02,
        beta=0.1,
    ),
    "sgd_weight_decay": lambda: K.SGD(0.05, momentum=0.9, weight_decay=0.1),
    "rmsprop_weight_decay": lambda: K.RMSprop(0.01, weight_decay=0.1),
    "adagrad_weight_decay": lambda: K.Adagrad(0.1, weight_decay=0.1),
    "ftrl_weight_decay": lambda: K.Ftrl(
        0.1, weight_decay=0.1, l2_shrinkage_regularization_strength=0.02
    ),
    "clipnorm": lambda: K.SGD(0.05, momentum=0.9, clipnorm=1.0),
    "global_clipnorm": lambda: K.SGD(0.05, momentum=0.9, global_clipnorm=2.0),
    "clipvalue": lambda: K.SGD(0.05, momentum=0.9, clipvalue=0.5),
    "clip_and_decay": lambda: K.AdamW(0.01, weight_decay=0.1, clipvalue=0.5),
}


@pytest.mark.parametrize("case", list(OPTIMIZERS))
def test_matches_keras(case):
    _compare(OPTIMIZERS[case])


@pytest.mark.parametrize("case", ["sgd_weight_decay", "adamw", "ftrl_weight_decay"])
def test_exclude_from_weight_decay_by_name(case):
    params, grads, got = _compare(OPTIMIZERS[case], exclude=["bias"])
    # The excluded bias really is treated differently from a decayed one.
    decayed = _optax_run(from_keras_optimizer(OPTIMIZERS[case]()), params, grads)
    assert not np.allclose(got[-1]["bias"], decayed[-1]["bias"], rtol=1e-5, atol=1e-7)


def test_exclude_from_weight_decay_by_variable():
    params, grads = _problem()
    variables = _keras_variables(params)
    opt = K.AdamW(0.01, weight_decay=0.1)
    opt.exclude_from_weight_decay(var_list=[variables["embeddings"]], var_names=["bias"])
    by_path = {(k,): v for k, v in variables.items()}
    got = _optax_run(from_keras_optimizer(opt, variables=by_path), params, grads)
    _assert_runs_close(got, keras_run(opt, params, grads, variables=variables))
    with pytest.raises(ValueError, match=r"variables="):
        from_keras_optimizer(opt)


def test_adam_epsilon_placement():
    # Gradients of the size of epsilon: Keras adds epsilon to sqrt(v) before the
    # bias correction, optax.adam after it.
    params, grads, got = _compare(lambda: K.Adam(0.01, epsilon=1e-7), scale=1e-7)
    approx = _optax_run(optax.adam(0.01, b1=0.9, b2=0.999, eps=1e-7), params, grads)
    with pytest.raises(AssertionError):
        _assert_runs_close(approx, got)


SCHEDULES = {
    "exponential": lambda: S.ExponentialDecay(0.1, 3, 0.5),
    "exponential_staircase": lambda: S.ExponentialDecay(0.1, 3, 0.5, staircase=True),
    "piecewise": lambda: S.PiecewiseConstantDecay([3, 7], [0.1, 0.05, 0.01]),
    "polynomial": lambda: S.PolynomialDecay(0.1, 10, 0.001, power=2.0),
    "polynomial_cycle": lambda: S.PolynomialDecay(0.1, 6, 0.01, power=0.5, cycle=True),
    "inverse_time": lambda: S.InverseTimeDecay(0.1, 4, 0.5),
    "inverse_time_staircase": lambda: S.InverseTimeDecay(0.1, 4, 0.5, staircase=True),
    "cosine": lambda: S.CosineDecay(0.1, 10, alpha=0.1),
    "cosine_warmup": lambda: S.CosineDecay(0.01, 10, warmup_target=0.1, warmup_steps=5),
    "cosine_restarts": lambda: S.CosineDecayRestarts(0.1, 4, t_mul=2.0, m_mul=0.8, alpha=0.05),
    "cosine_restarts_constant": lambda: S.CosineDecayRestarts(0.1, 3, t_mul=1.0, m_mul=0.5),
}


@pytest.mark.parametrize("case", list(SCHEDULES))
def test_schedule_matches_keras(case):
    sched = SCHEDULES[case]()
    steps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 15, 20, 31, 100]
    want = np.array([_numpy(sched(step)) for step in steps])
    got = jax.jit(jax.vmap(schedule_from_keras(sched, keras)))(jnp.asarray(steps, jnp.int32))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


def test_optimizer_with_schedule():
    _compare(lambda: K.AdamW(SCHEDULES["cosine_warmup"](), weight_decay=0.1))


def test_learning_rate_override_traced_under_vmap():
    params, grads = _problem(steps=5)
    lrs = [0.01, 0.03]
    want = [keras_run(K.Adam(lr, weight_decay=0.1), params, grads) for lr in lrs]
    opt = K.Adam(0.5, weight_decay=0.1)  # its own learning rate is replaced

    def run(lr):
        tx = from_keras_optimizer(opt, learning_rate=lr)
        p = {k: jnp.asarray(v) for k, v in params.items()}
        state = tx.init(p)
        for g in grads:
            updates, state = tx.update(g, state, p)
            p = optax.apply_updates(p, updates)
        return p

    got = jax.jit(jax.vmap(run))(jnp.asarray(lrs, jnp.float32))
    for i in range(len(lrs)):
        _assert_runs_close([{k: v[i] for k, v in got.items()}], want[i][-1:])


class _Custom(S.LearningRateSchedule):
    def __call__(self, step):
        return 0.1


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: K.Nadam(), "Nadam is not supported"),
        (lambda: K.Adamax(), "Adamax is not supported"),
        (lambda: K.Lion(), "Lion is not supported"),
        (lambda: K.Adadelta(), "Adadelta is not supported"),
        (lambda: K.LossScaleOptimizer(K.SGD()), "LossScaleOptimizer is not supported"),
        (lambda: "adam", "str is not supported"),
        (lambda: K.SGD(_Custom()), "_Custom is not supported"),
        (lambda: K.SGD(lambda: 0.1), "callable"),
        (lambda: K.Adam(use_ema=True), "use_ema"),
        (lambda: K.SGD(gradient_accumulation_steps=2), "gradient_accumulation_steps"),
        (lambda: K.SGD(loss_scale_factor=2.0), "loss_scale_factor"),
    ],
)
def test_unsupported(make, match):
    with pytest.raises(ValueError, match=match):
        from_keras_optimizer(make())


def test_update_needs_params():
    tx = from_keras_optimizer(K.SGD(0.1))
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="params"):
        tx.update(params, tx.init(params))
