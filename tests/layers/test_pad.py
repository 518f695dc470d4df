"""pad: Keras's ZeroPadding (and a constant value), N + P_before + P_after."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError
from archcalc.testing.strategies import LAYERS

from .kind_checks import check_engine, check_torch, net_of


def test_alphago_board_padded_to_21():
    r = archcalc.analyze(net_of({"type": "pad", "padding": 1}, [19, 19, 48])).rows[-1]
    assert (r.output_shape, r.params, r.macs) == ((21, 21, 48), 0, 0)
    assert r.receptive_field.start == (-1, -1)  # unit 0 sits on the padding before the board


def test_pairs_and_value():
    net = net_of({"type": "pad", "padding": [[0, 2], [1, 0]], "value": -1.5}, [2, 2, 1])
    assert archcalc.analyze(net).rows[-1].output_shape == (4, 3, 1)
    y = archcalc.forward(net, np.ones((1, 2, 2, 1)), {})
    assert y[0, :, :, 0].tolist() == [[-1.5, 1, 1], [-1.5, 1, 1], [-1.5, -1.5, -1.5], [-1.5, -1.5, -1.5]]


@pytest.mark.parametrize("padding", ["same", -1, [[1, 2, 3]], 1.5])
def test_bad_padding(padding):
    with pytest.raises(SpecError) as exc:
        net_of({"type": "pad", "padding": padding}, [4, 4, 1])
    assert "padding" in str(exc.value)


@given(st.data())
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_formula_engine_and_twin_agree(data):
    layer = data.draw(LAYERS["pad"]())
    spatial = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=2))
    net = net_of(layer, [*spatial, 2])
    pads = archcalc.analyze(net).rows[-1].layer.padding
    assert archcalc.analyze(net).rows[-1].output_shape == tuple(n + b + a for n, (b, a) in zip(spatial, pads)) + (2,)
    check_engine(net)


@pytest.mark.torch
def test_torch_twin():
    check_torch(net_of({"type": "pad", "padding": [[0, 2], [1, 3]], "value": 0.5}, [4, 5, 3]))
