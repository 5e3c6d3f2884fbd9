"""The training engine: many seeds (and strengths) in one compiled program.

``train_and_evaluate(config)`` (= ``Experiment(config).run()``) checks the
config (``research.config.resolve``), loads the data, builds one program
(``lax.scan`` over steps whose body is the optimizer step ``vmap``-ed over
seeds and over a vector of strengths; strengths and the learning rate are
traced, so new values do not recompile), runs it and returns ``Results``
with the seed axis first and the strength axis second.

Modules, in the order data flows through them: ``spec`` (what shapes a
program), ``moments`` (the squared-error shortcut for linear models),
``step`` (one step of one seed), ``metrics`` (end-of-run evaluation),
``loop`` (the whole run), ``packing`` (one output buffer), ``experiment``.
"""

from research.engine.experiment import (
    Experiment,
    program_cache_info,
    seed_keys,
    train_and_evaluate,
)
from research.results import Results

__all__ = ["Experiment", "Results", "program_cache_info", "seed_keys", "train_and_evaluate"]
