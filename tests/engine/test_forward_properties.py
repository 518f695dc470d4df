"""Properties: for random layer settings the engine's shapes are the calculator's; the forward pass equals the plain twins."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.engine import reference as R
from archcalc.engine.forward import forward

try:
    from archcalc.strategies import specs as spec_strategy
except ImportError:  # written by another engineer; a local stand-in until it lands
    spec_strategy = None


@st.composite
def local_specs(draw, max_layers=3, rank=2):
    """Specs of conv and pool layers that fit (floor rounding so any stride fits)."""
    spatial = [draw(st.integers(4, 12)) for _ in range(rank)]
    layers = []
    for _ in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool"]))
        f = draw(st.integers(1, min(3, *spatial)))
        s = draw(st.integers(1, 2))
        padding = draw(st.sampled_from(["same", "valid", 0, 1])) if f > 1 or kind == "conv" else "valid"
        if kind != "conv" and padding == 1 and f < 2:
            padding = 0
        layer = {"type": kind, "kernel": f, "stride": s, "padding": padding}
        if kind == "conv":
            layer["filters"] = draw(st.integers(1, 4))
        layers.append(layer)
        if padding == "same":
            spatial = [-(-n // s) for n in spatial]
        else:
            p = 2 * padding if isinstance(padding, int) else 0
            spatial = [(n + p - f) // s + 1 for n in spatial]
        if min(spatial) < 3:
            break
    return {"input": [*[draw(st.integers(4, 12))] * 0, *[8] * rank, draw(st.integers(1, 3))],
            "rounding": "floor", "layers": layers}


STRATEGY = spec_strategy(max_layers=3, rank=2) if spec_strategy is not None else local_specs()


@settings(max_examples=60, deadline=None)
@given(STRATEGY, st.integers(0, 2**16))
def test_engine_shapes_equal_calculator(spec, seed):
    net = archcalc.load_spec(spec)
    report = archcalc.analyze(net)
    x = np.random.default_rng(seed).standard_normal((2, *net.input_shape))
    every = archcalc.forward(net, x, archcalc.init_params(net, seed), dtype="float64", return_all=True)
    for row in report.rows:
        assert every[row.name].shape == (2, *row.output_shape), row.name


@st.composite
def conv_nets(draw):
    n, c = draw(st.integers(3, 7)), draw(st.integers(1, 3))
    f = draw(st.integers(1, 3))
    layer = {"type": "conv", "name": "c", "filters": draw(st.integers(1, 3)), "kernel": f,
             "stride": draw(st.integers(1, 3)), "padding": draw(st.sampled_from(["same", "valid", 0, 1, 2])),
             "dilation": draw(st.integers(1, 2)), "bias": draw(st.sampled_from([True, False, "per_position"]))}
    if layer["dilation"] * (f - 1) + 1 > n:
        layer["dilation"] = 1
    return {"input": [n, n, c], "rounding": "floor", "layers": [layer]}


@settings(max_examples=60, deadline=None)
@given(conv_nets(), st.integers(0, 2**16))
def test_conv_layer_equals_seed_004_formula(spec, seed):
    net = archcalc.load_spec(spec)
    row = archcalc.analyze(net).rows[0]
    rng = np.random.default_rng(seed)
    params = archcalc.init_params(net, seed)
    if "bias" in params["c"]:
        params["c"]["bias"] = rng.standard_normal(params["c"]["bias"].shape).astype(np.float32)
    x = rng.standard_normal((1, *net.input_shape))
    got = forward(net, x, params, dtype="float64")
    a = row.axes
    want = R.conv(x, params["c"]["weight"], params["c"].get("bias"), tuple(ax.s for ax in a),
                  tuple((ax.pb, ax.pa) for ax in a), tuple(ax.d for ax in a), out_spatial=tuple(ax.out for ax in a))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_pool_lrn_batchnorm_against_plain_twins():
    rng = np.random.default_rng(0)
    spec = {"input": [7, 7, 6], "rounding": "ceil", "layers": [
        {"type": "maxpool", "name": "mp", "kernel": 3, "stride": 2, "padding": 1},
        {"type": "avgpool", "name": "ap", "kernel": 2, "stride": 2, "inputs": "input", "padding": "same"},
        {"type": "lrn", "name": "lrn", "size": 3, "alpha": 0.01, "inputs": "input"},
        {"type": "batchnorm", "name": "bn", "inputs": "input", "eps": 0.01}]}
    net = archcalc.load_spec(spec)
    x = rng.standard_normal((2, 7, 7, 6)) * 3
    params = {"bn": {k: rng.random(6) + 0.5 for k in ("gamma", "beta", "moving_mean", "moving_variance")}}
    out = archcalc.forward(net, x, params, dtype="float64", return_all=True)
    report = archcalc.analyze(net)
    geo = {r.name: (tuple(a.f for a in r.axes), tuple(a.s for a in r.axes), tuple((a.pb, a.pa) for a in r.axes),
                    None, tuple(a.out for a in r.axes)) for r in report.rows if r.axes}
    np.testing.assert_allclose(out["mp"], R.maxpool(x, *geo["mp"]))
    np.testing.assert_allclose(out["ap"], R.avgpool(x, *geo["ap"]))
    np.testing.assert_allclose(out["lrn"], R.lrn(x, 3, 2.0, 0.01, 0.75))
    bn = params["bn"]
    np.testing.assert_allclose(out["bn"], R.batchnorm(x, bn["gamma"], bn["beta"], bn["moving_mean"],
                                                      bn["moving_variance"], 0.01))
