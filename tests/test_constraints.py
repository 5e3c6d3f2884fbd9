"""Weight constraints: NumPy formulas, argument checks, Keras interop, ``constrain`` and
parity with real Keras (a constraint alone, and one SGD step of a constrained Dense layer)."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import tensorflow as tf

from research.constraints import (
    CONSTRAINTS,
    EPSILON,
    MaxNorm,
    MinMaxNorm,
    NonNeg,
    UnitNorm,
    from_keras,
)
from research.optim import constrain

# Parity is with Keras on TensorFlow (conftest sets KERAS_BACKEND); never skip silently.
assert keras.backend.backend() == "tensorflow", keras.backend.backend()

EPS = 1e-7  # keras.config.epsilon(), written out: the tests do not trust EPSILON
RTOL = {"float32": 1e-6, "float64": 1e-12}
AXES = [((5, 3), 0), ((5, 3), 1), ((3, 3, 2, 4), (0, 1, 2)), ((3, 3, 2, 4), (0, 1)), ((7,), 0)]


def _weights(shape, dtype, seed=0):
    """Random weights whose slices have norms from ~0.05 to ~8, and one zero column."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape) * rng.choice([0.02, 0.3, 1.0, 3.0], size=shape[-1])
    if len(shape) > 1:
        w[..., 0] = 0.0
    return w.astype(dtype)


def _np_norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


def _np_max_norm(w, max_value, axis):
    n = _np_norms(w, axis)
    return w * (np.clip(n, 0, max_value) / (EPS + n))


def _np_min_max_norm(w, min_value, max_value, rate, axis):
    n = _np_norms(w, axis)
    desired = rate * np.clip(n, min_value, max_value) + (1 - rate) * n
    return w * (desired / (EPS + n))


def _np_unit_norm(w, axis):
    return w / (EPS + _np_norms(w, axis))


# --------------------------------------------------------------------------- #
# The projections against NumPy
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("shape", "axis"), AXES)
def test_projections_match_numpy_formulas(shape, axis, dtype):
    w = _weights(shape, dtype)
    cases = [
        (MaxNorm(axis=axis), _np_max_norm(w, 2, axis)),
        (MaxNorm(1.5, axis=axis), _np_max_norm(w, 1.5, axis)),
        (MinMaxNorm(axis=axis), _np_min_max_norm(w, 0.0, 1.0, 1.0, axis)),
        (MinMaxNorm(0.5, 1.5, 0.3, axis=axis), _np_min_max_norm(w, 0.5, 1.5, 0.3, axis)),
        (MinMaxNorm(0.5, 1.5, 0.0, axis=axis), _np_min_max_norm(w, 0.5, 1.5, 0.0, axis)),
        (UnitNorm(axis=axis), _np_unit_norm(w, axis)),
        (NonNeg(), w * (w >= 0)),
    ]
    for c, want in cases:
        got = jax.jit(c.__call__)(jnp.asarray(w))  # one program, not an op at a time
        assert got.dtype == np.dtype(dtype), c
        np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=0, err_msg=repr(c))
        if len(shape) > 1:  # a zero column stays exactly zero (no 0 / 0)
            assert np.all(np.asarray(got)[..., 0] == 0), c


def test_max_norm_moves_weights_inside_the_ball_like_keras(x64):
    w = np.array([[0.3], [0.4]])  # norm 0.5 < max_value
    got = np.asarray(MaxNorm(2.0)(w))
    np.testing.assert_allclose(got, w * (0.5 / (EPS + 0.5)), rtol=1e-15)
    assert np.all(got != w)
    # Norms end up at the bound, up to the epsilon.
    big = np.asarray(MaxNorm(2.0)(np.random.default_rng(0).normal(size=(5, 3)) * 10))
    assert np.linalg.norm(big, axis=0) == pytest.approx([2.0] * 3, rel=1e-6)


