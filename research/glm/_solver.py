"""The path loop of ``glm_path`` (glmnet's ``elnet_path``): the internal problem, the
null fit, each strength's fit by ``research.glm._kernels`` / ``_multinomial``, deviances,
glmnet's grid and its early stop.

Private: import the public names from ``research.glm``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from research.glm import _kernels as kernels
from research.glm import _multinomial as multinomial
from research.glm._data import BIG, Standardized

FDEV, DEVMAX, MNLAM = 1e-5, 0.999, 5
"""glmnet.control's defaults: the path stops once the deviance ratio changes by less than
``fdev`` (poisson: 10 fdev over 4 strengths), or exceeds ``devmax``, from the ``mnlam``-th
strength on."""
KIND = {"gaussian": kernels.GAUSSIAN, "binomial": kernels.BINOMIAL, "poisson": kernels.POISSON}


@dataclasses.dataclass(frozen=True)
class Problem:
    """A path's inputs on the internal scale."""

    family: str
    std: Standardized
    Y: np.ndarray  # (n,) gaussian: standardized; binomial: proportions; (n, C) multinomial
    wt: np.ndarray  # (n,) normalized weights
    vp: np.ndarray
    lo: np.ndarray  # internal limits
    hi: np.ndarray
    l1_ratio: float
    intercept: bool
    grouped: bool
    y_mean: float = 0.0  # gaussian: ym and ys
    y_scale: float = 1.0


@dataclasses.dataclass
class State:
    """Everything a strength's fit starts from and leaves behind (see ``_kernels``)."""

    b: np.ndarray  # (p,) or (C, p)
    a: np.ndarray  # (1,) or (C,)
    g: np.ndarray
    strong: np.ndarray
    active: np.ndarray
    order: np.ndarray
    counts: np.ndarray  # [number active, passes]
    eta: np.ndarray  # (n,) link; multinomial: unused
    v: np.ndarray  # (n,) IRLS curvature; multinomial: q (n, C)
    r: np.ndarray  # (n,) working residual; multinomial: sxp (n,)
    xv: np.ndarray  # (p,) or (C, p)


def _null(problem: Problem) -> State:
    """The state of the null model (intercept only; glmnet's ``m = 0`` start)."""
    Z, wt, Y = problem.std.X, problem.wt, problem.Y
    n, p = Z.shape
    ints = dict(order=np.zeros(p, np.int64), counts=np.zeros(2, np.int64))
    flags = dict(strong=np.zeros(p, bool), active=np.zeros(p, bool))
    if problem.family == "multinomial":
        C = Y.shape[1]
        prior = wt @ Y
        if np.any(prior <= kernels.PMIN) or np.any(prior >= 1 - kernels.PMIN):
            raise ValueError("y: a class has (weighted) proportion within 1e-9 of 0 or 1")
        a = np.log(prior) - np.log(prior).mean() if problem.intercept else np.zeros(C)
        q = np.tile(np.exp(a), (n, 1))
        sxp = q.sum(1)
        R = wt[:, None] * (Y - q / sxp[:, None])
        G = Z.T @ R
        g = np.sqrt((G**2).sum(1)) if problem.grouped else np.abs(G).max(1)
        xv = problem.std.xv.copy() if problem.grouped else np.zeros((C, p))
        return State(np.zeros((C, p)), a, g, eta=np.zeros(n), v=q, r=sxp, xv=xv, **ints, **flags)
    a = np.zeros(1)
    if problem.intercept and problem.family == "binomial":
        q0 = wt @ Y
        if not kernels.PMIN < q0 < 1 - kernels.PMIN:
            raise ValueError("y: a class has (weighted) proportion within 1e-9 of 0 or 1")
        a[0] = math.log(q0 / (1 - q0))
    elif problem.intercept and problem.family == "poisson":
        a[0] = math.log(wt @ Y)
    eta, v, r = np.zeros(n), np.zeros(n), np.zeros(n)
    b = np.zeros(p)
    kernels.refresh(KIND[problem.family], Z, Y, wt, np.zeros(n), b, a, ints["order"], 0, eta, v, r)
    xv = problem.std.xv.copy()
    g = np.abs(Z.T @ r)
    return State(b, a, g, eta=eta, v=v, r=r, xv=xv, **ints, **flags)


def _fit(problem: Problem, s: State, lam: float, lam_prev: float, thr: float, maxit: int) -> int:
    Z, Y, wt, ju = problem.std.X, problem.Y, problem.wt, problem.std.ju
    alpha, common = problem.l1_ratio, (s.g, s.strong, s.active, s.order, s.counts)
    if problem.family == "multinomial":
        offset = np.zeros_like(Y)
        if problem.grouped:
            return multinomial.fit_grouped(
                Z,
                Y,
                wt,
                offset,
                s.xv,
                problem.vp,
                ju,
                lam,
                lam_prev,
                alpha,
                problem.intercept,
                thr,
                maxit,
                s.b,
                s.a,
                s.v,
                s.r,
                *common,
            )
        return multinomial.fit_multinomial(
            Z,
            Y,
            wt,
            offset,
            s.xv,
            problem.vp,
            problem.lo,
            problem.hi,
            ju,
            lam,
            lam_prev,
            alpha,
            problem.intercept,
            thr,
            maxit,
            s.b,
            s.a,
            s.v,
            s.r,
            *common,
        )
    return kernels.fit_single(
        KIND[problem.family],
        Z,
        Y,
        wt,
        np.zeros_like(wt),
        s.xv,
        problem.vp,
        problem.lo,
        problem.hi,
        ju,
        lam,
        lam_prev,
        alpha,
        True,
        problem.intercept,
        thr,
        maxit,
        s.b,
        s.a,
        s.eta,
        s.v,
        s.r,
        *common,
    )


