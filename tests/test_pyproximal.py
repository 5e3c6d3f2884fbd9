"""L1, L0, SCAD, MCP and LogSum against pyproximal 0.13.0 (float64): the values, and the
proximal maps ``pyproximal_obj.prox(x, tau)`` on grids of inputs, strengths and steps.

Where pyproximal's map is a closed form of the same global minimizer, the two agree to
1e-12. Where it is not a global minimizer of ``1/2 (w - v)**2 + step * R(w)`` (SCAD and
MCP at steps where that problem is not convex, L0 read as pyproximal documents it, Log1),
ours must have an objective no larger at every input, and the two must agree wherever
pyproximal's output is a global minimizer too; each of those tests also asserts that
the two differ somewhere, with a concrete input.

pyproximal has no Lq (q = 1/2, 2/3) penalty; its ETP and Geman penalties have no
counterpart here.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pyproximal
import pytest

from research.regularizers import L0, L1, MCP, SCAD, LogSum

pytestmark = pytest.mark.parity

V = np.concatenate([np.linspace(-6, 6, 481), [0.0, 1e-9, -1e-9]])
# The grid shifted off round numbers, so no input lies exactly on a threshold, where two
# minimizers tie and each library may return either.
V_OFF = np.concatenate([np.linspace(-6, 6, 481) + 0.00731, [0.0, 1e-9, -1e-9]])
STRENGTHS = [0.1, 0.7, 1.3]
STEPS = [0.05, 0.5, 1.0, 2.0, 4.0]


def _prox(reg, v, step):
    return np.asarray(reg.prox({"kernel": jnp.asarray(v)}, step)["kernel"])


def _value(reg, w):
    return float(reg({"kernel": jnp.asarray(w)}))


def _entry_values(reg, w):
    """The penalty of each entry of ``w`` on its own."""
    return np.asarray(jax.vmap(lambda x: reg({"kernel": x[None]}))(jnp.asarray(w)))


def _objective(reg, v, step, w):
    """``1/2 (w - v)**2 + step * R(w)`` per entry, in float64, with our value of ``R``."""
    return 0.5 * (w - v) ** 2 + step * _entry_values(reg, w)


def _agree_or_beat(reg, v, step, ours, theirs):
    """Asserts that ``ours`` has an objective no larger than ``theirs`` at every input and
    equals ``theirs`` (to 1e-12) wherever ``theirs`` has the same objective, i.e. is a
    global minimizer too. Returns the number of inputs where ``theirs`` is worse."""
    mine, other = _objective(reg, v, step, ours), _objective(reg, v, step, theirs)
    worse = mine > other + 1e-12
    assert not worse.any(), (reg, step, v[worse], ours[worse], theirs[worse])
    both = other <= mine + 1e-12
    np.testing.assert_allclose(ours[both], theirs[both], rtol=1e-12, atol=1e-12)
    return int((~both).sum())


def test_l1_is_pyproximal_l1(x64):
    """``L1(l1)`` is ``pyproximal.L1(sigma=l1)``: ``sigma * sum(|x|)``, soft thresholding
    at ``tau * sigma``."""
    w = np.linspace(-8, 8, 161)
    for lam in STRENGTHS:
        reg, theirs = L1(lam), pyproximal.L1(sigma=lam)
        np.testing.assert_allclose(_value(reg, w), theirs(w), rtol=1e-12)
        for step in STEPS:
            np.testing.assert_allclose(
                _prox(reg, V, step), theirs.prox(V, step), rtol=1e-12, atol=1e-15
            )


@pytest.mark.parametrize("a", [2.5, 3.7])
def test_scad_is_pyproximal_scad_below_step_a_minus_1_and_beats_it_above(x64, a):
    """``SCAD(strength, a)`` is ``pyproximal.SCAD(sigma=strength, a=a)``: the same value.

    pyproximal's prox is Fan and Li's closed form (soft thresholding up to
    ``(1 + tau) sigma``, the middle piece's stationary point up to ``a sigma``, ``x``
    past it), the unique minimizer while ``tau < a - 1``: there the two agree to 1e-12.
    For ``tau > a - 1`` the 1-D problem is not convex and that formula is not its
    minimizer: e.g. ``SCAD(0.7, a=2.5)``, step 4, input 3.0: pyproximal returns 0.2
    (objective 4.48), ours 3.0 (objective 3.43).
    """
    w = np.linspace(-8, 8, 161)
    differ = 0
    for lam in STRENGTHS:
        reg, theirs = SCAD(lam, a=a), pyproximal.SCAD(sigma=lam, a=a)
        np.testing.assert_allclose(_entry_values(reg, w), theirs.elementwise(w), rtol=1e-12)
        np.testing.assert_allclose(_value(reg, w), theirs(w), rtol=1e-12)
        for step in STEPS:
            if step < a - 1:
                np.testing.assert_allclose(
                    _prox(reg, V, step), theirs.prox(V, step), rtol=1e-12, atol=1e-15
                )
            else:
                ours = _prox(reg, V_OFF, step)
                differ += _agree_or_beat(reg, V_OFF, step, ours, theirs.prox(V_OFF, step))
    assert differ > 0
    if a == 2.5:
        example = pyproximal.SCAD(sigma=0.7, a=2.5).prox(np.array([3.0]), 4.0)
        np.testing.assert_allclose(example, [0.2], rtol=1e-12)
        np.testing.assert_allclose(_prox(SCAD(0.7, a=2.5), np.array([3.0]), 4.0), [3.0])


@pytest.mark.parametrize("gamma", [1.2, 3.0])
def test_mcp_is_pyproximal_quadratic_envelope_of_l0_rescaled(x64, gamma):
    """pyproximal's ``QuadraticEnvelopeCard(mu)``, ``mu - max(0, sqrt(2 mu) - |x|)**2 / 2``
    per entry, is ``gamma * MCP(strength, gamma)`` for ``mu = (gamma * strength)**2 / 2``.
    So ``MCP(strength, gamma)`` is ``QuadraticEnvelopeCard(mu) / gamma``, and the prox of
    ``step * MCP`` is pyproximal's ``prox(x, tau=step / gamma)``.

    For ``tau < 1`` (``step < gamma``) pyproximal's prox is firm thresholding, the unique
    minimizer: the two agree to 1e-12. For ``tau > 1`` pyproximal returns hard
    thresholding at ``sqrt(2 mu) = gamma * strength``, while the minimizer of the (not
    convex) 1-D problem is hard thresholding at ``strength * sqrt(step * gamma)``: e.g.
    ``MCP(0.7, gamma=1.2)``, step 4, input 1.2: pyproximal keeps 1.2 (objective 1.176),
    ours returns 0 (objective 0.72).
    """
    w = np.linspace(-8, 8, 161)
    differ = 0
    for lam in STRENGTHS:
        reg = MCP(lam, gamma=gamma)
        theirs = pyproximal.QuadraticEnvelopeCard(mu=(gamma * lam) ** 2 / 2)
        np.testing.assert_allclose(
            _entry_values(reg, w), theirs.elementwise(w) / gamma, rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(_value(reg, w), theirs(w) / gamma, rtol=1e-12)
        for step in STEPS:
            if step < gamma:
                np.testing.assert_allclose(
                    _prox(reg, V, step), theirs.prox(V, step / gamma), rtol=1e-12, atol=1e-15
                )
            else:
                ours = _prox(reg, V_OFF, step)
                theirs_out = theirs.prox(V_OFF, step / gamma)
                differ += _agree_or_beat(reg, V_OFF, step, ours, theirs_out)
    assert differ > 0
    if gamma == 1.2:
        example = pyproximal.QuadraticEnvelopeCard(mu=0.84**2 / 2).prox(np.array([1.2]), 4 / 1.2)
        np.testing.assert_allclose(example, [1.2])
        np.testing.assert_allclose(_prox(MCP(0.7, gamma=1.2), np.array([1.2]), 4.0), [0.0])


@pytest.mark.parametrize("eps", [0.1, 1.0])
def test_log_sum_is_pyproximal_log(x64, eps):
    """``LogSum(strength, eps)`` is ``pyproximal.Log(sigma, gamma)``,
    ``sigma / log(gamma + 1) * sum(log(gamma |x| + 1))``, with ``gamma = 1 / eps`` and
    ``sigma = strength * log(1 + 1 / eps)``. Both proxes take the better of 0 and the
    larger stationary point (0 at a tie): they agree to 1e-12."""
    w = np.linspace(-8, 8, 161)
    for lam in STRENGTHS:
        reg = LogSum(lam, eps=eps)
        theirs = pyproximal.Log(sigma=lam * np.log1p(1 / eps), gamma=1 / eps)
        np.testing.assert_allclose(_entry_values(reg, w), theirs.elementwise(w), rtol=1e-12)
        np.testing.assert_allclose(_value(reg, w), theirs(w), rtol=1e-12)
        for step in STEPS:
            np.testing.assert_allclose(
                _prox(reg, V, step), theirs.prox(V, step), rtol=1e-12, atol=1e-15
            )


@pytest.mark.parametrize("delta", [0.1, 1.0])
def test_log_sum_beats_pyproximal_log1(x64, delta):
    """pyproximal's ``Log1(sigma, delta)`` is ``sigma * sum(log(|x| + delta))`` in its
    documentation, which is ``LogSum(sigma, eps=delta)`` plus a constant; its ``__call__``
    returns ``sum(log(|x| + delta))`` without ``sigma``. Its ``prox(x, tau)`` is the larger
    stationary point of ``1/2 (w - x)**2 + tau * sigma / 2 * log(|w| + delta)``, so it is
    compared with ``LogSum(sigma / 2, eps=delta)``.

    That prox returns the stationary point wherever it exists (``|x| > sqrt(2 tau sigma) -
    delta``), not only where it beats 0, and then keeps its sign even when it is negative
    for a positive input: e.g. ``Log1(0.7, 0.1)``, step 2, input 2.0: pyproximal returns
    1.584 (objective 2.063), ours 0 (objective 2.0); ``Log1(0.7, 1.0)``, step 2, input
    0.675: pyproximal returns -0.125 (objective 0.402), ours 0 (objective 0.228). Where
    the stationary point is the global minimizer the two agree to 1e-12.
    """
    w = np.linspace(-8, 8, 161)
    differ = 0
    for sigma in STRENGTHS:
        reg, theirs = LogSum(sigma / 2, eps=delta), pyproximal.Log1(sigma=sigma, delta=delta)
        np.testing.assert_allclose(
            _value(reg, w), sigma / 2 * (theirs(w) - w.size * np.log(delta)), rtol=1e-12
        )
        for step in STEPS:
            ours = _prox(reg, V_OFF, step)
            differ += _agree_or_beat(reg, V_OFF, step, ours, theirs.prox(V_OFF, step))
    assert differ > 0
    for d, v, expected in [(0.1, 2.0, 1.584428877022476), (1.0, 0.675, -0.125)]:
        if d == delta:
            example = pyproximal.Log1(sigma=0.7, delta=d).prox(np.array([v]), 2.0)
            np.testing.assert_allclose(example, [expected], rtol=1e-12)
            ours = _prox(LogSum(0.35, eps=d), np.array([v]), 2.0)
            np.testing.assert_array_equal(ours, [0.0])
            reg = LogSum(0.35, eps=d)
            assert _objective(reg, v, 2.0, ours) < _objective(reg, v, 2.0, example)


def test_l0_is_pyproximal_l0_with_its_threshold_and_beats_it_as_documented(x64):
    """pyproximal's ``L0(sigma)`` is documented as ``sigma * count(x != 0)``, its
    ``__call__`` returns the count without ``sigma``, and its ``prox(x, tau)`` is hard
    thresholding at ``tau * sigma`` (0 at or below it), where the minimizer of
    ``1/2 (w - x)**2 + tau * sigma * count(w != 0)`` thresholds at ``sqrt(2 tau sigma)``.

    So ``L0(strength).prox(v, step)`` equals pyproximal's ``L0(sqrt(2 strength /
    step)).prox(v, step)`` exactly, and against ``L0(sigma=strength)`` ours is never
    worse: e.g. ``L0(0.7)``, step 1, input 1.0: pyproximal keeps 1.0 (objective 0.7), ours
    returns 0 (objective 0.5); step 4, input 2.5: pyproximal returns 0 (objective 3.125),
    ours 2.5 (objective 2.8).
    """
    w = np.array([0.0, 1e-30, -2.0, 0.0, 3.5, -1e-9])
    differ = 0
    for lam in STRENGTHS:
        reg = L0(lam)
        assert _value(reg, w) == pytest.approx(lam * pyproximal.L0(sigma=lam)(w), rel=1e-12)
        for step in STEPS:
            same_threshold = pyproximal.L0(sigma=np.sqrt(2 * lam / step))
            np.testing.assert_array_equal(_prox(reg, V, step), same_threshold.prox(V, step))
            ours, theirs = _prox(reg, V_OFF, step), pyproximal.L0(sigma=lam).prox(V_OFF, step)
            differ += _agree_or_beat(reg, V_OFF, step, ours, theirs)
    assert differ > 0
    for step, v, expected, ours in [(1.0, 1.0, 1.0, 0.0), (4.0, 2.5, 0.0, 2.5)]:
        np.testing.assert_array_equal(pyproximal.L0(sigma=0.7).prox(np.array([v]), step), expected)
        np.testing.assert_array_equal(_prox(L0(0.7), np.array([v]), step), [ours])
