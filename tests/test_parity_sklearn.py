"""Proximal gradient on a linear model converges to scikit-learn's Lasso / ElasticNet."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso

from research.optim import proximal
from research.regularizers import L1, ElasticNet

from helpers import regression_problem

pytestmark = pytest.mark.parity


def _design(seed=0, n=80, p=15):
    """Four true features and an intercept of 1.5."""
    true = {1: 2.0, 4: -1.5, 9: 1.0, 12: 0.5}
    return regression_problem(n, p, coef=true, intercept=1.5, noise=0.3, seed=seed)


def _proximal_gradient(x, y, reg, steps):
    """Full-batch ISTA with optax.sgd + proximal on ``1/(2n) ||y - Xw - b||^2``."""
    n, p = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    lr = 1.0 / np.linalg.eigvalsh(xb.T @ xb / n).max()  # 1 / Lipschitz constant
    x, y = jnp.asarray(x), jnp.asarray(y)
    params = {"linear": {"kernel": jnp.zeros(p), "bias": jnp.zeros(())}}

    def loss(q):
        return 0.5 * jnp.mean((x @ q["linear"]["kernel"] + q["linear"]["bias"] - y) ** 2)

    tx = optax.chain(optax.sgd(lr), proximal(reg, lr))

    @jax.jit
    def run(params):
        def step(carry, _):
            q, state = carry
            updates, state = tx.update(jax.grad(loss)(q), state, q)
            return (optax.apply_updates(q, updates), state), None

        (q, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
        return q

    out = run(params)
    return np.asarray(out["linear"]["kernel"]), float(out["linear"]["bias"])


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_proximal_gradient_converges_to_sklearn_lasso(alpha, x64):
    x, y = _design()
    sk = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(x, y)
    coef, intercept = _proximal_gradient(x, y, L1(alpha), steps=5000)
    np.testing.assert_allclose(coef, sk.coef_, rtol=0, atol=1e-6)
    assert intercept == pytest.approx(sk.intercept_, abs=1e-6)
    np.testing.assert_array_equal(coef == 0, sk.coef_ == 0)
    assert 0 < (coef == 0).sum() < coef.size  # a real sparsity pattern


@pytest.mark.parametrize("l1_ratio", [0.3, 0.7])
def test_proximal_gradient_converges_to_sklearn_elastic_net(l1_ratio, x64):
    x, y = _design(1)
    alpha = 0.2
    sk = SkElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=1_000_000).fit(x, y)
    # scikit-learn's penalty is alpha * l1_ratio * |w|_1 + alpha * (1 - l1_ratio) / 2 * ||w||^2.
    reg = ElasticNet(l1=alpha * l1_ratio, l2=alpha * (1 - l1_ratio) / 2)
    coef, intercept = _proximal_gradient(x, y, reg, steps=5000)
    np.testing.assert_allclose(coef, sk.coef_, rtol=0, atol=1e-6)
    assert intercept == pytest.approx(sk.intercept_, abs=1e-6)
    np.testing.assert_array_equal(coef == 0, sk.coef_ == 0)
    assert 0 < (coef == 0).sum() < coef.size
