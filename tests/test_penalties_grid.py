"""The penalties beyond Keras in the grid: config options, checks naming the key, and the
engine's proximal training reaching exact zeros with each of them."""

import dataclasses

import numpy as np
import pytest
from omegaconf import OmegaConf

from research.config import TrainConfig, resolve
from research.engine import train_and_evaluate

from helpers import compose

NEW = {
    "mcp": ("regularizer.strength=[0.0,0.3]", "regularizer.gamma=3"),
    "scad": ("regularizer.strength=[0.0,0.3]", "regularizer.a=3.7"),
    "lq": ("regularizer.strength=[0.0,0.3]", "regularizer.q=2/3"),
    "log_sum": ("regularizer.strength=[0.0,0.3]", "regularizer.eps=0.5"),
    "l0": ("regularizer.strength=[0.0,0.05]",),
    "sparse_group_lasso": ("regularizer.l1=[0.0,0.3]", "regularizer.group=[0.0,0.1]"),
}


def _config(name, *extra):
    base = ["experiment=lasso_path", "method=proximal", f"regularizer={name}"]
    cfg = compose([*base, "regularizer.l1=null", *NEW[name], "num_seeds=2", "epochs=200", *extra])
    plain = OmegaConf.to_container(cfg, resolve=True)
    keys = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in plain.items() if k in keys}


@pytest.mark.parametrize("name", sorted(NEW))
def test_each_new_penalty_resolves_with_its_options_and_vmapped_strengths(name):
    spec = resolve(_config(name))
    assert spec.regularizer == name and spec.num_strengths == 2
    assert all(v[0] == 0.0 for v in spec.strengths.values())
    expected = {"mcp": {"gamma": 3}, "scad": {"a": 3.7}, "lq": {"q": "2/3"}, "l0": {},
                "log_sum": {"eps": 0.5}, "sparse_group_lasso": {"axis": 0}}[name]  # fmt: skip
    assert spec.regularizer_options == expected


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (("regularizer=mcp", "regularizer.gamma=0"), "regularizer.gamma: expected a finite"),
        (("regularizer=scad", "regularizer.a=1.5"), "regularizer.a: expected a finite number > 2"),
        (("regularizer=lq", "regularizer.q=0.3"), "regularizer.q: expected 1/2 or 2/3"),
        (("regularizer=log_sum", "regularizer.eps=-1"), "regularizer.eps: expected"),
        (("regularizer=mcp", "regularizer.strength=-1"), "regularizer.strength: expected"),
        (("regularizer=sparse_group_lasso", "regularizer.l1=0.1", "method=preconditioned",
          "optimizer=adam"),
         "needs a separable penalty; SparseGroupLasso"),
        (("regularizer=mcp", "regularizer.lower=1", "regularizer.upper=0"),
         r"regularizer.lower: expected lower <= upper, got lower=1 > upper=0"),
        (("regularizer=group_lasso", "regularizer.upper=1"),
         "regularizer.upper: box limits need a separable penalty .*group_lasso is not"),
        (("regularizer=l1", "regularizer.l1=0.1", "regularizer.lower=0", "method=subgradient"),
         "regularizer.lower: box limits are kept by the penalty's proximal step"),
        (("regularizer=l1", "regularizer.l1=0.1", "regularizer.lower=[0,1]"),
         "regularizer.lower: expected one number"),
    ],
)  # fmt: skip
def test_bad_options_are_rejected_by_key_before_anything_compiles(override, message):
    cfg = compose(["experiment=lasso_path", "method=proximal", "regularizer.l1=null", *override])
    plain = OmegaConf.to_container(cfg, resolve=True)
    keys = {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(ValueError, match=message):
        resolve({k: v for k, v in plain.items() if k in keys})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NEW))
def test_proximal_training_reaches_exact_zeros_only_with_a_penalty(name):
    results = train_and_evaluate(_config(name))
    kernel = results.params["layers/0/kernel"]  # (seeds, strengths, p, 1)
    zeros = (kernel == 0).reshape(kernel.shape[0], kernel.shape[1], -1).sum(-1)
    assert np.all(zeros[:, 0] == 0)  # strength 0: plain gradient descent
    assert np.all(zeros[:, 1] > 0)  # the prox sets coefficients to exactly zero
    assert np.all(np.isfinite(results.metrics["test_loss"]))


@pytest.mark.parametrize("name", ["l1", "elastic_net", "mcp", "scad", "lq", "log_sum", "l0"])
def test_every_separable_penalty_takes_box_limits(name):
    extra = NEW.get(name, ("regularizer.l1=[0.0,0.3]", "regularizer.l2=0.1"))
    box = ("regularizer.lower=0", "regularizer.upper=inf")
    base = ["experiment=lasso_path", "method=proximal", f"regularizer={name}"]
    cfg = compose([*base, "regularizer.l1=null", *extra, *box])
    plain = OmegaConf.to_container(cfg, resolve=True)
    keys = {f.name for f in dataclasses.fields(TrainConfig)}
    spec = resolve({k: v for k, v in plain.items() if k in keys})
    assert spec.regularizer_options["lower"] == 0.0
    assert spec.regularizer_options["upper"] == float("inf")


@pytest.mark.slow
def test_box_limits_keep_every_trained_kernel_in_the_box():
    results = train_and_evaluate(_config("mcp", "regularizer.lower=0", "regularizer.upper=1.5"))
    kernel = results.params["layers/0/kernel"]  # (seeds, strengths, p, 1)
    assert kernel.min() == 0.0 and kernel.max() <= 1.5
    assert np.all((kernel == 0).reshape(2, 2, -1).sum(-1)[:, 1] > 0)
    plain = train_and_evaluate(_config("mcp")).params["layers/0/kernel"]
    assert plain.min() < -0.1 or plain.max() > 1.6  # the limits are active on this problem
