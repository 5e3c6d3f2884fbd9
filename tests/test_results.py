"""One result type: a run in memory and the same run read back from its job files agree."""

import jax
import numpy as np
import pytest

from research import models
from research.engine import Experiment, train_and_evaluate
from research.engine.packing import Layout
from research.io import load_job, write_job
from research.results import flat_paths, nest

CONFIG = {"regularizer": {"name": "l1", "l1": [0.1, 0.3]}, "method": "proximal", "epochs": 3,
          "num_seeds": 2}  # fmt: skip


@pytest.fixture(scope="module")
def run():
    return train_and_evaluate(CONFIG)


def test_a_job_read_back_equals_the_run(run, tmp_path):
    write_job(tmp_path, run, overrides=["regularizer=l1"])
    job = load_job(tmp_path)
    for group in ("metrics", "history", "params", "strengths"):
        mine, theirs = getattr(run, group), getattr(job, group)
        assert mine.keys() == theirs.keys(), group
        for k in mine:
            np.testing.assert_array_equal(np.asarray(theirs[k]), mine[k], err_msg=f"{group}/{k}")
    assert (job.num_seeds, job.num_strengths) == (2, 2)
    assert job.info["status"] == "complete" and job.info["overrides"] == ["regularizer=l1"]
    np.testing.assert_array_equal(job.dataset().x_test, run.data.x_test)
    np.testing.assert_array_equal(job.predict(run.data.x_test, 1), run.predict(run.data.x_test, 1))


def test_params_tree_and_predict_agree_with_the_metrics(run):
    x, y = run.data.x_test, run.data.y_test
    for k in range(2):
        pred = run.predict(x, strength=k)
        assert pred.shape == (2, len(x), 1)
        np.testing.assert_allclose(
            np.abs(pred - y).sum(axis=(1, 2)), run.metrics["total_error"][:, k], rtol=1e-5
        )
    tree = run.params_tree(1, 0)
    np.testing.assert_array_equal(tree["layers"][2]["kernel"], run.params["layers/2/kernel"][1, 0])
    assert flat_paths(tree).keys() == run.params.keys()
    assert nest(flat_paths(tree)).keys() == tree.keys()
    graph = models.graphdef(run.config["model"], 1, 1)
    np.testing.assert_allclose(models.apply(graph, tree, x), run.predict(x)[1], rtol=1e-6)


def test_the_output_layout_is_known_before_the_program_is_traced():
    experiment = Experiment({**CONFIG, "record_step_loss": True})
    args = experiment.arguments()
    shapes = jax.eval_shape(experiment.program.run, *args)
    layout = Layout.of(shapes)
    out = experiment.program(*args)  # traces, compiles and runs
    assert tuple(out) == layout.names
    for name, leaf in flat_paths(shapes).items():
        assert out[name].shape == leaf.shape and out[name].dtype == leaf.dtype, name
    assert out["step_loss"].shape == (2, 2, 120)


class _Alarm(Exception):
    pass


def test_a_signal_handler_runs_while_the_host_waits_for_the_device():
    """The main thread waits for a long computation on an event that signals interrupt:
    the handler runs (and its exception propagates) while the result is still not ready."""
    import signal
    import threading

    from research.engine.packing import wait_interruptibly

    @jax.jit
    def slow(x):  # some seconds of matrix products on this machine's CPU
        return jax.lax.fori_loop(0, 400, lambda _, v: jax.numpy.tanh(v @ v.T) * 0.5, x)

    x = jax.numpy.ones((384, 384)) / 384
    jax.block_until_ready(slow(x[:2, :2]))  # compiled for another shape: not this run

    def alarm(*_):
        raise _Alarm

    previous = signal.signal(signal.SIGALRM, alarm)
    out = None
    try:
        out = slow(x)
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(_Alarm):
            wait_interruptibly(out)
        assert not out.is_ready()  # interrupted during the wait, not after it
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    wait_interruptibly(out)  # a second wait returns once it is done
    assert out.is_ready() and np.isfinite(np.asarray(out)).all()
    done = []  # outside the main thread the host copy itself waits
    thread = threading.Thread(target=lambda: done.append(wait_interruptibly(out)))
    thread.start()
    thread.join(timeout=5)
    assert done == [None]
