"""Issue 13 item 13: YAML syntax errors point at the likely line, quote it, and say the problem in plain words."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from archcalc.cli import main

CASES = {
    "missing colon": ("name: x\ninput [28, 28, 1]\nlayers:\n  - {type: flatten}\n", 2, "input [28, 28, 1]",
                      "missing ':' after the key"),
    "unclosed brace": ("name: x\ninput: [28, 28, 1]\nlayers:\n  - {type: conv, filters: 8, kernel: 3\n"
                       "  - {type: flatten}\n", 4, "  - {type: conv, filters: 8, kernel: 3",
                       "the { opened on this line is not closed with }"),
    "unclosed bracket": ("name: x\ninput: [28, 28, 1\nlayers:\n  - type: flatten\n", 2, "input: [28, 28, 1",
                         "the [ opened on this line is not closed with ]"),
    "over-indented key": ("name: x\ninput: [28, 28, 1]\nlayers:\n  - type: conv\n     filters: 8\n", 5,
                          "     filters: 8", "indented more than the key above it"),
    "tab": ("name: x\ninput: [28, 28, 1]\nlayers:\n\t- type: flatten\n", 4, "→- type: flatten",
            "YAML indents with spaces only"),
    "unclosed quote": ('name: "x\ninput: [1]\n', 1, 'name: "x', "the quote opened on this line is not closed"),
}


@pytest.mark.parametrize("case", CASES)
def test_yaml_error_points_at_the_line_and_quotes_it(case, tmp_path):
    text, line, quoted, words = CASES[case]
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["show", str(spec)])
    assert result.exit_code == 2
    err = result.stderr
    assert f"line {line}: not valid YAML: " in err and words in err, err
    assert f"    {line} | {quoted}\n" in err, err
    assert "Traceback" not in err
