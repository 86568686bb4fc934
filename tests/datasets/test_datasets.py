"""Tests for numbacnn.datasets: IDX and CIFAR parsing, lookup order, downloads, the real Fashion-MNIST."""

import gzip
import hashlib
import tarfile
from pathlib import Path

import numpy as np
import pytest

from numbacnn import datasets
from numbacnn.datasets import DatasetFormatError, DatasetNotFoundError, cifar10, fashion_mnist, mnist

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def assert_same(got, want):
    (x, y), (xt, yt) = got
    (wx, wy), (wxt, wyt) = want
    for a, b in ((x, wx), (y, wy), (xt, wxt), (yt, wyt)):
        assert a.dtype == np.uint8 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def entries(directory):
    directory = Path(directory)
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.exists() else []


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "code, array",
    [
        (0x08, np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)),
        (0x08, np.array([0, 9, 3, 255], np.uint8)),
        (0x09, np.array([[-128, 5], [127, -1]], np.int8)),
        (0x0B, np.array([-300, 2, 30000], np.int16)),
        (0x0C, np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 100000),
        (0x0D, np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)),
        (
            0x0E,
            np.array([np.pi, -np.e]),
        ),
    ],
)
def test_read_idx_round_trip(tmp_path, fmt, gz, code, array):
    path = fmt.write_idx(tmp_path / "a-idx", array, code=code, gz=gz)
    got = mnist.read_idx(path)
    assert got.dtype == array.dtype.newbyteorder("=") and got.dtype.isnative
    assert got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_read_idx_header_bytes_are_the_real_format(tmp_path, fmt):
    data = fmt.idx_bytes(np.zeros((7, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803000000070000001c0000001c")
    assert mnist.read_idx(fmt.write_idx(tmp_path / "f", np.zeros((7, 28, 28), np.uint8))).shape == (7, 28, 28)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("cut", [-10, -1, 3], ids=["short10", "short1", "long3"])
def test_read_idx_wrong_size_names_the_file(tmp_path, fmt, gz, cut):
    data = fmt.idx_bytes(np.ones((4, 28, 28), np.uint8))
    data = data[:cut] if cut < 0 else data + bytes(cut)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetFormatError, match=r"train-images-idx3-ubyte: IDX file of shape \(4, 28, 28\)"):
        mnist.read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path, fmt):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(fmt.idx_bytes(np.arange(1000, dtype=np.uint8)))[:-20])
    with pytest.raises(DatasetFormatError, match="labels.gz: damaged gzip"):
        mnist.read_idx(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not an IDX file"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file"),  # unknown type code
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),  # first bytes not zero
        (b"PK\x03\x04", "not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
    ],
)
def test_read_idx_bad_header(tmp_path, data, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(DatasetFormatError, match=f"bad-idx: {message}"):
        mnist.read_idx(path)


# ---------------------------------------------------------------- MNIST and Fashion-MNIST from disk


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("module", [mnist, fashion_mnist], ids=["mnist", "fashion_mnist"])
def test_idx_set_from_data_dir(tmp_path, fmt, module, gz):
    data = fmt.make_mnist_like(5, 3)
    fmt.write_mnist_idx(tmp_path / "mine", data, gz=gz)
    assert_same(module.load_data(data_dir=tmp_path / "mine", download=False), data)


def test_idx_set_mismatched_counts(tmp_path, fmt):
    (x, y), test = fmt.make_mnist_like(5, 3)
    fmt.write_mnist_idx(tmp_path / "mine", ((x, y[:4]), test))
    with pytest.raises(
        DatasetFormatError, match=r"train-labels-idx1-ubyte.gz: labels should be uint8 \(5,\)"
    ):
        fashion_mnist.load_data(data_dir=tmp_path / "mine")


def test_idx_set_label_out_of_range(tmp_path, fmt):
    (x, y), test = fmt.make_mnist_like(5, 3)
    y[2] = 10
    fmt.write_mnist_idx(tmp_path / "mine", ((x, y), test))
    with pytest.raises(DatasetFormatError, match="label 10 out of range 0..9"):
        mnist.load_data(data_dir=tmp_path / "mine")


def test_idx_set_wrong_image_size(tmp_path, fmt):
    data = fmt.make_mnist_like(2, 2)
    paths = fmt.write_mnist_idx(tmp_path / "mine", data)
    fmt.write_idx(paths[2], np.zeros((2, 32, 32), np.uint8), gz=True)
    with pytest.raises(DatasetFormatError, match=r"t10k-images-idx3-ubyte.gz.*\(2, 32, 32\)"):
        mnist.load_data(data_dir=tmp_path / "mine")


def test_mnist_npz_from_data_dir_and_absolute_path(tmp_path, fmt):
    data = fmt.make_mnist_like(4, 2)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mnist.npz").write_bytes(fmt.npz_bytes(data))
    assert_same(mnist.load_data(data_dir=tmp_path / "mine", download=False), data)
    (tmp_path / "other.npz").write_bytes(fmt.npz_bytes(data))
    assert_same(mnist.load_data(str(tmp_path / "other.npz"), download=False), data)


def test_mnist_npz_with_pickled_objects_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    arr = np.array([{"a": 1}], dtype=object)
    np.savez(tmp_path / "mine" / "mnist.npz", x_train=arr, y_train=arr, x_test=arr, y_test=arr)
    with pytest.raises(DatasetFormatError, match="mnist.npz: not a valid mnist.npz"):
        mnist.load_data(data_dir=tmp_path / "mine")


def test_not_found_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist.load_data(data_dir=tmp_path / "mine", download=False)
    text = str(info.value)
    for part in (
        *(f"{s}.gz" for s in mnist.IDX_FILES),
        str(tmp_path / "mine"),
        str(tmp_path / "xdg" / "numbacnn" / "datasets" / "fashion_mnist"),
        str(tmp_path / "no-debian"),
    ):
        assert part in text


# ---------------------------------------------------------------- lookup order


@pytest.fixture
def four_places(tmp_path, fmt, monkeypatch, server):
    """Fashion-MNIST with different sample counts in the named dir, $NUMBACNN_DATA, Debian, the server."""
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "debian")
    monkeypatch.setattr(fashion_mnist, "BASE_URL", server.url)
    hashes = {}
    for stem, arr in zip(mnist.IDX_FILES, (x for pair in fmt.make_mnist_like(4, 4) for x in pair)):
        body = gzip.compress(fmt.idx_bytes(arr))
        server.serve(f"{stem}.gz", body)
        hashes[f"{stem}.gz"] = sha(body)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    places = {
        "named": tmp_path / "named",
        "env": tmp_path / "env" / "fashion_mnist",
        "debian": tmp_path / "debian",
    }
    for n, key in enumerate(places):
        fmt.write_mnist_idx(places[key], fmt.make_mnist_like(n + 1, 1), gz=n % 2 == 0)
    return places


