"""End-of-run metrics of one seed and one strength setting (vmapped by the loop)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from research import losses, models, port
from research.engine.spec import ProgramSpec
from research.engine.step import penalty
from research.results import flat_paths

__all__ = ["evaluate"]


def evaluate(
    spec: ProgramSpec,
    graph: Any,
    state: dict[str, Any],
    strength: dict[str, jax.Array],
    arrays: dict[str, jax.Array],
) -> dict[str, jax.Array]:
    """The metrics of ``research.results.Results.metrics`` for one trained model.

    ``train_loss`` is the last epoch's recorded loss, penalty included: the mean
    of its regularized batch losses (Keras's) for ``method=subgradient``, the
    mean of its data losses plus the penalty at the final params for the
    proximal methods (``ProgramSpec.penalty_at_epoch_end``). ``test_loss`` has
    no penalty. Sparsity: ``exact_zeros`` and ``near_zeros`` (``|w| <
    sparsity_tol``) per kernel, and per hidden layer ``dead_neurons``, units
    whose incoming or outgoing weights are all zero.
    """
    params = state["params"]
    pred = models.apply(graph, params, arrays["x_test"])
    ones = jnp.ones(pred.shape[0])
    if spec.loss == "keras":  # the compiled loss of a model=keras file
        keras_loss = port.cached_loss(dict(spec.model)["path"])
        test_loss = losses.keras_loss(keras_loss, pred, arrays["y_test"], ones)
    else:
        test_loss = losses.LOSSES[spec.loss](pred, arrays["y_test"], ones)
    out = {
        "train_loss": state["epoch_loss"][-1] / spec.n_train,
        "test_loss": test_loss,
        "penalty": penalty(spec, strength, params),
        "diverged": state["diverged_step"] >= 0,
        "diverged_step": state["diverged_step"],
    }
    if spec.task == "classification":
        out["test_accuracy"] = jnp.mean(jnp.argmax(pred, -1) == arrays["y_test"])
    else:
        out["total_error"] = jnp.sum(jnp.abs(pred - arrays["y_test"]))
    for path, leaf in flat_paths(params).items():
        if path.endswith("kernel"):
            out[f"exact_zeros/{path}"] = jnp.sum(leaf == 0)
            out[f"near_zeros/{path}"] = jnp.sum(jnp.abs(leaf) < spec.sparsity_tol)
    for i, (incoming, outgoing) in enumerate(models.hidden_layers(params)):
        dead = jnp.all(incoming == 0, axis=0) | jnp.all(outgoing == 0, axis=1)
        out[f"dead_neurons/{i}"] = jnp.sum(dead)
    return out
