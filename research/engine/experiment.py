"""``Experiment``: a checked config, its data and its compiled program; ``run()`` trains.

``train_and_evaluate(config)`` is ``Experiment(config).run()``, the one
function the command line, the tests, the figures and the benchmark call.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from research import data as data_lib
from research import models
from research.checks import check_nonnegative
from research.config import resolve
from research.engine import devices, exact, loop
from research.engine.moments import moments
from research.engine.packing import Program
from research.engine.spec import ProgramSpec, program_spec
from research.engine.step import model_fn
from research.results import Results

__all__ = ["Experiment", "program_cache_info", "seed_keys", "train_and_evaluate"]


@functools.lru_cache(maxsize=64)
def _cached_program(spec: ProgramSpec) -> Program:
    """One program per spec (so one compilation per spec and argument shapes)."""
    graph = models.init_params(model_fn(spec), jax.random.key(0))[0]
    return Program(functools.partial(loop.train, spec, graph))


def program_cache_info() -> Any:
    """``functools`` cache statistics of the engine's programs: a miss is a new program
    (a new program spec), a hit reuses a compiled one (new strengths, seeds' keys, data)."""
    return _cached_program.cache_info()


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """One key per seed, ``split(key(seed), num_seeds)``; key i does not depend on num_seeds."""
    if not jax.config.jax_threefry_partitionable:  # type: ignore[attr-defined]  # jax adds its options to Config with setattr
        raise RuntimeError("jax_threefry_partitionable must be on for num_seeds-independent keys")
    return jax.random.split(jax.random.key(seed), num_seeds)


def device_arrays(spec: ProgramSpec, dataset: data_lib.Dataset) -> dict[str, np.ndarray]:
    """The data as the program reads it: padded to whole batches, with example weights."""
    n, padded = spec.n_train, spec.padded_size
    pad = lambda a: np.concatenate([a, np.zeros((padded - n, *a.shape[1:]), a.dtype)])  # noqa: E731
    dtype = jnp.result_type(float)
    extra = {}
    if spec.moments:
        extra = {k: v.astype(dtype) for k, v in moments(dataset.x_train, dataset.y_train).items()}
    return extra | {
        "x": dataset.x_train,
        "y": dataset.y_train,
        "x_pad": pad(dataset.x_train),
        "y_pad": pad(dataset.y_train),
        "w_pad": (np.arange(padded) < n).astype(np.float32),
        "x_test": dataset.x_test,
        "y_test": dataset.y_test,
    }


class Experiment:
    """A prepared run: config checked, data loaded, program built (compiled on first run).

    Keep an ``Experiment`` to run the same setting again (benchmarks, repeated
    evaluation) without re-checking or re-loading; ``run(strengths=...)``
    trains new strength values with the same compiled program.

    Attributes:
      run_spec: the checked config (``research.config.RunSpec``).
      spec: the program spec (``research.engine.spec.ProgramSpec``).
      data: the ``Dataset``.
      program: the ``research.engine.packing.Program`` (shared by experiments with
        equal program specs).
      devices: the devices the seed axis is split over (one: no split; see
        ``research.engine.devices``). With a split, ``spec.num_seeds`` is
        ``num_seeds`` padded to a multiple of their count; results drop the padding.

    Raises:
      ValueError: for a bad config, naming the key and what was expected.
    """

    def __init__(self, config: Any) -> None:
        devices.configure()  # before anything starts JAX: one CPU device per core
        self.run_spec = run = resolve(config)
        self.data = data_lib.load(run.data)
        shard = run.shard_seeds if run.method != exact.METHOD else False  # solved on the host
        self.devices = devices.seed_devices(run.num_seeds, run.num_strengths, shard)
        padded = devices.padded_seeds(run.num_seeds, len(self.devices))
        # Padding seeds are trained and dropped; the snapshots keep the same seeds.
        program_run = dataclasses.replace(
            run, num_seeds=padded, snapshot_seeds=min(run.snapshot_seeds, run.num_seeds)
        )
        self.spec = spec = program_spec(program_run, self.data)
        self.config, self.strengths = run.config, run.strengths
        self._dtype = jnp.result_type(float)
        self._lr = jnp.asarray(run.learning_rate, self._dtype)
        self._keys = seed_keys(run.seed, padded)
        host_arrays = device_arrays(spec, self.data)
        self._replicated: jax.sharding.NamedSharding | None = None
        if len(self.devices) > 1:
            arrays = self._shard(host_arrays)
        else:
            arrays = jax.device_put(host_arrays)
        self._arrays = arrays
        self.program = _cached_program(spec)  # builds the model: bad model values fail here
        self._strength_args = self._device_strengths(run.strengths)

    @property
    def total_steps(self) -> int:
        return self.spec.total_steps

    def _shard(self, arrays: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """Splits the seed axis over ``self.devices`` (jit propagates the split through every
        vmapped step); data, learning rate and strengths are replicated."""
        mesh = jax.sharding.Mesh(np.array(self.devices), ("seeds",))
        seeds = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))
        self._keys = jax.device_put(self._keys, seeds)
        self._replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        self._lr = jax.device_put(self._lr, self._replicated)
        return jax.device_put(arrays, self._replicated)

    def _device_strengths(self, strengths: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        args = {k: jnp.asarray(v, self._dtype) for k, v in strengths.items()}
        args = args or {"none": jnp.zeros(1, self._dtype)}
        if self._replicated is not None:
            args = jax.device_put(args, self._replicated)
        return args

    def _args(self, strengths: dict[str, Any] | None) -> tuple[dict[str, np.ndarray], tuple]:
        """The strengths and the program's arguments (new strength values checked)."""
        if strengths is None:
            strengths, device = self.strengths, self._strength_args
        else:
            strengths = {k: np.asarray(v, np.float64).reshape(-1) for k, v in strengths.items()}
            if set(strengths) != set(self.strengths) or any(
                len(v) != self.spec.num_strengths for v in strengths.values()
            ):
                raise ValueError(
                    f"strengths: expected keys {sorted(self.strengths)} with "
                    f"{self.spec.num_strengths} values each"
                )
            for name, values in strengths.items():
                for v in values:
                    check_nonnegative(f"regularizer.{name}", v)
            device = self._device_strengths(strengths)
        return strengths, (self._keys, device, self._lr, self._arrays)

    def run(self, strengths: dict[str, Any] | None = None) -> Results:
        """Trains and evaluates; ``strengths`` replaces the strength vectors (same length K)."""
        strengths, args = self._args(strengths)
        if self.run_spec.method == exact.METHOD:  # solved on the host, no program
            run = dataclasses.replace(self.run_spec, strengths=strengths)
            return exact.train(run, self.spec, self.data, args[1], self._arrays)
        if not self.spec.progress:
            return self._results(self.program(*args), strengths)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            loop.Progress.bar = bar
            loop.Progress.task = bar.add_task("training", total=self.total_steps)
            try:
                out = self.program(*args)
            finally:
                loop.Progress.bar = None
        return self._results(out, strengths)

    def arguments(self, strengths: dict[str, Any] | None = None) -> tuple:
        """The program's arguments ``(keys, strengths, learning_rate, arrays)`` on the device."""
        return self._args(strengths)[1]

    def outputs(self, strengths: dict[str, Any] | None = None) -> Any:
        """The program's outputs as a pytree of device arrays (to inspect placement), with
        ``spec.num_seeds`` seeds (padding included when the seeds are split over devices)."""
        return self.program.tree(*self._args(strengths)[1])

    def jaxpr(self, strengths: dict[str, Any] | None = None) -> Any:
        """The traced training program (``jax.make_jaxpr``), for tests and benchmarks."""
        return jax.make_jaxpr(self.program.run)(*self._args(strengths)[1])

    def compile_count(self) -> int:
        """How many times this experiment's packed program has been compiled."""
        return self.program.cache_size()

    def _results(self, out: dict[str, np.ndarray], strengths: dict[str, np.ndarray]) -> Results:
        spec = self.spec
        steps = np.minimum(np.arange(spec.num_chunks + 1) * spec.steps_per_chunk, self.total_steps)
        if spec.remainder_steps:
            steps = np.append(steps, self.total_steps)
        groups: dict[str, dict[str, np.ndarray]] = {"metrics": {}, "params": {}}
        history = {"snapshot_steps": steps}
        seeds = self.run_spec.num_seeds
        for name, value in out.items():
            if spec.num_seeds != seeds:  # drops the padding seeds (outputs are seeds first)
                value = value[:seeds]
            group, _, rest = name.partition("/")
            if group in groups:
                groups[group][rest] = value
            elif name == "snapshots":  # (seeds, K, T, P) -> a view per path
                for path, start, stop, shape in self.program.snapshot_layout:
                    part = value[..., start:stop]
                    history[f"snapshots/{path}"] = part.reshape(*value.shape[:3], *shape)
            else:  # epoch_loss, step_loss
                history[name] = value
        return Results(
            metrics=groups["metrics"],
            history=history,
            params=groups["params"],
            strengths={k: np.asarray(v) for k, v in strengths.items()},
            config=self.config,
            data=self.data,
        )


def train_and_evaluate(config: Any) -> Results:
    """Trains ``num_seeds`` seeds x ``K`` strengths in one compiled program and evaluates them.

    Args:
      config: a ``TrainConfig``, dict or OmegaConf config (see ``research.config.TrainConfig``).

    Returns:
      ``Results`` with arrays shaped ``(num_seeds, num_strengths, ...)``.

    Raises:
      ValueError: for a bad config, naming the key and what was expected.

    Examples:
      Three seeds of a linear model, each at two L1 strengths, trained by proximal SGD
      on full batches for five epochs:

      >>> from research.engine import train_and_evaluate
      >>> config = {"model": {"name": "linear"}, "loss": "mse", "batch_size": 40,
      ...           "epochs": 5, "num_seeds": 3, "method": "proximal",
      ...           "regularizer": {"name": "l1", "l1": [0.01, 0.1]}}
      >>> res = train_and_evaluate(config)
      >>> res.strengths
      {'l1': array([0.01, 0.1 ])}
      >>> res.metrics["total_error"].shape, res.history["epoch_loss"].shape
      ((3, 2), (3, 2, 5))
      >>> res.params["layers/0/kernel"].shape  # (seeds, strengths, inputs, outputs)
      (3, 2, 1, 1)
      >>> bool(res.metrics["diverged"].any())
      False
    """
    return Experiment(config).run()
