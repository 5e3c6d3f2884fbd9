"""Every figure of the three source documents, redrawn from real runs.

The source documents are the Keras tutorial (figures 11-13), the Stats.SE
answer (figures 1-4) and the blog post (figures 5-10 and 14); figures 15-19
go beyond them (``beyond``: a Lasso path and the L1 loss; ``nonconvex``: MCP,
SCAD, L0 and others against L1). One module per document draws its figures, one function per
figure; ``reference`` holds the numbers the documents report, ``sweeps``
runs and reads the sweeps of ``configs/sweep/``, and ``pipeline.build`` runs
the sweeps and draws every figure (``research-figures``, ``make reproduce``).
"""

from research.paper.output import Figure
from research.paper.pipeline import build

__all__ = ["Figure", "build"]
