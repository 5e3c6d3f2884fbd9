"""``python -m research.train``: the ``research-train`` command line (``research.cli.train``).

The engine lives in ``research.engine``; its entry points are re-exported
here for code that imported them from this module.
"""

from research.cli.train import main
from research.config import TrainConfig
from research.engine import Experiment, Results, train_and_evaluate

__all__ = ["Experiment", "Results", "TrainConfig", "main", "train_and_evaluate"]

if __name__ == "__main__":
    main()
