"""Names of pytree paths: how a leaf's place in a params tree is written.

``entry_key`` is the key of one path entry (a dict key, an attribute name or a
sequence index, as ``jax.tree_util`` paths hold them); ``path_str`` joins a
path's keys with ``/`` (``layers/0/kernel``), which is how job files, Keras
ports and masks name a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["entry_key", "path_str"]


def entry_key(entry: Any) -> Any:
    """The key of one path entry: a ``DictKey``'s key, a ``GetAttrKey``'s name, a
    ``SequenceKey``'s index (or the key of NNX's own path entries); else the entry.

    Examples:
      >>> import jax
      >>> from research.trees import entry_key, path_str
      >>> leaves, _ = jax.tree_util.tree_flatten_with_path({"layers": [{"kernel": 1}]})
      >>> path, leaf = leaves[0]
      >>> [entry_key(e) for e in path]
      ['layers', 0, 'kernel']
      >>> path_str(path)
      'layers/0/kernel'
    """
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return getattr(entry, attr)
    return entry


def path_str(path: Iterable[Any], sep: str = "/") -> str:
    """A path's entry keys joined by ``sep``: ``layers/0/kernel``."""
    return sep.join(str(entry_key(e)) for e in path)
