"""Optional dependencies, imported when a feature needs them, with the line that installs them.

``import_keras()`` is Keras 3 (with TensorFlow, the test extra): the Keras
conversions (``from_keras``, ``to_keras``, ``research.port``) import it on use,
so that the library itself does not.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["import_keras"]


def import_keras() -> ModuleType:
    """The ``keras`` module; raises ``ImportError`` saying how to install it."""
    try:
        import keras
    except ImportError as err:  # pragma: no cover - keras is a test extra
        raise ImportError(
            "the Keras conversions need Keras 3 and TensorFlow: install the package's test "
            "extra (regulax[test]; README: Installing it as a dependency)"
        ) from err
    return keras
