"""Issue 11's kernels: the fast ones against their plain twins (hypothesis), the output size against
archcalc.arith's formulas, and (torch marker) against PyTorch's own functional ops."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from archcalc import arith
from archcalc.engine import kernels as K
from archcalc.engine import reference as R

FAST = settings(max_examples=80, deadline=None)


def arrays(draw, shape, dtype=np.float64):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def sizes(rank, high, low=1):
    """A tuple of ``rank`` sizes in [low, high]."""
    return st.tuples(*[st.integers(low, high)] * rank)


def close(got, want, tol=1e-10):
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@st.composite
def transpose_settings(draw, max_rank=3):
    """Rank, input size, kernel, stride, dilation, pads, output_padding (< stride or < dilation), groups."""
    rank = draw(st.integers(1, max_rank))
    max_n = {1: 6, 2: 4, 3: 3}[rank]
    spatial, kernel, stride, dilation, pads, extra = [], [], [], [], [], []
    for _ in range(rank):
        n, f, s, d = (draw(st.integers(1, max_n)), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                      draw(st.integers(1, 2)))
        p0, p1 = draw(st.integers(0, d * (f - 1))), draw(st.integers(0, d * (f - 1)))
        op = draw(st.integers(0, max(s, d) - 1))
        assume(arith.conv_transpose_out_size(n, f, s, p0, p1, d, op) >= 1)
        spatial.append(n), kernel.append(f), stride.append(s), dilation.append(d)
        pads.append((p0, p1)), extra.append(op)
    return tuple(spatial), tuple(kernel), tuple(stride), tuple(dilation), tuple(pads), tuple(extra)


@FAST
@given(transpose_settings(), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.booleans(), st.data())
def test_conv_transpose_matches_reference_and_formula(geo, groups, c_g, f_g, bias, data):
    spatial, kernel, stride, dilation, pads, extra = geo
    x = arrays(data.draw, (2, *spatial, groups * c_g))
    w = arrays(data.draw, (*kernel, f_g, groups * c_g))
    b = arrays(data.draw, (groups * f_g,)) if bias else None
    got = K.conv_transpose(x, w, b, stride, pads, extra, dilation, groups)
    out = tuple(arith.conv_transpose_out_size(n, f, s, p0, p1, d, op)
                for n, f, s, (p0, p1), op, d in zip(spatial, kernel, stride, pads, extra, dilation))
    assert got.shape == (2, *out, groups * f_g)
    close(got, R.conv_transpose(x, w, b, stride, pads, extra, dilation, groups))


@FAST
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4), st.integers(1, 2), st.data())
def test_conv_transpose_same_gives_n_times_s(n, f, s, d, data):
    pb, pa, op = arith.conv_transpose_same_padding(f, s, d)
    assert arith.conv_transpose_out_size(n, f, s, pb, pa, d, op) == arith.conv_transpose_same_out_size(n, s) == n * s
    x = arrays(data.draw, (1, n, n, 2))
    w = arrays(data.draw, (f, f, 3, 2))
    got = K.conv_transpose(x, w, None, (s, s), ((pb, pa),) * 2, (op, op), (d, d))
    assert got.shape == (1, n * s, n * s, 3)
    close(got, R.conv_transpose(x, w, None, (s, s), ((pb, pa),) * 2, (op, op), (d, d)))


def test_conv_transpose_counts_by_hand():
    # U-Net's first up-conv: 2x2 stride 2, 1024 -> 512 channels on 28x28
    assert arith.conv_transpose_params((2, 2), 1024, 512) == 2 * 2 * 1024 * 512 + 512 == 2_097_664
    assert arith.conv_transpose_macs((28, 28), (2, 2), 1024, 512) == 28 * 28 * 1024 * 512 * 4
    assert arith.conv_transpose_params((3, 3), 8, 6, groups=2, bias=False) == 9 * 8 * 3
    assert arith.conv_transpose_out_size(28, 2, 2) == 56
    assert arith.conv_transpose_out_size(7, 3, 2, 1, 1, output_padding=1) == 14  # PyTorch's usual 2x up
    assert arith.conv_transpose_out_size(5, 3, 1, 0, 0, d=2) == 9
    assert arith.conv_transpose_same_padding(3, 2) == (0, 1, 0)
    assert arith.conv_transpose_same_padding(1, 3) == (0, 0, 2)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> with the same weights: the definition of a transposed conv."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 7, 6, 4))
    w_conv = rng.standard_normal((3, 2, 4, 6))  # HWIO
    stride, pads = (2, 1), ((1, 1), (0, 1))
    y = K.conv(x, w_conv, None, stride, pads)
    z = rng.standard_normal(y.shape)
    extra = tuple(n - arith.conv_transpose_out_size(o, f, s, p0, p1)
                  for n, o, f, s, (p0, p1) in zip((7, 6), y.shape[1:3], (3, 2), stride, pads))
    back = K.conv_transpose(z, w_conv, None, stride, pads, extra)  # (*kernel, 4, 6) is already (F, C_in)
    assert back.shape == x.shape
    assert math.isclose(float((y * z).sum()), float((x * back).sum()), rel_tol=1e-10)


@FAST
@given(st.integers(1, 3), st.sampled_from(["nearest", "bilinear"]), st.data())
def test_upsample_matches_reference(rank, mode, data):
    spatial, scale = data.draw(sizes(rank, {1: 6, 2: 4, 3: 3}[rank])), data.draw(sizes(rank, 3))
    x = arrays(data.draw, (2, *spatial, 2))
    got = K.upsample(x, scale, mode)
    assert got.shape[1:-1] == tuple(arith.upsample_out_size(n, s) for n, s in zip(spatial, scale))
    close(got, R.upsample(x, scale, mode))


@st.composite
def pairs(draw, rank, high):
    return tuple((draw(st.integers(0, high)), draw(st.integers(0, high))) for _ in range(rank))


@FAST
@given(st.integers(1, 3), st.floats(-5, 5), st.data())
def test_pad_and_crop_match_reference_and_undo_each_other(rank, value, data):
    spatial = data.draw(sizes(rank, 4))
    pads = data.draw(pairs(rank, 2))
    x = arrays(data.draw, (1, *spatial, 3))
    padded = K.pad(x, pads, value)
    assert padded.shape[1:-1] == tuple(arith.pad_out_size(n, a, b) for n, (a, b) in zip(spatial, pads))
    close(padded, R.pad(x, pads, value))
    close(K.crop(padded, pads), x)
    crops = tuple((data.draw(st.integers(0, n - 1)), 0) for n in spatial)
    crops = tuple((c0, data.draw(st.integers(0, n - 1 - c0))) for n, (c0, _) in zip(spatial, crops))
    got = K.crop(x, crops)
    assert got.shape[1:-1] == tuple(arith.crop_out_size(n, a, b) for n, (a, b) in zip(spatial, crops))
    close(got, R.crop(x, crops))


def test_centre_crop_puts_the_odd_cell_after():
    assert arith.centre_crop(64, 56) == (4, 4)  # U-Net: 64x64 copy cropped to the 56x56 up-conv
    assert arith.centre_crop(7, 4) == (1, 2)


@FAST
@given(st.integers(1, 8), st.data())
def test_slice_and_channel_shuffle_match_reference(channels, data):
    x = arrays(data.draw, (2, 3, channels))
    axis = data.draw(st.sampled_from([-1, 0, 1]))
    size = x.shape[1:][axis]
    start = data.draw(st.integers(0, size - 1))
    stop = data.draw(st.integers(start + 1, size))
    close(K.take_slice(x, axis, start, stop), R.take_slice(x, axis, start, stop))
    groups = data.draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
    shuffled = K.channel_shuffle(x, groups)
    close(shuffled, R.channel_shuffle(x, groups))
    close(K.channel_shuffle(shuffled, channels // groups), x)  # shuffling by C/G undoes it


def test_channel_shuffle_by_hand():
    x = np.arange(6.0).reshape(1, 1, 6)
    assert K.channel_shuffle(x, 2).ravel().tolist() == [0, 3, 1, 4, 2, 5]
    with pytest.raises(ValueError, match="do not divide"):
        K.channel_shuffle(x, 4)


@FAST
@given(st.integers(1, 3), st.sampled_from(["avg", "max"]), st.data())
def test_adaptive_pools_match_reference(rank, kind, data):
    spatial, output = data.draw(sizes(rank, 7)), data.draw(sizes(rank, 7))
    x = arrays(data.draw, (2, *spatial, 2))
    fast, slow = (K.adaptive_avgpool, R.adaptive_avgpool) if kind == "avg" else (K.adaptive_maxpool, R.adaptive_maxpool)
    got = fast(x, output)
    assert got.shape == (2, *output, 2)
    close(got, slow(x, output))


def test_adaptive_windows_by_hand():
    assert [arith.adaptive_window(i, 5, 3) for i in range(3)] == [(0, 2), (1, 4), (3, 5)]
    assert [arith.adaptive_window(i, 7, 7) for i in range(7)] == [(i, i + 1) for i in range(7)]
    assert arith.adaptive_as_window(14, 7) == (2, 2) and arith.adaptive_as_window(5, 3) is None
    assert arith.adaptive_max_window(5, 3) == 3 and arith.adaptive_max_window(10, 4) == 3  # ceil(5/3) + 1, ceil(10/4)


@st.composite
def pool_settings(draw):
    """PyTorch's avgpool geometry: padding at most half the kernel, floor or ceil mode."""
    rank = draw(st.integers(1, 3))
    spatial, kernel, stride, pads, out = [], [], [], [], []
    ceil = draw(st.booleans())
    for _ in range(rank):
        f, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        p0, p1 = draw(st.integers(0, f // 2)), draw(st.integers(0, f // 2))
        n = draw(st.integers(max(1, f - p0 - p1), 5))
        o = arith.ceil_out_size(n, f, s, p0, p1) if ceil else arith.floor_out_size(n, f, s, p0, p1)
        spatial.append(n), kernel.append(f), stride.append(s), pads.append((p0, p1)), out.append(o)
    return tuple(spatial), tuple(kernel), tuple(stride), tuple(pads), tuple(out)


@FAST
@given(pool_settings(), st.data())
def test_avgpool_include_pad_matches_reference(geo, data):
    spatial, kernel, stride, pads, out = geo
    x = arrays(data.draw, (2, *spatial, 2))
    close(K.avgpool_include_pad(x, kernel, stride, pads, out_spatial=out),
          R.avgpool_include_pad(x, kernel, stride, pads, out_spatial=out))


def test_avgpool_include_pad_by_hand():
    x = np.ones((1, 3, 3, 1))
    got = K.avgpool_include_pad(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    assert got[0, :, :, 0].tolist() == [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]]


@FAST
@given(st.integers(1, 6), st.booleans(), st.data())
def test_layernorm_and_scale_match_reference(channels, affine, data):
    x = arrays(data.draw, (2, 3, 2, channels)) * 3 + 1
    gamma = arrays(data.draw, (channels,)) if affine else None
    beta = arrays(data.draw, (channels,)) if affine else None
    close(K.layernorm(x, gamma, beta), R.layernorm(x, gamma, beta))
    g = arrays(data.draw, (channels,))
    close(K.scale(x, g, beta), R.scale(x, g, beta))


def test_layernorm_normalises_each_position():
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 8)) * 5 + 2
    y = K.layernorm(x, None, None, eps=0.0)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, atol=1e-12)


