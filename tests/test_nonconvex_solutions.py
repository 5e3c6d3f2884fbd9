"""Full-batch MCP and SCAD linear regression solved with the optax transforms (proximal
gradient and FISTA, float64) against skglm 0.5's estimators on the same data: the same
coefficients to 1e-9 and the same exact zeros.

The problem, ``min_w ||y - X w||**2 / (2 n) + R(w)``, has standardized, nearly orthogonal
columns: the smallest eigenvalue of ``X^T X / n`` exceeds the penalty's largest negative
curvature (``1 / gamma`` for MCP, ``1 / (a - 1)`` for SCAD), so the objective is strongly
convex and both solvers must reach its one minimizer. skglm's ``Quadratic`` datafit is
``||y - Xw||**2 / (2 n)`` and its ``MCPenalty(alpha, gamma)`` and ``SCAD(alpha, gamma)``
are ``MCP(alpha, gamma)`` and ``SCAD(alpha, a=gamma)`` here (tests/test_nonconvex.py).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax
from skglm import GeneralizedLinearEstimator, MCPRegression
from skglm.datafits import Quadratic
from skglm.penalties import SCAD as SkSCAD
from skglm.solvers import AndersonCD

from research.optim import fista, proximal
from research.regularizers import L1, MCP, SCAD

pytestmark = [pytest.mark.parity, pytest.mark.slow]  # skglm compiles its solver (about 10 s)

STRENGTH = 0.2
GAMMA = 2.0  # MCP: convex objective when the smallest eigenvalue exceeds 1 / 2
A = 3.0  # SCAD: convex objective when the smallest eigenvalue exceeds 1 / (3 - 1)
ITERATIONS = 2000


@functools.cache
def _problem():
    """``X`` (200 x 20): an orthonormal basis times ``sqrt(n)`` plus Gaussian noise, columns
    scaled to mean square 1; ``y = X w + 0.5 * N(0, 1)`` with 8 non-zero entries of ``w``
    (3 down to 0.3) and 12 zeros."""
    n, p = 200, 20
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((n, p)))[0]
    X = np.sqrt(n) * q + 0.5 * rng.standard_normal((n, p))
    X /= np.sqrt((X**2).mean(axis=0))
    w = np.zeros(p)
    w[:8] = [3.0, -2.5, 2.0, -1.5, 1.0, -0.8, 0.6, 0.3]
    return X, X @ w + 0.5 * rng.standard_normal(n)


def _eigenvalues():
    X, _ = _problem()
    return np.linalg.eigvalsh(X.T @ X / len(X))


def _solve(reg, transform):
    """Our minimizer: ``ITERATIONS`` steps of ``proximal`` after ``optax.sgd`` (ISTA) or of
    ``fista``, with the step ``1 / L`` (``L`` the largest eigenvalue of ``X^T X / n``),
    under ``jax.jit`` and ``lax.fori_loop``; for FISTA the proximal point ``state.x``."""
    X, y = map(jnp.asarray, _problem())
    n, p = X.shape
    lr = 1 / float(_eigenvalues().max())
    if transform == "proximal":
        tx = optax.chain(optax.sgd(lr), proximal(reg, learning_rate=lr))
    else:
        tx = fista(reg, learning_rate=lr)

    def step(_, carry):
        params, state = carry
        grads = {"kernel": X.T @ (X @ params["kernel"] - y) / n}
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    params = {"kernel": jnp.zeros(p)}
    params, state = jax.jit(lambda p: lax.fori_loop(0, ITERATIONS, step, (p, tx.init(p))))(params)
    w = state.x["kernel"] if transform == "fista" else params["kernel"]
    assert w.dtype == jnp.float64
    # Converged: w is a fixed point of the proximal gradient step.
    again = reg.prox({"kernel": w - lr * X.T @ (X @ w - y) / n}, lr)["kernel"]
    np.testing.assert_allclose(again, w, rtol=0, atol=1e-12)
    return np.asarray(w)


@functools.cache
def _skglm(name):
    X, y = _problem()
    if name == "mcp":
        est = MCPRegression(STRENGTH, gamma=GAMMA, fit_intercept=False, tol=1e-12, max_iter=1000)
    else:
        solver = AndersonCD(max_iter=1000, tol=1e-12, fit_intercept=False)
        est = GeneralizedLinearEstimator(Quadratic(), SkSCAD(STRENGTH, A), solver)
    return est.fit(X, y).coef_


@functools.cache
def _lasso():
    """Our Lasso solution at the same strength (``L1(STRENGTH)``)."""
    return _solve(L1(STRENGTH), "proximal")


CASES = {
    "mcp": (lambda: MCP(STRENGTH, gamma=GAMMA), 1 / GAMMA),
    "scad": (lambda: SCAD(STRENGTH, a=A), 1 / (A - 1)),
}


@pytest.mark.parametrize("transform", ["proximal", "fista"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_mcp_and_scad_regression_match_skglm_and_differ_from_the_lasso(x64, name, transform):
    make, curvature = CASES[name]
    assert _eigenvalues().min() > curvature + 0.2  # strongly convex, with a margin
    ours, theirs = _solve(make(), transform), _skglm(name)
    # skglm stops when every coordinate's subdifferential distance is <= 1e-12, and the
    # objective is strongly convex (modulus > 0.2): its coefficients are within about
    # sqrt(20) * 1e-12 / 0.2 ~ 2e-11 of the minimizer; ours are a fixed point to 1e-12.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ours == 0, theirs == 0)
    assert 3 <= np.sum(ours == 0) <= 17  # some zeros, some non-zeros
    assert np.abs(ours - _lasso()).max() > 1e-3
