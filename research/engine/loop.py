"""The whole run as one function of traced arguments: init, the step loop, evaluation.

``train(spec, graph, keys, strengths, lr, arrays)`` is what the engine jits.
It reads top to bottom:

1. initial states for every seed x strength (``vmap`` of ``init_state``);
2. ``num_chunks`` chunks of ``steps_per_chunk`` steps (then the remainder),
   each followed by a weight snapshot of the first ``snapshot_seeds`` seeds;
   inside a chunk, blocks of ``steps_per_block`` steps whose step losses go
   to one buffer and are folded into the epoch sums once a block (with
   ``penalty_at_epoch_end``, the penalty at each epoch's end params too);
3. end-of-run metrics, final params, epoch losses and snapshots.

Seeds and strengths are two ``vmap`` axes of the step: ``(seeds, strengths, ...)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from research.engine.metrics import evaluate
from research.engine.spec import UNROLL, ProgramSpec, steps_per_block
from research.engine.step import init_state, penalty, train_step
from research.regularizers import sum_by_dot
from research.results import flat_paths

__all__ = ["Progress", "record", "snapshot", "train"]


class Progress:
    """Host side of the progress bar; the compiled program calls ``update`` every chunk."""

    bar: Any = None
    task: Any = None

    @classmethod
    def update(cls, step: Any) -> None:
        if cls.bar is not None:
            cls.bar.update(cls.task, completed=int(step))


def snapshot(spec: ProgramSpec, states: dict[str, Any]) -> jax.Array:
    """The first seeds' params as one ``(snapshot_seeds, K, P)`` array, leaves concatenated
    in path order: one copy per snapshot instead of one per leaf (the host splits it into
    views by path, see ``research.engine.packing.snapshot_layout``)."""
    leaves = flat_paths(jax.tree.map(lambda a: a[: spec.snapshot_seeds], states["params"]))
    return jnp.concatenate(
        [a.reshape(*a.shape[:2], math.prod(a.shape[2:])) for a in leaves.values()], axis=-1
    )


_NEVER = jnp.iinfo(jnp.int32).max
"""The first non-finite step of a run that has none (before ``diverged_step`` is set)."""


def _first_bad(values: jax.Array, steps: jax.Array) -> jax.Array:
    """``(S, K)``: the first of ``steps`` whose value in ``values`` ``(n, S, K)`` is not
    finite, ``_NEVER`` if none."""
    return jnp.min(jnp.where(jnp.isfinite(values), _NEVER, steps[:, None, None]), 0, initial=_NEVER)


def record(
    spec: ProgramSpec,
    states: dict[str, Any],
    step_end: jax.Array,
    losses: jax.Array,
    batch_sizes: jax.Array,
    penalties: jax.Array | None = None,
) -> dict[str, Any]:
    """Folds a block that ends at ``step_end`` into the epoch sums; finds divergence.

    Args:
      spec: the program spec.
      states: the runs' states ``(S, K, ...)``.
      step_end: the step after the block.
      losses: the block's step losses ``(length, S, K)``, weighted by their
        batch sizes in the sums (as Keras weights them in the epoch mean).
      batch_sizes: ``(steps_per_epoch,)`` real examples per batch.
      penalties: with ``spec.penalty_at_epoch_end``, ``(n, S, K)`` penalties at
        the params that end the block's last ``n`` epochs (epoch ``i`` ending
        ``(n - 1 - i) * steps_per_epoch`` steps before ``step_end``), each
        added once to its epoch's mean; zeros where the block ends no epoch.

    ``diverged_step`` becomes the first step whose loss is not finite, a
    penalty counting as the loss at the params before the step after its
    epoch (the run's step count for the last epoch).
    """
    spe = spec.steps_per_epoch
    length = losses.shape[0]
    steps = step_end - length + jnp.arange(length)
    weighted = losses * batch_sizes[steps % spe][:, None, None]
    epoch_loss = states["epoch_loss"].at[..., steps // spe].add(jnp.moveaxis(weighted, 0, -1))
    first_bad = _first_bad(losses, steps)
    if penalties is not None:
        ends = step_end - spe * jnp.arange(penalties.shape[0] - 1, -1, -1)
        epochs = jnp.maximum(ends // spe - 1, 0)  # a block ending no epoch adds zeros
        epoch_loss = epoch_loss.at[..., epochs].add(spec.n_train * jnp.moveaxis(penalties, 0, -1))
        first_bad = jnp.minimum(first_bad, _first_bad(penalties, ends))
    diverged = (states["diverged_step"] < 0) & (first_bad < _NEVER)
    return {
        **states,
        "epoch_loss": epoch_loss,
        "diverged_step": jnp.where(diverged, first_bad, states["diverged_step"]),
    }


# Scan bodies. ``args`` are the step's traced arguments (keys, strengths, lr, arrays).
def _one_step(spec: ProgramSpec, step_all, args, carry, _):
    """One step of every run. Outputs the loss that goes into the epoch sums and, when
    step losses are recorded and differ from it, the regularized step loss."""
    step, states = carry
    states, (data_loss, step_penalty) = step_all(step, states, *args)
    total = data_loss if step_penalty is None else data_loss + step_penalty
    summed = data_loss if spec.penalty_at_epoch_end else total
    recorded = total if spec.record_step_loss and spec.penalty_at_epoch_end else None
    return (step + 1, states), (summed, recorded)


def _one_block(spec: ProgramSpec, step_all, penalty_all, args, batch_sizes, length: int, carry, _):
    """``length`` steps, then their losses folded into the epoch sums.

    With ``penalty_at_epoch_end``, a block of whole epochs (``steps_per_block``)
    runs epoch by epoch and takes the penalty after each; a shorter block takes
    it after its last step if that ends an epoch (a branch taken once a block).
    """
    spe = spec.steps_per_epoch
    one_step = functools.partial(_one_step, spec, step_all, args)
    penalties = None
    if spec.penalty_at_epoch_end and spec.chunks_start_epochs and length % spe == 0:

        def one_epoch(carry, _):
            carry, out = jax.lax.scan(one_step, carry, None, length=spe, unroll=UNROLL)
            return carry, (out, penalty_all(carry[1]["params"]))

        carry, (out, penalties) = jax.lax.scan(one_epoch, carry, None, length=length // spe)
        out = jax.tree.map(lambda a: a.reshape(length, *a.shape[2:]), out)
    else:
        carry, out = jax.lax.scan(one_step, carry, None, length=length, unroll=UNROLL)
        if spec.penalty_at_epoch_end:
            params = carry[1]["params"]
            shape = jax.eval_shape(penalty_all, params)
            zeros = lambda _: jnp.zeros(shape.shape, shape.dtype)  # noqa: E731
            penalties = jax.lax.cond(carry[0] % spe == 0, penalty_all, zeros, params)[None]
    step, states = carry
    summed, recorded = out
    states = record(spec, states, step, summed, batch_sizes, penalties)
    step_losses = (summed if recorded is None else recorded) if spec.record_step_loss else None
    return (step, states), step_losses


def _run_steps(spec: ProgramSpec, step_all, penalty_all, args, batch_sizes, carry, length: int):
    """``length`` steps in blocks; returns the carry and the step losses (if recorded)."""
    block = steps_per_block(spec, length)
    one_block = functools.partial(_one_block, spec, step_all, penalty_all, args, batch_sizes, block)
    carry, totals = jax.lax.scan(one_block, carry, None, length=length // block)
    if spec.record_step_loss:
        totals = totals.reshape((length, *totals.shape[2:]))
    return carry, totals


def _one_chunk(spec: ProgramSpec, run_steps, carry, _):
    carry, losses = run_steps(carry, spec.steps_per_chunk)
    if spec.progress:
        jax.debug.callback(Progress.update, carry[0])
    return carry, (snapshot(spec, carry[1]), losses)


def train(
    spec: ProgramSpec,
    graph: Any,
    keys: jax.Array,
    strengths: dict[str, jax.Array],
    lr: jax.Array,
    arrays: dict[str, jax.Array],
) -> dict[str, Any]:
    """Trains every seed x strength setting; returns the run's outputs as a pytree."""
    with sum_by_dot(spec.sum_by_dot):
        # ---- initial states: seeds x strengths
        init_all = jax.vmap(
            jax.vmap(functools.partial(init_state, spec), (None, 0, None)), (0, None, None)
        )
        states = init_all(keys, strengths, lr)
        over_strengths = (None, 0, None, 0, None, None)
        over_seeds = (None, 0, 0, None, None, None)
        step_all = jax.vmap(
            jax.vmap(functools.partial(train_step, spec, graph), over_strengths), over_seeds
        )
        penalty_each = jax.vmap(jax.vmap(functools.partial(penalty, spec)), (None, 0))
        penalty_all = functools.partial(penalty_each, strengths)  # params -> (S, K)
        batch_sizes = jnp.sum(arrays["w_pad"].reshape(spec.steps_per_epoch, spec.batch_size), 1)
        args = (keys, strengths, lr, arrays)
        run_steps = functools.partial(_run_steps, spec, step_all, penalty_all, args, batch_sizes)

        # ---- the step loop: chunks between snapshots, then the remainder
        first = snapshot(spec, states)
        one_chunk = functools.partial(_one_chunk, spec, run_steps)
        carry, (snaps, losses) = jax.lax.scan(
            one_chunk, (jnp.int32(0), states), None, length=spec.num_chunks
        )
        step_losses = [losses] if spec.record_step_loss else []
        snaps = [first[None], snaps]
        if spec.remainder_steps:
            carry, rest = run_steps(carry, spec.remainder_steps)
            snaps.append(snapshot(spec, carry[1])[None])
            if spec.record_step_loss:
                step_losses.append(rest[None])
        states = carry[1]

        # ---- outputs
        evaluate_all = jax.vmap(
            jax.vmap(functools.partial(evaluate, spec, graph), (0, 0, None)), (0, None, None)
        )
        out = {
            "metrics": evaluate_all(states, strengths, arrays),
            "params": states["params"],
            "epoch_loss": states["epoch_loss"] / spec.n_train,
            "snapshots": jnp.moveaxis(jnp.concatenate(snaps), 0, 2),  # (seeds, K, T, P)
        }
        if spec.record_step_loss:
            flat = [s.reshape((-1, *s.shape[2:])) for s in step_losses]
            out["step_loss"] = jnp.moveaxis(jnp.concatenate(flat), 0, 2)
        return out
