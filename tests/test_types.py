"""The package's types are checked: `mypy archcalc` (config in pyproject.toml) reports no error.

The package ships py.typed, so users' type checkers trust these annotations."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error():
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy", "archcalc"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
