"""The seed experiments' data sets, generated or shipped (nothing is downloaded).

Each loader returns a ``Dataset`` of float32 NumPy arrays with a fixed
train/test split, fully determined by its arguments (``seed`` included).

* ``line_outliers``: the blog post's line with noise and outliers.
* ``sparse_regression``: a Gaussian design with a known sparse weight vector.
* ``digits``: scikit-learn's bundled 8x8 digits, standardized (the Keras tutorial's classifier).
* ``penalty_only``: a single zero point, so that training follows the penalty alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "LOADERS",
    "TASKS",
    "Dataset",
    "check_finite",
    "digits",
    "line_outliers",
    "load",
    "penalty_only",
    "sparse_regression",
]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays of one data set. ``y`` is ``(n, 1)`` for regression, int labels for classes."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "regression" or "classification"
    num_classes: int = 0
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def in_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def out_features(self) -> int:
        return self.num_classes if self.task == "classification" else int(self.y_train.shape[1])


def _check(name: str, value: Any, low: float, *, integer: bool = False) -> None:
    if integer and (not isinstance(value, int | np.integer) or isinstance(value, bool)):
        raise ValueError(f"data.{name}: expected an integer, got {value!r}")
    if not np.isfinite(value) or value < low:
        raise ValueError(f"data.{name}: expected a number >= {low}, got {value!r}")


def line_outliers(
    n_samples: int = 50,
    x_min: float = 0.5,
    x_max: float = 9.5,
    slope: float = 2.0,
    noise: float = 2.0,
    n_outliers: int = 10,
    outlier_scale: float = 10.0,
    test_every: int = 5,
    seed: int = 0,
) -> Dataset:
    """The blog post's data: a line ``y = slope * x`` with uniform noise and shifted outliers.

    ``x = linspace(x_min, x_max, n_samples)``; every point gets noise
    ``U(0, noise)``; ``n_outliers`` evenly spaced points (indices 2, 7, ...,
    47 for the defaults) get one shared offset ``U(0, outlier_scale)``. Every
    ``test_every``-th point (indices 4, 9, ..., 49) is a test point: 40 train /
    10 test for the defaults, with all outliers in training.

    Returns:
      A ``Dataset``. ``info``: ``offset`` (the drawn offset), ``outlier_train``
      (the training outliers), and in the points' original order ``x`` (float64)
      and the masks ``is_test`` (order kept in ``x_test``) and ``is_outlier``.
    """
    _check("n_samples", n_samples, 2, integer=True)
    _check("n_outliers", n_outliers, 0, integer=True)
    _check("test_every", test_every, 2, integer=True)
    _check("noise", noise, 0)
    _check("outlier_scale", outlier_scale, 0)
    if n_outliers > n_samples:
        raise ValueError(f"data.n_outliers: {n_outliers} is more than n_samples={n_samples}")
    rng = np.random.default_rng(seed)
    x = np.linspace(x_min, x_max, n_samples)
    y = slope * x + rng.uniform(0.0, noise, size=n_samples)
    offset = rng.uniform(0.0, outlier_scale)
    spacing = n_samples // max(n_outliers, 1)
    outliers = (np.arange(n_outliers) * spacing + spacing // 2) % n_samples
    y[outliers] += offset
    is_outlier = np.zeros(n_samples, bool)
    is_outlier[outliers] = True
    test = np.zeros(n_samples, bool)
    test[test_every - 1 :: test_every] = True
    col = lambda a: a.reshape(-1, 1).astype(np.float32)  # noqa: E731
    return Dataset(
        name="line_outliers",
        x_train=col(x[~test]),
        y_train=col(y[~test]),
        x_test=col(x[test]),
        y_test=col(y[test]),
        task="regression",
        info={
            "outlier_train": is_outlier[~test],
            "outlier_test": is_outlier[test],
            "outlier_indices": outliers,
            "offset": float(offset),
            "slope": float(slope),
            "x": x,
            "is_test": test,
            "is_outlier": is_outlier,
        },
    )


def sparse_regression(
    n_samples: int = 200,
    n_features: int = 50,
    n_informative: int = 5,
    noise: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """``y = X w* + noise`` with Gaussian ``X`` and a ``n_informative``-sparse ``w*``.

    The nonzero coefficients sit at random positions with magnitudes
    ``U(1, 3)`` and random signs, so support recovery is measurable.
    ``info["true_coef"]`` holds ``w*``.
    """
    _check("n_samples", n_samples, 2, integer=True)
    _check("n_features", n_features, 1, integer=True)
    _check("n_informative", n_informative, 0, integer=True)
    _check("noise", noise, 0)
    if n_informative > n_features:
        raise ValueError(f"data.n_informative: {n_informative} exceeds n_features={n_features}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"data.test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, n_features))
    coef = np.zeros(n_features)
    support = rng.choice(n_features, size=n_informative, replace=False)
    coef[support] = rng.uniform(1.0, 3.0, size=n_informative) * rng.choice(
        [-1.0, 1.0], n_informative
    )
    y = x @ coef + noise * rng.normal(size=n_samples)
    n_test = max(1, round(test_fraction * n_samples))
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return Dataset(
        name="sparse_regression",
        x_train=f32(x[:-n_test]),
        y_train=f32(y[:-n_test, None]),
        x_test=f32(x[-n_test:]),
        y_test=f32(y[-n_test:, None]),
        task="regression",
        info={"true_coef": coef.astype(np.float32)},
    )


def digits(test_fraction: float = 0.2, seed: int = 0, classes: list[int] | None = None) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, 64 features, 10 classes), standardized.

    The split is a fixed stratified shuffle (``seed``); features are
    standardized with the training mean and standard deviation. ``classes``
    keeps those digits only, labelled by their position in the list
    (``classes=[3, 8]``: a binary task, 3 -> 0 and 8 -> 1).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"data.test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    bunch = load_digits()
    x_all, y_all = bunch.data, bunch.target
    if classes is not None:
        picked = list(classes)
        if len(picked) < 2 or len(set(picked)) != len(picked) or not set(picked) <= set(range(10)):
            raise ValueError(
                f"data.classes: expected 2 or more distinct digits in 0..9, got {classes!r}"
            )
        keep = np.isin(y_all, picked)
        x_all, y_all = x_all[keep], np.array([picked.index(d) for d in y_all[keep]])
    x_train, x_test, y_train, y_test = train_test_split(
        x_all, y_all, test_size=test_fraction, random_state=seed, stratify=y_all
    )
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0  # constant border pixels
    scale = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return Dataset(
        name="digits",
        x_train=scale(x_train),
        y_train=y_train.astype(np.int32),
        x_test=scale(x_test),
        y_test=y_test.astype(np.int32),
        task="classification",
        num_classes=10 if classes is None else len(classes),
    )


def penalty_only() -> Dataset:
    """One point ``x = 0, y = 0``: the data loss and its gradient vanish.

    Training then follows the penalty alone, as in the Stats.SE answer's one-parameter
    gradient descent (with ``Linear(use_bias=False, kernel_init=5.0)``).
    """
    zero = np.zeros((1, 1), np.float32)
    return Dataset("penalty_only", zero, zero, zero, zero, task="regression")


LOADERS: dict[str, Callable[..., Dataset]] = {
    "line_outliers": line_outliers,
    "sparse_regression": sparse_regression,
    "digits": digits,
    "penalty_only": penalty_only,
}
"""The data sets by config name; each loader's signature lists its keys and defaults."""

TASKS = {name: "regression" for name in LOADERS} | {"digits": "classification"}
"""The task of each data set, known before it is loaded (``research.losses.TASKS``)."""


def load(config: dict[str, Any]) -> Dataset:
    """Loads a data set from its config: ``name`` plus the loader's keyword arguments."""
    config = dict(config)
    name = config.pop("name", None)
    loader = LOADERS.get(name)
    if loader is None:
        raise ValueError(f"data.name: expected one of {sorted(LOADERS)}, got {name!r}")
    try:
        dataset = loader(**config)
    except TypeError as err:
        raise ValueError(f"data ({name}): unknown key: {err}") from err
    check_finite(name, dataset)
    return dataset


def check_finite(name: str, dataset: Dataset) -> None:
    """Raises ``ValueError`` naming the data set and array when a value is NaN or infinite."""
    for field in ("x_train", "y_train", "x_test", "y_test"):
        values = np.asarray(getattr(dataset, field))
        if np.issubdtype(values.dtype, np.number) and not np.all(np.isfinite(values)):
            bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
            raise ValueError(
                f"data ({name}): {field} has {bad} NaN or infinite value(s); "
                "clean the data set before training"
            )
