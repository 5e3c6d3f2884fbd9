"""The documentation site: ``mkdocs build --strict`` (as ``make docs``) from the sources and a
small run of the figure pipeline, every public name on an API page, and the pages opened in a
real browser (Debian's headless Chromium) without console errors."""

import functools
import http.server
import importlib
import os
import shutil
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS_RUN = ROOT / "outputs" / "docs_run"  # make docs's pipeline run, shared with it
API = (
    *("regularizers", "optim", "constraints", "layers", "port", "lasso", "glm", "prune"),
    *("models", "data", "losses", "methods", "engine", "results", "io", "tables", "tracking"),
    *("config", "checks", "trees"),
)
"""The modules with an API page (``docs/api/<name>.md``)."""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built into a temporary directory; ``(path, seconds of the mkdocs build)``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "scripts/reproduce.py", "--quick", "--root", str(DOCS_RUN)],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=1800,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env={**env, "REGULAX_FIGURES": str(DOCS_RUN / "figures")},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out, time.perf_counter() - start


def _inventory(path: Path) -> set[str]:
    """The object names of a Sphinx inventory (``objects.inv``, which mkdocstrings writes)."""
    data = path.read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if line}


@pytest.mark.slow
def test_every_public_name_is_on_an_api_page(site):
    out, _ = site
    names = _inventory(out / "objects.inv")
    missing = []
    for module in API:
        assert (ROOT / "docs" / "api" / f"{module}.md").is_file(), module
        public = getattr(importlib.import_module(f"research.{module}"), "__all__", ())
        assert public, f"research.{module} has no __all__"
        missing += [f"research.{module}.{n}" for n in public]
    missing = [name for name in missing if name not in names]
    assert not missing, f"not on an API page: {missing}"
    # The top level has its page, and its names are there under their modules
    # (research.L1 is research.regularizers.L1).
    assert "research" in names and (ROOT / "docs" / "api" / "research.md").is_file()
    assert {"research.regularizers.L1", "research.optim.proximal", "research.glm.glm_path"} <= names
    documented = {name.rsplit(".", 1)[-1] for name in names}
    top = importlib.import_module("research").__all__
    assert not [n for n in top if n != "__version__" and n not in documented]


@pytest.mark.slow
def test_the_gallery_has_every_figure_of_the_pipeline_with_its_rerun_command(site):
    out, _ = site
    page = (out / "gallery" / "index.html").read_text()
    figures = sorted((DOCS_RUN / "figures").glob("fig*.png"))
    assert len(figures) >= 20
    for png in figures:
        assert f'src="{png.name}"' in page or f"/{png.name}" in page, png.name
        assert (out / "gallery" / png.name).stat().st_size > 5_000
    assert page.count("Rerun:") == len(figures)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, installed by ``scripts/chromium_local.sh`` as root when missing."""
    script = ROOT / "scripts" / "chromium_local.sh"
    if shutil.which("chromium") is None and os.geteuid() == 0:
        subprocess.run(["bash", script, "install"], check=False, timeout=1800)
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"no chromium; as root run: bash {script.relative_to(ROOT)} install")
    return path


@pytest.fixture(scope="module")
def served(site):
    """The site over HTTP on a free local port (the search runs in a web worker, which a
    file:// page cannot start)."""
    out, _ = site
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_pages_render_in_chromium_without_console_errors(served, chromium):
    from playwright.sync_api import sync_playwright

    pages = {"": "regulax", "api/regularizers/": "L1", "gallery/": "fig20_cross_validation"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for path, text in pages.items():
                page = browser.new_page()
                errors: list[str] = []

                def console(message, errors=errors):
                    if message.type == "error":
                        errors.append(message.text)

                page.on("console", console)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                response = page.goto(f"{served}/{path}", wait_until="networkidle")
                assert response is not None and response.status == 200, path
                assert text in page.inner_text("body"), (path, text)
                broken = page.evaluate(
                    "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                    ".map(i => i.src)"
                )
                assert not broken, (path, broken)
                assert not errors, (path, errors)
                page.close()
            # The search index is built and finds the transforms.
            index = browser.new_page()
            index.goto(f"{served}/search/search_index.json")
            assert "proximal" in index.inner_text("body")
        finally:
            browser.close()
