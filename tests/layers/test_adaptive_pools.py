"""adaptive_avgpool and adaptive_maxpool: PyTorch's windows floor(i*N/out) .. ceil((i+1)*N/out) - 1."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError

from .kindcheck import engine_agrees, net

KINDS = ["adaptive_avgpool", "adaptive_maxpool"]


def test_windows_by_hand():
    # N = 10 -> 3: [0, 4), [3, 7), [6, 10); N = 5 -> 3: [0, 2), [1, 4), [3, 5) (torch.nn.AdaptiveAvgPool1d)
    x = np.arange(10.0).reshape(1, 10, 1)
    y = archcalc.forward(net([10, 1], {"type": "adaptive_avgpool", "output": 3}), x, {}, dtype="float64")
    assert y.ravel().tolist() == [1.5, 4.5, 7.5]
    x = np.arange(5.0).reshape(1, 5, 1)
    y = archcalc.forward(net([5, 1], {"type": "adaptive_avgpool", "output": 3}), x, {}, dtype="float64")
    assert y.ravel().tolist() == [0.5, 2.0, 3.5]
    y = archcalc.forward(net([5, 1], {"type": "adaptive_maxpool", "output": 3}), x, {}, dtype="float64")
    assert y.ravel().tolist() == [1.0, 3.0, 4.0]


@pytest.mark.parametrize("kind", KINDS)
def test_shape_counts_and_receptive_field(kind):
    r = archcalc.analyze(net([14, 14, 512], {"type": kind, "output": 7, "name": "p"}))
    row = r.rows[0]
    assert (row.output_shape, row.params, row.macs) == ((7, 7, 512), 0, 0)
    assert row.receptive_field.size == (2, 2) and row.receptive_field.jump == (2, 2)  # 14/7: a 2x2/2 pool
    r = archcalc.analyze(net([10, 13, 8], {"type": kind, "output": [3, 1]}))
    assert r.rows[0].output_shape == (3, 1, 8)
    assert r.rows[0].receptive_field is None  # 10/3: windows of unequal length


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=20, deadline=None)
@given(spatial=st.lists(st.integers(1, 9), min_size=1, max_size=3), data=st.data())
def test_engine_shape_and_twin(kind, spatial, data):
    output = data.draw(st.lists(st.integers(1, 9), min_size=len(spatial), max_size=len(spatial)))
    got = engine_agrees(net([*spatial, 2], {"type": kind, "output": output, "name": "p"}))
    assert got["p"].shape[1:] == (*output, 2)


def test_explain_shows_the_windows():
    from archcalc.learn.calc import calc

    text = calc("adaptive_avgpool", "10x14x3", output=[3, 7]).text()
    assert "floor(i*N/out)" in text and "row: 10 -> 3: windows [0, 4) .. [6, 10)" in text
    assert "column: 14 -> 7: 14/7 = 2 divides" in text and "output shape: 3x7x3" in text


@pytest.mark.parametrize("output,match", [(0, "output"), ([2, 2, 2], "output has 3 entries"), ("x", "output")])
def test_bad_output(output, match):
    with pytest.raises(SpecError, match=match):
        archcalc.analyze(net([8, 8, 3], {"type": "adaptive_maxpool", "output": output}))


def test_needs_a_map():
    with pytest.raises(SpecError, match="spatial axes"):
        archcalc.analyze(net([8, 8, 3], {"type": "flatten"}, {"type": "adaptive_avgpool", "output": 1}))
