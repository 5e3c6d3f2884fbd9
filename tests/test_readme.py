"""The README's Python examples (blocks fenced as ```python) run as written."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The proximal run of the README ends with exact zeros and a lower loss.
    kernel = np.asarray(namespace["trained"]["hidden"]["kernel"])
    assert (kernel == 0).any()
    losses = np.asarray(namespace["losses"])
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(namespace["sweep"][0], 0.0)
    # Haiku- and Equinox-style params are selected by name.
    np.testing.assert_allclose(float(namespace["haiku_penalty"]), 0.25, rtol=1e-6)
    before, after = namespace["mlp"].layers, namespace["sparse_mlp"].layers
    for old, new in zip(before, after, strict=True):  # soft-thresholded at 0.1, biases kept
        np.testing.assert_array_equal(np.asarray(new.weight) == 0, np.abs(old.weight) <= 0.1)
        np.testing.assert_array_equal(new.bias, old.bias)
    assert sum(int((np.asarray(layer.weight) == 0).sum()) for layer in after) > 0
    # The model rebuilt from Keras trains: its loss falls, and MaxNorm holds after each step.
    keras_losses = namespace["keras_losses"]
    assert keras_losses[-1] < 0.2 * keras_losses[0]
    kernel = np.asarray(namespace["model"].layers[0].kernel[...])
    assert np.all(np.linalg.norm(kernel, axis=0) <= 2.0 + 1e-6)
    # The Keras model converted by research.port trains with research.port.fit.
    port_losses = namespace["port_losses"]
    assert port_losses.shape == (3,) and port_losses[-1] < 0.5 * port_losses[0]
    # From Keras and back: the pruned export is smaller and predicts as the JAX model.
    small, reloaded = namespace["small"], namespace["reloaded"]
    count = namespace["count"]
    assert count(reloaded) < 0.6 * count(namespace["convnet"])
    widths = [layer.kernel.shape[-1] for layer in small.layers if hasattr(layer, "kernel")]
    assert widths[0] < 32 and widths[1] < 64 and widths[2] == 10, widths
    x_val = namespace["x_val"]
    np.testing.assert_allclose(
        reloaded.predict(x_val, verbose=0), namespace["sparse_convnet"](x_val), rtol=0, atol=1e-6
    )
    assert abs(namespace["accuracy_keras"] - namespace["accuracy_here"]) < 1e-9
    assert namespace["accuracy_here"] > 0.85
