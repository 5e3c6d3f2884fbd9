"""research.lasso_path against scikit-learn's lasso_path / enet_path and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path
from sklearn.linear_model import lasso_path as sk_lasso_path

import research
from research._lasso_kernels import _exact
from research.lasso import lasso_path

from helpers import regression_problem

pytestmark = pytest.mark.parity


def _problem(n, p, informative=5, seed=0):
    """Standard normal features, two of them correlated; ``informative`` nonzero weights."""
    return regression_problem(n, p, informative=informative, pair=0.1, noise=0.3, seed=seed)


def _relative_gap(X, y, alphas, coefs, l1_ratio=1.0):
    """scikit-learn's duality gap (n-scaled) over ||y||^2, from scratch, per strength."""
    n = len(y)
    out = []
    for alpha, w in zip(alphas, coefs.T, strict=True):
        a, b = alpha * l1_ratio * n, alpha * (1 - l1_ratio) * n
        r = y - X @ w
        xta = X.T @ r - b * w
        scale = min(1.0, a / np.abs(xta).max()) if np.abs(xta).max() > 0 else 1.0
        primal = 0.5 * (r @ r + b * w @ w) + a * np.abs(w).sum()
        dual = -0.5 * scale**2 * (r @ r + b * w @ w) + scale * (r @ y)
        out.append((primal - dual) / (y @ y))
    return np.array(out)


def _objective(X, y, alpha, w, l1_ratio=1.0):
    r = y - X @ w
    return r @ r / (2 * len(y)) + alpha * (
        l1_ratio * np.abs(w).sum() + 0.5 * (1 - l1_ratio) * w @ w
    )


def test_public_name_is_the_solver():
    assert research.lasso_path is lasso_path