def _deviance(problem: Problem, s: State) -> float:
    """The fit's deviance with normalized weights (glmnet's ``devi``, up to the saturated
    model's constant, which ``Path`` removes)."""
    wt, Y, family = problem.wt, problem.Y, problem.family
    if family == "gaussian":
        fit = problem.std.X @ s.b
        return float(wt @ (Y - fit) ** 2)
    if family == "binomial":
        q = np.clip(1 / (1 + np.exp(-s.eta)), kernels.PMIN, 1 - kernels.PMIN)
        return float(-(wt @ (Y * np.log(q) + (1 - Y) * np.log(1 - q))))
    if family == "poisson":
        return float(-(wt @ (Y * s.eta - np.exp(s.eta))))
    prob = s.v / s.r[:, None]
    logp = np.log(np.where(Y > 0, prob, 1.0))
    return float(-(wt @ (Y * logp).sum(1)))


def _saturated(problem: Problem) -> float:
    """The saturated model's value of ``_deviance`` (0 for gaussian)."""
    wt, Y = problem.wt, problem.Y
    if problem.family == "gaussian":
        return 0.0
    if problem.family == "binomial":
        terms = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0.0)
        terms += np.where(Y < 1, (1 - Y) * np.log(np.where(Y < 1, 1 - Y, 1)), 0.0)
        return float(-(wt @ terms))
    ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0.0)
    if problem.family == "poisson":
        return float(-(wt @ (ylogy - Y)))
    return float(-(wt @ ylogy.sum(1)))


@dataclasses.dataclass
class Trace:
    """What each solved strength leaves: internal coefficients, intercepts, deviances."""

    lams: list[float] = dataclasses.field(default_factory=list)
    b: list[np.ndarray] = dataclasses.field(default_factory=list)
    a: list[np.ndarray] = dataclasses.field(default_factory=list)
    dev: list[float] = dataclasses.field(default_factory=list)


def _stop(family: str, ratios: list[float], fdev: float) -> bool:
    """glmnet's early stop of a computed grid, from the ``MNLAM``-th strength on."""
    m = len(ratios) - 1
    if m + 1 < MNLAM:
        return False
    now = ratios[m]
    if now > DEVMAX:
        return True
    if family == "gaussian":
        change = (now - ratios[m - 1]) / now if now != 0 else np.inf
    elif family == "poisson":
        change = (now - ratios[m - MNLAM + 1]) / now if now != 0 else np.inf
        fdev *= 10
    else:
        change = now - ratios[m - 1]
    return change < fdev


def solve(
    problem: Problem, given: np.ndarray | None, ratio: float, count: int, tol: float, max_iter: int
) -> tuple[Trace, list[float], int, float]:
    """Solves the path (glmnet's ``elnet_path``): ``given`` strengths (internal scale) in
    decreasing order, or glmnet's grid of ``count`` strengths down to ``ratio``. Returns the
    trace, the deviance ratios, the number of passes and the null deviance (normalized
    weights, less the saturated model's)."""
    s = _null(problem)
    sat = _saturated(problem)
    thr = tol if problem.family == "gaussian" else None
    fdev = 0.0 if np.any(problem.lo == 0) or np.any(problem.hi == 0) else FDEV
    trace, ratios = Trace(), []
    # The null model's deviance (gaussian: the standardized response's sum of squares).
    dev0 = _deviance(problem, s) - sat
    if thr is None:
        thr = tol * dev0
    step = max(ratio, 1e-6) ** (1.0 / (count - 1)) if given is None and count > 1 else 1.0
    lam_prev, lam_max = 0.0, 0.0
    for m in range(count):
        if given is not None:
            lam = given[m]
        elif m == 0:
            lam = BIG
        elif m == 1:
            lam_max = _lambda_max(problem, s)
            lam, lam_prev = lam_max * step, lam_max
        else:
            lam = lam_prev * step
        status = _fit(problem, s, lam, lam_prev, thr, max_iter)
        if status == kernels.MAXIT:
            warnings.warn(
                f"glm_path: the strength at index {m} did not converge within max_iter="
                f"{max_iter} passes (cumulative over the path, as glmnet counts them); "
                f"returning the {m} strengths before it",
                ConvergenceWarning,
                stacklevel=3,
            )
            break
        if not (np.all(np.isfinite(s.b)) and np.all(np.isfinite(s.a))):
            warnings.warn(
                f"glm_path: the fit diverged at the strength at index {m} (IRLS overshoots "
                "when started far below the previous strength); returning the strengths "
                "before it: start a given grid nearer the largest useful strength",
                ConvergenceWarning,
                stacklevel=3,
            )
            break
        dev_fit = _deviance(problem, s)
        ratios.append(1 - (dev_fit - sat) / dev0)
        trace.lams.append(lam)
        trace.b.append(s.b.copy())
        trace.a.append(s.a.copy())
        trace.dev.append(dev_fit)
        lam_prev = lam
        if given is None and (_stop(problem.family, ratios, fdev) or status != kernels.OK):
            break
    if given is None and len(trace.lams) > 2:
        trace.lams[0] = math.exp(2 * math.log(trace.lams[1]) - math.log(trace.lams[2]))
    elif given is None and len(trace.lams) == 2:
        trace.lams[0] = BIG
    return trace, ratios, int(s.counts[1]), dev0


def _lambda_max(problem: Problem, s: State) -> float:
    """The smallest strength at which every penalized coefficient is 0: ``max |g| / vp`` over
    the eligible penalized columns, at the fit of the first (infinite) strength."""
    eligible = problem.std.ju & (problem.vp > 0)
    if not eligible.any():
        return BIG
    return float(np.max(s.g[eligible] / problem.vp[eligible]) / max(problem.l1_ratio, 1e-3))
