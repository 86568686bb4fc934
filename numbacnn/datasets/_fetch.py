"""Where dataset files are looked for, and how they are downloaded, checked and unpacked.

Lookup order: a directory the caller names, then ``$NUMBACNN_DATA/<name>`` (or, when that variable is
unset, ``$XDG_CACHE_HOME/numbacnn/datasets/<name>``, default ``~/.cache/...``), then a system directory
(e.g. a Debian package's), and last a download into the cache directory. Downloads go to a temporary
file next to their destination, are checked against a SHA-256 digest, and are moved into place with
``os.replace`` only when every file of the set arrived intact.
"""

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath, PureWindowsPath

TIMEOUT = 30.0
"""Seconds a download may wait for the server before giving up."""

_CHUNK = 1 << 16


class DatasetNotFoundError(OSError):
    """A dataset's files are not on disk and could not be downloaded."""


class DatasetFormatError(ValueError):
    """A dataset file is truncated or not in the format it should be; the message names the file."""


def cache_dir(name):
    """The per-user directory that holds ``name``'s files: $NUMBACNN_DATA/<name> or the XDG cache."""
    root = os.environ.get("NUMBACNN_DATA")
    if root:
        return Path(root).expanduser() / name
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "numbacnn" / "datasets" / name


def search_dirs(name, data_dir=None, system_dir=None):
    """Directories to look in, in order: ``data_dir``, the cache directory, ``system_dir``."""
    dirs = [Path(data_dir).expanduser()] if data_dir is not None else []
    dirs.append(cache_dir(name))
    if system_dir is not None:
        dirs.append(Path(system_dir))
    return dirs


def not_found(name, dirs, wanted, reason=None):
    """The error that tells the user which files to put where."""
    lines = [f"The {name} dataset is not available" + (f": {reason}" if reason else ".")]
    lines.append("To use it offline, put these files:")
    lines += [f"    {w}" for w in wanted]
    lines.append("in one of these directories (searched in this order):")
    lines += [f"    {d}" for d in dirs]
    lines.append("or pass load_data(data_dir=...). The cache directory can be moved with $NUMBACNN_DATA.")
    return DatasetNotFoundError("\n".join(lines))


def sha256_of(path):
    """Hex SHA-256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _progress(label, done, total, stream):
    if total:
        filled = 30 * done // total
        bar = "#" * filled + "-" * (30 - filled)
        stream.write(f"\r{label} [{bar}] {100 * done // total:3d}% {done / 1e6:.1f}/{total / 1e6:.1f} MB")
    else:
        stream.write(f"\r{label} {done / 1e6:.1f} MB")
    stream.flush()


def _download_to(url, fd, sha256, label):
    """Stream ``url`` into the open file ``fd``; raise OSError on a short transfer or a digest mismatch."""
    h = hashlib.sha256()
    done = 0
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        _progress(label, 0, total, sys.stderr)
        try:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                h.update(block)
                done += len(block)
                _progress(label, done, total, sys.stderr)
        finally:
            sys.stderr.write("\n")
    if total is not None and done != total:
        raise OSError(f"transfer interrupted after {done} of {total} bytes")
    if h.hexdigest() != sha256:
        raise OSError(f"SHA-256 mismatch: expected {sha256}, got {h.hexdigest()}")


def _describe(err):
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        return f"{err.reason} (are you offline?)"
    return str(err) or type(err).__name__


def fetch(files, dest):
    """Download ``files``, a list of ``(url, filename, sha256)``, into the directory ``dest``, all or nothing.

    Each file goes to a temporary file in ``dest`` and is checked against its digest; only when all
    arrived intact are they renamed into place. On failure no file (temporary or final) is left behind.
    Returns the final paths. Raises OSError (urllib's, or one naming the URL) on failure.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    temps = []
    try:
        for url, filename, sha256 in files:
            fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest)
            temps.append(tmp)
            try:
                _download_to(url, fd, sha256, f"Downloading {filename}")
            except (OSError, http.client.HTTPException) as err:
                raise OSError(f"download of {url} failed: {_describe(err)}") from err
        for (_, filename, _), tmp in zip(files, temps):
            os.replace(tmp, dest / filename)
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return [dest / filename for _, filename, _ in files]


def _check_member(member, archive):
    name = member.name
    path = PureWindowsPath(name)  # splits on both '/' and '\\'
    if path.drive or path.root:
        raise OSError(f"{archive}: refusing member with an absolute path: {name!r}")
    if ".." in path.parts:
        raise OSError(f"{archive}: refusing member with '..' in its path: {name!r}")
    if member.issym() or member.islnk():
        raise OSError(f"{archive}: refusing link member {name!r} -> {member.linkname!r}")
    if not (member.isfile() or member.isdir()):
        raise OSError(f"{archive}: refusing member {name!r}: not a regular file or directory")


def safe_extract(archive, dest, subdir):
    """Extract the folder ``subdir`` of the tar ``archive`` into the directory ``dest``, safely.

    Every member is checked before anything is written: absolute paths, '..' components, links of any
    kind, device files and FIFOs are refused with OSError. The archive is unpacked into a temporary
    directory next to ``dest``; the entries of its ``subdir`` are then renamed into ``dest`` and the rest
    is deleted. On failure nothing is left. Returns ``dest``.
    """
    dest = Path(dest)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            _check_member(m, archive)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
        try:
            for m in members:
                target = tmp.joinpath(*PurePosixPath(m.name).parts)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            src = tmp / subdir
            if not src.is_dir():
                raise DatasetFormatError(f"{archive}: no folder {subdir!r} in the archive")
            dest.mkdir(exist_ok=True)
            for entry in src.iterdir():
                os.replace(entry, dest / entry.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
