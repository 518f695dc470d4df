"""Issue 10 item 8 everywhere: a megabyte-long value is echoed in at most about 80 characters (errors.brief), in
every layer field, name, input reference and variable, through the real command line: exit 2, short lines, fast."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

BIG = "a" * (1 << 20)
SPECS = {
    "type": f"input: [8, 8, 1]\nlayers:\n  - type: {BIG}\n",
    "kernel_list": json.dumps({"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 1, "kernel": [3] * 10**6}]}),
    "kernel_entries": json.dumps({"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 1,
                                                                  "kernel": [3, "x" * 10**6]}]}),
    "duplicate_name": f"input: [8, 8, 1]\nlayers:\n  - {{type: conv, filters: 1, kernel: 3, name: {BIG}}}\n"
                      f"  - {{type: conv, filters: 1, kernel: 3, name: {BIG}}}\n",
    "inputs": f"input: [8, 8, 1]\nlayers:\n  - {{type: conv, filters: 1, kernel: 3, inputs: {BIG}}}\n",
    "huge_int": '{"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3, "stride": '
                + "9" * 70 + "}]}",
    "padding": f"input: [8, 8, 1]\nlayers:\n  - {{type: conv, filters: 1, kernel: 3, padding: {BIG}}}\n",
    "function": f"input: [8, 8, 1]\nlayers:\n  - {{type: activation, function: {BIG}}}\n",
    "variable": f"input: [8, 8, 1]\nlayers:\n  - {{type: conv, filters: 1, kernel: ${BIG}}}\n",
    "bias": f"input: [8, 8, 1]\nlayers:\n  - {{type: conv, filters: 1, kernel: 3, bias: {BIG}}}\n",
    "input_shape": f"input: {BIG}\nlayers:\n  - {{type: flatten}}\n",
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_a_megabyte_value_gives_a_short_message(tmp_path, case):
    path = tmp_path / ("s.json" if SPECS[case].startswith("{") else "s.yaml")
    path.write_text(SPECS[case])
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "archcalc", "show", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert time.monotonic() - start < 30
    assert result.returncode == 2, result.stderr[:500]
    assert "Traceback" not in result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert lines and max(map(len, lines)) <= 500, max(map(len, lines))
    assert len(result.stderr) < 2000
    assert "characters)" in result.stderr or "entries" in result.stderr or "…" in result.stderr \
        or "10**15" in result.stderr or "spatial axes" in result.stderr, result.stderr


def test_a_huge_int_from_python_is_a_short_spec_error():
    """Over 4,300 digits Python refuses to print an int: the message must not try."""
    import archcalc

    with pytest.raises(archcalc.SpecError) as info:
        archcalc.load_spec({"input": [8, 8, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 10**5000}]})
    assert len(str(info.value)) < 300 and "digits" in str(info.value)


def test_an_error_raised_by_a_rule_is_never_changed_on_its_way_up(monkeypatch):
    """R2's rule: errors are values; the walk raises a located copy (errors.ArchcalcException.located)."""
    import archcalc
    from archcalc.errors import ShapeError
    from archcalc.layers import REGISTRY

    original = ShapeError("does not fit", field="kernel")

    def rule(*args, **kwargs):
        raise original

    import dataclasses

    monkeypatch.setitem(REGISTRY, "flatten", dataclasses.replace(REGISTRY["flatten"], rule=rule))
    with pytest.raises(ShapeError) as info:
        archcalc.analyze(archcalc.load_spec({"input": [2, 2, 1], "layers": [{"type": "flatten", "name": "f"}]}))
    assert info.value is not original
    assert (info.value.layer_index, info.value.layer_name, info.value.field) == (0, "f", "kernel")
    assert (original.layer_index, original.layer_name, original.file) == (None, None, None)


@pytest.mark.parametrize("args", [
    ["explain", "{spec}", "--layer", "x" * 100_000],
    ["show", "{spec}", "--set", "k" * 100_000 + "=1"],
    ["sweep", "{spec}", "--vary", "k" * 100_000 + "=1"],
    ["calc", "conv", "--input", "8x8x1", "--filters", "1", "--kernel", "3x" * 50_000 + "3"],
], ids=["explain-layer", "show-set", "sweep-vary", "calc-kernel"])
def test_a_long_option_value_gives_a_short_message(tmp_path, args):
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [4, 4, 1]\nlayers:\n  - {type: conv, filters: 2, kernel: 3}\n")
    result = subprocess.run([sys.executable, "-m", "archcalc", *(a.replace("{spec}", str(spec)) for a in args)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr) < 400, result.stderr[:600]
