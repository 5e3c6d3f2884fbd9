"""The Python examples of the README and of the guides (blocks fenced as ```python) run as
written, each file's blocks in order in one namespace, and give what their text says."""

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", ROOT / "docs" / "index.md", *(ROOT / "docs" / "guides").glob("*.md")]
)


def _run(page: Path) -> dict:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    return namespace


def _readme(ns):
    # Three of ten features matter: the proximal step zeroes the other seven exactly.
    kernel = np.asarray(ns["params"]["kernel"])
    assert np.all(kernel[3:] == 0) and np.all(np.abs(kernel[:3]) > 0.5)
    np.testing.assert_allclose(kernel[:3], [1.5, -2.0, 1.0], atol=0.1)


def _index(ns):
    assert callable(ns["tx"].update)


def _transforms(ns):
    # The proximal run ends with exact zeros and a lower loss.
    kernel = np.asarray(ns["trained"]["hidden"]["kernel"])
    assert (kernel == 0).any()
    losses = np.asarray(ns["losses"])
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(ns["sweep"][0], 0.0)
    # Haiku- and Equinox-style params are selected by name.
    np.testing.assert_allclose(float(ns["haiku_penalty"]), 0.25, rtol=1e-6)
    before, after = ns["mlp"].layers, ns["sparse_mlp"].layers
    for old, new in zip(before, after, strict=True):  # soft-thresholded at 0.1, biases kept
        np.testing.assert_array_equal(np.asarray(new.weight) == 0, np.abs(old.weight) <= 0.1)
        np.testing.assert_array_equal(new.bias, old.bias)
    assert sum(int((np.asarray(layer.weight) == 0).sum()) for layer in after) > 0


def _keras(ns):
    # The model rebuilt from Keras trains: its loss falls, and MaxNorm holds after each step.
    keras_losses = ns["keras_losses"]
    assert keras_losses[-1] < 0.2 * keras_losses[0]
    kernel = np.asarray(ns["model"].layers[0].kernel[...])
    assert np.all(np.linalg.norm(kernel, axis=0) <= 2.0 + 1e-6)
    # The Keras model converted by research.port trains with research.port.fit.
    port_losses = ns["port_losses"]
    assert port_losses.shape == (3,) and port_losses[-1] < 0.5 * port_losses[0]
    # From Keras and back: the pruned export is smaller and predicts as the JAX model.
    small, reloaded, count = ns["small"], ns["reloaded"], ns["count"]
    assert count(reloaded) < 0.6 * count(ns["convnet"])
    widths = [layer.kernel.shape[-1] for layer in small.layers if hasattr(layer, "kernel")]
    assert widths[0] < 32 and widths[1] < 64 and widths[2] == 10, widths
    x_val = ns["x_val"]
    np.testing.assert_allclose(
        reloaded.predict(x_val, verbose=0), ns["sparse_convnet"](x_val), rtol=0, atol=1e-6
    )
    assert abs(ns["accuracy_keras"] - ns["accuracy_here"]) < 1e-9
    assert ns["accuracy_here"] > 0.85


CHECKS = {"README": _readme, "index": _index, "transforms": _transforms, "keras": _keras}
"""What each page's examples must give beyond running (their own asserts included)."""


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_python_examples_of_a_page_run(page):
    namespace = _run(page)
    CHECKS.get(page.stem, lambda ns: None)(namespace)


def test_every_page_with_examples_is_checked_and_the_checks_name_real_pages():
    with_code = {p.stem for p in PAGES if "```python" in p.read_text()}
    assert {"README", "index", "transforms", "keras", "paths", "seeds"} <= with_code
    assert set(CHECKS) <= with_code
