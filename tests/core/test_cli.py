"""`archcalc show` as a user runs it: formats, exit codes, JSON keys, golden tables."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"


def show(*args, **kw):
    return CliRunner().invoke(main, ["show", *map(str, args)], terminal_width=120, **kw)


@pytest.mark.parametrize("name", ["alexnet", "lenet5", "alphago_policy", "mnist_simple", "mnist_deep", "cifar10_keras"])
def test_show_table_matches_golden(name, golden, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    result = show(SPECS / f"{name}.yaml")
    assert result.exit_code == 0, result.output
    golden(f"show_{name}.txt", result.output)


def test_show_table_has_the_totals_people_look_for(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    out = show(SPECS / "alexnet.yaml").output
    assert "55x55x96" in out and "6x6x256" in out
    assert "62,378,344 (62.4 M)" in out
    assert "1,135,256,096 (1.14 G)" in out
    assert "Trainable params" in out and "Non-trainable params" in out


def test_show_json_is_one_document_with_the_documented_keys():
    result = show(SPECS / "alexnet.yaml", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert {"name", "input_shape", "layers", "totals"} <= set(doc)
    assert doc["input_shape"] == [227, 227, 3]
    layer = doc["layers"][0]
    for key in ("name", "type", "inputs", "output_shape", "params", "trainable_params", "macs", "flops",
                "receptive_field", "warnings"):
        assert key in layer
    assert layer["output_shape"] == [55, 55, 96]
    assert layer["receptive_field"] == {"size": [11, 11], "jump": [4, 4], "start": [5, 5]}
    assert doc["layers"][10]["receptive_field"] is None
    assert doc["totals"] == {**doc["totals"], "params": 62_378_344, "trainable_params": 62_378_344,
                             "non_trainable_params": 0, "macs": 1_135_256_096, "flops": 2_270_512_192}


def test_json_carries_warnings_and_stdout_stays_pure(tmp_path):
    spec = tmp_path / "floor.yaml"
    spec.write_text("input: [224, 224, 3]\nrounding: floor\nlayers:\n"
                    "  - {type: conv, name: conv1, filters: 64, kernel: 7, stride: 2, padding: 3}\n")
    result = show(spec, "--format", "json")
    doc = json.loads(result.output)
    assert doc["layers"][0]["warnings"] == [
        "conv1: 224 -> 112.5 floored to 112, the last row and column of the padded input are never read"]
    table = show(spec).output
    assert "warning: conv1: 224 -> 112.5 floored to 112" in table


def test_csv_has_one_row_per_layer():
    result = show(SPECS / "cifar10_keras.yaml", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [int(r["params"]) for r in rows] == [896, 9248, 0, 0, 0, 1048704, 1290]
    assert rows[4]["output_shape"] == "8192"


def test_markdown_table():
    out = show(SPECS / "lenet5.yaml", "--format", "markdown").output
    assert "| 0 | c1 | conv | 28x28x6 | 156 |" in out
    assert "**Total params**: 61,706" in out


def test_expect_mismatch_exits_1_and_says_so(tmp_path):
    spec = tmp_path / "wrong.yaml"
    spec.write_text("input: [227, 227, 3]\nlayers:\n"
                    "  - {type: conv, name: conv1, filters: 96, kernel: 11, stride: 4, expect: {shape: [54, 54, 96], params: 34848}}\n")
    result = show(spec)
    assert result.exit_code == 1
    assert "shape: expected 54x54x96, got 55x55x96" in result.output
    assert "params: expected 34,848, got 34,944" in result.output
    doc = json.loads(show(spec, "--format", "json").output)
    assert doc["layers"][0]["expect"]["ok"] is False


def test_set_overrides_a_declared_variable():
    doc = json.loads(show(SPECS / "alphago_policy.yaml", "--set", "k=128", "--format", "json").output)
    assert doc["layers"][0]["output_shape"] == [19, 19, 128]


def test_set_of_an_undeclared_variable_is_an_error():
    result = show(SPECS / "alphago_policy.yaml", "--set", "q=1")
    assert result.exit_code == 2
    assert "no variable 'q'" in result.output


def test_graph_nets_show_an_inputs_column(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    spec = tmp_path / "res.yaml"
    spec.write_text("input: [8, 8, 4]\nlayers:\n  - {type: conv, name: a, filters: 4, kernel: 3, padding: 1}\n"
                    "  - {type: add, name: s, inputs: [input, a]}\n")
    out = show(spec).output
    assert "Inputs" in out and "input, a" in out


def test_help_is_fast_and_lists_show():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "show" in result.output


def test_narrow_terminal_keeps_names_and_types_whole(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = CliRunner().invoke(main, ["show", str(SPECS / "alexnet.yaml")], terminal_width=80).output
    assert max(len(line) for line in out.splitlines() if line.startswith(("┃", "│"))) <= 80
    assert "│ maxpool │" in out and "│ dropout │" in out      # types are never cut to "ma…"
    assert "105 M" in out                                   # MACs go compact before anything is cut
    assert "62,378,344 (62.4 M)" in out


def test_wide_terminal_shows_exact_macs_and_rf(monkeypatch):
    monkeypatch.setenv("COLUMNS", "140")
    out = CliRunner().invoke(main, ["show", str(SPECS / "alexnet.yaml")]).output
    assert "105,415,200" in out and "195x195" in out and "hidden" not in out
