"""``research-figures``: every figure of the source documents, redrawn from real runs.

  research-figures                # draw from existing results in outputs/
  research-figures --run          # run what is missing first (make reproduce)
  research-figures --run --quick  # a small version (tests)

Figures, the arrays behind them and an index with captions go to
``<root>/figures/`` (``research.paper.build``). Exit status 2 when results are
missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """``research-figures [--root DIR] [--run] [--quick]``."""
    from research.paper import build

    parser = argparse.ArgumentParser(prog="research-figures", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs"), help="outputs directory")
    parser.add_argument("--run", action="store_true", help="run missing experiments first")
    parser.add_argument("--quick", action="store_true", help="small settings (for tests)")
    args = parser.parse_args(argv)
    try:
        done = build(args.root, run=args.run, quick=args.quick)
    except (FileNotFoundError, LookupError) as err:
        print(f"research-figures: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"[research-figures] {len(done)} figures in {args.root / 'figures'}")


if __name__ == "__main__":
    main()
