"""What shapes a compiled program: ``ProgramSpec``, derived from a run spec and its data.

Two runs with equal program specs share one compiled program (the engine
caches programs by it); strengths, the learning rate, PRNG keys and the data
are traced arguments, so new values of them never recompile.

Steps are counted in three units, each named for what it counts:

* a *step* is one optimizer update on one batch;
* a *chunk* is ``steps_per_chunk`` steps between two weight snapshots
  (``num_chunks`` of them, then ``remainder_steps`` more);
* a *block* is ``steps_per_block`` steps whose losses are kept in one buffer
  before the epoch sums and divergence checks fold them in.

An *epoch* is ``steps_per_epoch`` steps, one pass over the training set. Its
recorded loss is the batch-size-weighted mean of its step losses; for the
methods that apply the penalty by its proximal map, where the penalty is not
part of the differentiated loss, those are data losses and the penalty is
added once, at the params that end the epoch (``penalty_at_epoch_end``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from research.config import RunSpec
from research.data import Dataset
from research.engine.moments import uses_moments
from research.methods import PROXIMAL_METHODS
from research.regularizers import REGULARIZERS

__all__ = ["SUM_BY_DOT_FROM", "UNROLL", "ProgramSpec", "freeze", "program_spec", "steps_per_block"]

SUM_BY_DOT_FROM = 2048
"""Seeds x strengths from which L1 penalty sums are dot products (``sum_by_dot``)."""

UNROLL = 2
"""Steps per iteration of the step loop (``lax.scan``'s ``unroll``)."""

PROGRESS_FROM = 20_000
"""Total steps from which a progress bar is shown when ``progress`` is None."""


def freeze(mapping: dict[str, Any]) -> tuple:
    """A hashable form of a flat config mapping (lists become tuples)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in mapping.items()))


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """Everything that shapes the compiled program (hashable: the program cache key)."""

    model: tuple
    in_features: int
    out_features: int
    n_train: int
    loss: str
    task: str
    method: str
    regularizer: str
    regularizer_options: tuple
    layers: tuple | None
    optimizer: str
    optimizer_options: tuple
    epochs: int
    batch_size: int
    shuffle: bool
    num_seeds: int
    num_strengths: int
    steps_per_chunk: int
    num_chunks: int
    remainder_steps: int
    snapshot_seeds: int
    record_step_loss: bool
    record_buffer: int
    sparsity_tol: float
    progress: bool
    moments: bool

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    @property
    def padded_size(self) -> int:
        """Training examples padded to whole batches."""
        return self.steps_per_epoch * self.batch_size

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def num_runs(self) -> int:
        """Seeds x strengths trained side by side."""
        return self.num_seeds * self.num_strengths

    @property
    def sum_by_dot(self) -> bool:
        return self.num_runs >= SUM_BY_DOT_FROM

    @property
    def penalty_at_epoch_end(self) -> bool:
        """Whether an epoch's loss adds the penalty once, at the params that end the epoch,
        to the mean of its data losses (``research.methods.PROXIMAL_METHODS``: the prox
        applies the penalty, so no step needs its value). Otherwise (``subgradient``) each
        step's loss is the regularized loss of its batch, as Keras reports it."""
        return self.method in PROXIMAL_METHODS and self.regularizer in REGULARIZERS

    @property
    def step_penalty(self) -> bool:
        """Whether each step computes the penalty at its params: for its loss, or for the
        recorded step losses, which are always the regularized loss of each step."""
        has_penalty = self.regularizer in REGULARIZERS
        return has_penalty and (self.record_step_loss or not self.penalty_at_epoch_end)

    @property
    def chunks_start_epochs(self) -> bool:
        """Whether every chunk (the remainder's too) starts at the first step of an epoch."""
        return self.steps_per_chunk % self.steps_per_epoch == 0


def steps_per_block(spec: ProgramSpec, steps: int) -> int:
    """The longest block dividing a chunk of ``steps`` whose losses fit ``record_buffer``.

    With ``penalty_at_epoch_end``, an epoch may end only where the loop knows it
    statically or once a block: a block is then whole epochs (when chunks start
    epochs, ``chunks_start_epochs``) or divides an epoch, so that epochs end at
    block ends.
    """
    longest = max(1, spec.record_buffer // spec.num_runs)
    small = [d for d in range(1, math.isqrt(steps) + 1) if steps % d == 0]
    blocks = [d for d in small + [steps // d for d in small] if d <= longest]
    if spec.penalty_at_epoch_end:
        epoch, whole = spec.steps_per_epoch, spec.chunks_start_epochs
        blocks = [d for d in blocks if epoch % d == 0 or (whole and d % epoch == 0)]
    return max(blocks)


def program_spec(run: RunSpec, dataset: Dataset) -> ProgramSpec:
    """The program a run needs on ``dataset`` (snapshot spacing, moments, shapes).

    The snapshot spacing is ``record_every`` steps (0: the whole run), raised
    so that at most ``max_snapshots`` snapshots are kept.
    """
    n = dataset.x_train.shape[0]
    total = run.epochs * math.ceil(n / run.batch_size)
    every = run.record_every or total
    every = min(max(every, math.ceil(total / (run.max_snapshots - 1))), total)
    progress = run.progress if run.progress is not None else total >= PROGRESS_FROM
    return ProgramSpec(
        model=freeze(run.model),
        in_features=dataset.in_features,
        out_features=dataset.out_features,
        n_train=n,
        loss=run.loss,
        task=dataset.task,
        method=run.method,
        regularizer=run.regularizer,
        regularizer_options=freeze(run.regularizer_options),
        layers=run.layers,
        optimizer=run.optimizer,
        optimizer_options=freeze(run.optimizer_options),
        epochs=run.epochs,
        batch_size=run.batch_size,
        shuffle=bool(run.shuffle),
        num_seeds=run.num_seeds,
        num_strengths=run.num_strengths,
        steps_per_chunk=every,
        num_chunks=total // every,
        remainder_steps=total % every,
        snapshot_seeds=min(run.snapshot_seeds, run.num_seeds),
        record_step_loss=bool(run.record_step_loss),
        record_buffer=run.record_buffer,
        sparsity_tol=float(run.sparsity_tol),
        progress=bool(progress),
        moments=uses_moments(run, dataset),
    )
