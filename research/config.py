"""A run's configuration: its keys, and the one place that checks them.

``resolve(config)`` turns a config (a dict, an OmegaConf ``DictConfig`` or a
``TrainConfig``) into a ``RunSpec``: frozen, with every default filled in and
every value checked, before anything is loaded or compiled. A bad value
raises ``ValueError`` naming the key (``regularizer.l1``) and what was
expected.

The names and keys of regularizers, methods, optimizers, models, data sets
and losses come from their registries (``research.regularizers.REGULARIZERS``,
``research.methods.METHODS`` / ``OPTIMIZERS``, ``research.models.MODELS``,
``research.data.LOADERS``, ``research.losses.LOSSES``); nothing here lists
them again. The Hydra schemas are derived from the same registries in
``research.schemas``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from research import data, losses, methods, models
from research.checks import check_nonnegative
from research.regularizers import BOX_KEYS, REGULARIZERS, from_config

__all__ = ["RunSpec", "TrainConfig", "loader_defaults", "regularizer_keys", "resolve"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainConfig:
    """Every key of a training run, with the blog post's experiment as the default.

    Attributes:
      data: ``name`` (a key of ``research.data.LOADERS``) and the loader's
        keyword arguments; missing ones take the loader's defaults.
      model: ``name`` (a key of ``research.models.MODELS``) and the builder's
        keyword arguments (defaults: the builder's).
      regularizer: ``name`` (none or a key of ``REGULARIZERS``: l1, l2,
        elastic_net, group_lasso), its strengths (``l1``, ``l2``,
        ``strength``; each a number or a list of numbers to vmap over),
        ``axis`` for group_lasso, and ``layers`` (indices of the layers whose
        kernels are penalized; null for all).
      optimizer: ``name`` (sgd, adam), ``learning_rate`` and the builder's
        other arguments (``research.methods.OPTIMIZERS``).
      method: ``subgradient``, ``proximal``, ``preconditioned``, ``fista`` or
        ``coordinate_descent`` (a linear model's exact path; see ``research.methods``).
      loss: a key of ``research.losses.LOSSES``.
      epochs, batch_size: the step count is ``epochs * ceil(n_train / batch_size)``;
        a last partial batch is averaged over its own size, as in Keras.
      shuffle: reshuffle the training set each epoch (per seed).
      num_seeds, seed: PRNG seeds ``0..num_seeds-1`` split from the key ``seed``.
      record_every: steps between weight snapshots (raised as needed so that
        at most ``max_snapshots`` are kept); 0 records start and end only.
      snapshot_seeds: how many seeds (the first ones) keep snapshots.
      record_step_loss: also keep the loss of every step (memory grows with
        steps x seeds x strengths).
      record_buffer: step losses kept on the device per block of steps, at
        most (seeds x strengths x block steps); the epoch sums and divergence
        checks run once a block.
      sparsity_tol: ``|w| < sparsity_tol`` counts as near zero.
      progress: show a progress bar (None: only for runs of 20,000 steps or more).
      shard_seeds: split the seed axis over several devices (``jax.sharding``):
        None splits it over the CPU devices when the run is large enough to
        gain (``research.engine.devices``; ``RESEARCH_CPU_DEVICES`` sets how
        many), True over every device of the default backend, False never.
        Results do not depend on it.
      use_moments: train a ``linear`` model under ``mse`` / ``half_mse`` on full
        batches from the data's second moments (None: wherever that applies
        and ``p <= n``; False: read the data every step).
    """

    data: Any = dataclasses.field(default_factory=lambda: {"name": "line_outliers"})
    model: Any = dataclasses.field(default_factory=lambda: {"name": "mlp"})
    regularizer: Any = dataclasses.field(default_factory=lambda: {"name": "none"})
    optimizer: Any = dataclasses.field(default_factory=lambda: {"name": "sgd"})
    method: Any = "subgradient"
    loss: str = "abs_sum"
    epochs: int = 100
    batch_size: int = 1
    shuffle: bool = False
    num_seeds: int = 5
    seed: int = 0
    record_every: int = 40
    max_snapshots: int = 101
    snapshot_seeds: int = 5
    record_step_loss: bool = False
    record_buffer: int = 1 << 22
    sparsity_tol: float = 1e-3
    progress: bool | None = None
    shard_seeds: bool | None = None
    use_moments: bool | None = None


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A checked run: what the engine needs, defaults filled in.

    ``strengths`` maps each strength key of the regularizer to its ``(K,)``
    values (one entry ``K`` of the strength axis per setting trained side by
    side); ``config`` is the resolved config as plain data, as job files
    record it.
    """

    data: dict[str, Any]
    model: dict[str, Any]
    regularizer: str
    strengths: dict[str, np.ndarray]
    regularizer_options: dict[str, Any]
    layers: tuple[int, ...] | None
    optimizer: str
    learning_rate: float
    optimizer_options: dict[str, Any]
    method: str
    loss: str
    task: str
    epochs: int
    batch_size: int
    shuffle: bool
    num_seeds: int
    seed: int
    record_every: int
    max_snapshots: int
    snapshot_seeds: int
    record_step_loss: bool
    record_buffer: int
    sparsity_tol: float
    progress: bool | None
    shard_seeds: bool | None
    use_moments: bool | None
    config: dict[str, Any]

    @property
    def num_strengths(self) -> int:
        return len(next(iter(self.strengths.values()))) if self.strengths else 1


def loader_defaults(name: str) -> dict[str, Any]:
    """The keyword arguments of data set ``name``'s loader with their defaults."""
    params = inspect.signature(data.LOADERS[name]).parameters.values()
    return {p.name: p.default for p in params}


def regularizer_keys() -> set[str]:
    """The strength and option keys of every regularizer: one schema fits them all, so that
    a grid may sweep ``regularizer=l1,l2`` together with ``regularizer.l1=...``."""
    keys = set(BOX_KEYS)
    for cls in REGULARIZERS.values():
        keys |= {*cls.strength_keys(), *cls.options}
    return keys


def _plain(config: Any) -> dict[str, Any]:
    if isinstance(config, TrainConfig):
        return dataclasses.asdict(config)
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if not isinstance(config, Mapping):
        raise TypeError(f"config: expected a mapping or TrainConfig, got {type(config).__name__}")
    return dict(config)


def _choice(group: str, config: dict[str, Any], registry: Mapping, defaults) -> dict[str, Any]:
    """``config`` of a group with its name checked and its defaults filled in."""
    name = config.get("name")
    if name not in registry:
        raise ValueError(f"{group}.name: expected one of {sorted(registry)}, got {name!r}")
    known = defaults(name)
    unknown = sorted(k for k in set(config) - set(known) - {"name"} if not k.startswith("_"))
    if unknown:
        raise ValueError(f"{group} ({name}): unknown key(s) {unknown}; expected {sorted(known)}")
    known = {k: list(v) if isinstance(v, tuple) else v for k, v in known.items()}
    return {"name": name, **known, **config}


_LOWER_BOUNDS = {"epochs": 1, "batch_size": 1, "num_seeds": 1, "record_every": 0,
                 "max_snapshots": 2, "snapshot_seeds": 0, "record_buffer": 1}  # fmt: skip


def _check_scalars(resolved: dict[str, Any]) -> None:
    if resolved["method"] not in methods.METHODS:
        raise ValueError(
            f"method: expected one of {list(methods.METHODS)}, got {resolved['method']!r}"
        )
    if resolved["loss"] not in losses.LOSSES:
        raise ValueError(f"loss: expected one of {list(losses.LOSSES)}, got {resolved['loss']!r}")
    for key, low in _LOWER_BOUNDS.items():
        value = resolved[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{key}: expected an integer >= {low}, got {value!r}")
    check_nonnegative("sparsity_tol", resolved["sparsity_tol"])
    for key in ("use_moments", "shard_seeds"):
        if resolved[key] not in (None, True, False):
            raise ValueError(f"{key}: expected true, false or null, got {resolved[key]!r}")


def _strengths(config: dict[str, Any]) -> tuple[str, dict[str, np.ndarray], dict, Any]:
    """Splits a regularizer config into name, strength vectors ``(K,)``, options, layers.

    A key that does not apply to the chosen regularizer must be null or is
    ignored with a logged warning.
    """
    config = dict(config)
    name = config.pop("name", "none")
    layers = config.pop("layers", None)
    box = {k: v for k in BOX_KEYS if (v := config.pop(k, None)) is not None}
    if name != "none" and name not in REGULARIZERS:
        raise ValueError(
            f"regularizer.name: expected none or one of {sorted(REGULARIZERS)}, got {name!r}"
        )
    cls = REGULARIZERS.get(name)
    fields = cls.strength_keys() if cls else ()
    option_keys = cls.options if cls else ()
    shared = regularizer_keys()
    unknown = sorted(set(config) - shared)
    if unknown:
        raise ValueError(
            f"regularizer ({name}): unknown key(s) {unknown}; expected {sorted(shared)}"
        )
    ignored = sorted(
        k for k, v in config.items() if k not in fields + option_keys and v is not None
    )
    if ignored:
        log.warning("regularizer (%s): ignoring %s, which does not apply to it", name, ignored)
    lengths = {len(v) for v in (config.get(f) for f in fields) if isinstance(v, list | tuple)}
    if len(lengths) > 1:
        raise ValueError(
            f"regularizer ({name}): strength lists must have one length, got {sorted(lengths)}"
        )
    k = lengths.pop() if lengths else 1
    if k == 0:
        raise ValueError(f"regularizer ({name}): a strength list is empty")
    strengths = {}
    for f in fields:
        if config.get(f) is None:
            raise ValueError(f"regularizer.{f}: missing (needed by {name})")
        value = config[f]
        values = list(value) if isinstance(value, list | tuple) else [value] * k
        for v in values:
            check_nonnegative(f"regularizer.{f}", v)
        strengths[f] = np.asarray(values, dtype=np.float64)
    options = {f: config[f] for f in option_keys if config.get(f) is not None}
    if isinstance(options.get("axis"), list):
        options["axis"] = tuple(options["axis"])
    options.update(_box(name, cls, box))
    return name, strengths, options, tuple(layers) if layers is not None else None


def _box(name: str, cls: Any, box: dict[str, Any]) -> dict[str, float]:
    """``regularizer.lower`` / ``upper`` as floats (``-inf`` / ``inf`` allowed)."""
    for key, value in box.items():
        if cls is None or not cls.separable:
            raise ValueError(
                f"regularizer.{key}: box limits need a separable penalty "
                f"({', '.join(n for n, c in REGULARIZERS.items() if c.separable)}); "
                f"{name} is not one"
                + (" (for limits alone use regularizer=l1 regularizer.l1=0)" if cls is None else "")
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(
                f"regularizer.{key}: expected one number (-inf / inf allowed), got {value!r}"
            )
    if box.get("lower", -np.inf) > box.get("upper", np.inf):
        raise ValueError(
            f"regularizer.lower: expected lower <= upper, got lower={box['lower']!r} > "
            f"upper={box['upper']!r}"
        )
    return {k: float(v) for k, v in box.items()}


def _check_options(name: str, strengths: dict[str, np.ndarray], options: dict[str, Any]) -> None:
    """Builds the regularizer once, so that a bad option (``gamma <= 0``, an unsupported
    ``q``) is an error naming ``regularizer.<key>`` before anything is loaded."""
    if name not in REGULARIZERS:
        return
    try:
        from_config(name, **{k: float(v[0]) for k, v in strengths.items()}, **options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"regularizer.{err}") from err


def _check_box(method: str, options: dict[str, Any]) -> None:
    """Box limits are kept by a proximal step: refused by the other methods."""
    key = next((k for k in BOX_KEYS if k in options), None)
    if key is not None and method not in methods.PROXIMAL_METHODS:
        raise ValueError(
            f"regularizer.{key}: box limits are kept by the penalty's proximal step, which "
            f"method={method} does not take; use method=" + ", ".join(methods.PROXIMAL_METHODS)
        )


def _keras_keys(resolved: dict[str, Any]) -> None:
    """Checks ``model=keras`` / ``loss=keras`` / ``optimizer=keras`` against the file.

    The file is read and converted here, so a missing file or an unsupported
    layer, loss or optimizer fails before anything is compiled.
    ``optimizer=keras`` reads ``model.path`` unless it names its own file; its
    null ``learning_rate`` becomes the file's initial rate (``_from_file``: the
    file's schedule is kept).
    """
    from research import port

    model, optimizer = resolved["model"], resolved["optimizer"]
    if model["name"] == "keras":
        port.cached_model(model["path"])
        model["_version"] = list(port.file_version(model["path"])[1:])
    if resolved["loss"] == "keras":
        if model["name"] != "keras":
            raise ValueError("loss: keras is the compiled loss of a Keras file; use model=keras")
        port.cached_loss(model["path"])
    if optimizer["name"] != "keras":
        return
    if optimizer.get("path") is None:
        if model["name"] != "keras":
            raise ValueError("optimizer.path: needed by optimizer=keras without model=keras")
        optimizer["path"] = model["path"]
    port.cached_optimizer(optimizer["path"])
    optimizer["_from_file"] = optimizer.get("learning_rate") is None
    if optimizer["_from_file"]:
        keras_optimizer = port.load_keras_model(optimizer["path"]).optimizer
        optimizer["learning_rate"] = port.initial_learning_rate(keras_optimizer)


def resolve(config: Any) -> RunSpec:
    """Checks a config and fills in its defaults; nothing is loaded or compiled.

    Args:
      config: a ``TrainConfig``, a dict or an OmegaConf config (the keys of
        ``TrainConfig``; missing ones take its defaults).

    Returns:
      The frozen ``RunSpec``.

    Raises:
      ValueError: for a bad key or value, naming it and what was expected.
    """
    given = _plain(config)
    defaults = dataclasses.asdict(TrainConfig())
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"config: unknown key(s) {unknown}; expected keys of TrainConfig")
    resolved = {**defaults, **given}
    for key in ("data", "model", "regularizer", "optimizer"):
        resolved[key] = dict(resolved[key] or {})
    if isinstance(resolved["method"], Mapping):
        resolved["method"] = resolved["method"].get("name")
    _check_scalars(resolved)
    resolved["data"] = _choice("data", resolved["data"], data.LOADERS, loader_defaults)
    resolved["model"] = _choice("model", resolved["model"], models.MODELS, models.model_defaults)
    optimizer = resolved["optimizer"] = _choice(
        "optimizer", resolved["optimizer"], methods.OPTIMIZERS, methods.optimizer_defaults
    )
    _keras_keys(resolved)
    task, need = data.TASKS[resolved["data"]["name"]], losses.TASKS[resolved["loss"]]
    if need is not None and task != need:
        raise ValueError(
            f"loss: {resolved['loss']} needs a {need} data set, and "
            f"{resolved['data']['name']} is a {task} data set"
        )
    name, strengths, options, layers = _strengths(resolved["regularizer"])
    _check_options(name, strengths, options)
    learning_rate = optimizer["learning_rate"]
    check_nonnegative("optimizer.learning_rate", learning_rate)
    opt_options = {k: v for k, v in optimizer.items() if k not in ("name", "learning_rate")}
    methods.check_method(resolved["method"], optimizer["name"], opt_options, REGULARIZERS.get(name))
    _check_box(resolved["method"], options)
    methods.check_exact(
        resolved["method"], resolved["model"]["name"], resolved["loss"], name or "none", layers
    )
    return RunSpec(
        data=resolved["data"],
        model=resolved["model"],
        regularizer=name,
        strengths=strengths,
        regularizer_options=options,
        layers=layers,
        optimizer=optimizer["name"],
        learning_rate=learning_rate,
        optimizer_options=opt_options,
        task=task,
        config=resolved,
        **{k: resolved[k] for k in _SCALAR_KEYS},
    )


_SCALAR_KEYS = (
    "method", "loss", "epochs", "batch_size", "shuffle", "num_seeds", "seed", "record_every",
    "max_snapshots", "snapshot_seeds", "record_step_loss", "record_buffer", "sparsity_tol",
    "progress", "shard_seeds", "use_moments",
)  # fmt: skip
