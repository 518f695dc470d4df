"""conv_transpose: PyTorch's ConvTranspose output size, fvcore's MACs, U-Net's up-convolutions, exact fractional
receptive fields."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import ShapeError, SpecError
from archcalc.testing.strategies import conv_transpose_layers

from .kind_checks import check_engine, check_npz_round_trip, check_torch, net_of


def row(layer, shape):
    return archcalc.analyze(net_of(layer, shape)).rows[-1]


def test_unet_up_convolution():
    """U-Net's up4: 2x2 stride 2 from 28x28x1024 to 56x56x512 (the paper's Fig. 1)."""
    r = row({"type": "conv_transpose", "filters": 512, "kernel": 2, "stride": 2}, [28, 28, 1024])
    assert r.output_shape == (56, 56, 512)
    assert r.params == 2 * 2 * 1024 * 512 + 512 == 2_097_664
    assert r.macs == 28 * 28 * 1024 * 512 * 4 == 1_644_167_168  # fvcore: input positions x C_in x filters x taps


def test_pytorch_docs_examples():
    """torch.nn.ConvTranspose2d's docs: (3, 5) kernel, stride (2, 1), padding (4, 2) on 50x100 gives 93x100;
    3x3 stride 2 padding 1 on 6x6 gives 11x11, and 12x12 with output_padding 1 (the output_size example)."""
    r = row({"type": "conv_transpose", "filters": 33, "kernel": [3, 5], "stride": [2, 1], "padding": [4, 2]},
            [50, 100, 16])
    assert r.output_shape == (93, 100, 33)
    assert r.params == 3 * 5 * 16 * 33 + 33
    base = {"type": "conv_transpose", "filters": 16, "kernel": 3, "stride": 2, "padding": 1}
    assert row(base, [6, 6, 16]).output_shape == (11, 11, 16)
    assert row({**base, "output_padding": 1}, [6, 6, 16]).output_shape == (12, 12, 16)


def test_same_is_n_times_stride_and_groups_divide_params():
    r = row({"type": "conv_transpose", "filters": 8, "kernel": 3, "stride": 2, "padding": "same", "groups": 2},
            [7, 5, 4])
    assert r.output_shape == (14, 10, 8)  # Keras's Conv2DTranspose(padding="same"): N*S
    assert r.params == 3 * 3 * 4 * (8 // 2) + 8
    assert r.macs == 7 * 5 * 4 * (8 // 2) * 9


def test_receptive_field_is_exact_fractions():
    """conv 3x3 stride 2 then a 2x2 stride 2 transposed conv: jump 2 -> 1, size 3 + 1*1 = 4; then another
    transposed 2x2/2: jump 1/2, size 4 + 1/2 = 9/2 (README's conventions row)."""
    net = archcalc.load_spec({"input": [15, 15, 1], "layers": [
        {"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "padding": 1, "name": "c"},
        {"type": "conv_transpose", "filters": 2, "kernel": 2, "stride": 2, "name": "t1"},
        {"type": "conv_transpose", "filters": 2, "kernel": 2, "stride": 2, "name": "t2"}]})
    rows = archcalc.analyze(net).rows
    assert rows[1].receptive_field.jump == (1, 1) and rows[1].receptive_field.size == (4, 4)
    rf = rows[2].receptive_field
    assert rf.jump == (Fraction(1, 2),) * 2 and rf.size == (Fraction(9, 2),) * 2
    assert rows[1].receptive_field.start == (-0.5, -0.5)  # 0 + (0 - 1/2)*1
    assert rf.start == (Fraction(-3, 4),) * 2  # -1/2 + (0 - 1/2)*(1/2)
    assert rf.to_dict()["size"] == [4.5, 4.5]


@pytest.mark.parametrize("layer, field, words", [
    ({"output_padding": 2, "stride": 2}, "output_padding", "must be smaller than the stride (2) or the dilation (1)"),
    ({"output_padding": 1, "stride": 1}, "output_padding", "smaller than the stride (1)"),
    ({"groups": 3}, "groups", "groups 3 does not divide"),
    ({"padding": 9}, "padding", "crops away the whole output"),
    ({"padding": "same", "output_padding": 1, "stride": 2}, "output_padding", "not with padding 'same'"),
])
def test_clear_errors(layer, field, words):
    with pytest.raises(ShapeError) as exc:
        archcalc.analyze(net_of({"type": "conv_transpose", "filters": 4, "kernel": 3, **layer}, [5, 5, 4]))
    assert exc.value.field == field and words in str(exc.value)


def test_calc_and_explain_lines():
    from archcalc.learn.calc import calc

    text = calc("conv_transpose", "28x28x1024", filters=512, kernel="2", stride="2").text()
    assert "row: (28 - 1)*2 - 0 - 0 + 1*(2 - 1) + 0 + 1 = 56" in text
    assert "parameters: 2*2 * 1024 * 512/1 + 512 = 2,097,664" in text
    assert "MACs: 28*28 (input positions) * 1024 * 512/1 * 2*2 = 1,644,167,168" in text
    with pytest.raises(SpecError):
        calc("conv_transpose", "28x28x3", kernel="2")


@given(st.integers(1, 3), st.data())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_formula_engine_and_twin_agree(rank, data):
    layer = data.draw(conv_transpose_layers(rank))
    spatial = data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    try:
        net = net_of(layer, [*spatial, 3])
        r = archcalc.analyze(net).rows[-1]
    except ShapeError:
        assume(False)
    from archcalc import arith

    for n, a in zip(spatial, r.axes):
        if layer["padding"] == "same":
            assert a.out == n * a.s
        else:
            assert a.out == arith.conv_transpose_out_size(n, a.f, a.s, a.pb, a.pa, a.d,
                                                          layer.get("output_padding", 0))
    check_engine(net)


def test_weights_round_trip(tmp_path):
    check_npz_round_trip(net_of({"type": "conv_transpose", "filters": 6, "kernel": [2, 3], "stride": 2,
                                 "groups": 2}, [4, 5, 4]), tmp_path)


@pytest.mark.torch
@pytest.mark.parametrize("layer", [
    {"kernel": 2, "stride": 2},
    {"kernel": 3, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
    {"kernel": 3, "stride": 2, "padding": [[0, 2], [1, 0]], "dilation": 2, "output_padding": 1},
    {"kernel": 1, "stride": 3, "padding": "same", "activation": "relu"},
])
def test_torch_twin(layer):
    check_torch(net_of({"type": "conv_transpose", "filters": 4, **layer}, [5, 6, 4]))
