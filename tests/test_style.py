"""The code is formatted and linted by ruff, with the settings in pyproject.toml (library,
tests, benchmarks: 100 columns) and notebooks/ruff.toml (the chapters: 88 columns, to fit the
book's text column). ruff formats notebooks natively."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what is checked; the library joins once its reformatting lands with the next re-key (a
#: reordered import changes a module's syntax tree, so formatting it re-keys every record)
CHECKED = ["notebooks", "tests", "benchmarks", "recsys_lib/attacks.py"]


def _ruff(*args):
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert exe, "ruff is pinned in pyproject.toml's test extra; install it with the book"
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("command", [("format", "--check"), ("check",)], ids=" ".join)
def test_ruff_passes(command):
    out = _ruff(*command, *CHECKED)
    assert out.returncode == 0, out.stdout + out.stderr
