"""numbacnn.warmup and ``python -m numbacnn warmup``: a cold Numba cache is seen, filled, and then needs no
compilation in a new process. The cache is a temporary ``NUMBA_CACHE_DIR`` and the model a tiny Dense one,
so that the cold run compiles few kernels."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from numbacnn import cli, warmup

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY = textwrap.dedent("""
    import json, sys
    import numbacnn as keras
    from numbacnn import cli, warmup
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")], name="tiny")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    cold = warmup.is_cold(model)
    cli.compile_notice(model)
    messages = []
    compiled = warmup.compile_for(model, progress=lambda message, done, total: messages.append(message))
    unchanged = all((a == b).all() for a, b in zip(before, model.get_weights()))
    print(json.dumps({"cold": cold, "compiled": compiled, "messages": messages[:3],
                      "cold_after": warmup.is_cold(model), "weights_unchanged": bool(unchanged)}))
""")


def _run(code, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=REPO + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)


def test_cold_cache_is_seen_filled_and_then_warm(tmp_path):
    first = _run(TINY, tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0] == "compiling kernels for tiny (first run only)..."
    got = json.loads(lines[-1])
    assert got["cold"] and not got["cold_after"]
    assert got["compiled"] > 0
    assert got["weights_unchanged"]  # the twin trained, not the model
    assert re.fullmatch(r"compiling \w+ kernels 1(/\d+)?", got["messages"][0]), got["messages"]

    second = _run(TINY, tmp_path)  # a new process: everything comes from the on-disk cache
    assert second.returncode == 0, second.stderr
    lines = second.stdout.strip().splitlines()
    assert len(lines) == 1  # no notice
    got = json.loads(lines[0])
    assert not got["cold"] and got["compiled"] == 0 and got["messages"] == []


def test_warmup_command_rejects_an_unknown_model(capsys):
    assert cli.main(["warmup", "--model", "no_such_model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numbacnn warmup: error: unknown model 'no_such_model'")


def test_warmup_command_parses_models_and_jobs():
    args = cli.build_parser().parse_args(["warmup", "--model", "lenet5", "cifar_cnn", "--jobs", "2"])
    assert args.model == ["lenet5", "cifar_cnn"] and args.jobs == 2 and args.func is cli.cmd_warmup
    args = cli.build_parser().parse_args(["warmup"])
    assert args.model == ["fashion_cnn"] and args.jobs is None  # one compile worker per core


@pytest.mark.parametrize("verbose", [0])
def test_compile_notice_is_silent_with_verbose_0(capsys, verbose):
    cli.compile_notice(object(), verbose)
    assert capsys.readouterr().out == ""


def test_kernel_families_and_modules_of_a_conv_model():
    import numbacnn as keras
    from numbacnn.kernels.cpu import conv_direct, losses

    assert warmup.kernel_family(losses.sparse_softmax_cross_entropy) == "losses"
    assert any(warmup.kernel_family(getattr(conv_direct, s)) == "conv" for s in dir(conv_direct))
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3), keras.layers.MaxPooling2D(),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    modules = warmup._kernel_modules(model)
    assert {"conv", "pooling", "dense", "losses", "optimizers"} <= set(modules)
    assert all(modules.values())


def test_warmup_command_in_parallel_workers_then_all_cached(tmp_path):
    """``numbacnn warmup --model A.json B.json --jobs 2``: each model's kernels compiled by two worker
    processes into the same cache; run again, nothing is compiled."""
    import numbacnn as keras

    paths = []
    for i, hidden in enumerate((None, 5)):
        layers = [keras.Input((4,))] + ([keras.layers.Dense(hidden, activation="relu")] if hidden else [])
        model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")], name=f"m{i}")
        paths.append(tmp_path / f"m{i}.json")
        paths[-1].write_text(model.to_json())
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=REPO + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    argv = [sys.executable, "-m", "numbacnn", "warmup", "--model", *map(str, paths), "--jobs", "2"]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith(f"filling the Numba cache ({cache}) for ")
    assert [line.split(":")[0] for line in lines[1:]] == [str(p) for p in paths]
    assert "compiled" in lines[1] and "kernel specialisations" in lines[1]
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stderr
    assert all("all kernels were cached already" in line for line in again.stdout.strip().splitlines()[1:])
