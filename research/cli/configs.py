"""The command line's Hydra configs: where they ship, their schemas, and the launch check.

The YAML files ship inside the package (``research/configs/``; Hydra's search
path ``pkg://research.configs``), so every command works from an installed
wheel, in any directory. ``--config-dir DIR`` adds a directory of one's own
after them: its new names add options and groups (``DIR/experiment/mine.yaml``
-> ``experiment=mine``; ``DIR/local/default.yaml`` is read by every run, for
machine settings), while a shipped file of the same group and name is found
first (Hydra's search order), so a changed copy needs a name of its own.

``check_launch(args)`` composes and checks every job of a command line
before Hydra starts one (``research-train`` calls it first): a bad value or
name anywhere in a grid fails the launch at once, naming the job's
overrides, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from research import schemas, tracking
from research.config import TrainConfig, resolve

__all__ = [
    "CONFIG_MODULE",
    "CONFIG_PATH",
    "GROUP_SCHEMAS",
    "VERSION_BASE",
    "LaunchError",
    "check_launch",
    "check_overrides",
    "config_dir",
    "register_configs",
]

VERSION_BASE = "1.3"
"""Hydra's ``version_base`` of every composition (``hydra.main`` and ``check_launch``)."""
CONFIG_MODULE = "research.configs"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
"""Hydra's search path of the shipped configs (``hydra.main(config_path=CONFIG_PATH)``)."""

GROUP_SCHEMAS: dict[str, dict[str, type]] = {
    **schemas.GROUP_SCHEMAS,
    "logger": {
        "none": schemas.named_schema("logger", "none"),
        **{name: schemas.schema_of("logger", name, cls) for name, cls in tracking.TRACKERS.items()},
    },
}
"""Per config group, each option's schema (stored as ``<group>/schema_<option>``): the
library's groups (``research.schemas``) and the trackers of ``logger``."""

_BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
_QUERIES = ("help", "hydra_help", "cfg", "info", "shell_completion")


class LaunchError(ValueError):
    """A command line that cannot run: a bad override, config value or config name."""


def config_dir() -> Path:
    """The directory of the shipped configs (``research/configs/`` of the installed package)."""
    path = resources.files(CONFIG_MODULE)
    if not isinstance(path, Path):  # pragma: no cover - a zipped install
        raise RuntimeError(f"{CONFIG_MODULE}: expected a package on disk, found {path!r}")
    return path


