"""Conversion to and from Keras regularizers, derived from ``REGULARIZERS``.

Private: import ``from_keras`` from ``research.regularizers``.
"""

from __future__ import annotations

from typing import Any

from research.regularizers._base import Regularizer
from research.regularizers._penalties import REGULARIZERS, ElasticNet

# --------------------------------------------------------------------------- #
# Keras interop
# --------------------------------------------------------------------------- #
_BY_KERAS_CLASS = {cls.keras_name: cls for cls in REGULARIZERS.values() if cls.keras_name}
# Keras's string aliases (keras.regularizers.get): the lowercase class names and "l1_l2".
_BY_KERAS_NAME = {name.lower(): cls for name, cls in _BY_KERAS_CLASS.items()} | {
    "l1_l2": ElasticNet,
    "orthogonal_regularizer": REGULARIZERS["orthogonal"],
}


def from_keras(obj_or_config: Any) -> Regularizer:
    """Converts a Keras regularizer (or its config) into the equivalent regularizer.

    Accepts a ``keras.regularizers.L1`` / ``L2`` / ``L1L2`` /
    ``OrthogonalRegularizer`` object, the dict of
    ``keras.regularizers.serialize(obj)`` (with ``class_name``), a bare
    ``obj.get_config()`` dict (``{"l1": ...}``, ``{"l2": ...}`` or both), or
    a name (``"l1"``, ``"l2"``, ``"l1_l2"``, ``"orthogonal_regularizer"``) for
    Keras's defaults.

    Keras's ``L1`` stores its strength rounded to float32
    (``L1(0.3).get_config()`` is ``{"l1": 0.30000001192092896}``), ``L2`` and
    ``L1L2`` keep theirs as given (Keras 3.15); the converted regularizer keeps Keras's exact value,
    so it reproduces Keras in float64 too.

    Raises:
      ValueError: for any other Keras regularizer class (naming it) or an
        unrecognised config.

    Examples:
      >>> import keras
      >>> from research.regularizers import from_keras
      >>> from_keras(keras.regularizers.L1(0.3))
      L1(l1=0.30000001192092896)
      >>> from_keras(keras.regularizers.L1L2(l1=0.01, l2=0.1))
      ElasticNet(l1=0.01, l2=0.1)
      >>> from_keras({"l2": 0.1}), from_keras("l1_l2")  # a bare config; Keras's defaults
      (L2(l2=0.1), ElasticNet(l1=0.01, l2=0.01))
    """
    if isinstance(obj_or_config, Regularizer):
        return obj_or_config
    if isinstance(obj_or_config, str):
        cls = _BY_KERAS_NAME.get(obj_or_config.lower())
        if cls is None:
            raise ValueError(
                f"from_keras: unknown regularizer name {obj_or_config!r}; expected one of "
                f"{sorted(_BY_KERAS_NAME)}"
            )
        return cls(0.01, 0.01) if cls is ElasticNet else cls()
    if isinstance(obj_or_config, dict):
        if "class_name" in obj_or_config:
            return _from_class(obj_or_config["class_name"], obj_or_config.get("config") or {})
        keys = set(obj_or_config)
        for class_name, cls in _BY_KERAS_CLASS.items():
            if keys == {*cls.strength_keys(), *cls.options}:
                return _from_class(class_name, obj_or_config)
        raise ValueError(
            f"from_keras: unrecognised regularizer config keys {sorted(keys)}; expected "
            "the keys of a get_config() dict or a 'class_name' entry"
        )
    get_config = getattr(obj_or_config, "get_config", None)
    if get_config is None:
        raise TypeError(
            "from_keras: expected a Keras regularizer, its config dict or a name, got "
            f"{type(obj_or_config).__name__}"
        )
    return _from_class(type(obj_or_config).__name__, get_config())


def _from_class(class_name: str, config: dict[str, Any]) -> Regularizer:
    cls = _BY_KERAS_CLASS.get(class_name)
    if cls is None:
        raise ValueError(
            f"from_keras: Keras regularizer class {class_name!r} has no equivalent here; "
            f"supported: {', '.join(_BY_KERAS_CLASS)}"
        )
    try:
        return cls(**{k: v if k in cls.options else float(v) for k, v in config.items()})
    except TypeError as err:
        raise ValueError(f"from_keras: bad config for {class_name}: {config!r}") from err
