"""``prune``: a smaller ``research.layers`` model computing the same function.

A unit (a ``Dense`` unit, a ``Conv`` / ``Conv1D`` filter) goes when its
weights make it irrelevant, as ``research.prune.prune_mlp`` does for the
engine's MLPs (``remove_units`` here is the step both take):

* its outgoing weights (its rows of the next ``Dense`` / ``Conv`` kernel, all
  of them through a ``Flatten``) are all zero; or
* its incoming kernel column is all zero: it outputs the constant
  ``activation(bias)``, folded into the next layer's bias.

Layers between the two pass the units on (``PASS_THROUGH``): ``Dropout``,
``ActivityRegularization``, ``Flatten``, the pooling layers, an elementwise
``Activation`` and ``BatchNormalization`` (its entries of removed units go
too, and a constant goes through its inference-mode map). Any other layer
between them (``Reshape``, ``LayerNormalization``, a ``Graph``) keeps the
units. Private: import ``prune`` from ``research.port``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import nnx

from research import layers
from research.port._keras_layers import POOLING

WEIGHTED = (layers.Dense, layers.Conv)  # kernel (..., in, out), bias (out,): Conv1D too


def _identity(layer: Any, values: np.ndarray, units: np.ndarray) -> np.ndarray:
    return values


def _keep_nothing(layer: Any, keep: np.ndarray) -> None:
    return None


def _activation_constant(layer: layers.Activation, values: np.ndarray, units: np.ndarray):
    return np.asarray(layers.ACTIVATIONS[layer.activation](jnp.asarray(values)))


def _batch_norm_constant(layer: layers.BatchNormalization, values: np.ndarray, units: np.ndarray):
    """The inference-mode output of constant channels ``units`` with ``values``."""
    inv = 1.0 / np.sqrt(np.asarray(layer.moving_variance[...], np.float64)[units] + layer.epsilon)
    if layer.gamma is not None:
        inv = inv * np.asarray(layer.gamma[...], np.float64)[units]
    out = (values - np.asarray(layer.moving_mean[...], np.float64)[units]) * inv
    return out if layer.beta is None else out + np.asarray(layer.beta[...], np.float64)[units]


def _batch_norm_keep(layer: layers.BatchNormalization, keep: np.ndarray) -> None:
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        variable = getattr(layer, name)
        if variable is not None:
            setattr(layer, name, type(variable)(variable[...][keep]))
    layer.num_features = int(keep.sum())


class Through(NamedTuple):
    """How a layer between two weighted layers passes their units on.

    Attributes:
      constant: ``(layer, values, units) -> values``: its output on constant
        units (``values`` per unit index in ``units``), in float64.
      keep: ``(layer, keep)``: removes its own entries of the removed units
        (it acts on a copy of the model).
      flattens: its output lays the units out as the fastest axis of flat
        features (``Flatten``).
    """

    constant: Callable[[Any, np.ndarray, np.ndarray], np.ndarray] = _identity
    keep: Callable[[Any, np.ndarray], None] = _keep_nothing
    flattens: bool = False


PASS_THROUGH: dict[type, Through] = {
    layers.Dropout: Through(),
    layers.ActivityRegularization: Through(),
    layers.Flatten: Through(flattens=True),
    # Per channel; a constant channel stays constant ("same" windows skip the padding).
    **dict.fromkeys(POOLING, Through()),
    layers.Activation: Through(constant=_activation_constant),
    layers.BatchNormalization: Through(constant=_batch_norm_constant, keep=_batch_norm_keep),
}
"""Layer class -> ``Through``; a class missing here keeps the units around it."""


def _through(layer: Any) -> Through | None:
    if isinstance(layer, layers.Activation) and layer.activation == "softmax":
        return None  # couples the units
    return PASS_THROUGH.get(type(layer))


def remove_units(
    kernel_in: np.ndarray,
    bias_in: np.ndarray,
    kernel_out: np.ndarray,
    bias_out: np.ndarray,
    outputs: Callable[[np.ndarray, np.ndarray], np.ndarray],
    foldable: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which units between two layers can go, and the next bias with constant units folded in.

    A unit can go when its incoming kernel column or its outgoing weights are
    all zero; one with a zero column outputs a constant, added to the next
    bias through its outgoing weights.

    Args:
      kernel_in: the units' kernel ``(..., in, units)``.
      bias_in: their bias ``(units,)`` (zeros without one).
      kernel_out: the next kernel as ``(..., units, out)``, the leading axes
        being every place a unit's output reaches (a ``Flatten``'s positions,
        a convolution's window).
      bias_out: the next bias ``(out,)``.
      outputs: ``(pre_activations, units) -> values``: what reaches the next
        layer from the constant units with indices ``units`` (float64).
      foldable: ``values -> bool mask`` of the constants that can be folded
        (default: all); the others stay.

    Returns:
      ``(removable, bias_out)``: a bool mask of the units that can go, and
      ``bias_out + sum_u outputs_u * kernel_out[..., u, :]`` over the removable
      constant units (in float64, cast back).

    Examples:
      Three tanh units: unit 1 has no input (it outputs ``tanh(0.5)``), unit 2 no output.

      >>> import numpy as np
      >>> from research.port import remove_units
      >>> k1, b1 = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0]]), np.array([0.1, 0.5, 0.2])
      >>> k2, b2 = np.array([[1.0], [2.0], [0.0]]), np.array([0.0])
      >>> removable, bias = remove_units(k1, b1, k2, b2, lambda pre, units: np.tanh(pre))
      >>> removable
      array([False,  True,  True])
      >>> bias.round(4), round(float(2 * np.tanh(0.5)), 4)  # the constant, through its weight 2
      (array([0.9242]), 0.9242)
      >>> k1, b1, k2 = k1[:, ~removable], b1[~removable], k2[~removable]
      >>> k1.shape, b1.shape, k2.shape
      ((2, 1), (1,), (1, 1))
    """
    axes_in, axes_out = tuple(range(kernel_in.ndim - 1)), (*range(kernel_out.ndim - 2), -1)
    no_in = np.all(kernel_in == 0, axis=axes_in)
    no_out = np.all(kernel_out == 0, axis=axes_out)
    constant = np.flatnonzero(no_in & ~no_out)
    values = np.asarray(outputs(bias_in[constant].astype(np.float64), constant), np.float64)
    if foldable is not None and constant.size:
        ok = np.asarray(foldable(values), bool)
        no_in[constant[~ok]] = False
        constant, values = constant[ok], values[ok]
    # Every place a constant reaches adds its value times the weight there.
    reach = np.sum(kernel_out[..., constant, :].astype(np.float64), axis=axes_out[:-1])
    folded = bias_out.astype(np.float64) + values @ reach
    return no_in | no_out, folded.astype(bias_out.dtype)


