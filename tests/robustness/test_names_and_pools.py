"""Layer names that would be unsafe as .npz member names or that hide characters, non-string names, and pools whose
windows could lie wholly in the padding (issue 10, items 10-12 and 14): exit 2 with one line naming layer and field."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.errors import SpecError


def show(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["show", str(path)])


def refused(result, *phrases):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 3, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def one_conv(name: str) -> str:
    return f"input: [4, 4, 1]\nlayers:\n  - {{type: conv, filters: 1, kernel: 1, name: {name}}}\n"


@pytest.mark.parametrize("name", ['"/etc/cron.d/x"', '"../../x"', '"a/../b"', '"./a"', '"a/."', '".."', '"a/./b"'])
def test_names_that_escape_an_archive_are_refused(tmp_path, name):
    refused(show(tmp_path, one_conv(name)), "layer 0", "field 'name'", "must not start with '/'")


@pytest.mark.parametrize("name", ['"a/b"', '"res2.1/conv1"', '"a..b"', '"x./y"', '"..a/b"'])
def test_block_style_names_are_fine(tmp_path, name):
    assert show(tmp_path, one_conv(name)).exit_code == 0


@pytest.mark.parametrize("char", ["\\u202e", "\\u202d", "\\u2066", "\\u200b", "\\u200d", "\\ufeff", "\\u2060"])
def test_invisible_and_direction_changing_characters_are_refused(tmp_path, char):
    result = show(tmp_path, one_conv(f'"conv{char}1"'))
    refused(result, "field 'name'", "invisible or direction-changing", f"U+{char[2:].upper()}")
    assert "\u202e" not in result.stderr and "\u200b" not in result.stderr  # quoted escaped, never raw


@pytest.mark.parametrize("name", ["7", "1.5", "yes", "[a, b]", "{a: 1}", "''", '"  "'])
def test_a_name_that_is_not_a_string_is_a_clean_error(tmp_path, name):
    refused(show(tmp_path, one_conv(name)), "layer 0", "field 'name'", "name must be a non-empty string")


@pytest.mark.parametrize("name", [7, 1.5, True, ["a"], {"a": 1}, "/x", "a\u202eb"])
def test_the_api_raises_a_spec_error_that_prints(name):
    with pytest.raises(SpecError) as info:
        archcalc.load_spec({"input": [4, 4, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 1, "name": name}]})
    assert "field 'name'" in str(info.value)


def pool(kind: str, kernel, padding, extra: str = "") -> str:
    return f"input: [4, 4, 1]\nlayers:\n  - {{type: {kind}, name: p, kernel: {kernel}, padding: {padding}{extra}}}\n"


@pytest.mark.parametrize("kind", ["avgpool", "maxpool"])
@pytest.mark.parametrize("kernel, padding", [(1, 1), (2, 2), (2, "[[0, 2], [0, 0]]"), (3, "[0, 3]"), (1, "[[1, 0], [0, 0]]")])
def test_a_pool_window_that_could_read_only_padding_is_refused(tmp_path, kind, kernel, padding):
    refused(show(tmp_path, pool(kind, kernel, padding, ", stride: 1, rounding: floor")),
            "layer 0 (p)", "field 'padding'", "not smaller than the kernel")


@pytest.mark.parametrize("kind", ["avgpool", "maxpool"])
@pytest.mark.parametrize("kernel, padding", [(2, 1), (3, 2), (3, "[[0, 2], [2, 0]]"), (1, "same"), (4, "same")])
def test_padding_smaller_than_the_kernel_and_same_are_accepted(tmp_path, kind, kernel, padding):
    assert show(tmp_path, pool(kind, kernel, padding, ", stride: 1")).exit_code == 0


def test_run_of_a_refused_pool_prints_no_nan(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(pool("avgpool", 1, 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--random"])
    assert result.exit_code == 2 and "nan" not in result.output.lower()
