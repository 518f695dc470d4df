"""The narrow-product kernels in LLVM IR (``archcalc.engine.narrow``) against float64 products, alone and as the
im2col convs' product (gather, product and finish in one compiled call per thread), and the operands they refuse;
the Winograd tile transforms built there, alone and in the Winograd convs they run.

They run only where numba (and so llvmlite) is installed and the CPU has AVX-512; elsewhere these tests skip and
the engine uses BLAS, which ``test_compiled.py`` and ``test_properties.py`` cover.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archcalc.engine import compiled, narrow
from archcalc.engine import kernels as K
from archcalc.engine import reference as R
from archcalc.engine.plan import _epilogue

from test_compiled import Named
from test_properties import arrays, window_settings

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def kernels(monkeypatch):
    """The narrow kernels switched on, or a skip where they cannot run; the compiled calls made, by name."""
    monkeypatch.setattr(compiled, "ENABLED", True)
    monkeypatch.setattr(narrow, "ENABLED", True)
    if not compiled.load():
        pytest.skip("numba is not installed: pip install 'archcalc[fast]'")
    if not narrow.available():
        pytest.skip("the narrow kernels need a CPU with AVX-512")
    assert K._narrow_available(), "the narrow kernels failed their self-test (kernels._narrow_self_test)"
    calls: list[str] = []
    for name in ("im2col_narrow", "narrow_rows", "grouped_narrow", "grouped_rows", "im2col_rows", "im2col_taps", "finish_rows",
                 "winograd_narrow", "winograd_in", "depthwise_narrow", "depthwise_rows", "depthwise_ring_rows",
                 "direct_narrow"):
        real = getattr(compiled, name)
        monkeypatch.setattr(compiled, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    return calls


COLUMNS = st.one_of(st.sampled_from([16, 32, 48, 64, 80, 96, 128, 192, 384]), st.integers(1, 384))


@FAST
@given(st.integers(1, 40), st.integers(1, 60), COLUMNS, st.booleans(), st.booleans(), st.booleans(),
       st.integers(0, 3), st.data())
def test_product_matches_float64(kernels, rows, inner, columns, transposed, relu, bias, spare, data):
    """out = a @ w (+ bias, relu) for every rows count (the kernels take 3-8 rows at once and a tail row by row) and
    every column count (chunks of up to 96, a last register of 1-16 real columns stored one by one),
    a read as it lies or transposed (tap-major columns), out a channel slice of a wider buffer (the cells around
    it untouched)."""
    a = arrays(data.draw, (inner, rows) if transposed else (rows, inner), np.float32)
    a = a.T if transposed else a
    w = arrays(data.draw, (inner, columns), np.float32)
    b = arrays(data.draw, (columns,), np.float32) if bias else None
    whole = np.full((rows, columns + 2 * spare), -7.25, np.float32)
    out = whole[:, spare:spare + columns]
    assert narrow.product(a, w, out, b, relu)
    want = a.astype(np.float64) @ w.astype(np.float64) + (0 if b is None else b)
    if relu:
        want = np.maximum(want, 0)
    scale = max(1.0, float(np.abs(a).max() * np.abs(w).max() * inner))
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-6 * scale)
    assert (whole[:, :spare] == -7.25).all() and (whole[:, spare + columns:] == -7.25).all()


def test_relu_keeps_nan_and_known_values(kernels):
    """relu(NaN) stays NaN (numpy's maximum keeps it); a worked example: 8 rows of [1, 2, 3] against columns of
    ones, twos, ... sixteen: row r gives 6 * (r + 1) * column - 40, relu'd."""
    a = np.array([[np.nan, 1.0]], np.float32)
    out = np.zeros((1, 16), np.float32)
    assert narrow.product(a, np.ones((2, 16), np.float32), out, None, relu=True)
    assert np.isnan(out).all()
    a = np.array([[1.0, 2.0, 3.0]] * 9, np.float32) * np.arange(1, 10, dtype=np.float32)[:, None]
    w = np.broadcast_to(np.arange(1, 17, dtype=np.float32), (3, 16)).copy()
    out = np.empty((9, 16), np.float32)
    assert narrow.product(a, w, out, np.full(16, -40.0, np.float32), relu=True)
    want = np.maximum(6 * np.arange(1, 10)[:, None] * np.arange(1, 17)[None, :] - 40, 0)
    assert (out == want).all()


def test_refused_operands(kernels):
    """What the kernels do not take is left to BLAS: False and nothing written."""
    a = np.ones((5, 4), np.float32)
    out = np.full((5, 16), 3.0, np.float32)
    assert not narrow.product(a, np.ones((4, 400), np.float32), np.empty((5, 400), np.float32))  # over 384
    assert not narrow.product(a.astype(np.float64), np.ones((4, 16)), out.astype(np.float64))  # float64
    assert not narrow.product(a, np.ones((3, 16), np.float32), out)  # inner dimensions differ
    assert not narrow.product(a[:, ::2], np.ones((2, 16), np.float32), out)  # a strided along both axes
    assert not narrow.product(a, np.ones((4, 32), np.float32)[:, ::2], out)  # w not contiguous
    assert not narrow.product(a, np.ones((4, 16), np.float32), out[::-1])  # rows backwards
    assert not narrow.product(a, np.ones((4, 16), np.float32), out, np.ones(8, np.float32))  # bias of 8
    assert (out == 3).all()
    narrow.ENABLED = False
    try:
        assert not narrow.product(a, np.ones((4, 16), np.float32), out)
    finally:
        narrow.ENABLED = True


FINISHES = ["none", "bias", "bias+relu", "bias+hardswish", "bias+silu", "relu6", "bias+add", "bias+add+relu",
            "add+hardswish"]


class Case:
    """A FINISHES case for a conv of ``filters`` outputs over ``lead`` (batch and output map): the bias, a
    residual add (only into a buffer of the conv's own, as the plan fuses it), the activation, the output (a
    channel slice of a wider buffer of -7.25 when ``before``), and the epilogue the plan would give."""

    def __init__(self, data, finish: str, filters: int, before: int, lead: tuple) -> None:
        self.bias = arrays(data.draw, (filters,), np.float32) if "bias" in finish else None
        self.residual = "add" in finish and not before
        self.act = {"relu": "relu", "hardswish": "hardswish", "silu": "silu", "relu6": "relu6"}.get(
            finish.split("+")[-1])
        self.spec = ((("add", ("r",), None),) if self.residual else ()) + (
            (("act", self.act, None),) if self.act else ())
        self.before, self.filters = before, filters
        self.whole = np.full((*lead, before + filters + 1), -7.25, np.float32)
        self.out = self.whole[..., before:before + filters] if before else np.empty((*lead, filters), np.float32)
        self.res = arrays(data.draw, self.out.shape, np.float32) * 3

    def epilogue(self):
        return _epilogue(self.spec, self.out, {"r": self.res}) if self.spec else None

    def check(self, got: np.ndarray, want: np.ndarray) -> None:
        """got is the output, the finish applied to the float64 ``want``, the cells around the slice untouched."""
        if self.residual:
            want = want + self.res
        if self.act:
            want = R.activate(want, self.act)
        assert got is self.out
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(want).max())))
        if self.before:
            assert (self.whole[..., :self.before] == -7.25).all()
            assert (self.whole[..., self.before + self.filters:] == -7.25).all()


