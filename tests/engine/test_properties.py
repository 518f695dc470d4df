"""Every fast kernel against its plain twin in ``archcalc.engine.reference``, over random settings."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.engine import kernels as K
from archcalc.engine import reference as R

FAST = settings(max_examples=150, deadline=None)


def out_size(n, f, s, p0, p1, d, ceil):
    """PyTorch's rule: floor or ceil of (n + p - d(f-1) - 1)/s + 1, last window starting in input or left pad."""
    span = n + p0 + p1 - d * (f - 1) - 1
    if not ceil:
        return span // s + 1
    o = -(-span // s) + 1
    if (o - 1) * s >= n + p0:
        o -= 1
    return o


@st.composite
def window_settings(draw, max_rank=3):
    """Rank, input spatial size, kernel, stride, dilation, pads and output size, all per axis."""
    rank = draw(st.integers(1, max_rank))
    max_n = {1: 9, 2: 6, 3: 4}[rank]
    ceil = draw(st.booleans())
    spatial, kernel, stride, dilation, pads, out = [], [], [], [], [], []
    for _ in range(rank):
        f = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2))
        s = draw(st.integers(1, 3))
        p0, p1 = draw(st.integers(0, f - 1)), draw(st.integers(0, f - 1))
        n = draw(st.integers(max(1, d * (f - 1) + 1 - p0 - p1), max(max_n, d * (f - 1) + 1)))
        spatial.append(n), kernel.append(f), stride.append(s), dilation.append(d), pads.append((p0, p1))
        out.append(out_size(n, f, s, p0, p1, d, ceil))
    return tuple(spatial), tuple(kernel), tuple(stride), tuple(dilation), tuple(pads), tuple(out)


def arrays(draw, shape, dtype=np.float64):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@FAST
@given(window_settings(), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.integers(1, 2),
       st.sampled_from(["none", "filters", "position"]), st.data())
def test_conv_matches_reference(geo, groups, c_g, f_g, batch, bias, data):
    spatial, kernel, stride, dilation, pads, out = geo
    x = arrays(data.draw, (batch, *spatial, groups * c_g))
    w = arrays(data.draw, (*kernel, c_g, groups * f_g))
    b = {"none": None,
         "filters": arrays(data.draw, (groups * f_g,)),
         "position": arrays(data.draw, (*out, groups * f_g))}[bias]
    got = K.conv(x, w, b, stride, pads, dilation, groups, out_spatial=out, algorithm="gemm")
    want = R.conv(x, w, b, stride, pads, dilation, groups, out_spatial=out)
    assert got.shape == (batch, *out, groups * f_g)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@FAST
@given(st.integers(1, 10), st.integers(1, 10), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2),
       st.integers(0, 2), st.integers(1, 3), st.integers(1, 3), st.booleans(), st.sampled_from(["winograd", "winograd2"]),
       st.sampled_from([(3, 3), (5, 5), (1, 7), (7, 1), (2, 3), (1, 1), (3, 5)]), st.data())
def test_winograd_matches_reference(h, w_, pt, pb, pl, pr, c_in, filters, ceil, algorithm, kernel, data):
    """Winograd with output tiles of 4 and 2 along each axis whose kernel is wider than 1 (F(4x4, 3x3), F(2x2,
    5x5), F(1x4, 1x7), ...), tiles hanging off the end included, against the plain loops."""
    pads = ((pt, pb), (pl, pr))
    assume(max(kernel) + (4 if algorithm == "winograd" else 2) - 1 <= 8)  # at most 8 inputs a tile per axis
    assume(h + pt + pb >= kernel[0] and w_ + pl + pr >= kernel[1])
    out = (out_size(h, kernel[0], 1, pt, pb, 1, ceil), out_size(w_, kernel[1], 1, pl, pr, 1, ceil))
    x = arrays(data.draw, (2, h, w_, c_in))
    w = arrays(data.draw, (*kernel, c_in, filters))
    got = K.conv(x, w, None, (1, 1), pads, out_spatial=out, algorithm=algorithm)
    want = R.conv(x, w, None, (1, 1), pads, out_spatial=out)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


#: Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2015), F(4x4, 3x3): B^T, G, A^T as printed
LAVIN_F43 = (
    [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0],
     [0, 4, 0, -5, 0, 1]],
    [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6],
     [0, 0, 1]],
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])


@pytest.mark.parametrize("side, c_in, filters, slow, fast", [
    (32, 32, 32, None, 4), (55, 16, 64, None, 4), (56, 64, 64, 4, 4), (14, 32, 64, None, None),
    (32, 3, 32, None, None), (13, 128, 128, 2, 4), (7, 512, 512, None, 2), (32, 15, 32, None, None),
    (14, 96, 208, None, 4), (7, 160, 320, None, 4), (13, 384, 384, 2, 2), (6, 256, 256, None, None),
    (13, 48, 192, None, 4), (13, 47, 192, None, None), (14, 64, 63, None, None),
    (14, 128, 32, None, 4), (10, 128, 48, None, 4), (9, 128, 32, None, None), (14, 127, 32, None, None),
    (14, 128, 31, None, None), (7, 256, 32, None, None)])
