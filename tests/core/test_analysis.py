"""Layer rules beyond the shipped specs: rounding, graphs, every layer kind, 1-D and 3-D inputs."""

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


def test_padding_forms():
    conv = {"type": "conv", "filters": 2, "kernel": 3}
    assert analyze([8, 6, 1], {**conv, "padding": [1, 0]}).rows[0].output_shape == (8, 4, 2)
    assert analyze([8, 6, 1], {**conv, "padding": [[0, 1], [2, 0]]}).rows[0].output_shape == (7, 6, 2)
    assert analyze([8, 6, 1], {**conv, "padding": "valid"}).rows[0].output_shape == (6, 4, 2)
    assert analyze([8, 7, 1], {**conv, "kernel": [3, 1], "stride": [1, 2]}).rows[0].output_shape == (6, 4, 2)


def test_dilation_and_groups():
    r = analyze([9, 9, 8], {"type": "conv", "filters": 16, "kernel": 3, "dilation": 2, "groups": 4})
    row = r.rows[0]
    assert row.output_shape == (5, 5, 16)
    assert row.params == 3 * 3 * (8 // 4) * 16 + 16
    assert row.macs == 5 * 5 * 16 * 9 * 2
    assert row.receptive_field.size == (5, 5)


def test_depthwise_conv():
    r = analyze([14, 14, 32], {"type": "conv", "filters": 32, "kernel": 3, "padding": 1, "groups": 32, "bias": False})
    assert r.rows[0].params == 288
    assert r.rows[0].macs == 14 * 14 * 32 * 9


def test_batchnorm_params_split_like_keras():
    r = analyze([8, 8, 3], {"type": "conv", "filters": 16, "kernel": 3, "bias": False},
                {"type": "batchnorm"}, {"type": "activation", "function": "relu"})
    bn = r.rows[1]
    assert (bn.params, bn.trainable_params, bn.non_trainable_params) == (64, 32, 32)
    assert (r.totals.params, r.totals.trainable_params, r.totals.non_trainable_params) == (432 + 64, 432 + 32, 32)


def test_residual_graph_and_receptive_field_over_paths():
    r = analyze([8, 8, 4],
                {"type": "conv", "name": "a", "filters": 4, "kernel": 3, "padding": 1},
                {"type": "conv", "name": "b", "filters": 4, "kernel": 3, "padding": 1},
                {"type": "add", "name": "sum", "inputs": ["a", "b"]},
                {"type": "add", "name": "skip", "inputs": ["input", "sum"]})
    assert r.row("sum").output_shape == (8, 8, 4)
    assert r.row("sum").receptive_field.size == (5, 5)   # the longer path a -> b
    assert r.row("skip").receptive_field.size == (5, 5)
    assert r.row("b").inputs == ("a",)


def test_concat_channels_and_other_axes():
    branches = [{"type": "conv", "name": f"b{k}", "filters": 8 * k, "kernel": k, "padding": "same", "inputs": "input"}
                for k in (1, 3, 5)]
    r = analyze([28, 28, 192], *branches, {"type": "concat", "name": "cat", "inputs": ["b1", "b3", "b5"]})
    assert r.row("cat").output_shape == (28, 28, 8 + 24 + 40)
    assert r.row("cat").receptive_field.size == (5, 5)
    r = analyze([4, 6, 2], {"type": "flatten", "name": "f1", "inputs": "input"},
                {"type": "flatten", "name": "f2", "inputs": "input"}, {"type": "concat", "inputs": ["f1", "f2"], "axis": 0})
    assert r.rows[-1].output_shape == (96,)


def test_concat_of_unequal_spatial_sizes_is_refused():
    with pytest.raises(SpecError) as e:
        analyze([8, 8, 3], {"type": "conv", "name": "a", "filters": 4, "kernel": 3},
                 {"type": "conv", "name": "b", "filters": 4, "kernel": 1, "inputs": "input"},
                 {"type": "concat", "name": "cat", "inputs": ["a", "b"]})
    assert "layer 2 (cat)" in str(e.value) and "6x6x4" in str(e.value) and "8x8x4" in str(e.value)


def test_add_and_concat_need_two_inputs():
    with pytest.raises(SpecError, match="add joins two or more layers"):
        analyze([8, 8, 3], {"type": "conv", "filters": 3, "kernel": 1}, {"type": "add"})


def test_one_input_layers_refuse_two():
    with pytest.raises(SpecError, match="conv takes exactly one input"):
        analyze([8, 8, 3], {"type": "conv", "name": "a", "filters": 3, "kernel": 1},
                {"type": "conv", "filters": 3, "kernel": 1, "inputs": ["a", "input"]})


def test_one_dimensional_text_cnn():
    r = analyze([56, 300], {"type": "conv", "filters": 100, "kernel": 3, "activation": "relu"},
                {"type": "global_maxpool"}, {"type": "dense", "units": 2})
    assert r.rows[0].output_shape == (54, 100)
    assert r.rows[0].params == 3 * 300 * 100 + 100
    assert r.rows[0].receptive_field.size == (3,)
    assert r.rows[1].output_shape == (100,)
    assert r.rows[2].params == 202


def test_three_dimensional_conv_and_pool():
    r = analyze([16, 112, 112, 3], {"type": "conv", "filters": 64, "kernel": 3, "padding": 1},
                {"type": "maxpool", "kernel": [1, 2, 2]}, {"type": "global_avgpool"})
    assert r.rows[0].output_shape == (16, 112, 112, 64)
    assert r.rows[0].params == 27 * 3 * 64 + 64
    assert r.rows[1].output_shape == (16, 56, 56, 64)
    assert r.rows[1].receptive_field.size == (3, 4, 4)
    assert r.rows[2].output_shape == (64,)


def test_pool_stride_defaults_to_kernel_and_avgpool_has_no_params():
    r = analyze([32, 32, 3], {"type": "avgpool", "kernel": 2})
    assert r.rows[0].output_shape == (16, 16, 3) and r.rows[0].params == 0 and r.rows[0].macs == 0


def test_dense_flattens_a_multi_axis_input():
    r = analyze([6, 6, 256], {"type": "dense", "units": 4096})
    assert r.rows[0].params == 6 * 6 * 256 * 4096 + 4096
    assert r.rows[0].macs == 6 * 6 * 256 * 4096


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


def test_notes_valid_example_under_floor_warns_of_the_discarded_cells():
    # seed 001: 11x11 VALID with a 6x6 filter at stride 4 gives (2, 2, 1); the white cells are thrown away
    r = analyze([11, 11, 1], {"type": "conv", "name": "c", "filters": 1, "kernel": 6, "stride": 4,
                              "padding": "valid", "rounding": "floor"})
    assert r.rows[0].output_shape == (2, 2, 1)
    assert r.rows[0].warnings == ["c: 11 -> 2.25 floored to 2, the last row and column of the padded input are never read"]


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
