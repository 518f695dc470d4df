"""`archcalc explain` and `archcalc calc` outputs, held to golden files beside the `show` goldens (tests/golden/)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"

EXPLAIN = ["alexnet", "lenet5", "alphago_policy", "googlenet", "resnet18", "textcnn_kim", "mnist_deep", "zfnet"]
CALC = {
    "conv_fits": ["conv", "--input", "7x7x3", "--kernel", "3", "--stride", "2", "--padding", "1", "--filters", "6"],
    "conv_does_not_fit": ["conv", "--input", "7x7x3", "--kernel", "3", "--stride", "3", "--filters", "2"],
    "conv_floor": ["conv", "--input", "224x224x3", "--kernel", "7", "--stride", "2", "--padding", "3",
                   "--filters", "64", "--rounding", "floor"],
    "conv_same_dilated_groups": ["conv", "--input", "11x11x4", "--kernel", "3", "--stride", "2", "--padding", "same",
                                 "--filters", "8", "--dilation", "2", "--groups", "2", "--no-bias"],
    "conv_per_axis": ["conv", "--input", "9x12x1", "--kernel", "3x5", "--stride", "2x1", "--padding", "0+1",
                      "--filters", "1"],
    "conv_1d": ["conv", "--input", "56x300", "--kernel", "3", "--filters", "100"],
    "pool_max": ["pool", "--input", "55x55x96", "--kernel", "3", "--stride", "2"],
    "pool_avg_ceil": ["pool", "--input", "14x14x8", "--kernel", "3", "--stride", "2", "--mode", "avg",
                      "--rounding", "ceil"],
    "dense": ["dense", "--input", "6x6x256", "--units", "4096"],
    "dense_no_bias": ["dense", "--input", "4096", "--units", "1000", "--no-bias"],
}


def run(args):
    return CliRunner().invoke(main, args, terminal_width=120)


@pytest.mark.parametrize("name", EXPLAIN)
def test_explain_matches_golden(name, golden, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    result = run(["explain", str(SPECS / f"{name}.yaml")])
    assert result.exit_code == 0, result.output
    golden(f"explain_{name}.txt", result.output)


@pytest.mark.parametrize("name", sorted(CALC))
def test_calc_matches_golden(name, golden, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    result = run(["calc", *CALC[name]])
    assert result.exit_code == 0, result.output
    golden(f"calc_{name}.txt", result.output)
