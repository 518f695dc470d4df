"""avgpool's count_include_pad: the divisor counts the padding (PyTorch's default, torchvision's Inception v3)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError

from .kindcheck import engine_agrees, net


def _pool(include):
    return {"type": "avgpool", "kernel": 3, "stride": 1, "padding": 1, "count_include_pad": include, "name": "p"}


def test_divisor_by_hand():
    # 3x3 ones, 3x3/1 windows, padding 1: a corner window holds 4 input cells and 5 padded ones
    x = np.ones((1, 3, 3, 1))
    with_pad = archcalc.forward(net([3, 3, 1], _pool(True)), x, {}, dtype="float64")[0, ..., 0]
    assert with_pad.tolist() == [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1.0, 6 / 9], [4 / 9, 6 / 9, 4 / 9]]
    without = archcalc.forward(net([3, 3, 1], _pool(False)), x, {}, dtype="float64")
    assert without.ravel().tolist() == [1.0] * 9


def test_default_is_false_and_counts_unchanged():
    a = archcalc.analyze(net([35, 35, 192], {"type": "avgpool", "kernel": 3, "stride": 1, "padding": 1}))
    b = archcalc.analyze(net([35, 35, 192], _pool(True)))
    assert a.rows[0].layer.count_include_pad is False
    assert (a.rows[0].output_shape, a.rows[0].params, a.rows[0].macs) == (b.rows[0].output_shape, 0, 0)
    assert b.rows[0].output_shape == (35, 35, 192)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 9), k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1),
       rounding=st.sampled_from(["floor", "ceil"]), include=st.booleans())
def test_engine_shape_and_twin(n, k, s, p, rounding, include):
    p = min(p, k // 2)
    engine_agrees(net([n, n + 1, 2], {"type": "avgpool", "kernel": k, "stride": s, "padding": p,
                                      "count_include_pad": include}, rounding=rounding))


def test_explain_says_which_divisor():
    from archcalc.learn.explain import working

    text = working(archcalc.analyze(net([35, 35, 8], _pool(True))).rows[0]).text()
    assert "divisor 9" in text and "count_include_pad: true" in text


def test_bad_value():
    with pytest.raises(SpecError, match="count_include_pad"):
        net([8, 8, 3], {"type": "avgpool", "kernel": 2, "count_include_pad": "sometimes"})
