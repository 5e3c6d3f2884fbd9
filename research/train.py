"""The training engine: many seeds (and strengths) in one compiled program.

``train_and_evaluate(config)`` is the one function the command line, the
tests, the figures and the benchmarks call. It reads top to bottom:

1. load the data and build the model graph from the config;
2. split one PRNG key into ``num_seeds`` keys (seed ``i`` does not depend on
   ``num_seeds``);
3. compile one program: ``lax.scan`` over training steps whose body is the
   optimizer step ``vmap``-ed over seeds and over a vector of regularization
   strengths; strengths and the learning rate are traced arguments, so a new
   value does not recompile;
4. evaluate the final params and return NumPy arrays with the seed axis
   first and the strength axis second: ``(num_seeds, num_strengths, ...)``.

A config is a mapping (a dict, an OmegaConf ``DictConfig`` or a
``TrainConfig``); see ``TrainConfig`` for the keys. A strength key of the
regularizer may be a list: the lists (all of one length ``K``) are zipped
into ``K`` strength settings trained side by side.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import data as data_lib
from research import models
from research.config import TrainConfig, parse_regularizer, resolve_config
from research.optim import add_regularization, fista, proximal, proximal_adam
from research.regularizers import L1, L2, ElasticNet, GroupLasso, check_nonnegative, sum_by_dot

__all__ = ["Experiment", "Results", "TrainConfig", "train_and_evaluate"]


@dataclasses.dataclass
class Results:
    """Arrays of one run, seed axis first and strength axis second.

    Attributes:
      metrics: name -> ``(num_seeds, num_strengths)`` array. Always
        ``train_loss`` (last epoch's mean), ``test_loss``, ``penalty``,
        ``diverged`` (bool), ``diverged_step`` (-1 if never); ``total_error``
        (sum of absolute test errors, seed 002's metric) for regression,
        ``test_accuracy`` for classification; per kernel ``exact_zeros/<path>``,
        ``near_zeros/<path>``; per hidden layer ``dead_neurons/<i>``.
      history: ``epoch_loss`` ``(S, K, epochs)``; ``snapshots/<path>``
        ``(snapshot_seeds, K, T, ...)`` at steps ``snapshot_steps`` ``(T,)``;
        ``step_loss`` ``(S, K, steps)`` if recorded.
      params: '/'-joined parameter path -> final values ``(S, K, ...)``.
      strengths: strength name -> ``(K,)`` values of the strength axis.
      config: the resolved config as plain Python data.
      data: the ``Dataset`` trained on.
    """

    metrics: dict[str, np.ndarray]
    history: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    strengths: dict[str, np.ndarray]
    config: dict[str, Any]
    data: data_lib.Dataset


_REGULARIZER_CLASSES = {"l1": L1, "l2": L2, "elastic_net": ElasticNet, "group_lasso": GroupLasso}


def _layer_mask(layers: tuple[int, ...] | None):
    """Kernels of the given layer indices (all kernels when None)."""
    if layers is None:
        return None

    def mask(params):
        def pick(path, _):
            keys = [getattr(e, "key", None) for e in path]
            return keys[-1] == "kernel" and keys[0] == "layers" and keys[1] in layers

        return jax.tree_util.tree_map_with_path(pick, params)

    return mask


def _make_optimizer(config: dict[str, Any], learning_rate: Any) -> optax.GradientTransformation:
    config = dict(config)
    name = config.pop("name", None)
    config.pop("learning_rate", None)
    allowed = {"sgd": ("momentum", "nesterov"), "adam": ("b1", "b2", "eps")}
    if name not in allowed:
        raise ValueError(f"optimizer.name: expected sgd or adam, got {name!r}")
    unknown = sorted(set(config) - set(allowed[name]))
    if unknown:
        raise ValueError(f"optimizer ({name}): unknown key(s) {unknown}")
    config = {k: v for k, v in config.items() if v is not None}
    return getattr(optax, name)(learning_rate, **config)


# --------------------------------------------------------------------------- losses
def _loss(kind: str, pred: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """Batch loss with per-example weights (0 marks padding of a last partial batch)."""
    if kind == "abs_sum":
        return jnp.sum(weight * jnp.sum(jnp.abs(pred - y), axis=-1))
    if kind == "cross_entropy":
        logp = jax.nn.log_softmax(pred)
        per_example = -jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0]
    else:
        per_example = jnp.mean(jnp.square(pred - y), axis=-1)
        if kind == "half_mse":
            per_example = 0.5 * per_example
    return jnp.sum(weight * per_example) / jnp.sum(weight)


def _uses_moments(model: dict[str, Any], loss: str, batch_size: int, x_train: np.ndarray) -> bool:
    """Whether training can read the data's second moments instead of the data.

    For a linear model under a (half) mean squared error on full batches, the
    loss is a quadratic in the weights fixed by ``X^T X``, ``X^T y`` and the
    means: a step then costs ``p^2`` instead of ``2 n p`` multiply-adds per
    output. Used when ``p <= n`` (otherwise the data is the smaller operand).
    """
    n, p = x_train.shape
    return model.get("name") == "linear" and loss in ("mse", "half_mse") and batch_size >= n >= p


def _moments(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Centered second moments of the training data, computed in float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    return {
        "gram": xc.T @ xc,
        "cross": xc.T @ yc,
        "yy": np.sum(yc**2),
        "x_mean": x_mean,
        "y_mean": y_mean,
    }


def _moment_loss(kind: str, params: Any, arrays: dict[str, jax.Array]) -> jax.Array:
    """The (half) MSE of the linear model ``x @ kernel + bias`` on all training data.

    With centered data ``xc, yc`` and ``beta = bias + mean(x) @ kernel - mean(y)``,
    ``sum((x @ kernel + bias - y)**2) = sum((xc @ kernel - yc)**2) + n * sum(beta**2)``
    (the cross term vanishes), and the first sum expands in the moments.
    """
    layer = params["layers"][0]
    kernel = layer["kernel"]
    n, out = arrays["x"].shape[0], kernel.shape[-1]
    beta = arrays["x_mean"] @ kernel - arrays["y_mean"]
    if "bias" in layer:
        beta = beta + layer["bias"]
    # sum(kernel * gram @ kernel) with its gradient 2 * gram @ kernel from one matmul
    # (gram is symmetric; autodiff of the product would add a second, transposed one).
    g_kernel = jax.lax.stop_gradient(arrays["gram"] @ kernel)
    quadratic = 2 * jnp.sum(kernel * g_kernel) - jnp.sum(jax.lax.stop_gradient(kernel) * g_kernel)
    centered = quadratic - 2 * jnp.sum(kernel * arrays["cross"]) + arrays["yy"]
    mse = (centered + n * jnp.sum(beta**2)) / (n * out)
    return 0.5 * mse if kind == "half_mse" else mse


def _flat(params: Any) -> dict[str, Any]:
    """'/'-joined paths -> leaves."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = "/".join(
            str(getattr(e, "key", getattr(e, "name", getattr(e, "idx", e)))) for e in path
        )
        out[name] = leaf
    return out


# --------------------------------------------------------------------------- progress
class _Progress:
    """Host side of the progress bar; the compiled program calls ``update`` every chunk."""

    bar: Any = None
    task: Any = None

    @classmethod
    def update(cls, step: Any) -> None:
        if cls.bar is not None:
            cls.bar.update(cls.task, completed=int(step))


# --------------------------------------------------------------------------- the program
@dataclasses.dataclass(frozen=True)
class _Static:
    """Everything that shapes the compiled program (hashable: the compile cache key)."""

    model: tuple
    in_features: int
    out_features: int
    n_train: int
    loss: str
    task: str
    method: str
    regularizer: str
    reg_static: tuple
    layers: tuple | None
    optimizer: tuple
    epochs: int
    batch_size: int
    shuffle: bool
    num_seeds: int
    num_strengths: int
    every: int
    chunks: int
    remainder: int
    snapshot_seeds: int
    record_step_loss: bool
    sparsity_tol: float
    progress: bool
    moments: bool = False


_SUM_BY_DOT_FROM = 2048  # seeds x strengths from which L1 penalty sums are dot products
_UNROLL = 2  # steps per loop iteration: 5-8% faster small steps on CPU, a longer compile
_RECORD_BUFFER = 1 << 22  # step losses kept per block of steps, at most (16 MB in float32)


def _block_length(steps: int, runs: int) -> int:
    """The longest block dividing ``steps`` whose losses for ``runs`` runs fit the buffer."""
    longest = max(1, _RECORD_BUFFER // runs)
    small = [d for d in range(1, math.isqrt(steps) + 1) if steps % d == 0]
    return max(d for d in small + [steps // d for d in small] if d <= longest)


def _freeze(d: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items()))


def _model_fn(static: _Static):
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in static.model}
    return lambda rngs: models.build_model(config, static.in_features, static.out_features, rngs)


@functools.lru_cache(maxsize=64)
def _compiled(static: _Static):
    """Builds and jits the whole run for one static setting (cached: one compile each)."""
    model_fn = _model_fn(static)
    graphdef = models.init_params(model_fn, jax.random.key(0))[0]
    n, bs = static.n_train, static.batch_size
    steps_per_epoch = math.ceil(n / bs)
    padded = steps_per_epoch * bs
    mask = _layer_mask(static.layers)
    reg_cls = _REGULARIZER_CLASSES.get(static.regularizer)
    opt_config = dict(static.optimizer)

    def regularizer(strength):
        if reg_cls is None:
            return None
        return reg_cls(**strength, **dict(static.reg_static), mask=mask)

    def transform(strength, lr):
        opt = _make_optimizer(opt_config, lr)
        reg = regularizer(strength)
        if static.method == "fista":
            # FISTA is its own optimizer (gradient step, prox, momentum on the prox point).
            return fista(L1(0.0) if reg is None else reg, lr)
        if reg is None:
            return opt
        if static.method == "proximal":
            return optax.chain(opt, proximal(reg, lr))
        if static.method == "preconditioned":
            if opt_config.get("name") == "adam":
                hyper = {k: v for k, v in opt_config.items() if k in ("b1", "b2", "eps")}
                return proximal_adam(reg, lr, **hyper)
            return optax.chain(opt, proximal(reg, lr))  # SGD's metric is the identity
        return optax.chain(add_regularization(reg), opt)

    def penalty(strength, params):
        reg = regularizer(strength)
        return jnp.zeros(()) if reg is None else reg(params)

    def predict(params, x):
        return models.apply(graphdef, params, x)

    def init_one(key, strength, lr):
        params = models.init_params(model_fn, jax.random.fold_in(key, 0))[1]
        state = {
            "params": params,
            "opt": transform(strength, lr).init(params),
            "epoch_loss": jnp.zeros(static.epochs),
            "diverged_step": jnp.array(-1, jnp.int32),
        }
        if static.shuffle:
            state["order"] = jnp.zeros(padded, jnp.int32)
        return state

    def step_one(t, state, key, strength, lr, arrays):
        epoch, pos = t // steps_per_epoch, t % steps_per_epoch
        if static.shuffle:

            def reshuffle(_):
                perm = jax.random.permutation(
                    jax.random.fold_in(jax.random.fold_in(key, 1), epoch), n
                )
                return jnp.concatenate([perm, jnp.zeros(padded - n, perm.dtype)]).astype(jnp.int32)

            # t is not batched, so under vmap this stays a real branch taken once an epoch.
            order = jax.lax.cond(pos == 0, reshuffle, lambda _: state["order"], None)
            idx = jax.lax.dynamic_slice_in_dim(order, pos * bs, bs)
            xb, yb = arrays["x"][idx], arrays["y"][idx]
        else:
            order = None
            xb = jax.lax.dynamic_slice_in_dim(arrays["x_pad"], pos * bs, bs)
            yb = jax.lax.dynamic_slice_in_dim(arrays["y_pad"], pos * bs, bs)
        wb = jax.lax.dynamic_slice_in_dim(arrays["w_pad"], pos * bs, bs)
        params = state["params"]

        def objective(p):
            if static.moments:
                return _moment_loss(static.loss, p, arrays)
            return _loss(static.loss, predict(p, xb), yb, wb)

        data_loss, grads = jax.value_and_grad(objective)(params)
        total = data_loss + penalty(strength, params)
        updates, opt_state = transform(strength, lr).update(grads, state["opt"], params)
        # epoch_loss and diverged_step pass through: `record` updates them once per block.
        new = {**state, "params": optax.apply_updates(params, updates), "opt": opt_state}
        if static.shuffle:
            new["order"] = order
        return new, total

    over_strengths = (None, 0, None, 0, None, None)
    over_seeds = (None, 0, 0, None, None, None)
    step_all = jax.vmap(jax.vmap(step_one, over_strengths), over_seeds)
    init_all = jax.vmap(jax.vmap(init_one, (None, 0, None)), (0, None, None))

    def evaluate(state, strength, arrays):
        params = state["params"]
        pred = predict(params, arrays["x_test"])
        ones = jnp.ones(pred.shape[0])
        out = {
            "train_loss": state["epoch_loss"][-1] / n,
            "test_loss": _loss(static.loss, pred, arrays["y_test"], ones),
            "penalty": penalty(strength, params),
            "diverged": state["diverged_step"] >= 0,
            "diverged_step": state["diverged_step"],
        }
        if static.task == "classification":
            out["test_accuracy"] = jnp.mean(jnp.argmax(pred, -1) == arrays["y_test"])
        else:
            out["total_error"] = jnp.sum(jnp.abs(pred - arrays["y_test"]))
        for path, leaf in _flat(params).items():
            if path.endswith("kernel"):
                out[f"exact_zeros/{path}"] = jnp.sum(leaf == 0)
                out[f"near_zeros/{path}"] = jnp.sum(jnp.abs(leaf) < static.sparsity_tol)
        for i, (incoming, outgoing) in enumerate(models.hidden_layers(params)):
            dead = jnp.all(incoming == 0, axis=0) | jnp.all(outgoing == 0, axis=1)
            out[f"dead_neurons/{i}"] = jnp.sum(dead)
        return out

    evaluate_all = jax.vmap(jax.vmap(evaluate, (0, 0, None)), (0, None, None))

    # Each leaf's place in a snapshot row: (path, start, stop, shape); filled at trace time.
    snapshot_layout: list[tuple[str, int, int, tuple[int, ...]]] = []

    def snapshot(states):
        """The first seeds' params as one ``(snapshot_seeds, K, P)`` array: one copy per
        snapshot instead of one per leaf (the host splits it into views by path)."""
        leaves = _flat(jax.tree.map(lambda a: a[: static.snapshot_seeds], states["params"]))
        snapshot_layout.clear()
        start = 0
        for name, leaf in leaves.items():
            stop = start + math.prod(leaf.shape[2:])
            snapshot_layout.append((name, start, stop, leaf.shape[2:]))
            start = stop
        return jnp.concatenate(
            [a.reshape(*a.shape[:2], math.prod(a.shape[2:])) for a in leaves.values()], axis=-1
        )

    def record(states, t_end, totals, batch_sizes):
        """Adds a block of step losses ``(length, S, K)`` to the epoch sums; finds divergence."""
        length = totals.shape[0]
        steps = t_end - length + jnp.arange(length)
        # Keras weights each batch's loss by its size in the epoch mean.
        weighted = totals * batch_sizes[steps % steps_per_epoch][:, None, None]
        epoch_loss = (
            states["epoch_loss"]
            .at[..., steps // steps_per_epoch]
            .add(jnp.moveaxis(weighted, 0, -1))
        )
        bad = ~jnp.isfinite(totals)
        first_bad = (t_end - length + jnp.argmax(bad, axis=0)).astype(jnp.int32)
        diverged = (states["diverged_step"] < 0) & jnp.any(bad, axis=0)
        return {
            **states,
            "epoch_loss": epoch_loss,
            "diverged_step": jnp.where(diverged, first_bad, states["diverged_step"]),
        }

    def run(keys, strengths, lr, arrays):
        states = init_all(keys, strengths, lr)
        batch_sizes = jnp.sum(arrays["w_pad"].reshape(steps_per_epoch, bs), axis=1)

        def body(carry, _):
            t, states = carry
            states, total = step_all(t, states, keys, strengths, lr, arrays)
            return (t + 1, states), total

        def steps(carry, length):
            """``length`` steps, recorded in blocks: a step only writes its losses to the
            block's buffer, and the epoch sums and the divergence check run once a block
            (small per-step updates are a noticeable share of a cheap step)."""
            block = _block_length(length, static.num_seeds * static.num_strengths)

            def one_block(carry, _):
                (t, states), totals = jax.lax.scan(body, carry, None, length=block, unroll=_UNROLL)
                states = record(states, t, totals, batch_sizes)
                return (t, states), (totals if static.record_step_loss else None)

            carry, totals = jax.lax.scan(one_block, carry, None, length=length // block)
            if static.record_step_loss:
                totals = totals.reshape((length, *totals.shape[2:]))
            return carry, totals

        def chunk(carry, _):
            carry, losses = steps(carry, static.every)
            if static.progress:
                jax.debug.callback(_Progress.update, carry[0])
            return carry, (snapshot(carry[1]), losses)

        first = snapshot(states)
        carry, (snaps, losses) = jax.lax.scan(
            chunk, (jnp.int32(0), states), None, length=static.chunks
        )
        step_losses = [losses] if static.record_step_loss else []
        snaps = [first[None], snaps]
        if static.remainder:
            carry, rest = steps(carry, static.remainder)
            snaps.append(snapshot(carry[1])[None])
            if static.record_step_loss:
                step_losses.append(rest[None])
        states = carry[1]
        out = {
            "metrics": evaluate_all(states, strengths, arrays),
            "params": states["params"],
            "epoch_loss": states["epoch_loss"] / n,
            "snapshots": jnp.moveaxis(jnp.concatenate(snaps), 0, 2),  # (seeds, K, T, P)
        }
        if static.record_step_loss:
            flat = [s.reshape((-1, *s.shape[2:])) for s in step_losses]
            out["step_loss"] = jnp.moveaxis(jnp.concatenate(flat), 0, 2)
        return out

    def traced(*args):
        with sum_by_dot(static.num_seeds * static.num_strengths >= _SUM_BY_DOT_FROM):
            return run(*args)

    return _Program(traced, snapshot_layout)


class _Program:
    """The compiled run, returning its outputs packed in one buffer.

    Copying one buffer to the host costs one transfer instead of one per
    output array (a run returns 20 to 40), and the host side only slices it
    by a layout recorded once, at trace time: both matter for short runs.
    ``tree`` is the same program returning the output pytree (for inspection).
    """

    def __init__(self, run, snapshot_layout: list[tuple[str, int, int, tuple[int, ...]]]):
        self.tree = jax.jit(run)
        self.snapshot_layout = snapshot_layout  # how the "snapshots" output splits by path
        # Per dtype, one contiguous run of the buffer: (dtype, start, stop, [(name, a, b, shape)]).
        self._layout: list[tuple[np.dtype, int, int, list[tuple[str, int, int, tuple]]]] = []
        self._names: list[str] = []  # the outputs in pytree order

        def packed(*args):
            wide = jnp.result_type(float)  # float32, or float64 with x64: exact for these values
            by_dtype: dict[np.dtype, list[tuple[str, jax.Array]]] = {}
            leaves = _flat(run(*args))
            for name, leaf in leaves.items():
                by_dtype.setdefault(np.dtype(leaf.dtype), []).append((name, leaf))
            self._names[:] = leaves
            self._layout.clear()
            parts, start = [], 0
            # The buffer's own dtype first: those outputs are views, the others one cast per dtype.
            for dtype in sorted(by_dtype, key=lambda d: (d != wide, d.str)):
                entries, first = [], start
                for name, leaf in by_dtype[dtype]:
                    size = math.prod(leaf.shape)
                    entries.append((name, start - first, start - first + size, leaf.shape))
                    parts.append(jnp.ravel(leaf).astype(wide))
                    start += size
                self._layout.append((dtype, first, start, entries))
            return jnp.concatenate(parts)

        self.packed = jax.jit(packed)

    def __call__(self, *args) -> dict[str, np.ndarray]:
        """Runs the program; returns '/'-joined output paths -> NumPy arrays."""
        flat = np.array(self.packed(*args))  # a writable host copy the outputs are views of
        out = {}
        for dtype, start, stop, entries in self._layout:
            block = flat[start:stop]
            if block.dtype != dtype:
                block = block.astype(dtype)
            for name, a, b, shape in entries:
                out[name] = block[a:b].reshape(shape)
        return {name: out[name] for name in self._names}

    def cache_size(self) -> int:
        """Compiled versions of the packed program (1 per static setting)."""
        return self.packed._cache_size()


def _arrays(
    dataset: data_lib.Dataset, batch_size: int, moments: bool = False
) -> dict[str, np.ndarray]:
    n = dataset.x_train.shape[0]
    padded = math.ceil(n / batch_size) * batch_size
    pad = lambda a: np.concatenate([a, np.zeros((padded - n, *a.shape[1:]), a.dtype)])  # noqa: E731
    dtype = jnp.result_type(float)
    extra = (
        {k: v.astype(dtype) for k, v in _moments(dataset.x_train, dataset.y_train).items()}
        if moments
        else {}
    )
    return extra | {
        "x": dataset.x_train,
        "y": dataset.y_train,
        "x_pad": pad(dataset.x_train),
        "y_pad": pad(dataset.y_train),
        "w_pad": (np.arange(padded) < n).astype(np.float32),
        "x_test": dataset.x_test,
        "y_test": dataset.y_test,
    }


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """One key per seed, ``split(key(seed), num_seeds)``; key i does not depend on num_seeds."""
    if not jax.config.jax_threefry_partitionable:
        raise RuntimeError("jax_threefry_partitionable must be on for num_seeds-independent keys")
    return jax.random.split(jax.random.key(seed), num_seeds)


class Experiment:
    """A prepared run: config resolved, data loaded, program compiled on first ``run``.

    ``train_and_evaluate(config)`` is ``Experiment(config).run()``. Keep an
    ``Experiment`` to run the same setting again (benchmarks, repeated
    evaluation) without re-parsing or re-loading; ``run(strengths=...)``
    trains new strength values with the same compiled program.

    Raises:
      ValueError: for a bad config, naming the key and what was expected.
    """

    def __init__(self, config: Any):
        cfg = resolve_config(config)
        dataset = data_lib.load(cfg["data"])
        if cfg["loss"] == "cross_entropy" and dataset.task != "classification":
            raise ValueError(
                f"loss: cross_entropy needs a classification data set, not {dataset.name}"
            )
        if dataset.task == "classification" and cfg["loss"] != "cross_entropy":
            raise ValueError(
                f"loss: {dataset.name} is a classification data set; use cross_entropy"
            )
        reg_name, strengths, reg_static, layers = parse_regularizer(cfg["regularizer"])
        if "learning_rate" not in cfg["optimizer"]:
            raise ValueError("optimizer.learning_rate: missing")
        lr = cfg["optimizer"]["learning_rate"]
        check_nonnegative("optimizer.learning_rate", lr)
        _make_optimizer(cfg["optimizer"], lr)  # validates the keys before compiling
        if cfg["method"] == "fista" and (
            cfg["optimizer"].get("name") != "sgd" or cfg["optimizer"].get("momentum")
        ):
            raise ValueError(
                "method: fista is an optimizer of its own; use it with optimizer=sgd "
                "(no momentum), "
                "whose learning_rate is FISTA's step"
            )

        n = dataset.x_train.shape[0]
        self.total_steps = total = cfg["epochs"] * math.ceil(n / cfg["batch_size"])
        every = cfg["record_every"] or total
        every = min(max(every, math.ceil(total / (cfg["max_snapshots"] - 1))), total)
        progress = cfg["progress"] if cfg["progress"] is not None else total >= 20_000
        self.static = _Static(
            model=_freeze(cfg["model"]),
            in_features=dataset.in_features,
            out_features=dataset.out_features,
            n_train=n,
            loss=cfg["loss"],
            task=dataset.task,
            method=cfg["method"],
            regularizer=reg_name,
            reg_static=_freeze(reg_static),
            layers=layers,
            optimizer=_freeze({k: v for k, v in cfg["optimizer"].items() if k != "learning_rate"}),
            epochs=cfg["epochs"],
            batch_size=cfg["batch_size"],
            shuffle=bool(cfg["shuffle"]),
            num_seeds=cfg["num_seeds"],
            num_strengths=len(next(iter(strengths.values()))) if strengths else 1,
            every=every,
            chunks=total // every,
            remainder=total % every,
            snapshot_seeds=min(cfg["snapshot_seeds"], cfg["num_seeds"]),
            record_step_loss=bool(cfg["record_step_loss"]),
            sparsity_tol=float(cfg["sparsity_tol"]),
            progress=bool(progress),
            moments=_uses_moments(cfg["model"], cfg["loss"], cfg["batch_size"], dataset.x_train),
        )
        self.config, self.data, self.strengths = cfg, dataset, strengths
        self._dtype = jnp.result_type(float)
        self._lr = jnp.asarray(lr, self._dtype)
        self._keys = seed_keys(cfg["seed"], cfg["num_seeds"])
        arrays = _arrays(dataset, cfg["batch_size"], self.static.moments)
        if cfg["shard_seeds"]:
            # The seed axis is split over the devices; jit propagates the split through
            # every vmapped step. Data and strengths are replicated.
            devices = jax.devices()
            if cfg["num_seeds"] % len(devices):
                raise ValueError(
                    f"num_seeds: {cfg['num_seeds']} is not a multiple of the "
                    f"{len(devices)} devices that shard_seeds splits it over"
                )
            mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
            seeds = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))
            self._keys = jax.device_put(self._keys, seeds)
            replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
            self._lr = jax.device_put(self._lr, replicated)
            arrays = jax.device_put(arrays, replicated)
            self._replicated = replicated
        else:
            arrays = jax.device_put(arrays)
            self._replicated = None
        self._arrays = arrays
        self._program = _compiled(self.static)  # builds the model: bad model keys fail here
        self._strength_args = self._device_strengths(strengths)

    def _device_strengths(self, strengths: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        args = {k: jnp.asarray(v, self._dtype) for k, v in strengths.items()}
        args = args or {"none": jnp.zeros(1, self._dtype)}
        if self._replicated is not None:
            args = jax.device_put(args, self._replicated)
        return args

    def run(self, strengths: dict[str, Any] | None = None) -> Results:
        """Trains and evaluates; ``strengths`` replaces the strength vectors (same length K)."""
        if strengths is None:
            strengths, args = self.strengths, self._strength_args
        else:
            strengths = {k: np.asarray(v, np.float64).reshape(-1) for k, v in strengths.items()}
            if set(strengths) != set(self.strengths) or any(
                len(v) != self.static.num_strengths for v in strengths.values()
            ):
                raise ValueError(
                    f"strengths: expected keys {sorted(self.strengths)} with "
                    f"{self.static.num_strengths} values each"
                )
            for name, values in strengths.items():
                for v in values:
                    check_nonnegative(f"regularizer.{name}", v)
            args = self._device_strengths(strengths)
        if self.static.progress:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                _Progress.bar = bar
                _Progress.task = bar.add_task("training", total=self.total_steps)
                try:
                    out = self._program(self._keys, args, self._lr, self._arrays)
                finally:
                    _Progress.bar = None
        else:
            out = self._program(self._keys, args, self._lr, self._arrays)
        return self._results(out, strengths)

    def _results(self, out: dict[str, np.ndarray], strengths: dict[str, np.ndarray]) -> Results:
        static = self.static
        steps = np.minimum(np.arange(static.chunks + 1) * static.every, self.total_steps)
        if static.remainder:
            steps = np.append(steps, self.total_steps)
        groups: dict[str, dict[str, np.ndarray]] = {"metrics": {}, "params": {}}
        history = {"snapshot_steps": steps}
        for name, value in out.items():
            group, _, rest = name.partition("/")
            if group in groups:
                groups[group][rest] = value
            elif name == "snapshots":  # (seeds, K, T, P) -> a view per path
                for path, start, stop, shape in self._program.snapshot_layout:
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
      config: a ``TrainConfig``, dict or OmegaConf config (see ``TrainConfig``).

    Returns:
      ``Results`` with arrays shaped ``(num_seeds, num_strengths, ...)``.

    Raises:
      ValueError: for a bad config, naming the key and what was expected.

    Example::

      from research.train import train_and_evaluate
      res = train_and_evaluate({"regularizer": {"name": "l1", "l1": [0.01, 0.1]},
                                "method": "proximal", "num_seeds": 5, "epochs": 10})
      res.metrics["total_error"].shape   # (5, 2)
    """
    return Experiment(config).run()


# --------------------------------------------------------------------------- command line
log = logging.getLogger("research.train")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def configure_runtime(compilation_cache_dir: str | None) -> None:
    """Environment and JAX settings for a job; call before JAX starts a backend.

    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` lets several jobs share a GPU (JAX
    otherwise takes 75% of its memory at start); values already in the
    environment win. The persistent compilation cache lets jobs in separate
    processes (joblib, submitit, Slurm) reuse each other's compiled programs.
    """
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU/GPU probe notes
    if compilation_cache_dir:
        path = Path(compilation_cache_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run_job(cfg: Any, job_dir: Path, overrides: list[str], *, multirun: bool) -> dict | None:
    """One Hydra job: skip it if complete, else train, evaluate and write its files.

    A job that raises leaves a ``failure.json``; in a multirun the other jobs
    go on, in a single run the error is raised.
    """
    from research.results import is_complete, write_failure, write_job

    if is_complete(job_dir):
        log.info("complete already, skipped: %s", job_dir)
        return None
    try:
        configure_runtime(cfg.get("compilation_cache_dir"))
        engine_keys = {f.name for f in dataclasses.fields(TrainConfig)}
        plain = _plain_config(cfg)
        start = time.perf_counter()
        results = train_and_evaluate({k: v for k, v in plain.items() if k in engine_keys})
        elapsed = time.perf_counter() - start
        write_job(job_dir, results, overrides=overrides, elapsed_s=elapsed, extra={"run": plain})
    except Exception as err:
        write_failure(job_dir, err, overrides=overrides)
        log.error("job failed (%s): %s: %s", job_dir, type(err).__name__, err)
        if not multirun:
            raise
        return None
    m = results.metrics
    main_metric = "test_accuracy" if "test_accuracy" in m else "total_error"
    log.info(
        "%s: %s mean %.4g over %d seeds x %d strengths, %d diverged, %.1fs",
        job_dir,
        main_metric,
        float(np.nanmean(np.where(m["diverged"], np.nan, m[main_metric]))),
        m["diverged"].shape[0],
        m["diverged"].shape[1],
        int(m["diverged"].sum()),
        elapsed,
    )
    return {main_metric: m[main_metric].tolist()}


def _plain_config(cfg: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _task(cfg: Any) -> dict | None:
    """The Hydra task function (module level, so launchers pickle it by reference)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    return run_job(
        cfg,
        Path(hc.runtime.output_dir),
        list(hc.overrides.task),
        multirun=hc.mode == RunMode.MULTIRUN,
    )


def main() -> None:
    """``research-train`` / ``python -m research.train``: Hydra's command line."""
    import hydra

    from research.config import register_configs

    register_configs()
    hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")(_task)()


if __name__ == "__main__":
    # Run through the importable module, not __main__, so that worker processes
    # (joblib, submitit) resolve the task function by its real module name.
    from research import train

    train.main()