def test_winograd_tile_takes_fewer_channels_on_the_fast_path(side, c_in, filters, slow, fast):
    """The compiled transforms with spread chunks pay from 16 channels in on 16x16+ maps, on 7x7 to 15x15 maps
    from 48 in and 64 out (tiles of 2 from 384 in), and on 10x10 to 15x15 maps from 128 in and 32 out (DenseNet's
    14x14 128->32); numpy's from 64 (tiles of 2 on 8x8 to 15x15 from 128)."""
    args = ((3, 3), c_in, filters, (1, 1), (1, 1), 1, (side, side))
    assert (K.winograd_tile(*args), K.winograd_tile(*args, fast=True)) == (slow, fast)


@pytest.mark.parametrize("kernel, out_spatial, c_in, filters, fast", [
    ((1, 7), (17, 17), 192, 192, 2), ((7, 1), (17, 17), 160, 192, 2), ((1, 3), (8, 8), 384, 384, 4),
    ((3, 1), (8, 8), 448, 384, 4), ((1, 5), (17, 17), 64, 64, 4), ((1, 7), (17, 17), 32, 32, None),
    ((1, 7), (17, 17), 64, 63, None), ((1, 7), (17, 7), 128, 128, None), ((7, 1), (7, 17), 128, 128, None),
    ((7, 1), (8, 3), 128, 128, 2), ((1, 9), (17, 17), 128, 128, None), ((1, 1), (17, 17), 128, 128, None)])
def test_winograd_tile_for_1xk_and_kx1_kernels_on_the_fast_path(kernel, out_spatial, c_in, filters, fast):
    """Inception v3's 1x7, 7x1, 1x3 and 3x1 convs: F(1x4, 1xk) for k = 3, 5, F(1x2, 1x7) for 7 (at most 8 points), from
    64 channels in and out and 8 outputs along the kernel's axis, on the fast path only."""
    args = (kernel, c_in, filters, (1, 1), (1, 1), 1, out_spatial)
    assert (K.winograd_tile(*args), K.winograd_tile(*args, fast=True)) == (None, fast)


def test_winograd_matrices_are_lavin_and_grays():
    for got, printed in zip(K.winograd_matrices(4, 3), LAVIN_F43):
        np.testing.assert_allclose(got, printed, rtol=1e-15, atol=0)


