"""The debugger installs as ``numbacnn_gui`` (never a top-level ``gui``), and the package list is complete."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_every_package_of_the_tree_is_installed_and_gui_under_its_own_name():
    tomllib = pytest.importorskip("tomllib")   # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "numbacnn").rglob("__init__.py")}
    assert set(config["packages"]) == tree | {"numbacnn_gui"}
    assert config["package-dir"] == {"numbacnn_gui": "gui"}
    assert "gui" not in config["packages"]


def test_numbacnn_gui_command_reaches_the_debugger_from_a_checkout():
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "numbacnn", "gui", "--help"], cwd="/", env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: python -m numbacnn gui" in result.stdout and "--screenshot" in result.stdout


def test_without_dearpygui_one_line_says_what_to_install(tmp_path):
    fake = tmp_path / "dearpygui"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'dearpygui'\", "
                                      "name='dearpygui')\n")
    env = {"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin", "DISPLAY": ":0"}
    result = subprocess.run([sys.executable, "-m", "gui"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == 'the visual debugger needs DearPyGui: pip install "numbacnn[gui]"'
