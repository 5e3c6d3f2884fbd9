"""The optax transforms: exact steps, composition with optax, the Stats.SE answer's numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.optim import add_regularization, proximal, proximal_adagrad, proximal_adam
from research.regularizers import L1, L2, ElasticNet, GroupLasso

from helpers import regression_problem


def _problem(seed=0):
    """A tiny regression with a two-layer linear net and its loss."""
    rng = np.random.default_rng(seed)
    params = {
        "dense0": {
            "kernel": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
            "bias": jnp.zeros(4),
        },
        "dense1": {
            "kernel": jnp.asarray(rng.normal(size=(4, 1)), jnp.float32),
            "bias": jnp.ones(1),
        },
    }
    params["dense0"]["kernel"] = params["dense0"]["kernel"].at[0, 1].set(0.0)
    x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(16, 1)), jnp.float32)

    def loss(p):
        h = x @ p["dense0"]["kernel"] + p["dense0"]["bias"]
        return jnp.mean((h @ p["dense1"]["kernel"] + p["dense1"]["bias"] - y) ** 2)

    return params, loss


def _step(tx, params, grads):
    state = tx.init(params)
    updates, _ = tx.update(grads, state, params)
    return optax.apply_updates(params, updates)


def _np(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def test_add_regularization_is_sgd_on_loss_plus_penalty():
    params, loss = _problem()
    l1, l2, lr = 0.05, 0.3, 0.1
    grads = jax.grad(loss)(params)
    got = _step(optax.chain(add_regularization(ElasticNet(l1, l2)), optax.sgd(lr)), params, grads)
    p, g = _np(params), _np(grads)
    for layer in ("dense0", "dense1"):
        k = p[layer]["kernel"]
        want = k - lr * (g[layer]["kernel"] + l1 * np.sign(k) + 2 * l2 * k)
        np.testing.assert_allclose(got[layer]["kernel"], want, rtol=1e-6, atol=1e-7)
        # Biases see the loss gradient only.
        want_b = p[layer]["bias"] - lr * g[layer]["bias"]
        np.testing.assert_allclose(got[layer]["bias"], want_b, rtol=1e-6, atol=1e-7)
    # Same as differentiating loss + penalty (the penalty's autodiff has sign(0) = 0).
    auto = _step(optax.sgd(lr), params, jax.grad(lambda q: loss(q) + ElasticNet(l1, l2)(q))(params))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_proximal_after_sgd_is_soft_thresholding_and_gives_exact_zeros():
    params, loss = _problem(1)
    l1, l2, lr = 2.0, 0.5, 0.1
    grads = jax.grad(loss)(params)
    got = _step(optax.chain(optax.sgd(lr), proximal(ElasticNet(l1, l2), lr)), params, grads)
    p, g = _np(params), _np(grads)
    for layer in ("dense0", "dense1"):
        v = p[layer]["kernel"] - lr * g[layer]["kernel"]
        want = np.sign(v) * np.maximum(np.abs(v) - lr * l1, 0) / (1 + 2 * lr * l2)
        np.testing.assert_allclose(got[layer]["kernel"], want, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(got[layer]["kernel"]) == 0, want == 0)
        want_b = p[layer]["bias"] - lr * g[layer]["bias"]
        np.testing.assert_allclose(got[layer]["bias"], want_b, rtol=1e-6, atol=1e-7)
    assert np.sum(np.asarray(got["dense0"]["kernel"]) == 0) >= 3


def test_proximal_follows_a_schedule_at_the_step_count():
    schedule = optax.linear_schedule(1.0, 0.0, transition_steps=4)
    tx = proximal(L1(1.0), learning_rate=schedule)
    w = {"kernel": jnp.array([10.0])}
    state = tx.init(w)
    thresholds = []
    for _ in range(4):
        updates, state = tx.update({"kernel": jnp.zeros(1)}, state, w)
        new = optax.apply_updates(w, updates)
        thresholds.append(float(w["kernel"][0] - new["kernel"][0]))
        w = new
    np.testing.assert_allclose(thresholds, [1.0, 0.75, 0.5, 0.25])


def test_negative_learning_rate_and_missing_params_raise():
    with pytest.raises(ValueError, match="^learning_rate: expected a finite number >= 0"):
        proximal(L1(0.1), learning_rate=-0.01)
    with pytest.raises(ValueError, match="^learning_rate"):
        proximal_adam(L1(0.1), learning_rate=float("nan"))
    tx = add_regularization(L1(0.1))
    with pytest.raises(ValueError, match="add_regularization: update.. needs the current params"):
        tx.update({"kernel": jnp.ones(2)}, tx.init(None))
    with pytest.raises(TypeError, match="reg: expected a research.regularizers"):
        proximal("l1", 0.1)
    with pytest.raises(ValueError, match="reg: proximal_adam needs a separable penalty"):
        proximal_adam(GroupLasso(0.1), 0.1)


def test_transforms_under_jit_and_vmap_over_seeds_and_strengths():
    params, loss = _problem(2)
    grads = jax.grad(loss)(params)
    batched = jax.tree.map(lambda a: jnp.stack([a, 2 * a, -a]), params)
    batched_grads = jax.tree.map(lambda a: jnp.stack([a, a, a]), grads)
    tx = optax.chain(optax.sgd(0.1), proximal(L1(0.5), 0.1))

    @jax.jit
    @jax.vmap
    def step(p, g):
        return _step(tx, p, g)

    out = step(batched, batched_grads)
    for i in range(3):
        one = _step(tx, jax.tree.map(lambda a, i=i: a[i], batched), grads)
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(one), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-7)

    strengths = jnp.array([0.0, 0.5, 50.0])
    sweep = jax.jit(
        jax.vmap(lambda s: _step(optax.chain(optax.sgd(0.1), proximal(L1(s), 0.1)), params, grads))
    )(strengths)
    for i, s in enumerate(strengths):
        one = _step(optax.chain(optax.sgd(0.1), proximal(L1(float(s)), 0.1)), params, grads)
        np.testing.assert_allclose(sweep["dense0"]["kernel"][i], one["dense0"]["kernel"], atol=1e-7)
    np.testing.assert_array_equal(
        sweep["dense0"]["kernel"][2], 0.0
    )  # threshold 50 * 0.1 wipes it out


def test_optax_masked_and_explicit_mask():
    params, loss = _problem(3)
    grads = jax.grad(loss)(params)
    only_first = {"dense0": True, "dense1": False}
    tx = optax.chain(optax.sgd(0.1), optax.masked(proximal(L1(100.0), 0.1), only_first))
    got = _step(tx, params, grads)
    np.testing.assert_array_equal(got["dense0"]["kernel"], 0.0)
    np.testing.assert_array_equal(
        got["dense0"]["bias"], params["dense0"]["bias"] - 0.1 * grads["dense0"]["bias"]
    )
    assert np.all(np.asarray(got["dense1"]["kernel"]) != 0)
    # mask= on the transform replaces the kernel-only default: biases get shrunk too.
    tx = optax.chain(
        optax.sgd(0.1), proximal(L1(100.0), 0.1, mask=lambda p: jax.tree.map(lambda _: True, p))
    )
    got = _step(tx, params, grads)
    for leaf in jax.tree.leaves(got):
        np.testing.assert_array_equal(leaf, 0.0)


def test_inject_hyperparams_learning_rate_is_used_by_the_prox():
    tx = optax.inject_hyperparams(proximal, static_args=("reg", "mask"))(
        reg=L1(1.0), learning_rate=0.5
    )
    w = {"kernel": jnp.array([3.0])}
    state = tx.init(w)
    updates, state = tx.update({"kernel": jnp.zeros(1)}, state, w)
    assert float(updates["kernel"][0]) == pytest.approx(-0.5)
    state.hyperparams["learning_rate"] = jnp.asarray(2.0)
    updates, state = tx.update({"kernel": jnp.zeros(1)}, state, w)
    assert float(updates["kernel"][0]) == pytest.approx(-2.0)


# --------------------------------------------------------------------------- the Stats.SE answer
def _descend(tx, w0, steps):
    w = {"kernel": jnp.asarray(w0, jnp.float32)}
    state = tx.init(w)
    path = [float(w["kernel"])]
    for _ in range(steps):
        updates, state = tx.update({"kernel": jnp.zeros_like(w["kernel"])}, state, w)
        w = optax.apply_updates(w, updates)
        path.append(float(w["kernel"]))
    return np.array(path)


def test_stats_answer_l1_subgradient_reaches_zero_in_exactly_ten_steps_and_stays():
    # Stats.SE answer: L1(w) = |w|, eta = 1/2, from w = 5.
    path = _descend(optax.chain(add_regularization(L1(1.0)), optax.sgd(0.5)), 5.0, 20)
    np.testing.assert_array_equal(path[:11], 5.0 - 0.5 * np.arange(11))
    assert path[10] == 0.0 and path[9] == 0.5
    np.testing.assert_array_equal(path[10:], 0.0)  # sign(0) = 0 keeps it there
    prox_path = _descend(optax.chain(optax.sgd(0.5), proximal(L1(1.0), 0.5)), 5.0, 20)
    np.testing.assert_array_equal(prox_path, path)


def test_stats_answer_l2_halves_each_step_and_never_reaches_zero():
    # L2(w) = w**2 / 2 is Keras L2(0.5): gradient w, so w <- w - w / 2.
    path = _descend(optax.chain(add_regularization(L2(0.5)), optax.sgd(0.5)), 5.0, 100)
    np.testing.assert_array_equal(path, 5.0 * 0.5 ** np.arange(101))
    assert np.all(path > 0)


# --------------------------------------------------------------------------- preconditioned
def _run(tx, params, loss, steps=5):
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_preconditioned_variants_without_penalty_are_adam_and_adagrad():
    params, loss = _problem(4)
    for ours, reference in [
        (proximal_adam(L1(0.0), 0.01), optax.adam(0.01)),
        (proximal_adagrad(L1(0.0), 0.1), optax.adagrad(0.1, eps=0.0)),
    ]:
        a, b = _run(ours, params, loss), _run(reference, params, loss)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_proximal_adam_thresholds_each_coordinate_by_its_own_step():
    params, loss = _problem(5)
    lr, l1 = 0.05, 5.0
    tx = proximal_adam(L1(l1), lr)
    state = tx.init(params)
    grads = jax.grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    # After one Adam step m_hat = g and sqrt(v_hat) = |g|: the step is lr / (|g| + eps).
    g = np.asarray(grads["dense0"]["kernel"], np.float64)
    k = np.asarray(params["dense0"]["kernel"], np.float64)
    s = lr / (np.abs(g) + 1e-8)
    v = k - s * g
    want = np.sign(v) * np.maximum(np.abs(v) - s * l1, 0)
    np.testing.assert_allclose(new["dense0"]["kernel"], want, rtol=1e-5, atol=1e-6)
    zeros = np.asarray(new["dense0"]["kernel"]) == 0
    assert zeros.any() and not zeros.all()


def test_fista_converges_faster_than_ista_to_the_lasso_solution(x64):
    from sklearn.linear_model import Lasso

    from research.optim import fista

    # Correlated columns make the problem ill-conditioned, where acceleration shows.
    coef = {0: 2.0, 1: -1.0, 2: 1.5, 3: 0.5}
    x, y = regression_problem(200, 40, coef=coef, common=(0.9, 0.3), noise=0.1, seed=0)
    alpha = 0.02
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(x, y)
    lr = 1.0 / np.linalg.eigvalsh(x.T @ x / 200).max()

    def objective(w):
        return 0.5 * np.mean((x @ w - y) ** 2) + alpha * np.abs(w).sum()

    grad = jax.jit(jax.grad(lambda q: 0.5 * jnp.mean((x @ q["kernel"] - y) ** 2)))

    def run(tx, steps):
        params = {"kernel": jnp.zeros(40)}
        state = tx.init(params)
        for _ in range(steps):
            updates, state = tx.update(grad(params), state, params)
            params = optax.apply_updates(params, updates)
        return params, state

    _, state = run(fista(L1(alpha), lr), 1000)
    ista, _ = run(optax.chain(optax.sgd(lr), proximal(L1(alpha), lr)), 1000)
    best = objective(sk.coef_)
    gap_fista = (objective(np.asarray(state.x["kernel"])) - best) / best
    gap_ista = (objective(np.asarray(ista["kernel"])) - best) / best
    # Same 1000 steps: FISTA's relative gap ~1e-6, ISTA's ~1e-2 on this design.
    assert gap_fista < 1e-5
    assert gap_ista > 1e-3
    np.testing.assert_array_equal(np.asarray(state.x["kernel"]) == 0, sk.coef_ == 0)
