"""Fixtures for the dataset tests: an isolated cache, files in the real formats, a local HTTP server.

The writers below are handed to the tests through the ``fmt`` fixture (conftest modules are not imported
by name, since tests/conftest.py has the same module name).
"""

import gzip
import io
import socket
import struct
import tarfile
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from numbacnn.datasets import _fetch, cifar10, fashion_mnist, mnist


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads the real cache, the Debian directory or the network unless it asks to."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NUMBACNN_DATA", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-debian")
    url = closed_port_url()
    for module in (mnist, fashion_mnist, cifar10):
        monkeypatch.setattr(module, "BASE_URL", url)
    monkeypatch.setattr(_fetch, "TIMEOUT", 5.0)


def idx_bytes(array, code=0x08):
    """``array`` in the IDX format: magic (0, 0, type code, ndim), big-endian int32 dims, big-endian data."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array, dtypes[code]).tobytes()


def write_idx(path, array, code=0x08, gz=False):
    data = idx_bytes(array, code)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_mnist_like(n_train=5, n_test=3, seed=0):
    """Random ``((x_train, y_train), (x_test, y_test))`` shaped like MNIST with few samples."""
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
        for n in (n_train, n_test)
    ]


def write_mnist_idx(directory, data, gz=True):
    """The four IDX files of ``data`` in ``directory``, named as in ``mnist.IDX_FILES``."""
    directory.mkdir(parents=True, exist_ok=True)
    (x, y), (xt, yt) = data
    suffix = ".gz" if gz else ""
    return [
        write_idx(directory / f"{stem}{suffix}", arr, gz=gz)
        for stem, arr in zip(mnist.IDX_FILES, (x, y, xt, yt))
    ]


def npz_bytes(data):
    (x, y), (xt, yt) = data
    buf = io.BytesIO()
    np.savez(buf, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return buf.getvalue()


def cifar_batch(n, seed):
    """A binary CIFAR batch of ``n`` records: (bytes, x (n,32,32,3) expected, y (n,) expected)."""
    rng = np.random.default_rng(seed)
    chw = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8)
    records = np.concatenate([y[:, None], chw.reshape(n, -1)], axis=1)
    return records.tobytes(), chw.transpose(0, 2, 3, 1), y


def write_cifar(directory, sizes=(2, 1, 3, 1, 2, 4)):
    """Six tiny batches (data_batch_1..5, test_batch) in ``directory``; returns the expected arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i, (name, n) in enumerate(zip((*cifar10.TRAIN_FILES, cifar10.TEST_FILE), sizes)):
        raw, x, y = cifar_batch(n, seed=i)
        (directory / name).write_bytes(raw)
        xs.append(x)
        ys.append(y)
    train = np.concatenate(xs[:5]), np.concatenate(ys[:5]).reshape(-1, 1)
    return train, (xs[5], ys[5].reshape(-1, 1))


def tar_bytes(entries):
    """A .tar.gz of ``entries``: (name, bytes) for files, or (name, TarInfo-type, linkname) for others."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if len(entry) == 2:
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
            else:
                info.type, info.linkname = entry[1], entry[2]
                tar.addfile(info)
    return buf.getvalue()


@pytest.fixture
def fmt():
    """The file writers of this module: IDX, mnist.npz, CIFAR batches, tarballs."""
    names = (
        "closed_port_url",
        "idx_bytes",
        "write_idx",
        "make_mnist_like",
        "write_mnist_idx",
        "npz_bytes",
        "cifar_batch",
        "write_cifar",
        "tar_bytes",
    )
    return types.SimpleNamespace(**{n: globals()[n] for n in names})


class _Handler(BaseHTTPRequestHandler):
    timeout = 5

    def do_GET(self):
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, claimed = route
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if claimed is None else claimed))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 serving ``routes`` (path -> (body, claimed Content-Length or None))."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.requests = []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def serve(self, name, body, claimed=None):
        self.httpd.routes["/" + name] = (body, claimed)

    @property
    def requests(self):
        return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()
    assert not srv.thread.is_alive()
