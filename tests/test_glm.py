"""``research.glm_path`` against real glmnet (R, through Rscript) on the package's example
data and on generated data: every family, with and without standardization and intercept,
with weights, penalty factors (zeros and an exclusion), limits, given strengths and the
grouped multinomial; coefficients, intercepts, strengths, dev.ratio, df and nulldev. Both
sides solve at a tight threshold, so the comparison is of solutions, not of stopping
points. Also: glmnet's predict/coef interpolation, scikit-learn's elastic-net logistic
regression, and errors naming the argument."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from research import glm_path

from glmnet_r import glmnet_batch, r_examples, run_r

pytestmark = [pytest.mark.glmnet, pytest.mark.parity]

TOL = 1e-20
"""Both sides' threshold: glmnet's solutions are then accurate to about 1e-11. The
multinomial with limits and the grouped one (glmnet's scalar-bound MM steps converge
slowly) run at 1e-14, where glmnet's 1e5 passes suffice."""


def _generated():
    rng = np.random.default_rng(7)
    n, p = 90, 24
    x = rng.standard_normal((n, p)) * rng.uniform(0.5, 3, p) + rng.uniform(-1, 1, p)
    beta = np.zeros(p)
    beta[:6] = [1.5, -2.0, 0.8, 0.0, 1.0, -0.6]
    eta = x @ beta / 3
    w = rng.uniform(0.2, 2.0, n)
    pf = np.ones(p)
    pf[[2, 9]] = 0.0  # unpenalized
    pf[5] = 3.0
    lower = np.where(np.arange(p) % 3 == 0, 0.0, -0.4)
    upper = np.where(np.arange(p) % 4 == 1, 0.5, np.inf)
    score = eta + 0.5 * rng.standard_normal(n)
    labels = np.digitize(score, np.quantile(score, [0.2, 0.45, 0.75]))  # 4 classes
    return {
        "x": x,
        "w": w,
        "pf": pf,
        "lower": lower,
        "upper": upper,
        "gaussian": eta + 0.5 * rng.standard_normal(n),
        "binomial": (eta + rng.logistic(size=n) > 0).astype(float),
        "poisson": rng.poisson(np.exp(0.5 * eta)).astype(float),
        "multinomial": labels.astype(float) + 1,
    }


EXAMPLE = {
    "gaussian": "QuickStartExample",
    "binomial": "BinomialExample",
    "multinomial": "MultinomialExample",
    "poisson": "PoissonExample",
}
# (family, data, our keyword arguments): R gets the same under glmnet's names.
SETTINGS = [
    *((f, "example", {}) for f in EXAMPLE),
    *((f, "example", {"l1_ratio": 0.4, "standardize": False}) for f in EXAMPLE),
    *((f, "example", {"fit_intercept": False, "l1_ratio": 0.7}) for f in EXAMPLE),
    *(
        (f, "generated", {"weights": True, "pf": True, "limits": True})
        for f in EXAMPLE
        if f != "multinomial"
    ),
    ("multinomial", "generated", {"weights": True, "limits": True, "tol": 1e-12}),
    ("gaussian", "generated", {"weights": True, "l1_ratio": 0.0, "alphas": "given"}),
    ("binomial", "generated", {"pf": True, "alphas": "given", "l1_ratio": 0.5}),
    ("multinomial", "example", {"grouped": True, "tol": 1e-14}),
    (
        "multinomial",
        "generated",
        {"grouped": True, "weights": True, "l1_ratio": 0.6, "tol": 1e-10, "alphas": "given"},
    ),
    ("poisson", "generated", {"weights": True, "standardize": False, "limits": True}),
    ("binomial", "generated", {"pf": True, "limits": True, "fit_intercept": False}),
]


