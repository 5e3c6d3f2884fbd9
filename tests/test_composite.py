"""Weighted (per-entry factors, glmnet's penalty.factor) and Bounded (box limits, glmnet's
lower/upper.limits): skglm parity in float64 at 1e-12, global minimizers over the box for the
non-convex penalties, per-leaf matching, the optax transforms, and errors naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from skglm.penalties import L1 as SkL1
from skglm.penalties import IndicatorBox, MCPenalty, WeightedL1, WeightedMCPenalty
from skglm.penalties import L1_plus_L2 as SkL1L2
from sklearn.linear_model import Lasso

from research.optim import add_regularization, fista, proximal, proximal_adagrad
from research.regularizers import (
    L0,
    L1,
    MCP,
    SCAD,
    Bounded,
    ElasticNet,
    GroupLasso,
    LogSum,
    Lq,
    Weighted,
    by_name,
)

V = np.concatenate([np.linspace(-6, 6, 241), [0.0, 1e-9, -1e-9]])
STEPS = [0.05, 0.5, 1.0, 2.0, 4.0]


def _prox(reg, v, step):
    return np.asarray(reg.prox({"kernel": jnp.asarray(v)}, step)["kernel"])


def _sk_prox(penalty, v, step):
    return np.array([penalty.prox_1d(x, step, j) for j, x in enumerate(v)])


def test_weighted_l1_and_mcp_match_skglm_including_zero_factors(x64):
    rng = np.random.default_rng(0)
    factors = rng.choice([0.0, 0.3, 1.0, 2.5], size=V.size)
    for alpha in (0.1, 0.7, 1.3):
        ours, sk = Weighted(L1(alpha), {"kernel": factors}), WeightedL1(alpha, factors)
        assert abs(float(ours({"kernel": jnp.asarray(V)})) - sk.value(V)) < 1e-12 * sk.value(V)
        mcp, sk_mcp = Weighted(MCP(alpha, 3.0), factors), WeightedMCPenalty(alpha, 3.0, factors)
        np.testing.assert_allclose(float(mcp({"kernel": jnp.asarray(V)})), sk_mcp.value(V), 1e-12)
        for step in STEPS:
            np.testing.assert_allclose(_prox(ours, V, step), _sk_prox(sk, V, step), atol=1e-12)
            if all(3.0 > step * f for f in factors):  # skglm's firm formula (convex case)
                np.testing.assert_allclose(
                    _prox(mcp, V, step), _sk_prox(sk_mcp, V, step), atol=1e-12
                )
    # A factor of 0 leaves an entry unpenalized: no shrinkage, no gradient.
    reg = Weighted(L1(5.0), {"kernel": jnp.array([0.0, 1.0])})
    params = {"kernel": jnp.array([0.5, 0.5])}
    np.testing.assert_array_equal(reg.prox(params, 1.0)["kernel"], [0.5, 0.0])
    np.testing.assert_array_equal(reg.grad(params)["kernel"], [0.0, 5.0])


def test_box_limits_match_skglm_positive_penalties_and_indicator_box(x64):
    for alpha in (0.1, 0.7, 1.3):
        pairs = [
            (Bounded(L1(alpha), lower=0.0), SkL1(alpha, positive=True)),
            (Bounded(ElasticNet(alpha * 0.3, alpha * 0.35), lower=0.0),
             SkL1L2(alpha, 0.3, positive=True)),
            (Bounded(MCP(alpha, 3.0), lower=0.0), MCPenalty(alpha, 3.0, positive=True)),
            (Bounded(L1(0.0), lower=0.0, upper=alpha), IndicatorBox(alpha)),
        ]  # fmt: skip
        for ours, sk in pairs:
            for step in STEPS:
                if isinstance(sk, MCPenalty) and step >= 3.0:
                    continue  # skglm's formula is firm thresholding, for gamma > step only
                np.testing.assert_allclose(_prox(ours, V, step), _sk_prox(sk, V, step), atol=1e-12)


NONCONVEX = {
    "mcp-1.2": MCP(0.9, gamma=1.2),
    "mcp-3": MCP(0.9, gamma=3.0),
    "scad-2.5": SCAD(0.9, a=2.5),
    "lq-1/2": Lq(0.9, q=0.5),
    "lq-2/3": Lq(0.9, q=2 / 3),
    "log_sum": LogSum(0.9, eps=0.3),
    "l0": L0(0.9),
    "elastic_net": ElasticNet(0.9, 0.2),
}
BOXES = [(0.0, np.inf), (-np.inf, 0.0), (0.5, 2.0), (-3.0, -1.0), (-1.0, 0.7), (1.0, 1.0)]


@pytest.mark.parametrize("name", sorted(NONCONVEX))
def test_bounded_prox_is_the_global_minimizer_over_the_box(x64, name):
    """Clipping a non-convex prox is not enough (L0, upper below the threshold: 0 wins); the
    prox is checked against a grid of 20,001 points of each box."""
    inner = NONCONVEX[name]
    v = np.linspace(-5, 5, 201)
    for lower, upper in BOXES:
        reg = Bounded(inner, lower=lower, upper=upper)
        lo, hi = max(lower, -8.0), min(upper, 8.0)
        grid = np.linspace(lo, hi, 20_001)
        grid_values = np.asarray(inner.entry_values(jnp.asarray(grid)))
        for step in (0.3, 1.0, 3.0):
            out = _prox(reg, v, step)
            assert np.all((out >= lower) & (out <= upper)), (lower, upper, step)
            ours = 0.5 * (out - v) ** 2 + step * np.asarray(inner.entry_values(jnp.asarray(out)))
            best = (0.5 * (grid[:, None] - v) ** 2 + step * grid_values[:, None]).min(0)
            assert np.all(ours <= best + 1e-9), (name, lower, upper, step, v[ours > best + 1e-9])


def test_clipping_alone_would_be_wrong_for_l0(x64):
    """L0(1) at step 8 (threshold 4), box [0, 1]: v = 3 clips its prox (0) to 0, v = 5 clips
    5 to 1 at objective 8 + 8 = 16, while 0 costs 12.5."""
    out = _prox(Bounded(L0(1.0), lower=0.0, upper=1.0), np.array([3.0, 5.0, 0.5]), 8.0)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0])
    out = _prox(Bounded(L0(1.0), lower=0.5, upper=1.0), np.array([-3.0, 0.2, 0.8, 1.2]), 8.0)
    np.testing.assert_array_equal(out, [0.5, 0.5, 0.8, 1.0])


def test_per_leaf_factors_and_limits_match_params_by_path():
    params = {
        "a": {"kernel": jnp.array([5.0, 1.0, -1.0]), "bias": jnp.ones(3)},
        "b": {"kernel": jnp.array([[2.0, -3.0]])},
    }
    # The selected leaves' paths alone; a prefix ("b") giving one factor to its subtree.
    reg = Weighted(L1(1.0), {"a": {"kernel": jnp.array([0.0, 1.0, 2.0])}, "b": 3.0})
    assert float(reg(params)) == pytest.approx(0 + 1 + 2 + 3 * 5)
    out = reg.prox(params, 1.0)
    np.testing.assert_array_equal(out["a"]["kernel"], [5.0, 0.0, 0.0])
    np.testing.assert_array_equal(out["b"]["kernel"], [[0.0, 0.0]])
    np.testing.assert_array_equal(out["a"]["bias"], params["a"]["bias"])
    # One scalar for every selected leaf; a per-leaf lower limit.
    assert float(Weighted(L1(1.0), 2.0)(params)) == pytest.approx(2 * 12)
    box = Bounded(L1(0.0), lower={"a": {"kernel": 0.0}, "b": {"kernel": -2.5}})
    out = box.prox(params, 1.0)
    np.testing.assert_array_equal(out["a"]["kernel"], [5.0, 1.0, 0.0])
    np.testing.assert_array_equal(out["b"]["kernel"], [[2.0, -2.5]])
    # Under jit and vmap: the factors and strengths are pytree leaves.
    assert float(jax.jit(lambda r, p: r(p))(reg, params)) == pytest.approx(18.0)
    values = jax.vmap(lambda s: Weighted(L1(s), 2.0)(params))(jnp.array([0.0, 0.5]))
    np.testing.assert_allclose(values, [0.0, 12.0])
    # replace() reaches the wrapped penalty's strengths and mask.
    assert float(reg.replace(l1=2.0)(params)) == pytest.approx(36.0)
    assert float(Weighted(L1(1.0), 1.0).replace(mask=by_name("bias"))(params)) == 3.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Weighted(L1(1.0), {"c": 1.0}), "weights: the entry 'c' matches no leaf"),
        (lambda: Weighted(L1(1.0), {"a": {"kernel": jnp.ones(2)}, "b": 1.0}),
         r"weights: the entry for leaf 'a/kernel' has shape \(2,\)"),
        (lambda: Weighted(L1(1.0), {"b": 1.0}), "weights: no entry for the selected leaf 'a/k"),
        (lambda: Weighted(L1(1.0), -1.0), "weights: expected a finite number >= 0"),
        (lambda: Weighted(GroupLasso(1.0), 1.0), "reg: Weighted needs a separable penalty"),
        (lambda: Bounded(L1(1.0), lower=1.0, upper=0.0), "expected lower <= upper"),
        (lambda: Bounded(L1(1.0), lower={"a": 1.0, "b": 0.0}, upper=0.5),
         "expected lower <= upper"),
        (lambda: Bounded(L1(1.0), lower=float("nan")), "lower: expected numbers"),
        (lambda: Bounded(L1(1.0)), "Bounded needs at least one limit"),
        (lambda: add_regularization(Bounded(L1(1.0), lower=0.0)), "kept by a proximal step"),
        (lambda: Weighted(L1(1.0), 1.0).to_keras(), "Weighted has no Keras equivalent"),
    ],
)  # fmt: skip
def test_bad_factors_and_limits_are_errors_naming_the_argument(build, message):
    params = {"a": {"kernel": jnp.ones(3), "bias": jnp.ones(3)}, "b": {"kernel": jnp.ones((1, 2))}}
    with pytest.raises((ValueError, TypeError), match=message):
        reg = build()
        reg.prox(params, 1.0)


def test_weighted_and_bounded_in_the_optax_transforms():
    params = {"kernel": jnp.array([1.0, -2.0, 0.3, 4.0])}
    grads = {"kernel": jnp.array([0.5, 0.5, -0.5, 0.5])}
    factors = jnp.array([0.0, 1.0, 2.0, 1.0])
    lr, lam = 0.1, 2.0
    # proximal after sgd: soft thresholding at lr * lam * factor, then the box [-1, 3].
    reg = Bounded(Weighted(L1(lam), factors), lower=-1.0, upper=3.0)
    tx = optax.chain(optax.sgd(lr), proximal(reg, lr))
    updates, _ = tx.update(grads, tx.init(params), params)
    v = np.array([0.95, -2.05, 0.35, 3.95])
    expected = np.clip(np.sign(v) * np.maximum(np.abs(v) - lr * lam * factors, 0), -1, 3)
    np.testing.assert_allclose(optax.apply_updates(params, updates)["kernel"], expected, 1e-6)

    # proximal_adagrad: entry i moves as under L1(lam * factor_i) (entries are independent).
    def step(reg):
        tx = proximal_adagrad(reg, lr)
        updates, _ = tx.update(grads, tx.init(params), params)
        return np.asarray(optax.apply_updates(params, updates)["kernel"])

    weighted = step(Weighted(L1(lam), factors))
    for i, f in enumerate(np.asarray(factors)):
        assert weighted[i] == pytest.approx(step(L1(lam * float(f)))[i], abs=1e-7)
    assert weighted[0] != step(L1(lam))[0]  # the factor 0 entry is not shrunk


def test_non_negative_lasso_solution_matches_scikit_learn(x64):
    """``Bounded(L1(s), lower=0)`` by FISTA equals ``Lasso(positive=True)`` (1e-6)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 12))
    y = x @ np.array([2.0, -1.5, 0.0, 1.0, 0.0, -0.5, 0.7, 0, 0, 0, 0.3, -2.0])
    y += 0.3 * rng.standard_normal(120)
    alpha = 0.1
    sk = Lasso(alpha=alpha, positive=True, fit_intercept=False, tol=1e-14, max_iter=100_000)
    sk.fit(x, y)
    lipschitz = np.linalg.eigvalsh(x.T @ x / len(y)).max()
    tx = fista(Bounded(L1(alpha), lower=0.0), 1 / lipschitz)
    xs, ys = jnp.asarray(x), jnp.asarray(y)

    def loss(p):
        return jnp.sum((ys - xs @ p["kernel"]) ** 2) / (2 * len(y))

    def body(_, carry):
        p, state = carry
        updates, state = tx.update(jax.grad(loss)(p), state, p)
        return optax.apply_updates(p, updates), state

    params = {"kernel": jnp.zeros(12)}
    params, state = jax.lax.fori_loop(0, 5000, body, (params, tx.init(params)))
    w = np.asarray(state.x["kernel"])
    assert (sk.coef_ == 0).sum() >= 4 and (sk.coef_ > 0).sum() >= 3
    np.testing.assert_allclose(w, sk.coef_, atol=1e-6)
    np.testing.assert_array_equal(w == 0, sk.coef_ == 0)