@FAST
@given(st.integers(1, 20), st.integers(1, 5), st.data())
def test_embedding_matches_reference(vocab, dim, data):
    ids = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, vocab, (2, 7))
    table = arrays(data.draw, (vocab, dim))
    close(K.embedding(ids, table), R.embedding(ids, table))


def test_embedding_rejects_bad_ids():
    table = np.zeros((4, 2))
    with pytest.raises(ValueError, match="integers"):
        K.embedding(np.array([[0.5, 1.0]]), table)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        K.embedding(np.array([[0, 4]]), table)


SHAPE_PAIRS = [((4, 4, 3), (3,)), ((4, 4, 3), (1, 1, 3)), ((4, 4, 3), (4, 4, 3)), ((2, 3), (1, 3)), ((5,), (1,))]


@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
@pytest.mark.parametrize("name", ["multiply", "add_broadcast"])
def test_broadcast_merges_match_reference(shapes, name):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, *s)) for s in shapes]
    xs.append(rng.standard_normal((2, *shapes[1])))  # a third input
    got = getattr(K, name)(xs)
    assert got.shape == (2, *shapes[0])
    close(got, getattr(R, name)(xs))


def test_multiply_gates_a_map_per_channel():
    x = np.ones((1, 2, 2, 3))
    gate = np.array([[0.0, 0.5, 2.0]])
    assert K.multiply([x, gate])[0, 1, 1].tolist() == [0.0, 0.5, 2.0]


