"""The one result type: a finished run and a job read back from disk are both ``Results``.

Arrays have the seed axis first and the strength axis second; parameters are
kept flat, by '/'-joined path (``layers/1/kernel``), which is how job files
store them. ``params_tree(seed, strength)`` gives one model's nested params on
demand (for ``research.models.apply`` or ``research.prune``), and
``predict(x)`` runs the trained models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from research import models
from research.data import Dataset, load
from research.trees import path_str

__all__ = ["Results", "flat_paths", "nest"]


def flat_paths(tree: Any) -> dict[str, Any]:
    """A pytree as ``{'/'-joined path: leaf}`` (``{"layers": {0: {"kernel": a}}}`` ->
    ``{"layers/0/kernel": a}``), in the pytree's leaf order."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {path_str(path): leaf for path, leaf in leaves}


def nest(flat: dict[str, Any], index: tuple = ()) -> dict:
    """The inverse of ``flat_paths``, taking ``value[index]`` of each leaf; path entries
    made of digits become ints (NNX list indices)."""
    out: dict = {}
    for path, value in flat.items():
        node = out
        parts = [int(p) if p.isdigit() else p for p in path.split("/")]
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value[index] if index else value
    return out


@dataclasses.dataclass
class Results:
    """Arrays of one run, seed axis first and strength axis second.

    Attributes:
      metrics: name -> ``(num_seeds, num_strengths)`` array. Always
        ``train_loss`` (last epoch's mean), ``test_loss``, ``penalty``,
        ``diverged`` (bool), ``diverged_step`` (-1 if never); ``total_error``
        (sum of absolute test errors, the blog post's metric) for regression,
        ``test_accuracy`` for classification; per kernel ``exact_zeros/<path>``,
        ``near_zeros/<path>``; per hidden layer ``dead_neurons/<i>``.
      history: ``epoch_loss`` ``(S, K, epochs)``; ``snapshots/<path>``
        ``(snapshot_seeds, K, T, ...)`` at steps ``snapshot_steps`` ``(T,)``;
        ``step_loss`` ``(S, K, steps)`` if recorded.
      params: '/'-joined parameter path -> final values ``(S, K, ...)``.
      strengths: strength name -> ``(K,)`` values of the strength axis.
      config: the resolved config as plain Python data.
      data: the ``Dataset`` trained on (None for a job read from disk until
        ``dataset()`` loads it from the config).
      info: for a job read from disk, the rest of its ``metrics.json``
        (``status``, ``summary``, ``overrides``, ``elapsed_s``, ...) and its
        ``dir``; empty for a run in memory.
    """

    metrics: dict[str, np.ndarray]
    history: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    strengths: dict[str, np.ndarray]
    config: dict[str, Any]
    data: Any = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_seeds(self) -> int:
        return int(np.shape(self.metrics["diverged"])[0])

    @property
    def num_strengths(self) -> int:
        return int(np.shape(self.metrics["diverged"])[1])

    def params_tree(self, seed: int, strength: int = 0) -> dict:
        """Nested params of one seed and strength, e.g. ``{"layers": {0: {"kernel": ...}}}``."""
        return nest(self.params, (seed, strength))

    def dataset(self) -> Dataset:
        """The data set trained on (loaded from the config once, when read from disk)."""
        if self.data is None:
            self.data = load(self.config["data"])
        return self.data

    def predict(self, x: np.ndarray, strength: int = 0) -> np.ndarray:
        """Outputs ``(num_seeds, n, out)`` of every seed's trained model on ``x`` ``(n, in)``."""
        kernels = [k for k in self.params if k.endswith("kernel")]
        out_features = self.params[kernels[-1]].shape[-1]
        graph = models.graphdef(self.config["model"], x.shape[-1], out_features)
        return np.stack(
            [
                np.asarray(models.apply(graph, self.params_tree(s, strength), x))
                for s in range(self.num_seeds)
            ]
        )

    def model(self, seed: int = 0, strength: int = 0) -> Any:
        """The trained model of one seed and strength, as ``research.layers.Sequential``.

        The config's model (``research.models``) with the job's params; an
        ``mlp`` / ``classifier`` / ``linear`` becomes the ``Sequential`` of
        its ``Dense`` layers, its activation on every layer but the last
        (which outputs what the engine's model does: a classifier's logits).

        Raises:
          ValueError: naming ``seed`` or ``strength`` when out of range.
        """
        from flax import nnx

        from research import layers

        for name, value, count in (
            ("seed", seed, self.num_seeds),
            ("strength", strength, self.num_strengths),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
            if not 0 <= value < count:
                raise ValueError(
                    f"{name}: expected 0 to {count - 1} (this job has {count}), got {value}"
                )
        data = self.dataset()
        config = dict(self.config["model"])
        if config.get("name") == "keras":  # as the engine built it (research.engine.step.model_fn)
            config["_kernel_regularizers"] = self.config["regularizer"]["name"] == "none"
        graph = models.graphdef(config, data.in_features, data.out_features)
        module = models.merge(graph, self.params_tree(int(seed), int(strength)))
        if isinstance(module, layers.Sequential):
            return module
        if not isinstance(module, models.MLP):
            raise TypeError(f"model.name: no Sequential form of {type(module).__name__}")
        activation = None if module.activation == "identity" else module.activation
        dense = [nnx.clone(layer) for layer in module.layers]
        for layer in dense[:-1]:
            layer.activation = activation
        return layers.Sequential(dense, input_shape=(data.in_features,))

    def to_keras(self, seed: int = 0, strength: int = 0, *, prune: bool = False) -> Any:
        """The trained model of one seed and strength as a Keras 3 model.

        ``research.port.to_keras_model`` of ``model(seed, strength)`` (the
        params bit for bit), not compiled. The job's regularizer, optimizer and
        loss are not attached (they may have no Keras form); a Keras file's own
        layer penalties and constraints are, unless the job's regularizer
        replaced its kernel regularizers.

        Args:
          seed: the seed index, ``0 .. num_seeds - 1``.
          strength: the strength index, ``0 .. num_strengths - 1``.
          prune: first remove the units that cannot change the output
            (``research.port.prune``).

        Returns:
          A ``keras.Sequential``.

        Raises:
          ValueError: naming ``seed`` or ``strength`` when out of range.

        Examples:
          >>> import tempfile
          >>> from pathlib import Path
          >>> import keras
          >>> import numpy as np
          >>> from research.engine import train_and_evaluate
          >>> from research.io import load_job, write_job
          >>> config = {"model": {"name": "linear"}, "loss": "mse", "batch_size": 40,
          ...           "epochs": 5, "num_seeds": 3, "method": "proximal",
          ...           "regularizer": {"name": "l1", "l1": [0.01, 0.1]}}
          >>> job = Path(tempfile.mkdtemp()) / "job"
          >>> write_job(job, train_and_evaluate(config))
          >>> results = load_job(job)
          >>> keras_model = results.to_keras(seed=1, strength=1, prune=True)
          >>> keras_model.save(job / "model.keras")
          >>> reloaded = keras.saving.load_model(job / "model.keras")
          >>> x = results.dataset().x_test
          >>> outputs = keras.ops.convert_to_numpy(reloaded(x))
          >>> bool(np.allclose(outputs, results.predict(x, strength=1)[1]))
          True
        """
        from research import port

        model = self.model(seed, strength)
        return port.to_keras_model(port.prune(model) if prune else model)
