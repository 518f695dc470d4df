"""The compiled (numba) float32 kernels and the numpy paths they stand in for, each held to the plain twins.

Every property here runs twice: with ``compiled.ENABLED`` off (the numpy path, as without numba) and on (the
compiled path, skipped when numba is not installed), and checks which path ran.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.engine import compiled, narrow
from archcalc.engine import kernels as K
from archcalc.engine import reference as R
from archcalc.engine.plan import _epilogue, compile_plan

from test_properties import arrays, every_window_reads_input, window_settings

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(params=["numpy", "compiled"])
def path(request, monkeypatch):
    """Which float32 path the kernels take; the compiled one only where numba imports."""
    monkeypatch.setattr(compiled, "ENABLED", request.param == "compiled")
    if request.param == "compiled" and not compiled.load():
        if importlib.util.find_spec("numba") is not None:  # installed, yet the kernels failed their loading check
            pytest.fail("numba is installed but the compiled kernels did not load (compiled._warm)")
        pytest.skip("numba is not installed: pip install 'archcalc[fast]'")
    calls: list[str] = []
    for name in ("depthwise_rows", "depthwise_ring_rows", "activate_rows", "finish_rows", "layernorm_rows", "winograd_in", "winograd_out",
                 "grouped_rows", "im2col_rows", "im2col_taps", "im2col_narrow", "narrow_rows", "winograd_narrow", "pool_rows",
                 "depthwise_narrow", "direct_narrow"):
        real = getattr(compiled, name)
        monkeypatch.setattr(compiled, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    return request.param, calls


class Named:
    """An epilogue that names its activation, as the fused plan's do: the compiled depthwise kernel applies it
    itself, the numpy path calls it on each block."""

    def __init__(self, function: str) -> None:
        self.fused = (None, (function, None))  # no residual, this activation
        self.function = function

    def __call__(self, block: np.ndarray) -> None:
        K.activate(block, self.function)


ACTIVATIONS = sorted(compiled.ACTIVATIONS)
#: (name, alpha) of every activation the compiled kernels know: gelu's alpha is its approximation
FORMS = [(name, None) for name in ACTIVATIONS] + [("gelu", "tanh")]


@FAST
@given(window_settings(max_rank=2), st.integers(1, 11), st.integers(1, 2), st.integers(1, 3),
       st.sampled_from(["none", "lambda", *ACTIVATIONS]), st.booleans(), st.integers(0, 2), st.booleans(), st.data())
def test_depthwise_float32_matches_twin(path, geo, channels, multiplier, batch, epilogue, bias, before, with_narrow,
                                        data):
    """1-D and 2-D depthwise convs (stride, dilation, asymmetric padding, ceil-mode windows hanging off the end,
    depth multiplier), float32, with or without a bias, with an activation named to the kernel or an opaque
    epilogue, into a fresh array or a channel slice of a wider buffer (the rest untouched).  With the narrow
    kernels (``with_narrow``, where they run) every compiled depthwise conv takes ``depthwise_narrow``."""
    kind, calls = path
    calls.clear()
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    filters = channels * multiplier
    x = arrays(data.draw, (batch, *spatial, channels), np.float32) * 3
    w = arrays(data.draw, (*kernel, 1, filters), np.float32)
    b = arrays(data.draw, (filters,), np.float32) if bias else None
    fn = {"none": None, "lambda": lambda block: np.maximum(block, 0, out=block)}.get(epilogue, Named(epilogue))
    whole = np.full((batch, *out_spatial, before + filters + 1), np.nan, np.float32)
    out = whole[..., before:before + filters] if before else None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(narrow, "ENABLED", with_narrow)
        by_narrow = kind == "compiled" and K._narrow_available()
        got = K.conv_depthwise(x, w, b, stride, pads, dilation, out_spatial, out=out, epilogue=fn)
    want = R.conv_depthwise(x.astype(np.float64), w, b, stride, pads, dilation, out_spatial)
    if epilogue == "lambda":
        want = np.maximum(want, 0)
    elif epilogue != "none":
        want = R.activate(want, epilogue)
    assert got.dtype == np.float32 and got.shape == (batch, *out_spatial, filters)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * scale)
    if before:
        assert got is out
        assert np.isnan(whole[..., :before]).all() and np.isnan(whole[..., before + filters:]).all()
    ring = stride[-1] == 1 and kernel[-1] == 3
    assert ("depthwise_narrow" if by_narrow else "depthwise_ring_rows" if ring else "depthwise_rows") in calls \
        or kind == "numpy"
    assert not ({"depthwise_rows", "depthwise_ring_rows", "depthwise_narrow"} & set(calls)) or kind == "compiled"
    assert not ({"depthwise_rows", "depthwise_ring_rows"} & set(calls)) or not by_narrow


@pytest.mark.parametrize("with_narrow", [False, True])  # depthwise: its numba loop, or the narrow kernels' ring
@pytest.mark.parametrize("groups", [0, 2])  # depthwise, and two groups of two channels
@pytest.mark.parametrize("kernel, dilation", [((2, 3), (2, 1)), ((3, 3), (2, 2)), ((3, 5), (3, 1)), ((2, 3), (4, 1))])
def test_ring_kernels_keep_the_rows_a_dilated_window_still_reads(path, groups, kernel, dilation, with_narrow):
    """The depthwise and grouped kernels keep input rows in a ring of K_h slots, reused from one output row to the
    next.  With a dilation along the height the oldest row may still be read: output row 1 of a 2-tap kernel at
    dilation 2 reads rows 1 and 3 after row 0 read rows 0 and 2, so evicting the smallest row for row 3 would drop
    row 1.  Every output row of a 9-row map in one block, against the float64 twin."""
    kind, calls = path
    rng = np.random.default_rng(7)
    channels = 4
    x = rng.standard_normal((2, 9, 7, channels)).astype(np.float32)
    pads = ((1, 1), (kernel[1] // 2, kernel[1] // 2))
    out_spatial = K.floor_out_spatial((9, 7), kernel, (1, 1), pads, dilation)
    g = groups or channels
    w = rng.standard_normal((*kernel, channels // g, channels)).astype(np.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "DEPTHWISE_BLOCK_BYTES", 2**30)  # the whole map in one call
        mp.setattr(K, "workers", lambda: 1)
        mp.setattr(narrow, "ENABLED", with_narrow)
        by_narrow = kind == "compiled" and K._narrow_available()
        got = K.conv(x, w, None, (1, 1), pads, dilation, g, out_spatial)
    want = R.conv(x.astype(np.float64), w, None, (1, 1), pads, dilation, g, out_spatial)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * float(np.abs(want).max()))
    # two channels a group take the depthwise ring too where the narrow kernels run (``kernels._grouped_ring``)
    ring = "depthwise_narrow" if by_narrow else "grouped_rows" if groups else "depthwise_ring_rows"
    assert (ring in calls) == (kind == "compiled")


@FAST
@given(st.sampled_from([(3,), (5,), (7,), (3, 3), (5, 5), (7, 7), (1, 3), (1, 5), (5, 3), (3, 5), (1, 7)]), st.data())
def test_depthwise_ring_float32_matches_twin(path, kernel, data):  # (the numba ring; the narrow one in test_narrow)
    """The ring kernel (stride 1 along the width, kernels 3, 5 or 7 wide: a kernel row's taps, or a 3x3's nine, summed
    before each store, from zero-padded copies of the input rows): strides and dilations along the height,
    dilations along the width, asymmetric pads, maps narrower than the kernel, batches whose rows go to two threads
    in blocks that refill the ring, against the float64 twin."""
    kind, calls = path
    calls.clear()
    draw = data.draw
    rank = len(kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in kernel)
    stride = (*(draw(st.integers(1, 2)) for _ in kernel[:-1]), 1)
    pads = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in kernel)
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - p0 - p1), max(1, d * (k - 1) + 1 - p0 - p1) + 8))
                    for k, d, (p0, p1) in zip(kernel, dilation, pads))
    out_spatial = K.floor_out_spatial(spatial, kernel, stride, pads, dilation)
    channels, batch = draw(st.integers(1, 20)), draw(st.integers(1, 3))
    x = arrays(draw, (batch, *spatial, channels), np.float32) * 3
    w = arrays(draw, (*kernel, 1, channels), np.float32)
    b = arrays(draw, (channels,), np.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "DEPTHWISE_BLOCK_BYTES", 4)  # one output row a block
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        mp.setattr(K, "workers", lambda: 2)
        mp.setattr(K, "DEPTHWISE_NARROW", False)
        got = K.conv_depthwise(x, w, b, stride, pads, dilation, out_spatial, epilogue=Named("relu6"))
    want = R.activate(R.conv_depthwise(x.astype(np.float64), w, b, stride, pads, dilation, out_spatial), "relu6")
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(want).max())))
    assert ("depthwise_ring_rows" in calls) == (kind == "compiled")


SPECIALS = np.array([0.0, -0.0, 1e-40, -1e-40, 1e-30, -1e-30, 3.0, -3.0, 6.0, -6.0, 87.0, -87.0, 87.3, -87.3,
                     88.0, -88.0, 89.0, -89.0, 104.0, -104.0, 1e30, -1e30, np.inf, -np.inf, np.nan,
                     np.finfo(np.float32).max, -np.finfo(np.float32).max], np.float32)


def exact(function: str, x: np.ndarray, alpha: str | None = None) -> np.ndarray:
    """The activation in float64 from its definition (numpy's float64 exp, math.erf; not the twin's code)."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if function == "gelu" and alpha == "tanh":
            return 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
        if function == "gelu":  # x Phi(x) = x erfc(-x / sqrt 2) / 2: no cancellation in the negative tail
            return v * 0.5 * np.array([math.erfc(-c / math.sqrt(2)) if c == c else c for c in v.ravel()])
        return {"relu": np.maximum(v, 0), "relu6": np.clip(v, 0, 6), "sigmoid": 1 / (1 + np.exp(-v)),
                "silu": v / (1 + np.exp(-v)), "hardsigmoid": np.clip(v + 3, 0, 6) / 6,
                "hardswish": v * np.clip(v + 3, 0, 6) / 6, "tanh": np.tanh(v)}[function]


