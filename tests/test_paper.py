"""The paper figures: every file is written, and the data behind each figure shows its claim.

One module-scoped build runs every sweep as real Hydra multiruns
(``--quick`` sizes, but the blog post's networks at its own setting: 100 epochs
of batch-1 SGD, lambda 0.3) and draws every figure; the tests then read the
arrays saved next to the figures, not the pixels.
"""

import json

import numpy as np
import pytest

import research.paper.pipeline as pipeline
import research.paper.sweeps as sweeps
from research.paper import build

pytestmark = pytest.mark.slow

KEYS = [
    "fig01_l1_penalty",
    "fig02_l2_penalty",
    "fig03_l1_descent",
    "fig04_l2_descent",
    "fig05_constraint_contours",
    "fig06_line_fits",
    "fig07_hinton",
    "fig08_weight_strip",
    "fig09_total_error",
    "fig10_adjusted_network",
    "fig11_weight_histograms",
    "fig12_strength_sweep",
    "fig13_optimizers",
    "fig14_zero_fraction",
    "fig15_lasso_path",
    "fig16_loss_caveat",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Runs the sweeps, then draws every figure from their files once, with launching
    disabled: the figure tests and the redraw test share this one build."""
    root = tmp_path_factory.mktemp("paper")
    pipeline.run_sweeps(root, quick=True)
    launched: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "run_sweep", lambda *a, **k: launched.append(a))
        patch.setattr(sweeps, "launch", lambda *a, **k: launched.append(a))
        figures = build(root, run=False, quick=True)
    return root, figures, launched


def _data(root, key):
    with np.load(root / "figures" / "data" / f"{key}.npz") as npz:
        return {k: npz[k] for k in npz.files}


def test_every_figure_file_is_written_and_non_empty(built):
    root, figures, _ = built
    assert {f.key for f in figures} == set(KEYS)
    out = root / "figures"
    for key in KEYS:
        for ext in ("png", "pdf"):
            assert (out / f"{key}.{ext}").stat().st_size > 5_000, key
        assert (out / "data" / f"{key}.npz").stat().st_size > 0
    assert (out / "fig08_weights.gif").stat().st_size > 50_000
    index = (out / "README.md").read_text()
    assert all(f"## {key}" in index for key in KEYS)
    assert set(json.loads((out / "numbers.json").read_text())) == set(KEYS)


def test_penalty_curves_come_with_a_zero_subgradient_at_zero(built):
    root, _, _ = built
    for key in ("fig01_l1_penalty", "fig02_l2_penalty"):
        d = _data(root, key)
        assert d["grad"][d["w"] == 0] == 0
    d = _data(root, "fig01_l1_penalty")
    np.testing.assert_allclose(d["value"], np.abs(d["w"]), rtol=1e-6)


def test_l1_reaches_zero_at_step_ten_and_l2_never(built):
    root, _, _ = built
    l1 = _data(root, "fig03_l1_descent")
    np.testing.assert_array_equal(l1["path"][:11], 5 - 0.5 * np.arange(11))
    assert l1["path"][9] > 0 and np.all(l1["path"][10:] == 0)
    np.testing.assert_array_equal(l1["proximal_path"], l1["path"])
    l2 = _data(root, "fig04_l2_descent")
    assert np.all(l2["path"] > 0)
    np.testing.assert_allclose(l2["path"][1:] / l2["path"][:-1], 0.5)


def test_l1_optimum_on_an_axis_l2_off(built):
    root, _, _ = built
    d = _data(root, "fig05_constraint_contours")
    assert np.sum(d["l1_optimum"] == 0) == 1
    assert np.all(d["l2_optimum"] != 0)


def test_blog_post_sparsity_claims(built):
    root, _, _ = built
    d = _data(root, "fig07_hinton")
    prox_zeros, prox_dead = d["L1 proximal/exact_zeros"], d["L1 proximal/dead_neurons"]
    assert np.all(prox_zeros > 0) and np.all(prox_dead >= 1)
    sub_zeros, sub_near = d["L1 subgradient/exact_zeros"], d["L1 subgradient/near_zeros"]
    assert np.all(sub_near >= 20)  # many weights hover near zero ...
    assert np.all(sub_zeros <= 0.05 * 220)  # ... but few are exactly zero
    assert np.all(d["L2/exact_zeros"] == 0)
    assert np.all(d["L2/dead_neurons"] == 0)
    fractions = _data(root, "fig14_zero_fraction")
    assert (
        fractions["fraction/L1 proximal"][:, -1].min()
        > fractions["fraction/L1 subgradient"][:, -1].max()
    )


def test_pruned_networks_compute_the_same_outputs(built):
    root, _, _ = built
    d = _data(root, "fig10_adjusted_network")
    assert float(d["max_output_difference"]) < 1e-4
    widths = d["pruned_widths"]
    assert np.all(widths[:, 1:-1].sum(axis=1) < 30)  # units were removed


def test_lasso_path_matches_the_exact_path_and_scikit_learn(built):
    root, _, _ = built
    d = _data(root, "fig15_lasso_path")
    assert float(d["max_abs_difference"]) < 1e-4
    order = np.argsort(d["alphas"])[::-1]
    np.testing.assert_array_equal(d["coefs"][order] == 0, d["exact_coefs"].T == 0)
    np.testing.assert_allclose(d["exact_coefs"], d["sk_coefs"], atol=1e-6)  # float32 params
    np.testing.assert_array_equal(d["exact_coefs"] == 0, d["sk_coefs"] == 0)
    assert d["dense_coefs"].shape == (d["coefs"].shape[1], d["dense_alphas"].size)


def test_digits_claims(built):
    root, _, _ = built
    h = _data(root, "fig11_weight_histograms")
    assert (h["weights/L1(0.01) subgradient"] == 0).sum() == 0
    assert (h["weights/L1(0.01) proximal (Adam metric)"] == 0).mean() > 0.3
    assert (h["weights/L2(0.01)"] == 0).sum() == 0
    s = _data(root, "fig12_strength_sweep")
    acc = s["accuracy/l2"].mean(axis=0)
    k10 = int(np.argmin(np.abs(s["strengths/l2"] - 10.0)))
    assert acc[k10] < acc.max() - 0.1  # L2(10.0) underfits


def test_figures_redraw_from_existing_results_without_training(built):
    root, figures, launched = built
    assert launched == []  # drawing launched nothing
    assert len(figures) == len(KEYS)
    newest_job = max(p.stat().st_mtime_ns for p in (root / "multirun").rglob("metrics.json"))
    for key in KEYS:  # every figure drawn after the last job finished
        assert (root / "figures" / f"{key}.png").stat().st_mtime_ns >= newest_job, key


def test_missing_results_are_a_clear_error(tmp_path):
    from research.cli.figures import main

    with pytest.raises(SystemExit) as info:
        main(["--root", str(tmp_path)])
    assert info.value.code == 2