def n_train(result):
    return len(result[0][0])


def test_lookup_named_dir_first(four_places, server):
    assert n_train(fashion_mnist.load_data(data_dir=four_places["named"])) == 1
    assert server.requests == []


def test_lookup_env_dir_second(four_places, server):
    assert n_train(fashion_mnist.load_data()) == 2
    assert n_train(fashion_mnist.load_data(data_dir=four_places["named"] / "empty")) == 2
    assert server.requests == []


def test_lookup_debian_third(four_places, server):
    for p in four_places["env"].iterdir():
        p.unlink()
    assert n_train(fashion_mnist.load_data()) == 3
    assert server.requests == []


def test_lookup_download_last(four_places, server):
    for key in ("env", "debian"):
        for p in four_places[key].iterdir():
            p.unlink()
    assert n_train(fashion_mnist.load_data()) == 4
    assert sorted(server.requests) == sorted(f"/{s}.gz" for s in mnist.IDX_FILES)
    assert entries(four_places["env"]) == sorted(f"{s}.gz" for s in mnist.IDX_FILES)
    assert n_train(fashion_mnist.load_data()) == 4  # now from the cache
    assert len(server.requests) == 4


def test_xdg_cache_used_without_numbacnn_data(tmp_path, fmt):
    data = fmt.make_mnist_like(2, 1)
    fmt.write_mnist_idx(tmp_path / "xdg" / "numbacnn" / "datasets" / "mnist", data, gz=False)
    assert_same(mnist.load_data(download=False), data)


# ---------------------------------------------------------------- downloads through load_data


def test_mnist_download_success(tmp_path, fmt, server, monkeypatch, capsys):
    data = fmt.make_mnist_like(6, 2)
    body = fmt.npz_bytes(data)
    server.serve("mnist.npz", body)
    monkeypatch.setattr(mnist, "BASE_URL", server.url)
    monkeypatch.setattr(mnist, "FILE_HASHES", {"mnist.npz": sha(body)})
    assert_same(mnist.load_data(), data)
    cache = tmp_path / "xdg" / "numbacnn" / "datasets" / "mnist"
    assert entries(cache) == ["mnist.npz"]
    assert (cache / "mnist.npz").read_bytes() == body
    assert "Downloading mnist.npz" in capsys.readouterr().err


