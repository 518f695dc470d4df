"""Issue 16's kernels: depthwise and grouped convolution, blocked pooling, LRN and channel shuffle against their
plain twins (hypothesis), over 1-3 spatial axes, padding, dilation, ceil-mode outputs, depth multipliers, biases
and epilogues, run in one thread and split over threads."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archcalc.engine import compiled
from archcalc.engine import kernels as K
from archcalc.engine import reference as R

from test_properties import arrays, every_window_reads_input, window_settings

# the fixture only patches module constants, the same for every example
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["one thread", "threads"])
def threads(request, monkeypatch):
    """Both ways of running the blocks: in the caller, and spread over the kernel pool with tiny blocks."""
    if request.param == "threads":
        monkeypatch.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        monkeypatch.setattr(K, "DEPTHWISE_BLOCK_BYTES", 64)
        monkeypatch.setattr(K, "BLAS_ONE_THREAD_MNK", 8)
        monkeypatch.setattr(K, "workers", lambda: 2)
    return request.param


@pytest.fixture(params=["merged", "plain"])
def form(request, monkeypatch):
    """A strided depthwise conv computed at every column and subsampled (merged), or through the window view."""
    monkeypatch.setattr(K, "DEPTHWISE_MERGED_MAX_CHANNELS", 10**9 if request.param == "merged" else 0)
    return request.param


@FAST
@given(window_settings(), st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.booleans(), st.data())
def test_depthwise_matches_reference(threads, form, geo, channels, mult, batch, bias, data):
    spatial, kernel, stride, dilation, pads, out = geo
    x = arrays(data.draw, (batch, *spatial, channels))
    w = arrays(data.draw, (*kernel, 1, channels * mult))
    b = arrays(data.draw, (channels * mult,)) if bias else None
    got = K.conv_depthwise(x, w, b, stride, pads, dilation, out_spatial=out)
    assert got.shape == (batch, *out, channels * mult)
    np.testing.assert_allclose(got, R.conv_depthwise(x, w, b, stride, pads, dilation, out), rtol=1e-10, atol=1e-10)
    # the depthwise twin and the general convolution twin agree (groups == C_in)
    np.testing.assert_allclose(R.conv_depthwise(x, w, b, stride, pads, dilation, out),
                               R.conv(x, w, b, stride, pads, dilation, channels, out), rtol=1e-12, atol=1e-12)


@FAST
@given(window_settings(), st.integers(2, 4), st.integers(1, 5), st.integers(1, 3), st.integers(1, 2), st.booleans(),
       st.data())
def test_grouped_matches_reference(threads, geo, groups, c_g, f_g, batch, bias, data):
    spatial, kernel, stride, dilation, pads, out = geo
    x = arrays(data.draw, (batch, *spatial, groups * c_g))
    w = arrays(data.draw, (*kernel, c_g, groups * f_g))
    b = arrays(data.draw, (groups * f_g,)) if bias else None
    got = K.conv_grouped(x, w, b, stride, pads, dilation, groups, out_spatial=out)
    want = R.conv_grouped(x, w, b, stride, pads, dilation, groups, out)
    assert got.shape == (batch, *out, groups * f_g)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(want, R.conv(x, w, b, stride, pads, dilation, groups, out), rtol=1e-12, atol=1e-12)


@FAST
@given(window_settings(max_rank=2), st.integers(1, 6), st.sampled_from([1, 2, 3, 0]), st.integers(0, 2), st.data())
def test_conv_dispatch_float32_epilogue_and_out(threads, geo, c_g, groups, before, data):
    """K.conv sends groups > 1 to these kernels (groups 0 here: depthwise); float32, into ``out``,
    with the bias and an epilogue applied to every output cell once.  ``out`` is sometimes a channel
    slice of a wider buffer (a conv writing into its part of a concat): the other channels stay."""
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    channels = (groups or 3) * c_g if groups else 3
    groups = groups or channels
    c_g = channels // groups
    f = groups * 2
    after = data.draw(st.integers(0, 2))
    x = arrays(data.draw, (2, *spatial, channels), np.float32)
    w = arrays(data.draw, (*kernel, c_g, f), np.float32)
    b = arrays(data.draw, (f,), np.float32)
    whole = np.full((2, *out_spatial, before + f + after), np.nan, np.float32)
    out = whole[..., before:before + f]
    got = K.conv(x, w, b, stride, pads, dilation, groups, out_spatial, out=out,
                 epilogue=lambda block: np.maximum(block, 0, out=block))
    assert got is out and got.dtype == np.float32
    want = np.maximum(R.conv(x, w, b, stride, pads, dilation, groups, out_spatial), 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.isnan(whole[..., :before]).all() and np.isnan(whole[..., before + f:]).all()


@pytest.mark.parametrize("algorithm, shape", [
    ("gemm", (1, 1, 4, 5)), ("gemm", (3, 3, 4, 5)), ("gemm", (3, 3, 1, 6)),
    ("winograd", (3, 3, 4, 5)), ("winograd2", (3, 3, 4, 5))], ids=["1x1", "3x3", "3x3 one channel", "F4", "F2"])
def test_conv_into_a_channel_slice(threads, algorithm, shape):
    """Every 2-D conv path writes a channel slice of a wider buffer, and nothing outside it."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 7, shape[2])).astype(np.float32)
    w = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[3]).astype(np.float32)
    pad = shape[0] // 2
    pads = ((pad, pad), (pad, pad))
    whole = np.full((2, 9, 7, shape[3] + 4), np.nan, np.float32)
    got = K.conv(x, w, b, (1, 1), pads, algorithm=algorithm, out=whole[..., 3:3 + shape[3]])
    np.testing.assert_allclose(got, R.conv(x, w, b, (1, 1), pads), rtol=1e-4, atol=1e-4)
    assert np.isnan(whole[..., :3]).all() and np.isnan(whole[..., 3 + shape[3]:]).all()
    transposed = np.zeros((2, 7, 9, shape[3]), np.float32).transpose(0, 2, 1, 3)  # no (cells, channels) view
    with pytest.raises(ValueError, match="contiguous"):  # refused, not written into a copy
        K.conv(x, w, b, (1, 1), pads, algorithm=algorithm, out=transposed)


