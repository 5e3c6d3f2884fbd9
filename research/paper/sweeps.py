"""The sweeps behind the figures: run one (``research-train -m +sweep=<name>``), read one once.

A sweep is a file ``configs/sweep/<name>.yaml`` whose ``name:`` is its multirun
directory ``<root>/multirun/<name>``. ``Sweep`` reads every complete job of one
multirun directory once; ``Sweeps`` hands out each directory's ``Sweep``, read
on first use, so a build reads every multirun once however many figures use it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from research.io import is_complete, load_job
from research.results import Results

__all__ = ["Sweep", "Sweeps", "launch", "run_sweep"]


def launch(overrides: list[str], *, multirun: bool = True) -> subprocess.CompletedProcess:
    """Runs ``research-train [-m] <overrides>`` in a fresh process; raises if it fails.

    Complete jobs are skipped by the jobs themselves, so launching a grid
    again resumes it.

    Raises:
      RuntimeError: with the end of the command's standard error, when it fails.
    """
    args = [sys.executable, "-m", "research.train", *(["-m"] if multirun else []), *overrides]
    out = subprocess.run(args, text=True, capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(f"research-train {' '.join(overrides)} failed:\n{out.stderr[-4000:]}")
    return out


def run_sweep(root: Path, name: str, quick: Sequence[str] = (), extra: Sequence[str] = ()) -> None:
    """Runs ``research-train -m +sweep=<name>`` into ``root`` in a subprocess.

    Complete jobs are skipped by the jobs themselves, so a second call only
    checks. ``quick`` are the sweep's overrides for a small version (empty
    for the paper's sizes), ``extra`` any further overrides.

    Raises:
      RuntimeError: when the multirun fails.
    """
    launch([f"+sweep={name}", f"output_root={root}", *quick, *extra])


def _config_value(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("__"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


class Sweep:
    """The complete jobs of one multirun directory ``<root>/multirun/<name>``, read once.

    Raises:
      FileNotFoundError: when the directory has no complete job.
    """

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = Path(root) / "multirun" / name
        # A multirun whose overrides are all excluded from job names writes into the sweep dir.
        candidates = [self.dir, *self.dir.iterdir()] if self.dir.is_dir() else []
        dirs = sorted(p for p in candidates if p.is_dir() and is_complete(p))
        if not dirs:
            raise FileNotFoundError(
                f"no complete jobs under {self.dir}; run `research-figures --run` "
                "(or make reproduce)"
            )
        self.jobs: list[Results] = [load_job(d) for d in dirs]

    def __iter__(self) -> Iterator[Results]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def pick(self, **want: Any) -> Results:
        """The one job whose resolved config matches ``want``; nested keys joined by ``__``.

        ``pick(regularizer__name="l1", method="proximal")`` matches
        ``config["regularizer"]["name"] == "l1"`` and ``config["method"] == "proximal"``.

        Raises:
          LookupError: when no job or more than one matches.
        """
        found = [
            job
            for job in self.jobs
            if all(_config_value(job.config, k) == v for k, v in want.items())
        ]
        if len(found) != 1:
            raise LookupError(f"expected one job of {self.dir} with {want}, found {len(found)}")
        return found[0]


class Sweeps:
    """Every multirun directory of ``root``, each read once, on first use.

    ``quick``: the sweeps were run at their small (``--quick``) sizes; a figure that
    computes more than it reads (figure 20's cross-validation) then uses small settings
    too.
    """

    def __init__(self, root: Path, *, quick: bool = False) -> None:
        self.root = Path(root)
        self.quick = quick
        self._read: dict[str, Sweep] = {}
        self.used: list[str] = []
        """The names looked up since ``used`` was last cleared, in order (once each)."""

    def __getitem__(self, name: str) -> Sweep:
        if name not in self.used:
            self.used.append(name)
        if name not in self._read:
            self._read[name] = Sweep(self.root, name)
        return self._read[name]