def _arguments(family, source, setting, data, examples):
    """``(x, y for us, our kwargs, glmnet's kwargs)`` of one setting."""
    if source == "example":
        x, y = examples[EXAMPLE[family]]
    else:
        x, y = data["x"], data[family]
    tol = setting.get("tol", TOL)
    ours = {"family": family, "tol": tol}
    theirs = {"family": family, "thresh": tol, "x": x, "y": y}
    for key, r_key in (("l1_ratio", "alpha"), ("standardize", "standardize"),
                       ("fit_intercept", "intercept")):  # fmt: skip
        if key in setting:
            ours[key] = theirs[r_key] = setting[key]
    if setting.get("weights"):
        ours["sample_weight"] = theirs["weights"] = data["w"]
    if setting.get("pf"):
        ours["penalty_factor"] = theirs["penalty_factor"] = data["pf"]
    if setting.get("limits"):
        ours["lower"], ours["upper"] = data["lower"], data["upper"]
        theirs["lower_limits"], theirs["upper_limits"] = data["lower"], data["upper"]
    if setting.get("alphas") == "given":
        grid = np.geomspace(0.3, 0.003, 12)
        ours["alphas"], theirs["lambda"] = grid[::-1].copy(), grid  # any order
    if setting.get("grouped"):
        ours["grouped"], theirs["type_multinomial"] = True, "grouped"
    if family == "binomial":  # our labels are strings, sorted as R sorts 0 < 1
        y = np.where(y > 0, "yes", "no")
    if family == "multinomial":
        y = np.array(["c1", "c2", "c3", "c4"])[y.astype(int) - 1]
    return x, y, ours, theirs


@pytest.fixture(scope="module")
def fits():
    """Each setting's path here and glmnet's, the latter all in one Rscript."""
    data, examples = _generated(), r_examples(*EXAMPLE.values())
    cases = [_arguments(f, s, k, data, examples) for f, s, k in SETTINGS]
    refs = glmnet_batch([("glmnet", theirs) for *_, theirs in cases])
    return [(glm_path(x, y, **ours), ref) for (x, y, ours, _), ref in zip(cases, refs, strict=True)]