ACTIVATIONS = ["relu6", "hardsigmoid", "hardswish", "silu", "gelu"]


@FAST
@given(st.sampled_from(ACTIVATIONS + ["gelu_tanh"]), st.data())
def test_activations_match_reference(name, data):
    x = arrays(data.draw, (2, 3, 5)) * 4
    if name == "gelu_tanh":
        close(K.gelu(x, "tanh"), R.gelu(x, "tanh"), 1e-12)
        return
    close(getattr(K, name)(x), getattr(R, name)(x), 1e-6 if name == "gelu" else 1e-12)


def test_activations_by_hand():
    x = np.array([-4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 7.0])
    assert K.relu6(x).tolist() == [0, 0, 0, 0, 1, 3, 6]
    assert K.hardsigmoid(x).tolist() == [0, 0, 2 / 6, 0.5, 4 / 6, 1, 1]
    assert K.hardswish(x).tolist() == [0, 0, -2 / 6, 0, 4 / 6, 3, 7]
    assert K.silu(np.array([0.0]))[0] == 0.0
    np.testing.assert_allclose(K.gelu(np.array([1.0])), [0.8413447460685429], rtol=1e-7)  # Phi(1)
    np.testing.assert_allclose(K.erf_array(np.linspace(-4, 4, 81)), [math.erf(v) for v in np.linspace(-4, 4, 81)],
                               atol=2e-7)


