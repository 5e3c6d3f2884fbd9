"""Numbers the three source documents report, in one place.

The figures set their experiments up from these and draw the reported values
next to the measured ones; the sweeps in ``configs/sweep/`` use the same
numbers (each sweep file says which figure it is for).

* the Stats.SE answer (stats.stackexchange.com/a/159379): gradient descent on
  a penalty of one weight (figures 1-4);
* the blog post ("Difference between L1 and L2 regularization, implementation
  and visualization in Tensorflow"): 1-10-10-10-1 linear networks on a line
  with outliers, and the network adjusted according to L1 (figures 5-10, 14);
* the Keras tutorial: ``Dense(64, relu, kernel_regularizer=L1(0.01)) ->
  Dense(10)`` and its pitfalls (figures 11-13).
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "BLOG_POST",
    "KERAS_TUTORIAL",
    "STATS_ANSWER",
    "BlogPost",
    "KerasTutorial",
    "StatsAnswer",
]


@dataclasses.dataclass(frozen=True)
class StatsAnswer:
    """The Stats.SE answer: L1 ``|w|`` and L2 ``w^2 / 2`` of one weight, from w = 5, step 1/2."""

    w_start: float = 5.0
    learning_rate: float = 0.5  # eta = 1/2
    l1: float = 1.0  # |w| is L1(1.0)
    l2: float = 0.5  # w^2 / 2 is L2(0.5)


@dataclasses.dataclass(frozen=True)
class BlogPost:
    """The blog post: 1-10-10-10-1 linear networks, SGD 0.01, batch 1, lambda 0.3, 5 runs.

    The post's TF1 regularizers with lambda 0.3 are Keras's ``L1(0.3)`` (0.3 *
    sum|W|) and ``L2(0.15)`` (``l2_regularizer(0.3)`` is 0.3 * sum(W^2) / 2).
    It reports the total test errors of five L1 runs, and of five runs of the
    network adjusted from ``[(1,10),(10,10),(10,10),(10,1)]`` to
    ``[(1,10),(10,10),(10,1),(1,1)]``.
    """

    widths: tuple[int, ...] = (1, 10, 10, 10, 1)
    adjusted_widths: tuple[int, ...] = (1, 10, 10, 1, 1)
    lam: float = 0.3
    l1: float = 0.3
    l2: float = 0.15
    test_points: int = 10  # every fifth of 50 points
    l1_total_errors: tuple[float, ...] = (
        *(22.68515524, 41.64545712, 4.77383674, 24.04390211, 7.25596004),
    )
    adjusted_total_errors: tuple[float, ...] = (
        *(7.61984439, 13.85177842, 11.95983347, 16.95491162, 25.17294774),
    )


@dataclasses.dataclass(frozen=True)
class KerasTutorial:
    """The Keras tutorial: L1(0.01) on the first layer, and two of its pitfalls.

    Pitfall 1: ``L2(10.0)`` underfits where ``L2(0.01)`` does not. Pitfall 2:
    L1 with ``SGD(learning_rate=0.1)`` trains unstably; the fix is
    ``Adam(learning_rate=0.001)``.
    """

    l1: float = 0.01
    l2: float = 0.01
    strong_l2: float = 10.0
    sgd_learning_rate: float = 0.1
    adam_learning_rate: float = 1e-3


STATS_ANSWER = StatsAnswer()
BLOG_POST = BlogPost()
KERAS_TUTORIAL = KerasTutorial()
