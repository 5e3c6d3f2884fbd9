"""``research.optim.ftrl`` against real Keras 3 ``Ftrl`` and TF's ``ResourceApplyFtrl(V2)`` ops.

Float32, five steps on a (4, 3) kernel and a (3,) bias with a fixed random gradient
sequence; params are compared after every step with rtol 1e-6 and atol 1e-6 * max|w|
(optax returns ``new_w - w``, and ``w + (new_w - w)`` is an ulp of |w| from ``new_w``).
Zero sets must be identical.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import tensorflow as tf

from research.optim import FtrlState, ftrl

from helpers import keras_run, optax_run, params_and_grads

pytestmark = pytest.mark.parity

# Parity is with Keras on TensorFlow (conftest sets KERAS_BACKEND); never skip silently.
assert keras.backend.backend() == "tensorflow", keras.backend.backend()

RTOL = 1e-6
STEPS = 5
NAMES = ("kernel", "bias")

# Our keyword -> Keras's keyword.
KERAS_NAMES = {
    "learning_rate": "learning_rate",
    "learning_rate_power": "learning_rate_power",
    "initial_accumulator_value": "initial_accumulator_value",
    "l1": "l1_regularization_strength",
    "l2": "l2_regularization_strength",
    "l2_shrinkage": "l2_shrinkage_regularization_strength",
    "beta": "beta",
    "weight_decay": "weight_decay",
}

CASES = {
    "defaults_lr0.1": {"learning_rate": 0.1},
    "power0": {"learning_rate": 0.1, "learning_rate_power": 0.0},
    "power-0.75_init0.5": {
        "learning_rate": 0.2,
        "learning_rate_power": -0.75,
        "initial_accumulator_value": 0.5,
    },
    "l1_zeros": {"learning_rate": 0.1, "l1": 0.5, "l2": 0.2},
    "l2_shrinkage": {"learning_rate": 0.1, "l2_shrinkage": 0.3, "l2": 0.1},
    "beta": {"learning_rate": 0.1, "beta": 0.7, "l1": 0.05},
    "all_power0": {
        "learning_rate": 0.3,
        "learning_rate_power": 0.0,
        "l1": 0.4,
        "l2": 0.1,
        "l2_shrinkage": 0.2,
        "beta": 0.5,
    },
}


def _problem(seed=0):
    return params_and_grads({"kernel": (4, 3), "bias": (3,)}, STEPS, seed=seed)


def _ours(kwargs, w0, grads):
    """Params after each step."""
    return optax_run(ftrl(**kwargs), w0, grads)


def _keras(kwargs, w0, grads, exclude=None):
    opt = keras.optimizers.Ftrl(**{KERAS_NAMES[k]: v for k, v in kwargs.items()})
    return keras_run(opt, w0, grads, exclude=exclude)


def _tf_op(kwargs, w0, grads, v2=True):
    lr = kwargs["learning_rate"]
    init = kwargs.get("initial_accumulator_value", 0.1)

    def f32(x):
        return tf.constant(x, tf.float32)

    slots = {
        k: (tf.Variable(v), tf.Variable(np.full_like(v, init)), tf.Variable(np.zeros_like(v)))
        for k, v in w0.items()
    }
    common = {
        "lr": f32(lr),
        "l1": f32(kwargs.get("l1", 0.0)),
        "l2": f32(kwargs.get("l2", 0.0) + kwargs.get("beta", 0.0) / (2 * lr)),
        "lr_power": f32(kwargs.get("learning_rate_power", -0.5)),
    }
    history = []
    for g in grads:
        for k, (var, accum, linear) in slots.items():
            handles = {"var": var.handle, "accum": accum.handle, "linear": linear.handle}
            if v2:
                tf.raw_ops.ResourceApplyFtrlV2(
                    **handles,
                    grad=tf.constant(g[k]),
                    l2_shrinkage=f32(kwargs.get("l2_shrinkage", 0.0)),
                    **common,
                )
            else:
                tf.raw_ops.ResourceApplyFtrl(**handles, grad=tf.constant(g[k]), **common)
        history.append({k: s[0].numpy() for k, s in slots.items()})
    return history


def _assert_same(got_history, want_history):
    for step, (got, want) in enumerate(zip(got_history, want_history, strict=True)):
        for k in NAMES:
            atol = RTOL * np.abs(want[k]).max()
            np.testing.assert_allclose(
                got[k], want[k], rtol=RTOL, atol=atol, err_msg=f"step {step}, {k}"
            )
            np.testing.assert_array_equal(got[k] == 0, want[k] == 0, err_msg=f"step {step}, {k}")


@pytest.mark.parametrize("case", list(CASES))
def test_ftrl_matches_keras_ftrl(case):
    kwargs = CASES[case]
    w0, grads = _problem()
    ours = _ours(kwargs, w0, grads)
    _assert_same(ours, _keras(kwargs, w0, grads))
    # Not vacuous: the weights moved.
    assert np.abs(ours[-1]["kernel"] - w0["kernel"]).max() > 1e-2


@pytest.mark.parametrize("case", list(CASES))
def test_ftrl_matches_tf_resource_apply_ftrl_v2(case):
    kwargs = CASES[case]
    w0, grads = _problem()
    _assert_same(_ours(kwargs, w0, grads), _tf_op(kwargs, w0, grads))


@pytest.mark.parametrize("case", [c for c in CASES if "l2_shrinkage" not in CASES[c]])
def test_ftrl_without_shrinkage_matches_tf_resource_apply_ftrl(case):
    kwargs = CASES[case]
    w0, grads = _problem()
    _assert_same(_ours(kwargs, w0, grads), _tf_op(kwargs, w0, grads, v2=False))


def test_l1_gives_exact_zeros_like_keras():
    kwargs = CASES["l1_zeros"]
    w0, grads = _problem()
    ours, theirs = _ours(kwargs, w0, grads), _keras(kwargs, w0, grads)
    for got, want in zip(ours, theirs, strict=True):
        for k in NAMES:
            np.testing.assert_array_equal(got[k] == 0, want[k] == 0)
    zeros = sum(int((h[k] == 0).sum()) for h in theirs for k in NAMES)
    nonzeros = sum(int((h[k] != 0).sum()) for h in theirs for k in NAMES)
    assert zeros >= 5 and nonzeros >= 5, (zeros, nonzeros)


@pytest.mark.parametrize("case", ["l2_shrinkage", "beta"])
def test_shrinkage_and_beta_change_the_result(case):
    """The parity cases for these terms are not vacuous: dropping the term moves the weights."""
    kwargs = CASES[case]
    w0, grads = _problem()
    without = {k: v for k, v in kwargs.items() if k != case}
    diff = np.abs(_ours(kwargs, w0, grads)[-1]["kernel"] - _ours(without, w0, grads)[-1]["kernel"])
    assert diff.max() > 1e-2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.1, "weight_decay": 0.5},
        {"learning_rate": 0.1, "weight_decay": 0.5, "l1": 0.3, "l2_shrinkage": 0.2, "beta": 0.4},
        # With power 0 the weights reach z only through l2_shrinkage (sigma is 0).
        {
            "learning_rate": 0.2,
            "learning_rate_power": 0.0,
            "weight_decay": 1.0,
            "l2_shrinkage": 0.3,
        },
    ],
)
def test_weight_decay_matches_keras(kwargs):
    w0, grads = _problem(1)
    ours = _ours(kwargs, w0, grads)
    _assert_same(ours, _keras(kwargs, w0, grads))
    no_decay = _ours({k: v for k, v in kwargs.items() if k != "weight_decay"}, w0, grads)
    assert np.abs(ours[-1]["kernel"] - no_decay[-1]["kernel"]).max() > 1e-3


def test_weight_decay_is_inert_with_power_zero_and_no_shrinkage():
    """FTRL's weights are a function of (z, n); w enters z only via sigma * w and shrinkage."""
    kwargs = {"learning_rate": 0.2, "learning_rate_power": 0.0, "l2": 0.1}
    w0, grads = _problem(1)
    decayed = {**kwargs, "weight_decay": 1.0}
    _assert_same(_ours(decayed, w0, grads), _keras(decayed, w0, grads))
    _assert_same(_ours(decayed, w0, grads), _ours(kwargs, w0, grads))