def test_depthwise_rejects_a_kernel_that_is_not_depthwise():
    x = np.zeros((1, 4, 4, 3))
    with pytest.raises(ValueError, match="kernel\\[-2\\] == 1"):
        K.conv_depthwise(x, np.zeros((3, 3, 2, 6)), None, (1, 1), ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="multiple of C_in"):
        K.conv_depthwise(x, np.zeros((3, 3, 1, 4)), None, (1, 1), ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="groups 2"):
        K.conv_grouped(x, np.zeros((3, 3, 2, 4)), None, (1, 1), ((1, 1), (1, 1)), groups=2)


@pytest.fixture(params=["one block", "row blocks", "sample blocks"])
def blocks(request, monkeypatch):
    """The pooling and LRN kernels' blocks: one block in the caller; a few rows of one sample per block, or a few
    whole samples per block (tiny blocks), spread over two threads."""
    if request.param != "one block":
        monkeypatch.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        monkeypatch.setattr(K, "workers", lambda: 2)
        monkeypatch.setattr(K, "POOL_THREADS", 2)
        monkeypatch.setattr(K, "POOL_BLOCK_BYTES", 48 if request.param == "row blocks" else 2**11)
    return request.param


POOLS = {"max": (K.maxpool, R.maxpool), "avg": (K.avgpool, R.avgpool),
         "avg_include_pad": (K.avgpool_include_pad, R.avgpool_include_pad)}


@FAST
@given(window_settings(), st.integers(1, 5), st.integers(1, 3), st.sampled_from(sorted(POOLS)), st.booleans(),
       st.data())
def test_blocked_pooling_matches_reference(blocks, geo, channels, batch, kind, float32, data):
    """Separable blocked pooling over 1-3 axes: padding (asymmetric), dilation, ceil-mode windows hanging off the
    end, stride above the kernel, kernel 1; float64 and float32 into a given ``out``; max pooling bit-exact."""
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    assume(all(every_window_reads_input(*axis) for axis in zip(spatial, kernel, stride, dilation, pads, out_spatial)))
    dtype = np.float32 if float32 else np.float64
    x = arrays(data.draw, (batch, *spatial, channels), dtype)
    fast, slow = POOLS[kind]
    out = np.full((batch, *out_spatial, channels), np.nan, dtype)
    got = fast(x, kernel, stride, pads, dilation, out_spatial, out=out)
    assert got is out
    want = slow(x, kernel, stride, pads, dilation, out_spatial)
    if kind == "max":  # a max is exact: the same cell wins in any order
        np.testing.assert_array_equal(got, want.astype(dtype))
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5 if float32 else 1e-12, atol=1e-6 if float32 else 1e-12)


