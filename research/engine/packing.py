"""The compiled run, returning its outputs packed in one buffer.

Copying one buffer to the host costs one transfer instead of one per output
array (a run returns 20 to 40), and the host only slices it. The layout of
the buffer is computed from the outputs' shapes (``jax.eval_shape``) before
the packed program is traced: outputs grouped by dtype, the buffer's own
dtype first, so those outputs are views and each other dtype takes one cast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from research.results import flat_paths

__all__ = ["Layout", "Program", "snapshot_layout"]

Entry = tuple[str, int, int, tuple[int, ...]]  # (path, start, stop, shape)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each output lies in the packed buffer.

    ``blocks`` has one ``(dtype, start, stop, entries)`` per dtype, each entry
    ``(path, start, stop, shape)`` relative to its block; ``names`` lists the
    outputs in pytree order.
    """

    names: tuple[str, ...]
    blocks: tuple[tuple[np.dtype, int, int, tuple[Entry, ...]], ...]

    @classmethod
    def of(cls, shapes: Any) -> Layout:
        """The layout of an output pytree of ``jax.ShapeDtypeStruct`` (or arrays)."""
        wide = np.dtype(jnp.result_type(float))  # float32, or float64 with x64: exact here
        by_dtype: dict[np.dtype, list[tuple[str, Any]]] = {}
        leaves = flat_paths(shapes)
        for name, leaf in leaves.items():
            by_dtype.setdefault(np.dtype(leaf.dtype), []).append((name, leaf))
        blocks, start = [], 0
        for dtype in sorted(by_dtype, key=lambda d: (d != wide, d.str)):
            entries, first = [], start
            for name, leaf in by_dtype[dtype]:
                size = math.prod(leaf.shape)
                entries.append((name, start - first, start - first + size, tuple(leaf.shape)))
                start += size
            blocks.append((dtype, first, start, tuple(entries)))
        return cls(tuple(leaves), tuple(blocks))

    def pack(self, outputs: Any) -> jax.Array:
        """The outputs as one 1-D array in the buffer's dtype (inside the traced program)."""
        wide = jnp.result_type(float)
        leaves = flat_paths(outputs)
        parts = [
            jnp.ravel(leaves[name]).astype(wide)
            for _, _, _, entries in self.blocks
            for name, *_ in entries
        ]
        return jnp.concatenate(parts)

    def unpack(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """'/'-joined output paths -> views (or one cast per dtype) of a host buffer."""
        out = {}
        for dtype, start, stop, entries in self.blocks:
            block = flat[start:stop]
            if block.dtype != dtype:
                block = block.astype(dtype)
            for name, a, b, shape in entries:
                out[name] = block[a:b].reshape(shape)
        return {name: out[name] for name in self.names}


def snapshot_layout(params_shapes: Any) -> list[Entry]:
    """Each parameter's place in a snapshot row (``research.engine.loop.snapshot``):
    ``(path, start, stop, shape)`` from the final params' shapes ``(S, K, ...)``."""
    layout, start = [], 0
    for path, leaf in flat_paths(params_shapes).items():
        stop = start + math.prod(leaf.shape[2:])
        layout.append((path, start, stop, tuple(leaf.shape[2:])))
        start = stop
    return layout


class _Waiter:
    """A daemon thread that blocks on device arrays for the main thread, which waits on
    an event instead: a lock wait that signals interrupt (their handlers run at once) and
    that returns as soon as the array is ready (polling in sleeps would overshoot)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue | None = None
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:  # a forked child has no waiter thread: start its own
        self.queue = None

    def wait(self, array: jax.Array) -> None:
        if self.queue is None:
            self.queue = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(self.queue,), daemon=True).start()
        done = threading.Event()
        self.queue.put((array, done))
        done.wait()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue) -> None:
        while True:
            array, done = jobs.get()
            try:
                with contextlib.suppress(Exception):  # the caller's host copy raises it
                    array.block_until_ready()
            finally:
                done.set()
                del array, done


_WAITER = _Waiter()


def wait_interruptibly(array: jax.Array) -> None:
    """Returns when ``array`` is computed; in the main thread, signal handlers (Ctrl-C,
    SIGTERM, Slurm's timeout signal) run during the wait, not after it."""
    if threading.current_thread() is not threading.main_thread() or array.is_ready():  # type: ignore[attr-defined]  # jaxlib's ArrayImpl has it; jax.Array's stub lacks it
        return
    _WAITER.wait(array)


class Program:
    """A jitted run with its outputs packed (``__call__``) or as a pytree (``tree``).

    The layout is computed once, from the first call's argument shapes
    (``tree.eval_shape``, whose trace the packed program then reuses, so the
    run is traced once); the outputs' shapes depend only on the program spec,
    not on the values.
    """

    def __init__(self, run: Callable[..., Any]) -> None:
        self.run = run
        self.tree = jax.jit(run)
        # The packed program calls the jitted one: its trace (made by ``prepare``) is reused.
        self.packed = jax.jit(lambda *args: cast(Layout, self.layout).pack(self.tree(*args)))
        self.layout: Layout | None = None
        self.snapshot_layout: list[Entry] = []

    def prepare(self, *args: Any) -> None:
        """Computes the output layout for arguments like ``args`` (no compilation)."""
        if self.layout is None:
            shapes = self.tree.eval_shape(*args)
            self.snapshot_layout = snapshot_layout(shapes["params"])
            self.layout = Layout.of(shapes)

    def __call__(self, *args: Any) -> dict[str, np.ndarray]:
        """Runs the program; returns '/'-joined output paths -> NumPy arrays.

        The main thread waits for the device in short sleeps, so that signal
        handlers (Ctrl-C, SIGTERM, Slurm's timeout signal) run during a long
        training run instead of after it.
        """
        self.prepare(*args)
        flat = self.packed(*args)
        wait_interruptibly(flat)
        assert self.layout is not None  # set by prepare
        return self.layout.unpack(np.array(flat))  # a writable host copy

    def cache_size(self) -> int:
        """Compiled versions of the packed program (1 per argument shapes)."""
        return self.packed._cache_size()  # type: ignore[attr-defined]  # jaxlib's PjitFunction has it; JitWrapped's stub does not
