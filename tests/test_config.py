"""Config checks in one place (``research.config.resolve``), and the registries they read."""

import dataclasses
import inspect

import numpy as np
import pytest

from research import data, methods, models
from research.config import resolve
from research.regularizers import REGULARIZERS, from_keras
from research.schemas import GROUP_SCHEMAS


def test_resolve_fills_every_default_from_the_registries():
    spec = resolve({"model": {"name": "mlp"}, "optimizer": {"name": "adam"}})
    widths = inspect.signature(models.mlp).parameters["widths"].default
    assert spec.model["widths"] == list(widths) == [1, 10, 10, 10, 1]
    assert spec.learning_rate == inspect.signature(methods.adam).parameters["learning_rate"].default
    assert spec.optimizer_options == {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
    assert spec.data == {"name": "line_outliers", **_defaults(data.line_outliers)}
    assert resolve({}).learning_rate == 0.01  # sgd's default, from research.methods.sgd
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.epochs = 3  # type: ignore[misc]


def _defaults(fn):
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()}


def test_schemas_are_derived_from_the_registries():
    assert set(GROUP_SCHEMAS["data"]) == set(data.LOADERS)
    assert set(GROUP_SCHEMAS["model"]) == set(models.MODELS)
    assert set(GROUP_SCHEMAS["optimizer"]) == set(methods.OPTIMIZERS)
    assert set(GROUP_SCHEMAS["method"]) == set(methods.METHODS)
    assert set(GROUP_SCHEMAS["regularizer"]) == {"none", *REGULARIZERS}
    assert "orthogonal" in REGULARIZERS  # a new penalty is one registry entry
    mlp = {f.name: f for f in dataclasses.fields(GROUP_SCHEMAS["model"]["mlp"])}
    assert mlp["widths"].default_factory() == [1, 10, 10, 10, 1]
    sgd = {f.name: f.default for f in dataclasses.fields(GROUP_SCHEMAS["optimizer"]["sgd"])}
    assert sgd["learning_rate"] == 0.01
    l1 = {f.name: f.default for f in dataclasses.fields(GROUP_SCHEMAS["regularizer"]["l1"])}
    assert l1["l1"] == 0.01 and l1["l2"] is None  # its own key from L1, others null


def test_keras_names_come_from_the_regularizer_registry():
    assert from_keras({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}}).name == (
        "elastic_net"
    )
    assert from_keras("l1_l2").name == "elastic_net"
    with pytest.raises(ValueError, match="supported: L1, L2, L1L2, OrthogonalRegularizer"):
        from_keras({"class_name": "MyPenalty", "config": {}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"record_buffer": 0}, "record_buffer: expected an integer >= 1"),
        ({"use_moments": "yes"}, "use_moments: expected true, false or null"),
        ({"data": {"name": "digits"}}, "loss: abs_sum needs a regression data set"),
        ({"loss": "cross_entropy"}, "loss: cross_entropy needs a classification data set"),
        ({"data": {"name": "mnist"}}, r"data.name: expected one of \['digits'"),
        ({"data": {"name": "digits", "n_samples": 5}}, r"data \(digits\): unknown key"),
        ({"model": {"name": "mlp", "depth": 3}}, r"model \(mlp\): unknown key\(s\) \['depth'\]"),
        ({"optimizer": {"name": "adam", "momentum": 0.9}}, r"optimizer \(adam\): unknown key"),
    ],
)
def test_bad_values_fail_before_anything_is_loaded(override, message):
    with pytest.raises(ValueError, match=message):
        resolve(override)


def test_use_moments_true_needs_a_run_it_applies_to():
    from research.engine import Experiment

    with pytest.raises(ValueError, match="use_moments: needs model=linear"):
        Experiment({"use_moments": True, "epochs": 1, "num_seeds": 1})


def test_strength_lists_become_the_strength_axis():
    spec = resolve({"regularizer": {"name": "elastic_net", "l1": [0.1, 0.2], "l2": 0.5}})
    np.testing.assert_array_equal(spec.strengths["l1"], [0.1, 0.2])
    np.testing.assert_array_equal(spec.strengths["l2"], [0.5, 0.5])
    assert spec.num_strengths == 2
