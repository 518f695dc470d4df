"""Issue 13 item 7: expect checks receptive fields; an unknown expect key lists expect's keys.
Issue 13 item 14: the list of valid top-level fields names vars and blocks."""

from __future__ import annotations

import pytest

from archcalc import analyze, load_spec
from archcalc.errors import SpecError


def _net(expect):
    # 3x3 conv, then 3x3 conv of stride 2, then 2x2 pool: RF 3, 5, then 5 + (2-1)*2 = 7
    return load_spec({"input": [15, 15, 1], "layers": [
        {"type": "conv", "filters": 2, "kernel": 3, "padding": 1},
        {"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "padding": 1, "expect": {"receptive_field": 5}},
        {"type": "maxpool", "kernel": 2, "expect": expect}]})


@pytest.mark.parametrize("expect", [{"receptive_field": 7}, {"receptive_field": [7, 7]}, {"receptive_field": "7x7"}])
def test_expect_receptive_field_ok(expect):
    report = analyze(_net(expect))
    assert [r.expect.ok for r in report.rows[1:]] == [True, True]


def test_expect_receptive_field_mismatch():
    report = analyze(_net({"receptive_field": 5}))
    assert report.rows[2].expect.mismatches == [("receptive_field", (5, 5), (7, 7))]


def test_unknown_expect_key_lists_expects_keys():
    with pytest.raises(SpecError) as info:
        _net({"rf": 7})
    assert "valid fields: macs, params, receptive_field, shape" in str(info.value)


def test_valid_top_level_fields_include_vars_and_blocks():
    with pytest.raises(SpecError) as info:
        load_spec({"input": [4, 4, 1], "layers": [{"type": "flatten"}], "varz": {}})
    assert "blocks" in str(info.value) and "vars" in str(info.value)


def test_per_axis_values_written_3x3_everywhere():
    """Issue 13 item 14: kernel: 3x5 is accepted as input: 28x28x1 and calc --kernel 3x5 are."""
    net = load_spec({"input": "28x28x1", "layers": [
        {"type": "conv", "filters": 32, "kernel": "3x5", "padding": "1x2", "stride": "1x1"}]})
    report = analyze(net)
    assert report.output_shape == (28, 28, 32)  # (28 + 2 - 3) + 1 and (28 + 4 - 5) + 1
    assert report.totals.params == 3 * 5 * 1 * 32 + 32


def test_a_list_where_an_int_belongs_is_echoed():
    with pytest.raises(SpecError) as info:
        load_spec({"input": [8, 8, 1], "layers": [{"type": "conv", "filters": [32], "kernel": 3}]})
    assert "got [32]" in str(info.value)


def test_calc_and_show_give_the_same_hints():
    from archcalc.learn.calc import calc

    with pytest.raises(SpecError) as info:
        analyze(load_spec({"input": [32, 32, 3], "layers": [
            {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "padding": 1}]}))
    hint = "padding 1 before and 2 after gives 17; padding same gives 16; stride 1 gives 32"
    assert hint in str(info.value)
    assert hint in calc("conv", "32x32x3", kernel="3", stride="2", padding="1", filters=8).text()


def test_a_two_number_input_is_said_to_be_1d():
    """Issue 13 item 10: input 28x28 is 1-D (28 positions x 28 channels): warned, and shown so in the header."""
    from archcalc.output.format import input_text

    report = analyze(load_spec({"input": "28x28", "layers": [{"type": "conv", "filters": 8, "kernel": 3}]}))
    assert report.warnings[0] == ("input 28x28 is read as 1-D: 28 positions x 28 channels; for a 28x28 image "
                                  "with one channel write [28, 28, 1]")
    assert input_text(report.input_shape) == "28 positions x 28 channels (1-D)"
    with pytest.raises(SpecError) as info:
        load_spec({"input": "28x28", "layers": [{"type": "conv", "filters": 8, "kernel": [3, 3]}]})
    assert "for an image with one channel write 28x28x1" in str(info.value)
