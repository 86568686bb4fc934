"""Fault injection (issue 23): what a hostile or careless user can do to files, saves and training runs.

* crafted HDF5 weights files: external storage, soft / external links, virtual datasets, text where
  numbers belong, huge declared shapes in small files; a failed load assigns nothing and names the file,
  the layer and both shapes or types;
* crafted data set files (IDX, gzip bombs, .npz, partial sets) and image bombs (PNG);
* saves: SIGKILL at seeded random points leaves the old or the new file loadable and no temporary file
  behind (the next save removes a killed save's temporary); saving through a symbolic link;
* training: SIGINT at seeded random points of ``fit`` leaves the weights and optimizer state of a finished
  batch; ``python -m numbacnn train --save`` interrupted never replaces the file and exits 130.

The subprocess cases are seeded and few, and wait on events (a line the child prints, a file it
writes), not on sleeps: the module runs in well under a minute on a busy 2-core machine.
"""

import gzip
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from numbacnn import cli
from numbacnn import layers as L
from numbacnn.datasets import DatasetFormatError, DatasetNotFoundError, cifar10, fashion_mnist, mnist
from numbacnn.models import Sequential, load_model
from numbacnn.saving import SaveFileError
from numbacnn.saving.atomic import atomic_path

ROOT = Path(__file__).resolve().parents[1]


def small_model(seed=0):
    model = Sequential([L.Input((4,)), L.Dense(3, name="hidden"), L.Dense(2, name="out")])
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    return model


def weights_of(model):
    return [w.numpy().copy() for w in model.weights]


def assert_unchanged(model, before):
    for w, old in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), old)


def rewrite(path, dataset_path, **create):
    """Replace one dataset of an HDF5 file by ``create_dataset(**create)`` (or a link, with ``link=``)."""
    with h5py.File(path, "a") as f:
        del f[dataset_path]
        link = create.pop("link", None)
        if link is not None:
            f[dataset_path] = link
        else:
            f.create_dataset(dataset_path, **create)


KERAS3_BIAS = "layers/dense_1/vars/1"
KERAS2_BIAS = "out/out/bias:0"


@pytest.fixture(params=["model.weights.h5", "model.h5"])
def saved(request, tmp_path):
    """(path, the path of the last layer's bias inside it) of a saved small model, in either layout."""
    path = tmp_path / request.param
    small_model(seed=1).save_weights(path)
    return path, KERAS3_BIAS if request.param.endswith(".weights.h5") else KERAS2_BIAS


# ----- crafted HDF5 weights files -----------------------------------------------------------------------
def test_external_storage_is_refused_and_never_read(saved, tmp_path):
    path, bias = saved
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(2, 7.0, "float32").tobytes())
    rewrite(path, bias, shape=(2,), dtype="float32", external=[(str(secret), 0, 8)])
    model = small_model()
    before = weights_of(model)
    with pytest.raises(SaveFileError, match=r"external storage in .*secret\.bin") as err:
        model.load_weights(path)
    assert str(err.value).startswith(str(path)) and 'layer "out"' in str(err.value)
    assert_unchanged(model, before)


@pytest.mark.parametrize("kind", ["soft", "external"])
def test_links_are_refused(saved, tmp_path, kind):
    path, bias = saved
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("b", data=np.full(2, 7.0, "float32"))
    first_bias = bias.replace("dense_1", "dense").replace("out/out", "hidden/hidden")
    with h5py.File(path, "a") as f:
        f.create_dataset("elsewhere", data=np.full(2, 7.0, "float32"))
    link = h5py.SoftLink("/elsewhere") if kind == "soft" else h5py.ExternalLink(str(other), "/b")
    rewrite(path, bias, link=link)
    model = small_model()
    before = weights_of(model)
    with pytest.raises(SaveFileError, match=f"{'SoftLink' if kind == 'soft' else 'ExternalLink'}"):
        model.load_weights(path)
    assert_unchanged(model, before)
    assert first_bias  # the other weights of the file are fine: nothing was assigned anyway