@pytest.mark.parametrize("m, r", [(m, r) for m in (1, 2, 3, 4, 6) for r in (1, 2, 3, 5, 7) if m + r - 1 <= 8])
def test_winograd_matrices_compute_the_correlation(m, r):
    """y = A^T [(G g) * (B^T d)] is y_i = sum_k g_k d_{i+k}, for F(m, r) of every size the points allow."""
    bt, g, at = K.winograd_matrices(m, r)
    assert bt.shape == (m + r - 1, m + r - 1) and g.shape == (m + r - 1, r) and at.shape == (m, m + r - 1)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(5):
        d, w = rng.standard_normal(m + r - 1), rng.standard_normal(r)
        want = [sum(w[k] * d[i + k] for k in range(r)) for i in range(m)]
        np.testing.assert_allclose(at @ ((g @ w) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


def test_winograd_refuses_what_it_cannot_do():
    x, w = np.ones((1, 9, 9, 2)), np.ones((3, 3, 2, 2))
    for args in [dict(stride=(2, 1)), dict(dilation=(1, 2))]:
        with pytest.raises(ValueError, match="Winograd takes"):
            K.conv(x, w, None, args.get("stride", (1, 1)), ((1, 1), (1, 1)), args.get("dilation"),
                   algorithm="winograd")
    with pytest.raises(ValueError, match="Winograd takes"):
        K.conv(np.ones((1, 9, 2)), np.ones((3, 2, 2)), None, (1,), ((1, 1),), algorithm="winograd")
    with pytest.raises(ValueError, match="needs"):
        K.winograd_matrices(4, 6)  # 9 inputs a tile: float32 would lose 2e-4
    with pytest.raises(ValueError, match="Winograd takes"):
        K.conv(np.ones((1, 9, 9, 2)), np.ones((7, 7, 2, 2)), None, (1, 1), ((3, 3), (3, 3)), algorithm="winograd")
    K.conv(np.ones((1, 9, 9, 2)), np.ones((7, 7, 2, 2)), None, (1, 1), ((3, 3), (3, 3)), algorithm="winograd2")


@pytest.mark.parametrize("side, c_in, filters, tile, kernel", [
    (19, 64, 36, 4, 3), (19, 40, 36, None, 3), (13, 128, 130, 2, 3), (7, 128, 128, None, 3),
    (27, 96, 64, 4, 5), (14, 16, 48, 4, 5), (10, 48, 64, None, 5), (28, 6, 16, None, 5)])
def test_winograd_float32_close_to_float64(side, c_in, filters, tile, kernel):
    """What ``algorithm="auto"`` picks (3x3: F(4x4) on larger maps, F(2x2) on 8-15 with 128+ channels; 5x5:
    F(4x4, 5x5) from 14x14 with 16+ channels; else GEMM), in float32, against the float64 GEMM."""
    assert K.winograd_tile((kernel, kernel), c_in, filters, (1, 1), (1, 1), 1, (side, side + 4)) == tile
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, side, side + 4, c_in))
    w = rng.standard_normal((kernel, kernel, c_in, filters)) / np.sqrt(kernel * kernel * c_in)
    pads = ((kernel // 2, kernel // 2),) * 2
    want = K.conv(x, w, None, (1, 1), pads, algorithm="gemm")
    got = K.conv(x.astype(np.float32), w.astype(np.float32), None, (1, 1), pads, algorithm="auto")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_gemm_chunking_matches_unchunked(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 9, 8, 4))
    w = rng.standard_normal((3, 2, 2, 6))
    args = ((2, 1), ((1, 1), (0, 1)), (1, 2), 2)
    whole = K.conv(x, w, None, *args, algorithm="gemm")
    for limit in (1, 200, 3000):  # rows, lines, images per chunk
        monkeypatch.setattr(K, "IM2COL_CHUNK_BYTES", limit)
        monkeypatch.setattr(K, "WINOGRAD_CHUNK_BYTES", limit)
        np.testing.assert_array_equal(K.conv(x, w, None, *args, algorithm="gemm"), whole)
        w3 = rng.standard_normal((3, 3, 4, 5))
        for algorithm in ("winograd", "winograd2"):
            np.testing.assert_allclose(K.conv(x, w3, None, (1, 1), ((1, 1), (1, 1)), algorithm=algorithm),
                                       R.conv(x, w3, None, (1, 1), ((1, 1), (1, 1))), atol=1e-9)


def every_window_reads_input(n, f, s, d, pads, o):
    """Pooling is undefined for a window that lies wholly in the padding (the calculator rejects it)."""
    return all(any(0 <= i * s + u * d - pads[0] < n for u in range(f)) for i in range(o))


@FAST
@given(window_settings(), st.integers(1, 3), st.sampled_from(["max", "avg"]), st.data())
def test_pooling_matches_reference(geo, channels, kind, data):
    spatial, kernel, stride, dilation, pads, out = geo
    assume(all(every_window_reads_input(*axis) for axis in zip(spatial, kernel, stride, dilation, pads, out)))
    x = arrays(data.draw, (2, *spatial, channels))
    fast, slow = (K.maxpool, R.maxpool) if kind == "max" else (K.avgpool, R.avgpool)
    got = fast(x, kernel, stride, pads, dilation, out_spatial=out)
    assert got.shape == (2, *out, channels)
    np.testing.assert_allclose(got, slow(x, kernel, stride, pads, dilation, out_spatial=out), rtol=1e-12,
                               atol=1e-12)  # sums: separable, another order than the twin's


@FAST
@given(st.integers(1, 9), st.integers(1, 7), st.floats(0.5, 3), st.floats(1e-5, 1.0),
       st.floats(0.25, 1.0), st.booleans(), st.data())
def test_lrn_matches_reference(channels, size, k, alpha, beta, over_n, data):
    x = arrays(data.draw, (2, 3, channels)) * 5
    np.testing.assert_allclose(K.lrn(x, size, k, alpha, beta, over_n), R.lrn(x, size, k, alpha, beta, over_n),
                               rtol=1e-12)


@FAST
@given(st.integers(1, 6), st.booleans(), st.data())
def test_batchnorm_matches_reference(channels, affine, data):
    x = arrays(data.draw, (2, 3, channels))
    gamma, beta = (arrays(data.draw, (channels,)), arrays(data.draw, (channels,))) if affine else (None, None)
    mean = arrays(data.draw, (channels,))
    var = np.abs(arrays(data.draw, (channels,)))
    np.testing.assert_allclose(K.batchnorm(x, gamma, beta, mean, var, 1e-3),
                               R.batchnorm(x, gamma, beta, mean, var, 1e-3), rtol=1e-12, atol=1e-12)


@FAST
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.data())
def test_dense_matches_reference(batch, inputs, units, data):
    x = arrays(data.draw, (batch, 2, inputs))
    w = arrays(data.draw, (2 * inputs, units))
    b = arrays(data.draw, (units,))
    net = archcalc.load_spec({"input": [2, inputs], "layers": [{"type": "dense", "units": units, "name": "d"}]})
    y = archcalc.forward(net, x, {"d": {"weight": w, "bias": b}}, dtype="float64")
    np.testing.assert_allclose(y, R.dense(x, w, b), rtol=1e-12, atol=1e-12)
