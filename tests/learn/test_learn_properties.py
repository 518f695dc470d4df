"""Properties over drawn layers and specs (archcalc.strategies), kept apart from the example tests."""

import numpy as np
from hypothesis import assume, given, settings, strategies as st

import archcalc
from archcalc import arith
from archcalc.learn.calc import calc
from archcalc.learn.explain import explain
from archcalc.learn.solve import solve
from archcalc.strategies import conv_layers, pool_layers, specs

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(specs(max_layers=4, rank=2))
def test_drawn_specs_are_accepted_and_explained(spec):
    report = archcalc.analyze(archcalc.load_spec(spec))
    workings = explain(report)
    assert [w.output_shape for w in workings] == [r.output_shape for r in report.rows]
    assert sum(w.params for w in workings) == report.totals.params
    assert all(w.fits for w in workings)


@FAST
@given(specs(max_layers=3, rank=1, rounding="floor"), st.data())
def test_floor_specs_rank_1(spec, data):
    report = archcalc.analyze(archcalc.load_spec(spec))
    assert report.totals.params >= 0 and len(report.rows) == len(spec["layers"])


@FAST
@given(conv_layers(same=False), st.integers(1, 16), st.integers(1, 3))
def test_calc_agrees_with_the_formula(layer, n, c):
    k, s, p = layer["kernel"], layer["stride"], layer["padding"]
    assume(n + 2 * p >= k)
    w = calc("conv", f"{n}x{n}x{c}", kernel=k, stride=s, padding=p, filters=layer["filters"])
    exact = arith.exact_out_size(n, k, s, p, p)
    assert w.fits == (exact.denominator == 1)
    assert w.output_shape[0] == (n + 2 * p - k) // s + 1
    assert w.params == (k * k * c + 1) * layer["filters"]


@FAST
@given(pool_layers(same=False), st.integers(3, 16))
def test_pool_layers_are_valid_spec_layers(layer, n):
    spec = {"input": [n, n, 2], "rounding": "floor", "layers": [layer]}
    assume(n >= layer["kernel"])
    out = archcalc.analyze(archcalc.load_spec(spec)).output_shape
    assert out[-1] == 2


@FAST
@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 4))
def test_solutions_round_trip(n, o, c):
    try:
        found = solve((n, n, c), (o, o, 2))
    except archcalc.ArchcalcError:
        assume(False)  # no solution for this pair: nothing to round-trip
    for s in found:
        if s.kernel is None:
            assert arith.same_out_size(n, s.stride) == o
        else:
            assert arith.exact_out_size(n, s.kernel, s.stride, s.padding, s.padding) == o


def naive_conv2d(x, w, stride, pad):
    """A deliberately plain conv: x (H, W, C), w (k, k, C, F)."""
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    k = w.shape[0]
    rows = (x.shape[0] - k) // stride + 1
    cols = (x.shape[1] - k) // stride + 1
    out = np.zeros((rows, cols, w.shape[-1]))
    for i in range(rows):
        for j in range(cols):
            patch = x[i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[i, j] = np.tensordot(patch, w, axes=3)
    return out


@FAST
@given(specs(max_layers=1, rank=2, kinds=("conv",), same=False, head=False))
def test_numpy_conv_matches_archcalc(spec):
    (layer,) = spec["layers"]
    h, w_, c = spec["input"]
    x = np.random.default_rng(0).random((h, w_, c))
    w = np.ones((layer["kernel"], layer["kernel"], c, layer["filters"]))
    y = naive_conv2d(x, w, layer["stride"], layer["padding"])
    assert y.shape == archcalc.analyze(archcalc.load_spec(spec)).output_shape


def test_strategies_without_hypothesis_say_so(monkeypatch):
    import importlib
    import sys

    import pytest

    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(sys.modules, "archcalc.strategies", raising=False)
    monkeypatch.delitem(sys.modules, "archcalc.testing.strategies", raising=False)
    with pytest.raises(ImportError, match="archcalc.strategies needs hypothesis: pip install hypothesis"):
        importlib.import_module("archcalc.strategies")
    monkeypatch.undo()
    importlib.import_module("archcalc.strategies")
