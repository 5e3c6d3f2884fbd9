"""Every core of a CPU for one job: the seed axis split over several JAX CPU devices.

XLA:CPU runs one program on one device, and the engine's program (small
matrix products, vmapped over seeds) keeps about one core busy. JAX can
present the host as several CPU devices (``jax_num_cpu_devices``); the
engine then splits the seed axis over them (``jax.sharding``), one program
shard per device running side by side, each seed computed exactly as on one
device.

The rule, applied once per process before JAX starts its backends:

* cores: the CPUs this process may run on (``os.sched_getaffinity``, which
  ``taskset`` and Slurm's ``cpus_per_task`` restrict), at most
  ``SLURM_CPUS_PER_TASK`` inside a Slurm job, at most the launcher's
  ``cpus_per_task`` (submitit);
* devices: ``cores // jobs``, where ``jobs`` is how many jobs run side by side
  on this machine (Hydra's joblib launcher: ``hydra.launcher.n_jobs``), at
  least 1;
* ``RESEARCH_CPU_DEVICES=<n>`` in the environment overrides the count
  (``1`` turns the split off: one device, as plain JAX has);
* a count already chosen (``jax.config.update("jax_num_cpu_devices", n)``,
  ``JAX_NUM_CPU_DEVICES``, ``XLA_FLAGS=--xla_force_host_platform_device_count``)
  or a JAX that has started already is left as it is: the engine uses the
  devices there are.

A run splits its seeds only when it is large enough for the split to pay
(``MIN_RUNS_PER_DEVICE`` seeds x strengths per device; ``shard_seeds=null``,
the default), or always (``shard_seeds=true``) or never (``false``). The
seed count is padded to a multiple of the device count with seeds that are
trained and dropped: seed ``i`` does not depend on ``num_seeds``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import jax

__all__ = [
    "ENV_VAR",
    "MIN_RUNS_PER_DEVICE",
    "configure",
    "cpu_device_count",
    "launcher_share",
    "padded_seeds",
    "seed_devices",
    "usable_cores",
]

ENV_VAR = "RESEARCH_CPU_DEVICES"
"""Environment variable that overrides how many CPU devices a process asks JAX for."""

MIN_RUNS_PER_DEVICE = 256
"""Seeds x strengths per device from which ``shard_seeds=null`` splits the seed axis;
smaller runs take about as long to dispatch and gather as to train (README, Cores)."""


def usable_cores(environ: Mapping[str, str] | None = None) -> int:
    """The CPUs this process may run on: its affinity mask, within ``SLURM_CPUS_PER_TASK``."""
    environ = os.environ if environ is None else environ
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(1, cores)


def cpu_device_count(
    cores: int,
    jobs: int = 1,
    cpus_per_job: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """How many CPU devices a job asks for: ``RESEARCH_CPU_DEVICES`` if set, else
    ``min(cores, cpus_per_job) // jobs`` (at least 1).

    Args:
      cores: the CPUs the process may use (``usable_cores()``).
      jobs: jobs running side by side on this machine, each its own process
        (joblib's ``n_jobs``; a negative count means ``cores + 1 + n_jobs`` as in joblib).
      cpus_per_job: the CPUs a launcher gives each job (submitit's ``cpus_per_task``).
      environ: the environment to read ``RESEARCH_CPU_DEVICES`` from (default ``os.environ``).

    Raises:
      ValueError: for a ``RESEARCH_CPU_DEVICES`` that is neither ``auto`` nor a count >= 1.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "").strip().lower()
    if value not in ("", "auto"):
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{ENV_VAR}: expected a count >= 1 or 'auto', got {value!r}")
        return int(value)
    if jobs < 0:
        jobs = cores + 1 + jobs
    if cpus_per_job:
        cores = min(cores, cpus_per_job)
    return max(1, cores // max(1, jobs))


def launcher_share(launcher: Mapping | None) -> tuple[int, int | None]:
    """``(jobs, cpus_per_job)`` for ``configure`` from a multirun's launcher config
    (``hydra.launcher``; None outside a multirun): joblib runs ``n_jobs`` jobs side by
    side on this machine; submitit gives each job ``cpus_per_task`` CPUs."""
    if not launcher:
        return 1, None
    return int(launcher.get("n_jobs") or 1), launcher.get("cpus_per_task") or None


def _chosen_elsewhere() -> bool:
    """Whether the user (or an earlier ``configure``) already chose the CPU device count."""
    if jax.config.jax_num_cpu_devices != -1:  # type: ignore[attr-defined]  # jax adds its options to Config with setattr
        return True
    return "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")


def configure(jobs: int = 1, cpus_per_job: int | None = None) -> int | None:
    """Asks JAX for ``cpu_device_count(usable_cores(), jobs, cpus_per_job)`` CPU devices.

    Call it before anything starts JAX's backends; ``Experiment`` calls it first
    thing, the command line earlier with its launcher's ``n_jobs``. The first call
    wins (it sets ``jax_num_cpu_devices``, 1 included). Nothing changes, silently,
    when the count was chosen elsewhere (``jax_num_cpu_devices``, ``XLA_FLAGS``) or
    when JAX has started already.

    Returns:
      the count set, or None when nothing was set.
    """
    if _chosen_elsewhere():
        return None
    count = cpu_device_count(usable_cores(), jobs, cpus_per_job)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # JAX's backends have started: keep the devices they have
        return None
    return count


def seed_devices(num_seeds: int, num_strengths: int, shard_seeds: bool | None) -> list:
    """The devices a run splits its seed axis over (one device: no split).

    ``shard_seeds=True``: every device of the default backend. ``None``: the CPU
    devices, as many as hold ``MIN_RUNS_PER_DEVICE`` seeds x strengths each (one
    on other backends). ``False``: none, the default device only.
    """
    if shard_seeds is False:
        return jax.devices()[:1]
    devices = jax.devices()
    if shard_seeds:
        return devices
    if jax.default_backend() != "cpu":
        return devices[:1]
    fits = (num_seeds * num_strengths) // MIN_RUNS_PER_DEVICE
    return devices[: max(1, min(len(devices), fits, num_seeds))]


def padded_seeds(num_seeds: int, num_devices: int) -> int:
    """``num_seeds`` rounded up to a multiple of ``num_devices``."""
    return math.ceil(num_seeds / num_devices) * num_devices
