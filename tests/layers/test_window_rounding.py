"""Window layers (conv, pools) whose windows do not tile the input: strict, floor, ceil and SAME."""

import pytest

import archcalc
from archcalc.errors import SpecError


def analyze(input_shape, *layers, **top):
    return archcalc.analyze(archcalc.load_spec({"input": input_shape, "layers": list(layers), **top}))



def test_floor_rounding_warns_about_the_lost_row_and_column():
    r = analyze([224, 224, 3], {"type": "conv", "name": "conv1", "filters": 64, "kernel": 7, "stride": 2,
                                "padding": 3, "rounding": "floor"})
    assert r.rows[0].output_shape == (112, 112, 64)
    assert r.rows[0].warnings == [
        "conv1: 224 -> 112.5 floored to 112, the last row and column of the padded input are never read"]


def test_net_wide_rounding_and_per_layer_override():
    r = analyze([112, 112, 64],
                {"type": "maxpool", "name": "p", "kernel": 3, "stride": 2, "rounding": "ceil"},
                {"type": "maxpool", "name": "q", "kernel": 3, "stride": 2}, rounding="floor")
    assert r.rows[0].output_shape == (56, 56, 64)   # ceil(55.5)
    assert r.rows[1].output_shape == (27, 27, 64)   # floor(27.5)
    assert "ceiled to 56" in r.rows[0].warnings[0]
    assert "floored to 27" in r.rows[1].warnings[0]


def test_strict_is_the_default_and_names_layer_and_arithmetic():
    with pytest.raises(SpecError) as e:
        analyze([7, 7, 1], {"type": "conv", "name": "c", "filters": 1, "kernel": 3, "stride": 3})
    text = str(e.value)
    assert "layer 0 (c)" in text
    assert "(7 - 3)/3 + 1 = 2.33" in text
    assert "padding 1 gives 3" in text and "stride 2 gives 3" in text


def test_same_is_never_a_rounding_error():
    r = analyze([11, 11, 1], {"type": "conv", "filters": 1, "kernel": 6, "stride": 4, "padding": "same"})
    assert r.rows[0].output_shape == (3, 3, 1)
    assert [(a.pb, a.pa) for a in r.rows[0].axes] == [(1, 2), (1, 2)]
    assert r.rows[0].warnings == []
    r = analyze([28, 28, 1], {"type": "conv", "filters": 5, "kernel": 3, "stride": 2, "padding": "SAME"})
    assert r.rows[0].output_shape == (14, 14, 5)


def test_notes_valid_example_under_floor_warns_of_the_discarded_cells():
    # seed 001: 11x11 VALID with a 6x6 filter at stride 4 gives (2, 2, 1); the white cells are thrown away
    r = analyze([11, 11, 1], {"type": "conv", "name": "c", "filters": 1, "kernel": 6, "stride": 4,
                              "padding": "valid", "rounding": "floor"})
    assert r.rows[0].output_shape == (2, 2, 1)
    assert r.rows[0].warnings == ["c: 11 -> 2.25 floored to 2, the last row and column of the padded input are never read"]


def test_pool_stride_defaults_to_kernel_and_avgpool_has_no_params():
    r = analyze([32, 32, 3], {"type": "avgpool", "kernel": 2})
    assert r.rows[0].output_shape == (16, 16, 3) and r.rows[0].params == 0 and r.rows[0].macs == 0