def test_non_neg_is_maximum_with_zero():
    w = np.array([-np.inf, -1.0, -0.0, 0.0, 0.5, np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(NonNeg()(w), [0.0, 0.0, 0.0, 0.0, 0.5, np.inf, np.nan])


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_projections_keep_low_precision_dtypes(dtype_name):
    w = jnp.asarray(_weights((5, 3), "float32")).astype(dtype_name)
    for c in (MaxNorm(1.0), MinMaxNorm(0.5, 1.0, 0.5), NonNeg(), UnitNorm()):
        assert c(w).dtype == w.dtype


def test_constraints_work_under_jit_and_vmap():
    w = jnp.asarray(_weights((5, 3), "float32"))
    c = MinMaxNorm(0.5, 1.5, 0.3)
    want = c(w)
    np.testing.assert_allclose(jax.jit(lambda v: c(v))(w), want, rtol=1e-6)  # closed over
    np.testing.assert_allclose(jax.jit(lambda c, v: c(v))(c, w), want, rtol=1e-6)  # pytree
    np.testing.assert_allclose(jax.jit(lambda v, c: c(v), static_argnums=1)(w, c), want)
    caps = jnp.array([0.5, 1.0, 4.0])
    many = jax.vmap(lambda m: MaxNorm(m)(w))(caps)
    for i, m in enumerate([0.5, 1.0, 4.0]):
        np.testing.assert_allclose(many[i], MaxNorm(m)(w), rtol=1e-6)
    stacked = jnp.stack([w, 2 * w])
    np.testing.assert_allclose(jax.vmap(UnitNorm())(stacked)[1], UnitNorm()(2 * w), rtol=1e-6)


def test_constraints_are_pytrees_and_hashable():
    c = MinMaxNorm(0.25, 0.75, 0.5, axis=(0, 1))
    assert jax.tree.leaves(c) == [0.25, 0.75, 0.5]
    assert jax.tree.map(lambda x: x, c) == c
    assert jax.tree.leaves(NonNeg()) == []
    assert {MaxNorm(2), MaxNorm(2), MaxNorm(2, axis=1), UnitNorm()} == {
        MaxNorm(2),
        MaxNorm(2, axis=1),
        UnitNorm(),
    }
    assert MaxNorm(axis=[0, 1]) == MaxNorm(axis=(0, 1))
    assert repr(c) == "MinMaxNorm(min_value=0.25, max_value=0.75, rate=0.5, axis=(0, 1))"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: MaxNorm(-1.0), ValueError, "max_value"),
        (lambda: MaxNorm(float("nan")), ValueError, "max_value"),
        (lambda: MinMaxNorm(min_value=-0.1), ValueError, "min_value"),
        (lambda: MinMaxNorm(min_value=2.0, max_value=1.0), ValueError, "min_value"),
        (lambda: MinMaxNorm(max_value=-1.0), ValueError, "max_value"),
        (lambda: MinMaxNorm(rate=1.5), ValueError, "rate"),
        (lambda: MinMaxNorm(rate=-0.5), ValueError, "rate"),
        (lambda: MaxNorm(axis=0.5), TypeError, "axis"),
        (lambda: UnitNorm(axis="0"), TypeError, "axis"),
        (lambda: UnitNorm(axis=(0, None)), TypeError, "axis"),
        (lambda: MinMaxNorm(axis=True), TypeError, "axis"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_infinite_max_value_means_no_upper_bound(x64):
    w = _weights((5, 3), "float64") * 10
    np.testing.assert_allclose(MinMaxNorm(1.0, np.inf)(w), _np_min_max_norm(w, 1, np.inf, 1, 0))
    assert MaxNorm(np.inf).get_config() == {"max_value": np.inf, "axis": 0}


# --------------------------------------------------------------------------- #
# Keras interop
# --------------------------------------------------------------------------- #
KERAS_ARGS = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 3.0, "axis": 1}),
    ("MaxNorm", {"max_value": 1.5, "axis": (0, 1, 2)}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.5, "rate": 0.3, "axis": (0, 1)}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": -1}),
]


