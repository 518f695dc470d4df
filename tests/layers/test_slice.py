"""slice: ShuffleNetV2's channel split (116 -> 58 + 58), Python's half-open range."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import ShapeError, SpecError
from archcalc.testing.strategies import LAYERS

from .kind_checks import check_engine, check_torch, net_of


def test_shufflenet_channel_split():
    net = archcalc.load_spec({"input": [28, 28, 116], "layers": [
        {"type": "slice", "start": 0, "stop": 58, "name": "a", "inputs": "input"},
        {"type": "slice", "start": 58, "stop": 116, "name": "b", "inputs": "input"},
        {"type": "concat", "inputs": ["a", "b"], "name": "cat"}]})
    rows = archcalc.analyze(net).rows
    assert [r.output_shape for r in rows] == [(28, 28, 58), (28, 28, 58), (28, 28, 116)]
    x = np.random.default_rng(0).standard_normal((1, 28, 28, 116))
    np.testing.assert_array_equal(archcalc.forward(net, x, {}, dtype="float64"), x)


def test_spatial_slice_moves_the_receptive_field():
    r = archcalc.analyze(net_of({"type": "slice", "axis": 1, "start": 2, "stop": 5}, [6, 7, 3])).rows[-1]
    assert r.output_shape == (6, 3, 3) and r.receptive_field.start == (0, 2)


def test_outside_the_channels():
    with pytest.raises(ShapeError) as exc:
        archcalc.analyze(net_of({"type": "slice", "start": 0, "stop": 60}, [4, 4, 58]))
    assert "slice 0:60 is outside the 58 channels of 'input'" in str(exc.value)
    with pytest.raises(ShapeError, match="axis 3 is out of range"):
        archcalc.analyze(net_of({"type": "slice", "axis": 3, "stop": 1}, [4, 4, 58]))
    with pytest.raises(SpecError, match="start < stop"):
        net_of({"type": "slice", "start": 3, "stop": 3}, [4, 4, 58])


@given(st.data())
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_formula_engine_and_twin_agree(data):
    layer = data.draw(LAYERS["slice"]())
    net = net_of(layer, [4, 5, 6])
    try:
        r = archcalc.analyze(net).rows[-1]
    except ShapeError:
        assume(False)
    axis = layer["axis"] % 3
    assert r.output_shape[axis] == layer["stop"] - layer["start"]
    check_engine(net)


@pytest.mark.torch
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_torch_twin(axis):
    check_torch(net_of({"type": "slice", "axis": axis, "start": 1, "stop": 3}, [4, 5, 6]))