def _split(mp, split: str, block: str = "NARROW_BLOCK_BYTES") -> None:
    """One call, steps of one row (``block`` at 4 bytes), or those steps shared by two threads."""
    if split != "one call":
        mp.setattr(K, block, 4)
    if split == "spread":
        mp.setattr(K, "workers", lambda: 2)
        mp.setattr(K, "NARROW_SPREAD_MIN_MACS", 0)
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)


@FAST
@given(window_settings(max_rank=2), st.one_of(st.integers(1, 4), st.sampled_from([15, 16])), COLUMNS,
       st.integers(1, 3), st.sampled_from(FINISHES), st.integers(0, 2), st.sampled_from(["one call", "steps", "spread"]),
       st.booleans(), st.data())
def test_im2col_conv_matches_twin(kernels, geo, c_in, filters, batch, finish, before, split, direct, data):
    """Dense 1-D and 2-D convs of 1-384 filters by im2col with the narrow product (one channel gathered a row per
    tap, or window rows), or with fewer than 16 channels in (``direct``) by the indexed kernels reading the taps in
    place (the cells at the input's edges gathered), in one call, in steps of one output row, or shared by two
    threads: with a bias, relu and other activations in the same call, into a fresh array or a channel slice of a
    wider buffer, against the float64 twin.  A residual add is left to the block finish after BLAS's product."""
    kernels.clear()
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    x = arrays(data.draw, (batch, *spatial, c_in), np.float32) * 2
    w = arrays(data.draw, (*kernel, c_in, filters), np.float32)
    case = Case(data, finish, filters, before, (batch, *out_spatial))
    with pytest.MonkeyPatch.context() as mp:
        _split(mp, split)
        mp.setattr(K, "DIRECT_NARROW", direct)
        got = K.conv(x, w, case.bias, stride, pads, dilation, 1, out_spatial, out=case.out, algorithm="gemm",
                     epilogue=case.epilogue())
    case.check(got, R.conv(x.astype(np.float64), w, case.bias, stride, pads, dilation, 1, out_spatial=out_spatial))
    if np.prod(kernel) > 1:
        by_tap = len(kernel) == 2 and c_in == 1 and stride[1] == 1
        path = "direct_narrow" if direct and not by_tap and c_in < 16 else "im2col_narrow"
        assert (path in kernels) == (not case.residual)
        assert not ({"direct_narrow", "im2col_narrow"} - {path}) & set(kernels)


