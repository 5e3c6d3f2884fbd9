"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

``on_files`` adds the gallery: ``gallery.md`` and the images of a run of the
figure pipeline (``scripts/reproduce.py --quick --root outputs/docs_run``, which
``make docs`` runs first; ``REGULAX_FIGURES`` names another figures directory).
The page is the pipeline's own index (``figures/README.md``: each figure with its
caption, its numbers and the commands that rerun it), so nothing in it is
written by hand and no image is committed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

FIGURES = Path("outputs/docs_run/figures")
"""The default figures directory, relative to the repository root."""


def figures_dir(config: Any) -> Path:
    """The figures directory: ``REGULAX_FIGURES``, else ``FIGURES`` beside ``mkdocs.yml``."""
    root = Path(config.config_file_path).parent
    return root / os.environ.get("REGULAX_FIGURES", FIGURES)


def gallery_page(index: str) -> str:
    """The gallery's Markdown from the pipeline's index: images under ``gallery/``."""
    body = index.split("\n", 1)[1] if index.startswith("# ") else index
    body = re.sub(r"!\[([^\]]*)\]\(([^)/]+\.(?:png|gif))\)", r"![\1](gallery/\2)", body)
    intro = (
        "# Gallery\n\nEvery figure of `make reproduce`, drawn when this site was built from "
        "a small run of the pipeline (`--quick` settings; `make reproduce` runs the full "
        "ones). What each figure reproduces: [Figures](guides/figures.md).\n"
    )
    return intro + body


def on_files(files: Files, config: Any) -> Files:
    figures = figures_dir(config)
    index = figures / "README.md"
    if not index.is_file():
        raise PluginError(
            f"gallery: {index} does not exist; run `make docs` (it runs "
            "`scripts/reproduce.py --quick --root outputs/docs_run` first) or set "
            "REGULAX_FIGURES to a figures directory of `research-figures`"
        )
    files.append(File.generated(config, "gallery.md", content=gallery_page(index.read_text())))
    for image in sorted([*figures.glob("*.png"), *figures.glob("*.gif")]):
        files.append(File.generated(config, f"gallery/{image.name}", abs_src_path=str(image)))
    return files
