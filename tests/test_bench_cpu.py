"""benchmarks/bench_cpu.py: its ratio and table helpers, and one quick numbacnn-only run in a subprocess."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_cpu.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_cpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ratios_to_each_peer_and_to_the_faster(bench):
    each, faster = bench.ratios(100.0, {"torch": 50.0, "tf": 200.0})
    assert each == {"torch": 2.0, "tf": 0.5}
    assert faster == 0.5


def test_ratios_skip_a_missing_peer(bench):
    each, faster = bench.ratios(100.0, {"torch": 80.0, "tf": None})
    assert each == {"torch": 1.25, "tf": None}
    assert faster == 1.25
    assert bench.ratios(100.0, {}) == ({}, None)


def test_markdown_table_pads_and_aligns(bench):
    table = bench.markdown_table(["model", "images/s"], [["lenet5", "1,234"], ["cifar_cnn", "9"]])
    assert table.splitlines() == ["| model     | images/s |",
                                  "|-----------|---------:|",
                                  "| lenet5    |    1,234 |",
                                  "| cifar_cnn |        9 |"]


def test_quick_run_numbacnn_only_leaves_out_a_missing_peer(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, SCRIPT, "--quick", "--rows", "lenet5:32", "--peers", "tf", "--tf-python",
         str(tmp_path / "no-python"), "--no-start", "--seconds", "0.2", "--warmup", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Keras/TF left out" in run.stdout
    assert "| lenet5 |    32 |" in run.stdout
    got = json.loads(out.read_text())
    assert got["peers"] == []
    (row,) = got["rows"]
    assert (row["model"], row["batch"]) == ("lenet5", 32)
    assert set(row) == {"model", "batch", "numbacnn"}
    assert row["numbacnn"]["params"] == 61706
    assert row["numbacnn"]["train"] > 0 and row["numbacnn"]["infer"] > 0
    assert row["numbacnn"]["peak_kib"] > 10_000
