"""Bad input: one or a few lines naming file, layer and field; exit 2; never a traceback."""

import pytest
from click.testing import CliRunner

from archcalc.cli import main


def run(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    result = CliRunner().invoke(main, ["show", str(path)])
    return result, str(path)


def assert_clean_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert len(result.output.strip().splitlines()) <= 4


CASES = {
    "unknown type lists the valid ones": (
        "input: [8, 8, 3]\nlayers:\n  - {type: convv, filters: 8, kernel: 3}\n",
        ["layer 0", "unknown layer type 'convv'", "did you mean 'conv'", "valid types: conv, maxpool"]),
    "unknown field suggests the right one": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: c1, filters: 8, kernel: 3, strides: 2}\n",
        ["layer 0 (c1)", "field 'strides'", "did you mean 'stride'"]),
    "kernel larger than the padded input": (
        "input: [7, 7, 3]\nlayers:\n  - {type: conv, name: big, filters: 8, kernel: 9, padding: 0}\n",
        ["layer 0 (big)", "field 'kernel'", "kernel 9 is larger than the padded input 7"]),
    "groups that do not divide the channels": (
        "input: [7, 7, 3]\nlayers:\n  - {type: conv, filters: 8, kernel: 3, groups: 2}\n",
        ["layer 0 (conv1)", "field 'groups'", "groups 2 does not divide"]),
    "add of unequal shapes": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: a, filters: 8, kernel: 1}\n"
        "  - {type: conv, name: b, filters: 16, kernel: 1, inputs: input}\n  - {type: add, name: s, inputs: [a, b]}\n",
        ["layer 2 (s)", "add needs inputs that broadcast", "a: 8x8x8", "b: 8x8x16"]),
    "dangling inputs name": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: a, filters: 8, kernel: 1}\n  - {type: add, inputs: [a, bb]}\n",
        ["layer 1 (add1)", "field 'inputs'", "'bb'", "no layer has that name"]),
    "a cycle through a later layer": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: a, filters: 8, kernel: 1, inputs: b}\n"
        "  - {type: conv, name: b, filters: 8, kernel: 1, inputs: a}\n",
        ["layer 0 (a)", "'b', which comes later", "cycle"]),
    "a layer naming itself": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: a, filters: 8, kernel: 1, inputs: a}\n",
        ["layer 0 (a)", "names the layer itself"]),
    "duplicate name": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: a, filters: 8, kernel: 1}\n  - {type: conv, name: a, filters: 8, kernel: 1}\n",
        ["layer 1 (a)", "duplicate name 'a'"]),
    "YAML that is not a mapping": ("- 1\n- 2\n", ["a spec must be a mapping", "list"]),
    "empty file": ("", ["a spec must be a mapping", "empty"]),
    "YAML syntax error with line and column": ("input: [8, 8, 3\nlayers: -\n",
                                                ["line 1:", "not valid YAML", "the [ opened on this line is not closed", "1 | input: [8, 8, 3"]),
    "missing required field": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, kernel: 3}\n", ["layer 0 (conv1)", "missing required field 'filters'"]),
    "missing type": ("input: [8, 8, 3]\nlayers:\n  - {filters: 3}\n", ["layer 0", "missing field 'type'"]),
    "missing input": ("layers:\n  - {type: flatten}\n", ["field 'input'", "missing"]),
    "bad input shape": ("input: 8x8xq\nlayers:\n  - {type: flatten}\n", ["field 'input'", "227x227x3"]),
    "no layers": ("input: [8, 8, 3]\nlayers: []\n", ["at least one layer"]),
    "layer that is not a mapping": ("input: [8, 8, 3]\nlayers:\n  - conv\n", ["layer 0", "must be a mapping"]),
    "negative stride": ("input: [8, 8, 3]\nlayers:\n  - {type: conv, filters: 3, kernel: 3, stride: 0}\n",
                        ["field 'stride'", "stride must be >= 1"]),
    "bool is not a count": ("input: [8, 8, 3]\nlayers:\n  - {type: dense, units: true}\n", ["field 'units'"]),
    "bad padding word": ("input: [8, 8, 3]\nlayers:\n  - {type: conv, filters: 3, kernel: 3, padding: full}\n",
                         ["field 'padding'", "'valid', 'same'"]),
    "kernel with the wrong number of axes": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, filters: 3, kernel: [3, 3, 3]}\n",
        ["field 'kernel'", "3 entries but the input has 2 spatial axes"]),
    "conv after dense": (
        "input: [8, 8, 3]\nlayers:\n  - {type: dense, units: 10}\n  - {type: conv, filters: 3, kernel: 1}\n",
        ["layer 1 (conv1)", "needs an input with spatial axes"]),
    "alpha where it does not apply": (
        "input: [8, 8, 3]\nlayers:\n  - {type: activation, function: relu, alpha: 0.2}\n", ["alpha applies to leaky_relu and elu"]),
    "unknown activation": (
        "input: [8, 8, 3]\nlayers:\n  - {type: activation, function: mish}\n", ["field 'function'", "relu"]),
    "strict rounding": (
        "input: [7, 7, 1]\nlayers:\n  - {type: conv, filters: 1, kernel: 3, stride: 3}\n",
        ["layer 0 (conv1)", "(7 - 3)/3 + 1 = 2.33", "padding 1 gives 3"]),
    "unknown top-level key": ("input: [8, 8, 3]\nlayer:\n  - {type: flatten}\n", ["unknown field 'layer'", "did you mean 'layers'"]),
    "undeclared variable": ("input: [8, 8, 3]\nlayers:\n  - {type: conv, filters: $k, kernel: 1}\n", ["$k"]),
    "reserved name": ("input: [8, 8, 3]\nlayers:\n  - {type: flatten, name: input}\n", ["reserved"]),
    "concat axis out of range": (
        "input: [8, 8, 3]\nlayers:\n  - {type: conv, name: a, filters: 3, kernel: 1}\n"
        "  - {type: concat, inputs: [a, input], axis: 3}\n", ["field 'axis'", "out of range"]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_spec_gets_one_clear_message(tmp_path, case):
    text, fragments = CASES[case]
    result, path = run(tmp_path, text)
    assert_clean_error(result, path, *fragments)


def test_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["show", str(tmp_path / "nope.yaml")])
    assert_clean_error(result, "nope.yaml", "no such file")


def test_directory(tmp_path):
    result = CliRunner().invoke(main, ["show", str(tmp_path)])
    assert_clean_error(result, "is a directory")


def test_binary_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(main, ["show", str(path)])
    assert_clean_error(result, "x.yaml")


def test_bad_json(tmp_path):
    result, path = run(tmp_path, '{"input": [8, 8, 3], "layers": [', name="spec.json")
    assert_clean_error(result, "spec.json", "not valid JSON", "line 1")


def test_several_problems_are_listed_but_bounded(tmp_path):
    layers = "".join(f"  - {{type: conv, filters: 0, kernel: 3}}\n" for _ in range(10))
    result, path = run(tmp_path, "input: [8, 8, 3]\nlayers:\n" + layers)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error:") and "layer 0 (conv1)" in lines[0]
    assert "layer 1 (conv2)" in lines[1]
    assert lines[-1] == "(and 7 more problems)"
