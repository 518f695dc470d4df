"""multiply (and add): elementwise, NumPy broadcasting on the channels-last shapes; 0 params, MACs not counted."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError

from .kindcheck import engine_agrees, net

SE = [{"type": "conv", "name": "map", "filters": 16, "kernel": 3, "padding": 1},
      {"type": "global_avgpool", "name": "squeeze"},
      {"type": "dense", "name": "reduce", "units": 4, "activation": "relu"},
      {"type": "dense", "name": "expand", "units": 16, "activation": "sigmoid"}]


@pytest.mark.parametrize("kind", ["multiply", "add"])
def test_squeeze_and_excitation_gate_scales_each_channel(kind):
    network = net([8, 8, 3], *SE, {"type": kind, "name": "gate", "inputs": ["map", "expand"]})
    r = archcalc.analyze(network)
    row = r.row("gate")
    assert (row.output_shape, row.params, row.macs) == ((8, 8, 16), 0, 0)
    assert row.receptive_field.size == (3, 3)  # the gate has no spatial axes: the map's field
    got = engine_agrees(network)
    op = np.multiply if kind == "multiply" else np.add
    np.testing.assert_allclose(got["gate"], op(got["map"], got["expand"][:, None, None, :]), rtol=1e-12)


def test_a_1x1xC_gate_and_three_inputs():
    r = archcalc.analyze(net([4, 4, 6], {"type": "conv", "name": "g", "filters": 6, "kernel": 4},
                             {"type": "multiply", "inputs": ["input", "g", "input"]}))
    assert r.rows[0].output_shape == (1, 1, 6) and r.rows[1].output_shape == (4, 4, 6)


def test_a_pair_that_does_not_broadcast_names_both_shapes():
    with pytest.raises(SpecError) as e:
        archcalc.analyze(net([56, 56, 16], {"type": "dense", "name": "b", "units": 8, "inputs": "input"},
                             {"type": "multiply", "name": "m", "inputs": ["input", "b"]}))
    msg = str(e.value)
    assert "multiply needs inputs that broadcast" in msg and "input: 56x56x16" in msg and "b: 8" in msg
    assert "(m)" in msg


def test_one_input_is_refused():
    with pytest.raises(SpecError, match="two or more"):
        archcalc.analyze(net([4, 4, 2], {"type": "multiply", "inputs": ["input"]}))


shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3)


@settings(max_examples=30, deadline=None)
@given(big=st.lists(st.integers(1, 3), min_size=2, max_size=4), data=st.data(),
       kind=st.sampled_from(["multiply", "add"]))
def test_output_shape_is_numpys_broadcast_and_engine_agrees(big, data, kind):
    # the second input: the first pooled to [C], or to its shape with some spatial axes set to 1
    vector = data.draw(st.booleans())
    output = [data.draw(st.sampled_from([1, n])) for n in big[:-1]]
    gate = {"type": "global_maxpool", "name": "g"} if vector else \
        {"type": "adaptive_avgpool", "name": "g", "output": output}
    first, second = data.draw(st.permutations(["a", "g"]))
    network = net(big, {"type": "activation", "function": "tanh", "name": "a"}, gate,
                  {"type": kind, "name": "m", "inputs": [first, second]})
    r = archcalc.analyze(network)
    want = np.broadcast_shapes(r.row("a").output_shape, r.row("g").output_shape)
    assert r.row("m").output_shape == want == tuple(big)
    engine_agrees(network)