@FAST
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 40), COLUMNS, st.sampled_from(FINISHES), st.integers(0, 2),
       st.sampled_from(["plain", "gated weights", "gated map", "prologue"]), st.sampled_from(["one call", "steps", "spread"]),
       st.data())
def test_pointwise_matches_twin(kernels, batch, side, c_in, filters, finish, before, first, split, data):
    """1x1 convs by the narrow kernels: input rows read in place from a channel slice of a wider buffer, a
    per-sample gate (squeeze-and-excitation) scaling each sample's weights or, on a small map, the map block by
    block, or a prologue (DenseNet's batchnorm and relu before the conv) on each block in a workspace; a bias, relu
    and other activations in the same call, output into a channel slice; a residual add (into the conv's own
    buffer) and the activation after it on each block the kernels wrote; in one call, in steps of one row, or
    shared by two threads; against the float64 twin."""
    kernels.clear()
    gated = first.startswith("gated")
    wide = arrays(data.draw, (batch, side, side, c_in + before), np.float32) * 2
    x = wide[..., before:]
    w = arrays(data.draw, (c_in, filters), np.float32)
    case = Case(data, finish, filters, before, (batch, side, side))
    gate = (arrays(data.draw, (batch, c_in), np.float32) + 2) if gated else None

    def prologue(src, dst):
        np.maximum(src * np.float32(0.5) + np.float32(0.25), 0, out=dst)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "GATE_MAP_RATIO", 0 if first == "gated weights" else 10**9)
        _split(mp, split)
        if split != "one call":
            mp.setattr(K, "PROLOGUE_BLOCK_BYTES", 4)  # a block of one row
        got = K.pointwise(x, w, case.bias, out=case.out, epilogue=case.epilogue(), gate=gate,
                          prologue=prologue if first == "prologue" else None)
    xs = x.astype(np.float64) if gate is None else x.astype(np.float64) * gate[:, None, None, :]
    if first == "prologue":
        xs = np.maximum(xs * 0.5 + 0.25, 0)
    case.check(got, xs @ w.astype(np.float64) + (0 if case.bias is None else case.bias))
    assert "narrow_rows" in kernels and "finish_rows" not in kernels  # the residual added in the same call


@FAST
@given(window_settings(max_rank=2), st.integers(9, 20), st.sampled_from([2, 3]), st.integers(1, 40),
       st.integers(1, 2), st.sampled_from(FINISHES), st.integers(0, 2), st.sampled_from(["one call", "steps", "spread"]),
       st.data())
