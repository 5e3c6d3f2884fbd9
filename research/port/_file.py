"""Reading a ``.keras`` file: Keras's safe mode on, never pickle.

Private: import ``load_keras_model`` from ``research.port``.
"""

from __future__ import annotations

import functools
import os
import zipfile
from pathlib import Path
from typing import Any

from research.compat import import_keras


def load_keras_model(path: str | os.PathLike) -> Any:
    """Loads a Keras 3 ``.keras`` file with ``safe_mode=True`` (compiled when it was saved so).

    A ``.keras`` file is a zip of a JSON config and the weights; no code from
    the file runs (a Lambda layer or another object that needs it is refused
    with Keras's reason). The model is cached per path, size and modification
    time, so a grid's jobs read a file once per process.

    Args:
      path: the file.

    Returns:
      The ``keras.Model``.

    Raises:
      ValueError: for a missing, unreadable or non-``.keras`` file, or one Keras
        refuses, naming the path and the reason.

    Examples:
      >>> import os
      >>> import tempfile
      >>> import keras
      >>> import numpy as np
      >>> from research.port import load_keras_model
      >>> saved = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
      >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
      >>> saved.save(path)
      >>> keras_model = load_keras_model(path)
      >>> x = np.ones((1, 3), "float32")
      >>> bool(np.allclose(keras_model.predict(x, verbose=0), saved.predict(x, verbose=0)))
      True
      >>> load_keras_model(path) is keras_model  # read once per process
      True
      >>> load_keras_model(os.path.join(os.path.dirname(path), "model.h5"))
      Traceback (most recent call last):
      ...
      ValueError: model.path: '...model.h5' is not a .keras file (Keras 3's format; ...)
    """
    path = Path(path).expanduser()
    if path.suffix != ".keras":
        raise ValueError(
            f"model.path: {str(path)!r} is not a .keras file (Keras 3's format; "
            "legacy .h5 files and SavedModel directories are not read)"
        )
    if not path.is_file():
        raise ValueError(f"model.path: {str(path)!r} does not exist or is not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("config.json")
    except (OSError, zipfile.BadZipFile, KeyError) as err:
        raise ValueError(
            f"model.path: {str(path)!r} is not a readable .keras file ({err})"
        ) from err
    stat = path.stat()
    return _load(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _load(path: str, size: int, mtime_ns: int) -> Any:
    del size, mtime_ns  # part of the cache key: a rewritten file is read again
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=True, safe_mode=True)
    except Exception as err:  # Keras raises many types; each becomes one clear error
        raise ValueError(f"model.path: Keras could not load {path!r} in safe mode: {err}") from err
