"""`compare --convention/--batch`: the same conventions as `show` and `sweep`."""

import json
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"


def compare(*args):
    result = CliRunner().invoke(main, ["compare", str(SPECS / "alexnet.yaml"), str(SPECS / "lenet5.yaml"), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_default_is_plain_macs_at_batch_1():
    rows = {r["name"]: r for r in json.loads(compare("--format", "json"))}
    assert rows["AlexNet"]["compute"] == {"convention": "macs", "label": "MACs", "batch": 1, "value": 1_135_256_096}


def test_torchinfo_and_flops_and_batch():
    rows = {r["name"]: r for r in json.loads(compare("--format", "json", "--convention", "torchinfo"))}
    assert rows["AlexNet"]["compute"]["value"] == 1_135_915_368
    rows = {r["name"]: r for r in json.loads(compare("--format", "json", "--convention", "flops", "--batch", "8"))}
    assert rows["AlexNet"]["compute"]["value"] == 2 * 1_135_256_096 * 8
    assert rows["AlexNet"]["macs"] == 1_135_256_096  # the raw count stays per sample
    act = (227 * 227 * 3 + rows["AlexNet"]["memory"]["activation_bytes"] // 8 // 4) * 4
    assert rows["AlexNet"]["memory"]["total_bytes"] == act * 8 + 62_378_344 * 4


def test_markdown_names_the_convention_in_the_heading():
    out = compare("--format", "markdown", "--convention", "torchinfo", "--batch", "8")
    assert "Mult-Adds (torchinfo) x8" in out and "9,087,322,944" in out