def test_grouped_conv_matches_twin(kernels, geo, c_g, groups, f_g, batch, finish, before, split, data):
    """Grouped 2-D convs of 9+ channels a group by the narrow kernels (each group's columns gathered from the
    unpadded input and multiplied into its channels): strides, dilations, asymmetric pads, a bias and activations,
    output into a channel slice; in one call, in steps of one row, or shared by two threads; against the float64
    twin.  A residual add is left to the block finish after the batched BLAS products."""
    kernels.clear()
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    assume(len(spatial) == 2)
    filters = f_g * groups
    x = arrays(data.draw, (batch, *spatial, c_g * groups), np.float32) * 2
    w = arrays(data.draw, (*kernel, c_g, filters), np.float32)
    case = Case(data, finish, filters, before, (batch, *out_spatial))
    with pytest.MonkeyPatch.context() as mp:
        _split(mp, split)
        got = K.conv(x, w, case.bias, stride, pads, dilation, groups, out_spatial, out=case.out,
                     epilogue=case.epilogue())
    case.check(got, R.conv(x.astype(np.float64), w, case.bias, stride, pads, dilation, groups,
                           out_spatial=out_spatial))
    assert ("grouped_narrow" in kernels) == (not case.residual)


TRANSFORMS = [(2, 3), (4, 3), (4, 5), (2, 7), (4, 1)]  # (m, r): F(2, 3) ... F(2, 7); r = 1 the identity


@FAST
@given(st.sampled_from(TRANSFORMS), st.sampled_from(TRANSFORMS), st.one_of(st.integers(1, 40), st.just(16)),
       st.booleans(), st.booleans(), st.integers(0, 5), st.data())
def test_transform_matches_float64(kernels, along_h, along_w, channels, output, relu, gap, data):
    """``narrow.transform``'s kernels: y[i, j] = sum_kl left[i, k] x[k, l] right[j, l] for every channel (16 at a
    time and the rest one by one), cells read and written at strides with gaps, the bias added and relu applied
    when built with them, against float64; a NaN reaches the outputs whose coefficient for it is not zero, through
    relu too; the cells around the output untouched."""
    (m_h, r_h), (m_w, r_w) = along_h, along_w
    mats = [K.winograd_matrices(m, r) if r > 1 else (np.ones((1, 1)),) * 3 for m, r in (along_h, along_w)]
    left, right = (np.asarray(t[2] if output else t[0], np.float32) for t in mats)
    x = arrays(data.draw, (left.shape[1], right.shape[1], channels + gap), np.float32)
    if data.draw(st.booleans()):
        x[0, 0, 0] = np.nan
    bias = arrays(data.draw, (channels,), np.float32) if output else None
    y = np.full((left.shape[0], right.shape[0], channels + gap + 1), -7.25, np.float32)
    kernel = narrow.transform(left, right, bias is not None, relu)
    kernel(x.ctypes.data, x.shape[1] * x.shape[2], x.shape[2], y.ctypes.data, y.shape[1] * y.shape[2], y.shape[2],
           channels, 0 if bias is None else bias.ctypes.data)
    cells = x[..., :channels].astype(np.float64)
    want = np.einsum("ik,klc,jl->ijc", left.astype(np.float64), np.nan_to_num(cells, nan=0.0),
                     right.astype(np.float64))
    # a NaN reaches the outputs whose coefficient for its cell is not zero (zeros are skipped, not multiplied)
    reached = np.einsum("ik,klc,jl->ijc", left != 0, np.isnan(cells), right != 0) > 0
    want[reached] = np.nan
    if bias is not None:
        want = want + bias
    if relu:
        want = np.where(want < 0, 0, want)
    got = y[..., :channels]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(np.nan_to_num(want)).max())))
    assert (y[..., channels:] == -7.25).all()


@settings(FAST, max_examples=30)  # (the float64 twin of a 13x13x33 -> 100 conv takes a second)
@given(st.integers(1, 2), st.integers(1, 13), st.integers(1, 13), st.sampled_from([16, 17, 33]),
       st.sampled_from([16, 24, 33, 100]), st.sampled_from([2, 4]), st.sampled_from([(3, 3), (5, 5), (1, 3)]),
       st.sampled_from(["", "relu", "silu"]), st.booleans(), st.integers(0, 2), st.data())