def test_epsilon_and_defaults_are_keras_values():
    assert keras.config.epsilon() == EPSILON == EPS
    for name, cls in CONSTRAINTS.items():
        assert cls().get_config() == getattr(keras.constraints, name)().get_config(), name


@pytest.mark.parametrize(("name", "kwargs"), KERAS_ARGS)
def test_keras_round_trip(name, kwargs):
    theirs = getattr(keras.constraints, name)(**kwargs)
    sources = (theirs, keras.constraints.serialize(theirs), theirs.get_config())
    for source in sources:
        ours = from_keras(source)
        assert type(ours) is CONSTRAINTS[name]
        assert ours == CONSTRAINTS[name](**kwargs)
        assert ours.get_config() == theirs.get_config()
        back = ours.to_keras()
        assert type(back) is type(theirs)
        assert back.get_config() == theirs.get_config()
        assert from_keras(ours) is ours


def test_keras_names_and_classes():
    names = ["max_norm", "min_max_norm", "non_neg", "unit_norm", *CONSTRAINTS]
    for name in names:
        theirs = keras.constraints.get(name)  # Keras's own lookup of the same identifier
        ours = from_keras(name)
        assert type(ours.to_keras()) is type(theirs), name
        assert ours.get_config() == theirs.get_config(), name
    assert from_keras(keras.constraints.UnitNorm) == UnitNorm()
    # A list axis (as in Keras's docs) is kept as a tuple here.
    assert from_keras(keras.constraints.MaxNorm(axis=[0, 1])).axis == (0, 1)


def test_unknown_keras_constraints_raise_naming_the_class():
    class Clip(keras.constraints.Constraint):
        def __call__(self, w):
            return keras.ops.clip(w, -1, 1)

    class MaxNorm(keras.constraints.Constraint):  # a user's class, not Keras's MaxNorm
        def get_config(self):
            return {"max_value": 2, "axis": 0}

    for source, name in [
        (Clip(), "Clip"),
        (keras.constraints.Constraint(), "'Constraint'"),
        (MaxNorm(), "MaxNorm"),
        ({"class_name": "Clip", "config": {}, "module": None}, "'Clip'"),
        ({"class_name": "MaxNorm", "config": {}, "module": "mine"}, "'MaxNorm'"),
    ]:
        with pytest.raises(ValueError, match=name):
            from_keras(source)
    with pytest.raises(ValueError, match="maxnorm"):
        from_keras("maxnorm")
    with pytest.raises(ValueError, match="config keys"):
        from_keras({"l1": 0.1})
    with pytest.raises(ValueError, match="bad config for UnitNorm"):
        from_keras({"class_name": "UnitNorm", "config": {"max_value": 1}})
    with pytest.raises(TypeError, match="from_keras"):
        from_keras(3.0)


# --------------------------------------------------------------------------- #
# constrain
# --------------------------------------------------------------------------- #
def _params(seed=0):
    rng = np.random.default_rng(seed)

    def dense(n_in, n_out):
        kernel = jnp.asarray(rng.normal(size=(n_in, n_out)) * 2, jnp.float32)
        return {"kernel": kernel, "bias": -jnp.ones(n_out)}

    return {"dense0": dense(4, 5), "dense1": dense(5, 2)}


def _incoming(params, seed=1):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)


def _apply(tx, params, updates):
    new, _ = tx.update(updates, tx.init(params), params)
    return optax.apply_updates(params, new)


@pytest.mark.parametrize("c", [MaxNorm(1.0), MinMaxNorm(0.5, 1.5, 0.3), NonNeg(), UnitNorm()])
def test_constrain_projects_params_plus_updates_on_kernels(c):
    params, u = _params(), _incoming(_params())
    got = _apply(constrain(c), params, u)
    for layer in ("dense0", "dense1"):
        moved = params[layer]["kernel"] + u[layer]["kernel"]
        np.testing.assert_allclose(got[layer]["kernel"], c(moved), rtol=1e-6, atol=1e-6)
        # The bias is not constrained (NonNeg would otherwise clip -1 + u).
        want = params[layer]["bias"] + u[layer]["bias"]
        np.testing.assert_array_equal(got[layer]["bias"], want)


