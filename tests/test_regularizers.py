"""Penalty values, subgradients, selection, validation and proximal-map properties."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from research.regularizers import (
    L1,
    L1L2,
    L2,
    ElasticNet,
    GroupLasso,
    from_keras,
    kernel_mask,
    sum_by_dot,
)


def _params(rng, dtype="float32", zeros=True):
    """A Linen-style params dict: two dense layers and a conv kernel, with exact zeros."""
    params = {
        "Dense_0": {"kernel": rng.normal(size=(4, 5)), "bias": rng.normal(size=5)},
        "Dense_1": {"kernel": rng.normal(size=(5, 3)), "bias": rng.normal(size=3)},
        "Conv_0": {"kernel": rng.normal(size=(3, 3, 2, 4)), "bias": rng.normal(size=4)},
    }
    if zeros:
        params["Dense_0"]["kernel"][1, :] = 0.0  # a whole zero row
        params["Dense_1"]["kernel"][0, 2] = 0.0
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=dtype), params)


def _kernels(params):
    return [np.asarray(v["kernel"], np.float64) for v in params.values()]


def _np_penalty(name, kernels, a, b=0.0, axis=0):
    """Independent NumPy formulas of each penalty, over the kernels only."""
    if name == "l1":
        return sum(a * np.abs(k).sum() for k in kernels)
    if name == "l2":
        return sum(a * (k**2).sum() for k in kernels)
    if name == "elastic_net":
        return sum(a * np.abs(k).sum() + b * (k**2).sum() for k in kernels)
    total = 0.0
    for k in kernels:
        norms = np.sqrt((k**2).sum(axis=axis))
        total += a * math.sqrt(k.shape[axis]) * norms.sum()
    return total


REGS = {
    "l1": lambda: L1(0.3),
    "l2": lambda: L2(0.3),
    "elastic_net": lambda: ElasticNet(0.3, 0.2),
    "group_lasso": lambda: GroupLasso(0.3, axis=0),
}


@pytest.mark.parametrize("name", list(REGS))
def test_penalty_matches_numpy_formula_on_kernels_only(name, dtype):
    params = _params(np.random.default_rng(0), dtype)
    got = float(REGS[name]()(params))
    want = _np_penalty(name, _kernels(params), 0.3, 0.2)
    assert got == pytest.approx(want, rel=1e-6 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("by_dot", [False, True])
@pytest.mark.parametrize("name", list(REGS))
def test_penalty_under_a_wide_vmap_either_way_of_summing(name, by_dot):
    rng = np.random.default_rng(1)
    batch = [_params(rng) for _ in range(600)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *batch)
    with sum_by_dot(by_dot):
        got = np.asarray(jax.jit(jax.vmap(REGS[name]()))(stacked))
    want = [_np_penalty(name, _kernels(p), 0.3, 0.2) for p in batch]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sum_by_dot_changes_only_the_l1_sums():
    params = {"kernel": jnp.ones((4, 3))}

    def dots(reg):
        with sum_by_dot():
            return str(jax.make_jaxpr(reg)(params)).count("dot_general")

    # one dot product per |w| sum; the sums of squares stay reductions
    assert (dots(L1(0.1)), dots(L2(0.1)), dots(ElasticNet(0.1, 0.1))) == (1, 0, 1)


def test_defaults_are_keras_strengths():
    assert L1().l1 == 0.01
    assert L2().l2 == 0.01
    assert (ElasticNet().l1, ElasticNet().l2) == (0.0, 0.0)
    assert L1L2 is ElasticNet


@pytest.mark.parametrize("name", list(REGS))
def test_subgradient_is_zero_at_zero_for_grad_and_autodiff(name):
    zeros = {"kernel": jnp.zeros((3, 4))}
    reg = REGS[name]()
    np.testing.assert_array_equal(reg.grad(zeros)["kernel"], 0.0)
    autodiff = jax.grad(reg)(zeros)["kernel"]
    assert np.all(np.isfinite(autodiff))
    np.testing.assert_array_equal(autodiff, 0.0)


@pytest.mark.parametrize("name", list(REGS))
def test_grad_matches_autodiff_of_the_penalty(name):
    params = _params(np.random.default_rng(1))
    reg = REGS[name]()
    got, want = reg.grad(params), jax.grad(reg)(params)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    # Biases are not penalized by default.
    np.testing.assert_array_equal(got["Dense_0"]["bias"], 0.0)


def test_l1_subgradient_values():
    w = {"kernel": jnp.array([-2.0, 0.0, 3.0])}
    np.testing.assert_array_equal(L1(0.5).grad(w)["kernel"], [-0.5, 0.0, 0.5])
    np.testing.assert_array_equal(L2(0.5).grad(w)["kernel"], [-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(ElasticNet(0.5, 0.5).grad(w)["kernel"], [-2.5, 0.0, 3.5])


# --------------------------------------------------------------------------- selection
def test_default_selection_on_flax_nnx_state():
    model = nnx.Sequential(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), nnx.Linear(3, 1, rngs=nnx.Rngs(1)))
    state = nnx.state(model, nnx.Param)
    kernels = [np.asarray(model.layers[i].kernel[...]) for i in range(2)]
    want = sum(0.1 * np.abs(k).sum() for k in kernels)
    assert float(L1(0.1)(state)) == pytest.approx(want, rel=1e-6)
    flags = jax.tree.leaves(kernel_mask(state))
    assert sorted(flags) == [False, False, True, True]


def test_masks_pytree_prefix_and_callable():
    params = _params(np.random.default_rng(2))
    k0 = np.asarray(params["Dense_0"]["kernel"], np.float64)
    b0 = np.asarray(params["Dense_0"]["bias"], np.float64)
    full = jax.tree.map(lambda _: False, params)
    full["Dense_0"]["bias"] = True
    assert float(L1(1.0, mask=full)(params)) == pytest.approx(np.abs(b0).sum(), rel=1e-6)
    prefix = {"Dense_0": True, "Dense_1": False, "Conv_0": False}
    want = np.abs(k0).sum() + np.abs(b0).sum()
    assert float(L1(1.0, mask=prefix)(params)) == pytest.approx(want, rel=1e-6)
    assert float(L1(1.0, mask=lambda p: prefix)(params)) == pytest.approx(want, rel=1e-6)
    # prox leaves unselected leaves untouched
    out = L1(10.0, mask=prefix).prox(params, 1.0)
    np.testing.assert_array_equal(out["Dense_0"]["kernel"], 0.0)
    np.testing.assert_array_equal(out["Dense_1"]["kernel"], params["Dense_1"]["kernel"])


def test_mask_errors_are_clear():
    params = _params(np.random.default_rng(3))
    with pytest.raises(ValueError, match=r"mask: .*structure"):
        L1(mask={"Dense_0": True})(params)
    bad = jax.tree.map(lambda _: 1.0, params)
    with pytest.raises(TypeError, match="mask: expected Python bools"):
        L1(mask=bad)(params)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("factory", "arg"),
    [
        (lambda v: L1(v), "l1"),
        (lambda v: L2(v), "l2"),
        (lambda v: ElasticNet(l1=v), "l1"),
        (lambda v: ElasticNet(l2=v), "l2"),
        (lambda v: GroupLasso(v), "strength"),
    ],
)
@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), np.float32(-1)])
def test_bad_strengths_raise_value_error_naming_the_argument(factory, arg, value):
    with pytest.raises(ValueError, match=rf"^{arg}: expected a finite number >= 0"):
        factory(value)


def test_non_scalar_strength_and_bad_axis_rejected():
    with pytest.raises(ValueError, match="l1: expected a scalar"):
        L1(jnp.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="axis"):
        GroupLasso(0.1, axis="rows")
    with pytest.raises(ValueError, match=r"axis: \(2,\) is out of range"):
        GroupLasso(0.1, axis=2)({"kernel": jnp.ones((3, 4))})
    with pytest.raises(ValueError, match="step: expected a finite number >= 0"):
        L1(0.1).prox({"kernel": jnp.ones(3)}, -1.0)


# --------------------------------------------------------------------------- traced strengths
def test_strengths_traced_under_jit_and_vmap():
    params = _params(np.random.default_rng(4))
    strengths = jnp.array([0.0, 0.01, 0.1, 1.0])
    grid = jax.jit(jax.vmap(lambda s: ElasticNet(s, 2 * s)(params)))(strengths)
    loop = [float(ElasticNet(float(s), 2 * float(s))(params)) for s in strengths]
    np.testing.assert_allclose(grid, loop, rtol=1e-6)
    proxed = jax.vmap(lambda s: L1(s).prox(params, 0.5))(strengths)
    for i, s in enumerate(strengths):
        want = L1(float(s)).prox(params, 0.5)
        np.testing.assert_allclose(proxed["Dense_1"]["kernel"][i], want["Dense_1"]["kernel"])


def test_regularizer_is_a_pytree_argument_to_jit():
    params = _params(np.random.default_rng(5))
    reg = GroupLasso(0.2, axis=(0,))
    assert jax.tree.leaves(reg) == [0.2]
    f = jax.jit(lambda r, p: r(p))
    assert float(f(reg, params)) == pytest.approx(float(reg(params)), rel=1e-6)
    # A new strength reuses the compiled function (strengths are traced leaves).
    f(GroupLasso(0.7, axis=(0,)), params)
    assert f._cache_size() == 1


# --------------------------------------------------------------------------- proximal maps
def _flat_kernels(tree):
    return np.concatenate([np.ravel(np.asarray(v["kernel"], np.float64)) for v in tree.values()])


@pytest.mark.parametrize("seed", range(3))
def test_elastic_net_prox_optimality_conditions(seed, x64):
    rng = np.random.default_rng(seed)
    l1, l2, step = rng.uniform(0.1, 1.0, size=3)
    v = _params(rng, "float64")
    w = ElasticNet(l1, l2).prox(v, step)
    vk, wk = _flat_kernels(v), _flat_kernels(w)
    zero = wk == 0
    assert zero.any() and (~zero).any()
    # 0 in (w - v) + step * (l1 * d|w| + 2 * l2 * w)
    residual = wk[~zero] - vk[~zero] + step * (l1 * np.sign(wk[~zero]) + 2 * l2 * wk[~zero])
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)
    assert np.all(np.abs(vk[zero]) <= step * l1 + 1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_group_lasso_prox_optimality_conditions(seed, x64):
    rng = np.random.default_rng(seed)
    strength, step = 0.6, 0.5
    v = {"kernel": jnp.asarray(rng.normal(size=(6, 8)) * rng.uniform(0, 2, size=8))}
    w = np.asarray(GroupLasso(strength, axis=0).prox(v, step)["kernel"])
    vk = np.asarray(v["kernel"])
    t = step * strength * math.sqrt(6)
    for j in range(8):
        norm_w, norm_v = np.linalg.norm(w[:, j]), np.linalg.norm(vk[:, j])
        if norm_w == 0:
            assert norm_v <= t + 1e-12
        else:
            np.testing.assert_allclose(w[:, j] - vk[:, j] + t * w[:, j] / norm_w, 0, atol=1e-12)
    assert (np.linalg.norm(w, axis=0) == 0).any()


@pytest.mark.parametrize("name", list(REGS))
def test_prox_is_the_argmin_nonexpansive_and_fixes_zero(name, x64):
    rng = np.random.default_rng(7)
    reg, step = REGS[name](), 0.8
    a, b = _params(rng, "float64"), _params(rng, "float64")
    pa, pb = reg.prox(a, step), reg.prox(b, step)
    # Non-expansive: ||prox(a) - prox(b)|| <= ||a - b||.
    dist_out = np.linalg.norm(_flat_kernels(pa) - _flat_kernels(pb))
    assert dist_out <= np.linalg.norm(_flat_kernels(a) - _flat_kernels(b)) + 1e-12
    # Zero is a fixed point.
    zeros = jax.tree.map(jnp.zeros_like, a)
    for leaf in jax.tree.leaves(reg.prox(zeros, step)):
        np.testing.assert_array_equal(leaf, 0.0)

    # The prox attains the minimum of 1/2 ||w - a||^2 + step * R(w) among perturbations.
    def objective(w):
        diff = _flat_kernels(w) - _flat_kernels(a)
        return 0.5 * diff @ diff + step * float(reg(w))

    best = objective(pa)
    for _ in range(20):
        noise = jax.tree.map(lambda x: x + 1e-3 * rng.normal(size=x.shape), pa)
        assert objective(noise) >= best - 1e-12


def test_soft_threshold_values_and_l2_shrinkage():
    v = {"kernel": jnp.array([-3.0, -0.5, 0.0, 0.4, 2.0])}
    np.testing.assert_array_equal(L1(1.0).prox(v, 0.5)["kernel"], [-2.5, 0.0, 0.0, 0.0, 1.5])
    np.testing.assert_allclose(L2(1.0).prox(v, 0.5)["kernel"], np.asarray(v["kernel"]) / 2)
    en = ElasticNet(1.0, 1.0).prox(v, 0.5)["kernel"]
    np.testing.assert_allclose(en, [-1.25, 0.0, 0.0, 0.0, 0.75])


def test_group_lasso_axis_selects_rows_or_columns():
    k = jnp.array([[3.0, 0.1], [4.0, 0.1]])  # column norms 5 and ~0.14; row norms ~3, ~4
    cols = GroupLasso(0.5, axis=0).prox({"kernel": k}, 1.0)["kernel"]
    np.testing.assert_array_equal(cols[:, 1], 0.0)  # weak column removed
    assert np.all(np.asarray(cols[:, 0]) != 0)
    rows = GroupLasso(2.0, axis=-1).prox({"kernel": k}, 1.0)["kernel"]
    # threshold 2 * sqrt(2) ~ 2.83 < both row norms: both rows shrink, none vanish
    assert np.all(np.linalg.norm(np.asarray(rows), axis=1) > 0)
    want = np.asarray(k[0]) * (1 - 2 * math.sqrt(2) / np.linalg.norm(np.asarray(k[0])))
    np.testing.assert_allclose(rows[0], want, rtol=1e-6)


def test_from_keras_config_dicts_without_keras():
    assert type(from_keras({"l1": 0.2})) is L1
    assert type(from_keras({"l2": 0.2})) is L2
    en = from_keras({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.3}})
    assert (type(en), en.l1, en.l2) == (ElasticNet, 0.1, 0.3)
    orthogonal = from_keras({"class_name": "OrthogonalRegularizer", "config": {"factor": 0.01}})
    assert (type(orthogonal).__name__, orthogonal.factor, orthogonal.mode) == (
        "Orthogonal",
        0.01,
        "rows",
    )
    with pytest.raises(ValueError, match="'MyPenalty'"):
        from_keras({"class_name": "MyPenalty", "config": {"factor": 0.01}})
    with pytest.raises(ValueError, match=r"unrecognised regularizer config keys \['factor'\]"):
        from_keras({"factor": 0.01})
