"""Data-parallel training over MPI: ``mpiexec -n 2`` runs of ``mpi_worker.py`` against one process.

Skipped (with the reason) where mpi4py or an mpiexec is missing: ``pip install "numbacnn[mpi]"``. Every
subprocess is bounded by a timeout and waited on to its exit.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("mpi_worker.py")


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.is_file() else shutil.which("mpiexec")


try:
    import mpi4py  # noqa: F401
    _MISSING = None if _mpiexec() else "no mpiexec beside this Python or on PATH (pip install mpich)"
except ImportError:
    _MISSING = "mpi4py is not installed (pip install 'numbacnn[mpi]')"

needs_mpi = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["NUMBA_NUM_THREADS"] = "1"   # 2 ranks x 1 thread on the CI's 2 cores
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_NUM_TASKS"):
        env.pop(name, None)          # a test run under an MPI launcher still starts plain processes
    return env


def run_ranks(*args, ranks=2, timeout=600):
    command = [_mpiexec(), "-n", str(ranks)] if ranks else []
    return subprocess.run([*command, sys.executable, str(WORKER), *map(str, args)], capture_output=True,
                          text=True, env=_env(), timeout=timeout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same training in 2 ranks (``two``) and in one process (``one``), then the 2-rank checkpoint
    resumed in one process (in ``two``)."""
    two, one = tmp_path_factory.mktemp("two"), tmp_path_factory.mktemp("one")
    proc = run_ranks("train", two)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_ranks("train", one, ranks=0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_ranks("resume", two, ranks=0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return two, one


def load(folder, case, rank=0):
    data = np.load(folder / f"{case}-rank{rank}.npz")
    names = sorted((k for k in data.files if k.startswith("w")), key=lambda k: int(k[1:]))
    weights = [data[k] for k in names]
    return weights, data["loss"], data["acc"]


def assert_weights_close(a, b, rtol, atol):
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol, err_msg=f"weight {i}")


# The 2-rank gradient is the sum of two 8-row float32 sums, each scaled by 1/2; one process sums the 16
# rows in another order. The two differ by a few float32 ulp of the gradient (~1e-7 relative), and 4 SGD
# steps (lr 0.1, momentum 0.9) carry that into the weights (magnitudes 0.05-1): 1e-6 absolute is ten
# times the worst difference seen (6e-8), and a wrong share or a missed shard moves weights by >1e-3.
RTOL, ATOL = 1e-5, 1e-6


@needs_mpi
def test_two_ranks_equal_one_process_on_the_global_batch(runs):
    two, one = runs
    w2, loss2, acc2 = load(two, "plain")
    w1, loss1, acc1 = load(one, "plain")
    assert_weights_close(w2, w1, RTOL, ATOL)
    np.testing.assert_allclose(loss2, loss1, rtol=1e-6)    # the History's loss: averaged across ranks
    np.testing.assert_allclose(acc2, acc1, rtol=1e-6)
    assert_weights_close(load(two, "plain", rank=1)[0], w2, 0, 0)   # the ranks hold one model


@needs_mpi
def test_sync_batch_normalization_equals_one_process(runs):
    two, one = runs
    w2, loss2, _ = load(two, "syncbn")
    w1, loss1, _ = load(one, "syncbn")       # one process: plain BatchNormalization
    assert_weights_close(w2, w1, RTOL, ATOL)  # gamma, beta and the moving statistics too
    np.testing.assert_allclose(loss2, loss1, rtol=1e-6)


@needs_mpi
def test_batch_normalization_is_per_replica_but_ranks_agree(runs):
    two, one = runs
    rank0, rank1, single = load(two, "bn")[0], load(two, "bn", rank=1)[0], load(one, "bn")[0]
    assert_weights_close(rank0, rank1, 0, 0)
    # each replica normalises its 8 rows with their own statistics (Keras's default): not one process's
    assert max(np.abs(a - b).max() for a, b in zip(rank0, single)) > 1e-4


@needs_mpi
def test_an_uneven_last_batch_is_weighted_by_its_shards(runs):
    two, one = runs        # 60 samples: the last global batch of 12 is 6 + 6, with Adam
    assert_weights_close(load(two, "epoch1")[0], load(one, "epoch1")[0], RTOL, ATOL)


@needs_mpi
def test_a_checkpoint_of_two_ranks_resumes_in_one_process(runs):
    two, _ = runs
    assert (two / "epoch1.keras").is_file()
    resumed, loss_resumed, _ = load(two, "resumed")
    straight, loss_straight, _ = load(two, "twoepochs")
    assert_weights_close(resumed, straight, 1e-5, 1e-6)      # Adam's state came with the checkpoint
    np.testing.assert_allclose(loss_resumed[0], loss_straight[1], rtol=1e-6)


@needs_mpi
def test_two_ranks_on_cuda_equal_one_process_on_the_cpu(runs, tmp_path):
    """Under Numba's CUDA simulator here (NUMBA_ENABLE_CUDASIM=1, as tests/conftest.py sets; on a GPU
    machine run with NUMBA_ENABLE_CUDASIM=0): gradients and SyncBatchNormalization's sums cross through
    host memory."""
    _, one = runs
    proc = run_ranks("cuda", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w2, loss2, _ = load(tmp_path, "cuda")
    assert_weights_close(w2, load(one, "syncbn")[0], RTOL, ATOL)
    assert_weights_close(load(tmp_path, "cuda", rank=1)[0], w2, 0, 0)
    np.testing.assert_allclose(loss2, load(one, "syncbn")[1], rtol=1e-6)


def _exited(pid):
    """The process has exited (a zombie, whose parent is gone before reaping it, counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def _gone(pid, within=5.0):
    """Whether ``pid`` has exited, or does within ``within`` seconds of mpiexec's own exit (the launcher
    returns as it signals its ranks; they are not our children, so their exit is polled, not waited)."""
    deadline = time.monotonic() + within
    while not _exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _failing_run(tmp_path, how):
    proc = run_ranks("fail", tmp_path, how, timeout=300)
    ended = time.time()
    failed_at = float((tmp_path / "failing-at").read_text())
    pids = [int((tmp_path / f"pid-{r}").read_text()) for r in (0, 1)]
    return proc, ended - failed_at, pids


@needs_mpi
def test_a_rank_that_raises_stops_every_rank_with_its_message(tmp_path):
    proc, seconds, pids = _failing_run(tmp_path, "raise")
    assert proc.returncode != 0
    assert seconds < 30, seconds
    assert "rank 1 failed: RuntimeError: the test's rank 1 gives up" in proc.stderr, proc.stderr
    assert all(_gone(pid) for pid in pids), [open(f"/proc/{p}/stat").read() for p in pids if not _exited(p)]


@needs_mpi
def test_a_killed_rank_stops_every_rank(tmp_path):
    proc, seconds, pids = _failing_run(tmp_path, "kill")
    assert proc.returncode != 0
    assert seconds < 30, seconds
    assert "signal 9" in proc.stdout + proc.stderr or "Killed" in proc.stdout + proc.stderr
    assert all(_gone(pid) for pid in pids), [open(f"/proc/{p}/stat").read() for p in pids if not _exited(p)]


# ----- without MPI processes ----------------------------------------------------------------------------
class _Fake:
    """shard_bounds without a communicator."""

    def __init__(self, rank, size):
        self.rank, self.num_processes = rank, size


def test_shards_cover_a_batch_once_in_order():
    from numbacnn.distribution.data_parallel import DataParallel

    for n in (0, 1, 5, 16, 33):
        for size in (1, 2, 3, 8):
            bounds = [DataParallel.shard_bounds(_Fake(r, size), n) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_buckets_keep_order_and_size():
    from numbacnn.distribution.data_parallel import _buckets

    arrays = [np.zeros(n, np.float32) for n in (3, 4, 10, 1, 2)]
    buckets = list(_buckets(arrays, 7))
    assert [[a.size for a in b] for b in buckets] == [[3, 4], [10], [1, 2]]


def test_set_distribution_takes_a_data_parallel_or_none():
    from numbacnn import distribution

    with pytest.raises(TypeError, match="DataParallel"):
        distribution.set_distribution("mirrored")
    distribution.set_distribution(None)
    assert distribution.distribution() is None and distribution.is_writer()


def test_launcher_size_comes_from_its_environment(monkeypatch):
    from numbacnn.distribution import launched_world_size

    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(name, raising=False)
    assert launched_world_size() == 1
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    assert launched_world_size() == 4
    monkeypatch.setenv("PMI_SIZE", "2")
    assert launched_world_size() == 2


def test_cli_processes_option_is_removed_for_the_ranks():
    from numbacnn import cli

    argv = ["train", "--processes", "2", "--epochs", "1", "--processes=3", "--seed", "1"]
    assert cli._without_processes(argv) == ["train", "--epochs", "1", "--seed", "1"]


def test_cli_processes_without_mpiexec_says_how_to_get_it(monkeypatch):
    from numbacnn import cli

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(cli.sys, "executable", "/nonexistent/bin/python")
    with pytest.raises(cli.UsageError, match=r"numbacnn\[mpi\]"):
        cli.launch_processes(["train"], 2)


@needs_mpi
def test_cli_trains_on_two_processes_and_rank_0_alone_prints_and_saves(tmp_path):
    env = _env()
    env.pop("NUMBA_NUM_THREADS")    # --processes gives each rank its share of the cores
    proc = subprocess.run([sys.executable, "-m", "numbacnn", "train", "--data-dir",
                           str(ROOT / "data" / "fashion-mnist-sample"), "--no-download", "--limit", "32",
                           "--epochs", "1", "--batch-size", "16", "--seed", "0", "--verbose", "2",
                           "--save", "w.h5", "--processes", "2"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("saved weights to w.h5") == 1
    assert proc.stdout.count("Total params") == 1 and proc.stdout.count("test accuracy:") == 1
    assert (tmp_path / "w.h5").is_file()
