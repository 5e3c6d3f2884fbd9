"""``method=coordinate_descent``: a linear model's exact regularization path.

With ``model=linear``, ``loss=half_mse`` and an ``l1``, ``l2`` or
``elastic_net`` penalty (or none), training minimizes a convex objective,
scikit-learn's Lasso / ElasticNet one with an unpenalized intercept:

```text
1/(2n) ||y - X w - b||^2 + l1 ||w||_1 + l2 ||w||^2     (Keras's penalty conventions)
```

``research.lasso_path`` solves it to a certified duality gap (``TOL``) at every
strength of the sweep, the strengths of one L1 share in one warm-started path.
With ``loss=cross_entropy`` (digits, or a two-class ``data.classes``) it is the
penalized mean softmax cross-entropy, glmnet's multinomial (binomial for two
classes) objective, solved by ``research.glm_path`` at glmnet's threshold ``TOL``;
no JAX program is compiled and no optimizer runs. Seeds have nothing to vary
here (no initialization, no batches), so every seed gets the same solution.
The metrics are the engine's own (``research.engine.metrics.evaluate``);
``epoch_loss`` holds one entry per strength, the objective at the solution.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research import models
from research.config import RunSpec
from research.data import Dataset
from research.engine.metrics import evaluate
from research.engine.spec import ProgramSpec
from research.engine.step import model_fn
from research.results import Results, flat_paths, nest

__all__ = ["METHOD", "TOL", "solve", "train"]

METHOD = "coordinate_descent"
TOL = 1e-12
"""Relative duality gap of every strength (``research.lasso_path``'s ``tol``); with
``loss=cross_entropy``, ``research.glm_path``'s (glmnet's ``thresh``)."""


def _sklearn_strengths(run: RunSpec, k: int) -> tuple[float, float]:
    """Strength ``k`` as scikit-learn's ``(alpha, l1_ratio)``: ``l1 |w| + l2 w^2`` is
    ``alpha (l1_ratio |w| + (1 - l1_ratio) / 2 w^2)``."""
    l1 = float(run.strengths["l1"][k]) if "l1" in run.strengths else 0.0
    l2 = float(run.strengths["l2"][k]) if "l2" in run.strengths else 0.0
    alpha = l1 + 2.0 * l2
    return alpha, (l1 / alpha if alpha > 0 else 1.0)


def solve(
    run: RunSpec, x: np.ndarray, y: np.ndarray, use_bias: bool, num_classes: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Every strength's solution: kernels ``(K, p, m)`` and biases ``(K, m)``, float64
    (``m`` the outputs; with ``loss=cross_entropy`` the ``num_classes`` logits)."""
    if run.loss == "cross_entropy":
        return _solve_classes(run, x, y, use_bias, num_classes)
    from research import lasso_path

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64).reshape(len(x), -1)
    x_mean = x.mean(0) if use_bias else np.zeros(x.shape[1])
    y_mean = y.mean(0) if use_bias else np.zeros(y.shape[1])
    xc = np.asfortranarray(x - x_mean)
    m = y.shape[1]
    settings = [_sklearn_strengths(run, k) for k in range(run.num_strengths)]
    kernels = np.zeros((len(settings), x.shape[1], m))
    for ratio in sorted({r for _, r in settings}):
        ks = [k for k, (_, r) in enumerate(settings) if r == ratio]
        # half_mse averages over the m outputs too: each output's alpha is m times larger.
        alphas = np.array([settings[k][0] for k in ks]) * m
        order = np.argsort(-alphas, kind="stable")
        for j in range(m):
            _, coefs, _ = lasso_path(
                xc, y[:, j] - y_mean[j], alphas=alphas[order], l1_ratio=ratio, tol=TOL,
                max_iter=100_000,
            )  # fmt: skip
            kernels[np.asarray(ks)[order], :, j] = coefs.T
    biases = y_mean - np.einsum("p,kpm->km", x_mean, kernels)
    return kernels, biases