@pytest.mark.parametrize(("n", "p"), [(200, 40), (60, 300)], ids=["gram", "residual"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_matches_scikit_learn_path(n, p, l1_ratio):
    X, y = _problem(n, p)
    # eps=1e-2 keeps p > n off the near-interpolating end, where the coefficients are
    # ill-conditioned (there, the objective is compared: the next test).
    alphas, coefs, gaps = lasso_path(X, y, alphas=30, eps=1e-2, l1_ratio=l1_ratio, tol=1e-10)
    sk_alphas, sk_coefs, _ = enet_path(
        X, y, alphas=30, eps=1e-2, l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000
    )
    np.testing.assert_allclose(alphas, sk_alphas, rtol=1e-12)
    assert coefs.shape == (p, 30) and coefs.dtype == np.float64
    np.testing.assert_allclose(coefs, sk_coefs, atol=1e-5)
    assert np.array_equal(coefs != 0, sk_coefs != 0)
    relative = _relative_gap(X, y, alphas, coefs, l1_ratio)
    assert relative.max() <= 1e-10 * (1 + 1e-6)
    # dual_gaps are scikit-learn's: the gap of the 1/(2n)-scaled objective.
    np.testing.assert_allclose(gaps, relative * (y @ y) / n, rtol=1e-3, atol=1e-12 * (y @ y) / n)


@pytest.mark.parametrize(("n", "p"), [(300, 100), (80, 400)], ids=["gram", "residual"])
def test_default_tolerance_certified_and_same_support(n, p):
    """At tol=1e-6 every strength's gap is within scikit-learn's stopping rule, and the
    objective is as low as scikit-learn's at the same tolerance (to that rule)."""
    X, y = _problem(n, p, informative=10, seed=1)
    alphas, coefs, _ = lasso_path(X, y)  # alphas=50, eps=1e-3, tol=1e-6
    assert alphas.size == 50 and alphas[-1] == pytest.approx(alphas[0] * 1e-3)
    assert _relative_gap(X, y, alphas, coefs).max() <= 1e-6 * (1 + 1e-6)
    _, sk_coefs, _ = sk_lasso_path(X, y, alphas=alphas, tol=1e-6)
    for k, alpha in enumerate(alphas):
        ours, theirs = _objective(X, y, alpha, coefs[:, k]), _objective(X, y, alpha, sk_coefs[:, k])
        assert ours <= theirs + 1e-6 * (y @ y) / len(y)
    if n > p:  # a well-posed path: the supports agree exactly
        assert np.array_equal(coefs != 0, sk_coefs != 0)


@pytest.mark.parametrize(
    ("n", "p", "l1_ratio", "seed"),
    [
        (300, 100, 1.0, 5),
        (300, 100, 0.5, 2),
        (80, 400, 1.0, 3),
        (100, 200, 1.0, 1),
        (100, 200, 0.5, 5),
    ],
)
def test_default_tolerance_has_the_converged_zero_pattern(n, p, l1_ratio, seed):
    """At tol=1e-6 the zeros are those of scikit-learn's path solved to tol=1e-13, at every
    strength: a feature whose dual constraint is nearly active gets no spurious coefficient,
    and no feature of the solution is screened out (these problems have both at tol=1e-6
    without the support's polish)."""
    X, y = _problem(n, p, informative=10, seed=seed)
    alphas, coefs, _ = lasso_path(X, y, l1_ratio=l1_ratio)
    _, exact, _ = enet_path(X, y, alphas=alphas, l1_ratio=l1_ratio, tol=1e-13, max_iter=10**6)
    mismatched = np.flatnonzero(((coefs != 0) != (exact != 0)).any(axis=0))
    assert mismatched.size == 0, f"zero pattern differs at strengths {alphas[mismatched]}"
    assert _relative_gap(X, y, alphas, coefs, l1_ratio).max() <= 1e-6 * (1 + 1e-6)


def test_array_of_alphas_is_sorted_decreasing_and_ridge_matches_closed_form():
    X, y = _problem(50, 8)
    given = np.array([0.01, 1.0, 0.1])
    alphas, coefs, _ = lasso_path(X, y, alphas=given, l1_ratio=0.0, tol=1e-14)
    np.testing.assert_array_equal(alphas, [1.0, 0.1, 0.01])
    n = len(y)
    for k, alpha in enumerate(alphas):  # (X'X + n alpha I) w = X'y
        ridge = np.linalg.solve(X.T @ X + n * alpha * np.eye(8), X.T @ y)
        # The n-scaled objective is (n alpha)-strongly convex: |w - w*|^2 <= 2 gap / (n alpha).
        bound = np.sqrt(2 * 1e-14 * (y @ y) / (n * alpha))
        assert np.linalg.norm(coefs[:, k] - ridge) <= bound
        assert np.linalg.norm(coefs[:, k] - ridge) < 1e-3 * np.linalg.norm(ridge)


def test_first_strength_is_the_smallest_with_all_zero_and_just_below_it_is_not():
    X, y = _problem(100, 20)
    alphas, coefs, _ = lasso_path(X, y, alphas=3)
    assert alphas[0] == pytest.approx(np.abs(X.T @ y).max() / len(y), rel=1e-12)
    assert not coefs[:, 0].any()
    _, below, _ = lasso_path(X, y, alphas=[alphas[0] * 0.99])
    assert np.count_nonzero(below) == 1


def test_edge_cases_zero_column_zero_target_and_float32():
    X, y = _problem(60, 10)
    X[:, 3] = 0.0
    _, coefs, _ = lasso_path(X, y, alphas=10, tol=1e-10)
    assert not coefs[3].any() and coefs[:, -1].any()
    _, sk_coefs, _ = sk_lasso_path(X, y, alphas=10, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(coefs, sk_coefs, atol=1e-6)
    alphas, zero, gaps = lasso_path(X, np.zeros(60), alphas=4)
    assert not zero.any() and np.all(gaps == 0) and np.all(alphas > 0)
    _, c32, _ = lasso_path(X.astype(np.float32), y.astype(np.float32), alphas=10, tol=1e-10)
    assert c32.dtype == np.float32
    np.testing.assert_allclose(c32, coefs, atol=1e-4)


def test_max_iter_reached_warns_naming_the_strength():
    X, y = _problem(40, 200, informative=20)
    with pytest.warns(ConvergenceWarning, match=r"alpha=.* did not converge in max_iter=1 "):
        _, _, gaps = lasso_path(X, y, alphas=5, max_iter=1)
    assert gaps[-1] * len(y) > 1e-6 * (y @ y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lasso_path(X, y, alphas=5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.ones(5)}, r"^X: expected a 2-D array"),
        ({"y": np.ones(7)}, r"^y: expected a 1-D array of 6 targets"),
        ({"y": np.ones((6, 2))}, r"^y: expected a 1-D array"),
        ({"y": np.array([1, 2, np.nan, 4, 5, 6.0])}, r"^y: contains NaN"),
        ({"alphas": 0}, r"^alphas: expected an int >= 1"),
        ({"alphas": []}, r"^alphas: expected an int >= 1 or a 1-D array"),
        ({"alphas": [0.1, -1.0]}, r"^alphas: strengths must be finite and >= 0"),
        ({"eps": 0.0}, r"^eps: expected a number > 0"),
        ({"l1_ratio": 1.5}, r"^l1_ratio: expected a number in \[0, 1\]"),
        ({"l1_ratio": 0.0}, r"^l1_ratio: a grid of strengths"),
        ({"tol": -1.0}, r"^tol: expected a number >= 0"),
        ({"max_iter": 0}, r"^max_iter: expected an int >= 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"X": np.arange(12.0).reshape(6, 2), "y": np.arange(6.0)}
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        lasso_path(X, y, **args)


# Gap-safe screening against rounding. Both problems below have two orthogonal features, so
# each strength's solution is known in closed form: w_j = max(x_j'y - a, 0) / ||x_j||^2 with
# a = n alpha. With x_1'y = 1 = max_j |x_j'y|, ||y||^2 = 2^16 and n = 8, the duality gap at
# the start of a strength (w = 0) is computed with a rounding that is known exactly. The second
# feature is active at the solution, yet its computed distance to its dual constraint lies just
# past the safe radius computed from that rounded gap: it is kept only by the screening's
# margins (research._lasso_kernels.KKT_SLACK and the gap floor ROUNDING * ||y||^2).
# scikit-learn's coordinate descent screens without such margins (and on the second problem
# stops at w = 0 on its rounded gap of 0), so the reference is the closed form.
_SCREEN_Y = np.array([1.0, 255.0, 22.0, 5.0, 1.0, 0.0, 0.0, 0.0])  # ||y||^2 = 2^16


def _orthogonal_pair(u, zero_columns):
    """``(X, y)``: ``x_1 = e_1`` (``x_1'y = 1``: ``alpha_max = 1/8``, ``n = 8``) and ``x_2``
    along y's other coordinates with ``x_2'y = u``; ``zero_columns`` all-zero columns after
    them (7 makes ``p > n``: the residual form, 0 the Gram form)."""
    X = np.zeros((8, 2 + zero_columns))
    X[0, 0] = 1.0
    X[1:, 1] = _SCREEN_Y[1:] * (u / (_SCREEN_Y[1:] @ _SCREEN_Y[1:]))
    return X, _SCREEN_Y.copy()


def _check_orthogonal_solution(X, y, a, w, rtol):
    """``w`` is the closed-form solution at ``a = n alpha`` (zeros exactly, the rest to
    ``rtol``) and satisfies the KKT conditions, both in float64 numpy."""
    q, norms = X.T @ y, np.einsum("ij,ij->j", X, X)
    exact = np.divide(np.maximum(q - a, 0.0), norms, out=np.zeros_like(q), where=norms > 0)
    assert exact[0] > 0 and exact[1] > 0  # both features are active at the solution
    xtr = X.T @ (y - X @ w)
    # x_2 screened out: w_2 = 0 and x_2'r = x_2'y > a.
    assert np.array_equal(w != 0, exact != 0), (
        f"w[:2] = {w[:2]}, solution {exact[:2]}; x_j'r / a - 1 = {xtr[:2] / a - 1}"
    )
    np.testing.assert_allclose(w, exact, rtol=rtol, atol=0)
    assert np.all(np.abs(xtr[w == 0]) <= a)
    np.testing.assert_allclose(xtr[w != 0], a, rtol=1e-12)


@pytest.mark.parametrize("zero_columns", [0, 7], ids=["gram", "residual"])
def test_screening_keeps_an_active_feature_past_the_rounded_radius(zero_columns):
    """The strength ``a = s = 1 - m 2^-53`` puts the gap at w = 0 at (m^2 / 2^54) 2^-53 ||y||^2
    = 902.70 x 2^-53 ||y||^2 (just above the floor 1e-13 ||y||^2 = 900.72 x 2^-53 ||y||^2),
    computed as 902 x 2^-53 ||y||^2 (double rounding, ties to even): the safe radius comes out
    3.9e-4 smaller than its exact value. ``x_2'y = s (1 + 1e-4 (1 - s))`` puts x_2's distance
    within 1.1e-4 of the exact radius, so past the computed one by about 2.8e-4 of it (a
    margin of 1.3e-10 where KKT_SLACK gives 1e-9); its coefficient is 2.93e-6."""
    m = 4032567114
    s = 1.0 - m * 2.0**-53
    X, y = _orthogonal_pair(s * (1.0 + 1e-4 * (1.0 - s)), zero_columns)
    alphas, coefs, _ = lasso_path(X, y, alphas=[1 / 8, s / 8])
    np.testing.assert_array_equal(alphas, [1 / 8, s / 8])
    assert not coefs[:, 0].any()
    _check_orthogonal_solution(X, y, s, coefs[:, 1], rtol=1e-4)


@pytest.mark.parametrize("zero_columns", [0, 7], ids=["gram", "residual"])
def test_screening_keeps_an_active_feature_when_the_gap_rounds_to_zero(zero_columns):
    """At ``a = 1 - 2^-28`` (just below alpha_max) the gap at w = 0 is 2^-57 ||y||^2 = 6.9e-18
    ||y||^2, computed as exactly 0: without a floor the safe radius would be 0 and every
    feature farther than KKT_SLACK from its dual constraint would be screened out, x_2 among
    them (``x_2'y = 1 - 2^-29``: 1.9e-9 away at w = 0, active at the solution with a
    coefficient of 1.22e-4)."""
    a = 1.0 - 2.0**-28
    X, y = _orthogonal_pair(1.0 - 2.0**-29, zero_columns)
    alphas, coefs, _ = lasso_path(X, y, alphas=[1 / 8, a / 8])
    np.testing.assert_array_equal(alphas, [1 / 8, a / 8])
    assert not coefs[:, 0].any()
    _check_orthogonal_solution(X, y, a, coefs[:, 1], rtol=1e-6)


def _exact_inputs(X, y, w):
    """The arguments of ``_lasso_kernels._exact`` for ``w`` (residual form, empty cache)."""
    p = X.shape[1]
    X = np.asfortranarray(X, dtype=np.float64)
    r = y - X @ w
    cache = np.empty((p, p))
    members = np.zeros(1 + len(cache), np.int64)
    return X, X.T @ y, y, r, w.copy(), np.full(p, -1, dtype=np.int64), members, cache


@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
def test_exact_step_solves_the_support_and_drops_a_spurious_coefficient(l1_ratio):
    """With p >> n near the interpolating end, the support's linear system gives the
    solution to rounding (scikit-learn at tol=1e-14 agrees to 1e-9) from a point with
    the right signs but coefficients off by 10%, and from one with a spurious coefficient
    (the feature nearest to its dual constraint, with that constraint's sign, as coordinate
    descent leaves one), which it drops; the products it keeps serve the second call."""
    X, y = _problem(60, 300, informative=10, seed=4)
    n = len(y)
    alpha = 0.02
    _, sk, _ = enet_path(X, y, alphas=[alpha], l1_ratio=l1_ratio, tol=1e-14, max_iter=10**6)
    solution = sk[:, 0]
    support = np.flatnonzero(solution)
    assert support.size > 10 and (support.size < n - 1 or l1_ratio < 1)
    a, b = alpha * l1_ratio * n, alpha * (1 - l1_ratio) * n
    start = solution * np.random.default_rng(0).uniform(0.9, 1.1, solution.size)
    args = _exact_inputs(X, y, start)
    X_, q, y_, r, w, slots, members, cache = args
    assert _exact(X_, q, y_, r, w, a, b, slots, members, cache)
    np.testing.assert_allclose(w, solution, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r, y - X @ w, atol=1e-10)
    assert members[0] == support.size  # every product of the support kept
    off = np.setdiff1d(np.arange(X.shape[1]), support)
    spurious = off[np.argmax(np.abs(X[:, off].T @ (y - X @ solution)))]
    start = solution.copy()
    start[spurious] = 1e-3 * np.sign(X[:, spurious] @ (y - X @ solution))
    r = y - X @ start
    w = start.copy()
    assert _exact(X_, q, y_, r, w, a, b, slots, members, cache)
    assert w[spurious] == 0.0
    np.testing.assert_allclose(w, solution, rtol=0, atol=1e-9)
    assert members[0] == support.size + 1


def test_exact_step_refuses_a_support_it_cannot_solve():
    """Signs far off (half the support flipped), or a support of n features: the step
    changes nothing and says so, and coordinate descent goes on from the same point."""
    X, y = _problem(40, 200, informative=10, seed=2)
    n = len(y)
    _, sk, _ = sk_lasso_path(X, y, alphas=[0.05], tol=1e-14, max_iter=10**6)
    wrong = sk[:, 0].copy()
    nz = np.flatnonzero(wrong)
    wrong[nz[::2]] *= -1
    for start in (wrong, np.r_[np.ones(n), np.zeros(X.shape[1] - n)]):
        X_, q, y_, r, w, slots, members, cache = _exact_inputs(X, y, start)
        before = (r.copy(), w.copy())
        assert not _exact(X_, q, y_, r, w, 0.05 * n, 0.0, slots, members, cache)
        assert np.array_equal(r, before[0]) and np.array_equal(w, before[1])
