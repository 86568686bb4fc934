"""Crash-safe file replacement: write a temporary file beside the target, fsync it, then rename over.

A crash, a full disk or an exception half-way through a save leaves the previous file untouched and no
temporary file behind: the temporary file is removed on error, and one left by a process that was killed
(SIGKILL, a power cut), named ``.<target name>.<pid>-<random>.tmp``, is never read and is removed by the
next save of the same target once that process is gone.

A target that is a symbolic link is written through: the link stays, the file it points to is replaced.
"""

import contextlib
import os
import re
import tempfile

__all__ = ["atomic_path", "prepare_target", "remove_stale_temporaries"]


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


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else, or the platform cannot tell
        return True
    return True


def remove_stale_temporaries(path):
    """Delete the temporary files of earlier saves of ``path`` whose process no longer runs (killed in
    the middle of a save); returns their names. Temporaries of saves still running are left alone."""
    directory, name = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)-[^.]+\.tmp")
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))
                removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(filepath):
    """Yield a temporary path beside ``filepath`` (beside the file it points to, when it is a symbolic
    link); on success fsync it and rename it over that file, on any error delete it and re-raise
    (``filepath`` keeps its old content). Stale temporaries of killed saves of the same file go first."""
    path = os.path.realpath(os.fspath(filepath))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)  # a dangling link's target directory
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}-", suffix=".tmp",
                               dir=directory)
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