def test_float32_stays_float32():
    x = np.ones((1, 2, 2, 4), dtype=np.float32)
    for y in (K.relu6(x), K.gelu(x), K.silu(x), K.upsample(x, (2, 2), "bilinear"), K.adaptive_avgpool(x, (1, 1)),
              K.adaptive_maxpool(x, (1, 1)), K.layernorm(x, None, None), K.pad(x, ((1, 1), (1, 1))),
              K.avgpool_include_pad(x, (2, 2), (2, 2), ((1, 1), (1, 1))),
              K.conv_transpose(x, np.ones((2, 2, 3, 4), np.float32), None, (2, 2), ((0, 0), (0, 0)))):
        assert y.dtype == np.float32


# ----------------------------------------------------------------------------
# against PyTorch's functional ops (torch marker)


def torch_property(*strategies):
    """A hypothesis property against PyTorch: torch marker, FAST settings, the given strategies."""
    def wrap(fn):
        return pytest.mark.torch(FAST(given(*strategies)(fn)))
    return wrap


def _torch():
    return pytest.importorskip("torch")


def _nc(x):
    """channels-last numpy -> channels-first torch tensor."""
    torch = _torch()
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


def _nhwc(t):
    return np.moveaxis(t.detach().numpy(), 1, -1)


@torch_property(transpose_settings(), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.data())
def test_conv_transpose_matches_torch(geo, groups, c_g, f_g, data):
    torch = _torch()
    spatial, kernel, stride, dilation, pads, extra = geo
    assume(all(p0 == p1 for p0, p1 in pads))  # PyTorch pads symmetrically
    assume(all(op < s or op < d for op, s, d in zip(extra, stride, dilation)))
    x = arrays(data.draw, (2, *spatial, groups * c_g))
    w = arrays(data.draw, (*kernel, f_g, groups * c_g))
    b = arrays(data.draw, (groups * f_g,))
    fn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
          3: torch.nn.functional.conv_transpose3d}[len(spatial)]
    w_torch = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1))))  # (C_in, F_g, *kernel)
    want = fn(_nc(x), w_torch, torch.from_numpy(b), stride, tuple(p for p, _ in pads), extra, groups, dilation)
    close(K.conv_transpose(x, w, b, stride, pads, extra, dilation, groups), _nhwc(want))


