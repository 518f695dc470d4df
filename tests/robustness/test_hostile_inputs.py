"""Hostile input for every command.

The product rule: bad input gets one or a few lines on stderr naming where and what is wrong, exit code 2
(1 only when an expect or an exercise answer does not hold), never a traceback, and no output file left
half-written.  Each case writes its files into tmp_path, runs the CLI in-process and checks exactly that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc.cli import main

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "specs" / "lenet5.yaml")
ALPHAGO = str(ROOT / "specs" / "alphago_policy.yaml")
BASE = "input: [32, 32, 3]\nlayers:\n"
ONE_CONV = "  - {type: conv, name: a, filters: 3, kernel: 3}\n"
BIG = "9" * 5000  # more digits than Python converts to int by default (4,300)


def invoke(args, cwd: Path | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], terminal_width=120)


def assert_refused(result, code: int = 2, says: str | None = None, max_lines: int = 6, max_width: int = 1000) -> None:
    """Exit `code`, one to a few lines on stderr, no traceback, no uncaught exception."""
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"uncaught {type(exc).__name__}: {exc}"
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout[-500:]}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    if code == 2:
        lines = result.stderr.strip().splitlines()
        assert 1 <= len(lines) <= max_lines, result.stderr
        assert max(len(line) for line in lines) < max_width, "an error line should not dump the input"
    if says:
        assert says in result.stderr, result.stderr


# --- specs through `show` --------------------------------------------------------------------------------

LAUGHS = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh"))

SPECS: list[tuple[str, str, str, str]] = [  # (id, file name, text, a phrase the message must contain)
    ("deep-yaml", "s.yaml", "a: " + "[" * 200 + "]" * 200, "nesting deeper"),
    ("deep-json", "s.json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nesting"),
    ("billion-laughs", "s.yaml", 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + LAUGHS, "expands to more than"),
    ("recursive-alias", "s.yaml", "a: &a [*a]\n", "recursive alias"),
    ("undefined-alias", "s.yaml", BASE + "  - *nope\n", "not defined"),
    ("python-tag", "s.yaml", "input: !!python/object/apply:os.system ['echo hi']\nlayers: []\n", "not allowed"),
    ("python-tag-root", "s.yaml", "!!python/object:os.system {}\n", "not allowed"),
    ("binary-tag", "s.yaml", "input: [3,3,3]\nname: !!binary aGVsbG8=\nlayers: [{type: flatten}]\n", "not allowed"),
    ("two-documents", "s.yaml", "a: 1\n---\nb: 2\n", "more than one YAML document"),
    ("duplicate-key-yaml", "s.yaml", "input: [3,3,3]\ninput: [4,4,4]\nlayers: [{type: flatten}]\n", "duplicate key"),
    ("duplicate-key-json", "s.json", '{"input": [3,3,3], "input": [4,4,4], "layers": [{"type":"flatten"}]}',
     "duplicate key 'input'"),
    ("not-utf8", "s.yaml", "name: caf\xe9\n", "not UTF-8"),
    ("nul-bytes", "s.yaml", "\x00\x01\x02", "not valid YAML"),
    ("empty-file", "s.yaml", "", "empty"),
    ("a-list", "s.yaml", "- 1\n- 2\n", "must be a mapping"),
    ("bad-json", "s.json", '{"input": [3,3,3], "layers": [', "not valid JSON"),
    ("lone-surrogate-json", "s.json", '{"input": [3,3,3], "name": "\\ud800", "layers": [{"type":"flatten"}]}',
     "surrogate"),
    ("huge-int-yaml", "s.yaml", BASE + f"  - {{type: conv, filters: 1{BIG}, kernel: 1}}\n", "too large"),
    ("huge-int-json", "s.json", '{"input": [3,3,3], "layers": [{"type": "conv", "filters": 1' + BIG + ', "kernel": 1}]}',
     "too large"),
    ("huge-hex-int", "s.yaml", BASE + "  - {type: conv, filters: 0x" + "f" * 5000 + ", kernel: 1}\n", "too large"),
    ("huge-sexagesimal", "s.yaml", BASE + "  - {type: conv, filters: " + "1:" * 2000 + "1, kernel: 1}\n", "base-60"),
    ("kernel-1e30", "s.yaml", BASE + "  - {type: conv, filters: 3, kernel: 1000000000000000000000000000000}\n", "kernel"),
    ("input-1e4000", "s.yaml", "input: [" + "9" * 4000 + ", 3]\nlayers: [{type: flatten}]\n", "too large"),
    ("input-1e20", "s.yaml", "input: [" + "9" * 20 + ", 3]\nlayers: [{type: flatten}]\n", "at most 10**15"),
    ("input-string-huge", "s.yaml", f"input: '{BIG}x3'\nlayers: [{{type: flatten}}]\n", "input"),
    ("filters-negative", "s.yaml", BASE + "  - {type: conv, filters: -3, kernel: 3}\n", "layer 0 (conv1), field 'filters'"),
    ("kernel-zero", "s.yaml", BASE + "  - {type: conv, filters: 3, kernel: 0}\n", "field 'kernel'"),
    ("filters-float", "s.yaml", BASE + "  - {type: conv, filters: 3.5, kernel: 3}\n", "field 'filters'"),
    ("filters-bool", "s.yaml", BASE + "  - {type: conv, filters: true, kernel: 3}\n", "field 'filters'"),
    ("input-bool", "s.yaml", "input: [true, 32, 3]\nlayers: [{type: flatten}]\n", "field 'input'"),
    ("input-5-axes", "s.yaml", "input: [3,3,3,3,3]\nlayers: [{type: flatten}]\n", "at most 3 spatial axes"),
    ("empty-name", "s.yaml", BASE + "  - {type: conv, name: '', filters: 3, kernel: 3}\n", "field 'name'"),
    ("escape-in-name", "s.yaml", BASE + '  - {type: dense, name: "a\\e]0;pwned\\a", units: 1}\n', "control characters"),
    ("escape-in-title", "s.yaml", 'name: "x\\e[31mred"\n' + BASE + "  - {type: flatten}\n", "control characters"),
    ("nan-lrn-alpha", "s.yaml", BASE + "  - {type: lrn, alpha: .nan}\n", "finite"),
    ("inf-lrn-beta", "s.yaml", BASE + "  - {type: lrn, beta: .inf}\n", "finite"),
    ("nan-json", "s.json", '{"input": [3,3,3], "layers": [{"type": "lrn", "alpha": NaN}]}', "finite"),
    ("1e999-json", "s.json", '{"input": [3,3,3], "layers": [{"type": "lrn", "k": 1e999}]}', "finite"),
    ("nan-leaky-alpha", "s.yaml", BASE + "  - {type: activation, function: leaky_relu, alpha: .nan}\n", "finite"),
    ("inf-batchnorm-eps", "s.yaml", BASE + "  - {type: batchnorm, eps: .inf}\n", "finite"),
    ("dropout-1", "s.yaml", BASE + "  - {type: dropout, rate: 1.0}\n", "field 'rate'"),
    ("dropout-nan", "s.yaml", BASE + "  - {type: dropout, rate: .nan}\n", "field 'rate'"),
    ("lrn-size-0", "s.yaml", BASE + "  - {type: lrn, size: 0}\n", "field 'size'"),
    ("concat-axis-0-mismatch", "s.yaml", BASE + ONE_CONV + "  - {type: concat, inputs: [a, input], axis: 0}\n",
     "axis 1 differs"),
    ("concat-axis-out-of-range", "s.yaml", BASE + ONE_CONV + "  - {type: concat, inputs: [a, a], axis: 5}\n",
     "out of range"),
    ("concat-axis-huge", "s.yaml", BASE + ONE_CONV + "  - {type: concat, inputs: [a, a], axis: 0x" + "f" * 40 + "}\n",
     "axis"),
    ("add-one-input", "s.yaml", BASE + ONE_CONV + "  - {type: add, inputs: [a]}\n", "two or more"),
    ("input-is-itself", "s.yaml", BASE + "  - {type: add, name: a, inputs: [a, input]}\n", "cycle"),
    ("input-later", "s.yaml", BASE + "  - {type: flatten, inputs: [b]}\n  - {type: flatten, name: b}\n", "later"),
    ("duplicate-name", "s.yaml", BASE + "  - {type: flatten, name: a}\n  - {type: flatten, name: a}\n", "duplicate name"),
    ("reserved-name", "s.yaml", BASE + "  - {type: flatten, name: input}\n", "reserved"),
    ("unknown-type", "s.yaml", BASE + "  - {type: convv, filters: 1, kernel: 1}\n", "did you mean 'conv'"),
    ("unknown-field", "s.yaml", BASE + "  - {type: conv, filter: 1, kernel: 1}\n", "unknown field 'filter'"),
    ("layers-not-list", "s.yaml", "input: [3,3,3]\nlayers: abc\n", "field 'layers'"),
    ("layer-not-mapping", "s.yaml", "input: [3,3,3]\nlayers: [1]\n", "layer 0"),
    ("conv-on-vector", "s.yaml", "input: [1]\nlayers: [{type: conv, filters: 1, kernel: 1}]\n", "spatial axes"),
    ("gap-1d-after-dense", "s.yaml", "input: [8, 4]\nlayers: [{type: dense, units: 2}, {type: global_avgpool}]\n",
     "spatial axes"),
    ("pool-3d-too-big", "s.yaml", "input: [2, 2, 2, 1]\nlayers: [{type: maxpool, kernel: 3}]\n", "larger than"),
    ("kernel-axes-3d", "s.yaml", "input: [6, 6, 6, 4]\nlayers: [{type: conv, filters: 1, kernel: [3, 3]}]\n",
     "3 spatial axes"),
    ("groups-1d", "s.yaml", "input: [8, 3]\nlayers: [{type: conv, filters: 4, kernel: 1, groups: 2}]\n", "groups"),
    ("stride-not-whole", "s.yaml", "input: [7, 7, 3]\nlayers: [{type: conv, filters: 1, kernel: 3, stride: 3}]\n",
     "not a whole number"),
    # vars, blocks and repeat
    ("undeclared-var", "s.yaml", BASE + "  - {type: conv, filters: $nope, kernel: 1}\n", "unknown variable $nope"),
    ("var-power", "s.yaml", "vars: {a: 2}\n" + BASE + "  - {type: conv, filters: $a ** 99, kernel: 1}\n", "only +"),
    ("var-import", "s.yaml", "vars: {a: 2}\n" + BASE + "  - {type: conv, filters: \"$a + __import__('os')\", kernel: 1}\n",
     "filters"),
    ("var-overflow", "s.yaml", "vars: {a: 1000000000}\n" + BASE + "  - {type: conv, filters: $a * $a * $a, kernel: 1}\n",
     "out of range"),
    ("var-div-zero", "s.yaml", "vars: {a: 0}\n" + BASE + "  - {type: conv, filters: 4 // $a, kernel: 1}\n",
     "division by zero"),
    ("vars-not-mapping", "s.yaml", "vars: [1, 2]\n" + BASE + "  - {type: flatten}\n", "field 'vars'"),
    ("repeat-1e9", "s.yaml", BASE + "  - {repeat: 1000000000, layers: [{type: activation, function: relu}]}\n",
     "more than 200,000 layers"),
    ("repeat-nested", "s.yaml", BASE + "  - {repeat: 1000, layers: [{repeat: 1000, layers: [{type: flatten}]}]}\n",
     "more than 200,000 layers"),
    ("repeat-negative", "s.yaml", BASE + "  - {repeat: -1, layers: [{type: flatten}]}\n", "positive int"),
    ("repeat-inputs-int", "s.yaml", BASE + "  - {repeat: 2, inputs: 5, layers: [{type: flatten}]}\n",
     "inputs must be a layer name"),
    ("use-inputs-mapping", "s.yaml", "blocks: {b: {layers: [{type: flatten}]}}\n" + BASE
     + "  - {block: b, inputs: {a: 1}}\n", "inputs must be a layer name"),
    ("block-uses-itself", "s.yaml", "blocks: {b: {layers: [{block: b}]}}\n" + BASE + "  - {block: b}\n", "uses itself"),
    ("blocks-mutual", "s.yaml", "blocks:\n  a: {layers: [{block: b}]}\n  b: {layers: [{block: a}]}\n" + BASE
     + "  - {block: a}\n", "may not recurse"),
    ("block-doubling", "s.yaml", "blocks:\n  b0: {layers: [{type: flatten}, {type: flatten}]}\n"
     + "".join(f"  b{i}: {{layers: [{{block: b{i - 1}}}, {{block: b{i - 1}}}]}}\n" for i in range(1, 40))
     + BASE + "  - {block: b39}\n", "more than 200,000 layers"),
    ("block-arg-import", "s.yaml", "blocks: {b: {params: [f], layers: [{type: conv, filters: \"$f + __import__('os')\","
     " kernel: 1}]}}\n" + BASE + "  - {block: b, args: {f: 2}}\n", "not an integer expression"),
    ("block-missing-arg", "s.yaml", "blocks: {b: {params: [f], layers: [{type: flatten}]}}\n" + BASE + "  - {block: b}\n",
     "missing argument 'f'"),
    ("unknown-block", "s.yaml", BASE + "  - {block: nope}\n", "unknown block"),
]


@pytest.mark.parametrize("case", SPECS, ids=[c[0] for c in SPECS])
def test_show_refuses_hostile_spec(tmp_path, case):
    _, name, text, says = case
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogatepass") if "\xe9" not in text else text.encode("latin-1"))
    assert_refused(invoke(["show", path]), says=says)


def test_too_many_layers_refused_before_validation(tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"input": [2, 2, 1], "layers": [{"type": "flatten"}] * 200_001}))
    assert_refused(invoke(["show", path, "--format", "json"]), says="at most 200,000")


def test_100000_layer_spec_file_through_show_json(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"input": [2, 2, 1], "layers": [{"type": "activation", "function": "relu"}] * 100_000}))
    result = invoke(["show", path, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    tail = result.stdout[-3000:]
    assert '"totals"' in tail and '"index": 99999' in result.stdout[-20000:]


@pytest.mark.parametrize("name", ["[/]", "[bold red]x[/", "[link=file:///etc/passwd]x"])
def test_markup_like_names_print_literally(tmp_path, name):
    path = tmp_path / "m.yaml"
    path.write_text(f"name: '{name}'\ninput: [4]\nlayers:\n  - {{type: dense, name: '{name}', units: 1}}\n")
    result = invoke(["show", path])
    assert result.exit_code == 0, result.stderr
    assert name in result.stdout


def test_expand_of_malformed_layers_does_not_crash(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("input: [3, 3, 3]\nlayers: 5\n")
    result = invoke(["show", path, "--expand"])
    assert result.exit_code == 0 and "layers: 5" in result.stdout


# --- exercise files through `check` ----------------------------------------------------------------------

CONV = "input: [3,3,1], layers: [{type: conv, filters: 1, kernel: 3"
W = "weights: [[1,0,0],[0,1,0],[0,0,1]]"
VALUES = "values: [[1,2,3],[4,5,6],[7,8,9]]"

EXERCISES: list[tuple[str, str, int, str | None]] = [  # (id, one exercise, exit code, phrase)
    ("answer-not-mapping", f"{{id: q1, {CONV}}}], answer: five}}", 2, "answer must be a mapping"),
    ("answer-unknown-key", f"{{id: q1, {CONV}}}], answer: {{foo: 1}}}}", 2, "answer key 'foo'"),
    ("answer-shape-text", f"{{id: q1, {CONV}}}], answer: {{shape: abc}}}}", 2, "answer.shape"),
    ("answer-params-float", f"{{id: q1, {CONV}}}], answer: {{params: 10.0}}}}", 2, "answer.params"),
    ("answer-fits-text", f"{{id: q1, {CONV}}}], answer: {{fits: 'yes'}}}}", 2, "answer.fits"),
    ("answer-output-ragged", f"{{id: q1, {VALUES}, {CONV}, {W}}}], answer: {{output: [[15], [2, 3]]}}}}", 2,
     "answer.output"),
    ("output-without-values", f"{{id: q1, {CONV}}}], answer: {{output: [[1]]}}}}", 2, "values"),
    ("values-ragged", f"{{id: q1, values: [[1,2,3],[4,5]], {CONV}, {W}}}], answer: {{output: [[15]]}}}}", 2, "values"),
    ("values-text", f"{{id: q1, values: abc, {CONV}, {W}}}], answer: {{output: [[15]]}}}}", 2, "values"),
    ("values-wrong-shape", f"{{id: q1, values: [[1,2],[3,4]], {CONV}, {W}}}], answer: {{output: [[15]]}}}}", 2,
     "values has shape"),
    ("weights-ragged", f"{{id: q1, {VALUES}, {CONV}, weights: [[1,0],[0,1,0],[0,0,1]]}}], answer: {{output: [[15]]}}}}",
     2, "weights"),
    ("weights-text", f"{{id: q1, {VALUES}, {CONV}, weights: x}}], answer: {{output: [[15]]}}}}", 2, "weights"),
    ("biases-text", f"{{id: q1, {VALUES}, {CONV}, {W}, biases: x}}], answer: {{output: [[15]]}}}}", 2, "biases"),
    ("biases-wrong-shape", f"{{id: q1, {VALUES}, {CONV}, bias: per_position, {W}, biases: [1, 2]}}], "
     "answer: {output: [[15]]}}", 2, "biases"),
    ("batchnorm-gamma-wrong", "{id: q1, input: [2], values: [1, 2], layers: [{type: batchnorm, gamma: [1, 2, 3]}], "
     "answer: {output: [1, 2]}}", 2, "gamma"),
    ("tolerance-text", f"{{id: q1, {VALUES}, {CONV}, {W}}}], tolerance: abc, answer: {{output: [[15]]}}}}", 2,
     "tolerance"),
    ("tolerance-nan", f"{{id: q1, {VALUES}, {CONV}, {W}}}], tolerance: .nan, answer: {{output: [[15]]}}}}", 2,
     "tolerance"),
    ("unknown-key", f"{{id: q1, foo: 1, {CONV}}}]}}", 2, "unknown key foo"),
    ("no-id", f"{{{CONV}}}]}}", 2, "needs an id"),
    ("spec-missing", "{id: q1, spec: nope.yaml, answer: {params: 1}}", 2, "no such file"),
    ("spec-outside", "{id: q1, spec: /etc/passwd, answer: {params: 1}}", 2, "outside the spec root"),
    ("spec-climbs-out", "{id: q1, spec: ../../../../../../../etc/passwd, answer: {params: 1}}", 2,
     "outside the spec root"),
    ("spec-directory", "{id: q1, spec: /, answer: {params: 1}}", 2, "is a directory"),
    ("spec-name-too-long", "{id: q1, spec: " + "a" * 5000 + ", answer: {params: 1}}", 2, "cannot read the file"),
    ("spec-and-layers", f"{{id: q1, spec: x.yaml, {CONV}}}]}}", 2, "exactly one of"),
    ("set-unknown-var", f"{{id: q1, spec: {LENET}, set: {{k: 1}}, answer: {{params: 1}}}}", 2, "no variable 'k'"),
    ("bad-layer", "{id: q1, input: [7,7,1], layers: [{type: conv, filters: 0, kernel: 3}], answer: {shape: [5,5,1]}}",
     2, "field 'filters'"),
    ("target-axes-differ", "{id: q1, input: [7,7,1], target: [5,1], answer: {kernel: 3}}", 2, "different numbers"),
    ("target-huge", "{id: q1, input: [1000000000,1000000000,1], target: [1,1,1], answer: {kernel: 3}}", 2,
     "too many candidates"),
    ("wrong-answer", f"{{id: q1, {CONV}}}], answer: {{shape: [2,2,1]}}}}", 1, None),
    ("no-answer", f"{{id: q1, {CONV}}}]}}", 1, None),
]


@pytest.mark.parametrize("case", EXERCISES, ids=[c[0] for c in EXERCISES])
def test_check_refuses_hostile_exercise(tmp_path, case):
    name, exercise, code, says = case
    path = tmp_path / "ex.yaml"
    path.write_text(f"exercises:\n  - {exercise}\n")
    width = 20_000 if name == "spec-name-too-long" else 1000  # the message names the (long) file
    root = [] if name in ("spec-outside", "spec-climbs-out") else ["--spec-root", "/"]  # default root: the cwd
    assert_refused(invoke(["check", path, *root]), code=code, says=says, max_width=width)


def test_check_never_echoes_a_file_that_is_not_a_spec(tmp_path, monkeypatch):
    """Issue 10 item 9: a shadow-like file inside the root is refused without printing any of its lines."""
    (tmp_path / "shadow").write_text("root:x:0:0:root:/root:/bin/bash\nuser: $6$salt$hash\n")
    (tmp_path / "ex.yaml").write_text("exercises:\n  - {id: q1, spec: shadow, answer: {params: 1}}\n")
    (tmp_path / "link.yaml").symlink_to("/etc/passwd")
    (tmp_path / "ex2.yaml").write_text("exercises:\n  - {id: q2, spec: link.yaml, answer: {params: 1}}\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(["check", "ex.yaml"])
    assert_refused(result, code=2, says="shadow is not a spec")
    assert "$6$" not in result.output and "root:x" not in result.output and "user" not in result.output
    result = invoke(["check", "ex2.yaml"])
    assert_refused(result, code=2, says="exercise q2: spec link.yaml is outside the spec root")


@pytest.mark.parametrize("text,says", [("", "mapping with an `exercises:` list"), ("exercises: []\n", "empty"),
                                       ("exercises: [5]\n", "must be a mapping"), ("foo: 1\nexercises: [1]\n", "foo")])
def test_check_refuses_malformed_file(tmp_path, text, says):
    path = tmp_path / "ex.yaml"
    path.write_text(text)
    assert_refused(invoke(["check", path]), says=says)


# --- calc, solve, sweep, fit, explain, compare -------------------------------------------------------------

CONV_CALC = ["calc", "conv", "--input", "7x7x3", "--kernel", "3", "--filters", "1"]

OPTIONS: list[tuple[str, list, str | None]] = [
    ("calc-input-text", ["calc", "conv", "--input", "abc", "--kernel", "3", "--filters", "1"], "input must look like"),
    ("calc-input-huge", ["calc", "conv", "--input", BIG + "x3", "--kernel", "1", "--filters", "1"], "input"),
    ("calc-kernel-text", ["calc", "conv", "--input", "7x7x3", "--kernel", "x", "--filters", "1"], "kernel"),
    ("calc-kernel-zero", ["calc", "conv", "--input", "7x7x3", "--kernel", "0", "--filters", "1"], "kernel"),
    ("calc-no-filters", ["calc", "conv", "--input", "7x7x3", "--kernel", "3"], "--filters"),
    ("calc-padding-text", CONV_CALC + ["--padding", "abc"], "padding"),
    ("calc-padding-plus", CONV_CALC + ["--padding", "1+"], "padding"),
    ("calc-padding-plus-only", CONV_CALC + ["--padding", "+"], "padding"),
    ("calc-padding-plus-text", CONV_CALC + ["--padding", "a+b"], "padding"),
    ("calc-padding-mixed", CONV_CALC + ["--padding", "0+1x1+0"], "padding"),
    ("calc-padding-three", CONV_CALC + ["--padding", "1+2+3"], "padding"),
    ("calc-padding-negative", CONV_CALC + ["--padding", "-1"], "padding"),
    ("calc-kernel-too-big", ["calc", "conv", "--input", "7x7x3", "--kernel", "30", "--filters", "1"], "larger than"),
    ("calc-dense-no-units", ["calc", "dense", "--input", "7x7x3"], "--units"),
    ("solve-no-output", ["solve", "--input", "7x7x3"], "--output"),
    ("solve-impossible", ["solve", "--input", "7x7x3", "--output", "500x500x1", "--padding", "0"], "larger than"),
    ("solve-padding-text", ["solve", "--input", "7x7x3", "--output", "5x5x1", "--padding", "abc"], "--padding"),
    ("solve-axes-differ", ["solve", "--input", "7x7x3", "--output", "5x5"], "different numbers"),
    ("solve-huge-input", ["solve", "--input", "1000000000x1000000000x1", "--output", "1x1x1"], "too many candidates"),
    ("solve-huge-kernel", ["solve", "--input", "7x7x3", "--output", "5x5x1", "--kernel", "1000000000000"],
     "too many candidates"),
    ("solve-rf-kernel-1", ["solve", "--target-rf", "100", "--kernel", "1"], "never grows"),
    ("solve-rf-huge", ["solve", "--target-rf", "10000000"], "at most 1,000,000"),
    ("sweep-undeclared", ["sweep", ALPHAGO, "--vary", "nope=1,2"], "no variable 'nope'"),
    ("sweep-empty-list", ["sweep", ALPHAGO, "--vary", "k="], "--vary"),
    ("sweep-only-commas", ["sweep", ALPHAGO, "--vary", "k=,,,"], "--vary"),
    ("sweep-no-equals", ["sweep", ALPHAGO, "--vary", "k"], "--vary"),
    ("sweep-twice", ["sweep", ALPHAGO, "--vary", "k=1", "--vary", "k=2"], "twice"),
    ("sweep-huge-product", ["sweep", ALPHAGO, "--vary", "k=" + ",".join(map(str, range(1, 10_002)))], "at most 10,000"),
    ("sweep-bad-values", ["sweep", ALPHAGO, "--vary", "k=0,-1"], "filters"),
    ("sweep-set-and-vary", ["sweep", ALPHAGO, "--vary", "k=1", "--set", "k=2"], "both --set and --vary"),
    ("sweep-no-vars", ["sweep", LENET, "--vary", "k=1"], "no variable 'k'"),
    ("set-no-equals", ["show", ALPHAGO, "--set", "k"], "NAME=VALUE"),
    ("set-huge", ["show", ALPHAGO, "--set", "k=" + BIG], "filters"),
    ("fit-memory-text", ["fit", LENET, "--memory", "abc"], "memory"),
    ("fit-memory-empty", ["fit", LENET, "--memory", ""], "memory"),
    ("fit-memory-zero", ["fit", LENET, "--memory", "0"], "positive"),
    ("fit-memory-negative", ["fit", LENET, "--memory", "-1GiB"], "memory"),
    ("fit-memory-nan", ["fit", LENET, "--memory", "nanGiB"], "memory"),
    ("fit-memory-unit", ["fit", LENET, "--memory", "1XB"], "memory"),
    ("fit-memory-huge", ["fit", LENET, "--memory", BIG + "GiB"], "memory"),
    ("fit-too-small", ["fit", LENET, "--memory", "1KiB"], "batch 1"),
    ("explain-unknown-layer", ["explain", LENET, "--layer", "nope"], "nope"),
    ("compare-missing", ["compare", LENET, "/nonexistent.yaml"], "no such file"),
    ("show-depth-zero", ["show", LENET, "--depth", "0"], "--depth"),
    ("show-batch-csv", ["show", LENET, "--batch", "2", "--format", "csv"], "csv"),
    ("show-missing", ["show", "/nonexistent.yaml"], "no such file"),
    ("show-directory", ["show", "/"], "directory"),
]


@pytest.mark.parametrize("case", OPTIONS, ids=[c[0] for c in OPTIONS])
def test_options_refuse_garbage(case):
    _, args, says = case
    assert_refused(invoke(args), says=says)


def test_solve_rf_deep_stacks_are_instant():
    result = invoke(["solve", "--target-rf", "1000000", "--kernel", "2", "--stride", "2"])
    assert result.exit_code == 0 and "999999 conv layers" in result.stdout


# --- run and init: inputs, weights, budgets, and no half-written files ----------------------------------------

@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    d = tmp_path_factory.mktemp("arrays")
    np.save(d / "wrong.npy", np.zeros((31, 32, 1), np.float32))
    np.save(d / "wrong_batch.npy", np.zeros((2, 31, 32, 1), np.float32))
    np.save(d / "batch3.npy", np.zeros((3, 32, 32, 1), np.float32))
    np.save(d / "text_array.npy", np.array(["a"]))
    np.save(d / "complex.npy", np.zeros((32, 32, 1), np.complex64))
    np.save(d / "scalar.npy", np.float32(1))
    np.save(d / "empty.npy", np.zeros((0, 32, 32, 1), np.float32))
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "text.npy").write_text("hello world\n")
    (d / "zero.npy").write_bytes(b"")
    (d / "truncated.npy").write_bytes((d / "batch3.npy").read_bytes()[:200])
    np.savez(d / "archive.npz", a=np.zeros(3))
    from archcalc import load_spec
    from archcalc.engine.forward import init_params
    from archcalc.engine.weights import flatten_params

    w = flatten_params(init_params(load_spec(LENET)))
    np.savez(d / "w_missing.npz", **{k: v for k, v in w.items() if k != "c1.weight"})
    np.savez(d / "w_shape.npz", **{**w, "c1.weight": np.zeros((3, 3, 1, 6), np.float32)})
    np.savez(d / "w_extra.npz", **{**w, "extra.weight": np.zeros(1)})
    np.savez(d / "w_text.npz", **{**w, "c1.weight": np.array(["x"])})
    np.savez(d / "w_complex.npz", **{**w, "c1.weight": w["c1.weight"].astype(np.complex64)})
    np.save(d / "w_single.npy", np.zeros(3))
    return d


RUNS: list[tuple[str, list, str | None]] = [
    ("input-wrong-shape", ["--input", "{d}/wrong.npy"], "input has shape (31, 32, 1)"),
    ("input-wrong-batch-shape", ["--input", "{d}/wrong_batch.npy"], "input has shape"),
    ("input-batch-mismatch", ["--input", "{d}/batch3.npy", "--batch", "2"], "batch of 2 was asked for"),
    ("input-text-array", ["--input", "{d}/text_array.npy"], "not numbers"),
    ("input-complex", ["--input", "{d}/complex.npy"], "not numbers"),
    ("input-scalar", ["--input", "{d}/scalar.npy"], "input has shape ()"),
    ("input-empty-batch", ["--input", "{d}/empty.npy"], "empty"),
    ("input-pickled-objects", ["--input", "{d}/objects.npy"], "cannot read input"),
    ("input-text-file", ["--input", "{d}/text.npy"], "cannot read input"),
    ("input-zero-bytes", ["--input", "{d}/zero.npy"], "cannot read input"),
    ("input-truncated", ["--input", "{d}/truncated.npy"], "cannot read input"),
    ("input-archive", ["--input", "{d}/archive.npz"], "archive"),
    ("input-missing", ["--input", "{d}/missing.npy"], "not found"),
    ("input-and-random", ["--input", "{d}/wrong.npy", "--random"], "exactly one"),
    ("neither-input", [], "exactly one"),
    ("seed-negative", ["--random", "--seed", "-1"], "--seed"),
    ("batch-huge", ["--random", "--batch", "100000000000"], "more than the budget"),
    ("max-memory-text", ["--random", "--max-memory", "abc"], "max-memory"),
    ("max-memory-empty", ["--random", "--max-memory", ""], "max-memory"),
    ("max-memory-negative", ["--random", "--max-memory", "-1GiB"], "max-memory"),
    ("max-memory-zero", ["--random", "--max-memory", "0"], "positive"),
    ("max-memory-1e999", ["--random", "--max-memory", "1e999GiB"], "max-memory"),
    ("max-memory-400-digits", ["--random", "--max-memory", "9" * 400 + "GiB"], "max-memory"),
    ("max-memory-two-dots", ["--random", "--max-memory", "1.5.5GiB"], "max-memory"),
    ("max-memory-too-small", ["--random", "--max-memory", "1KiB"], "more than the budget"),
    ("weights-missing-key", ["--random", "--weights", "{d}/w_missing.npz"], "'weight' is missing"),
    ("weights-wrong-shape", ["--random", "--weights", "{d}/w_shape.npz"], "[5, 5, 1, 6]"),
    ("weights-extra-layer", ["--random", "--weights", "{d}/w_extra.npz"], "not a layer of the spec"),
    ("weights-text", ["--random", "--weights", "{d}/w_text.npz"], "c1"),
    ("weights-complex", ["--random", "--weights", "{d}/w_complex.npz"], "not numbers"),
    ("weights-single-npy", ["--random", "--weights", "{d}/w_single.npy"], "single array"),
    ("weights-text-file", ["--random", "--weights", "{d}/text.npy"], "cannot read weights"),
    ("weights-missing", ["--random", "--weights", "{d}/missing.npz"], "not found"),
    ("weights-directory", ["--random", "--weights", "{d}"], "directory"),
]


@pytest.mark.parametrize("case", RUNS, ids=[c[0] for c in RUNS])
def test_run_refuses_bad_input(arrays, case):
    _, args, says = case
    assert_refused(invoke(["run", LENET] + [a.replace("{d}", str(arrays)) for a in args]), says=says)


@pytest.mark.parametrize("spec,says", [
    ("input: [1000000000, 1000000000, 3]\nlayers: [{type: conv, filters: 2, kernel: 3}]\n", "more than the budget"),
    ("input: [4]\nlayers: [{type: dense, units: 1000000000000}]\n", "more than the budget"),
])
def test_run_refuses_absurd_sizes_before_allocating(tmp_path, spec, says):
    path = tmp_path / "s.yaml"
    path.write_text(spec)
    assert_refused(invoke(["run", path, "--random"]), says=says)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("target", ["missing_dir/out.npy", "."])
def test_run_save_refused_and_nothing_written(tmp_path, target):
    out = tmp_path / target if target else ""
    before = _leftovers(tmp_path)
    assert_refused(invoke(["run", LENET, "--random", "--save", out]), says="cannot write")
    assert _leftovers(tmp_path) == before


@pytest.mark.parametrize("target,says", [("missing_dir/w.npz", "cannot write"), (".", "must name a file"),
                                         ("", "must name a file")])
def test_init_output_refused_and_nothing_written(tmp_path, target, says):
    out = tmp_path / target if target else ""
    before = _leftovers(tmp_path)
    assert_refused(invoke(["init", LENET, "-o", out]), says=says)
    assert _leftovers(tmp_path) == before


@pytest.mark.parametrize("args,spec,says", [
    (["--seed", "-5"], None, "--seed"),
    ([], "input: [4]\nlayers: [{type: dense, units: 1000000000000}]\n", "not enough memory"),
    ([], "input: [1000000]\nlayers: [{type: dense, units: 1000000000000000}]\n", "not enough memory"),
    ([], "input: [4]\nlayers: [{type: dense, units: 0}]\n", "field 'units'"),
])
def test_init_refuses_and_writes_nothing(tmp_path, args, spec, says):
    source = LENET
    if spec:
        source = tmp_path / "s.yaml"
        source.write_text(spec)
    before = _leftovers(tmp_path)
    assert_refused(invoke(["init", source, "-o", tmp_path / "w.npz"] + args), says=says)
    assert _leftovers(tmp_path) == before


# --- issue 10 item 16, engine side: the wrong Python type is a clear TypeError, a bad value a SpecError ---------

def _tiny_net():
    import archcalc

    return archcalc.load_spec({"input": [4, 4, 1], "layers": [{"type": "conv", "filters": 2, "kernel": 3}]})


@pytest.mark.parametrize("params, message", [
    (None, r"params must be a mapping \{layer name: \{key: array\}\}.*got NoneType"),
    ([1], r"params must be a mapping.*got list"),
    ({"conv1": 5}, r"params\['conv1'\] must be a mapping \{key: array\}, got int"),
])
def test_forward_with_params_of_the_wrong_type_is_a_clear_type_error(params, message):
    import numpy as np

    import archcalc

    with pytest.raises(TypeError, match=message):
        archcalc.forward(_tiny_net(), np.ones((1, 4, 4, 1)), params)


@pytest.mark.parametrize("seed, error, message", [
    (-1, "SpecError", r"field 'seed': seed must be a whole number from 0 to 2\*\*128 - 1, got -1"),
    (2**200, "SpecError", r"seed must be a whole number"),
    ("a", "TypeError", r"seed must be an int, got str 'a'"),
    (1.5, "TypeError", r"seed must be an int, got float 1.5"),
    (True, "TypeError", r"seed must be an int, got bool True"),
])
def test_init_params_with_a_bad_seed(seed, error, message):
    import archcalc

    exc = {"SpecError": archcalc.SpecError, "TypeError": TypeError}[error]
    with pytest.raises(exc, match=message):
        archcalc.init_params(_tiny_net(), seed=seed)


def test_forward_with_a_huge_dtype_value_is_a_short_spec_error():
    import numpy as np

    import archcalc

    with pytest.raises(archcalc.SpecError, match=r"field 'dtype': dtype must be float32 or float64") as info:
        archcalc.forward(_tiny_net(), np.ones((1, 4, 4, 1)), archcalc.init_params(_tiny_net()), dtype=[1] * 10**6)
    assert len(str(info.value)) < 200


def test_run_with_a_negative_seed_exits_2(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [4, 4, 1]\nlayers:\n  - {type: conv, filters: 2, kernel: 3}\n")
    result = subprocess.run([sys.executable, "-m", "archcalc", "run", str(spec), "--random", "--seed", "-1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--seed" in result.stderr and "-1" in result.stderr and "Traceback" not in result.stderr


def test_the_issue_s_large_softmax_is_refused_by_the_default_budget_before_any_input(tmp_path):
    """Issue 10 item 6: [4000, 4000, 16] + softmax needs input, output, softmax's sums and the interpreter: 2.03 GiB."""
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [4000, 4000, 16]\nlayers:\n  - {type: activation, function: softmax}\n")
    result = subprocess.run([sys.executable, "-m", "archcalc", "run", str(spec), "--random"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "this run needs about 2.03 GiB" in result.stderr and "budget of 2.00 GiB" in result.stderr


def test_the_issue_s_large_batchnorm_fits_the_default_budget_with_its_output_written_in_place():
    import archcalc
    from archcalc.engine.forward import estimate_memory

    net = archcalc.load_spec({"input": [4000, 4000, 16], "layers": [{"type": "batchnorm"}]})
    estimate = estimate_memory(net, 1)
    assert estimate.activations == 2 * 4000 * 4000 * 16 * 4  # input and output, no temporary of x's size
    assert estimate.total <= 2 * 2**30
