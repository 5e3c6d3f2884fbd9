"""Helpers shared by the optax transforms: masks, learning rates, params checks.

Private: import the public names from ``research.optim``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import jax
import optax

from research.checks import check_nonnegative
from research.regularizers import Mask, Regularizer

LearningRate: TypeAlias = float | jax.Array | optax.Schedule


def with_mask(reg: Regularizer, mask: Mask, *, prox: str | None = None) -> Regularizer:
    """``reg`` with ``mask`` as its selection; ``prox`` names a transform that needs its prox."""
    if not isinstance(reg, Regularizer):
        raise TypeError(
            f"reg: expected a research.regularizers regularizer (L1, L2, ElasticNet, "
            f"GroupLasso, Orthogonal), got {type(reg).__name__}; convert Keras ones with "
            "from_keras"
        )
    if prox is not None and not reg.has_prox:
        raise ValueError(
            f"{prox}: {type(reg).__name__} has no closed-form proximal map; use "
            f"add_regularization({type(reg).__name__}(...)) (the subgradient method)"
        )
    return reg if mask is None else reg.replace(mask=mask)


def check_learning_rate(learning_rate: LearningRate) -> None:
    if not callable(learning_rate):
        check_nonnegative("learning_rate", learning_rate)


def learning_rate_at(learning_rate: LearningRate, count: jax.Array) -> Any:
    return learning_rate(count) if callable(learning_rate) else learning_rate


def need_params(name: str, params: Any) -> None:
    if params is None:
        raise ValueError(f"{name}: update() needs the current params (pass params=...)")