def test_virtual_dataset_is_refused(saved, tmp_path):
    path, bias = saved
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f.create_dataset("b", data=np.full(2, 7.0, "float32"))
    layout = h5py.VirtualLayout(shape=(2,), dtype="float32")
    layout[:] = h5py.VirtualSource(str(source), "b", shape=(2,))
    with h5py.File(path, "a") as f:
        del f[bias]
        f.create_virtual_dataset(bias, layout)
    model = small_model()
    before = weights_of(model)
    with pytest.raises(SaveFileError, match="virtual dataset"):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_text_bias_assigns_nothing_and_names_file_layer_and_types(saved):
    path, bias = saved
    rewrite(path, bias, data=np.array([b"ab", b"cd"]))
    model = small_model()
    before = weights_of(model)
    with pytest.raises(SaveFileError) as err:
        model.load_weights(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert 'layer "out" (Dense)' in message and "'bias'" in message
    assert "|S2" in message and "float32" in message
    assert_unchanged(model, before)  # the 5 weights before the bad one are untouched too


def test_huge_declared_shape_is_refused_before_reading(saved):
    path, bias = saved
    rewrite(path, bias, shape=(15000, 25000), dtype="float32", chunks=(1000, 1000), compression="gzip")
    assert path.stat().st_size < 100_000
    model = small_model()
    before = weights_of(model)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(SaveFileError, match=r"shape \(15000, 25000\) in the file, the model expects \(2,\)"):
        model.load_weights(path)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6 and elapsed < 5
    assert_unchanged(model, before)


@pytest.mark.parametrize("where", ["layers/dense_1/vars", "layers/dense_1", "layers"])
def test_a_dataset_where_the_layout_has_a_group_is_never_iterated(tmp_path, where):
    path = tmp_path / "model.weights.h5"
    small_model(seed=1).save_weights(path)
    rewrite(path, where, shape=(15000, 25000), dtype="float32", chunks=(1000, 1000), compression="gzip")
    model = small_model()
    before = weights_of(model)
    tracemalloc.start()
    with pytest.raises(SaveFileError, match=str(path)):
        model.load_weights(path)
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()
    assert_unchanged(model, before)


def test_dataset_past_the_end_of_a_truncated_file(tmp_path):
    path = tmp_path / "model.h5"
    model = Sequential([L.Input((400,)), L.Dense(300, name="big")])
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        kernel = f["big/big/kernel:0"]
        end = kernel.id.get_offset() + kernel.nbytes
    with open(path, "r+b") as fh:
        fh.truncate(end - 1000)
    with pytest.raises(SaveFileError, match=str(path)):
        model.load_weights(path)


def test_load_model_checks_datasets_too(tmp_path):
    path = tmp_path / "whole.h5"
    model = small_model()
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))
    model.save(path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(8))
    rewrite(path, "model_weights/out/out/bias:0", shape=(2,), dtype="float32",
            external=[(str(secret), 0, 8)])
    with pytest.raises(SaveFileError, match="external storage"):
        load_model(path)


def test_optimizer_state_with_a_huge_declared_shape_is_not_read(tmp_path):
    path = tmp_path / "model.weights.h5"
    model = small_model()
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))
    model.save_weights(path)
    rewrite(path, "optimizer/vars/2", shape=(15000, 25000), dtype="float32", chunks=(1000, 1000),
            compression="gzip")
    tracemalloc.start()
    with pytest.warns(UserWarning, match=r"optimizer state was not loaded: .*\(15000, 25000\)"):
        model.load_weights(path)
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


# ----- crafted data set files ---------------------------------------------------------------------------
def idx_bytes(array, code=0x08):
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_idx_gzip_bomb_is_refused_before_allocating(tmp_path):
    # a 1 MB-ish gzip whose header declares 2.3 GB: refused from the header and the file size alone
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 3_000_000, 28, 28)
    path.write_bytes(gzip.compress(header + bytes(1 << 20)))
    tracemalloc.start()
    with pytest.raises(DatasetFormatError, match="more than a gzip file of"):
        mnist.read_idx(path)
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


def test_idx_gzip_stream_longer_than_declared_is_never_inflated_past_it(tmp_path):
    # declares 1 image, holds 60 MB of zeros: inflation stops one byte past the declared size
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((1, 28, 28), np.uint8)) + bytes(60 << 20)))
    tracemalloc.start()
    with pytest.raises(DatasetFormatError, match="after its data"):
        mnist.read_idx(path)
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


