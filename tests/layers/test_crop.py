"""crop: by count, or `like: NAME` (U-Net's centre crop, the odd cell after), resolved as inputs are."""

import numpy as np
import pytest

import archcalc
from archcalc.errors import ArchcalcError, ShapeError, SpecError

from .kind_checks import check_engine, check_torch, net_of


def test_unet_first_crop():
    """U-Net: the 568x568x64 encoder map is cropped to the 392x392 of the first up-convolution (88 each side)."""
    net = archcalc.load_spec({"input": [568, 568, 64], "layers": [
        {"type": "maxpool", "kernel": 2, "name": "down"},  # 284
        {"type": "crop", "cropping": 46, "name": "small"},  # 192: stands in for the decoder's 196 -> 392
        {"type": "conv_transpose", "filters": 64, "kernel": 2, "stride": 2, "name": "up"},  # 384
        {"type": "crop", "inputs": "input", "like": "up", "name": "crop"}]})
    r = archcalc.analyze(net).rows[-1]
    assert r.output_shape == (384, 384, 64)
    assert r.receptive_field.start == (92, 92)  # (568 - 384) / 2 cells dropped before


def test_like_odd_difference_goes_after():
    net = archcalc.load_spec({"input": [7, 8, 1], "layers": [
        {"type": "crop", "cropping": [[1, 1], [2, 1]], "name": "t"},  # 5x5
        {"type": "crop", "inputs": "input", "like": "t", "name": "c"}]})
    from archcalc.layers.crop import row_crops

    row = archcalc.analyze(net).rows[-1]
    assert row.output_shape == (5, 5, 1) and row_crops(row) == ((1, 1), (1, 2))
    x = np.arange(56, dtype=np.float64).reshape(1, 7, 8, 1)
    np.testing.assert_array_equal(archcalc.forward(net, x, {})[0, :, :, 0], x[0, 1:6, 1:6, 0])


def test_like_inside_a_block_is_prefixed():
    net = archcalc.load_spec({"input": [9, 9, 2], "blocks": {"b": {"layers": [
        {"type": "conv", "filters": 2, "kernel": 3, "name": "small"},
        {"type": "crop", "inputs": "input", "like": "small", "name": "crop"},
        {"type": "concat", "inputs": ["small", "crop"], "name": "cat"}]}},
        "layers": [{"block": "b", "name": "u1"}]})
    crop = net.layer_by_name()["u1/crop"]
    assert crop.like == "u1/small"
    assert archcalc.analyze(net).rows[-1].output_shape == (7, 7, 4)


@pytest.mark.parametrize("layers, words", [
    ([{"type": "crop", "cropping": 4, "name": "c"}], "crop of 4 + 4 leaves nothing of 7"),
    ([{"type": "crop", "like": "nowhere", "name": "c"}], "like names 'nowhere', but no layer has that name"),
    ([{"type": "crop", "like": "later", "name": "c"}, {"type": "dropout", "name": "later"}], "comes later"),
    ([{"type": "pad", "padding": 1, "name": "big"}, {"type": "crop", "inputs": "input", "like": "big", "name": "c"}],
     "larger than the input's 7: a crop cannot enlarge"),
    ([{"type": "crop", "name": "c"}], "exactly one of cropping"),
    ([{"type": "crop", "cropping": 1, "like": "input", "name": "c"}], "exactly one of cropping"),
])
def test_clear_errors(layers, words):
    with pytest.raises(ArchcalcError) as exc:
        archcalc.analyze(archcalc.load_spec({"input": [7, 7, 1], "layers": layers}))
    assert words in str(exc.value)
    assert isinstance(exc.value, (ShapeError, SpecError))


@pytest.mark.parametrize("cropping", [1, [0, 1], [[0, 2], [1, 0]]])
def test_engine_and_twin(cropping):
    net = net_of({"type": "crop", "cropping": cropping}, [5, 6, 2])
    spatial = archcalc.analyze(net).rows[-1].output_shape[:-1]
    pairs = net.layers[-1].cropping
    assert spatial == tuple(n - b - a for n, (b, a) in zip((5, 6), pairs))
    check_engine(net)


@pytest.mark.torch
def test_torch_twin():
    check_torch(archcalc.load_spec({"input": [9, 8, 2], "layers": [
        {"type": "crop", "cropping": [[1, 2], [0, 3]], "name": "t"},
        {"type": "crop", "inputs": "input", "like": "t", "name": "c"},
        {"type": "concat", "inputs": ["t", "c"], "name": "cat"}]}))
