"""Issue 13 item 11: `show` never cuts a number, at any terminal width, on any shipped spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))
CUT_NUMBER = re.compile(r"[0-9,.]…")


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_no_number_is_cut(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    for spec in SPECS:
        result = CliRunner().invoke(main, ["show", str(spec)], terminal_width=width)
        assert result.exit_code in (0, 1), (spec.name, result.output)
        assert not CUT_NUMBER.search(result.stdout), (spec.name, width)
        assert "│ … │" not in result.stdout, (spec.name, width)  # the # column
        table = [line for line in result.stdout.splitlines() if line.startswith(("│", "┃"))]
        assert all(len(line) <= width for line in table), (spec.name, width)


def test_googlenet_at_80_columns_keeps_every_number_whole(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    out = CliRunner().invoke(main, ["show", "specs/googlenet.yaml"], terminal_width=80).stdout
    assert "12.8 M" in out and "…" not in out  # conv2_reduce: 56*56*64*64 = 12,845,056 MACs
    assert "│ 10 │" in out  # the # column is whole
    assert ">pool2" in out and "+inception_3a/outp" in out  # branch starts and merges without Inputs


def test_without_a_terminal_full_numbers_at_natural_width(tmp_path):
    """Issue 13 item 12: a pipe or a file gets every digit and no trailing spaces; COLUMNS still rules when set."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run([sys.executable, "-m", "archcalc", "show", "specs/googlenet.yaml"], cwd=root, env=env,
                         capture_output=True, text=True).stdout
    assert "118,013,952" in out and "12,845,056" in out  # conv1, conv2_reduce: no "118 M"
    assert not any(line.endswith(" ") for line in out.splitlines())
    narrow = subprocess.run([sys.executable, "-m", "archcalc", "show", "specs/googlenet.yaml"], cwd=root,
                            env={**env, "COLUMNS": "80"}, capture_output=True, text=True).stdout
    assert "118 M" in narrow
