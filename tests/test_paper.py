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
    "fig17_thresholding",
    "fig18_nonconvex_bias",
    "fig19_nonconvex_network",
    "fig20_cross_validation",
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


def test_each_figure_names_its_sweeps_and_the_commands_that_rerun_it(built):
    root, figures, _ = built
    sweeps = {f.key: f.sweeps for f in figures}
    assert sweeps["fig01_l1_penalty"] == () and sweeps["fig17_thresholding"] == ()
    assert sweeps["fig06_line_fits"] == ("line_outliers",)
    assert set(sweeps["fig12_strength_sweep"]) == {"digits", "digits_linear"}
    assert "line_outliers_adjusted" in sweeps["fig10_adjusted_network"]
    index = (root / "figures" / "README.md").read_text()
    fig06 = index.split("## fig06_line_fits")[1].split("## ")[0]
    rerun = "research-train -m +sweep=line_outliers num_seeds=3 && research-figures --quick"
    assert f"Rerun: `{rerun}`" in fig06
    fig01 = index.split("## fig01_l1_penalty")[1].split("## ")[0]
    assert "Sweeps: none (library calls). Rerun: `research-figures --quick`" in fig01


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


def test_thresholds_are_the_closed_forms_and_only_l1_shifts_large_weights(built):
    root, _, _ = built
    d = _data(root, "fig17_thresholding")
    u = float(d["step"]) * float(d["strength"])
    closed = {"l1": u, "mcp": u, "scad": u, "l0": np.sqrt(2 * u), "lq": 1.5 * u ** (2 / 3)}
    for name, tau in closed.items():
        assert abs(float(d[f"threshold/{name}"]) - tau) < 1e-9, name
    v = d["v"]
    for name in ("l1", "mcp", "scad", "l0", "lq", "log_sum"):
        tau, out = float(d[f"threshold/{name}"]), d[f"prox/{name}"]
        assert np.all(out[np.abs(v) < tau - 1e-9] == 0), name  # the dead zone
        assert np.all(out[np.abs(v) > tau + 1e-9] != 0), name
    assert v[-1] == 5.0
    assert float(d["prox/l1"][-1]) == pytest.approx(5.0 - u)  # shifted by the strength
    for name in ("mcp", "scad", "l0"):
        assert float(d[f"prox/{name}"][-1]) == 5.0, name  # returned unchanged
    for name in ("lq", "log_sum"):
        assert 5.0 - u < float(d[f"prox/{name}"][-1]) < 5.0, name


def test_nonconvex_penalties_recover_the_support_without_l1s_bias(built):
    root, _, _ = built
    d = _data(root, "fig18_nonconvex_bias")
    best = {n: int(d[f"best/{n}"]) for n in ("l1", "mcp", "scad", "l0")}
    at_best = {
        n: {q: d[f"{q}/{n}"][:, k].mean() for q in ("rmse", "shrinkage", "precision", "recall")}
        for n, k in best.items()
    }
    for n, scores in at_best.items():
        assert scores["precision"] == scores["recall"] == 1.0, n  # the zero pattern, exactly
    oracle = float(d["oracle_rmse"].mean())
    for n in ("mcp", "l0"):  # least squares on the true support
        assert at_best[n]["rmse"] == pytest.approx(oracle, abs=1e-4), n
    for n in ("mcp", "scad", "l0"):
        assert at_best[n]["rmse"] < 0.5 * at_best["l1"]["rmse"], n
    lam = float(d["strengths"][best["l1"]])
    assert 0.5 * lam < at_best["l1"]["shrinkage"] < 2 * lam  # L1 shrinks by about lambda
    assert d["strengths"][0] == 0  # lambda = 0 is least squares whatever the penalty
    for n in ("mcp", "scad", "l0"):
        np.testing.assert_allclose(d[f"rmse/{n}"][:, 0], d["rmse/l1"][:, 0], rtol=1e-5)


def test_strong_l1_and_mcp_disconnect_every_unit_of_the_blog_posts_network(built):
    root, _, _ = built
    d = _data(root, "fig19_nonconvex_network")
    assert d["strengths"][0] == 0
    for label in ("L1", "MCP", "L0"):  # lambda = 0: no penalty, the same runs for each
        assert np.all(d[f"dead_units/{label}"][:, 0] == 0)
        np.testing.assert_allclose(
            d[f"total_error/{label}"][:, 0], d["total_error/L1"][:, 0], rtol=1e-5
        )
    for label in ("L1", "MCP"):
        assert np.all(d[f"dead_units/{label}"][:, -1] == 30)  # all hidden units


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
    strengths, zeros = s["strengths/linear"], s["exact_zeros/linear"]
    assert np.all(np.diff(strengths) > 0) and strengths[0] > 0
    assert np.all(np.diff(zeros) >= 0)  # the exact path: more zeros at larger strengths
    assert 0 < zeros[0] < 1 and zeros[-1] == 1  # the largest strength zeroes the kernel
    assert s["accuracy/linear"][0] > 0.85
    assert s["accuracy/linear"][-1] < 0.2  # no kernel: one class for every image


def test_cross_validation_picks_alpha_min_and_alpha_1se_as_cv_glmnet(built):
    root, _, _ = built
    d = _data(root, "fig20_cross_validation")
    alphas, mean, std = d["alphas"], d["cv_mean"], d["cv_std"]
    assert np.all(np.diff(alphas) < 0)  # glmnet's grid, strongest first
    k_min = int(np.flatnonzero(alphas == d["alpha_min"])[0])
    k_1se = int(np.flatnonzero(alphas == d["alpha_1se"])[0])
    assert mean[k_min] == mean.min()
    assert 0 < k_min < alphas.size - 1  # an interior minimum: the curve turns up again
    assert d["alpha_1se"] >= d["alpha_min"]
    assert mean[k_1se] <= mean[k_min] + std[k_min]
    assert np.all(mean[:k_1se] > mean[k_min] + std[k_min])  # the largest such strength
    # the top axis: features nonzero in any class, none at the strongest strength
    np.testing.assert_array_equal(d["df"], np.any(d["coef"] != 0, axis=0).sum(axis=0))
    assert d["df"][0] == 0 and d["df"][k_min] > 0
    assert d["test_accuracy"][k_min] > 0.9 and d["test_accuracy"][k_1se] > 0.9


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
