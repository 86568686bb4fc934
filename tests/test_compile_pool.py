"""numbacnn.compile_pool: a cold first step's kernels compiled by worker processes into Numba's cache.

The end-to-end checks run in subprocesses with an empty ``NUMBA_CACHE_DIR`` of their own and a Dense-only
model (few, small kernels): with two compile workers the first steps give the same weights, bit for bit,
as compiling everything in the process (dropout included: the twin draws no random numbers from the run),
the workers did compile, and a second process compiles nothing."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit, types

from numbacnn import compile_pool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STEP = textwrap.dedent("""
    import json, os
    import numpy as np
    from numba.core import event
    import numbacnn as keras
    from numbacnn import compile_pool, warmup
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((8, 5), dtype=np.float32)
    y = rng.integers(0, 3, 8)
    ahead = 0
    if os.environ.get("AHEAD"):
        ahead = warmup.compile_ahead(model, x, y)  # returns at once; the workers compile meanwhile
        compile_pool.wait_idle()
    with event.install_recorder("numba:compile") as rec:
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)
    compile_pool.wait_idle()
    here = sum(1 for _, e in rec.buffer if e.is_start)
    later = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])  # default names count on alike
    print(json.dumps({"weights": [w.tolist() for w in model.get_weights()], "here": here, "ahead": ahead,
                      "names": [model.name, later.name], "next_random": float(keras.backend.rng().random()),
                      "workers": [k for k, _ in compile_pool.history]}))
""")


def _run(cache, jobs, ahead=False):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBACNN_COMPILE_JOBS=str(jobs),
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), AHEAD="1" if ahead else "")
    out = subprocess.run([sys.executable, "-c", STEP], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_workers_compile_the_first_step_with_the_same_result(tmp_path):
    pooled = _run(tmp_path / "pooled", 2)
    alone = _run(tmp_path / "alone", 1)
    assert pooled["workers"], "the workers compiled nothing"
    assert all(k.startswith("numbacnn.kernels.") for k in pooled["workers"])
    assert alone["workers"] == [] and alone["here"] > pooled["here"]
    for a, b in zip(pooled["weights"], alone["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))  # the same machine code, the same bits
    # the twin that found the kernels drew no random numbers and took no names from the model's run
    assert pooled["names"] == alone["names"] and pooled["next_random"] == alone["next_random"]
    again = _run(tmp_path / "pooled", 2)  # the workers' kernels are in the cache: nothing to compile
    assert again["here"] == 0 and again["workers"] == []
    np.testing.assert_array_equal(np.array(again["weights"][0]), np.array(pooled["weights"][0]))


def test_compile_ahead_leaves_the_first_step_little_to_compile(tmp_path):
    alone = _run(tmp_path / "alone", 1)
    ahead = _run(tmp_path / "ahead", 2, ahead=True)
    assert ahead["ahead"] > 0 and len(ahead["workers"]) == ahead["ahead"]
    assert ahead["here"] < alone["here"] / 2, (ahead["here"], alone["here"])
    for a, b in zip(ahead["weights"], alone["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))


@njit
def _double(a, out):
    for i in range(a.shape[0]):
        out[i] = 2 * a[i]


def test_discover_records_kernels_to_compile_and_runs_none_of_them():
    a = np.arange(4.0)
    out = np.full(4, -1.0)
    with compile_pool.discover() as found:
        assert _double(a, out) == 0.0  # a no-op stands in for the kernel
        _double(a, out)
        _double(a.astype(np.float32), out)
    assert np.all(out == -1.0)
    assert [(d, args) for d, args in found] == [
        (_double, (types.Array(types.float64, 1, "C"), types.Array(types.float64, 1, "C"))),
        (_double, (types.Array(types.float32, 1, "C"), types.Array(types.float64, 1, "C")))]
    _double(a, out)  # outside the block: compiled and run as usual
    np.testing.assert_array_equal(out, 2 * a)
    with compile_pool.discover() as found:  # compiled now: it runs, and nothing is recorded
        _double(a + 1, out)
    assert found == [] and np.all(out == 2 * (a + 1))


def test_a_failing_job_or_worker_leaves_the_kernel_to_this_process():
    from numbacnn.kernels.cpu import dense

    kernel = dense._add_bias_rows
    wrong = (types.unicode_type,)  # no such specialisation can be typed: the worker answers with the error
    pool = compile_pool.CompilePool(1)
    try:
        assert pool.workers == 1
        futures = pool.submit([(kernel, wrong)])
        assert list(futures) == [(kernel, wrong)]
        error = futures[(kernel, wrong)].exception(timeout=600)
        assert "Signature mismatch" in str(error), error  # the worker's own error, passed on
        assert (id(kernel), wrong) not in compile_pool._pending  # done: a later compile goes ahead here
        pool._procs[0].kill()  # a dead worker fails what is queued for it
        pool._procs[0].wait()
        other = (types.unicode_type, types.unicode_type)
        futures = pool.submit([(kernel, other)])
        assert futures[(kernel, other)].exception(timeout=60) is not None
        assert pool.workers == 0
        assert pool.submit([(kernel, wrong)])[(kernel, wrong)].exception(timeout=1) is not None
    finally:
        pool.close()
    assert not any(k[0] == id(kernel) for k in compile_pool._pending)


@pytest.mark.parametrize("value, expected", [("3", 3), ("0", 0), (" 1 ", 1)])
def test_default_jobs_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("NUMBACNN_COMPILE_JOBS", value)
    assert compile_pool.default_jobs() == expected


def test_default_jobs_refuses_a_word(monkeypatch):
    monkeypatch.setenv("NUMBACNN_COMPILE_JOBS", "many")
    with pytest.raises(ValueError, match="NUMBACNN_COMPILE_JOBS must be a whole number, received 'many'"):
        compile_pool.default_jobs()


@njit
def _make(n):
    return np.arange(n) * 2


@njit
def _argmax_into(x, out):
    out[0] = np.argmax(x)


def test_discover_runs_a_kernel_whose_result_is_needed_and_zeroes_int_outputs_of_no_ops():
    """A kernel that returns its output is compiled and run (the dry run goes on with a real array); a
    replaced one leaves zeros in the integer arrays it was given (indices a later kernel may read)."""
    index = np.full(3, 99, np.int64)
    values = np.full(3, 7.0)
    with compile_pool.discover() as found:
        made = _make(4)
        _argmax_into(values, index)
    assert made.tolist() == [0, 2, 4, 6]
    assert index.tolist() == [0, 0, 0] and values.tolist() == [7.0, 7.0, 7.0]
    assert [d for d, _ in found] == [_make, _argmax_into]
    assert compile_pool._returns_value(_make) and not compile_pool._returns_value(_argmax_into)