@pytest.mark.parametrize("function, alpha", FORMS)
def test_activations_float32_value_by_value(path, function, alpha):
    """Every activation the compiled kernels know, on a sweep of [-100, 100], random values and the edge cases
    (zeros, denormals, the float32 exp limits, huge values, infinities, NaN), against float64: relative error
    within 3e-6 (5e-7 away from exp; gelu's tail within 3e-7), the limits within 2e-36, NaN stays NaN, and no overflow, divide or invalid
    warning on the finite values."""
    kind, calls = path
    rng = np.random.default_rng(7)
    x = np.concatenate([np.linspace(-100, 100, 20001), rng.standard_normal(30000) * 8, SPECIALS]).astype(np.float32)
    want = exact(function, x, alpha)
    moderate = np.abs(x) < 1e15
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # none of numpy's warnings there
        K.activate(x[moderate], function, alpha)
    got = x.copy()
    with np.errstate(all="ignore"):  # inf * 0 in hardswish at -inf: NaN, as PyTorch gives
        K.activate(got, function, alpha)
    assert got.dtype == np.float32
    if function == "gelu":  # the limits: +inf at +inf; at -inf the limit 0 or NaN (-inf * 0, PyTorch's)
        at = {v: got[x == v][0] for v in (np.inf, -np.inf)}
        assert at[np.inf] == np.inf and (at[-np.inf] == 0 or np.isnan(at[-np.inf]))
        kept = ~np.isinf(x)
        got, want = got[kept], want[kept]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    tol = 3e-6 if function in ("sigmoid", "silu", "gelu") else 5e-7
    # below -87.3 the compiled exp(-x) would leave float32, and silu takes its limit -0 there: 1e-36 off at most;
    # gelu's negative tail (values under 1e-6) is float32's: z^2 rounded, or 1 + tanh cancelling, 3e-7 absolute
    atol = 3e-7 if function == "gelu" else 2e-36
    np.testing.assert_allclose(got[ok], want[ok].astype(np.float32), rtol=tol, atol=atol)
    assert ("activate_rows" in calls) == (kind == "compiled")


