"""Real glmnet (R) from the tests: ``from glmnet_r import glmnet_path, cv_glmnet, ...``.

Each call starts one ``Rscript`` (about 1 s, most of it loading glmnet and Matrix), so
:func:`glmnet_batch` runs several fits in one start. Arrays and floats travel as raw
little-endian float64 files in a temporary directory, both ways, so every number
arrives bit for bit (R's parser does not promise correctly rounded 17-digit decimals).
R warnings are errors, and an R error raises :class:`RError` with R's stderr.

Keyword arguments are glmnet's, with ``_`` for ``.`` (``penalty_factor`` is
``penalty.factor``): ``None`` leaves an argument out, ``bool`` is ``TRUE``/``FALSE``,
``str`` an R string, ``int`` an R number, a float or array a float64 vector or matrix
(an (n, p) array is the same n x p matrix in R), :class:`RExpr` R code as written
(``RExpr("binomial()")``).
Index arguments (``exclude``) are 1-based, as in R. ``thresh`` defaults to 1e-14.

Results use ``_`` for ``.`` as well (``dev_ratio``, ``lambda_min``); glmnet's
results are documented in ``?glmnet`` and ``?cv.glmnet`` (glmnet 4.1).
``scripts/glmnet_local.sh install`` installs R and glmnet (Debian, as root).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

THRESH = 1e-14
"""The default convergence threshold passed to glmnet (glmnet's own default is 1e-7).

glmnet stops when the largest coefficient change (scaled by the feature's variance) is
below ``thresh`` times the null deviance, so coefficients are then accurate to about
1e-7 on QuickStartExample (its optimality conditions to 1e-5, relative); pass
``thresh=1e-30`` (about 2.5 times the passes) for agreement near 1e-12."""

EXAMPLES = ("QuickStartExample", "BinomialExample", "MultinomialExample", "PoissonExample")
"""glmnet's shipped example data sets that :func:`r_example` is tested with."""


class RError(RuntimeError):
    """Rscript failed; the message holds its exit status and stderr."""


class RExpr(NamedTuple):
    """An argument given as R code, e.g. ``family=RExpr("binomial(link = 'probit')")``."""

    code: str


# The R side: rd() reads an input, wr() writes an output and lists it in out.tsv as
# "name <tab> kind <tab> file <tab> dims" (kind "num" or "str"; dims "" for a scalar, a
# float or one string).
_PRELUDE = r"""
suppressMessages(library(glmnet))
.d <- commandArgs(TRUE)[1]
.manifest <- file(file.path(.d, "out.tsv"), "w")
.n <- 0L
rd <- function(f, dims) {
  v <- readBin(file.path(.d, f), "double", prod(dims), size = 8, endian = "little")
  if (length(dims) > 1) dim(v) <- dims
  v
}
wr <- function(name, v, scalar = FALSE) {
  .n <<- .n + 1L
  f <- paste0("out", .n)
  if (is.character(v)) {
    writeLines(v, file.path(.d, f))
    kind <- "str"
  } else {
    if (inherits(v, "Matrix")) v <- as.matrix(v)
    writeBin(as.double(v), file.path(.d, f), size = 8, endian = "little")
    kind <- "num"
  }
  dims <- if (scalar) "" else paste(if (is.null(dim(v))) length(v) else dim(v), collapse = ",")
  writeLines(paste(name, kind, f, dims, sep = "\t"), .manifest)
}
wr_path <- function(p, fit) {
  wr(paste0(p, "lambda"), fit$lambda)
  wr(paste0(p, "dev_ratio"), fit$dev.ratio)
  wr(paste0(p, "df"), fit$df)
  wr(paste0(p, "nulldev"), fit$nulldev, scalar = TRUE)
  wr(paste0(p, "npasses"), fit$npasses, scalar = TRUE)
  if (is.list(fit$beta)) {  # multinomial (and mgaussian): one matrix per class
    b <- simplify2array(lapply(fit$beta, as.matrix))  # p x nlambda x K
    wr(paste0(p, "beta"), aperm(b, c(3, 1, 2)))
    wr(paste0(p, "a0"), unname(as.matrix(fit$a0)))
    wr(paste0(p, "classes"), names(fit$beta))
  } else {
    wr(paste0(p, "beta"), fit$beta)
    wr(paste0(p, "a0"), unname(fit$a0))
  }
}
wr_cv <- function(p, cv) {
  for (k in c("lambda", "cvm", "cvsd", "cvup", "cvlo", "nzero")) wr(paste0(p, k), cv[[k]])
  wr(paste0(p, "lambda_min"), cv$lambda.min, scalar = TRUE)
  wr(paste0(p, "lambda_1se"), cv$lambda.1se, scalar = TRUE)
  wr(paste0(p, "measure"), unname(cv$name), scalar = TRUE)
  wr_path(paste0(p, "fit/"), cv$glmnet.fit)
}
"""

_WRITERS = {"glmnet": "wr_path", "cv.glmnet": "wr_cv"}


class _Inputs:
    """The input files of one Rscript run; each distinct array object is written once."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.written: dict[int, tuple[Any, str]] = {}

    def r(self, value: Any) -> str:
        """``value`` as an R expression (reading a file for floats and arrays)."""
        if isinstance(value, RExpr):
            return value.code
        if isinstance(value, bool | np.bool_):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | np.integer):
            return str(int(value))
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if id(value) in self.written:  # the same array object again
            return self.written[id(value)][1]
        array = np.asarray(value, dtype=np.float64)
        if array.ndim > 2:
            raise ValueError(f"arrays passed to R must be 1-D or 2-D, got shape {array.shape}")
        name = f"in{len(self.written)}"
        array.ravel(order="F").astype("<f8").tofile(self.directory / name)
        dims = ", ".join(map(str, array.shape or (1,)))
        expr = f'rd("{name}", c({dims}))'
        self.written[id(value)] = (value, expr)  # keeps value alive, so its id stays unique
        return expr


def _read_outputs(directory: Path) -> dict[str, Any]:
    """out.tsv's outputs as a nested dict ("3/fit/beta" -> out["3"]["fit"]["beta"])."""
    out: dict[str, Any] = {}
    for line in (directory / "out.tsv").read_text().splitlines():
        name, kind, file, dims = line.split("\t")
        if kind == "str":
            lines = (directory / file).read_text().splitlines()
            value: Any = np.array(lines) if dims else lines[0]
        else:
            value = np.fromfile(directory / file, dtype="<f8")
            if dims:
                value = value.reshape([int(d) for d in dims.split(",")], order="F")
            else:
                value = float(value[0])
        *parents, leaf = name.split("/")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def rscript() -> str | None:
    """The path of ``Rscript``, or None."""
    return shutil.which("Rscript")


def run_r(
    code: str,
    inputs: Mapping[str, Any] | None = None,
    timeout: float = 300,
    allow_warnings: bool = False,
) -> dict[str, Any]:
    """Runs R ``code`` after glmnet's prelude and returns what it wrote with ``wr``.

    ``inputs`` become R variables of those names (as keyword arguments do). In ``code``,
    ``wr("name", value)`` returns ``value`` (numeric, a Matrix, or character) as an array
    under ``"name"``; ``wr("a/b", v)`` nests it (``out["a"]["b"]``); ``scalar = TRUE``
    returns a float (or one string). R warnings are errors unless ``allow_warnings``.
    """
    exe = rscript()
    if exe is None:
        raise RError("Rscript not found; run: sudo bash scripts/glmnet_local.sh install")
    with tempfile.TemporaryDirectory(prefix="glmnet_r_") as tmp:
        directory = Path(tmp)
        files = _Inputs(directory)
        assign = "".join(f"{name} <- {files.r(value)}\n" for name, value in (inputs or {}).items())
        script = directory / "run.R"
        warn = f"options(warn = {1 if allow_warnings else 2})\n"
        script.write_text(_PRELUDE + warn + assign + code + "\nclose(.manifest)\n")
        done = subprocess.run(
            [exe, "--vanilla", str(script), tmp], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RError(
                f"Rscript exited with status {done.returncode}:\n{done.stderr.strip()}\n"
                f"---- the R code after the prelude ----\n{assign}{code}"
            )
        return _read_outputs(directory)


def glmnet_batch(
    calls: Sequence[tuple[str, Mapping[str, Any]]],
    timeout: float = 300,
    allow_warnings: bool = False,
) -> list[dict[str, Any]]:
    """Runs several glmnet calls in one Rscript; one result dict per call.

    Args:
      calls: ``(function, kwargs)`` pairs, function ``"glmnet"`` or ``"cv.glmnet"``, the
        kwargs including ``x`` and ``y`` (and ``foldid`` for cv). Arrays shared between
        calls (the same object) are written once.
      timeout: seconds before the Rscript is killed.
      allow_warnings: let R warnings pass (e.g. glm's "non-integer #successes" with a
        family object and fractional weights); by default they raise :class:`RError`
        (a glmnet convergence failure is a warning).

    Returns:
      For ``glmnet``, arrays over the lambda path (``L`` lambdas, ``p`` features):
      ``lambda`` (L,), ``a0`` (L,), ``beta`` (p, L), ``dev_ratio`` (L,), ``df`` (L,),
      and floats ``nulldev``, ``npasses``. For ``family="multinomial"`` (and
      ``"mgaussian"``) ``beta`` is (K, p, L), one matrix per class, ``a0`` is (K, L),
      and ``classes`` holds the K class names.
      For ``cv.glmnet``: ``lambda``, ``cvm``, ``cvsd``, ``cvup``, ``cvlo``, ``nzero``
      (L,), floats ``lambda_min`` and ``lambda_1se``, ``measure`` (the name of
      ``type.measure``, a string) and ``fit``, the full-data path as above.
    """
    lines = []
    inputs: dict[str, Any] = {}
    for i, (function, kwargs) in enumerate(calls):
        if function not in _WRITERS:
            raise ValueError(f"function must be one of {sorted(_WRITERS)}, got {function!r}")
        kwargs = {**kwargs, "thresh": kwargs.get("thresh", THRESH)}
        # The call's arguments become variables a<i>_<name>, read by run_r.
        names = {}
        for name, value in kwargs.items():
            if value is None:
                continue
            var = f"a{i}_{name.replace('.', '_')}"
            inputs[var] = value
            names[name.replace("_", ".")] = var
        args = ", ".join(f"{name} = {var}" for name, var in names.items())
        lines.append(f'{_WRITERS[function]}("{i}/", {function}({args}))')
    out = run_r("\n".join(lines), inputs, timeout=timeout, allow_warnings=allow_warnings)
    return [out[str(i)] for i in range(len(calls))]


def glmnet_path(x: Any, y: Any, **kwargs: Any) -> dict[str, Any]:
    """``glmnet(x, y, thresh = 1e-14, ...)``: the path, as in :func:`glmnet_batch`."""
    return glmnet_batch([("glmnet", {"x": x, "y": y, **kwargs})])[0]


def cv_glmnet(x: Any, y: Any, foldid: Any, **kwargs: Any) -> dict[str, Any]:
    """``cv.glmnet(x, y, foldid = foldid, thresh = 1e-14, ...)``, as in :func:`glmnet_batch`.

    ``foldid`` holds each example's fold, 1 to the number of folds.
    """
    return glmnet_batch([("cv.glmnet", {"x": x, "y": y, "foldid": foldid, **kwargs})])[0]


def r_examples(*names: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (x, y)}`` of glmnet's example data sets, read in one Rscript."""
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"not a data set name: {name!r}")
    code = "".join(
        f'data({name}, package = "glmnet")\nwr("{name}/x", {name}$x)\nwr("{name}/y", {name}$y)\n'
        for name in names
    )
    out = run_r(code)
    examples = {}
    for name in names:
        x, y = out[name]["x"], out[name]["y"]
        examples[name] = (x, y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y)
    return examples


def r_example(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of one of glmnet's example data sets (``data(name, package="glmnet")``).

    glmnet 4.1 ships each as a list of ``x`` and ``y``. ``x`` is (n, p) (dense, also for
    ``SparseExample``); ``y`` is (n,) when it is one column, otherwise (n, k)
    (``MultiGaussianExample``, ``CoxExample``). Binomial and multinomial labels are
    numbers (0/1 and 1, 2, 3), Poisson counts are integers, all as float64.
    """
    return r_examples(name)[name]


def versions(timeout: float = 120) -> str:
    """R's and glmnet's versions, e.g. ``"R 4.2.2, glmnet 4.1.6"``."""
    out = run_r(
        'wr("v", c(paste(R.version$major, R.version$minor, sep = "."), '
        'as.character(packageVersion("glmnet"))))',
        timeout=timeout,
    )
    return f"R {out['v'][0]}, glmnet {out['v'][1]}"


def glmnet_loads(timeout: float = 120) -> tuple[bool, str]:
    """Whether R loads glmnet; with its versions ("R 4.2.2, glmnet 4.1.6") or why not."""
    if rscript() is None:
        return False, "no Rscript on PATH"
    try:
        return True, versions(timeout)
    except RError as e:
        return False, str(e)
