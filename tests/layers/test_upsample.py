"""upsample: N * scale, nearest and bilinear (align_corners false) as PyTorch and Keras resize."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.engine import kernels as K
from archcalc.testing.strategies import LAYERS

from .kind_checks import check_engine, check_torch, net_of


def test_output_size_and_no_params():
    r = archcalc.analyze(net_of({"type": "upsample", "scale": [2, 3]}, [28, 10, 3])).rows[-1]
    assert (r.output_shape, r.params, r.macs) == ((56, 30, 3), 0, 0)


def test_bilinear_matches_hand_values():
    """1-D, scale 2, align_corners false: sources (i + 0.5)/2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 ->
    [0, 0.25, 0.75, 1] of the input [0, 1]; nearest repeats."""
    x = np.array([[[0.0], [1.0]]])
    np.testing.assert_allclose(K.upsample(x, (2,), "bilinear")[0, :, 0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(K.upsample(x, (2,), "nearest")[0, :, 0], [0.0, 0.0, 1.0, 1.0])


def test_receptive_field():
    """jump halves; nearest keeps the size, bilinear adds one input step; start moves by -(S-1)/(2S)."""
    near = archcalc.analyze(net_of({"type": "upsample", "scale": 2}, [8, 8, 1])).rows[-1].receptive_field
    bil = archcalc.analyze(net_of({"type": "upsample", "scale": 2, "mode": "bilinear"}, [8, 8, 1])).rows[-1]
    assert (near.size, float(near.jump[0]), float(near.start[0])) == ((1, 1), 0.5, -0.25)
    assert bil.receptive_field.size == (2, 2)


def test_calc():
    from archcalc.learn.calc import calc

    assert "row: 28 * 2 = 56" in calc("upsample", "28x28x3", scale="2").text()


@given(st.data())
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_formula_engine_and_twin_agree(data):
    layer = data.draw(LAYERS["upsample"]())
    spatial = data.draw(st.lists(st.integers(1, 5), min_size=2, max_size=2))
    net = net_of(layer, [*spatial, 2])
    scale = layer["scale"] if isinstance(layer["scale"], list) else [layer["scale"]] * 2
    assert archcalc.analyze(net).rows[-1].output_shape == (spatial[0] * scale[0], spatial[1] * scale[1], 2)
    check_engine(net)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape", [[5, 3], [4, 5, 3], [3, 4, 2, 3]])
def test_torch_twin(mode, shape):
    check_torch(net_of({"type": "upsample", "scale": 2 if len(shape) != 3 else [2, 3], "mode": mode}, shape))