@pytest.mark.parametrize("function", ["silu", "hardswish"])
def test_activations_on_a_channel_slice_and_in_chunks(path, monkeypatch, function):
    """A strided x (a concat's channels) and an x cut into many chunks (tiny ACTIVATION_CHUNK, two threads):
    each cell once, the cells outside the slice untouched."""
    kind, calls = path
    monkeypatch.setattr(K, "ACTIVATION_CHUNK", 37)
    monkeypatch.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
    monkeypatch.setattr(K, "workers", lambda: 2)
    rng = np.random.default_rng(3)
    wide = (rng.standard_normal((2, 9, 11, 13)) * 4).astype(np.float32)
    keep = wide.copy()
    part = wide[..., 2:9]
    K.activate(part, function)
    np.testing.assert_allclose(part, exact(function, keep[..., 2:9]).astype(np.float32), rtol=2e-6, atol=1e-37)
    np.testing.assert_array_equal(wide[..., :2], keep[..., :2])
    np.testing.assert_array_equal(wide[..., 9:], keep[..., 9:])
    flat = keep.copy()
    K.activate(flat, function)
    np.testing.assert_allclose(flat, exact(function, keep).astype(np.float32), rtol=2e-6, atol=1e-37)
    assert ("activate_rows" in calls) == (kind == "compiled")