# --------------------------------------------------------------------------- the model
def _leaves(model: layers.Sequential) -> Iterator[tuple[list[layers.Sequential], Any]]:
    """The layers of nested ``Sequential`` s in call order, with their containers."""
    for layer in model.layers:
        if isinstance(layer, layers.Sequential) and not isinstance(layer, layers.Graph):
            for containers, leaf in _leaves(layer):
                yield [layer, *containers], leaf
        else:
            yield [], layer


def _span(chain: list, i: int) -> tuple[int, list[Through]] | None:
    """The next weighted layer after ``chain[i]`` and the ``Through`` s in between."""
    between: list[Through] = []
    for j in range(i + 1, len(chain)):
        layer = chain[j][1]
        if isinstance(layer, WEIGHTED):
            return j, between
        through = _through(layer)
        if through is None:
            return None
        between.append(through)
    return None


def _array(param: Any) -> np.ndarray:
    return np.asarray(param[...])


def _next_rows(k_out: np.ndarray, units: int, flat: bool) -> np.ndarray | None:
    """The next kernel as ``(..., units, out)``; None when its input is not the units."""
    if flat:
        if k_out.ndim != 2 or k_out.shape[0] % units:
            return None
        return k_out.reshape(-1, units, k_out.shape[-1])
    return k_out if k_out.shape[-2] == units else None