def test_winograd_conv_matches_twin(kernels, batch, h, w_, c_in, filters, tile, kernel, act, bias, before, data):
    """Winograd convs through the transforms and products of ``narrow`` (``compiled.winograd_narrow``) with 16 or
    more channels in and out (``test_compiled`` covers a few): tiles inside the map read in place, tiles over its
    edges gathered and written through scratch, points a ``spread_stride`` apart, into a channel slice of a wider
    buffer (the rest untouched), with a bias and relu in the output transform or silu after it, against float64."""
    assume(max(kernel) + tile - 1 <= 8)
    pad = (kernel[0] // 2, kernel[1] // 2)
    x = arrays(data.draw, (batch, h, w_, c_in), np.float32)
    w = arrays(data.draw, (*kernel, c_in, filters), np.float32)
    b = arrays(data.draw, (filters,), np.float32) if bias else None
    whole = np.full((batch, h, w_, before + filters + 1), -7.25, np.float32)
    out = whole[..., before:before + filters]
    got = K.conv(x, w, b, (1, 1), ((pad[0], pad[0]), (pad[1], pad[1])), out=out,
                 algorithm="winograd" if tile == 4 else "winograd2", epilogue=Named(act) if act else None)
    want = R.conv(x.astype(np.float64), w, b, (1, 1), ((pad[0], pad[0]), (pad[1], pad[1])))
    if act:
        want = R.activate(want, act)
    assert got is out
    np.testing.assert_allclose(got, want, rtol=0, atol=4e-5 * max(1.0, float(np.abs(want).max())))
    assert (whole[..., :before] == -7.25).all() and (whole[..., before + filters:] == -7.25).all()
    assert set(kernels) == {"winograd_narrow"}  # not the BLAS path's transforms, and no finish after


def ring_geometry(data, h: int, w_: int, kernel: tuple, stride: int, dilation: int):
    """(spatial, pads, output) of a ring kernel's 2-D case: pads drawn under the kernel, windows that fit."""
    pads = tuple((data.draw(st.integers(0, k - 1)), data.draw(st.integers(0, k - 1))) for k in kernel)
    spatial = (h, w_)
    assume(all(n + p0 + p1 >= dilation * (k - 1) + 1 for n, (p0, p1), k in zip(spatial, pads, kernel)))
    return spatial, pads, K.floor_out_spatial(spatial, kernel, (stride, stride), pads, (dilation, dilation))


def row_blocks_on_two_threads(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(K, "DEPTHWISE_BLOCK_BYTES", 4)  # one output row a block
    mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
    mp.setattr(K, "workers", lambda: 2)


@FAST
@given(st.integers(1, 2), st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 5, 16, 33, 48]),
       st.sampled_from([(1, 1), (3, 3), (5, 5), (7, 7), (3, 5), (1, 3)]), st.integers(1, 3), st.integers(1, 2),
       st.sampled_from(["", "relu", "hardswish"]), st.booleans(), st.booleans(), st.data())
def test_depthwise_conv_matches_twin(kernels, batch, h, w_, channels, kernel, stride, dilation, act, bias, spread,
                                     data):
    """Depthwise convs through ``narrow.depthwise``'s kernels (``compiled.depthwise_narrow``): 16 channels at a
    time and the rest one by one, rows of fewer cells than a block (the one-cell kernel), of more (the last block
    overlapping the one before), any stride and dilation, zero padding from the ring, relu in the kernel or
    hardswish after, blocks spread over two threads, against the float64 twin."""
    spatial, pads, out_spatial = ring_geometry(data, h, w_, kernel, stride, dilation)
    x = arrays(data.draw, (batch, *spatial, channels), np.float32) * 3
    w = arrays(data.draw, (*kernel, 1, channels), np.float32)
    b = arrays(data.draw, (channels,), np.float32) if bias else None
    with pytest.MonkeyPatch.context() as mp:
        if spread:
            row_blocks_on_two_threads(mp)
        got = K.conv_depthwise(x, w, b, (stride, stride), pads, (dilation, dilation), out_spatial,
                               epilogue=Named(act) if act else None)
    want = R.conv_depthwise(x.astype(np.float64), w, b, (stride, stride), pads, (dilation, dilation), out_spatial)
    if act:
        want = R.activate(want, act)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(want).max())))
    assert set(kernels) == {"depthwise_narrow"}  # the relu in the kernel, hardswish in the same call: no finish