@FAST
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 12), st.integers(1, 40), st.booleans(),
       st.sampled_from(["none", "add", *[f"{a}" for a in ACTIVATIONS], *[f"add+{a}" for a in ACTIVATIONS]]),
       st.integers(0, 2), st.sampled_from([1, 3]), st.data())
def test_conv_finish_float32_matches_twin(path, batch, side, c_in, filters, bias, ops, before, kernel, data):
    """A conv's block finish (bias, a residual add, an activation, or the add then the activation: the plan's
    fused epilogues) on the 1x1 and the im2col paths, into a fresh array or a channel slice of a wider buffer (the
    rest untouched), with blocks cut small and spread over two threads: the compiled one-pass finish and numpy's
    op-by-op finish against the float64 twin."""
    kind, calls = path
    calls.clear()
    x = arrays(data.draw, (batch, side, side, c_in), np.float32) * 2
    w = arrays(data.draw, (kernel, kernel, c_in, filters), np.float32)
    b = arrays(data.draw, (filters,), np.float32) if bias else None
    residual = "add" in ops and not before  # the plan fuses a residual add only into a conv owning its buffer
    act = ops.split("+")[-1] if ops not in ("none", "add") else None
    spec = ((("add", ("r",), None),) if residual else ()) + ((("act", act, None),) if act else ())
    whole = np.full((batch, side, side, before + filters + 1), -7.25, np.float32)  # any activation changes it
    out = whole[..., before:before + filters] if before else np.empty((batch, side, side, filters), np.float32)
    res = arrays(data.draw, out.shape, np.float32) * 3
    pads = ((kernel // 2, kernel // 2),) * 2
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "IM2COL_CHUNK_BYTES", 4096)
        mp.setattr(K, "ACTIVATION_CHUNK", 53)
        mp.setattr(K, "COMPILED_MIN_VALUES", 0)  # the kernel on every block, however small
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        mp.setattr(K, "workers", lambda: 2)
        got = K.conv(x, w, b, (1, 1), pads, out=out, epilogue=_epilogue(spec, out, {"r": res}) if spec else None)
    want = R.conv(x.astype(np.float64), w, b, (1, 1), pads)
    if residual:
        want = want + res
    if act:
        want = R.activate(want, act)
    assert got is out
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * scale)
    if before:
        assert (whole[..., :before] == -7.25).all() and (whole[..., before + filters:] == -7.25).all()
    if spec or kind == "numpy":  # a bias alone: numpy in place, the kernel on its way into a channel slice
        # (or the narrow kernels' own finish: up to 96 filters without a residual add)
        by_narrow = bool({"im2col_narrow", "direct_narrow", "narrow_rows"} & set(calls))
        assert ("finish_rows" in calls or by_narrow) == (kind == "compiled")


@FAST
@given(st.integers(1, 3), st.integers(1, 13), st.integers(1, 13), st.tuples(*[st.integers(0, 2)] * 4), st.integers(1, 6),
       st.integers(1, 6), st.sampled_from([2, 4]), st.integers(0, 2),
       st.sampled_from(["none", "bias", "bias+relu", "relu", "bias+hardswish", "bias+gelu", "bias+lambda",
                        "bias+residual"]),
       st.sampled_from([(1, False), (3, False), (10**6, False), (2, True)]),
       st.sampled_from([(3, 3), (5, 5), (1, 3), (7, 1)]), st.booleans(), st.data())