@FAST
@given(window_settings(), st.integers(1, 3), st.data())
def test_blocked_pooling_of_a_channel_slice(blocks, geo, channels, data):
    """The input may be a strided view (a concat's channels in the fused plan's arena)."""
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    assume(all(every_window_reads_input(*axis) for axis in zip(spatial, kernel, stride, dilation, pads, out_spatial)))
    wide = arrays(data.draw, (2, *spatial, channels + 3))
    x = wide[..., 1:1 + channels]
    np.testing.assert_array_equal(K.maxpool(x, kernel, stride, pads, dilation, out_spatial),
                                  R.maxpool(x, kernel, stride, pads, dilation, out_spatial))
    np.testing.assert_allclose(K.avgpool(x, kernel, stride, pads, dilation, out_spatial),
                               R.avgpool(x, kernel, stride, pads, dilation, out_spatial), rtol=1e-12, atol=1e-12)


@FAST
@given(st.integers(1, 3), st.data())
def test_tiling_pools_take_the_whole_tensor_path(monkeypatch, rank, data):
    """Windows that tile the input (kernel == stride, no dilation, no padding before; floor mode may leave cells
    at the end unread, padding after is never read) on a small map: whole-tensor reductions per tap axis
    (``_pool_tiles``), max bit-exact and the mean as the twin's, into a given ``out`` or from a channel slice.
    numpy's path (float32 takes the compiled pools when numba is loaded: ``test_compiled``)."""
    monkeypatch.setattr(compiled, "ENABLED", False)
    kernel = tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    out_spatial = tuple(data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    spatial = tuple(o * f + data.draw(st.integers(0, f - 1)) for o, f in zip(out_spatial, kernel))
    pads = tuple((0, data.draw(st.integers(0, 1))) for _ in range(rank))
    channels = data.draw(st.integers(1, 4))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    wide = arrays(data.draw, (2, *spatial, channels + 2), dtype)
    x = wide[..., 1:1 + channels] if data.draw(st.booleans()) else np.ascontiguousarray(wide[..., :channels])
    calls = []
    real = K._pool_tiles
    monkeypatch.setattr(K, "_pool_tiles", lambda *args: calls.append(1) or real(*args))
    for fast, slow in ((K.maxpool, R.maxpool), (K.avgpool, R.avgpool)):
        out = np.full((2, *out_spatial, channels), np.nan, dtype)
        got = fast(x, kernel, kernel, pads, None, out_spatial, out=out)
        assert got is out
        want = slow(x, kernel, kernel, pads, None, out_spatial)
        if fast is K.maxpool:
            np.testing.assert_array_equal(got, want.astype(dtype))
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-7)
    assert len(calls) == 2


def test_pool_window_wholly_in_padding_gives_fill():
    """Pads of the kernel's size (the calculator refuses them): max reads no cell (-inf), the mean is 0/0."""
    x = np.arange(6.0).reshape(1, 3, 2)
    assert K.maxpool(x, (2,), (2,), ((2, 0),))[0, :, 0].tolist() == [-np.inf, 2.0]
    assert np.isnan(K.avgpool(x, (2,), (2,), ((2, 0),))[0, 0]).all()


def test_pool_rejects_a_window_past_the_padded_input():
    with pytest.raises(ValueError, match="past the padded input"):
        K.maxpool(np.zeros((1, 4, 1)), (2,), (2,), ((0, 0),), out_spatial=(3,))


@FAST
@given(st.integers(1, 12), st.integers(1, 7), st.floats(0.5, 3), st.floats(1e-5, 1.0), st.sampled_from([0.75, 0.5, 1.0]),
       st.booleans(), st.integers(1, 3), st.data())
def test_blocked_lrn_matches_reference(blocks, channels, size, k, alpha, beta, over_n, batch, data):
    x = arrays(data.draw, (batch, 3, 2, channels)) * 5
    out = np.full_like(x, np.nan)
    assert K.lrn(x, size, k, alpha, beta, over_n, out=out) is out
    np.testing.assert_allclose(out, R.lrn(x, size, k, alpha, beta, over_n), rtol=1e-12)
    x32 = x.astype(np.float32)[:, :, 1:]  # float32, a strided view
    np.testing.assert_allclose(K.lrn(x32, size, k, alpha, beta, over_n), R.lrn(x32, size, k, alpha, beta, over_n),
                               rtol=1e-5)