def test_idx_plain_file_declaring_more_than_it_holds(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 15000, 25000, 28) + bytes(100))
    tracemalloc.start()
    with pytest.raises(DatasetFormatError, match=r"should be \d+ bytes, found 116"):
        mnist.read_idx(path)
    assert tracemalloc.get_traced_memory()[1] < 1e6
    tracemalloc.stop()


def test_idx_set_headers_checked_against_each_other_before_reading(tmp_path):
    stems = mnist.IDX_FILES
    arrays = [np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8), np.zeros((2, 28, 28), np.uint8),
              np.zeros(5, np.uint8)]
    for stem, array in zip(stems, arrays):
        (tmp_path / stem).write_bytes(idx_bytes(array))
    with pytest.raises(DatasetFormatError, match=r"labels should be uint8 \(2,\), the header declares"):
        fashion_mnist.load_data(data_dir=tmp_path, download=False)


def test_npz_bomb_is_refused_before_allocating(tmp_path):
    import zipfile

    path = tmp_path / "mnist.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2000000, 28, 28), }"
        header = header.ljust(118) + "\n"
        with zf.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
            member.write(bytes(1 << 20))
    tracemalloc.start()
    with pytest.raises(DatasetFormatError, match="mnist.npz: not a valid mnist.npz .*x_train"):
        mnist.load_data(data_dir=tmp_path, download=False)
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


@pytest.mark.parametrize("module", [fashion_mnist, mnist])
def test_data_dir_missing_one_file_does_not_fall_back(tmp_path, module, monkeypatch):
    # a complete copy in the cache must not silently complete a partial set in the named directory
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path / "cache"))
    arrays = [np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8)] * 2
    cache = tmp_path / "cache" / module.__name__.rsplit(".", 1)[1]
    for d in (cache, tmp_path / "mine"):
        d.mkdir(parents=True)
        for stem, array in zip(mnist.IDX_FILES, arrays):
            (d / stem).write_bytes(idx_bytes(array))
    (tmp_path / "mine" / mnist.IDX_FILES[2]).unlink()
    with pytest.raises(DatasetNotFoundError, match=f"only part of the data set.*not {mnist.IDX_FILES[2]}"):
        module.load_data(data_dir=tmp_path / "mine", download=False)


def test_cifar_data_dir_missing_one_batch_does_not_fall_back(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path / "cache"))
    record = bytes(1 + 3 * 32 * 32)
    for d in (tmp_path / "cache" / "cifar10" / cifar10.BATCH_DIR, tmp_path / "mine"):
        d.mkdir(parents=True)
        for name in (*cifar10.TRAIN_FILES, cifar10.TEST_FILE):
            (d / name).write_bytes(record)
    (tmp_path / "mine" / cifar10.TRAIN_FILES[3]).unlink()
    with pytest.raises(DatasetNotFoundError, match="only part of CIFAR-10.*not data_batch_4.bin"):
        cifar10.load_data(data_dir=tmp_path / "mine", download=False)


def test_cli_data_dir_missing_one_file_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path / "cache"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / mnist.IDX_FILES[0]).write_bytes(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    code = cli.main(["train", "--epochs", "0", "--data-dir", str(tmp_path / "mine"), "--no-download"])
    assert code == 1
    assert "only part of the data set" in capsys.readouterr().err


# ----- image bombs ----------------------------------------------------------------------------------------
def png(width, height, data, color=0, ihdr=None):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = ihdr if ihdr is not None else struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_png_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png(100_000, 100_000, zlib.compress(bytes(1 << 20), 9)))
    tracemalloc.start()
    with pytest.raises(ValueError, match=str(path)):
        cli.load_inputs([path], (None, 28, 28, 1))
    assert tracemalloc.get_traced_memory()[1] < 50e6
    tracemalloc.stop()


def test_png_stream_longer_than_declared_is_not_inflated(tmp_path):
    path = tmp_path / "long.png"
    path.write_bytes(png(2, 2, zlib.compress(bytes(60 << 20), 9)))
    tracemalloc.start()
    with pytest.raises(ValueError, match=str(path)):
        cli.load_inputs([path], (None, 28, 28, 1))
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


@pytest.mark.parametrize("case", ["zero", "short"])
def test_png_bad_headers_name_the_file(tmp_path, case):
    path = tmp_path / f"{case}.png"
    if case == "zero":
        path.write_bytes(png(0, 0, zlib.compress(b"")))
    else:
        path.write_bytes(png(0, 0, zlib.compress(b"\0"), ihdr=struct.pack(">II", 1, 1)))
    with pytest.raises(ValueError, match=str(path)):
        cli.load_inputs([path], (None, 28, 28, 1))


