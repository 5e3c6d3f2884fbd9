"""The blog post's "adjusting the network according to L1": remove disconnected neurons.

A hidden unit of an MLP can go when its weights make it irrelevant:

* its outgoing weights (a row of the next kernel) are all zero: nothing it
  computes reaches the next layer; or
* its incoming weights (a column of its kernel) are all zero: it outputs the
  constant ``activation(bias)``, which is folded into the next layer's bias.

``prune_mlp`` removes such units until none is left and returns params of a
smaller MLP that computes the same function (up to float rounding of the
folded biases). L1 with the proximal method, and GroupLasso, produce exact
zeros and so prunable units; the subgradient method leaves weights at
``|w| ~ lr * l1`` and prunes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from research.port import remove_units

__all__ = ["dead_units", "prune_mlp"]


_ACTIVATIONS: dict[str | None, Callable[[np.ndarray], np.ndarray]] = {
    None: lambda x: x,
    "identity": lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}


def _layers(params: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    layers = params["layers"]
    out = []
    for i in sorted(layers):
        kernel = np.asarray(layers[i]["kernel"], np.float64)
        bias = np.asarray(layers[i].get("bias", np.zeros(kernel.shape[1])), np.float64)
        out.append((kernel, bias))
    return out


def dead_units(params: dict) -> list[np.ndarray]:
    """Per hidden layer, a bool mask of units with all-zero incoming or outgoing weights."""
    layers = _layers(params)
    return [
        np.all(layers[i][0] == 0, axis=0) | np.all(layers[i + 1][0] == 0, axis=1)
        for i in range(len(layers) - 1)
    ]


def prune_mlp(params: dict, activation: str | None = None) -> tuple[dict, list[int]]:
    """Removes disconnected hidden units; returns ``(params, widths)`` of the smaller MLP.

    Args:
      params: an MLP's params ``{"layers": {i: {"kernel", "bias"}}}`` (one seed).
      activation: the MLP's activation between layers (None: identity).

    Returns:
      Params in the same layout (float64) and the new widths, input and output
      included. A hidden layer whose units are all removable keeps one unit
      with zero weights, so the architecture stays valid (the network is then
      a constant).
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected one of {list(_ACTIVATIONS)}, got {activation!r}")
    act = _ACTIVATIONS[activation]
    layers = [(k.copy(), b.copy()) for k, b in _layers(params)]
    changed = True
    while changed:
        changed = False
        for i in range(len(layers) - 1):
            (k_in, b_in), (k_out, b_out) = layers[i], layers[i + 1]
            # A unit without inputs outputs act(bias): its effect moves into the next bias.
            removable, folded = remove_units(k_in, b_in, k_out, b_out, lambda pre, _: act(pre))
            if not removable.any() or (removable.all() and k_in.shape[1] == 1):
                continue
            b_out = folded
            keep = ~removable
            if not keep.any():
                keep[0] = True  # keep one silent unit: zero weights in and out
                k_in[:, 0], b_in[0], k_out[0, :] = 0.0, 0.0, 0.0
            layers[i] = (k_in[:, keep], b_in[keep])
            layers[i + 1] = (k_out[keep, :], b_out)
            changed = True
    widths = [layers[0][0].shape[0]] + [k.shape[1] for k, _ in layers]
    pruned: dict[str, Any] = {
        "layers": {i: {"kernel": k, "bias": b} for i, (k, b) in enumerate(layers)}
    }
    return pruned, widths
