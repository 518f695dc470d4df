"""The activations of 2017-2022 nets: relu6, hardsigmoid, hardswish, silu (swish), gelu (erf, or tanh), both as a
layer and as `activation:` on conv and dense."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError

from .kindcheck import engine_agrees, net

NEW = ["relu6", "hardsigmoid", "hardswish", "silu", "gelu"]
X = [-7.0, -3.0, -1.0, 0.0, 1.0, 3.0, 7.0]
PHI = [0.5 * (1 + math.erf(v / math.sqrt(2))) for v in X]
TANH = [0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))) for v in X]
# written from the definitions (PyTorch's docs): relu6 min(max(0,x),6), hardsigmoid relu6(x+3)/6, ...
WANT = {
    "relu6": [0, 0, 0, 0, 1, 3, 6],
    "hardsigmoid": [0, 0, 2 / 6, 3 / 6, 4 / 6, 1, 1],
    "hardswish": [0, 0, -2 / 6, 0, 4 / 6, 3, 7],
    "silu": [v / (1 + math.exp(-v)) for v in X],
    "gelu": [v * p for v, p in zip(X, PHI)],
}


def _run(layer, x=X):
    network = net([len(x), 1], {"name": "f", **layer})
    return archcalc.forward(network, np.array(x).reshape(1, -1, 1), {}, dtype="float64").ravel().tolist()


@pytest.mark.parametrize("fn", NEW)
def test_values_by_hand(fn):
    np.testing.assert_allclose(_run({"type": "activation", "function": fn}), WANT[fn], rtol=1e-7, atol=1e-12)


def test_swish_is_silu_and_gelu_tanh():
    layer = net([2, 1], {"type": "activation", "function": "Swish"}).layers[0]
    assert layer.function == "silu"
    np.testing.assert_allclose(_run({"type": "activation", "function": "gelu", "approximate": "tanh"}),
                               [v * t for v, t in zip(X, TANH)], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", NEW + ["swish"])
def test_on_conv_and_dense(fn):
    network = net([4, 4, 3], {"type": "conv", "filters": 4, "kernel": 3, "activation": fn, "name": "c"},
                  {"type": "dense", "units": 5, "activation": fn, "name": "d"})
    r = archcalc.analyze(network)
    assert [row.params for row in r.rows] == [3 * 3 * 3 * 4 + 4, 2 * 2 * 4 * 5 + 5]  # activations add none
    engine_agrees(network)


@settings(max_examples=20, deadline=None)
@given(fn=st.sampled_from(NEW), shape=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_engine_shape_and_twin(fn, shape):
    got = engine_agrees(net(shape, {"type": "activation", "function": fn, "name": "f"}))
    assert got["f"].shape[1:] == tuple(shape)


@pytest.mark.parametrize("layer,match", [
    ({"function": "relu6", "approximate": "tanh"}, "approximate applies to gelu only"),
    ({"function": "gelu", "approximate": "sigmoid"}, "approximate"),
    ({"function": "hardswish", "alpha": 0.1}, "alpha applies to leaky_relu and elu only"),
    ({"function": "mish"}, "function"),
])
def test_bad_settings(layer, match):
    with pytest.raises(SpecError, match=match):
        net([4, 4, 3], {"type": "activation", **layer})