def _relative(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize(
    "index", range(len(SETTINGS)), ids=[f"{f}-{s}-{sorted(k)}" for f, s, k in SETTINGS]
)
def test_the_path_is_glmnets(fits, index):
    ours, ref = fits[index]
    assert ours.alphas.size == ref["lambda"].size  # the same early stop
    assert _relative(ours.alphas, ref["lambda"]) < 1e-12
    assert _relative(ours.coef, np.asarray(ref["beta"])) < 1e-8
    assert np.abs(ours.intercept - ref["a0"]).max() < 1e-8 * max(1.0, np.abs(ref["a0"]).max())
    assert np.abs(ours.dev_ratio - ref["dev_ratio"]).max() < 1e-9
    np.testing.assert_array_equal(ours.df, ref["df"])
    assert ours.null_deviance == pytest.approx(ref["nulldev"], rel=1e-12)
    assert ours.coef.any(), "a path of zeros could not tell the settings apart"


def test_limits_and_zero_factors_act(fits):
    """On the generated gaussian setting with limits and factors: every coefficient within
    its limits at every strength, the unpenalized ones non-zero from the first strength."""
    setting = SETTINGS.index(
        ("gaussian", "generated", {"weights": True, "pf": True, "limits": True})
    )
    ours, _ = fits[setting]
    data = _generated()
    assert np.all(ours.coef >= data["lower"][:, None] - 1e-12)
    assert np.all(ours.coef <= data["upper"][:, None] + 1e-12)
    assert np.any(ours.coef == data["upper"][:, None]) or np.any(
        ours.coef == data["lower"][:, None]
    )
    assert np.all(ours.coef[[2, 9], 0] != 0) and not ours.coef[5, 0]


def test_interpolation_and_predict_are_glmnets():
    """``coef_at`` / ``predict`` between and beyond the path's strengths equal glmnet's
    ``coef(fit, s=)`` and ``predict(fit, newx, s=, type=)``."""
    examples = r_examples("QuickStartExample", "MultinomialExample")
    x, y = examples["QuickStartExample"]
    xm, ym = examples["MultinomialExample"]
    s = np.array([2.0, 0.7, 0.1234, 0.011, 1e-5])
    out = run_r(
        """
        f <- glmnet(x, y, thresh = 1e-20)
        wr("coef", as.matrix(coef(f, s = s)))
        m <- glmnet(xm, ym, family = "multinomial", thresh = 1e-20)
        wr("prob", predict(m, xm[1:7, ], s = s[2:4], type = "response"))
        wr("cls", as.numeric(predict(m, xm[1:7, ], s = s[3], type = "class")))
        """,
        {"x": x, "y": y, "xm": xm, "ym": ym, "s": s},
    )
    path = glm_path(x, y, tol=1e-20)
    coef, intercept = path.coef_at(s)
    np.testing.assert_allclose(np.vstack([intercept, coef]), out["coef"], rtol=0, atol=1e-9)
    multi = glm_path(xm, ym, family="multinomial", tol=1e-20)
    prob = multi.predict(xm[:7], alpha=s[1:4], kind="response")  # (7, 3, 3)
    np.testing.assert_allclose(prob, np.asarray(out["prob"]).reshape(7, 3, 3), atol=1e-9)
    np.testing.assert_array_equal(multi.predict(xm[:7], alpha=s[2], kind="class"), out["cls"])


def test_elastic_net_logistic_regression_is_scikit_learns():
    """glmnet's binomial objective on standardized data, with ``alpha = 1 / (n C)``, is
    scikit-learn's ``LogisticRegression(penalty="elasticnet")`` divided by n (1e-5)."""
    rng = np.random.default_rng(3)
    n, p = 300, 8
    x = rng.standard_normal((n, p))
    x = (x - x.mean(0)) / x.std(0)
    y = x @ np.array([1.5, -1.0, 0.5, 0, 0, 0.3, 0, -2.0]) + rng.logistic(size=n) > 0
    for l1_ratio, C in ((0.5, 0.05), (1.0, 0.02)):
        sk = LogisticRegression(solver="saga", l1_ratio=l1_ratio, C=C,
                                tol=1e-12, max_iter=200_000).fit(x, y)  # fmt: skip
        ours = glm_path(x, y, family="binomial", l1_ratio=l1_ratio, alphas=[1 / (n * C)],
                        standardize=False, tol=1e-14)  # fmt: skip
        np.testing.assert_allclose(ours.coef[:, 0], sk.coef_[0], atol=1e-5)
        assert ours.intercept[0] == pytest.approx(sk.intercept_[0], abs=1e-5)
        assert 0 < np.count_nonzero(ours.coef) < p or l1_ratio < 1  # the L1 case has zeros


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "gamma"}, "family: expected one of"),
        ({"y": np.arange(5.0)}, r"y: expected shape \(n,\)"),
        ({"family": "binomial", "y": np.arange(30) % 3}, "y: family=binomial needs exactly 2"),
        ({"family": "binomial", "y": np.r_[np.zeros(29), 1]}, "has 1 observation"),
        ({"family": "poisson", "y": -np.ones(30)}, "y: poisson counts must be >= 0"),
        ({"sample_weight": -np.ones(30)}, "sample_weight: expected weights >= 0"),
        ({"penalty_factor": np.zeros(4)}, "penalty_factor: at least one factor must be > 0"),
        ({"penalty_factor": np.ones(3)}, r"penalty_factor: expected a scalar or 4 values"),
        ({"lower": 0.5}, "lower: expected limits <= 0"),
        ({"upper": -np.ones(4)}, "upper: expected limits >= 0"),
        ({"l1_ratio": 1.5}, r"l1_ratio: expected a number in \[0, 1\]"),
        ({"alphas": [0.1, -1.0]}, "alphas: strengths must be finite and >= 0"),
        ({"alphas": 0}, "alphas: expected an int >= 1"),
        ({"alpha_min_ratio": 1.0}, r"alpha_min_ratio: expected a number in \(0, 1\)"),
        ({"grouped": True}, "grouped: only family='multinomial'"),
        ({"X": np.full((30, 4), np.nan)}, "X: contains NaN or infinite values"),
        ({"X": np.ones((30, 4))}, "X: every feature is constant"),
        ({"y": np.ones(30)}, "y: the response is constant"),
        ({"tol": 0}, "tol: expected a number > 0"),
        ({"max_iter": 0}, "max_iter: expected an int >= 1"),
    ],
)
def test_bad_input_is_an_error_naming_the_argument(kwargs, message):
    rng = np.random.default_rng(0)
    args = {"X": rng.standard_normal((30, 4)), "y": rng.standard_normal(30), **kwargs}
    with pytest.raises(ValueError, match=message):
        glm_path(args.pop("X"), args.pop("y"), **args)