def _solve_classes(
    run: RunSpec, x: np.ndarray, y: np.ndarray, use_bias: bool, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """``loss=cross_entropy``: the softmax over ``C`` logits is glmnet's multinomial family,
    solved by ``research.glm_path`` (unstandardized, the penalty on the kernel). For
    ``C = 2`` only the difference ``d`` of the two logit columns matters; the penalty is
    least for ``(-d/2, d/2)``, where it is ``l1 |d| + l2/2 d**2``: glmnet's binomial family."""
    from research import glm_path

    x, labels = np.asarray(x, np.float64), np.asarray(y).reshape(-1)
    binary = num_classes == 2
    l1 = np.asarray(run.strengths.get("l1", np.zeros(run.num_strengths)), np.float64)
    l2 = np.asarray(run.strengths.get("l2", np.zeros(run.num_strengths)), np.float64)
    lam = l1 + (l2 if binary else 2 * l2)
    if np.any(lam <= 0):
        key = "regularizer.l1" if run.strengths else "regularizer"
        raise ValueError(
            f"{key}: method=coordinate_descent with loss=cross_entropy needs every strength > 0 "
            "(without a penalty, separable classes have no minimizer)"
        )
    ratio = l1 / lam
    kernels = np.zeros((lam.size, x.shape[1], num_classes))
    biases = np.zeros((lam.size, num_classes))
    family = "binomial" if binary else "multinomial"
    for r in sorted(set(ratio.tolist())):
        ks = np.flatnonzero(ratio == r)
        args = dict(family=family, l1_ratio=r, standardize=False, fit_intercept=use_bias, tol=TOL,
                    max_iter=10_000_000)  # fmt: skip
        # Warm starts from the strength that zeroes the kernel down to the weakest asked for
        # (IRLS started far below it can overshoot); the strengths asked for are among them.
        top = glm_path(x, labels, alphas=3, alpha_min_ratio=0.9, **args).alphas[0]
        warm = np.geomspace(top, lam[ks].min(), 30) if top > lam[ks].min() else np.zeros(0)
        path = glm_path(x, labels, alphas=np.concatenate([warm, lam[ks]]), **args)
        at = np.searchsorted(-path.alphas, -lam[ks], side="left")  # path: decreasing
        coef, intercept = path.coef[..., at], path.intercept[..., at]
        if binary:
            kernels[ks] = np.stack([-coef.T / 2, coef.T / 2], axis=-1)
            biases[ks] = np.stack([-intercept / 2, intercept / 2], axis=-1)
        else:
            kernels[ks] = np.transpose(coef, (2, 1, 0))
            biases[ks] = intercept.T
    return kernels, biases


@functools.lru_cache(maxsize=16)
def _evaluate_all(spec: ProgramSpec, graph: Any):
    one = functools.partial(evaluate, spec, graph)
    return jax.jit(jax.vmap(jax.vmap(one, (0, 0, None)), (0, None, None)))


def train(
    run: RunSpec,
    spec: ProgramSpec,
    data: Dataset,
    strengths: dict[str, jax.Array],
    arrays: dict[str, jax.Array],
) -> Results:
    """The exact path as the engine's ``Results`` (seed axis first, strength axis second)."""
    graph, template = models.init_params(model_fn(spec), jax.random.key(0))
    use_bias = "layers/0/bias" in flat_paths(template)
    kernels, biases = solve(run, data.x_train, data.y_train, use_bias, data.num_classes or 0)
    s, dtype = run.num_seeds, jnp.result_type(float)
    flat = {"layers/0/kernel": np.broadcast_to(kernels, (s, *kernels.shape))}
    if use_bias:
        flat["layers/0/bias"] = np.broadcast_to(biases, (s, *biases.shape))
    params = {k: np.ascontiguousarray(v).astype(dtype) for k, v in flat.items()}
    pred = np.einsum("np,kpm->knm", data.x_train.astype(np.float64), kernels) + biases[:, None]
    if run.loss == "cross_entropy":  # the mean softmax cross-entropy
        top = pred.max(-1, keepdims=True)
        logp = pred - top - np.log(np.exp(pred - top).sum(-1, keepdims=True))
        labels = np.asarray(data.y_train).reshape(-1)
        data_loss = -np.take_along_axis(logp, labels[None, :, None], axis=-1).mean(axis=(1, 2))
    else:
        y = np.asarray(data.y_train, np.float64).reshape(len(data.x_train), -1)
        data_loss = 0.5 * np.mean((pred - y) ** 2, axis=(1, 2))  # (K,)
    state = {
        "params": nest(params),
        "epoch_loss": jnp.zeros((s, run.num_strengths, 1), dtype),  # filled below
        "diverged_step": jnp.full((s, run.num_strengths), -1, jnp.int32),
    }
    metrics = jax.device_get(_evaluate_all(spec, graph)(state, strengths, arrays))
    objective = data_loss + np.asarray(metrics["penalty"][0], np.float64)
    metrics["train_loss"] = np.broadcast_to(objective, (s, run.num_strengths)).astype(dtype)
    history = {
        "epoch_loss": np.broadcast_to(objective[None, :, None], (s, run.num_strengths, 1)),
        "snapshot_steps": np.zeros(0, np.int64),
    }
    return Results(
        metrics={k: np.asarray(v) for k, v in metrics.items()},
        history=history,
        params=params,
        strengths={k: np.asarray(v) for k, v in run.strengths.items()},
        config=run.config,
        data=data,
    )
