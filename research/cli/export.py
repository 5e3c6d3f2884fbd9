"""``research-export JOB_DIR``: one trained model of a finished job, as a Keras ``.keras`` file.

  research-export outputs/job --seed 0 --strength 1 --out model.keras
  research-export outputs/job --seed 0 --strength 1 --out small.keras --prune --force

The model of seed ``--seed`` and strength ``--strength`` (indices into the
job's seeds and strengths) with the job's params bit for bit
(``Results.to_keras``); ``--prune`` first removes the units that cannot change
the output (``research.port.prune``). The file loads with
``keras.saving.load_model(path, safe_mode=True)``. An existing file is
replaced only with ``--force``; the file is written to a temporary name and
renamed. Exit status 2 on bad arguments, naming the argument.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["export", "main"]


def _check_out(out: Path, force: bool) -> None:
    if out.suffix != ".keras":
        raise ValueError(f"--out: {str(out)!r} is not a .keras file (Keras 3's format)")
    if out.exists() and not out.is_file():
        raise ValueError(f"--out: {str(out)!r} exists and is not a file")
    if out.exists() and not force:
        raise ValueError(f"--out: {str(out)!r} exists; pass --force to replace it")
    if not out.parent.is_dir():
        raise ValueError(f"--out: the directory {str(out.parent)!r} does not exist")


def _check_index(name: str, value: int, count: int) -> None:
    if not 0 <= value < count:
        raise ValueError(f"{name}: expected 0 to {count - 1} (the job has {count}), got {value}")


def export(
    job_dir: Path, out: Path, *, seed: int = 0, strength: int = 0, prune: bool = False,
    force: bool = False,
) -> Any:  # fmt: skip
    """Writes the Keras model of one seed and strength of ``job_dir`` to ``out``.

    Args:
      job_dir: a complete job directory (``research.io.load_job``).
      out: the ``.keras`` file to write.
      seed: the seed index.
      strength: the strength index.
      prune: remove the units that cannot change the output first.
      force: replace an existing ``out``.

    Returns:
      The Keras model written.

    Raises:
      FileNotFoundError: when ``job_dir`` is not a complete job.
      ValueError: naming ``--out``, ``--seed`` or ``--strength`` when bad.

    Example::

      export(Path("outputs/job"), Path("model.keras"), seed=1, strength=0, prune=True)
    """
    from research.io import load_job

    out = Path(out).expanduser()
    _check_out(out, force)
    if not Path(job_dir).is_dir():
        raise FileNotFoundError(f"JOB_DIR: {str(job_dir)!r} is not a directory")
    try:
        job = load_job(job_dir)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"JOB_DIR: {err}") from err
    _check_index("--seed", seed, job.num_seeds)
    _check_index("--strength", strength, job.num_strengths)
    model = job.to_keras(seed, strength, prune=prune)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return model


def _describe(model: Any) -> str:
    configs = [layer.get_config() for layer in model.layers]
    widths = [c.get("units", c.get("filters")) for c in configs]
    return "-".join(str(w) for w in widths if w is not None)


def main(argv: list[str] | None = None) -> None:
    """``research-export JOB_DIR --seed S --strength K --out FILE.keras [--prune] [--force]``."""
    parser = argparse.ArgumentParser(prog="research-export", description=__doc__.splitlines()[0])
    parser.add_argument("job_dir", type=Path, help="a finished job's directory")
    parser.add_argument("--seed", type=int, default=0, help="seed index (default 0)")
    parser.add_argument("--strength", type=int, default=0, help="strength index (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="the .keras file to write")
    parser.add_argument("--prune", action="store_true", help="remove irrelevant units first")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    try:
        model = export(
            args.job_dir, args.out, seed=args.seed, strength=args.strength, prune=args.prune,
            force=args.force,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        print(f"research-export: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"[research-export] {args.out} (widths {_describe(model)}; seed {args.seed}, "
          f"strength {args.strength}{', pruned' if args.prune else ''})")  # fmt: skip


if __name__ == "__main__":
    main()
