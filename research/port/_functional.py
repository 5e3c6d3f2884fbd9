"""A Keras model's layer calls in a topological order: ``layer_calls``.

Private: ``research.port``'s conversion (``_model.py``) reads models through it.
"""

from __future__ import annotations

from typing import Any

from research.compat import import_keras

Call = tuple[Any, tuple[int, ...]]


def _name(op: Any) -> str:
    return f"{type(op).__name__} {getattr(op, 'name', op)!r}"


def _single_input_output(model: Any) -> tuple[Any, Any]:
    inputs, outputs = list(model.inputs), list(model.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"model {model.name!r}: {len(inputs)} inputs and {len(outputs)} outputs; only "
            "single-input, single-output models are supported"
        )
    return inputs[0], outputs[0]


def _nodes(model: Any, keras_input: Any, keras_output: Any) -> dict[int, tuple[Any, Any]]:
    """Per operation id, the operation and its one call (node) between input and output."""
    found: dict[int, tuple[Any, Any]] = {}
    stack = [keras_output]
    while stack:
        tensor = stack.pop()
        if tensor is keras_input:
            continue
        op, node_index, tensor_index = tensor._keras_history
        node = op._inbound_nodes[node_index]
        if id(op) in found:
            if found[id(op)][1] is not node:
                raise ValueError(
                    f"model {model.name!r}: {_name(op)} is called more than once (a shared "
                    "layer); each layer may be called once"
                )
            continue
        if node.is_input:
            raise ValueError(f"model {model.name!r}: {_name(op)} is an input of its own")
        if len(node.outputs) != 1 or tensor_index != 0:
            raise ValueError(f"{_name(op)}: layers with several outputs are not supported")
        found[id(op)] = (op, node)
        stack.extend(node.input_tensors)
    return found


def layer_calls(model: Any) -> list[Call]:
    """Each layer of a Keras model (``InputLayer`` s left out) with the indices of its inputs.

    ``-1`` is the model's input, ``j >= 0`` the output of the ``j``-th layer
    of the list; the layers come in Keras's own topological order
    (``model.operations``), the model's output last. A ``keras.Sequential``
    is a chain: layer ``i`` takes ``i - 1``.

    Args:
      model: a built ``keras.Sequential`` or functional ``keras.Model``.

    Returns:
      ``[(keras_layer, sources), ...]``.

    Raises:
      ValueError: for a model with several inputs or outputs, a layer called
        twice (shared), a layer with several outputs, or an operation that is
        not a layer (a ``keras.ops`` function applied to a symbolic tensor).

    Examples:
      A residual block, ``Add([x, BatchNormalization(Dense(x))])``:

      >>> import keras
      >>> from research.port._functional import layer_calls
      >>> inputs = keras.Input((4,))
      >>> h = keras.layers.Dense(4, name="dense")(inputs)
      >>> h = keras.layers.BatchNormalization(name="norm")(h)
      >>> keras_model = keras.Model(inputs, keras.layers.Add(name="add")([inputs, h]))
      >>> for layer, sources in layer_calls(keras_model):
      ...     print(layer.name, sources)
      dense (-1,)
      norm (0,)
      add (-1, 1)
    """
    if type(model).__name__ == "Sequential":
        ops = [op for op in model.layers if type(op).__name__ != "InputLayer"]
        return [(op, (i - 1,)) for i, op in enumerate(ops)]
    keras = import_keras()
    keras_input, keras_output = _single_input_output(model)
    found = _nodes(model, keras_input, keras_output)
    order = {id(op): k for k, op in enumerate(model.operations)}
    calls: list[Call] = []
    index = {id(keras_input): -1}
    for op, node in sorted(found.values(), key=lambda pair: order[id(pair[0])]):
        if not isinstance(op, keras.layers.Layer):
            raise ValueError(
                f"model {model.name!r}: operation {_name(op)} is not a layer (a keras.ops "
                "function on a symbolic tensor); use the matching keras.layers layer"
            )
        calls.append((op, tuple(index[id(t)] for t in node.input_tensors)))
        index[id(node.outputs[0])] = len(calls) - 1
    if not calls or index.get(id(keras_output)) != len(calls) - 1:
        raise ValueError(f"model {model.name!r}: its output is not its last layer's")
    return calls
