"""scale: a learnable factor per channel (ConvNeXt's layer scale); params C, or 2C with bias."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError

from .kindcheck import engine_agrees, net, weights_round_trip


def test_counts_with_and_without_bias():
    r = archcalc.analyze(net([56, 56, 96], {"type": "scale", "name": "s", "init": 1e-6},
                             {"type": "scale", "name": "t", "bias": True}))
    assert [(row.params, row.trainable_params, row.macs) for row in r.rows] == [(96, 96, 0), (192, 192, 0)]
    assert r.rows[0].output_shape == (56, 56, 96)


def test_init_sets_gamma_and_the_output():
    network = net([2, 2, 3], {"type": "scale", "name": "s", "init": 1e-6})
    params = archcalc.init_params(network)
    assert set(params["s"]) == {"gamma"}
    np.testing.assert_array_equal(params["s"]["gamma"], np.full(3, 1e-6, np.float32))
    x = np.arange(12.0).reshape(1, 2, 2, 3)
    np.testing.assert_allclose(archcalc.forward(network, x, params, dtype="float64"), x * np.float32(1e-6))


def test_gamma_and_beta_per_channel():
    network = net([1, 2, 2], {"type": "scale", "name": "s", "bias": True})
    params = {"s": {"gamma": np.array([2.0, -1.0]), "beta": np.array([0.5, 10.0])}}
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert archcalc.forward(network, x, params, dtype="float64").tolist() == [[[[2.5, 8.0], [6.5, 6.0]]]]


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), bias=st.booleans(), init=st.floats(-2, 2))
def test_engine_shape_and_twin(shape, bias, init):
    engine_agrees(net(shape, {"type": "scale", "bias": bias, "init": init}))


def test_weights_round_trip(tmp_path):
    back = weights_round_trip(net([4, 4, 6], {"type": "scale", "name": "s", "bias": True}), tmp_path)
    assert {k: v.shape for k, v in back["s"].items()} == {"gamma": (6,), "beta": (6,)}


@pytest.mark.parametrize("field,value", [("init", float("inf")), ("bias", "maybe"), ("factor", 2)])
def test_bad_fields(field, value):
    with pytest.raises(SpecError, match=field):
        net([4, 4, 6], {"type": "scale", field: value})
