"""L1, L2, ElasticNet and GroupLasso regularization for JAX, Flax and optax.

The public surface:

* ``research.regularizers``: ``L1``, ``L2``, ``ElasticNet`` (= ``L1L2``),
  ``GroupLasso``, ``from_keras``, ``kernel_mask``.
* ``research.optim``: the optax transforms ``add_regularization`` and
  ``proximal``, the preconditioned ``proximal_adagrad`` / ``proximal_adam``, and
  ``fista``.
* ``research.engine``: the training engine (``train_and_evaluate``,
  ``Experiment``): many seeds and strengths in one compiled program.
* ``research.lasso_path``: the exact Lasso / ElasticNet path (scikit-learn's
  ``lasso_path``, faster; ``research.lasso``), imported on first use.
* ``research.glm_path`` / ``research.glm_cv``: glmnet's elastic-net paths for
  gaussian, binomial, multinomial and poisson models and their cross-validation
  (``research.glm``), imported on first use.
* ``research.io.load_job`` reads a job's files back as ``research.results.Results``,
  the type a finished run has too; ``research.tables.aggregate`` makes one table
  of a multirun.
* Command lines: ``research-train`` (``python -m research.train``),
  ``research-aggregate`` and ``research-figures`` (``research.cli``).
"""

from typing import Any

from research.optim import (
    add_regularization,
    fista,
    proximal,
    proximal_adagrad,
    proximal_adam,
)
from research.regularizers import (
    L1,
    L1L2,
    L2,
    ElasticNet,
    GroupLasso,
    Regularizer,
    from_keras,
    kernel_mask,
)

__version__ = "0.3.0"
"""The release (``CHANGELOG.md``); the package metadata reads it from here."""

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "ElasticNet",
    "GroupLasso",
    "Regularizer",
    "__version__",
    "add_regularization",
    "fista",
    "from_keras",
    "glm_cv",
    "glm_path",
    "kernel_mask",
    "lasso_path",
    "proximal",
    "proximal_adagrad",
    "proximal_adam",
]


def __getattr__(name: str) -> Any:
    # numba (the path solver's compiler) is imported only when the path is asked for.
    if name == "lasso_path":
        from research.lasso import lasso_path

        return lasso_path
    if name in ("glm_path", "glm_cv"):
        from research import glm

        return getattr(glm, name)
    raise AttributeError(f"module 'research' has no attribute {name!r}")
