"""The walk over a net: expect, default names, unused outputs, peak memory, round trips, variables (per-kind rules
are in tests/layers/)."""

import pytest

import archcalc
from archcalc.errors import SpecError


def analyze(input_shape, *layers, **top):
    return archcalc.analyze(archcalc.load_spec({"input": input_shape, "layers": list(layers), **top}))


def test_expect_mismatch_is_reported_not_raised():
    r = analyze([8, 8, 3], {"type": "conv", "name": "c", "filters": 4, "kernel": 3,
                            "expect": {"shape": [8, 8, 4], "params": 112, "macs": 1}})
    row = r.rows[0]
    assert not row.expect.ok
    assert {m[0] for m in row.expect.mismatches} == {"shape", "macs"}
    assert r.expect_failures == [row]


def test_expect_accepts_the_notes_shape_text():
    r = analyze("227x227x3", {"type": "conv", "filters": 96, "kernel": 11, "stride": 4, "expect": "55x55x96"})
    assert r.rows[0].expect.ok


def test_default_names_count_per_type_and_skip_taken_names():
    net = archcalc.load_spec({"input": [8, 8, 3], "layers": [
        {"type": "conv", "filters": 3, "kernel": 1}, {"type": "conv", "name": "conv2", "filters": 3, "kernel": 1},
        {"type": "conv", "filters": 3, "kernel": 1}, {"type": "maxpool", "kernel": 2}]})
    assert [l.name for l in net.layers] == ["conv1", "conv2", "conv3", "maxpool1"]


def test_unused_output_is_a_warning():
    r = analyze([8, 8, 3], {"type": "conv", "name": "dead", "filters": 3, "kernel": 1},
                {"type": "conv", "name": "live", "filters": 3, "kernel": 1, "inputs": "input"})
    assert r.warnings and r.warnings[0].startswith("dead: its output is never used")


def test_peak_activation_memory_frees_dead_tensors():
    r = analyze([10, 10, 1], {"type": "conv", "filters": 1, "kernel": 1}, {"type": "conv", "filters": 1, "kernel": 1},
                {"type": "conv", "filters": 1, "kernel": 1})
    assert r.totals.activation_elements == 300
    assert r.totals.peak_activation_elements == 200  # never more than one input and one output alive


def test_json_round_trip_of_a_network():
    net = archcalc.load_spec({"input": [32, 32, 3], "rounding": "floor", "layers": [
        {"type": "conv", "filters": 8, "kernel": [3, 5], "padding": [[0, 1], [2, 2]], "bias": "per_position"},
        {"type": "maxpool", "kernel": 2, "stride": 2}, {"type": "activation", "function": "leaky_relu", "alpha": 0.2}]})
    again = archcalc.load_spec(net.to_data())
    assert again == net
    assert archcalc.analyze(again).to_dict() == archcalc.analyze(net).to_dict()


def test_variables_with_integer_arithmetic():
    net = archcalc.load_spec({"vars": {"k": 8}, "input": [8, 8, 3],
                              "layers": [{"type": "conv", "filters": "$k * 2 + 1", "kernel": 1}]})
    assert net.layers[0].filters == 17
    with pytest.raises(SpecError, match=r"unknown variable \$q"):
        archcalc.load_spec({"vars": {"k": 8}, "input": [8, 8, 3],
                            "layers": [{"type": "conv", "filters": "$q * 2", "kernel": 1}]})
    with pytest.raises(SpecError, match="cannot evaluate"):
        archcalc.load_spec({"vars": {"k": 8}, "input": [8, 8, 3],
                            "layers": [{"type": "conv", "filters": "$k ** 99", "kernel": 1}]})
