from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
EXERCISES = ROOT / "exercises"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def run(monkeypatch):
    """Invoke the CLI with a fixed terminal width; returns click's Result (stdout, stderr, exit_code)."""
    monkeypatch.setenv("COLUMNS", "160")

    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args], terminal_width=160)

    return invoke
