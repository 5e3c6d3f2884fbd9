"""Hydra schemas, derived from the registries: one dataclass per option of a group.

Hydra merges each YAML file of ``configs/<group>/`` into the schema it names
first in its defaults (``defaults: [schema_l1, _self_]``), so an unknown key
(``regularizer.l3=1``) or a wrong type (``epochs=ten``) is rejected at
composition with the key's full name. The schemas' fields and defaults are
read from the signatures of the registered builders (data loaders, model
builders, optimizers): a default lives in one place, the builder.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any, cast

from research import data, methods, models
from research.config import TrainConfig, regularizer_keys
from research.regularizers import REGULARIZERS

__all__ = ["GROUP_SCHEMAS", "RunConfig", "named_schema", "schema_of"]


def _field_type(hint: Any) -> Any:
    """OmegaConf's spelling of a hint: sequences become lists."""
    if typing.get_origin(hint) in (collections.abc.Sequence, tuple):
        return list[typing.get_args(hint)[0]]  # type: ignore[misc]  # the item type is read from the hint at runtime
    return hint


def _default(value: Any) -> dataclasses.Field:
    # dataclasses.field's stub types it as its default (for class bodies); it is a Field.
    if isinstance(value, list | tuple):
        return cast(dataclasses.Field, dataclasses.field(default_factory=lambda: list(value)))
    return cast(dataclasses.Field, dataclasses.field(default=value))


def schema_of(group: str, name: str, builder: Callable, *, skip: tuple[str, ...] = ()) -> type:
    """A dataclass with ``name`` and the keyword arguments of ``builder`` (types, defaults)."""
    hints = typing.get_type_hints(builder)
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=name))]
    for param in inspect.signature(builder).parameters.values():
        if param.name in skip or param.name.startswith("_"):
            continue
        fields.append((param.name, _field_type(hints[param.name]), _default(param.default)))
    title = "".join(part.title() for part in name.split("_"))
    return dataclasses.make_dataclass(f"{title}{group.title()}", fields)


def regularizer_schema(name: str) -> type:
    """The schema of regularizer ``name``: the keys of every regularizer (so that a grid
    may sweep ``regularizer=l1,l2`` together with ``regularizer.l1=...``), its own with
    the class's defaults, the others null; and ``layers``."""
    own = {}
    if name in REGULARIZERS:
        params = inspect.signature(REGULARIZERS[name]).parameters
        own = {k: p.default for k, p in params.items() if k != "mask"}
    fields: list[tuple[str, Any, Any]] = [("name", str, dataclasses.field(default=name))]
    fields += [(key, Any, _default(own.get(key))) for key in sorted(regularizer_keys())]
    fields.append(("layers", list[int] | None, dataclasses.field(default=None)))
    return dataclasses.make_dataclass(f"{name.title().replace('_', '')}Regularizer", fields)


def named_schema(group: str, name: str) -> type:
    """A schema with ``name`` alone (an option without keys, such as ``method=proximal``)."""
    return dataclasses.make_dataclass(
        f"{name.title()}{group.title()}", [("name", str, dataclasses.field(default=name))]
    )


@dataclasses.dataclass
class RunConfig(TrainConfig):
    """The command line's config: the engine's keys plus where and how a job runs.

    Attributes:
      name: names the multirun directory ``outputs/multirun/<name>``;
        launching the same grid again under the same name resumes it.
      output_root: where runs and multiruns go.
      compilation_cache_dir: JAX's persistent compilation cache (shared by
        jobs in separate processes); null disables it.
      logger: the experiment tracker each job is logged to (``logger=mlflow``,
        ``logger=tensorboard``; ``none`` by default), see ``research.tracking``.
    """

    # The groups fill these in; no defaults here, so nothing of another option leaks in.
    data: Any = "???"
    model: Any = "???"
    regularizer: Any = "???"
    optimizer: Any = "???"
    method: Any = "???"
    logger: Any = "???"
    name: str = "default"
    output_root: str = "outputs"
    compilation_cache_dir: str | None = "${output_root}/.jax_cache"


_MODEL_ARGS = ("in_features", "out_features", "rngs")

GROUP_SCHEMAS: dict[str, dict[str, type]] = {
    "data": {name: schema_of("data", name, fn) for name, fn in data.LOADERS.items()},
    "model": {
        name: schema_of("model", name, fn, skip=_MODEL_ARGS) for name, fn in models.MODELS.items()
    },
    "regularizer": {name: regularizer_schema(name) for name in ("none", *REGULARIZERS)},
    "optimizer": {
        name: schema_of("optimizer", name, fn) for name, fn in methods.OPTIMIZERS.items()
    },
    "method": {name: named_schema("method", name) for name in methods.METHODS},
}
"""Per config group of the library, each option's schema (stored as
``<group>/schema_<option>``); the command line adds the trackers' ``logger`` group
(``research.cli.configs.GROUP_SCHEMAS``)."""
