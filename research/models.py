"""Flax NNX models of the experiments, chosen by name from a config.

* ``MLP``: the blog post's networks (``1-10-10-10-1`` and the adjusted
  ``1-10-10-1-1``). The post's code had no activation between layers, so the
  default ``activation=None`` makes the whole network one line.
* ``Classifier``: the Keras tutorial's ``Dense(64, relu) -> Dense(10, softmax)``; it
  returns logits, the softmax lives in the loss.
* ``Linear``: one dense layer, for the convex Lasso / ElasticNet problems.
* ``keras``: a saved Keras model (``model.path``), converted by ``research.port``.

Every dense layer is a ``research.layers.Dense`` (drawing its weights as
``nnx.Linear`` does) with Glorot-uniform kernels and zero
biases (Keras's ``Dense`` defaults, and the blog post's ``xavier_initializer``),
so parameters are named ``kernel`` and ``bias`` and the regularizers' default
selection equals Keras's ``kernel_regularizer``.

For training, split a model into a graph and a pure dict of arrays with
``init_params`` and run ``apply(graphdef, params, x)`` inside ``jit``.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import jax
from flax import nnx

from research import layers

__all__ = [
    "MLP",
    "MODELS",
    "PER_SEED",
    "Classifier",
    "Graph",
    "Linear",
    "apply",
    "build_model",
    "classifier",
    "graphdef",
    "hidden_layers",
    "init_params",
    "join_stats",
    "keras",
    "linear",
    "merge",
    "mlp",
    "model_defaults",
    "split_stats",
]

# The layers' activations (research.layers), and "identity" as another name for none.
ACTIVATIONS: dict[str | None, Callable[[jax.Array], jax.Array]] = {
    **layers.ACTIVATIONS,
    "identity": layers.ACTIVATIONS[None],
}


def _dense(
    fan_in: int, fan_out: int, use_bias: bool, rngs: nnx.Rngs, kernel_init: float | None = None
) -> layers.Dense:
    init = (
        nnx.initializers.glorot_uniform()
        if kernel_init is None
        else nnx.initializers.constant(kernel_init)
    )
    return layers.Dense(fan_in, fan_out, use_bias=use_bias, kernel_init=init, rngs=rngs)


def _activation(name: str | None) -> str | None:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"model.activation: expected one of {sorted(k for k in ACTIVATIONS if k)} or null, "
            f"got {name!r}"
        )
    return name


class MLP(nnx.Module):
    """A stack of dense layers: ``widths = [in, hidden..., out]``.

    Args:
      widths: layer widths including input and output, e.g. ``[1, 10, 10, 10, 1]``.
      activation: between layers (not after the last): None / "identity"
        (the blog post's linear network), "relu" or "tanh".
      use_bias: whether layers have biases.
      kernel_init: None for Glorot-uniform kernels, or a constant for every
        kernel entry (the Stats.SE answer's one-parameter descent starts at 5.0).
      rngs: Flax NNX random streams (``params`` initializes the kernels).
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str | None = None,
        use_bias: bool = True,
        kernel_init: float | None = None,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"model.widths: expected at least two positive widths, got {widths}")
        self.activation = _activation(activation)
        self.layers = nnx.List(
            [_dense(a, b, use_bias, rngs, kernel_init) for a, b in itertools.pairwise(widths)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = act(x)
        return x


class Classifier(MLP):
    """The Keras tutorial's classifier: ``Dense(hidden, relu) -> Dense(classes)`` (logits)."""

    def __init__(
        self, in_features: int, hidden: int = 64, classes: int = 10, *, rngs: nnx.Rngs
    ) -> None:
        super().__init__([in_features, hidden, classes], activation="relu", rngs=rngs)


class Linear(MLP):
    """A linear model ``x @ kernel + bias`` (one dense layer)."""

    def __init__(
        self,
        in_features: int,
        out_features: int = 1,
        use_bias: bool = True,
        kernel_init: float | None = None,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        super().__init__(
            [in_features, out_features], use_bias=use_bias, kernel_init=kernel_init, rngs=rngs
        )


# --------------------------------------------------------------------------- registry
# One builder per config name: ``(in_features, out_features, *, <keys>, rngs) -> Module``.
# The keyword arguments and their defaults are the model's config keys (the Hydra
# schemas are derived from these signatures); the data set gives the feature counts.
def mlp(
    in_features: int,
    out_features: int,
    *,
    widths: Sequence[int] = (1, 10, 10, 10, 1),
    activation: str | None = None,
    use_bias: bool = True,
    kernel_init: float | None = None,
    rngs: nnx.Rngs,
) -> MLP:
    """An ``MLP`` with explicit ``widths``, which must agree with the data's feature counts."""
    widths = [int(w) for w in widths]
    if widths[0] != in_features or widths[-1] != out_features:
        raise ValueError(
            f"model.widths: {widths} does not fit the data ({in_features} input and "
            f"{out_features} output features)"
        )
    return MLP(widths, activation, use_bias, kernel_init, rngs=rngs)


def classifier(
    in_features: int, out_features: int, *, hidden: int = 64, rngs: nnx.Rngs
) -> Classifier:
    """The Keras tutorial's ``Classifier`` with one class per output feature."""
    return Classifier(in_features, hidden, out_features, rngs=rngs)


def linear(
    in_features: int,
    out_features: int,
    *,
    use_bias: bool = True,
    kernel_init: float | None = None,
    rngs: nnx.Rngs,
) -> Linear:
    """A ``Linear`` model."""
    return Linear(in_features, out_features, use_bias, kernel_init, rngs=rngs)


def keras(
    in_features: int,
    out_features: int,
    *,
    path: str | None = None,
    init: str = "random",
    rngs: nnx.Rngs,
    _kernel_regularizers: bool = True,
    _version: Any = None,
) -> layers.Sequential:
    """A saved Keras model (``.keras``, read in safe mode), converted by ``research.port``.

    Args:
      path: the ``.keras`` file.
      init: ``random``: new weights from the layers' own Keras initializers
        and ``rngs`` (each seed its own); ``file``: the file's weights.
      _kernel_regularizers: keep the file's kernel regularizers (the engine
        drops them when the config names a ``regularizer``, which replaces them).
      _version: the file's size and modification time, set by the config check:
        a rewritten file is a new program spec, so it is compiled anew.
    """
    del _version
    if init not in ("random", "file"):
        raise ValueError(f"model.init: expected 'random' or 'file', got {init!r}")
    from research import port

    model = port.cached_model(path, _kernel_regularizers)
    file_outputs = model.out_features  # type: ignore[attr-defined]  # set by port.cached_model
    inputs = math.prod(model.input_shape or (in_features,))
    if inputs != in_features or file_outputs not in (None, out_features):
        raise ValueError(
            f"model.path: the Keras model maps {model.input_shape} inputs to "
            f"{file_outputs} outputs; the data has {in_features} input features and "
            f"{out_features} outputs"
        )
    return port.reinitialize(model, rngs.params()) if init == "random" else model


MODELS: dict[str, Callable[..., nnx.Module]] = {
    "mlp": mlp,
    "classifier": classifier,
    "linear": linear,
    "keras": keras,
}
"""The models by config name; the one list of them."""


def model_defaults(name: str) -> dict[str, Any]:
    """The config keys of model ``name`` with their defaults."""
    params = inspect.signature(MODELS[name]).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.kind == p.KEYWORD_ONLY and p.name != "rngs" and not p.name.startswith("_")
    }


def build_model(
    config: dict[str, Any], in_features: int, out_features: int, rngs: nnx.Rngs
) -> nnx.Module:
    """Builds a model from its config (``name`` plus the builder's keyword arguments).

    ``in_features`` / ``out_features`` come from the data; an MLP's explicit
    widths must agree with them.

    Raises:
      ValueError: for an unknown name or key, naming it.
    """
    config = dict(config)
    name = config.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"model.name: expected one of {sorted(MODELS)}, got {name!r}")
    unknown = sorted(k for k in set(config) - set(model_defaults(name)) if k[:1] != "_")
    if unknown:
        raise ValueError(
            f"model ({name}): unknown key(s) {unknown}; expected {sorted(model_defaults(name))}"
        )
    return MODELS[name](in_features, out_features, rngs=rngs, **config)


def graphdef(config: dict[str, Any], in_features: int, out_features: int) -> Any:
    """The graph of the model a config describes (for ``apply`` with trained params)."""
    model_fn = lambda rngs: build_model(config, in_features, out_features, rngs)  # noqa: E731
    return init_params(model_fn, jax.random.key(0))[0]


class Graph(NamedTuple):
    """A model's graph with its state other than parameters (activity penalties, RNGs)."""

    graphdef: Any
    rest: Any


PER_SEED = nnx.Any(nnx.Param, nnx.BatchStat)
"""The state each seed owns: parameters and moving statistics (``nnx.BatchStat``)."""


def init_params(
    model_fn: Callable[[nnx.Rngs], nnx.Module], key: jax.Array
) -> tuple[Any, dict[str, Any]]:
    """Creates the model from ``key``; returns ``(graph, params)`` with params a pure dict.

    ``params`` holds the ``nnx.Param`` s and, for a model with
    ``BatchNormalization``, its moving statistics (``split_stats`` separates
    them). ``graph`` is the ``nnx`` graph def, or a ``Graph`` carrying the
    model's other state when it has some (a Keras model's activity penalties,
    RNGs).
    """
    # nnx.split with two filters returns three parts; its stub says "two or more"
    graphdef, state, rest = cast(
        "tuple[nnx.GraphDef[Any], nnx.State, nnx.State]",
        nnx.split(model_fn(nnx.Rngs(params=key)), PER_SEED, ...),
    )
    # A pure dict: merged inside a traced step, the variables are created there.
    graph = Graph(graphdef, nnx.to_pure_dict(rest)) if jax.tree.leaves(rest) else graphdef
    return graph, nnx.to_pure_dict(state)


def merge(graph: Any, params: Any) -> nnx.Module:
    """The module of ``graph`` (from ``init_params``) with the pure-dict ``params``."""
    if isinstance(graph, Graph):
        return nnx.merge(graph.graphdef, params, graph.rest)
    return nnx.merge(graph, params)


def split_stats(graph: Any, params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` (from ``init_params``) as ``(trainable, stats)``: the ``nnx.Param`` s,
    and the moving statistics (``nnx.BatchStat``; ``{}`` for a model without)."""
    module = merge(graph, params)
    trainable = nnx.to_pure_dict(nnx.state(module, nnx.Param))
    return trainable, nnx.to_pure_dict(nnx.state(module, nnx.BatchStat))


def join_stats(trainable: Any, stats: Any) -> Any:
    """The inverse of ``split_stats``: one pure dict with both."""
    if not isinstance(stats, dict) or not stats:
        return trainable
    out = dict(trainable)
    for key, value in stats.items():
        out[key] = join_stats(out[key], value) if key in out else value
    return out


def apply(graphdef: Any, params: Any, x: jax.typing.ArrayLike) -> jax.Array:
    """Runs the model described by ``graphdef`` with the pure-dict ``params``."""
    return merge(graphdef, params)(x)


def hidden_layers(params: dict) -> list[tuple[jax.Array, jax.Array]]:
    """``(incoming kernel, outgoing kernel)`` for each hidden layer of an MLP-style params dict."""
    kernels = [params["layers"][i].get("kernel") for i in sorted(params["layers"])]
    kernels = [k for k in kernels if k is not None]
    return [
        (a, b)
        for a, b in itertools.pairwise(kernels)
        if a.ndim == b.ndim == 2 and a.shape[1] == b.shape[0]
    ]