@pytest.mark.parametrize("kernel", ["compiled", "numpy"])
@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 40), st.data())
def test_channel_shuffle_into_out_matches_reference(kernel, groups, per, rows, data):
    """The compiled kernel (two groups and the rest, blocks of one row spread over two threads) and numpy's
    loops (over groups when G <= C/G, else over columns), into ``out``, from a channel slice."""
    if kernel == "compiled" and not compiled.load():
        pytest.skip("numba is not installed: pip install 'archcalc[fast]'")
    wide = arrays(data.draw, (2, rows, groups * per + 2), np.float32)
    x = wide[..., 1:-1]
    out = np.full_like(x, np.nan)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "ENABLED", kernel == "compiled")
        mp.setattr(K, "DEPTHWISE_BLOCK_BYTES", 4)
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        mp.setattr(K, "workers", lambda: 2)
        calls = []
        real = compiled.shuffle_rows
        mp.setattr(compiled, "shuffle_rows", lambda *a: calls.append(a) or real(*a))
        assert K.channel_shuffle(x, groups, out=out) is out
    np.testing.assert_array_equal(out, R.channel_shuffle(x, groups).astype(np.float32))
    assert len(calls) == (2 * rows if kernel == "compiled" else 0)


@FAST
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(1, 24), st.booleans(), st.booleans(),
       st.data())
def test_gated_pointwise_conv_matches_multiply_then_conv(monkeypatch, threads, batch, size, channels, filters, bias,
                                                         small_blocks, data):
    """pointwise(x, w, gate=g) is the 1x1 conv of x * g (g per sample and channel), bias and epilogue included:
    each sample's weights scaled, or (a map of fewer positions than filters) the map scaled block by block, blocks
    of three rows straddling samples too."""
    x = arrays(data.draw, (batch, size, size + 1, channels))
    gate = arrays(data.draw, (batch, channels))
    w = arrays(data.draw, (1, 1, channels, filters))
    b = arrays(data.draw, (filters,)) if bias else None
    calls = []
    real = K._gated
    monkeypatch.setattr(K, "_gated", lambda *a: calls.append(1) or real(*a))
    if small_blocks:
        monkeypatch.setattr(K, "PROLOGUE_BLOCK_BYTES", 3 * channels * 8)
    got = K.pointwise(x, w, b, gate=gate, epilogue=lambda block: np.maximum(block, 0, out=block))
    want = np.maximum(R.conv(x * gate[:, None, None, :], w, b, (1, 1), ((0, 0), (0, 0))), 0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert bool(calls) == (size * (size + 1) < filters)


@FAST
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 6), st.integers(1, 5), st.integers(0, 3), st.booleans(),
       st.data())
def test_pointwise_conv_with_a_prologue(threads, batch, size, channels, filters, extra, gated, data):
    """pointwise(x, w, prologue=p) is the 1x1 conv of p(x) (a batchnorm and relu here), x a channel slice of a
    wider buffer, in small blocks (each block transformed once)."""
    wide = arrays(data.draw, (batch, size, size + 1, channels + extra))
    x = wide[..., extra:]
    factor, shift = arrays(data.draw, (channels,)), arrays(data.draw, (channels,))
    gate = arrays(data.draw, (batch, channels)) if gated else None
    w = arrays(data.draw, (1, 1, channels, filters))

    def prologue(src, dst):
        np.multiply(src, factor, out=dst)
        dst += shift
        np.maximum(dst, 0, out=dst)

    K.PROLOGUE_BLOCK_BYTES, saved = 3 * channels * 8, K.PROLOGUE_BLOCK_BYTES  # three rows a block
    try:
        got = K.pointwise(x, w, None, prologue=prologue, gate=gate)
    finally:
        K.PROLOGUE_BLOCK_BYTES = saved
    pre = np.maximum(x * factor + shift, 0) * (1 if gate is None else gate[:, None, None, :])
    np.testing.assert_allclose(got, R.conv(pre, w, None, (1, 1), ((0, 0), (0, 0))), rtol=1e-10, atol=1e-10)
