"""``python -m research.aggregate``: the ``research-aggregate`` command line
(``research.cli.aggregate``)."""

from research.cli.aggregate import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    main()
