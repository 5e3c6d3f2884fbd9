"""A ``.keras`` file's converted layers, loss and optimizer, once per file version.

Private: the engine's ``model=keras``, ``loss=keras`` and ``optimizer=keras``
read a file through these (``research.port``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, cast

import optax
from flax import nnx

from research import layers
from research.optim import from_keras_optimizer
from research.port._file import load_keras_model
from research.port._loss import KerasLoss, from_keras_loss
from research.port._model import ParamPath, _built, _sequential


def file_version(path: str | None) -> tuple[str, int, int]:
    """The file's resolved path, size and modification time (the cache key), after
    ``load_keras_model``'s checks."""
    if not path:
        raise ValueError("model.path: expected the path of a .keras file, got nothing")
    load_keras_model(path)
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return str(resolved), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _converted(path: str, size: int, mtime_ns: int) -> tuple[layers.Sequential, dict]:
    del size, mtime_ns  # cache key: a rewritten file is converted again
    model = load_keras_model(path)
    _built(model)
    return _sequential(model, nnx.Rngs(params=0))


def cached_model(path: str | None, kernel_regularizers: bool = True) -> layers.Sequential:
    """A copy of the converted layers of the ``.keras`` file at ``path``.

    Args:
      path: the file.
      kernel_regularizers: keep the layers' kernel regularizers (False: drop them).

    Returns:
      The ``Sequential``, with ``out_features`` (the Keras model's last output size).

    Raises:
      ValueError: for a missing or unreadable file or an unsupported layer.
    """
    converted = _converted(*file_version(path))[0]
    # nnx.split with two filters returns three parts; its stub says "two or more"
    graph, params, rest = cast(
        "tuple[nnx.GraphDef[Any], nnx.State, nnx.State]", nnx.split(converted, nnx.Param, ...)
    )
    model = nnx.merge(graph, nnx.to_pure_dict(params), nnx.to_pure_dict(rest))
    if not kernel_regularizers:
        for _, layer in nnx.iter_graph(model):
            if isinstance(layer, layers.Dense | layers.Conv):
                layer.kernel_regularizer = None
    assert path is not None  # file_version raised for a missing path
    shape = getattr(load_keras_model(path), "output_shape", None)
    model.out_features = shape[-1] if isinstance(shape, tuple) and shape else None
    return model


def cached_variables(path: str | None) -> dict[ParamPath, Any]:
    """The Keras variable behind each parameter path of ``cached_model(path)``."""
    return _converted(*file_version(path))[1]


def _compiled(path: str | None, what: str) -> Any:
    model = load_keras_model(file_version(path)[0])
    if not getattr(model, "compiled", False):
        raise ValueError(f"{what}: keras reads the compiled {what} of {path!r}, saved without one")
    return model


def cached_loss(path: str | None) -> KerasLoss:
    """The compiled loss of the ``.keras`` file at ``path``.

    Raises:
      ValueError: when the file's model was not compiled or its loss is unsupported.
    """
    return from_keras_loss(_compiled(path, "loss").loss)


def cached_optimizer(path: str | None, learning_rate: Any = None) -> optax.GradientTransformation:
    """The compiled optimizer of the ``.keras`` file at ``path`` (``learning_rate``
    replaces its rate or schedule when given).

    Raises:
      ValueError: when the file's model was not compiled or its optimizer is unsupported.
    """
    optimizer = _compiled(path, "optimizer").optimizer
    return from_keras_optimizer(
        optimizer, learning_rate=learning_rate, variables=cached_variables(path)
    )