@torch_property(st.integers(1, 3), st.sampled_from(["nearest", "bilinear"]), st.data())
def test_upsample_matches_torch(rank, mode, data):
    torch = _torch()
    spatial, scale = data.draw(sizes(rank, 5)), data.draw(sizes(rank, 3))
    x = arrays(data.draw, (1, *spatial, 2))
    torch_mode = mode if mode == "nearest" else {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
    want = torch.nn.functional.interpolate(_nc(x), scale_factor=scale, mode=torch_mode,
                                           **({} if mode == "nearest" else {"align_corners": False}))
    close(K.upsample(x, scale, mode), _nhwc(want))


@torch_property(st.integers(1, 3), st.sampled_from(["avg", "max"]), st.data())
def test_adaptive_pools_match_torch(rank, kind, data):
    torch = _torch()
    spatial, output = data.draw(sizes(rank, 7)), data.draw(sizes(rank, 7))
    x = arrays(data.draw, (1, *spatial, 2))
    fn = getattr(torch.nn.functional, f"adaptive_{kind}_pool{rank}d")
    ours = K.adaptive_avgpool if kind == "avg" else K.adaptive_maxpool
    close(ours(x, output), _nhwc(fn(_nc(x), output)))


@torch_property(st.integers(1, 2), st.booleans(), st.data())
def test_avgpool_include_pad_matches_torch(rank, ceil, data):
    torch = _torch()
    f, s = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    p = data.draw(st.integers(0, f // 2))
    spatial = tuple(data.draw(st.integers(max(1, f - 2 * p), 6)) for _ in range(rank))
    x = arrays(data.draw, (1, *spatial, 2))
    out = tuple((arith.ceil_out_size if ceil else arith.floor_out_size)(n, f, s, p, p) for n in spatial)
    fn = getattr(torch.nn.functional, f"avg_pool{rank}d")
    want = fn(_nc(x), f, s, p, ceil_mode=ceil, count_include_pad=True)
    close(K.avgpool_include_pad(x, (f,) * rank, (s,) * rank, ((p, p),) * rank, out_spatial=out), _nhwc(want))


@pytest.mark.torch
def test_pointwise_ops_match_torch():
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 4, 6)) * 4
    t = torch.from_numpy(x)
    pairs = [(K.relu6(x), F.relu6(t)), (K.hardsigmoid(x), F.hardsigmoid(t)), (K.hardswish(x), F.hardswish(t)),
             (K.silu(x), F.silu(t)), (K.gelu(x), F.gelu(t)), (K.gelu(x, "tanh"), F.gelu(t, approximate="tanh"))]
    for ours, theirs in pairs:
        close(ours, theirs.numpy(), 1e-6)
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    close(K.layernorm(x, gamma, beta), F.layer_norm(t, (6,), torch.from_numpy(gamma), torch.from_numpy(beta),
                                                     1e-6).numpy())
    ids = rng.integers(0, 9, (2, 7))
    table = rng.standard_normal((9, 3))
    close(K.embedding(ids, table), F.embedding(torch.from_numpy(ids), torch.from_numpy(table)).numpy())
    close(K.channel_shuffle(x, 3), _nhwc(F.channel_shuffle(_nc(x), 3)))
    close(K.pad(x, ((1, 2), (0, 3)), 0.5), _nhwc(F.pad(_nc(x), (0, 3, 1, 2), value=0.5)))


def test_float32_gelu_silu_against_exact_float64():
    """The float32 paths (erfc fit in place, exp form of the sigmoid) against math.erf and float64, value by value."""
    x = np.concatenate([np.linspace(-12, 12, 4801), np.random.default_rng(0).standard_normal(20000) * 4])
    x32 = x.astype(np.float32)
    x = x32.astype(np.float64)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    got = K.gelu(x32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, exact, rtol=3e-6, atol=3e-7)
    np.testing.assert_allclose(K.erf_array(x32), [math.erf(v) for v in x], rtol=0, atol=4e-7)
    np.testing.assert_allclose(K.silu(x32), x / (1 + np.exp(-x)), rtol=1e-6, atol=1e-30)
    big = np.full((3, 100000), -200.0, np.float32)  # exp(-x) overflows: the exact limit, no warning
    with np.errstate(all="raise"):
        assert not K.silu(big).any() and not K.activate(big.copy(), "sigmoid").any()