def _prune_pair(chain: list, i: int) -> bool:
    """Removes the units between ``chain[i]`` and the next weighted layer that can go."""
    found = _span(chain, i)
    first = chain[i][1]
    if found is None or first.activation == "softmax":  # softmax couples the units
        return False
    j, between = found
    second = chain[j][1]
    passes = list(zip([chain[m][1] for m in range(i + 1, j)], between, strict=True))
    k_in, k_out = _array(first.kernel), _array(second.kernel)
    units = k_in.shape[-1]
    flat = any(t.flattens for t in between)
    rows = _next_rows(k_out, units, flat)
    if rows is None:
        return False
    b_in = np.zeros(units, k_in.dtype) if first.bias is None else _array(first.bias)
    b_out = np.zeros(k_out.shape[-1], k_out.dtype) if second.bias is None else _array(second.bias)
    act = layers.ACTIVATIONS[first.activation]

    def outputs(pre: np.ndarray, constant: np.ndarray) -> np.ndarray:
        values = np.asarray(act(jnp.asarray(pre)), np.float64)
        for layer, through in passes:
            values = np.asarray(through.constant(layer, values, constant), np.float64)
        return values

    # A window that overlaps padding sees zeros as well as the constant.
    window = int(np.prod(k_out.shape[:-2])) if isinstance(second, layers.Conv) else 1
    padded = isinstance(second, layers.Conv) and second.padding != "valid" and window > 1
    anywhere = second.bias is not None and not padded

    removable, b_out = remove_units(
        k_in, b_in, rows, b_out, outputs, lambda values: anywhere | (values == 0)
    )
    keep = ~removable
    if keep.all() or (units == 1 and not keep.any()):
        return False
    if not keep.any():  # keep one silent unit: zero weights in and out
        keep[0] = True
        k_in, b_in, rows = k_in.copy(), b_in.copy(), rows.copy()
        k_in[..., 0], b_in[0], rows[..., 0, :] = 0, 0, 0
    first.kernel = nnx.Param(k_in[..., keep])
    if first.bias is not None:
        first.bias = nnx.Param(b_in[keep])
    first.out_features = int(keep.sum())
    rows = rows[..., keep, :]
    second.kernel = nnx.Param(rows.reshape(-1, rows.shape[-1]) if flat else rows)
    if second.bias is not None:
        second.bias = nnx.Param(b_out)
    second.in_features = int(second.kernel.shape[-2])
    for layer, through in passes:
        through.keep(layer, keep)
    _resize_containers(chain[i][0], chain[j][0], keep)
    return True


def _resize_containers(outer: list, inner: list, keep: np.ndarray) -> None:
    """A nested ``Sequential`` entered between the two layers takes the new width."""
    for container in inner:
        if all(container is not c for c in outer) and container.input_shape is not None:
            *lead, last = container.input_shape
            container.input_shape = (*lead, last // len(keep) * int(keep.sum()))


def prune(model: layers.Sequential) -> layers.Sequential:
    """A copy of ``model`` without the units that cannot change its output.

    Hidden units of ``Dense`` layers and filters of ``Conv`` / ``Conv1D``
    layers go when their incoming kernel column (and bias) or their outgoing
    weights (the next ``Dense`` / ``Conv`` kernel's rows; through a
    ``Flatten``, every row of that filter) are all exactly zero. A unit with a
    zero kernel column but a bias outputs the constant ``activation(bias)``;
    that constant moves into the next layer's bias (not into a padded
    convolution's, whose border windows see zeros too, unless it is zero).
    Repeated until nothing changes. The input and output widths stay.

    The kept weights are copied unchanged (their exact zeros too); the
    regularizers, constraints and initializers stay. The function computed is
    the same up to the float rounding of the folded biases (inference mode:
    a ``Dropout`` or a training-mode ``BatchNormalization`` after a removed
    constant unit would have seen it). Penalties of the removed weights and
    activity penalties of removed units are gone from ``regularization_loss``.

    Args:
      model: a ``research.layers.Sequential`` (nested ones are followed; a
        ``Graph`` is kept as it is).

    Returns:
      A new ``Sequential``; ``model`` is not changed.

    Examples:
      The second of three hidden units has no input: it outputs ``relu(0.5)``, which
      moves into the next bias.

      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> import research.port
      >>> from research.layers import Dense, Sequential
      >>> kernel = nnx.initializers.constant(jnp.array([[1.0, 0.0, -1.0], [2.0, 0.0, 1.0]]))
      >>> bias = nnx.initializers.constant(0.5)
      >>> trained = Sequential(
      ...     Dense(2, 3, activation="relu", kernel_init=kernel, bias_init=bias, rngs=nnx.Rngs(0)),
      ...     Dense(3, 1, rngs=nnx.Rngs(1)),
      ... )
      >>> small = research.port.prune(trained)
      >>> small.layers[0].kernel.shape, small.layers[1].kernel.shape
      ((2, 2), (2, 1))
      >>> x = jnp.linspace(-1, 1, 8).reshape(4, 2)
      >>> bool(jnp.allclose(small(x), trained(x)))
      True
      >>> keras_model = research.port.to_keras_model(small, input_shape=(2,))
      >>> [layer.units for layer in keras_model.layers]  # the smaller widths
      [2, 1]
    """
    if not isinstance(model, layers.Sequential):
        raise TypeError(f"model: expected a research.layers.Sequential, got {type(model).__name__}")
    out = nnx.clone(model)
    changed = True
    while changed:
        changed = False
        chain = list(_leaves(out))
        for i, (_, layer) in enumerate(chain):
            if isinstance(layer, WEIGHTED) and _prune_pair(chain, i):
                changed = True
                break  # the chain's layers changed: walk it again
    return out