FLOAT32 = {
    **NONCONVEX,
    "scad-3.7": SCAD(0.9, a=3.7),
    "weighted-mcp": Weighted(MCP(0.9, gamma=3.0), 0.7),
    "bounded-scad": Bounded(SCAD(0.9, a=3.7), lower=-0.5, upper=4.0),
    "bounded-l0": Bounded(L0(0.9), lower=0.5, upper=2.0),
}


@pytest.mark.parametrize("name", sorted(FLOAT32))
def test_float32_maps_keep_their_dtype_and_are_near_minimizers(x64, name):
    """In float32 the value, gradient and prox stay float32, and the prox's float64 objective
    is within float32 rounding of the float64 prox's."""
    reg = FLOAT32[name]
    v64 = np.random.default_rng(3).uniform(-5, 5, 2000)
    params32 = {"kernel": jnp.asarray(v64, jnp.float32)}
    assert reg(params32).dtype == jnp.float32
    assert reg.grad(params32)["kernel"].dtype == jnp.float32
    for step in (0.3, 1.0, 3.0):
        out32 = reg.prox(params32, step)["kernel"]
        assert out32.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(out32)))
        out64 = _prox(reg, v64, step)
        inner = reg.reg if isinstance(reg, Bounded) else reg

        def objective(w, inner=inner, step=step):
            values = np.asarray(inner.entry_values(jnp.asarray(w, jnp.float64)))
            return 0.5 * (w - v64) ** 2 + step * values

        w32 = np.asarray(out32, np.float64)
        if isinstance(reg, Bounded):  # the float32 box ends round to themselves
            assert np.all((w32 >= reg.lower) & (w32 <= reg.upper))
        gap = objective(w32) - objective(out64)
        assert np.all(gap <= 1e-5 * (1 + np.abs(objective(out64)))), (name, step, gap.max())
