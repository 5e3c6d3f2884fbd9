"""SparseGroupLasso: L1 plus GroupLasso, and a proximal map that meets the optimality
conditions of ``1/2 ||w - v||^2 + step * (l1 ||w||_1 + group sum_g sqrt(|g|) ||w_g||)``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.regularizers import L1, GroupLasso, SparseGroupLasso


def _kkt_violation(v, x, step, l1, group, axis):
    """The largest violation of the optimality conditions at ``x``, group by group (groups
    are the columns for axis=0)."""
    worst = 0.0
    columns = range(v.shape[1]) if axis == 0 else range(v.shape[0])
    for j in columns:
        vg, xg = (v[:, j], x[:, j]) if axis == 0 else (v[j], x[j])
        t_group = step * group * np.sqrt(vg.size)
        norm = np.linalg.norm(xg)
        if norm == 0:  # the group is zero: the soft-thresholded group is inside the ball
            shrunk = np.sign(vg) * np.maximum(np.abs(vg) - step * l1, 0)
            worst = max(worst, np.linalg.norm(shrunk) - t_group)
            continue
        for vi, xi in zip(vg, xg, strict=True):
            if xi != 0:  # stationary: x - v + step l1 sign(x) + t_group x / ||x_g|| = 0
                worst = max(worst, abs(xi - vi + step * l1 * np.sign(xi) + t_group * xi / norm))
            else:  # 0 is in the subdifferential of the entry
                worst = max(worst, abs(vi) - step * l1)
    return worst


@pytest.mark.parametrize("axis", [0, 1])
def test_the_proximal_map_meets_the_optimality_conditions(x64, axis):
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = rng.normal(size=(4, 5)) * rng.choice([0.3, 1.0, 3.0], size=(1, 5))
        l1, group, step = rng.uniform(0, 1, size=3)
        reg = SparseGroupLasso(l1, group, axis=axis)
        x = np.asarray(reg.prox({"kernel": jnp.asarray(v)}, step)["kernel"])
        assert _kkt_violation(v, x, step, l1, group, axis) <= 1e-12
    # Both kinds of zeros occur: whole groups and single entries of kept groups.
    v = np.array([[0.05, 2.0, 3.0], [0.04, 0.1, -2.5]])
    x = np.asarray(
        SparseGroupLasso(0.2, 0.1, axis=0).prox({"kernel": jnp.asarray(v)}, 1.0)["kernel"]
    )
    assert np.all(x[:, 0] == 0) and x[1, 1] == 0 and x[0, 1] != 0 and np.all(x[:, 2] != 0)


def test_value_and_gradient_are_l1_plus_group_lasso(x64):
    w = {"kernel": jnp.array([[0.0, 1.0, -2.0], [0.0, 0.5, 0.0]]), "bias": jnp.ones(3)}
    reg = SparseGroupLasso(0.3, 0.7, axis=0)
    expected = L1(0.3)(w) + GroupLasso(0.7, axis=0)(w)
    np.testing.assert_allclose(reg(w), expected, rtol=1e-12)
    grad = reg.grad(w)["kernel"]
    np.testing.assert_allclose(
        grad, L1(0.3).grad(w)["kernel"] + GroupLasso(0.7, axis=0).grad(w)["kernel"], rtol=1e-12
    )
    assert np.all(np.asarray(grad)[:, 0] == 0)  # 0 on a zero group


def test_strengths_vmap_and_a_per_coordinate_step_is_refused():
    w = {"kernel": jnp.array([[1.0, -2.0], [0.5, 0.1]])}
    values = jax.vmap(lambda s: SparseGroupLasso(s, s)(w))(jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(values, [0.0, SparseGroupLasso(1.0, 1.0)(w)], rtol=1e-6)
    with pytest.raises(ValueError, match="scalar step"):
        SparseGroupLasso(0.1, 0.1).prox(w, {"kernel": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match="group"):
        SparseGroupLasso(0.1, -1.0)