# ----- saves ------------------------------------------------------------------------------------------------
def test_saving_through_a_symlink_writes_the_target(tmp_path):
    target = tmp_path / "store" / "real.weights.h5"
    target.parent.mkdir()
    link = tmp_path / "model.weights.h5"
    link.symlink_to(target)
    small_model(seed=1).save_weights(link)
    assert link.is_symlink() and target.is_file()
    model = small_model()
    model.load_weights(target)
    assert_unchanged(model, weights_of(small_model(seed=1)))
    small_model(seed=2).save_weights(link)  # replacing: still a link, the target has the new weights
    assert link.is_symlink()
    model.load_weights(target)
    assert_unchanged(model, weights_of(small_model(seed=2)))
    assert sorted(os.listdir(target.parent)) == ["real.weights.h5"]


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_save_s_temporary_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "model.h5"
    small_model().save_weights(path)
    stale = tmp_path / f".model.h5.{dead_pid()}-abcd1234.tmp"
    stale.write_bytes(bytes(1000))
    live = tmp_path / f".model.h5.{os.getppid()}-abcd1234.tmp"  # a save still running elsewhere
    live.write_bytes(bytes(10))
    other = tmp_path / f".other.h5.{dead_pid()}-abcd1234.tmp"  # another file's: not ours to remove
    other.write_bytes(bytes(10))
    small_model().save_weights(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["model.h5", live.name, other.name])


def test_atomic_path_temporary_names_carry_the_pid(tmp_path):
    with atomic_path(tmp_path / "x.h5") as tmp:
        assert Path(tmp).name.startswith(f".x.h5.{os.getpid()}-")
        Path(tmp).write_bytes(b"x")
    assert os.listdir(tmp_path) == ["x.h5"]


# ----- SIGKILL at random points of a save ---------------------------------------------------------------
@pytest.mark.parametrize("filename", ["model.weights.h5", "model.h5", "whole.h5"])
def test_sigkill_at_random_points_of_saves(tmp_path, filename):
    """A forked child saves two known models in turn, over and over; it is killed at a seeded random
    moment, 6 times. The file is always one of the two, whole; the next save leaves no temporary."""
    rng = random.Random(f"sigkill-{filename}")
    path = tmp_path / filename
    def build():
        return Sequential([L.Input((40,)), L.Dense(300, name="hidden"), L.Dense(3, name="out")])

    versions = [build() for _ in range(2)]
    for seed, model in enumerate(versions):
        for w in model.weights:
            w.assign(np.random.default_rng(seed).normal(size=w.shape).astype("float32"))
    expected = [weights_of(model) for model in versions]

    def save(model):
        if filename == "whole.h5":
            model.save(path)
        else:
            model.save_weights(path)

    save(versions[0])
    killed = []
    for _ in range(6):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: save forever, saying when it has started
            try:
                os.close(read_end)
                os.write(write_end, b"r")
                i = 0
                while True:
                    save(versions[i % 2])
                    i += 1
            finally:
                os._exit(1)
        os.close(write_end)
        assert os.read(read_end, 1) == b"r"
        os.close(read_end)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        killed.append(pid)
        if filename == "whole.h5":
            loaded = load_model(path)
        else:
            loaded = build()
            loaded.load_weights(path)
        got = weights_of(loaded)
        assert any(all(np.array_equal(a, b) for a, b in zip(got, want)) for want in expected)
        leftovers = [n for n in os.listdir(tmp_path) if n != filename]  # only killed saves' temporaries
        assert all(any(n.startswith(f".{filename}.{p}-") for p in killed) for n in leftovers), leftovers
    save(versions[1])  # removes what the killed children left
    assert os.listdir(tmp_path) == [filename]


