"""Tests for numbacnn/datasets/_fetch.py: cache location, downloads from a local server, safe extraction."""

import hashlib
import tarfile
from pathlib import Path

import pytest

from numbacnn.datasets import _fetch


def sha(data):
    return hashlib.sha256(data).hexdigest()


def listing(directory):
    """Every entry under ``directory``, hidden ones included, relative to it."""
    directory = Path(directory)
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.exists() else []


# ---------------------------------------------------------------- where files are looked for


def test_cache_dir_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert _fetch.cache_dir("mnist") == tmp_path / "c" / "numbacnn" / "datasets" / "mnist"


def test_cache_dir_defaults_to_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _fetch.cache_dir("cifar10") == tmp_path / ".cache" / "numbacnn" / "datasets" / "cifar10"


def test_cache_dir_ignores_relative_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _fetch.cache_dir("mnist") == tmp_path / ".cache" / "numbacnn" / "datasets" / "mnist"


def test_numbacnn_data_overrides_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path / "d"))
    assert _fetch.cache_dir("mnist") == tmp_path / "d" / "mnist"


def test_search_dirs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACNN_DATA", str(tmp_path / "env"))
    dirs = _fetch.search_dirs("x", tmp_path / "mine", "/usr/share/datasets/x")
    assert dirs == [tmp_path / "mine", tmp_path / "env" / "x", Path("/usr/share/datasets/x")]
    assert _fetch.search_dirs("x") == [tmp_path / "env" / "x"]


# ---------------------------------------------------------------- downloads


def test_fetch_success_lands_verified_file(server, tmp_path, capsys):
    body = bytes(range(256)) * 1000
    server.serve("a.bin", body)
    dest = tmp_path / "cache" / "sub"
    (path,) = _fetch.fetch([(server.url + "a.bin", "a.bin", sha(body))], dest)
    assert path == dest / "a.bin"
    assert path.read_bytes() == body
    assert listing(dest) == ["a.bin"]
    assert "100%" in capsys.readouterr().err


def test_fetch_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.serve("a.bin", b"payload")
    dest = tmp_path / "cache"
    with pytest.raises(OSError, match=r"a\.bin failed: SHA-256 mismatch"):
        _fetch.fetch([(server.url + "a.bin", "a.bin", sha(b"other"))], dest)
    assert listing(dest) == []


def test_fetch_interrupted_transfer_leaves_nothing(server, tmp_path):
    body = b"x" * 5000
    server.serve("a.bin", body, claimed=len(body) * 3)
    dest = tmp_path / "cache"
    with pytest.raises(OSError, match="a.bin failed"):
        _fetch.fetch([(server.url + "a.bin", "a.bin", sha(body))], dest)
    assert listing(dest) == []


def test_fetch_is_all_or_nothing(server, tmp_path):
    server.serve("good.bin", b"good")
    server.serve("bad.bin", b"bad")
    files = [
        (server.url + "good.bin", "good.bin", sha(b"good")),
        (server.url + "bad.bin", "bad.bin", sha(b"x")),
    ]
    with pytest.raises(OSError, match="bad.bin"):
        _fetch.fetch(files, tmp_path / "cache")
    assert server.requests == ["/good.bin", "/bad.bin"]
    assert listing(tmp_path / "cache") == []


def test_fetch_http_error(server, tmp_path):
    with pytest.raises(OSError, match="missing.bin failed: HTTP Error 404"):
        _fetch.fetch([(server.url + "missing.bin", "missing.bin", sha(b""))], tmp_path / "cache")
    assert listing(tmp_path / "cache") == []


def test_fetch_server_down(tmp_path, fmt):
    url = fmt.closed_port_url()
    with pytest.raises(OSError, match=r"a\.bin failed: .*refused.*offline"):
        _fetch.fetch([(url + "a.bin", "a.bin", sha(b""))], tmp_path / "cache")
    assert listing(tmp_path / "cache") == []


def test_not_found_message_names_files_and_dirs(tmp_path):
    err = _fetch.not_found("demo", [tmp_path / "a", tmp_path / "b"], ["f1.gz", "f2.gz"], "offline")
    assert isinstance(err, OSError)
    text = str(err)
    for part in (
        "demo",
        "offline",
        "f1.gz",
        "f2.gz",
        str(tmp_path / "a"),
        str(tmp_path / "b"),
        "NUMBACNN_DATA",
    ):
        assert part in text
    assert text.index(str(tmp_path / "a")) < text.index(str(tmp_path / "b"))


# ---------------------------------------------------------------- safe extraction


def test_safe_extract_moves_the_subfolder(tmp_path, fmt):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(
        fmt.tar_bytes(
            [
                ("top/", tarfile.DIRTYPE, ""),
                ("top/one.bin", b"1"),
                ("top/two.bin", b"22"),
                ("readme.txt", b"other"),
            ]
        )
    )
    dest = tmp_path / "cache" / "top"
    assert _fetch.safe_extract(archive, dest, "top") == dest
    assert listing(tmp_path / "cache") == ["top", "top/one.bin", "top/two.bin"]
    assert (dest / "two.bin").read_bytes() == b"22"


def test_safe_extract_missing_subfolder(tmp_path, fmt):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(fmt.tar_bytes([("elsewhere/one.bin", b"1")]))
    with pytest.raises(_fetch.DatasetFormatError, match="no folder 'top'"):
        _fetch.safe_extract(archive, tmp_path / "cache" / "top", "top")
    assert listing(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "bad, message",
    [
        (("../evil", b"x"), "'..'"),
        (("top/../../evil", b"x"), "'..'"),
        (("{tmp}/evil", b"x"), "absolute path"),
        (("top/link", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (("top/link", tarfile.SYMTYPE, "../../outside"), "link"),
        (("top/hard", tarfile.LNKTYPE, "/etc/passwd"), "link"),
        (("top/dev", tarfile.CHRTYPE, ""), "not a regular file"),
        (("top/fifo", tarfile.FIFOTYPE, ""), "not a regular file"),
    ],
)
def test_safe_extract_refuses_malicious_members(tmp_path, fmt, bad, message):
    archive = tmp_path / "a.tar.gz"
    bad = (bad[0].format(tmp=tmp_path), *bad[1:])
    archive.write_bytes(fmt.tar_bytes([("top/ok.bin", b"ok"), bad]))
    work = tmp_path / "work"
    with pytest.raises(OSError, match=message):
        _fetch.safe_extract(archive, work / "cache" / "top", "top")
    assert listing(work) == []
    assert not (tmp_path / "evil").exists()