def test_winograd_float32_matches_twin(path, batch, h, w_, pads, c_in, filters, tile, before, finish, chunking, kernel,
                                       with_narrow, data):
    """Winograd in float32 (F(2x2, 3x3), F(4x4, 3x3), F(4x4, 5x5), F(1x4, 1x3), ...): the compiled transforms (reading the input unpadded, tiles
    hanging off the map, chunks of a few tiles starting mid-image, or spread over two threads as with BLAS pinned)
    and numpy's padded Kronecker path, into a fresh array or a channel slice of a wider buffer (the rest untouched),
    with the finish: a bias and an activation the output transform applies to each cell itself, or an opaque
    epilogue or a residual add run on each chunk after, against the float64 twin.  With the narrow kernels
    (``with_narrow``, where they run) each thread's chunks go through one compiled call (``winograd_narrow``)."""
    kind, calls = path
    calls.clear()
    top, bottom, left, right = pads
    assume(max(kernel) + tile - 1 <= 8)  # at most 8 inputs a tile per axis
    assume(h + top + bottom >= kernel[0] and w_ + left + right >= kernel[1])
    out_spatial = (h + top + bottom - kernel[0] + 1, w_ + left + right - kernel[1] + 1)
    x = arrays(data.draw, (batch, h, w_, c_in), np.float32) * 2
    w = arrays(data.draw, (*kernel, c_in, filters), np.float32)
    b = arrays(data.draw, (filters,), np.float32) if finish.startswith("bias") else None
    whole = np.full((batch, *out_spatial, before + filters + 1), -7.25, np.float32)
    out = whole[..., before:before + filters] if before else None
    act = finish.partition("+")[2] if "+" in finish else (finish if finish == "relu" else "")
    res = arrays(data.draw, (batch, *out_spatial, filters), np.float32)
    if act == "lambda":
        epilogue = lambda block: np.maximum(block, 0, out=block)  # noqa: E731  # opaque: run on each chunk after
    elif act == "residual":  # the plan fuses a residual add only into a conv owning its buffer
        out = np.empty((batch, *out_spatial, filters), np.float32)
        epilogue = _epilogue((("add", ("r",), None), ("act", "relu", None)), out, {"r": res})
    else:
        epilogue = Named(act) if act else None
    tiles, spread = chunking
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(narrow, "ENABLED", with_narrow)
        by_narrow = kind == "compiled" and K._narrow_available()
        mp.setattr(K, "WINOGRAD_CHUNK_TILES", tiles)
        if spread:
            mp.setitem(K._blas, "pinned", True)
            mp.setattr(K, "workers", lambda: 2)
            mp.setattr(K, "NARROW_SPREAD_MIN_MACS", 0)
            mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        got = K.conv(x, w, b, (1, 1), ((top, bottom), (left, right)), out=out,
                     algorithm="winograd" if tile == 4 else "winograd2", epilogue=epilogue)
    want = R.conv(x.astype(np.float64), w, b, (1, 1), ((top, bottom), (left, right)))
    if act == "residual":
        want = np.maximum(want + res, 0)
    elif act == "lambda":
        want = np.maximum(want, 0)
    elif act and act != "residual":
        want = R.activate(want, act)
    assert got.shape == want.shape and (out is None or got is out)
    np.testing.assert_allclose(got, want, rtol=0, atol=4e-5 * max(1.0, float(np.abs(want).max())))
    if before:
        assert (whole[..., :before] == -7.25).all() and (whole[..., before + filters:] == -7.25).all()
    assert ("winograd_in" in calls and "winograd_out" in calls) == (kind == "compiled" and not by_narrow)
    assert ("winograd_narrow" in calls) == by_narrow
    if kind == "compiled" and act not in ("lambda", "residual"):  # the bias and activation in the transform
        assert "finish_rows" not in calls


@FAST
@given(window_settings(max_rank=2), st.integers(1, 5), st.integers(1, 6), st.integers(1, 3),
       st.sampled_from(["none", "bias", "bias+relu"]), st.integers(0, 2),
       st.sampled_from(["one block", "row blocks", "spread"]), st.data())
