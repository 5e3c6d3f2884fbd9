"""One function per paper figure: arrays in, ``matplotlib.figure.Figure`` out.

Figure functions never train; ``research.paper`` runs the experiments, reads
their results and calls these. All share ``research.mplstyle`` and one colour
per regularizer (``research.figures.style.COLORS``).
"""

from research.figures.digits import (
    cross_validation,
    lasso_path,
    optimizer_curves,
    strength_sweep,
    weight_histograms,
)
from research.figures.networks import (
    hinton,
    hinton_grid,
    line_fits,
    loss_caveat,
    total_errors,
    weight_animation,
    weight_strip,
    zero_fraction,
)
from research.figures.nonconvex import strength_curves, thresholding_maps
from research.figures.penalties import constraint_contours, descent_path, penalty_and_gradient
from research.figures.style import COLORS, save_figure, style

__all__ = [
    "COLORS",
    "constraint_contours",
    "cross_validation",
    "descent_path",
    "hinton",
    "hinton_grid",
    "lasso_path",
    "line_fits",
    "loss_caveat",
    "optimizer_curves",
    "penalty_and_gradient",
    "save_figure",
    "strength_curves",
    "strength_sweep",
    "style",
    "thresholding_maps",
    "total_errors",
    "weight_animation",
    "weight_histograms",
    "weight_strip",
    "zero_fraction",
]