def test_weight_decay_mask_matches_keras_exclude_from_weight_decay():
    kwargs = {"learning_rate": 0.1, "weight_decay": 0.5, "l1": 0.1}
    w0, grads = _problem(2)
    mask = {"kernel": True, "bias": False}
    ours = _ours({**kwargs, "weight_decay_mask": mask}, w0, grads)
    _assert_same(ours, _keras(kwargs, w0, grads, exclude=["bias"]))
    # The bias then follows plain FTRL.
    plain = _ours({"learning_rate": 0.1, "l1": 0.1}, w0, grads)
    for got, want in zip(ours, plain, strict=True):
        np.testing.assert_array_equal(got["bias"], want["bias"])


def test_schedule_is_evaluated_at_keras_iterations():
    class Inverse(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.2 / (1.0 + tf.cast(step, tf.float32))

    def inverse(count):
        return 0.2 / (1.0 + jnp.asarray(count, jnp.float32))

    w0, grads = _problem(3)
    common = {"l1": 0.2, "beta": 0.3, "l2_shrinkage": 0.1, "weight_decay": 0.4}
    ours = _ours({"learning_rate": inverse, **common}, w0, grads)
    _assert_same(ours, _keras({"learning_rate": Inverse(), **common}, w0, grads))


def _run_jax(tx, w0, grads):
    params = {k: jnp.asarray(v) for k, v in w0.items()}
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_jit_and_vmap_over_l1_equal_separate_runs():
    w0, grads = _problem()
    grads = [{k: jnp.asarray(v) for k, v in g.items()} for g in grads]
    kwargs = {"learning_rate": 0.1, "l2": 0.1, "beta": 0.2, "weight_decay": 0.1}
    l1s = jnp.asarray([0.0, 0.5], jnp.float32)

    @jax.jit
    def run(l1):
        return _run_jax(ftrl(l1=l1, **kwargs), w0, grads)

    batched = jax.vmap(run)(l1s)
    for i, l1 in enumerate([0.0, 0.5]):
        separate = _run_jax(ftrl(l1=l1, **kwargs), w0, grads)
        jitted = run(l1s[i])
        for k in NAMES:
            np.testing.assert_allclose(batched[k][i], separate[k], rtol=RTOL, atol=RTOL)
            np.testing.assert_allclose(jitted[k], separate[k], rtol=RTOL, atol=RTOL)
            np.testing.assert_array_equal(batched[k][i] == 0, separate[k] == 0)
    assert (np.asarray(batched["kernel"][1]) == 0).any()
    assert not (np.asarray(batched["kernel"][0]) == 0).any()


def test_state_starts_like_keras_slots():
    params = {"kernel": jnp.ones((2, 3), jnp.float32)}
    state = ftrl(initial_accumulator_value=0.25).init(params)
    assert isinstance(state, FtrlState)
    assert int(state.count) == 0
    np.testing.assert_array_equal(state.accumulator["kernel"], np.full((2, 3), 0.25, "float32"))
    np.testing.assert_array_equal(state.linear["kernel"], np.zeros((2, 3), "float32"))
    assert state.accumulator["kernel"].dtype == jnp.float32


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate_power": 0.5}, "learning_rate_power"),
        ({"learning_rate_power": float("nan")}, "learning_rate_power"),
        ({"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
        ({"l1": -1.0}, "l1"),
        ({"l2": -1.0}, "l2"),
        ({"l2_shrinkage": -1.0}, "l2_shrinkage"),
        ({"beta": -1.0}, "beta"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: "):
        ftrl(**kwargs)


def test_update_needs_params():
    tx = ftrl()
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="^ftrl: .*params"):
        tx.update(params, tx.init(params))


def test_bad_weight_decay_mask_names_the_argument():
    tx = ftrl(weight_decay=0.1, weight_decay_mask={"a": True})
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="^weight_decay_mask: "):
        tx.update(params, tx.init(params), params)