@FAST
@given(st.integers(1, 2), st.integers(1, 12), st.integers(1, 12), st.sampled_from([2, 4, 8]), st.integers(1, 9),
       st.sampled_from([(1, 1), (3, 3), (5, 5), (3, 5), (1, 3)]), st.integers(1, 3), st.integers(1, 2),
       st.sampled_from(["", "relu", "hardswish"]), st.booleans(), st.booleans(), st.data())
def test_grouped_ring_conv_matches_twin(kernels, batch, h, w_, c_g, groups, kernel, stride, dilation, act, bias,
                                        spread, data):
    """Grouped convs of 2, 4 or 8 channels a group in and out through ``narrow.grouped``'s kernels on the depthwise
    ring (``kernels._grouped_ring``): 16 channels (whole groups) at a time, then the rest one by one (channel
    counts that are not a multiple of 16), rows of fewer and of more cells than a block, any stride and dilation,
    zero padding, relu in the kernel or hardswish after, blocks over two threads, against the float64 twin."""
    spatial, pads, out_spatial = ring_geometry(data, h, w_, kernel, stride, dilation)
    channels = c_g * groups
    x = arrays(data.draw, (batch, *spatial, channels), np.float32) * 3
    w = arrays(data.draw, (*kernel, c_g, channels), np.float32)
    b = arrays(data.draw, (channels,), np.float32) if bias else None
    with pytest.MonkeyPatch.context() as mp:
        if spread:
            row_blocks_on_two_threads(mp)
        got = K.conv_grouped(x, w, b, (stride, stride), pads, (dilation, dilation), groups, out_spatial,
                             epilogue=Named(act) if act else None)
    want = R.conv(x.astype(np.float64), w, b, (stride, stride), pads, (dilation, dilation), groups, out_spatial)
    if act:
        want = R.activate(want, act)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(want).max())))
    assert set(kernels) == {"depthwise_narrow"}  # the ring and the grouped kernels, not grouped_rows


def test_grouped_ring_kernels_only_for_2_4_8_channels_a_group():
    with pytest.raises(ValueError, match="2, 4 or 8"):
        narrow.grouped(3, 3, 16)