def test_im2col_float32_matches_twin(path, geo, c_in, filters, batch, finish, before, blocks, data):
    """Dense convs by im2col in float32 (1-D maps, strides, dilations, asymmetric pads, ceil-mode windows): the
    compiled gather from the unpadded input (in one block, in blocks of a row, or spread over two threads as with
    BLAS pinned) and numpy's gather from a padded copy, with the block finish, into a fresh array or a channel
    slice of a wider buffer, against the float64 twin.  The narrow kernels (``test_narrow.py``) are switched off:
    this is the compiled gather's path into BLAS."""
    kind, calls = path
    calls.clear()
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    x = arrays(data.draw, (batch, *spatial, c_in), np.float32) * 2
    w = arrays(data.draw, (*kernel, c_in, filters), np.float32)
    b = arrays(data.draw, (filters,), np.float32) if finish != "none" else None
    whole = np.full((batch, *out_spatial, before + filters + 1), -7.25, np.float32)
    out = whole[..., before:before + filters] if before else None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(narrow, "ENABLED", False)
        if blocks != "one block":
            mp.setattr(K, "IM2COL_COMPILED_BLOCK_BYTES", 4)  # a row of outputs a block
            mp.setattr(K, "IM2COL_CHUNK_BYTES", 4)
        if blocks == "spread":
            mp.setitem(K._blas, "pinned", True)
            mp.setattr(K, "workers", lambda: 2)
            mp.setattr(K, "IM2COL_SPREAD_MIN_MACS", 0)
            mp.setattr(K, "IM2COL_SPREAD_BLOCK_BYTES", 4)
            mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        got = K.conv(x, w, b, stride, pads, dilation, 1, out_spatial, out=out, algorithm="gemm",
                     epilogue=Named("relu") if finish == "bias+relu" else None)
    want = R.conv(x.astype(np.float64), w, b, stride, pads, dilation, 1, out_spatial=out_spatial)
    if finish == "bias+relu":
        want = np.maximum(want, 0)
    assert got.shape == want.shape and (out is None or got is out)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * max(1.0, float(np.abs(want).max())))
    if before:
        assert (whole[..., :before] == -7.25).all() and (whole[..., before + filters:] == -7.25).all()
    pointwise = math.prod(kernel) == 1
    by_tap = len(kernel) == 2 and c_in == 1 and stride[1] == 1  # a row per tap, from runs of input rows
    assert ("im2col_rows" in calls) == (kind == "compiled" and not pointwise and not by_tap)
    assert ("im2col_taps" in calls) == (kind == "compiled" and not pointwise and by_tap)


@FAST
@given(window_settings(max_rank=2), st.integers(1, 9), st.integers(1, 3),
       st.sampled_from(["max", "avg", "avg_include_pad"]), st.booleans(), st.booleans(), st.data())
def test_pools_float32_match_twin(path, geo, channels, batch, kind, spread, nan, data):
    """Max and average pools (padding counted or not) in float32, 1-D and 2-D, strides, dilations, asymmetric pads
    and ceil-mode windows: the compiled reduction of each output row (in one block or in blocks over two threads)
    and numpy's separable one against the float64 twins; a NaN in the input comes out of every max window that
    holds it, on either path."""
    kind_of_path, calls = path
    calls.clear()
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    assume(all(every_window_reads_input(*axis) for axis in zip(spatial, kernel, stride, dilation, pads, out_spatial)))
    x = arrays(data.draw, (batch, *spatial, channels), np.float32) * 3
    if nan:
        x.flat[data.draw(st.integers(0, x.size - 1))] = np.nan
    fast, slow = {"max": (K.maxpool, R.maxpool), "avg": (K.avgpool, R.avgpool),
                  "avg_include_pad": (K.avgpool_include_pad, R.avgpool_include_pad)}[kind]
    with pytest.MonkeyPatch.context() as mp:
        if spread:
            mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
            mp.setattr(K, "workers", lambda: 2)
        got = fast(x, kernel, stride, pads, dilation, out_spatial=out_spatial)
    assert got.shape == (batch, *out_spatial, channels) and got.dtype == np.float32
    clean = np.nan_to_num(x, nan=0.0).astype(np.float64)
    want = slow(clean, kernel, stride, pads, dilation, out_spatial=out_spatial)
    marked = slow(np.isnan(x).astype(np.float64), kernel, stride, pads, dilation, out_spatial=out_spatial) > 0
    assert (np.isnan(got) == marked).all()  # NaN in the window: NaN out (a max, a sum), else a number
    np.testing.assert_allclose(got[~marked], want[~marked], rtol=0, atol=2e-6 * max(1.0, float(np.abs(want).max())))
    assert ("pool_rows" in calls) == (kind_of_path == "compiled")


