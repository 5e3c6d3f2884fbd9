"""The default selection never fails silently: params without a leaf named ``kernel``
(Haiku's ``w``, Equinox's ``weight``) raise, naming the leaves and how to select them;
``by_name`` selects them."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.optim import add_regularization, proximal
from research.regularizers import L1, MCP, GroupLasso, by_name

HAIKU = {"linear": {"w": jnp.array([[0.5, -2.0], [0.05, 1.0]]), "b": jnp.array([1.0, -1.0])}}


@pytest.mark.parametrize("reg", [L1(0.1), GroupLasso(0.1), MCP(0.1)], ids=repr)
def test_haiku_params_without_a_mask_raise_naming_their_leaves(reg):
    for call in (lambda: reg(HAIKU), lambda: reg.prox(HAIKU, 1.0), lambda: reg.grad(HAIKU)):
        with pytest.raises(ValueError, match=r"selects no leaf .*'linear/b', 'linear/w'.*by_name"):
            call()


def test_the_transforms_raise_too_instead_of_leaving_the_weights_alone():
    tx = optax.chain(optax.sgd(0.1), proximal(L1(1.0), 0.1))
    with pytest.raises(ValueError, match="selects no leaf"):
        tx.update(HAIKU, tx.init(HAIKU), HAIKU)
    tx = optax.chain(add_regularization(L1(1.0)), optax.sgd(0.1))
    with pytest.raises(ValueError, match="selects no leaf"):
        tx.update(HAIKU, tx.init(HAIKU), HAIKU)


def test_by_name_selects_haiku_weights():
    reg = L1(0.5, mask=by_name("w"))
    assert float(reg(HAIKU)) == pytest.approx(0.5 * (0.5 + 2.0 + 0.05 + 1.0))
    out = reg.prox(HAIKU, 1.0)
    np.testing.assert_allclose(out["linear"]["w"], [[0.0, -1.5], [0.0, 0.5]])
    np.testing.assert_array_equal(out["linear"]["b"], HAIKU["linear"]["b"])  # not selected
    tx = optax.chain(optax.sgd(1.0), proximal(L1(0.5), 1.0, mask=by_name("w")))
    zero = jax.tree.map(jnp.zeros_like, HAIKU)
    updates, _ = tx.update(zero, tx.init(HAIKU), HAIKU)
    np.testing.assert_allclose(
        optax.apply_updates(HAIKU, updates)["linear"]["w"], out["linear"]["w"]
    )


def test_an_equinox_module_raises_by_default_and_by_name_selects_its_weights():
    model = eqx.nn.MLP(3, 2, width_size=4, depth=1, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_array)
    with pytest.raises(ValueError, match=r"selects no leaf .*'layers/0/weight'"):
        L1(0.1)(params)
    reg = L1(0.1, mask=by_name("weight"))
    weights = [layer.weight for layer in model.layers]
    expected = 0.1 * sum(float(jnp.abs(w).sum()) for w in weights)
    assert float(reg(params)) == pytest.approx(expected, rel=1e-6)
    pruned = eqx.combine(reg.prox(params, 100.0), model)
    assert all(float(jnp.abs(layer.weight).sum()) == 0.0 for layer in pruned.layers)
    np.testing.assert_array_equal(pruned.layers[0].bias, model.layers[0].bias)


def test_flax_style_params_and_explicit_masks_are_unchanged():
    flax_like = {"Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    assert float(L1(0.5)(flax_like)) == 2.0
    assert float(L1(0.5, mask={"linear": {"w": False, "b": False}})(HAIKU)) == 0.0  # explicit
    with pytest.raises(TypeError, match="names"):
        by_name()