def register_configs() -> None:
    """Registers the schemas with Hydra's ConfigStore as ``<group>/schema_<name>``."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="schema_train", node=schemas.RunConfig)
    for group, options in GROUP_SCHEMAS.items():
        for option, schema in options.items():
            store.store(group=group, name=f"schema_{option}", node=schema)


def _group_keys(group: str) -> set[str]:
    """Every key an option of config group ``group`` may have (its schemas' fields)."""
    return {f.name for schema in GROUP_SCHEMAS[group].values() for f in dataclasses.fields(schema)}


def check_overrides(args: list[str]) -> None:
    """Rejects ``+key=value`` / ``++key=value`` for a key the schemas do not have.

    Hydra adds an appended key to the config even where the schema has no
    such field (``+num_seed=3`` would run with the default ``num_seeds``);
    here it is an error naming the key, as an unknown key without ``+`` is.
    Groups (``+sweep=gd_1d``) and ``hydra.*`` keys are left to Hydra.

    Raises:
      LaunchError: naming the override and the keys expected there.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    dirs = [config_dir(), *(Path(d) for d in _extra_config_dirs(args) if Path(d).is_dir())]
    groups = {p.name for d in dirs for p in d.iterdir() if p.is_dir()} | set(GROUP_SCHEMAS)
    top = {f.name for f in dataclasses.fields(schemas.RunConfig)}
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise LaunchError(_one_line(err)) from err
    for override in parsed:
        if not (override.is_add() or override.is_force_add()):
            continue
        key = override.key_or_group
        head, _, rest = key.partition(".")
        if head == "hydra" or (not rest and key in groups) or "/" in key:
            continue
        if not rest and key not in top:
            raise LaunchError(
                f"{override.input_line}: {key!r} is not a config key; expected one of {sorted(top)}"
            )
        if rest and head in GROUP_SCHEMAS and rest.split(".")[0] not in _group_keys(head):
            raise LaunchError(
                f"{override.input_line}: {key!r} is not a key of {head}; expected one of "
                f"{sorted(_group_keys(head))}"
            )
        if rest and head not in GROUP_SCHEMAS and head not in top:
            raise LaunchError(f"{override.input_line}: {head!r} is not a config key or group")


def _extra_config_dirs(args: list[str]) -> list[str]:
    """The directories ``--config-dir DIR`` / ``-cd DIR`` (or ``--config-dir=DIR``) name."""
    dirs = []
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag in ("--config-dir", "-cd"):
            if eq:
                dirs.append(value)
            elif i + 1 < len(args):
                dirs.append(args[i + 1])
    return dirs


def _one_line(err: BaseException) -> str:
    """An exception (and the error it was raised from) as one line, without Hydra's search
    path and the schemas among a group's options."""
    parts = [str(err).split("Config search path:")[0]]
    if err.__cause__ is not None and str(err.__cause__) not in parts[0]:
        parts.append(str(err.__cause__))
    line = ": ".join(" ".join(p.split()) for p in parts if p.strip())
    return re.sub(r" schema_\w+", "", line)


def check_launch(args: list[str], *, config_name: str = "train") -> int:
    """Composes every job of ``research-train <args>`` and checks its config; nothing runs.

    A single run is composed as Hydra composes it; a grid (``-m``, or
    ``hydra.mode=MULTIRUN``) is expanded as Hydra's basic sweeper expands it
    (``hydra.sweeper.params`` of a ``+sweep`` file, then the command line), and
    each job's config is composed and checked by ``research.config.resolve``.
    Queries (``--help``, ``--cfg``, ``--info``, ...) and other sweepers are left
    to Hydra.

    Returns:
      How many jobs were checked (0 for a query).

    Raises:
      LaunchError: the first bad job, naming its overrides in a grid, and the key.
    """
    from hydra import version
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    parsed = get_args_parser().parse_args(args)
    if any(getattr(parsed, name) for name in _QUERIES):
        return 0
    version.setbase(VERSION_BASE)  # compose by the rules hydra.main will run with
    name = parsed.config_name or config_name
    overrides = list(parsed.overrides)
    GlobalHydra.instance().clear()
    try:
        hydra = _main_hydra(parsed.config_path, parsed.config_dir)
        if parsed.multirun or hydra.get_mode(name, overrides) == RunMode.MULTIRUN:
            return _check_grid(hydra, hydra.compose_config(name, overrides, RunMode.MULTIRUN))
        _check_job(hydra.compose_config(name, overrides, run_mode=RunMode.RUN), None)
        return 1
    except (HydraException, OmegaConfBaseException) as err:
        raise LaunchError(_one_line(err)) from err
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None


def _main_hydra(config_path: str | None, config_dir: str | None) -> Any:
    """Hydra with the search path ``hydra.main`` builds for research.cli.train's task
    function: ``config_path`` (default: the shipped configs), then ``--config-dir``."""
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    search_path = create_automatic_config_search_path(
        None, "research.cli.train", config_path or CONFIG_PATH
    )
    if config_dir is not None:
        extra = os.path.abspath(config_dir)
        if not os.path.isdir(extra):
            raise LaunchError(f"--config-dir: {extra} is not a directory")
        # Where Hydra puts it: after the shipped configs, before the schemas (last).
        search_path.prepend(
            provider="command-line", path=f"file://{extra}", anchor=SearchPathQuery("schema")
        )
    return Hydra.create_main_hydra2(task_name="train", config_search_path=search_path)


def _check_grid(hydra: Any, cfg: Any) -> int:
    """Composes and checks every job of the multirun ``cfg`` (basic sweeper only)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    if OmegaConf.select(cfg, "hydra.sweeper._target_") != _BASIC_SWEEPER:
        return 0
    parser = OverridesParser.create(config_loader=hydra.config_loader)
    jobs = 0
    for job in _grid(cfg, parser):
        try:
            job_cfg = hydra.config_loader.load_sweep_config(cfg, job)
        except (HydraException, OmegaConfBaseException) as err:
            raise LaunchError(f"job {' '.join(job)}: {_one_line(err)}") from err
        with open_dict(job_cfg):  # as the launchers number the jobs
            job_cfg.hydra.job.id = job_cfg.hydra.job.num = jobs
        _check_job(job_cfg, job)
        jobs += 1
    return jobs


def _grid(cfg: Any, parser: Any) -> Iterator[list[str]]:
    """Each job's overrides, in the basic sweeper's order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from omegaconf import OmegaConf

    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    lines = [f"{key}={value}" for key, value in params.items()]
    task = OmegaConf.to_container(cfg.hydra.overrides.task, resolve=False)  # as Hydra reads it
    assert isinstance(task, list)
    lines += [str(line) for line in task]
    for batch in BasicSweeper.split_arguments(parser.parse_overrides(lines), None):
        yield from batch


def _check_job(cfg: Any, job: list[str] | None) -> None:
    """Checks one job's composed config as the engine will (``research.config.resolve``).

    A value that interpolates what Hydra sets only once the job runs
    (``${hydra:runtime.output_dir}``) cannot be resolved yet: such a job is left to check
    itself when it starts.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    HydraConfig.instance().set_config(cfg)
    engine_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    quiet = logging.getLogger("research.config")  # its notes come again from the job itself
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        plain: dict[str, Any] = {
            key: OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
            for key, node in ((key, cfg[key]) for key in cfg if key != "hydra")
        }
        resolve({k: v for k, v in plain.items() if k in engine_keys})
        tracking.from_config(plain.get("logger"))  # its options, before any job
    except OmegaConfBaseException as err:
        if "hydra" in str(err):
            return  # known once the job runs
        raise LaunchError(f"{_where(job)}{_one_line(err)}") from err
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise LaunchError(f"{_where(job)}{_one_line(err)}") from err
    finally:
        quiet.setLevel(level)


def _where(job: list[str] | None) -> str:
    return f"job {' '.join(job)}: " if job is not None else ""
