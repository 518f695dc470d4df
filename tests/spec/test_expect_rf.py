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