@FAST
@given(window_settings(max_rank=2), st.integers(2, 5), st.integers(2, 4), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from(["none", "bias", "bias+relu"]), st.integers(0, 2), st.data())
def test_grouped_float32_matches_twin(path, geo, groups, c_g, f_g, batch, finish, before, data):
    """Grouped convs of 2-4 channels a group (1-D maps as one-row 2-D ones, strides, dilations, asymmetric pads,
    ceil-mode windows), float32: the compiled kernel (group-minor ring of input rows, blocks over two threads) and
    the gather + batched product, with the block finish, into a fresh array or (always numpy's) a channel slice."""
    kind, calls = path
    calls.clear()
    spatial, kernel, stride, dilation, pads, out_spatial = geo
    x = arrays(data.draw, (batch, *spatial, groups * c_g), np.float32) * 2
    w = arrays(data.draw, (*kernel, c_g, groups * f_g), np.float32)
    b = arrays(data.draw, (groups * f_g,), np.float32) if finish != "none" else None
    whole = np.full((batch, *out_spatial, before + groups * f_g + 1), -7.25, np.float32)
    out = whole[..., before:before + groups * f_g] if before else None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        mp.setattr(K, "workers", lambda: 2)
        mp.setattr(K, "GROUPED_RING", False)  # the numba loop (the narrow kernels' ring: test_narrow)
        got = K.conv(x, w, b, stride, pads, dilation, groups, out_spatial, out=out,
                     epilogue=Named("relu") if finish == "bias+relu" else None)
    want = R.conv(x.astype(np.float64), w, b, stride, pads, dilation, groups, out_spatial=out_spatial)
    if finish == "bias+relu":
        want = np.maximum(want, 0)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * max(1.0, float(np.abs(want).max())))
    if before:
        assert (whole[..., :before] == -7.25).all() and (whole[..., before + groups * f_g:] == -7.25).all()
    contiguous = out is None or out.flags.c_contiguous  # a slice of a one-cell map is
    assert ("grouped_rows" in calls) == (kind == "compiled" and len(spatial) == 2 and contiguous)


@FAST
@given(st.integers(1, 300), st.integers(1, 20), st.integers(0, 3),
       st.sampled_from([(), *[((a, None),) for a in ACTIVATIONS], (("relu", None), ("tanh", None))]), st.data())
def test_scale_shift_float32_matches_twin(path, rows, channels, before, activations, data):
    """A folded batchnorm on a block (DenseNet's prologue, a standalone batchnorm): dst = act(src * factor +
    shift), src a channel slice of a wider buffer or contiguous, against float64."""
    kind, calls = path
    calls.clear()
    wide = arrays(data.draw, (rows, before + channels + 2), np.float32) * 4
    src = wide[:, before:before + channels] if before else np.ascontiguousarray(wide[:, :channels])
    factor = arrays(data.draw, (channels,), np.float32) * 2
    shift = arrays(data.draw, (channels,), np.float32)
    dst = np.full((rows, channels), np.nan, np.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "COMPILED_MIN_VALUES", 0)
        K.scale_shift(src, factor, shift, dst, activations)
    want = src.astype(np.float64) * factor + shift
    for fn, alpha in activations:
        want = R.activate(want, fn, alpha)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(dst, want, rtol=2e-6, atol=2e-6 * scale)
    assert ("finish_rows" in calls) == (kind == "compiled" and len(activations) <= 1)


@FAST
@given(st.integers(1, 3), st.integers(1, 70), st.integers(1, 40), st.booleans(), st.booleans(),
       st.floats(-1e3, 1e3), st.sampled_from([1e-6, 1e-3]), st.data())