def test_mnist_download_checksum_mismatch(tmp_path, fmt, server, monkeypatch):
    server.serve("mnist.npz", fmt.npz_bytes(fmt.make_mnist_like(2, 1)))
    monkeypatch.setattr(mnist, "BASE_URL", server.url)
    with pytest.raises(DatasetNotFoundError, match="SHA-256 mismatch") as info:
        mnist.load_data()
    assert "mnist.npz" in str(info.value)
    assert entries(tmp_path / "xdg") in ([], ["numbacnn", "numbacnn/datasets", "numbacnn/datasets/mnist"])


def test_fashion_download_interrupted_leaves_nothing(tmp_path, fmt, server, monkeypatch):
    hashes = {}
    arrays = [x for pair in fmt.make_mnist_like(3, 2) for x in pair]
    for i, (stem, arr) in enumerate(zip(mnist.IDX_FILES, arrays)):
        body = gzip.compress(fmt.idx_bytes(arr))
        server.serve(f"{stem}.gz", body, claimed=len(body) + 100 if i == 2 else None)
        hashes[f"{stem}.gz"] = sha(body)
    monkeypatch.setattr(fashion_mnist, "BASE_URL", server.url)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte.gz failed: transfer interrupted"):
        fashion_mnist.load_data()
    cache = tmp_path / "xdg" / "numbacnn" / "datasets" / "fashion_mnist"
    assert entries(cache) == []


@pytest.mark.parametrize("module", [mnist, fashion_mnist, cifar10], ids=["mnist", "fashion_mnist", "cifar10"])
def test_offline_error_says_where_to_put_files(tmp_path, module):
    name = module.__name__.rsplit(".", 1)[1]
    with pytest.raises(DatasetNotFoundError) as info:
        module.load_data(data_dir=tmp_path / "mine")
    text = str(info.value)
    assert isinstance(info.value, OSError)
    assert "Connection refused (are you offline?)" in text
    assert str(tmp_path / "mine") in text and str(tmp_path / "xdg" / "numbacnn" / "datasets" / name) in text
    wanted = {
        mnist: ["mnist.npz", "train-images-idx3-ubyte"],
        fashion_mnist: ["t10k-labels-idx1-ubyte.gz"],
        cifar10: ["cifar-10-binary.tar.gz", "data_batch_5.bin", "test_batch.bin"],
    }[module]
    for w in wanted:
        assert w in text
    assert entries(tmp_path / "xdg" / "numbacnn" / "datasets" / name) == []


# ---------------------------------------------------------------- CIFAR-10


def test_cifar_read_batch_layout(tmp_path, fmt):
    raw, x, y = fmt.cifar_batch(3, seed=7)
    path = tmp_path / "b.bin"
    path.write_bytes(raw)
    gx, gy = cifar10.read_batch(path)
    assert gx.shape == (3, 32, 32, 3) and gx.dtype == np.uint8 and gx.flags.c_contiguous
    assert gy.shape == (3,) and gy.dtype == np.uint8
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    # record n: label byte, then the red plane, green plane, blue plane, each row-major 32x32
    n, h, w, c = 2, 5, 17, 1
    assert gx[n, h, w, c] == raw[n * 3073 + 1 + c * 1024 + h * 32 + w]
    assert gy[n] == raw[n * 3073]


@pytest.mark.parametrize("size", [0, 3073 * 2 - 1, 3073 + 5])
def test_cifar_truncated_batch(tmp_path, size):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(size))
    with pytest.raises(DatasetFormatError, match=r"data_batch_1.bin: \d+ bytes is not a whole number"):
        cifar10.read_batch(path)


def test_cifar_bad_label(tmp_path, fmt):
    raw = bytearray(fmt.cifar_batch(2, seed=0)[0])
    raw[3073] = 12
    (tmp_path / "b.bin").write_bytes(bytes(raw))
    with pytest.raises(DatasetFormatError, match="label 12 out of range"):
        cifar10.read_batch(tmp_path / "b.bin")


@pytest.mark.parametrize("subfolder", [True, False], ids=["batches-bin", "flat"])
def test_cifar_from_data_dir(tmp_path, fmt, subfolder):
    where = tmp_path / "mine" / ("cifar-10-batches-bin" if subfolder else "")
    want = fmt.write_cifar(where)
    got = cifar10.load_data(data_dir=tmp_path / "mine", download=False)
    assert got[0][0].shape == (9, 32, 32, 3) and got[0][1].shape == (9, 1)
    assert got[1][0].shape == (4, 32, 32, 3) and got[1][1].shape == (4, 1)
    assert_same(got, want)


def cifar_tarball(tmp_path, fmt):
    want = fmt.write_cifar(tmp_path / "src")
    members = [
        (f"cifar-10-batches-bin/{f}", (tmp_path / "src" / f).read_bytes())
        for f in (*cifar10.TRAIN_FILES, cifar10.TEST_FILE)
    ]
    return fmt.tar_bytes([("cifar-10-batches-bin/batches.meta.txt", b"airplane\n"), *members]), want


