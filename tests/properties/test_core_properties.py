"""Properties of the calculators that must hold for any settings, not just the notes' examples."""

from math import prod

from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc import arith

sizes = st.integers(1, 300)
kernels = st.integers(1, 11)
strides = st.integers(1, 6)
dilations = st.integers(1, 4)


def one_conv(n, rank=2, channels=3, **conv):
    net = archcalc.load_spec({"input": [n] * rank + [channels], "layers": [{"type": "conv", "filters": 4, **conv}]})
    return archcalc.analyze(net).rows[0]


@given(n=sizes, f=kernels, s=strides, d=dilations, rank=st.integers(1, 3))
@settings(max_examples=150, deadline=None)
def test_same_gives_ceil_n_over_s(n, f, s, d, rank):
    row = one_conv(n, rank, kernel=f, stride=s, dilation=d, padding="same")
    assert row.output_shape == (-(-n // s),) * rank + (4,)
    for a in row.axes:  # and the padding TensorFlow adds makes the windows tile exactly
        assert (a.n + a.pb + a.pa - arith.effective_kernel(a.f, a.d)) >= 0
        assert a.pa - a.pb in (0, 1)


@given(n=sizes, f=kernels, s=strides, d=dilations)
def test_valid_padding_never_reads_outside_the_input(n, f, s, d):
    assume(arith.effective_kernel(f, d) <= n)
    out = arith.floor_out_size(n, f, s, 0, 0, d)
    last_read = (out - 1) * s + arith.effective_kernel(f, d) - 1
    assert 0 <= last_read < n
    assert (out * s + arith.effective_kernel(f, d) - 1) >= n  # one more window would leave the input


@given(n=sizes, half=st.integers(0, 5))
def test_padding_f_minus_1_over_2_at_stride_1_preserves_size(n, half):
    f = 2 * half + 1
    assert arith.exact_out_size(n, f, 1, half, half) == n


@given(n1=st.integers(12, 200), n2=st.integers(12, 200), f=st.integers(1, 5), c=st.integers(1, 16),
       filters=st.integers(1, 16), bias=st.booleans())
def test_conv_parameters_do_not_depend_on_input_size(n1, n2, f, c, filters, bias):
    def params(n):
        net = archcalc.load_spec({"input": [n, n, c], "rounding": "floor",
                                  "layers": [{"type": "conv", "filters": filters, "kernel": f, "bias": bias}]})
        return archcalc.analyze(net).totals.params
    assert params(n1) == params(n2) == f * f * c * filters + (filters if bias else 0)


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3)), min_size=1, max_size=8))
def test_receptive_field_jump_is_the_product_of_strides(chain):
    layers = [{"type": "conv", "filters": 2, "kernel": f, "stride": s, "padding": "same"} for f, s in chain]
    r = archcalc.analyze(archcalc.load_spec({"input": [1024, 1024, 1], "layers": layers}))
    assert r.rows[-1].receptive_field.jump == (prod(s for _, s in chain),) * 2
    # and the size grows by (F-1) * jump at every layer
    size, jump = 1, 1
    for f, s in chain:
        size, jump = size + (f - 1) * jump, jump * s
    assert r.rows[-1].receptive_field.size == (size, size)


@given(n=sizes, f=kernels, s=strides, p=st.integers(0, 5), d=dilations)
def test_floor_and_ceil_bracket_the_exact_size(n, f, s, p, d):
    # PyTorch allows ceil_mode only with padding <= half the kernel
    assume(arith.effective_kernel(f, d) <= n + 2 * p and 2 * p <= arith.effective_kernel(f, d))
    exact = arith.exact_out_size(n, f, s, p, p, d)
    lo, hi = arith.floor_out_size(n, f, s, p, p, d), arith.ceil_out_size(n, f, s, p, p, d)
    assert lo <= exact and hi - lo in (0, 1)
    if exact.denominator == 1:
        assert lo == hi == exact == arith.out_size(n, f, s, p, p, d, "strict")


layer_kinds = st.sampled_from(["conv", "maxpool", "avgpool", "batchnorm", "activation", "dropout", "lrn"])


@st.composite
def small_specs(draw):
    """Specs that always fit: each window layer's kernel is drawn no larger than the (padded) map reaching it."""
    start = [draw(st.integers(16, 40)), draw(st.integers(16, 40)), draw(st.integers(1, 4))]
    shape = start[:2]
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(layer_kinds)
        if kind in ("conv", "maxpool", "avgpool"):
            choices = ["same", 0, 1, [[0, 1], [1, 0]]] if kind == "conv" else ["same", "valid"]
            padding = draw(st.sampled_from(choices))
            stride = draw(st.integers(1, 2))
            pads = ([sum(p) for p in padding] if isinstance(padding, list)
                    else [0, 0] if padding in ("same", "valid") else [2 * padding] * 2)
            kernel = draw(st.integers(1, min(3, *(n + p for n, p in zip(shape, pads)))))
            if padding == "same":
                shape = [-(-n // stride) for n in shape]
            else:
                shape = [(n + p - kernel) // stride + 1 for n, p in zip(shape, pads)]
            layer = {"type": kind, "kernel": kernel, "stride": stride, "padding": padding}
            if kind == "conv":
                layer.update(filters=draw(st.integers(1, 8)), bias=draw(st.sampled_from([True, False, "per_position"])))
            layers.append(layer)
        elif kind == "activation":
            layers.append({"type": kind, "function": draw(st.sampled_from(["relu", "tanh", "leaky_relu"]))})
        else:
            layers.append({"type": kind})
    if draw(st.booleans()):
        layers += [{"type": "flatten"}, {"type": "dense", "units": draw(st.integers(1, 10))}]
    return {"name": "random", "input": start, "rounding": "floor", "layers": layers}


@given(small_specs())
@settings(max_examples=60, deadline=None)
def test_a_spec_serialised_and_loaded_again_analyses_the_same(tmp_path_factory, spec):
    import json

    import yaml

    net = archcalc.load_spec(spec)
    report = archcalc.analyze(net).to_dict()
    data = net.to_data()
    assert archcalc.analyze(archcalc.load_spec(data)).to_dict() == report
    folder = tmp_path_factory.mktemp("rt")
    (folder / "s.json").write_text(json.dumps(data))
    (folder / "s.yaml").write_text(yaml.safe_dump(data))
    assert archcalc.analyze(archcalc.load_spec(folder / "s.json")).to_dict()["layers"] == report["layers"]
    assert archcalc.analyze(archcalc.load_spec(folder / "s.yaml")).to_dict()["layers"] == report["layers"]