# ----- SIGINT at random points of fit -------------------------------------------------------------------
def child_env(**extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


FIT_CHILD = textwrap.dedent('''
    import sys
    import numpy as np
    from numbacnn import callbacks, utils
    from numbacnn import layers as L
    from numbacnn.models import Sequential

    def build():
        utils.set_random_seed(3)
        model = Sequential([L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    def state(model):
        return [w.numpy() for w in model.weights] + [np.asarray(v) for v in model.optimizer.get_state()]

    class Ready(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not getattr(self, "said", False):
                self.said = True
                print("ready", flush=True)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    for run in range(int(sys.argv[1])):
        model = build()
        try:
            model.fit(x, y, batch_size=4, epochs=10000, verbose=0, callbacks=[Ready()])
            outcome = "returned"
        except KeyboardInterrupt:
            outcome = "raised"
        steps = model.optimizer.iterations
        replay = build()  # exactly `steps` batches, stepped by hand: bit-identical or torn
        trainer = replay.make_trainer(x, y, batch_size=4, epochs=10000, verbose=0)
        for _ in range(steps):
            trainer.step()
        same = all(np.array_equal(a, b) for a, b in zip(state(model), state(replay)))
        print(outcome, steps, "same" if same else "DIFFERENT", flush=True)
''')


def test_sigint_at_random_points_of_fit_leaves_a_finished_batch(tmp_path):
    rng = random.Random("sigint-fit")
    runs = 4
    child = subprocess.Popen([sys.executable, "-c", FIT_CHILD, str(runs)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path)
    try:
        for _ in range(runs):
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.2))
            child.send_signal(signal.SIGINT)
            outcome, steps, same = child.stdout.readline().split()
            assert (outcome, same) == ("returned", "same"), child.stderr.read()
            assert int(steps) >= 1
        assert child.wait(timeout=120) == 0
    finally:
        child.kill()
        child.wait()


SECOND_CTRL_C_NEEDS_THE_LEAD = (
    "the optimizer step in models/training.py's _train_step must run inside numbacnn.models.interrupt."
    "critical(), and fit must use interrupt.InterruptFlag (or interrupt.run) instead of _InterruptFlag")


