"""The whole run as one function of traced arguments: init, the step loop, evaluation.

``train(spec, graph, keys, strengths, lr, arrays)`` is what the engine jits.
It reads top to bottom:

1. initial states for every seed x strength (``vmap`` of ``init_state``);
2. ``num_chunks`` chunks of ``steps_per_chunk`` steps (then the remainder),
   each followed by a weight snapshot of the first ``snapshot_seeds`` seeds;
   inside a chunk, blocks of ``steps_per_block`` steps whose step losses go
   to one buffer and are folded into the epoch sums once a block;
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
from research.engine.step import init_state, train_step
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


def record(spec: ProgramSpec, states, step_end, totals, batch_sizes) -> dict[str, Any]:
    """Adds a block of step losses ``(length, S, K)`` to the epoch sums; finds divergence."""
    length = totals.shape[0]
    steps = step_end - length + jnp.arange(length)
    # Keras weights each batch's loss by its size in the epoch mean.
    weighted = totals * batch_sizes[steps % spec.steps_per_epoch][:, None, None]
    epoch_loss = (
        states["epoch_loss"]
        .at[..., steps // spec.steps_per_epoch]
        .add(jnp.moveaxis(weighted, 0, -1))
    )
    bad = ~jnp.isfinite(totals)
    first_bad = (step_end - length + jnp.argmax(bad, axis=0)).astype(jnp.int32)
    diverged = (states["diverged_step"] < 0) & jnp.any(bad, axis=0)
    return {
        **states,
        "epoch_loss": epoch_loss,
        "diverged_step": jnp.where(diverged, first_bad, states["diverged_step"]),
    }


# Scan bodies. ``args`` are the step's traced arguments (keys, strengths, lr, arrays).
def _one_step(step_all, args, carry, _):
    step, states = carry
    states, total = step_all(step, states, *args)
    return (step + 1, states), total


def _one_block(spec: ProgramSpec, step_all, args, batch_sizes, length: int, carry, _):
    one_step = functools.partial(_one_step, step_all, args)
    (step, states), totals = jax.lax.scan(one_step, carry, None, length=length, unroll=UNROLL)
    states = record(spec, states, step, totals, batch_sizes)
    return (step, states), (totals if spec.record_step_loss else None)


def _run_steps(spec: ProgramSpec, step_all, args, batch_sizes, carry, length: int):
    """``length`` steps in blocks; returns the carry and the step losses (if recorded)."""
    block = steps_per_block(length, spec.num_runs, spec.record_buffer)
    one_block = functools.partial(_one_block, spec, step_all, args, batch_sizes, block)
    carry, totals = jax.lax.scan(one_block, carry, None, length=length // block)
    if spec.record_step_loss:
        totals = totals.reshape((length, *totals.shape[2:]))
    return carry, totals


def _one_chunk(spec: ProgramSpec, run_steps, carry, _):
    carry, losses = run_steps(carry, spec.steps_per_chunk)
    if spec.progress:
        jax.debug.callback(Progress.update, carry[0])
    return carry, (snapshot(spec, carry[1]), losses)


def train(spec: ProgramSpec, graph: Any, keys, strengths, lr, arrays) -> dict[str, Any]:
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
        batch_sizes = jnp.sum(arrays["w_pad"].reshape(spec.steps_per_epoch, spec.batch_size), 1)
        args = (keys, strengths, lr, arrays)
        run_steps = functools.partial(_run_steps, spec, step_all, args, batch_sizes)

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