def test_constrain_masks():
    params, u = _params(), _incoming(_params())
    plus = optax.apply_updates(params, u)
    c = NonNeg()
    only_bias = jax.tree_util.tree_map_with_path(lambda p, _: p[-1].key == "bias", params)
    for mask in (only_bias, lambda p: only_bias):
        got = _apply(constrain(c, mask=mask), params, u)
        np.testing.assert_array_equal(got["dense0"]["bias"], c(plus["dense0"]["bias"]))
        np.testing.assert_array_equal(got["dense0"]["kernel"], plus["dense0"]["kernel"])
    got = _apply(constrain(c, mask={"dense0": True, "dense1": False}), params, u)  # a prefix
    np.testing.assert_array_equal(got["dense0"]["bias"], c(plus["dense0"]["bias"]))
    np.testing.assert_array_equal(got["dense1"]["kernel"], plus["dense1"]["kernel"])


def test_constrain_needs_params_and_a_constraint():
    params = _params()
    tx = constrain(MaxNorm())
    with pytest.raises(ValueError, match="constrain"):
        tx.update(params, tx.init(params))
    with pytest.raises(TypeError, match="from_keras"):
        constrain(keras.constraints.MaxNorm())
    with pytest.raises(ValueError, match="mask"):
        _apply(constrain(MaxNorm(), mask={"a": True}), params, params)


def test_constrain_only_acts_in_update():
    params = _params()
    tx = constrain(MaxNorm(1.0))
    assert tx.init(params) == optax.EmptyState()
    assert np.max(np.linalg.norm(params["dense0"]["kernel"], axis=0)) > 1.5  # violates
    zero = jax.tree.map(jnp.zeros_like, params)
    got = _apply(tx, params, zero)  # an update projects even when nothing moved
    want = MaxNorm(1.0)(params["dense0"]["kernel"])
    np.testing.assert_allclose(got["dense0"]["kernel"], want, rtol=1e-6, atol=1e-6)


def test_constrain_under_jit_vmap_chain_and_masked():
    params, u = _params(), _incoming(_params())
    c = MinMaxNorm(0.5, 1.5, 0.3)
    want = _apply(optax.chain(optax.sgd(0.1), constrain(c)), params, u)
    tx = optax.chain(optax.sgd(0.1), constrain(c))
    jitted = jax.jit(lambda p, g: optax.apply_updates(p, tx.update(g, tx.init(p), p)[0]))
    for leaf_got, leaf_want in zip(
        jax.tree.leaves(jitted(params, u)), jax.tree.leaves(want), strict=True
    ):
        np.testing.assert_allclose(leaf_got, leaf_want, rtol=1e-6, atol=1e-7)
    # vmap over models, and over the constraint's argument.
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, _params(7))
    ustack = jax.tree.map(lambda a: jnp.stack([a, -a]), u)
    many = jax.vmap(lambda p, g: optax.apply_updates(p, tx.update(g, tx.init(p), p)[0]))(
        stacked, ustack
    )
    first = jax.tree.map(lambda a: a[0], many)
    for leaf_got, leaf_want in zip(jax.tree.leaves(first), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(leaf_got, leaf_want, rtol=1e-6, atol=1e-7)

    def step(cap):
        t = constrain(MaxNorm(cap))
        return optax.apply_updates(params, t.update(u, t.init(params), params)[0])

    caps = jax.vmap(step)(jnp.array([0.5, 2.0]))
    np.testing.assert_allclose(caps["dense1"]["kernel"][0], step(0.5)["dense1"]["kernel"])
    # optax.masked: only dense1 is handed to constrain.
    masked = optax.masked(constrain(NonNeg()), {"dense0": False, "dense1": True})
    got = _apply(masked, params, u)
    plus = optax.apply_updates(params, u)
    np.testing.assert_array_equal(got["dense0"]["kernel"], plus["dense0"]["kernel"])
    np.testing.assert_array_equal(got["dense1"]["kernel"], NonNeg()(plus["dense1"]["kernel"]))
    np.testing.assert_array_equal(got["dense1"]["bias"], plus["dense1"]["bias"])


# --------------------------------------------------------------------------- #
# Parity with real Keras
# --------------------------------------------------------------------------- #
@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs"), KERAS_ARGS)
def test_projection_matches_keras(name, kwargs, dtype):
    theirs = getattr(keras.constraints, name)(**kwargs)
    ours = CONSTRAINTS[name](**kwargs)
    for shape in [(5, 3), (3, 3, 2, 4)]:
        if max(np.ravel(kwargs.get("axis", 0))) >= len(shape):
            continue
        for scale in (1.0, 10.0):
            w = _weights(shape, dtype, seed=3) * np.asarray(scale, dtype)
            want = theirs(tf.constant(w)).numpy()
            got = ours(jnp.asarray(w))
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=0, err_msg=str(shape))