@pytest.mark.xfail(strict=True, reason=SECOND_CTRL_C_NEEDS_THE_LEAD)
@pytest.mark.parametrize("loop", ["fit", "interrupt.run"])
def test_second_ctrl_c_during_an_optimizer_step_does_not_tear_it(loop):
    """Two quick Ctrl-Cs: the second lands while the optimizer steps the weights (after the first of
    four). The step must reach all of them or none, and the KeyboardInterrupt still comes."""
    from numbacnn import callbacks, utils
    from numbacnn.models import interrupt

    utils.set_random_seed(0)
    model = Sequential([L.Input((6,)), L.Dense(8), L.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(32, 6)).astype("float32"), np.arange(32) % 3
    update = model.optimizer._update
    seen = {}

    def first_ctrl_c(batch, logs):
        if batch == 2:
            seen["before"] = weights_of(model)
            os.kill(os.getpid(), signal.SIGINT)

    def update_then_second_ctrl_c(w, g, slots, lr):
        update(w, g, slots, lr)
        if "before" in seen and "second" not in seen:
            seen["second"] = True
            os.kill(os.getpid(), signal.SIGINT)

    model.optimizer._update = update_then_second_ctrl_c
    hook = callbacks.LambdaCallback(on_train_batch_begin=first_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        if loop == "fit":
            model.fit(x, y, batch_size=4, epochs=100, verbose=0, callbacks=[hook])
        else:
            interrupt.run(model.make_trainer(x, y, batch_size=4, epochs=100, verbose=0, callbacks=[hook]))
    changed = [not np.array_equal(a, b) for a, b in zip(weights_of(model), seen["before"])]
    assert all(changed) or not any(changed), f"stepped: {changed}"


def test_critical_holds_a_second_ctrl_c_until_it_ends():
    """What the fix above relies on: inside interrupt.critical() a second Ctrl-C waits for the block."""
    from numbacnn.models import interrupt

    done = []
    with pytest.raises(KeyboardInterrupt), interrupt.InterruptFlag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.raised
        with interrupt.critical():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("rest of the step")
        done.append("after the block")
    assert done == ["rest of the step"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ----- the command line, interrupted ----------------------------------------------------------------------
def test_cli_train_interrupted_never_replaces_the_saved_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in zip(mnist.IDX_FILES, (64, 64, 16, 16)):
        shape = (n, 28, 28) if "images" in stem else (n,)
        (data / stem).write_bytes(idx_bytes(rng.integers(0, 10 if len(shape) == 1 else 255, shape,
                                                          dtype=np.uint8)))
    model = Sequential([L.Input((28, 28, 1)), L.Flatten(), L.Dense(10, activation="softmax")])
    (tmp_path / "tiny.json").write_text(model.to_json())
    good = tmp_path / "w.h5"
    model.save_weights(good)
    before = good.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-m", "numbacnn", "train", "--model", "tiny.json", "--dataset", "mnist",
         "--data-dir",
         str(data), "--no-download", "--epochs", "100000", "--batch-size", "16", "--verbose", "2",
         "--save", "w.h5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        cwd=tmp_path)
    try:
        for line in child.stdout:
            if line.startswith("Epoch 2/"):  # an epoch has finished: training is under way
                break
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130, err
    assert "training interrupted at epoch" in err and "w.h5 was not replaced" in err
    assert "w.interrupted.h5" in err and "test accuracy" not in out
    assert good.read_bytes() == before
    model.load_weights(tmp_path / "w.interrupted.h5")


# ----- results that do not depend on the thread count ---------------------------------------------------
THREADS_CHILD = textwrap.dedent('''
    import sys
    import numpy as np
    from numbacnn import layers as L
    from numbacnn import utils
    from numbacnn.models import Sequential

    utils.set_random_seed(7)
    model = Sequential([
        L.Input((16, 16, 1)),
        L.Conv2D(16, 3, activation="relu"),   # weight gradient: the column matrix, a long reduction
        L.Conv2D(8, 3, activation="relu"),    # few filters: direct loops, per-part float64 sums
        L.Conv2D(24, 1),                      # pointwise: one product over N*H*W
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 16, 16, 1), dtype=np.float32), rng.integers(0, 10, 64)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    np.savez(sys.argv[1], *[w.numpy() for w in model.weights])
''')


def test_weights_after_training_do_not_depend_on_the_thread_count(tmp_path):
    results = []
    for threads in (1, 2):
        out = tmp_path / f"threads{threads}.npz"
        proc = subprocess.run([sys.executable, "-c", THREADS_CHILD, str(out)], capture_output=True, text=True,
                              env=child_env(NUMBA_NUM_THREADS=str(threads)), cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stderr
        with np.load(out) as f:
            results.append([f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# ----- careless arguments -----------------------------------------------------------------------------------
BATCH_SIZE_NEEDS_THE_LEAD = (
    "models/training.py (the lead's) must check batch_size in predict and evaluate as Trainer does: "
    "predict's `int(batch_size or 32)` turns 0 into 32 and evaluate's `batch_size or 32` lets -1 through")


def needs_the_lead(*values):
    return pytest.param(*values, marks=pytest.mark.xfail(strict=True, reason=BATCH_SIZE_NEEDS_THE_LEAD))


@pytest.mark.parametrize("call, batch_size", [needs_the_lead("predict", 0), ("predict", -1),
                                              needs_the_lead("evaluate", 0), needs_the_lead("evaluate", -1)])
def test_predict_and_evaluate_refuse_a_batch_size_below_one(call, batch_size):
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 4), "float32"), np.ones((4, 2), "float32")
    args = (x,) if call == "predict" else (x, y)
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, received {batch_size}"):
        getattr(model, call)(*args, batch_size=batch_size, verbose=0)


def test_reduction_parts_setting():
    from numbacnn.kernels.cpu import blas

    assert blas.parts_setting(None) == blas.parts_setting(" ") == 8
    assert blas.parts_setting("16") == 16
    for bad in ("0", "-2", "threads"):
        with pytest.raises(ValueError, match="NUMBACNN_REDUCTION_PARTS must be a positive integer"):
            blas.parts_setting(bad)
    assert blas.reduction_parts(3) == min(3, blas.REDUCTION_PARTS) and blas.reduction_parts(0) == 1


def test_a_split_reduction_matches_numpy_whatever_the_number_of_parts(monkeypatch):
    from numbacnn.kernels.cpu import blas

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4096, 12)).astype("float32"), rng.normal(size=(4096, 40)).astype("float32")
    want = a.T.astype(np.float64) @ b
    for parts in (1, 3, 8):
        monkeypatch.setattr(blas, "REDUCTION_PARTS", parts)
        np.testing.assert_allclose(blas.gemm(a.T, b), want, rtol=1e-4, atol=1e-3)