def test_layernorm_float32_matches_twin(path, batch, positions, channels, gamma, beta, offset, eps, data):
    """Layer normalisation over the channels (ConvNeXt's), with or without gamma and beta, on maps far from zero
    (the two-pass statistics), blocks spread over two threads, against float64."""
    kind, calls = path
    calls.clear()
    x = arrays(data.draw, (batch, positions, channels), np.float32) * 3 + np.float32(offset)
    g = arrays(data.draw, (channels,), np.float32) if gamma else None
    b = arrays(data.draw, (channels,), np.float32) if beta else None
    out = np.full(x.shape, np.nan, np.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(K, "COMPILED_MIN_VALUES", 0)
        mp.setattr(K, "ACTIVATION_CHUNK", 29)
        mp.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
        mp.setattr(K, "workers", lambda: 2)
        got = K.layernorm(x, g, b, eps, out=out)
    want = R.layernorm(x.astype(np.float64), g, b, eps)
    assert got is out
    # float32 statistics: the centred values carry the offset's rounding, |offset| * 2^-24 relative to the spread
    spread = np.abs(x.astype(np.float64) - x.mean(axis=-1, keepdims=True, dtype=np.float64)).max(axis=-1,
                                                                                                   keepdims=True)
    tol = 1e-4 * (1 + abs(offset) / np.maximum(spread, 1e-3)) * (1 + (np.abs(g).max() if gamma else 1))
    ok = np.abs(got - want) <= tol + 1e-4 * np.abs(want)
    assert ok.all(), (np.abs(got - want).max(), float(tol.max()))
    assert ("layernorm_rows" in calls) == (kind == "compiled")


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x1_0"])
def test_fused_plan_either_path_matches_unfused_float64(path, name):
    """A whole net (depthwise with relu, hardswish and none; squeeze-and-excitation gates; a channel split feeding
    a depthwise conv) through the fused plan in float32 against the unfused float64 pass."""
    kind, calls = path
    net = archcalc.load_spec(os.path.join(ROOT, "specs", f"{name}.yaml"))
    params = archcalc.init_params(net, 1)
    x = np.random.default_rng(0).standard_normal((2, *net.input_shape)).astype(np.float32)
    got = compile_plan(net, params).run(x)
    want = archcalc.forward(net, x.astype(np.float64), params, dtype="float64", fuse=False)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * float(np.abs(want).max()))
    depthwise = "depthwise_narrow" if K._narrow_available() else "depthwise_rows"
    assert (depthwise in calls) == (kind == "compiled")


def run_python(code: str, **env: str) -> str:
    inherited = {k: v for k, v in os.environ.items() if k != "ARCHCALC_JIT"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env={**inherited, "PYTHONPATH": ROOT, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_switched_off_by_the_environment():
    """ARCHCALC_JIT=0 (or false, no, off) turns the compiled kernels off for the process, even when asked to load."""
    code = "from archcalc.engine import compiled; print(compiled.ENABLED, compiled.load(), compiled.available())"
    for value in ("0", "off", "False", " no "):
        assert run_python(code, ARCHCALC_JIT=value) == "False False False"


TIERS = """
import sys, numpy as np, archcalc, archcalc.engine.forward
from archcalc.engine import compiled
from archcalc.engine.plan import _epilogue, compile_plan
net = archcalc.load_spec("specs/mobilenet_v3_small.yaml")
plan = compile_plan(net, archcalc.init_params(net, 0))
x = np.zeros((1, *net.input_shape), np.float32)
plan.run(x)
first = "numba" in sys.modules
compiled.AUTO_LOAD_AFTER = compiled._state["spent"] + 1e-9  # the next pass reaches it
before = archcalc.engine.forward.estimate_memory(net).overhead
plan.run(x)
crossed = "numba" in sys.modules  # not loaded at the end of the pass that crossed the threshold
after = archcalc.engine.forward.estimate_memory(net).overhead  # the next pass will load numba's runtime
plan.run(x)
loaded = archcalc.engine.forward.estimate_memory(net).overhead  # already there: the process's, not a pass's
print(first, crossed, "numba" in sys.modules, compiled.available(),
      after - before == compiled.RUNTIME_BYTES, loaded == before)
"""


def test_loaded_once_passes_have_taken_long_enough():
    """By default the kernels load only after AUTO_LOAD_AFTER seconds of forward passes: a first small pass runs
    on numpy without importing numba, the pass that crosses the threshold does not load them either, the next one
    does, and the memory estimate of that next pass counts numba's runtime (once loaded, it is the process's).  With ARCHCALC_JIT=1 the first kernel that
    asks loads them."""
    pytest.importorskip("numba")
    assert run_python(TIERS) == "False False True True True True"
    eager = ("import sys, numpy as np\nfrom archcalc.engine import kernels as K\n"
             "K.activate(np.ones(9, np.float32), 'silu')\nprint('numba' in sys.modules)")
    assert run_python(eager, ARCHCALC_JIT="1") == "True"
    assert run_python(eager) == "False"


def test_show_and_the_calculators_never_import_numba():
    """numba costs about half a second to import: only a compiled kernel's first use imports it."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom archcalc.cli import main\n"
            "r = CliRunner().invoke(main, ['show', 'specs/mobilenet_v2.yaml'])\nassert r.exit_code == 0, r.output\n"
            "import archcalc.engine.kernels\nprint('numba' in sys.modules)")
    assert run_python(code) == "False"