# (class name, arguments, whether the step moves the kernel off the plain SGD step)
DENSE_CASES = [
    ("MaxNorm", {"max_value": 2.0}, True),
    ("MaxNorm", {"max_value": 10.0}, False),  # inside the ball
    ("MaxNorm", {"max_value": 1.0, "axis": 1}, True),
    ("MaxNorm", {"max_value": 3.0, "axis": (0, 1)}, True),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.5, "rate": 0.7}, True),
    ("MinMaxNorm", {}, True),
    ("NonNeg", {}, True),
    ("UnitNorm", {}, True),
    ("UnitNorm", {"axis": 1}, True),
]


@pytest.mark.parity
@pytest.mark.parametrize(("name", "kwargs", "active"), DENSE_CASES)
def test_one_sgd_step_matches_keras_dense_with_kernel_constraint(name, kwargs, active):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(8, 4)).astype("float32")
    # Column norms ~1e-3 (where the epsilon shows in float32), ~0.6 and ~6.
    kernel = (rng.normal(size=(4, 3)) * [5e-4, 0.3, 3.0]).astype("float32")
    bias = rng.normal(size=3).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    y[:, 0] = (x @ kernel + bias)[:, 0]  # a tiny gradient keeps the small column small
    lr = 0.1

    layer = keras.layers.Dense(3, kernel_constraint=getattr(keras.constraints, name)(**kwargs))
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    layer.set_weights([kernel, bias])
    # A constraint is not applied when the layer is built or its weights set.
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    model.train_on_batch(x, y)
    keras_kernel, keras_bias = (v.numpy() for v in layer.weights)

    params = {"dense": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}}

    def loss(p):
        return jnp.mean((x @ p["dense"]["kernel"] + p["dense"]["bias"] - y) ** 2)

    grads = jax.grad(loss)(params)
    tx = optax.chain(optax.sgd(lr), constrain(CONSTRAINTS[name](**kwargs)))
    state = tx.init(params)
    np.testing.assert_array_equal(params["dense"]["kernel"], kernel)  # init changes nothing
    updates, _ = tx.update(grads, state, params)
    ours = optax.apply_updates(params, updates)

    np.testing.assert_allclose(ours["dense"]["kernel"], keras_kernel, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours["dense"]["bias"], keras_bias, rtol=1e-6, atol=1e-6)
    # The bias is unconstrained; the constraint moved the kernel (or, inside the ball, not).
    plain = optax.apply_updates(params, jax.tree.map(lambda g: -lr * g, grads))
    np.testing.assert_allclose(keras_bias, plain["dense"]["bias"], rtol=1e-6, atol=1e-6)
    moved = np.max(np.abs(keras_kernel - np.asarray(plain["dense"]["kernel"])))
    assert moved > 1e-3 if active else moved < 1e-6
