"""Crash-safe file replacement: write a temporary file beside the target, fsync it, then rename over.

A crash, a full disk or an exception half-way through a save leaves the previous file untouched and no
temporary file behind (the temporary file is removed on error; a power cut can leave one, named
``.<target name>.<random>.tmp``, which is never read).
"""

import contextlib
import os
import tempfile

__all__ = ["atomic_path", "prepare_target"]


def prepare_target(filepath, overwrite=True):
    """The target as a string; its directory is created if missing (as Keras's HDF5 save does).

    Raises FileExistsError when ``overwrite`` is False and the file exists, IsADirectoryError when the
    target is a directory.
    """
    path = os.fspath(filepath)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path!r}: it is a directory; give a file path")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False; pass overwrite=True to replace it")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return path


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some platforms cannot open directories; the rename is still atomic
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _final_mode(path):
    """The permissions a plain ``open(path, "w")`` would give: the old file's, else 0o666 less the umask
    (mkstemp's temporary file is 0o600, which would make every saved model private)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(filepath):
    """Yield a temporary path in ``filepath``'s directory; on success fsync it and rename it over
    ``filepath``, on any error delete it and re-raise (``filepath`` keeps its old content)."""
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        _fsync_path(tmp)
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_path(directory, directory=True)
