"""Weight penalties with subgradients and exact proximal maps, Keras's and beyond.

| class | penalty ``R(w)`` | Keras equivalent |
|---|---|---|
| ``L1(l1)`` | ``l1 * sum(|w|)`` | ``regularizers.L1`` |
| ``L2(l2)`` | ``l2 * sum(w**2)``  (no 1/2 factor) | ``regularizers.L2`` |
| ``ElasticNet`` | ``l1 * sum(|w|) + l2 * sum(w**2)`` | ``regularizers.L1L2`` |
| ``Orthogonal`` | Keras's orthogonality penalty (no prox) | ``OrthogonalRegularizer`` |
| ``GroupLasso`` | ``strength * sum_g sqrt(|g|) * ||w_g||_2`` | none |
| ``SparseGroupLasso`` | ``L1(l1) + GroupLasso(group)`` | none |
| ``MCP``, ``SCAD`` | Zhang's and Fan and Li's concave penalties | none |
| ``Lq``, ``LogSum``, ``L0`` | ``|w|**q`` (q = 1/2, 2/3), log-sum, the count | none |
| ``Weighted(reg, f)`` | ``sum_i f_i R(w_i)`` (glmnet penalty.factor) | none |
| ``Bounded(reg, lo, hi)`` | ``R`` on the box ``[lo, hi]`` (glmnet limits) | none |

Every regularizer offers three operations on a params pytree:

* ``reg(params)``: the scalar penalty summed over the selected leaves.
* ``reg.grad(params)``: a subgradient, with ``sign(0) = 0`` as in TensorFlow
  (``jax.grad(jnp.abs)(0.0)`` is 1.0; the penalties here are written so that
  ``jax.grad(reg)`` also gives 0 at 0).
* ``reg.prox(params, step)``: the proximal map of ``step * R``,
  ``argmin_w 1/2 ||w - v||^2 + step * R(w)``, which produces exact zeros.

Selection: by default only leaves with a path entry named ``kernel`` are
penalized, which is what Keras's ``kernel_regularizer`` does (biases are left
alone). Pass ``mask=`` (a pytree of bools shaped like params, or a prefix of
it, or a callable from params to one) to select other leaves.

Strengths may be Python floats or JAX scalars, so a regularizer can be built
inside ``jit`` or ``vmap``; a grid of strengths is one vmapped program:

```python
import jax, jax.numpy as jnp
from research.regularizers import L1

params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
penalties = jax.vmap(lambda s: L1(s)(params))(jnp.array([0.0, 0.1, 1.0]))
# -> [0.0, 0.6, 6.0]: only the kernel is penalized.
```

Regularizers are registered as pytrees (strengths are the leaves), so they
may also be passed into jitted functions as arguments.
"""

from research.regularizers._base import (
    Mask,
    PyTree,
    Regularizer,
    by_name,
    check_nonnegative,  # noqa: F401 - importable here, as before research.checks
    kernel_mask,
    select_leaves,
    sum_by_dot,
)
from research.regularizers._composite import Bounded, Weighted
from research.regularizers._keras import from_keras
from research.regularizers._nonconvex import L0, MCP, SCAD, LogSum, Lq
from research.regularizers._orthogonal import Orthogonal
from research.regularizers._penalties import (
    BOX_KEYS,
    L1,
    L1L2,
    L2,
    REGULARIZERS,
    ElasticNet,
    GroupLasso,
    SparseGroupLasso,
    from_config,
)

__all__ = [
    "BOX_KEYS",
    "L0",
    "L1",
    "L1L2",
    "L2",
    "MCP",
    "REGULARIZERS",
    "SCAD",
    "Bounded",
    "ElasticNet",
    "GroupLasso",
    "LogSum",
    "Lq",
    "Mask",
    "Orthogonal",
    "PyTree",
    "Regularizer",
    "SparseGroupLasso",
    "Weighted",
    "by_name",
    "from_config",
    "from_keras",
    "kernel_mask",
    "select_leaves",
    "sum_by_dot",
]
