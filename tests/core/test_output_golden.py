"""Goldens for every format and command whose output is deterministic (issue 9 item 9): check, compare, sweep,
solve, fit, and `show` as markdown, CSV, JSON with costing, collapsed, expanded and as a graph with an Inputs column.

They were written by the code before output/ and cli/ existed and must stay byte-identical; regenerate with
`pytest --update-golden` only for a deliberate change, and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

ROOT = Path(__file__).resolve().parents[2]
S = "specs/"
TWO_VARS = "tests/learn/fixtures/two_vars.yaml"

CASES = {  # golden file -> (arguments, exit code)
    "show_alexnet.md": (["show", S + "alexnet.yaml", "--format", "markdown"], 0),
    "show_resnet18.csv": (["show", S + "resnet18.yaml", "--format", "csv"], 0),
    "show_googlenet.txt": (["show", S + "googlenet.yaml"], 0),
    "show_resnet18_depth1.txt": (["show", S + "resnet18.yaml", "--depth", "1"], 0),
    "show_resnet18_expand.yaml": (["show", S + "resnet18.yaml", "--expand"], 0),
    "show_alexnet_costing.txt": (["show", S + "alexnet.yaml", "--convention", "torchinfo", "--batch", "4",
                                  "--training", "adam"], 0),
    "show_alexnet_costing.md": (["show", S + "alexnet.yaml", "--convention", "flops", "--format", "markdown"], 0),
    "show_lenet5_costing.json": (["show", S + "lenet5.yaml", "--convention", "flops", "--format", "json"], 0),
    "compare_zoo.txt": (["compare", S + "alexnet.yaml", S + "vgg16.yaml", S + "resnet50.yaml", S + "googlenet.yaml"], 0),
    "compare_zoo.md": (["compare", S + "alexnet.yaml", S + "vgg16.yaml", S + "resnet50.yaml", "--format", "markdown"],
                       0),
    "compare_zoo_torchinfo.csv": (["compare", S + "alexnet.yaml", S + "zfnet.yaml", "--format", "csv", "--convention",
                                   "torchinfo", "--batch", "2"], 0),
    "check_cnn_basics_wrong.txt": (["check", "exercises/cnn_basics_wrong.yaml"], 1),
    "check_cnn_basics_key.txt": (["check", "exercises/cnn_basics.yaml", "--key"], 0),
    "solve_7x7x3_to_5x5x1.txt": (["solve", "--input", "7x7x3", "--output", "5x5x1"], 0),
    "solve_target_rf_11.txt": (["solve", "--target-rf", "11"], 0),
    "sweep_two_vars.txt": (["sweep", TWO_VARS, "--vary", "k=8,16", "--vary", "f=1,3", "--training", "sgd"], 0),
    "sweep_two_vars.csv": (["sweep", TWO_VARS, "--vary", "k=8,16", "--format", "csv"], 0),
    "fit_alexnet.txt": (["fit", S + "alexnet.yaml", "--memory", "2GiB", "--training", "adam"], 0),
}


@pytest.mark.parametrize("name", CASES)
def test_output_matches_golden(name, golden, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    args, code = CASES[name]
    result = CliRunner().invoke(main, args, terminal_width=120)
    assert result.exit_code == code, result.output
    golden(name, result.stdout)


def test_check_every_mistake_golden(golden, monkeypatch):
    """A quiz with a wrong answer of each kind: every verdict per part, and working aimed at each mistake."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(main, ["check", "exercises/every_mistake.yaml"], terminal_width=120)
    assert result.exit_code == 1, result.output
    golden("check_every_mistake.txt", result.stdout)
