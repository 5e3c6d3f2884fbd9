"""glmnet's elastic-net paths for gaussian, binomial, multinomial and poisson models.

``glm_path(X, y, family=..., l1_ratio=..., alphas=...)`` returns what
``glmnet(x, y, family=, alpha=, lambda=)`` returns, with glmnet's semantics for
observation weights, penalty factors, limits, standardization and the strength grid
(``GLMPath``); ``glm_cv`` cross-validates it as ``cv.glmnet`` does. The loops are
compiled with numba (``research.glm._kernels``).
"""

from research.glm._cv import GLMCV, glm_cv
from research.glm._path import glm_path
from research.glm._result import GLMPath

__all__ = ["GLMCV", "GLMPath", "glm_cv", "glm_path"]
