"""The main job (``make reproduce``): every experiment the figures need, then every figure.

Runs the sweeps of ``research.paper.pipeline.SWEEPS`` (``configs/sweep/``) as Hydra
multiruns into outputs/multirun/ (seeds vmapped inside each job; complete jobs are
reused on a second run), draws all figures into outputs/figures/ (PNG, PDF, a GIF,
README.md with captions and numbers), and writes a tidy table per multirun
(summary.csv, cells.csv).

  python scripts/reproduce.py [--root outputs] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from research.cli.aggregate import run as aggregate
from research.paper import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs"))
    parser.add_argument("--quick", action="store_true", help="small settings, for a smoke test")
    args = parser.parse_args()
    start = time.perf_counter()
    figures = build(args.root, run=True, quick=args.quick)
    for sweep in sorted((args.root / "multirun").iterdir()):
        if sweep.is_dir():
            aggregate(sweep, quiet=sweep.name != "line_outliers")
    print(
        f"{len(figures)} figures in {args.root / 'figures'} (index: README.md), "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