def test_switched_off_uses_blas(kernels, monkeypatch):
    """With ``narrow.ENABLED`` off the same conv takes the compiled gather and BLAS, to the same values."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 9, 3), dtype=np.float32)
    w = rng.standard_normal((3, 3, 3, 32), dtype=np.float32)
    b = rng.standard_normal(32, dtype=np.float32)
    on = K.conv(x, w, b, (1, 1), ((1, 1), (1, 1)), algorithm="gemm")
    assert kernels == ["direct_narrow"]
    kernels.clear()
    monkeypatch.setattr(narrow, "ENABLED", False)
    off = K.conv(x, w, b, (1, 1), ((1, 1), (1, 1)), algorithm="gemm")
    assert not {"im2col_narrow", "direct_narrow"} & set(kernels) and "im2col_rows" in kernels
    np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on, R.conv(x.astype(np.float64), w, b, (1, 1), ((1, 1), (1, 1))), rtol=1e-5,
                               atol=1e-5)


def test_winograd_from_16_channels_where_the_kernels_run(kernels, monkeypatch):
    """Where the narrow kernels run, a 3x3 conv takes F(4x4, 3x3) from 16 channels in and 16 filters out (32 on
    maps under 14x14) on maps from 7x7, F(2x2, 3x3) from 384 channels in on maps under 16x16, and the narrow
    kernels' GEMM below (measured: ``WINOGRAD_NARROW_MIN_C_IN``); without them the earlier rules hold.  Values as the
    twin."""
    def tile(c_in, filters, side, narrow_gemm=True):
        return K.winograd_tile((3, 3), c_in, filters, (1, 1), (1, 1), 1, (side, side), fast=True,
                               narrow_gemm=narrow_gemm)

    assert tile(8, 64, 55) is None and tile(15, 64, 28) is None
    assert tile(16, 64, 55) == 4 and tile(16, 64, 7) == 4 and tile(16, 16, 14) == 4 and tile(32, 32, 32) == 4
    assert tile(16, 16, 7) is None and tile(16, 15, 28) is None and tile(64, 64, 6) is None
    assert tile(384, 128, 13) == 2 and tile(384, 128, 16) == 4
    assert tile(16, 64, 7, False) is None and tile(32, 32, 32, False) == 4 and tile(16, 64, 55, False) == 4
    monkeypatch.setattr(K, "winograd_spreads", lambda dtype: True)
    rng = np.random.default_rng(1)
    for c_in, path in ((8, "direct_narrow"), (16, "winograd_narrow")):
        kernels.clear()
        x = rng.standard_normal((2, 17, 17, c_in), dtype=np.float32)
        w = rng.standard_normal((3, 3, c_in, 64), dtype=np.float32)
        got = K.conv(x, w, None, (1, 1), ((1, 1), (1, 1)))
        assert set(kernels) == {path}  # (one call per thread)
        want = R.conv(x.astype(np.float64), w, None, (1, 1), ((1, 1), (1, 1)))
        np.testing.assert_allclose(got, want, rtol=0, atol=4e-5 * float(np.abs(want).max()))  # Winograd's rounding


def test_self_test_turns_them_off_where_they_give_wrong_values(kernels, monkeypatch):
    """The first ask in a process runs every path through the kernels on tiny arrays against float64: a kernel
    that gives wrong values (here the 1x1 path writing zeros) turns them off for the process, and BLAS does the
    products, to the right values."""
    monkeypatch.setattr(K, "_narrow_checked", {})
    monkeypatch.setattr(compiled, "narrow_rows", lambda a, w, bias, out, *rest: out.fill(0))
    assert not K._narrow_available()
    x = np.ones((1, 4, 4, 3), np.float32)
    w = np.ones((1, 1, 3, 16), np.float32)
    assert (K.conv(x, w, None, (1, 1), ((0, 0), (0, 0))) == 3).all()
    monkeypatch.undo()  # (the earlier answer back)
    assert K._narrow_available()


@FAST
@given(st.integers(1, 64), st.integers(1, 300), st.integers(1, 400), st.booleans(), st.integers(1, 3), st.data())
def test_dense_matches_float64(kernels, rows, inner, columns, bias, threads, data):
    """A dense layer of a few rows by the narrow kernels (``kernels.dense_narrow``): its columns in parts of at
    most 96 shared among 1-3 threads, the bias in the kernels, the packed weights made once and kept; against the
    float64 product."""
    kernels.clear()
    a = arrays(data.draw, (rows, inner), np.float32)
    w = arrays(data.draw, (inner, columns), np.float32)
    b = arrays(data.draw, (columns,), np.float32) if bias else None
    out = np.full((rows, columns), np.nan, np.float32)
    prepared: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "DENSE_NARROW_MIN_WEIGHTS", 0)
        mp.setattr(K, "workers", lambda: threads)
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        assert K.dense_narrow(a, w, b, out, prepared)
        parts = K.dense_parts(columns)
        assert [lo for lo, _ in parts] == [0] + [hi for _, hi in parts[:-1]] and parts[-1][1] == columns
        assert all(hi - lo <= narrow.CHUNK_COLUMNS and (hi - lo) % 16 == 0 for lo, hi in parts[:-1])
        packed = dict(prepared)
        assert K.dense_narrow(a * 2, w, b, out, prepared)
    assert len(prepared) == 1 and all(prepared[k] is v for k, v in packed.items())  # packed once
    want = (a.astype(np.float64) * 2) @ w + (0 if b is None else b)
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(want).max())))
    assert kernels.count("narrow_rows") == 2 * len(parts)


def test_dense_refuses_what_it_does_not_take(kernels):
    """Too many rows, float64, too few or too many weights: nothing done, for BLAS."""
    w = np.ones((300, 300), np.float32)
    assert not K.dense_narrow(np.ones((65, 300), np.float32), w, None, np.empty((65, 300), np.float32), {})
    assert not K.dense_narrow(np.ones((8, 300)), w.astype(np.float64), None, np.empty((8, 300)), {})
    small = np.ones((100, 100), np.float32)
    assert not K.dense_narrow(np.ones((8, 100), np.float32), small, None, np.empty((8, 100), np.float32), {})
    assert not kernels