def test_cifar_download_and_unpack(tmp_path, fmt, server, monkeypatch):
    body, want = cifar_tarball(tmp_path, fmt)
    server.serve(cifar10.ARCHIVE, body)
    monkeypatch.setattr(cifar10, "BASE_URL", server.url)
    monkeypatch.setattr(cifar10, "FILE_HASHES", {cifar10.ARCHIVE: sha(body)})
    assert_same(cifar10.load_data(), want)
    cache = tmp_path / "xdg" / "numbacnn" / "datasets" / "cifar10"
    names = ["batches.meta.txt", *cifar10.TRAIN_FILES, cifar10.TEST_FILE]
    assert entries(cache) == sorted(["cifar-10-batches-bin", *(f"cifar-10-batches-bin/{n}" for n in names)])
    assert_same(cifar10.load_data(download=False), want)
    assert server.requests == [f"/{cifar10.ARCHIVE}"]


def test_cifar_user_tarball_is_checked_and_unpacked(tmp_path, fmt, monkeypatch):
    body, want = cifar_tarball(tmp_path, fmt)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / cifar10.ARCHIVE).write_bytes(body)
    with pytest.raises(DatasetFormatError, match="cifar-10-binary.tar.gz: SHA-256"):
        cifar10.load_data(data_dir=tmp_path / "mine", download=False)
    monkeypatch.setattr(cifar10, "FILE_HASHES", {cifar10.ARCHIVE: sha(body)})
    assert_same(cifar10.load_data(data_dir=tmp_path / "mine", download=False), want)
    assert (tmp_path / "mine" / cifar10.ARCHIVE).is_file()
    assert (
        tmp_path / "xdg" / "numbacnn" / "datasets" / "cifar10" / "cifar-10-batches-bin" / "test_batch.bin"
    ).is_file()


@pytest.mark.parametrize(
    "evil",
    [
        ("../evil", b"x"),
        ("{tmp}/evil-abs", b"x"),
        ("cifar-10-batches-bin/l", tarfile.SYMTYPE, "/etc"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_cifar_malicious_download_refused(tmp_path, fmt, server, monkeypatch, evil):
    evil = (evil[0].format(tmp=tmp_path), *evil[1:])
    body = fmt.tar_bytes([("cifar-10-batches-bin/test_batch.bin", fmt.cifar_batch(1, 0)[0]), evil])
    server.serve(cifar10.ARCHIVE, body)
    monkeypatch.setattr(cifar10, "BASE_URL", server.url)
    monkeypatch.setattr(cifar10, "FILE_HASHES", {cifar10.ARCHIVE: sha(body)})
    with pytest.raises(OSError, match="refusing"):
        cifar10.load_data()
    assert entries(tmp_path / "xdg" / "numbacnn" / "datasets" / "cifar10") == []
    assert not (tmp_path / "xdg" / "numbacnn" / "datasets" / "evil").exists()
    assert not (tmp_path / "evil-abs").exists()


# ---------------------------------------------------------------- public names


def test_class_names():
    assert len(mnist.CLASS_NAMES) == len(fashion_mnist.CLASS_NAMES) == len(cifar10.CLASS_NAMES) == 10
    assert fashion_mnist.CLASS_NAMES[0] == "T-shirt/top" and fashion_mnist.CLASS_NAMES[9] == "Ankle boot"
    assert cifar10.CLASS_NAMES[3] == "cat" and mnist.CLASS_NAMES[7] == "7"
    assert datasets.fashion_mnist is fashion_mnist and issubclass(datasets.DatasetNotFoundError, OSError)


# ---------------------------------------------------------------- the real data


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason="Debian package dataset-fashion-mnist not installed (/usr/share/datasets/fashion-mnist is absent)",
)
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", DEBIAN_FASHION)
    (x, y), (xt, yt) = fashion_mnist.load_data(download=False)
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    assert x.dtype == y.dtype == xt.dtype == yt.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yt, minlength=10), [1000] * 10)
    assert y[0] == 9 and yt[0] == 9  # both sets start with an ankle boot
    assert abs(x.mean() - 72.94) < 0.01  # the published mean intensity, 0.2860 * 255


def test_the_shipped_sample_loads_with_every_class():
    import pathlib

    from numbacnn.datasets import fashion_mnist

    sample = pathlib.Path(__file__).parents[2] / "data" / "fashion-mnist-sample"
    (x, y), (x_test, y_test) = fashion_mnist.load_data(data_dir=str(sample))
    assert x.shape == (600, 28, 28) and x.dtype == np.uint8
    assert x_test.shape == (200, 28, 28)
    assert np.bincount(y).tolist() == [60] * 10
    assert np.bincount(y_test).tolist() == [20] * 10
