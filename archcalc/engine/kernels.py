"""Vectorised NumPy kernels for the forward pass.

Data is batch-first and channels-last, ``(N, *spatial, C)``, with 1, 2 or 3
spatial axes.  Geometry arrives already normalised: ``kernel``, ``stride`` and
``dilation`` are per-axis tuples, ``pads`` is a tuple of per-axis
``(before, after)`` pairs (``"same"``/``"valid"`` are resolved by the caller,
TensorFlow's SAME puts the odd pixel after), and ``out_spatial`` is the output
size the calculator decided (floor or ceil rounding).  When ``out_spatial`` asks
for more windows than the padded input holds (ceil mode), the last windows hang
off the end: convolution reads zeros there, max pooling ignores those cells and
average pooling leaves them out of the count, as PyTorch's ``ceil_mode`` does.

Convolution unfolds the input through a strided window view into a contiguous
``(rows, kernel... * C_in)`` matrix and does one BLAS matrix product per chunk
(``conv``).  3x3 stride-1 convolutions may instead go through Winograd's
F(4x4, 3x3) minimal filtering (``conv_winograd``), which needs 4x fewer
multiplications; ``conv(..., algorithm="auto")`` picks it for large layers.

Arrays stay float32 unless the input is float64.  Every kernel here has a plain
twin in ``archcalc.engine.reference`` that the tests hold it to.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from fractions import Fraction
from functools import lru_cache, partial
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from archcalc import _blas_env
from archcalc.engine import compiled, narrow

Ints = tuple[int, ...]
Pads = tuple[tuple[int, int], ...]

#: Upper bound for the unfolded (im2col) input held at once, in bytes.
IM2COL_CHUNK_BYTES = 16 * 2**20
#: Upper bound for the transformed input tiles of one Winograd chunk, in bytes.
WINOGRAD_CHUNK_BYTES = 8 * 2**20


# ----------------------------------------------------------------------------
# helpers


def _dtype_of(x: np.ndarray) -> np.dtype:
    """float64 stays float64, everything else computes in float32."""
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def _as_float(x: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(dtype or _dtype_of(x), copy=False)


_scratch = threading.local()


def _workspace(role: str, shape: Ints, dtype: np.dtype) -> np.ndarray:
    """Uninitialised scratch array, reused across calls (per thread) so that large
    temporaries do not page-fault fresh memory on every layer."""
    nbytes = math.prod(shape) * dtype.itemsize
    pool = _scratch.__dict__.setdefault("pool", {})
    buf = pool.get(role)
    if buf is None or buf.nbytes < nbytes:
        buf = pool[role] = np.empty(max(nbytes, 1), dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _ones(n: int) -> Ints:
    return (1,) * n


def floor_out_spatial(spatial: Ints, kernel: Ints, stride: Ints, pads: Pads, dilation: Ints) -> Ints:
    """o = floor((n + p_before + p_after - d*(f-1) - 1) / s) + 1, per axis."""
    return tuple(
        (n + p0 + p1 - d * (f - 1) - 1) // s + 1
        for n, f, s, (p0, p1), d in zip(spatial, kernel, stride, pads, dilation)
    )


def _pad(x: np.ndarray, pads: Pads, out_spatial: Ints, kernel: Ints, stride: Ints,
         dilation: Ints, value: float) -> np.ndarray:
    """Pad the spatial axes with ``value`` to exactly cover ``out_spatial`` windows.

    Extent needed per axis: (o - 1)*s + d*(f - 1) + 1.  Padding after the input is
    extended when ceil mode makes windows hang off the end; cells past the extent
    are never read and are not materialised.  Returns ``x`` itself when nothing
    needs padding.
    """
    spatial = x.shape[1:-1]
    _check_windows(spatial, pads, stride, out_spatial)
    before, after = [], []
    for n, f, s, (p0, _), d, o in zip(spatial, kernel, stride, pads, dilation, out_spatial):
        extent = (o - 1) * s + d * (f - 1) + 1
        before.append(p0)
        after.append(extent - p0 - n)  # negative: trailing input cells never read
    if not any(before) and all(a <= 0 for a in after):
        return x
    shape = (x.shape[0], *(b + n + max(a, 0) for b, n, a in zip(before, spatial, after)), x.shape[-1])
    xp = _workspace("pad", shape, x.dtype)
    inner = tuple(slice(b, b + n + min(a, 0)) for b, n, a in zip(before, spatial, after))
    src = tuple(slice(0, n + min(a, 0)) for n, a in zip(spatial, after))
    _fill_border(xp, inner, value)
    xp[(slice(None), *inner, slice(None))] = x[(slice(None), *src, slice(None))]
    return xp


def _fill_border(xp: np.ndarray, inner: tuple[slice, ...], value: float) -> None:
    """Set every cell of xp outside the spatial box ``inner`` to ``value``."""
    for ax, box in enumerate(inner, start=1):
        lead = (slice(None),) * ax
        xp[(*lead, slice(0, box.start))] = value
        xp[(*lead, slice(box.stop, None))] = value


def _output(out: np.ndarray | None, shape: Ints, dtype: np.dtype, rows: bool = False) -> np.ndarray:
    """A fresh array, or the caller's ``out`` after checking that it fits.  With ``rows`` the caller's array
    need not be contiguous, only seen as (cells, last axis) rows without a copy (``_as_rows``) with contiguous
    rows: a channel slice of a wider buffer, such as a convolution writing into its part of a concat."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    fits = out.flags.c_contiguous or (rows and out.strides[-1] == dtype.itemsize and _as_rows(out) is not None)
    if out.shape != tuple(shape) or out.dtype != dtype or not fits:
        raise ValueError(f"out has shape {out.shape}, dtype {out.dtype}; expected a contiguous "
                         f"{tuple(shape)} {dtype} array" + (" (or a channel slice of one)" if rows else ""))
    return out


def _rows_of(x: np.ndarray) -> np.ndarray:
    """``_as_rows(x)`` for an array known to have such a view (a block of an ``_output(..., rows=True)``)."""
    rows = _as_rows(x)
    if rows is None:
        raise AssertionError(f"no (rows, {x.shape[-1]}) view of an array of shape {x.shape}, strides {x.strides}")
    return rows


def _windows(xp: np.ndarray, out_spatial: Ints, kernel: Ints, stride: Ints, dilation: Ints) -> np.ndarray:
    """Read-only view (N, *out_spatial, *kernel, C): window i, offset u reads xp[i*s + u*d]."""
    sn, *ss, sc = xp.strides
    shape = (xp.shape[0], *out_spatial, *kernel, xp.shape[-1])
    strides = (sn, *(a * s for a, s in zip(ss, stride)), *(a * d for a, d in zip(ss, dilation)), sc)
    return as_strided(xp, shape, strides, writeable=False)


def _shifted(xp: np.ndarray, offset: Ints, out_spatial: Ints, stride: Ints, dilation: Ints) -> np.ndarray:
    """View (N, *out_spatial, C) of the cells at kernel offset ``offset`` of every window."""
    index = tuple(slice(u * d, u * d + (o - 1) * s + 1, s)
                  for u, o, s, d in zip(offset, out_spatial, stride, dilation))
    return xp[(slice(None), *index, slice(None))]


# ----------------------------------------------------------------------------
# convolution


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Ints, pads: Pads,
         dilation: Ints | None = None, groups: int = 1, out_spatial: Ints | None = None,
         algorithm: str = "auto", out: np.ndarray | None = None, epilogue=None,
         prepared: dict | None = None) -> np.ndarray:
    """z[n, i, k] = b[k] + sum_{u, k'} x_pad[n, i*s + u*d, g*C_g + k'] * w[u, k', k].

    ``x`` is (N, *spatial, C_in), ``w`` is (*kernel, C_in/groups, filters) (HWIO),
    ``b`` is None, (filters,) or the output's (*out_spatial, filters) for a bias per
    position.  Filter k belongs to group g = k // (filters/groups).  ``algorithm`` is
    "gemm" (im2col + one matrix product per chunk), "winograd" (output tiles of 4 along each axis whose
    kernel is wider than 1, as F(4x4, 3x3): stride 1, dilation 1, groups 1, 2-D only; ``conv_winograd``),
    "winograd2" (tiles of 2, same settings) or "auto" (``winograd_tile`` decides).  ``out``, if given, receives the
    result (a caller reusing activation buffers avoids fresh memory per layer).
    ``epilogue(block)``, if given, is applied in place to each block of output rows
    (after its bias) while the block is still in cache: an activation fused with
    the convolution instead of another pass over the whole output.
    ``prepared``, if given, is a dict the caller keeps with these weights, which must not change while it does:
    weights transformed for a kernel (Winograd's U = G w G^T, the grouped kernel's reordering) are computed on the
    first call and taken from it after (the fused plan keeps one per conv step).
    """
    x = _as_float(x)
    w = _as_float(w, x.dtype)
    rank = x.ndim - 2
    kernel = w.shape[:rank]
    dilation = dilation or _ones(rank)
    if out_spatial is None:
        out_spatial = floor_out_spatial(x.shape[1:-1], kernel, stride, pads, dilation)
    c_in, filters = x.shape[-1], w.shape[-1]
    if c_in != w.shape[-2] * groups or filters % groups:
        raise ValueError(f"conv: input channels {c_in}, kernel shape {w.shape}, groups {groups} "
                         "do not fit: need C_in == kernel[-2] * groups and filters % groups == 0")
    tile = 4
    if algorithm == "auto":
        fast = winograd_spreads(x.dtype)
        chosen = winograd_tile(kernel, c_in, filters, stride, dilation, groups, out_spatial, fast=fast,
                               narrow_gemm=fast and _narrow_available())
        algorithm, tile = ("gemm", 4) if chosen is None else ("winograd", chosen)
    elif algorithm == "winograd2":
        algorithm, tile = "winograd", 2
    if algorithm == "winograd" and not (rank == 2 and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
                                        and groups == 1 and max(kernel) + tile - 2 <= len(WINOGRAD_POINTS)):
        raise ValueError(f"conv: Winograd takes 2-D convs of stride 1, dilation 1 and one group with kernels up to "
                         f"{len(WINOGRAD_POINTS) + 2 - tile} wide for tile {tile}, not kernel {tuple(kernel)}, "
                         f"stride {tuple(stride)}, dilation {tuple(dilation)}, groups {groups}")
    per_filter = None if b is None else _as_float(b, x.dtype)
    late = None
    if per_filter is not None and per_filter.ndim > 1:  # a bias per position: added to the whole output
        per_filter, late = None, per_filter
    finish = _finisher(per_filter, None if late is not None else epilogue)
    if algorithm == "winograd":
        out = conv_winograd(x, w, pads, out_spatial, out, finish, tile, prepared)
    elif algorithm == "gemm":
        out = _conv_gemm(x, w, stride, pads, dilation, groups, out_spatial, out, finish, prepared)
    else:
        raise ValueError(f"conv: unknown algorithm {algorithm!r}, expected 'auto', 'gemm', 'winograd' or 'winograd2'")
    if late is not None:
        out += late
        if epilogue is not None:
            epilogue(out)
    return out


#: A bias of fewer filters than this is added to a contiguous block seen as rows of m * filters cells (m the largest
#: power of two up to 64 dividing the block's positions) with the bias tiled m times: numpy's broadcast add pays per
#: inner loop, and those loops are one bias long (100352 x 6: 0.90 -> 0.16 ms, x 16: 1.05 -> 0.36 ms; from 32
#: filters on it is even).  0 turns it off.
BIAS_TILE_BELOW = 32


#: Blocks of fewer values than this are finished (and relu'd) by numpy: a compiled call costs about 5 us in Python,
#: numpy's bias and relu over 200 x 16 values 5 us (at 2000 x 32: 56 us against 18).
COMPILED_MIN_VALUES = 4096


class _Finish:
    """In-place bias add and epilogue for one output block.  Kept apart so that a compiled kernel can do the bias
    (and an activation the epilogue names in its ``fused`` form) itself.

    With the compiled kernels loaded, float32 blocks whose epilogue is an activation they know, a residual add, or
    the add then the activation (the epilogue's ``fused``: (residual cells of a block or None, (activation, alpha)
    or None)) are finished in one pass (``compiled.finish_rows``) instead of one numpy pass per op; a block bound for
    a channel slice is finished on its way there (``into``)."""

    __slots__ = ("bias", "epilogue", "_tiled", "_form")

    def __init__(self, bias: np.ndarray | None, epilogue) -> None:
        self.bias, self.epilogue = bias, epilogue
        self._tiled: dict[int, np.ndarray] = {}
        self._form: Any = None

    def __call__(self, block: np.ndarray) -> None:
        form = self._compiled(block)
        if (form is not None and (form[0] or form[1] is not None)
                and _finish_compiled(block, block, form, self.bias, self._tiled_bias)):
            return
        bias = self.bias
        if bias is not None:
            m = math.gcd(block.size // max(1, bias.size), 64) if bias.size < BIAS_TILE_BELOW else 1
            if m > 1 and bias.ndim == 1 and block.flags.c_contiguous and block.shape[-1] == bias.size:
                tiled = self._tiled_bias(bias, m)
                block.reshape(-1, tiled.size)[...] += tiled
            else:
                block += bias
        if self.epilogue is not None:
            self.epilogue(block)

    def _tiled_bias(self, bias: np.ndarray, m: int) -> np.ndarray:
        """The bias repeated m times (``BIAS_TILE_BELOW``), made once per m."""
        tiled = self._tiled.get(m)
        if tiled is None:
            tiled = self._tiled[m] = np.broadcast_to(bias, (m, bias.size)).ravel()
        return tiled

    def in_place(self, target: np.ndarray) -> bool:
        """Whether this finish runs compiled on ``target`` in place, rows strided or not (an activation it knows, no
        residual): then a product can be written straight into a channel slice and finished there."""
        form = self._compiled(target)
        return form is not None and form[1] is None and form[0] != 0 and _as_rows(target) is not None

    def into(self, block: np.ndarray, target: np.ndarray) -> None:
        """Finish ``block`` (a contiguous workspace) and put it into ``target`` (of its shape)."""
        form = self._compiled(target)
        if form is None or not _finish_compiled(block, target, form, self.bias, self._tiled_bias):
            self(block)
            np.copyto(target, block)

    def _compiled(self, block: np.ndarray) -> tuple[int, Any] | None:
        """(activation code, residual cells of a block or None) when the compiled kernel can finish this float32
        block now (at least ``COMPILED_MIN_VALUES`` values), else None."""
        if block.dtype != np.float32 or block.size < COMPILED_MIN_VALUES or not compiled.available(block.dtype):
            return None
        if self._form is None:
            form: Any = False
            fused = (None, None) if self.epilogue is None else getattr(self.epilogue, "fused", None)
            if fused is not None and (self.bias is None or self.bias.ndim == 1):
                residual, named = fused
                code = 0 if named is None else compiled.code(*named)
                if code is not None:
                    form = (code, residual)
            self._form = form
        return self._form or None


def _runs(*arrays: np.ndarray) -> bool:
    """Whether 2-D arrays of one shape have rows the compiled kernels can index flat: each row one run of cells,
    rows a whole number of cells apart, forwards."""
    return all(a.shape == arrays[0].shape and (a.shape[1] == 1 or a.strides[1] == a.itemsize) and a.strides[0] >= 0
               and a.strides[0] % a.itemsize == 0 for a in arrays)


def _finish_compiled(block: np.ndarray, target: np.ndarray, form: tuple[int, Any], bias: np.ndarray | None,
                     tiled: Callable[[np.ndarray, int], np.ndarray]) -> bool:
    """target = act((block + bias) + residual) through ``compiled.finish_rows``, in the calling thread (the pool
    made it slower: the finish is one pass through memory, and OpenBLAS's threads spin on the other core after
    each product); False (nothing done) when an array has no 2-D view with contiguous rows or is read-only.
    Contiguous blocks of fewer than ``BIAS_TILE_BELOW`` filters are finished as rows of m outputs (m the largest
    power of two up to 64 dividing the rows) with the bias tiled m times (``tiled(bias, m)``, cached by the
    caller): the kernel's loops run a row at a time, and a row of 6 or 16 values is mostly loop overhead (LeNet-5's
    first conv, 6272 x 6 values, bias and tanh: 87 -> 23 us; 16 filters, bias and relu: 33 -> 17 us)."""
    code, residual = form
    rows, out = _as_rows(block), _as_rows(target)
    res = None
    if residual is not None:
        if not target.flags.c_contiguous:
            return False
        res = _as_rows(residual(target))
    if (rows is None or out is None or (residual is not None and res is None) or not target.flags.writeable
            or not _runs(rows, out, *(() if res is None else (res,)))
            or (bias is not None and bias.dtype != target.dtype)):
        return False
    arrays = (rows, out) if res is None else (rows, out, res)
    m = math.gcd(out.shape[0], 64) if out.shape[1] < BIAS_TILE_BELOW else 1
    if m > 1 and all(a.flags.c_contiguous for a in arrays):  # m rows as one: the kernel's loops are a row long
        rows, out, *rest = (a.reshape(-1, m * a.shape[1]) for a in arrays)
        res = rest[0] if rest else None
        if bias is not None:
            bias = tiled(bias, m)
    compiled.finish_rows(rows, None if bias is None else np.ascontiguousarray(bias), res, out, code)
    return True


def scale_shift(src: np.ndarray, factor: np.ndarray, shift: np.ndarray, dst: np.ndarray,
                activations: Sequence[tuple[str, Any]] = ()) -> None:
    """dst = src * factor + shift, then the activations ((function, alpha) pairs) in order: a batchnorm folded to
    a per-channel factor and shift, applied to a block.  One compiled pass (``compiled.finish_rows``) for float32
    with per-channel vectors and at most one activation the kernels know; numpy op by op otherwise."""
    if (len(activations) <= 1 and dst.size >= COMPILED_MIN_VALUES and dst.dtype == np.float32
            and src.dtype == dst.dtype and factor.ndim == 1
            and shift.ndim == 1 and factor.dtype == dst.dtype and shift.dtype == dst.dtype
            and compiled.available(dst.dtype)):
        code = compiled.code(*activations[0]) if activations else 0
        rows, out = _as_rows(src), _as_rows(dst)
        if (code is not None and rows is not None and out is not None and rows.shape == out.shape
                and factor.size == out.shape[1] == shift.size and dst.flags.writeable and _runs(rows, out)):
            compiled.finish_rows(rows, shift, None, out, code, factor=factor)
            return
    np.multiply(src, factor, out=dst)
    dst += shift
    for fn, alpha in activations:
        activate(dst, fn, alpha)


def _finisher(bias, epilogue) -> _Finish | None:
    """The finish of each output block (``_Finish``), or None when there is nothing to do."""
    if bias is None and epilogue is None:
        return None
    return _Finish(bias, epilogue)


def _in_kernel(finish: _Finish | None, dtype: np.dtype) -> tuple[np.ndarray | None, int, Any]:
    """(bias, activation code, rest) for a compiled kernel that adds a per-filter bias and applies an activation
    to each output cell itself: the activation when the epilogue is just one the kernels know (its ``fused`` form
    without a residual), else 0, and ``rest`` the epilogue left to run on each block after (None: nothing)."""
    if finish is None:
        return None, 0, None
    bias = None if finish.bias is None else np.ascontiguousarray(finish.bias, dtype=dtype)
    rest, act = finish.epilogue, 0
    if rest is not None:
        fused = getattr(rest, "fused", None)
        named = None if fused is None or fused[0] is not None else fused[1]
        known = None if named is None else compiled.code(*named)
        if known is not None:
            act, rest = known, None
    return bias, act, rest


def _conv_gemm(x, w, stride, pads, dilation, groups, out_spatial, out=None, finish=None,
               prepared: dict | None = None) -> np.ndarray:
    """im2col through a window view, then (rows, F*C_g) @ (F*C_g, filters) per chunk."""
    rank = x.ndim - 2
    kernel = w.shape[:rank]
    n_batch, filters = x.shape[0], w.shape[-1]
    c_g = w.shape[-2]
    out = _output(out, (n_batch, *out_spatial, filters), x.dtype, rows=True)

    if (all(k == 1 for k in kernel) and all(s == 1 for s in stride)
            and not any(p for pair in pads for p in pair) and groups == 1
            and tuple(out_spatial) == x.shape[1:-1]):
        return _pointwise(x, w.reshape(x.shape[-1], filters), out, finish, prepared=prepared)

    if groups > 1:  # its kernels pad (or read unpadded) themselves
        return _conv_groups(x, w, stride, pads, dilation, groups, out_spatial, out, finish, prepared)
    if _im2col_compiled(x, w, stride, pads, dilation, out_spatial, out, finish, prepared):
        return out
    xp = _pad(x, pads, out_spatial, kernel, stride, dilation, 0.0)
    view = _windows(xp, out_spatial, kernel, stride, dilation)  # N, *o, *k, C
    taps = math.prod(kernel)
    width = taps * c_g

    wm = w.reshape(width, filters)
    total = n_batch * math.prod(out_spatial) * width * x.itemsize
    macs = n_batch * math.prod(out_spatial) * width * filters
    limit = parts(total, IM2COL_CHUNK_BYTES, macs)

    offsets = list(np.ndindex(*kernel))
    runs = _window_runs(xp, out_spatial, kernel, stride, dilation)

    def unfold(where: tuple[slice, slice]) -> None:
        nb, rows = where
        block = view[nb, rows]
        target = _rows_of(out[nb, rows])
        if runs is not None and c_g > 1:  # each window row (last kernel axis x channels) copied as one element
            buf = _workspace("cols", block.shape, x.dtype)
            np.copyto(buf.reshape(*block.shape[:-2], -1).view(runs.dtype)[..., 0], runs[nb, rows])
            _product_into(buf.reshape(-1, width), wm, target, finish)
        elif c_g == 1:  # one channel: tap-major columns, each tap one copy with row-long runs (2x faster)
            buf = _workspace("cols", (taps, *block.shape[:1 + rank]), x.dtype)
            for t, u in enumerate(offsets):
                np.copyto(buf[t], block[(Ellipsis, *u, 0)])
            _product_into(buf.reshape(taps, -1).T, wm, target, finish)
        else:
            buf = _workspace("cols", block.shape, x.dtype)
            np.copyto(buf, block)
            _product_into(buf.reshape(-1, width), wm, target, finish)

    run_blas_blocks(unfold, list(_chunks(n_batch, out_spatial, width * x.itemsize, limit)), macs)
    return out


#: Unfolded bytes per block of a compiled im2col (``_im2col_compiled``) not spread over the pool, as numpy's chunks.
IM2COL_COMPILED_BLOCK_BYTES = IM2COL_CHUNK_BYTES


def _im2col_compiled(x, w, stride, pads, dilation, out_spatial, out, finish, prepared: dict | None = None) -> bool:
    """A 1-D or 2-D float32 conv of one group by ``compiled.im2col_rows`` and a product per block of output rows:
    the columns are gathered from the unpadded input (zeros off its edges), a window row inside the input as one
    run; False (nothing done) when the compiled kernels cannot take it (or a 1x1 kernel, a plain strided copy for
    numpy).  numpy's gather pays per window row (a 3-channel 3x3 window row is 36 bytes) and first writes a padded
    copy of the input.  Whole nets, batch 8, in one process: MNIST deep 0.91, DenseNet-121 0.95, ShuffleNet V2 and
    LeNet-5 0.95, ResNet-18, AlexNet, ZFNet and Inception v3 0.97.

    A 2-D map of one channel at stride 1 along the width takes ``compiled.im2col_taps`` instead: the columns
    transposed, a row per tap, each a run of an input row, and BLAS reads them transposed.  Gathered by window rows,
    a window row is a run of only 3-5 values.  Alone, batch 8: LeNet-5's 32x32 5x5 gather 105 -> 34 us, the MNIST
    nets' 28x28 3x3 61 -> 15 us; at stride 2 the transposed gather reads strided and is slower (21 against 31 us).

    Where ``narrow``'s kernels take the product (16-96 filters, a finish of a bias and a known activation), each
    thread gathers, multiplies and finishes its share of the rows in one compiled call (``compiled.im2col_narrow``):
    every first conv of the zoo; with fewer than ``DIRECT_NARROW_BELOW_C_IN`` channels in, the kernels read the
    taps in place instead (``compiled.direct_narrow``).  Alone, batch 8, against the gather and OpenBLAS: CIFAR-10's 32x32x3 -> 32 292 ->
    188 us, MobileNetV3-Small's 224x224x3 -> 16 3x3/2 1.80 -> 1.13 ms, VGG16's 3 -> 64 15.3 -> 10.5 ms, ResNet's
    7x7/2 14.1 -> 10.8 ms, AlexNet's 11x11/4 11.1 -> 9.1 ms, the MNIST nets' 28x28x1 -> 32 155 -> 77 us."""
    rank = x.ndim - 2
    if (rank not in (1, 2) or math.prod(w.shape[:rank]) == 1 or x.dtype != np.float32 or not x.flags.c_contiguous
            or not compiled.available(x.dtype)):
        return False
    _check_windows(x.shape[1:-1], pads, stride, tuple(out_spatial))
    by_tap = rank == 2 and x.shape[-1] == 1 and stride[1] == 1  # a row per tap, filled from runs of input rows
    if rank == 1:  # the sequence as the rows (a block is whole rows, as numpy's chunks are)
        x, w = x[:, :, None], w[:, None]
        stride, dilation, pads, out_spatial = (*stride, 1), (*dilation, 1), (*pads, (0, 0)), (*out_spatial, 1)
    n_batch, filters = x.shape[0], w.shape[-1]
    width = math.prod(w.shape[:3])
    wm = w.reshape(width, filters)
    o_h, o_w = out_spatial
    total = n_batch * o_h
    macs = total * o_w * width * filters
    target = _rows_of(out)
    geometry = (tuple(out_spatial), tuple(w.shape[:2]), tuple(stride), (pads[0][0], pads[1][0]), tuple(dilation))
    row_bytes = o_w * width * x.itemsize

    def unfold(j0: int) -> None:
        j1 = min(j0 + step, total)
        if by_tap:
            taps = _workspace("cols", (width, (j1 - j0) * o_w), x.dtype)
            compiled.im2col_taps(x, taps, (j0, j1), geometry[0], geometry[1], stride[0], *geometry[3:])
            cols = taps.T
        else:
            cols = _workspace("cols", ((j1 - j0) * o_w, width), x.dtype)
            compiled.im2col_rows(x, cols, (j0, j1), *geometry)
        _product_into(cols, wm, target[j0 * o_w:j1 * o_w], finish)

    form = _narrow_form(wm, finish, target, prepared)
    if form is not None:  # gather, product and finish in one compiled call per thread (``narrow``)
        wn, bias, relu, code, _ = form
        kernels = narrow.kernels(filters, relu, by_tap)
        step = max(1, NARROW_BLOCK_BYTES // row_bytes)
        threads = workers() if macs >= NARROW_SPREAD_MIN_MACS else 1
        share = -(-total // threads)

        direct = DIRECT_NARROW and not by_tap and x.shape[-1] < DIRECT_NARROW_BELOW_C_IN
        if direct:
            kernels = narrow.kernels(filters, relu, False, indexed=True)

        def gather_multiply(j0: int) -> None:
            j1 = min(j0 + share, total)
            if direct:
                cols = _workspace("cols", (o_w, width), x.dtype)
                compiled.direct_narrow(x, cols, (j0, j1), *geometry, kernels, wn, bias, target, code)
                return
            rows = min(step, j1 - j0) * o_w
            cols = _workspace("cols", (width, rows) if by_tap else (rows, width), x.dtype)
            compiled.im2col_narrow(x, cols, (j0, j1), step, *geometry, by_tap, kernels, wn, bias, target, code)

        run_blocks(gather_multiply, list(range(0, total, share)), PARALLEL_MIN_OUT_BYTES)
        return True
    if macs >= IM2COL_SPREAD_MIN_MACS and width <= IM2COL_SPREAD_MAX_WIDTH:
        with pinned_layer() as spread:
            if spread:
                step = max(1, min(IM2COL_SPREAD_BLOCK_BYTES // row_bytes, -(-total // (2 * workers()))))
                run_blocks(unfold, list(range(0, total, step)), PARALLEL_MIN_OUT_BYTES)
                return True
    step = parts(total, IM2COL_COMPILED_BLOCK_BYTES // row_bytes, macs)
    run_blas_blocks(unfold, list(range(0, total, step)), macs)
    return True


#: A compiled im2col conv of at least this many multiply-adds whose columns are at most ``IM2COL_SPREAD_MAX_WIDTH``
#: wide (a first conv over 3 channels: 7x7 147, 11x11 363) runs with BLAS pinned for the layer (``pinned_layer``)
#: and blocks of ``IM2COL_SPREAD_BLOCK_BYTES`` columns spread over the pool, each gathered, multiplied and finished
#: while in L2 (ResNet-18's 7x7/2 19.9 -> 14.9 ms, batch 8).  Wider columns keep one threaded product per block: a
#: 1 MB block of them is too few rows for a one-thread product (ResNet-18's 7x7 maps of 512 channels 10.2 -> 14.3 ms
#: spread, TextCNN 1.3x slower).
IM2COL_SPREAD_MIN_MACS = 2**25
IM2COL_SPREAD_BLOCK_BYTES = 2**20
IM2COL_SPREAD_MAX_WIDTH = 512


#: A compiled im2col conv whose product the narrow kernels take (``_narrow_form``) gathers and multiplies steps of
#: about this many column bytes (in L2 while the kernel reads them), its rows shared among ``workers()`` threads
#: from ``NARROW_SPREAD_MIN_MACS`` multiply-adds on (one call each), else in the calling thread.
NARROW_BLOCK_BYTES = 2**18
NARROW_SPREAD_MIN_MACS = 2**22
#: A conv of fewer than ``DIRECT_NARROW_BELOW_C_IN`` channels in that the narrow kernels take (and not the one-channel
#: tap-major gather) reads its taps in place (``compiled.direct_narrow``): the im2col copy of a 3-channel first conv
#: costs as much as its product.  Alone, batch 8, with hardswish, against the gather: MobileNetV3-Small's 224x224x3
#: -> 16 3x3/2 1250 -> 622 us, MobileNetV2's -> 32 1540 -> 1158, VGG16's 3 -> 64 10.7 -> 8.1 ms, ResNet's 7x7/2
#: 10.7 -> 9.8, AlexNet's 11x11/4 8.6 -> 8.5, 56x56x12 -> 32 1048 -> 991 us; the CIFAR-10 net's 32x32x3 -> 32 and
#: 28x28x8 -> 16 even (0.93-1.04); from 24 channels in the gather is ahead (56x56x24 -> 32 3x3/2: 520 against 560).
#: False: the gather for every conv.
DIRECT_NARROW = True
DIRECT_NARROW_BELOW_C_IN = 16


_narrow_checked: dict[str, bool] = {}
_narrow_checking = threading.Lock()


def _narrow_available() -> bool:
    """``narrow.available()``, and the engine's paths through the kernels checked once per process, on the first
    ask (``_narrow_self_test``; about 0.5 s with numba's cache warm)."""
    if not narrow.available():
        return False
    ok = _narrow_checked.get("ok")
    if ok is None:
        with _narrow_checking:
            ok = _narrow_checked.get("ok")
            if ok is None:
                _narrow_checked["ok"] = True  # (asks made by the test itself find the kernels on)
                ok = _narrow_checked["ok"] = _narrow_self_test()
    return ok


def _narrow_self_test() -> bool:
    """Run each engine path through ``narrow``'s kernels once on tiny arrays and check the values against float64,
    as ``compiled`` does for its kernels at load: numba compiles (or loads from its cache) the loops that call the
    kernels here, not in the middle of a layer, and kernels that give wrong values on this machine are never used
    (then BLAS does every product).  Paths: im2col (window rows and tap-major), taps read in place, 1x1, 1x1 into
    a channel slice, Winograd, grouped (by im2col, and on the depthwise ring), depthwise, a 1x1's residual add."""
    from archcalc.engine import reference as R

    try:
        rng = np.random.default_rng(0)
        x1 = rng.standard_normal((1, 5, 5, 1), dtype=np.float32)
        x3 = rng.standard_normal((1, 5, 5, 3), dtype=np.float32)
        x18 = rng.standard_normal((1, 6, 6, 18), dtype=np.float32)
        cases = [(x1, rng.standard_normal((3, 3, 1, 16), dtype=np.float32), 1, "gemm"),
                 (x3, rng.standard_normal((3, 3, 3, 20), dtype=np.float32), 1, "gemm"),
                 (x3, rng.standard_normal((1, 1, 3, 16), dtype=np.float32), 1, "gemm"),
                 (x18, rng.standard_normal((3, 3, 18, 32), dtype=np.float32), 1, "winograd"),
                 (x18, rng.standard_normal((3, 3, 9, 16), dtype=np.float32), 2, "gemm"),
                 (x18, rng.standard_normal((3, 3, 2, 18), dtype=np.float32), 9, "auto"),
                 (x18, rng.standard_normal((3, 3, 1, 18), dtype=np.float32), 18, "auto"),
                 (x18, rng.standard_normal((3, 3, 18, 16), dtype=np.float32), 1, "gemm")]
        pads = ((1, 1), (1, 1))
        for x, w, groups, algorithm in cases:
            b = rng.standard_normal(w.shape[-1], dtype=np.float32)
            p = pads if w.shape[0] == 3 else ((0, 0), (0, 0))
            want = R.conv(x.astype(np.float64), w, b, (1, 1), p, groups=groups)
            wide = np.zeros((*want.shape[:-1], w.shape[-1] + 3), np.float32)
            for out in (None, wide[..., 1:1 + w.shape[-1]]):
                got = conv(x, w, b, (1, 1), p, groups=groups, algorithm=algorithm, out=out)
                if not np.allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max())):
                    return False
            if wide[..., 0].any() or wide[..., -2:].any():
                return False
        a, w, b = x18.reshape(-1, 18)[:27], rng.standard_normal((18, 24), dtype=np.float32), x3.reshape(-1)[:24]
        res = x18.reshape(-1, 24)
        got = np.empty((27, 24), np.float32)  # a 1x1 conv's residual add and relu after the kernels, in steps
        relu = compiled.code("relu")
        if relu is None:
            return False
        compiled.narrow_rows(a, narrow.pack(w, 24, 18), narrow.pack(b, 24), got, narrow.kernels(24, False, False),
                             relu, 8, res)
        return bool(np.allclose(got, np.maximum(a.astype(np.float64) @ w + b + res, 0), rtol=1e-4, atol=1e-4))
    except Exception:  # a kernel that does not build or run here: BLAS does the products
        return False


def _narrow_form(w: np.ndarray, finish, target: np.ndarray, cache: dict | None = None, residual: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, bool, int, Callable[[np.ndarray], np.ndarray] | None] | None:
    """(weights and bias as the kernels read them (``narrow.pack``; the weights kept in ``cache``, ``conv``'s
    ``prepared``), relu in the kernel, activation code after it, the residual's cells of an output block or None)
    when ``narrow``'s kernels can make target = finish(a @ w) themselves: weights they take (``narrow.fits``), a
    finish of a bias and an activation the compiled kernels know, a float32 target of rows with unit stride; else
    None.  With ``residual`` (a caller passing the cells on, ``compiled.narrow_rows``), also a residual add before
    the activation into a C-contiguous target: then relu is left to the finish after the kernels."""
    if (target.dtype != np.float32 or target.ndim != 2 or (target.strides[1] != target.itemsize and w.shape[1] > 1)
            or target.strides[0] % target.itemsize or target.strides[0] < 0 or not target.flags.writeable
            or not narrow.fits(w) or not _narrow_available()):
        return None
    bias, act, rest = _in_kernel(finish, target.dtype)
    inner, columns = w.shape
    cells = None
    if rest is not None and residual and target.flags.c_contiguous:
        fused = getattr(rest, "fused", None)
        if fused is not None and fused[0] is not None:
            code = 0 if fused[1] is None else compiled.code(*fused[1])
            if code is not None:
                cells, act, rest = fused[0], code, None
    if rest is not None or (bias is not None and bias.shape != (columns,)):
        return None
    relu = act == compiled.code("relu") and cells is None
    packed = _prepared(cache, ("narrow", w.shape), lambda: narrow.pack(w, columns, inner))
    return packed, narrow.pack(bias, columns), relu, 0 if relu else act, cells


_T = TypeVar("_T")


def _prepared(cache: dict | None, key: tuple, make: Callable[[], _T]) -> _T:
    """make(), or what an earlier call stored under ``key`` in ``cache`` (``conv``'s ``prepared``)."""
    if cache is None:
        return make()
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = make()
    return hit


#: Window rows (last kernel axis x channels, contiguous in the input) at most this long are gathered by im2col as
#: one opaque element each instead of float by float: numpy's copy pays per inner loop, and those loops are one
#: window row long.  Measured, batch 8: 224x224x3 3x3/2 2.39 -> 1.28 ms, 7x7/2 6.74 -> 4.24, 55x55x16 3x3
#: 0.82 -> 0.62, 32x32x32 3x3 0.34 -> 0.26; at 56x56x64 3x3 (768 bytes) even.  One input channel keeps its tap-major
#: columns (LeNet-5 and MNIST deep measured 5-8 % slower whole with this gather).
WINDOW_RUN_MAX_BYTES = 512


def _window_runs(xp: np.ndarray, out_spatial: Ints, kernel: Ints, stride: Ints, dilation: Ints) -> np.ndarray | None:
    """Read-only view (N, *out_spatial, *kernel[:-1]) of xp whose elements are whole window rows (kernel[-1] x C
    cells as one void element), or None when such a row is not one contiguous run or is longer than
    ``WINDOW_RUN_MAX_BYTES``."""
    item, channels = xp.itemsize, xp.shape[-1]
    run = kernel[-1] * channels * item
    if (dilation[-1] != 1 or run > WINDOW_RUN_MAX_BYTES or not xp.flags.c_contiguous
            or xp.strides[-1] != item):
        return None
    sn, *ss, _ = xp.strides
    shape = (xp.shape[0], *out_spatial, *kernel[:-1])
    strides = (sn, *(a * st for a, st in zip(ss, stride)), *(a * d for a, d in zip(ss[:-1], dilation[:-1])))
    runs = np.ndarray(shape, np.dtype((np.void, run)), buffer=xp, strides=strides)
    runs.flags.writeable = False
    return runs


def _product_into(a: np.ndarray, b: np.ndarray, target: np.ndarray, finish) -> None:
    """target = a @ b, then ``finish(target)``.  A target whose rows are not one run (a channel slice of a concat's
    buffer) gets the product and the finish in a contiguous workspace first and one copy after: numpy's elementwise
    passes over a slice pay per row (bias + relu on 55x55x64 of 128 channels, batch 8: 3.6 ms against 1.2).  Unless
    the finish runs compiled in place (``_Finish.in_place``): then BLAS writes the slice's rows directly and the
    finish follows there, one copy fewer (SqueezeNet 0.97 whole, DenseNet-121 0.99, in one process)."""
    if target.flags.c_contiguous or finish is None or finish.in_place(target):
        np.matmul(a, b, out=target)
        if finish is not None:
            finish(target)
        return
    block = _workspace("product", target.shape, target.dtype)
    np.matmul(a, b, out=block)
    finish.into(block, target)


#: Input bytes per block of a pointwise conv with a prologue: the block, transformed into a workspace, is still in
#: cache when the product reads it (DenseNet-121, batch 8: 512 KB to 4 MB even within noise).
PROLOGUE_BLOCK_BYTES = 2**20
#: A gated 1x1 conv (squeeze-and-excitation) on a map of fewer positions than GATE_MAP_RATIO x filters scales the
#: map, block by block in a workspace, and makes one product for all samples; on a larger map each sample's weights
#: are scaled (C x F cells against positions x C) and multiplied per sample.  Whole nets, batch 8, in one process:
#: MobileNetV3-Small 0.94, EfficientNet-B0 0.93 (the map scaled whatever its size: 1.01, 1.04).
GATE_MAP_RATIO = 1


def pointwise(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray | None = None, epilogue=None,
              gate: np.ndarray | None = None, prologue=None) -> np.ndarray:
    """z[n, i, k] = b[k] + sum_c p(x)[n, i, c] * gate[n, c] * w[c, k]: a 1x1, stride-1 convolution, applied to
    what comes before it without writing that out in full.

    ``gate`` (N, C), a per-sample, per-channel factor (a squeeze-and-excitation output): each sample's weights are
    scaled instead of the map, w_n = gate[n, :, None] * w (C x F, small), so the map is read once; or, on a map
    of few positions (``GATE_MAP_RATIO``), the map block by block in a workspace, with one product for all.
    ``prologue(src, dst)`` writes p(src) into ``dst`` for a block of input rows (a batchnorm and activation before
    the conv, DenseNet's pre-activation): the block is transformed into a workspace while in cache and multiplied
    there, instead of a whole transformed copy written and read back.
    ``x`` is (N, *spatial, C) (its rows may be a channel slice of a wider buffer), ``w`` (C, F) or (1, ..., C, F);
    ``out`` and ``epilogue`` as in ``conv``."""
    x = _as_float(x)
    w = _as_float(w, x.dtype).reshape(x.shape[-1], -1)
    out = _output(out, (*x.shape[:-1], w.shape[-1]), x.dtype, rows=True)
    finish = _finisher(None if b is None else _as_float(b, x.dtype), epilogue)
    return _pointwise(x, w, out, finish, gate, prologue)


def _pointwise(x: np.ndarray, w: np.ndarray, out: np.ndarray, finish, gate: np.ndarray | None = None,
               prologue=None, prepared: dict | None = None) -> np.ndarray:
    """``pointwise`` on checked operands: w (C, F), ``out`` from ``_output(..., rows=True)``, ``finish`` the bias
    and epilogue of a block (``_finisher``).  Also the 1x1 path of ``conv`` (``prepared`` as there)."""
    if _as_rows(x) is None:
        x = np.ascontiguousarray(x)
    n_batch, c_in, filters = x.shape[0], x.shape[-1], w.shape[-1]
    positions = math.prod(x.shape[1:-1])
    macs = n_batch * positions * c_in * filters
    gated = None
    if gate is not None and positions < GATE_MAP_RATIO * filters and prologue is None:  # small map: gate the map
        gated = _as_float(gate, x.dtype).reshape(n_batch, c_in)
        units, length = [(_rows_of(x), w, _rows_of(out))], n_batch * positions
    elif gate is not None:  # blocks within each sample, each with its own weights
        weights = _as_float(gate, x.dtype).reshape(n_batch, c_in)[:, :, None] * w
        units, length = [(_rows_of(x[n]), weights[n], _rows_of(out[n])) for n in range(n_batch)], positions
    else:
        units, length = [(_rows_of(x), w, _rows_of(out))], n_batch * positions
    # what each block of input rows goes through, into a workspace, before its product: the map's gate, or the prologue
    before = ((lambda src, dst, r0: _gated(src, dst, gated, positions, r0)) if gated is not None
              else (lambda src, dst, r0: prologue(src, dst)) if prologue is not None else None)
    form = _narrow_form(w, finish, units[0][2], prepared if gate is None or gated is not None else None,
                        residual=NARROW_RESIDUAL)
    if form is not None and before is None and all(
            (src.shape[1] == 1 or src.strides[1] == x.itemsize) and src.strides[0] >= 0 for src, _, _ in units):
        units = [(src, form[0] if wu is w else narrow.pack(wu, filters, c_in), dst) for src, wu, dst in units]
        _pointwise_narrow(units, length, form[1:], macs, filters)  # (a sample's gated weights packed here)
        return out
    limit = (PROLOGUE_BLOCK_BYTES // (c_in * x.itemsize) if before is not None
             else IM2COL_CHUNK_BYTES // (4 * max(c_in, filters) * x.itemsize))
    narrow_after = None if form is None or before is None else (form, narrow.kernels(filters, form[2], False))
    if narrow_after is not None:  # every thread a block at least, where the layer is worth spreading
        spread = macs >= NARROW_SPREAD_MIN_MACS
        step = max(1, min(limit, -(-length // workers())) if spread else limit)
    else:
        step = parts(length, limit, macs)

    def product(where: tuple[int, int]) -> None:
        u, r0 = where
        src, wu, dst = units[u]
        src = src[r0:r0 + step]
        if before is not None:
            tmp = _workspace("prologue", src.shape, x.dtype)
            before(src, tmp, r0)
            src = tmp
        if narrow_after is not None:  # the block, transformed in a workspace, into the narrow kernels
            (wp, bias, _, code, cells), kernels = narrow_after
            target = dst[r0:r0 + step]
            compiled.narrow_rows(src, wp, bias, target, kernels, code,
                                 max(1, NARROW_BLOCK_BYTES // (c_in * x.itemsize)),
                                 None if cells is None else cells(target))
            return
        _product_into(src, wu, dst[r0:r0 + step], finish)

    blocks = [(u, r) for u in range(len(units)) for r in range(0, length, step)]
    if narrow_after is not None:  # no BLAS in the blocks: the crew takes them
        run_blocks(product, blocks, PARALLEL_MIN_OUT_BYTES if spread else 0)
    else:
        run_blas_blocks(product, blocks, macs)
    return out


#: A 1x1 conv's residual add (and the activation after it) made by ``compiled.narrow_rows`` on each block of rows
#: the narrow kernels just wrote, while in cache, instead of BLAS's product and a finish pass: the inverted
#: residual blocks' projections.  Whole nets, batch 8, in one process: MobileNetV3-Small 0.955, MobileNetV2 0.93,
#: EfficientNet-B0 0.97; alone, MobileNetV2's 56x56 24-channel projection 1.69 -> 1.25 ms, its 7x7 960 -> 160 even.
NARROW_RESIDUAL = True


def _pointwise_narrow(units: list, length: int, form: tuple, macs: int, filters: int) -> None:
    """``_pointwise``'s products by ``narrow``'s kernels (form from ``_narrow_form``): each unit's rows (a sample's,
    or all of them) shared among ``workers()`` threads from ``NARROW_SPREAD_MIN_MACS`` multiply-adds on, one
    compiled call each (``compiled.narrow_rows``), ``NARROW_BLOCK_BYTES`` of input rows finished at a time.
    Alone, batch 8, against OpenBLAS's two threads: SqueezeNet's squeezes 24200 x 64 -> 16 0.59, 5832 x 256 -> 32
    0.57; MobileNetV2's 1568 x 576 -> 96 0.89."""
    bias, relu, code, cells = form
    src0 = units[0][0]
    kernels = narrow.kernels(filters, relu, False)
    step = max(1, NARROW_BLOCK_BYTES // (src0.shape[1] * src0.itemsize))
    threads = workers() if macs >= NARROW_SPREAD_MIN_MACS else 1
    share = -(-length // max(1, threads // len(units)))

    def multiply(where: tuple[int, int]) -> None:
        u, r0 = where
        src, wu, dst = units[u]
        target = dst[r0:r0 + share]
        compiled.narrow_rows(src[r0:r0 + share], wu, bias, target, kernels, code, step,
                             None if cells is None else cells(target))

    run_blocks(multiply, [(u, r) for u in range(len(units)) for r in range(0, length, share)], PARALLEL_MIN_OUT_BYTES)


def _gated(src: np.ndarray, dst: np.ndarray, gate: np.ndarray, per: int, first: int) -> None:
    """dst = src * gate of each row's sample: rows first, first + 1, ... of (samples x ``per`` positions)."""
    r = 0
    while r < len(src):
        n, i = divmod(first + r, per)
        k = min(len(src) - r, per - i)
        np.multiply(src[r:r + k], gate[n], out=dst[r:r + k])
        r += k


def _chunks(n_batch: int, out_spatial: Ints, row_bytes: int, limit: int | None = None):
    """Yield (batch slice, first-output-axis slice) blocks of at most ``limit`` unfolded bytes."""
    limit = limit or IM2COL_CHUNK_BYTES
    per_line = math.prod(out_spatial[1:]) * row_bytes
    per_image = out_spatial[0] * per_line
    if n_batch * per_image <= limit:
        yield slice(None), slice(None)
    elif per_image <= limit:
        step = limit // per_image
        for n0 in range(0, n_batch, step):
            yield slice(n0, n0 + step), slice(None)
    else:
        step = max(1, limit // per_line)
        for n0 in range(n_batch):
            for i0 in range(0, out_spatial[0], step):
                yield slice(n0, n0 + 1), slice(i0, i0 + step)


#: Interpolation points of Winograd's transforms, taken in this order (infinity is always the last point): the
#: small integers and halves keep the transforms' entries small, so float32 loses little.  Measured over 2-D convs
#: (largest error / largest output): up to 8 points per axis 2e-7 to 7e-6 (F(4x4, 3x3) 5e-6, F(4x4, 5x5) 6e-6, F(2x2,
#: 7x7) 5e-6); a ninth and tenth point (+-3) made it 2e-4 and 7e-4 (F(4x4, 6x6), F(4x4, 7x7)), so there are none:
#: a tile takes at most 8 inputs per axis (m + r - 1 <= 8).
WINOGRAD_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2),
                   Fraction(-1, 2))


@lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B^T, G, A^T) of Winograd's minimal filtering F(m, r): the m outputs y_i = sum_k g_k d_{i+k} of a tile of
    a = m + r - 1 inputs are y = A^T [(G g) * (B^T d)], a multiplications instead of m * r.

    Toom-Cook at the first a - 1 ``WINOGRAD_POINTS`` p_j and infinity, computed exactly in rationals, then rounded
    once to float64: A^T[i, j] = p_j^i and G[j, k] = p_j^k / f_j (the infinity column and row pick the highest
    power), B^T = f * inverse(V)^T for the a x a Vandermonde matrix V of the points, where f_j = prod_{l != j}
    (p_j - p_l) (its sign made positive for the first point).  This gives Lavin & Gray's F(4, 3) and F(2, 3);
    F(1, 1) is the identity.
    """
    a = m + r - 1
    if not (m >= 1 and r >= 1 and a - 1 <= len(WINOGRAD_POINTS)):
        raise ValueError(f"Winograd F({m}, {r}) needs {a - 1} points; there are {len(WINOGRAD_POINTS)}")
    points = WINOGRAD_POINTS[:a - 1]

    def vandermonde(n: int) -> list[list[Fraction]]:
        return [[p ** i for i in range(n)] for p in points] + [[Fraction(int(i == n - 1)) for i in range(n)]]

    scale = [math.prod((p - q for q in points if q != p), start=Fraction(1)) for p in points] + [Fraction(1)]
    if scale[0] < 0:
        scale[0] = -scale[0]
    inverse = _inverse(vandermonde(a))
    bt = [[scale[j] * inverse[k][j] for k in range(a)] for j in range(a)]
    g = [[v / scale[j] for v in row] for j, row in enumerate(vandermonde(r))]
    at = [list(column) for column in zip(*vandermonde(m))]
    return np.array(bt, dtype=np.float64), np.array(g, dtype=np.float64), np.array(at, dtype=np.float64)


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """The exact inverse of a nonsingular square matrix of rationals (Gauss-Jordan)."""
    n = len(matrix)
    rows = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for c in range(n):
        pivot = next(r for r in range(c, n) if rows[r][c] != 0)
        rows[c], rows[pivot] = rows[pivot], rows[c]
        rows[c] = [v / rows[c][c] for v in rows[c]]
        for r in range(n):
            if r != c and rows[r][c] != 0:
                factor = rows[r][c]
                rows[r] = [v - factor * u for v, u in zip(rows[r], rows[c])]
    return [row[n:] for row in rows]


def winograd_axes(kernel: Ints, tile: int) -> tuple[tuple[int, int], ...]:
    """(m, a) per spatial axis of a Winograd conv with this output tile: m = ``tile`` along an axis whose kernel
    is wider than 1 (a = m + r - 1 inputs a tile), and m = a = 1 along an axis of kernel 1 (identity transforms)."""
    return tuple((1, 1) if r == 1 else (tile, tile + r - 1) for r in kernel)


def winograd_tile(kernel: Ints, c_in: int, filters: int, stride: Ints, dilation: Ints, groups: int,
                  out_spatial: Ints, fast: bool = False, narrow_gemm: bool = False) -> int | None:
    """The Winograd tile for a 2-D stride-1 conv wide enough that the products, not the transforms, dominate, or
    None (GEMM).  ``fast``: the conv would take the compiled transforms with its chunks spread over the pool
    (``winograd_spreads``), which pay from fewer channels.  ``narrow_gemm``: the narrow kernels run
    (``archcalc.engine.narrow``: a GEMM's product, and Winograd's transforms and products), with rules of their own
    for 3x3 convs (``WINOGRAD_NARROW_MIN_C_IN``).

    3x3: F(4x4, 3x3) from 16x16 maps up (64+ channels in, 32+ out), F(2x2, 3x3) on 8x8 to 15x15 maps with 128+
    channels in and out.  4x4 tiles would round 13x13 and 14x14 up to 16x16 (51 % and 31 % wasted work), which
    2x2 tiles do not (14 % and 0 %).  Measured with one BLAS thread, batch 8 (benchmarks/bench_winograd.py):
    AlexNet's 13x13 384->384 conv 53.0 ms by GEMM, 37.8 ms by F(2x2); VGG16's 14x14 512->512 98.4 -> 65.9 ms;
    no gain on 7x7 maps or with 32-64 channels, where the transforms and the 16 smaller products cost as much
    as they save.

    5x5: F(4x4, 5x5) (64 multiplications a tile instead of 400) from 14x14 maps up with 16+ channels in and out.
    Measured, batch 8, GEMM against F(4x4, 5x5) with the compiled transforms (numpy's): AlexNet's 27x27 96->256
    40-47 -> 20-29 ms (17.6), Inception v3's 35x35 48->64 19.5 -> 6.2 (6.5), GoogLeNet's 28x28 16->32 3.7 -> 1.4
    (3.4) and 14x14 32->128 3.0 -> 2.3; on 7x7 maps GEMM wins (1.0 against 1.8), and LeNet-5's 1 and 6 channels
    stay with GEMM.  Float32 error about 1e-5 of the largest output (3x3 F(4x4): 5e-6).  1xk and kx1 kernels
    (Inception v3's 1x7, 7x1, 1x3 and 3x1) take F(1x4, 1xk), or F(1x2, 1x7), on the fast path from 64 channels in
    and out (``WINOGRAD_LINE_MIN_CHANNELS``), and GEMM otherwise.

    3x3 on the fast path: F(4x4, 3x3) from 16x16 maps up with 16+ channels in and 32+ out, on 7x7 to 15x15
    maps with 48+ in and 64+ out (F(2x2, 3x3) from 384 in; ``WINOGRAD_FAST_SMALL_MAP``), and on 10x10 to 15x15
    maps with 128+ in and 32+ out (``WINOGRAD_FAST_NARROW_MIN_MAP``).  Measured, batch 8,
    GEMM against it: the CIFAR-10 net's 32x32 32->32 1.45 -> 0.94 ms, 56x56 32->32 5.2 -> 2.5, SqueezeNet's 55x55
    16->64 4.1 -> 2.4 and 27x27 32->128 2.6 -> 1.8, Inception v3's 147x147 32->64 54 -> 24; with 3 channels in
    (0.33 against 0.70) or on 14x14 maps with 16-32 channels GEMM stays ahead.
    """
    if not (len(kernel) == 2 and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1):
        return None
    small = min(out_spatial)
    if fast and 1 in kernel and max(kernel) in (3, 5, 7):  # 1xk or kx1: Winograd along the one axis
        along = out_spatial[0] if kernel[1] == 1 else out_spatial[1]
        if along >= WINOGRAD_LINE_MIN_MAP and c_in >= WINOGRAD_LINE_MIN_CHANNELS <= filters:
            return 4 if max(kernel) <= 5 else 2
        return None
    if tuple(kernel) == (5, 5):
        return 4 if small >= WINOGRAD5_MIN_MAP and min(c_in, filters) >= WINOGRAD5_MIN_CHANNELS else None
    if fast and narrow_gemm and tuple(kernel) == (3, 3) and filters <= narrow.MAX_COLUMNS:
        if (c_in < WINOGRAD_NARROW_MIN_C_IN or small < WINOGRAD_FAST_SMALL_MAP
                or filters < (WINOGRAD_NARROW_MIN_FILTERS if small >= 14 else 2 * WINOGRAD_NARROW_MIN_FILTERS)):
            return None
        return 2 if c_in >= WINOGRAD_FAST_TILE2_FROM_C_IN and small < 16 else 4
    if fast and tuple(kernel) == (3, 3) and small >= 16 and c_in >= WINOGRAD_FAST_MIN_C_IN and filters >= 32:
        return 4
    if fast and tuple(kernel) == (3, 3) and small >= WINOGRAD_FAST_SMALL_MAP and (
            (c_in >= WINOGRAD_FAST_SMALL_MIN_C_IN and filters >= WINOGRAD_FAST_SMALL_MIN_FILTERS)
            or (small >= WINOGRAD_FAST_NARROW_MIN_MAP and c_in >= WINOGRAD_FAST_NARROW_MIN_C_IN and filters >= 32)):
        return 4 if c_in < WINOGRAD_FAST_TILE2_FROM_C_IN else 2
    if not (tuple(kernel) == (3, 3) and c_in >= WINOGRAD_MIN_C_IN and filters >= 32):
        return None
    if small >= 16:
        return 4
    return 2 if small >= WINOGRAD2_MIN_MAP and min(c_in, filters) >= WINOGRAD2_MIN_CHANNELS else None


#: On the fast path, 1xk and kx1 convs (k = 3, 5, 7) whose output is at least this long along the kernel's axis,
#: with at least this many channels in and out, take F(1x4, 1xk) (F(1x2, 1x7) for k = 7: at most 8 points).
#: Alone, batch 8, GEMM against it: Inception v3's 17x17 1x7 192->192 7.5 -> 4.8 ms, 7x1 160->192 6.2 -> 4.2,
#: 128->192 5.4 -> 3.7, 96->96 1.86 -> 1.59, its 8x8 1x3 384->384 2.35 -> 1.64 and 3x1 448->384 2.80 -> 1.91,
#: 35x35 1x7 64->64 3.57 -> 3.26; with 32 channels GEMM stays ahead (17x17 1x7 0.33 against 0.44).
WINOGRAD_LINE_MIN_MAP = 8
WINOGRAD_LINE_MIN_CHANNELS = 64
#: Fewest input channels of a 3x3 conv on the fast path (``winograd_tile``'s ``fast``).
WINOGRAD_FAST_MIN_C_IN = 16
#: Where the narrow kernels run (``narrow_gemm``: they make a GEMM's products, and Winograd's transforms and
#: products, ``_winograd_narrow``), a 3x3 conv to at most ``narrow.MAX_COLUMNS`` filters on a map of at least
#: ``WINOGRAD_FAST_SMALL_MAP`` takes F(4x4, 3x3) from this many channels in and ``WINOGRAD_NARROW_MIN_FILTERS``
#: filters out (twice as many on maps under 14x14), F(2x2, 3x3) from ``WINOGRAD_FAST_TILE2_FROM_C_IN`` channels
#: in on maps under 16x16, and im2col with them otherwise.  Alone, batch 8, im2col against F(4x4): 7x7 16->64
#: 91 -> 78 us, 24->64 157 -> 97, 64->32 184 -> 102; 14x14 16->16 108 -> 88, 32->64 585 -> 322, 64->32 608 -> 307;
#: 28x28 16->64 1127 -> 510; the CIFAR-10 net's 32x32 32->32 846 -> 431 (the transforms' kernels had made F(4x4)
#: 787 -> 380).  With 8 channels in neither is ahead on small maps (7x7 8->32 43 against 59, 14x14 8->32 103
#: against 119); nor with 16 filters on 7x7 (16->16 44 against 49).
WINOGRAD_NARROW_MIN_C_IN = 16
WINOGRAD_NARROW_MIN_FILTERS = 16
#: On the fast path, 3x3 convs on maps of 7 to 15 with at least 48 channels in and 64 out take F(4x4, 3x3), or
#: F(2x2, 3x3) from 384 channels in.  Alone, batch 8, GEMM against F(4x4): GoogLeNet's 14x14 96->208 3.2 -> 1.7-2.0
#: ms, 128->256 5.3-6.1 -> 2.8, 7x7 160->320 1.9 -> 1.05, 192->384 2.8 -> 1.7; SqueezeNet's 13x13 48->192 1.4-1.6 ->
#: 0.9, 64->256 2.1 -> 1.3; ResNet's 14x14 256->256 11.1 -> 5.7-6.7.  With 512 channels on 7x7 F(4x4) gains nothing
#: (10.4 against 10.8) and F(2x2) a little (9.4-9.8); with 32 channels in GEMM stays ahead (14x14 32->64: 0.42-0.67
#: against 0.72-0.80).
WINOGRAD_FAST_SMALL_MAP = 7
WINOGRAD_FAST_SMALL_MIN_C_IN = 48
WINOGRAD_FAST_SMALL_MIN_FILTERS = 64
WINOGRAD_FAST_TILE2_FROM_C_IN = 384
#: On the fast path, 3x3 convs to 32-63 filters on 10x10 to 15x15 maps take F(4x4, 3x3) from 128 channels in.
#: Alone, batch 8, GEMM against F(4x4): DenseNet-121's 14x14 128->32 1.52 -> 0.69-0.87 ms, 10x10 128->48 1.67 ->
#: 0.66, 13x13 256->32 3.42 -> 1.35, 14x14 256->48 4.49 -> 1.67; with 48 channels in (0.61-1.41) or on 7x7 maps
#: (0.78-1.01) neither is ahead.  (The narrow products are where OpenBLAS is weakest: 1568 x 1152 @ 1152 x 32.)
WINOGRAD_FAST_NARROW_MIN_MAP = 10
WINOGRAD_FAST_NARROW_MIN_C_IN = 128
#: Smallest output map (per axis) and channel count (in and out) of a 5x5 conv that goes to F(4x4, 5x5).
WINOGRAD5_MIN_MAP = 14
WINOGRAD5_MIN_CHANNELS = 16


#: Fewest input channels for Winograd: with 32 the transforms cost more than they save (the CIFAR-10 net's 32x32
#: 32->32 conv, batch 8: GEMM 2.36 ms, F(4x4) 5.45 ms; 32->64: 3.95 against 6.20), with 64 they pay (28x28 64->64:
#: 5.33 against 3.46 ms).
WINOGRAD_MIN_C_IN = 64
#: Smallest output map (per axis) and channel count (in and out) that go to F(2x2, 3x3).
WINOGRAD2_MIN_MAP = 8
WINOGRAD2_MIN_CHANNELS = 128


def conv_winograd(x: np.ndarray, w: np.ndarray, pads: Pads, out_spatial: Ints,
                  out: np.ndarray | None = None, finish=None, tile: int = 4,
                  prepared: dict | None = None) -> np.ndarray:
    """Stride-1 2-D convolution by Winograd F(m, r) along each axis (``winograd_matrices``), without bias: m =
    ``tile`` along an axis whose kernel r is wider than 1, m = 1 (identity transforms) along an axis of kernel 1,
    so 3x3 is F(m x m, 3 x 3), 5x5 F(m x m, 5 x 5) and 1x7 F(1 x m, 1 x 7).

    Each m_h x m_w output tile is Y = A_h^T [ sum_c (G_h w_c G_w^T) * (B_h^T d_c B_w) ] A_w, where d_c is the
    a_h x a_w input tile (a = m + r - 1: tiles overlap by r - 1).  Both transforms are applied as one product with
    a Kronecker matrix (kron(B_h^T, B_w^T) is a_h a_w x a_h a_w), and the sum over channels is a_h a_w matrix
    products (tiles, C_in) @ (C_in, filters).  float32 with the compiled kernels loaded takes ``_winograd_fast``
    instead: the transforms one tile at a time, skipping their zeros, reading the input unpadded and writing the
    output cells in place.
    """
    x = _as_float(x)
    w = _as_float(w, x.dtype)
    dt = x.dtype
    kernel = w.shape[:2]
    (m_h, a_h), (m_w, a_w) = winograd_axes(kernel, tile)
    (bt_h, g_h, at_h), (bt_w, g_w, at_w) = (winograd_matrices(m, r) for (m, _), r in zip(((m_h, a_h), (m_w, a_w)),
                                                                                       kernel))
    a2 = a_h * a_w
    n_batch, c_in, filters = x.shape[0], x.shape[-1], w.shape[-1]
    oh, ow = out_spatial
    th, tw = -(-oh // m_h), -(-ow // m_w)
    # U = G_h w G_w^T, in float64 and rounded once; once per weights where the caller keeps them (``prepared``: a
    # pass over 512x512 3x3 weights costs 13-17 ms)
    u = _prepared(prepared, ("winograd", m_h, m_w, dt.str), lambda: (
        np.kron(g_h, g_w) @ w.reshape(math.prod(kernel), -1).astype(np.float64)).astype(dt).reshape(a2, c_in, filters))

    out = _output(out, (n_batch, oh, ow, filters), dt, rows=True)
    if _winograd_compiled(x, out):
        return _winograd_fast(x, u, (pads[0][0], pads[1][0]), (m_h, m_w), (bt_h, bt_w, at_h, at_w), out, (th, tw),
                              finish, prepared)
    kb = np.kron(bt_h, bt_w).astype(dt)  # a2 x a2
    ka = np.kron(at_h, at_w).astype(dt)  # m_h m_w x a2
    row_bytes = a2 * c_in * dt.itemsize
    macs = n_batch * th * tw * a2 * c_in * filters
    limit = parts(n_batch * th * tw * row_bytes, WINOGRAD_CHUNK_BYTES, macs)
    xp = _pad_to(x, pads, (m_h * th + kernel[0] - 1, m_w * tw + kernel[1] - 1))
    sn, sh, sw, sc = xp.strides
    tiles = as_strided(xp, (n_batch, th, tw, a_h, a_w, c_in), (sn, m_h * sh, m_w * sw, sh, sw, sc),
                       writeable=False)

    def chunk(where: tuple[slice, slice]) -> None:
        nb, rows = where
        d = tiles[nb, rows]  # b, rt, tw, a_h, a_w, C
        b, rt = d.shape[:2]
        buf = _workspace("cols", (a_h, a_w, b, rt, tw, c_in), dt)
        np.copyto(buf, d.transpose(3, 4, 0, 1, 2, 5))
        n_tiles = b * rt * tw
        # the transforms and products go into workspaces too: fresh arrays of this size page-fault on every chunk
        # (56x56x64 -> 64 alone, batch 8: 35-45 ms against 15; whole nets 0.94-0.99 of the time)
        v = _workspace("wino_v", (a2, n_tiles, c_in), dt)
        np.matmul(kb, buf.reshape(a2, -1), out=v.reshape(a2, -1))  # V = B^T d B
        mm = _workspace("wino_m", (a2, n_tiles, filters), dt)
        np.matmul(v, u, out=mm)  # a2, tiles, F
        y = _workspace("wino_y", (m_h, m_w, b, rt, tw, filters), dt)
        np.matmul(ka, mm.reshape(a2, -1), out=y.reshape(m_h * m_w, -1))  # Y = A^T M A
        r0 = rows.start or 0
        n_rows = min(m_h * rt, oh - m_h * r0)
        target = out[nb, m_h * r0:m_h * r0 + n_rows]
        for i in range(min(m_h, n_rows)):  # cell (i, j) of every tile: one strided copy each
            for j in range(min(m_w, ow)):
                place = target[:, i::m_h, j::m_w]
                np.copyto(place, y[i, j, :, :place.shape[1], :place.shape[2]])
        if finish is not None:
            finish(target)

    run_blas_blocks(chunk, list(_chunks(n_batch, (th, tw), row_bytes, limit)), macs)
    return out


#: Tiles per chunk of the compiled Winograd path: the chunk's transformed tiles and products stay in cache between
#: the transforms and the product.  Whole nets, in one process, 256 against 1024: VGG16 0.92, ResNet-18 0.96;
#: against 128: VGG16 0.85, AlphaGo 0.79.  Where BLAS can be pinned for the layer (``pinned_layer``) each thread of
#: the pool takes whole chunks, at least two each, and multiplies with one BLAS thread: whole nets, in one
#: process, against the chunks in the calling thread with BLAS's threads (OPENBLAS_THREAD_TIMEOUT=20): ResNet-18
#: 0.85, DenseNet-121 0.87, AlexNet 0.92, SqueezeNet, ShuffleNet and the CIFAR-10 net even.  With OpenBLAS's
#: default spin it was slower (ResNet-18 1.07, AlexNet 1.15-1.20), though faster for one layer alone (56x56x64 ->
#: 64 10.4 -> 5.9 ms): the spinning thread held the core the pool's thread needed.
WINOGRAD_CHUNK_TILES = 256


def _winograd_fast(x: np.ndarray, u: np.ndarray, pads_before: tuple[int, int], tile: tuple[int, int],
                   transforms: tuple[np.ndarray, ...], out: np.ndarray, counts: tuple[int, int], finish,
                   prepared: dict | None = None) -> np.ndarray:
    """Winograd through the compiled transforms (``compiled.winograd_in``/``winograd_out``): chunks of whole tile
    rows, each transformed from the unpadded input, multiplied (a^2 products (tiles, C) @ (C, F)) and transformed
    into its output cells (``WINOGRAD_CHUNK_TILES`` says where the chunks run).  The bias and an activation the
    kernels know go on each cell in the output transform (``_in_kernel``), not in another pass over the chunk:
    alone, batch 8, in one process, SqueezeNet's 55x55 16->64 into its concat 0.87 of the time, 27x27 32->128
    0.85, 28x28 128->128 0.92, 14x14 256->256 0.94, the CIFAR-10 net's 32x32 32->32 even.  A residual add or an
    opaque epilogue still finishes each chunk after."""
    dt = x.dtype
    x = np.ascontiguousarray(x)
    bt_h, bt_w, at_h, at_w = (np.ascontiguousarray(t, dtype=dt) for t in transforms)
    n_batch, (th, tw) = x.shape[0], counts
    a2, c_in, filters = u.shape
    row_bytes = a2 * c_in * dt.itemsize
    bias, act, rest = _in_kernel(finish, dt)
    fused = finish is not None and rest is None  # else the whole finish on each chunk's output after
    if not fused:
        bias, act = None, 0
    if WINOGRAD_NARROW and _narrow_available() and filters <= narrow.MAX_COLUMNS:
        return _winograd_narrow(x, u, pads_before, tile, (bt_h, bt_w, at_h, at_w), out, counts,
                                None if fused else finish, bias, act, prepared)

    def run(where: tuple[slice, slice]) -> None:
        nb, rows = where
        n0, r0 = nb.start or 0, rows.start or 0
        rt = len(range(*rows.indices(th)))
        n_tiles = len(range(*nb.indices(n_batch))) * rt * tw
        v = _workspace("wino_v", (a2, n_tiles, c_in), dt)
        mm = _workspace("wino_m", (a2, n_tiles, filters), dt)
        geometry = ((n0, r0), rt, tw, (0, n_tiles))
        compiled.winograd_in(x, pads_before, tile, (bt_h, bt_w), v, *geometry)
        np.matmul(v, u, out=mm)
        compiled.winograd_out(mm, (at_h, at_w), out, *geometry, bias=bias, activation=act)
        if finish is not None and not fused:
            finish(out[nb, tile[0] * r0:tile[0] * (r0 + rt)])

    with pinned_layer() as spread:
        per = min(WINOGRAD_CHUNK_TILES, -(-n_batch * th * tw // (2 * workers()))) if spread else WINOGRAD_CHUNK_TILES
        chunks = list(_chunks(n_batch, counts, row_bytes, max(1, per) * row_bytes))
        if spread:
            run_blocks(run, chunks, PARALLEL_MIN_OUT_BYTES)
        else:
            for where in chunks:
                run(where)
    return out


#: False keeps the compiled Winograd path's batched BLAS product where the narrow kernels could take it.
WINOGRAD_NARROW = True


def _winograd_narrow(x: np.ndarray, u: np.ndarray, pads_before: tuple[int, int], tile: tuple[int, int],
                     transforms: tuple[np.ndarray, ...], out: np.ndarray, counts: tuple[int, int], finish,
                     bias: np.ndarray | None, act: int, prepared: dict | None) -> np.ndarray:
    """``_winograd_fast`` by ``narrow``'s kernels: each thread transforms, multiplies and transforms back its share
    of the chunks in one compiled call (``compiled.winograd_narrow``), where a chunk took two compiled calls and a
    batched BLAS product of a^2 small matrices (each paying OpenBLAS's per-call cost).  The transforms are
    ``narrow.transform``'s kernels, the output one adding the bias and relu: alone, batch 8, the CIFAR-10 net's 32x32
    32->32 787 -> 380 us (its input transform alone, one thread: 468 -> 106 us, half of it from the points' spread:
    2^k bytes apart they shared one set of the L1 cache).
    ``finish``, if given, is what the output transform could not do (a residual add): run on each chunk after."""
    dt = x.dtype
    n_batch, (th, tw) = x.shape[0], counts
    a2, c_in, filters = u.shape
    packed = _prepared(prepared, ("winograd-narrow", a2, c_in, filters),
                       lambda: np.stack([narrow.pack(u[p], filters, c_in) for p in range(a2)]))
    kernels = narrow.kernels(filters, False, False)
    zeros = narrow.pack(None, filters)
    bt_h, bt_w, at_h, at_w = transforms
    points = (bt_h.shape[0], bt_w.shape[0])
    steps = (narrow.transform(bt_h, bt_w),
             narrow.transform(at_h, at_w, bias is not None, act == compiled.code("relu")))
    total = n_batch * th * tw
    threads = workers() if total * a2 * c_in * filters >= NARROW_SPREAD_MIN_MACS else 1
    row_bytes = a2 * c_in * dt.itemsize
    per = max(1, min(WINOGRAD_CHUNK_TILES, -(-total // (2 * threads))))
    chunks = []
    for nb, rows in _chunks(n_batch, counts, row_bytes, per * row_bytes):
        images, tile_rows = range(*nb.indices(n_batch)), range(*rows.indices(th))
        chunks.append(((nb, rows), (images.start, tile_rows.start, len(tile_rows), len(images) * len(tile_rows) * tw)))
    share = -(-len(chunks) // threads)

    def run(first: int) -> None:
        group = chunks[first:first + share]
        most = max(piece[3] for _, piece in group)
        buffers = (_workspace("wino_v", (a2 * compiled.spread_stride(most * c_in),), dt),
                   _workspace("wino_m", (a2 * compiled.spread_stride(most * filters),), dt),
                   _workspace("cols", (a2 * c_in,), dt), _workspace("wino_y", (tile[0] * tile[1] * filters,), dt))
        compiled.winograd_narrow(x, pads_before, tile, points, steps, buffers, packed, kernels, zeros, out, tw,
                                 np.array([piece for _, piece in group], np.int64), bias=bias, activation=act)
        if finish is not None:
            for (nb, rows), (_, r0, rt, _) in group:
                finish(out[nb, tile[0] * r0:tile[0] * (r0 + rt)])

    run_blocks(run, list(range(0, len(chunks), share)), PARALLEL_MIN_OUT_BYTES)
    return out


def _winograd_compiled(x: np.ndarray, out: np.ndarray) -> bool:
    """Whether the compiled transforms (``compiled.winograd_in``/``winograd_out``) run this float32 Winograd conv:
    they read the input unpadded and write the output cells in place of numpy's padded copy, Kronecker products and
    reordering copies."""
    return (x.dtype == np.float32 and out.dtype == np.float32 and out.strides[-1] == out.itemsize
            and all(s >= 0 for s in out.strides) and compiled.available(x.dtype))


def _pad_to(x: np.ndarray, pads: Pads, extent: Ints) -> np.ndarray:
    """Zero-pad the spatial axes: pads before, then zeros up to ``extent`` (cropping if shorter)."""
    shape = (x.shape[0], *extent, x.shape[-1])
    xp = _workspace("pad", shape, x.dtype)
    dst, src = [], []
    for n, e, (p0, _) in zip(x.shape[1:-1], extent, pads):
        k = min(n, e - p0)
        dst.append(slice(p0, p0 + k))
        src.append(slice(0, k))
    _fill_border(xp, tuple(dst), 0.0)
    xp[(slice(None), *dst, slice(None))] = x[(slice(None), *src, slice(None))]
    return xp


# ----------------------------------------------------------------------------
# pooling


#: Bytes of the row-reduced block a pooling kernel holds (its widest workspace), and of an LRN block: the block,
#: the input rows it reads and the output block stay in cache (L2/L3) while every tap passes over them.  Measured
#: (single thread, every pool/LRN layer of 5 nets, batch 8): 256 KB 158 ms, 512 KB 133, 1 MB 118, 2 MB 92-118:
#: fewer, longer numpy calls win until the block leaves the cache.
POOL_BLOCK_BYTES = 2**20


def _check_windows(spatial: Ints, pads: Pads, stride: Ints, out_spatial: Ints) -> None:
    """Every window starts inside the padded input (ceil mode may only hang windows off the end)."""
    for ax, (n, s, (p0, p1), o) in enumerate(zip(spatial, stride, pads, out_spatial)):
        if o < 1:
            raise ValueError(f"output size must be >= 1 on axis {ax}, got {o}")
        if (o - 1) * s >= p0 + n + p1:
            raise ValueError(
                f"window {o - 1} on axis {ax} starts at {(o - 1) * s}, past the padded "
                f"input of length {p0 + n + p1} (n={n}, pads=({p0}, {p1}), stride={s})")


#: Threads the pooling kernels spread their blocks over (``run_blocks``), at most.  1: measured on 2 cores (quiet,
#: load 0.6, every pool of googlenet, inception_v3, squeezenet1_1, shufflenet_v2_x1_0, densenet121 at batch 8,
#: interleaved runs), two threads made 27 of 29 pooling layers slower (all of them 96 -> 108 ms): their blocks are
#: short numpy calls over memory-bound data.  LRN, with longer calls, gains from them (1.25x) and keeps them.
POOL_THREADS = 1


def pool_threads(out_bytes: int) -> int:
    """Threads a pooling kernel with this much output runs on."""
    return min(workers(), POOL_THREADS) if out_bytes >= PARALLEL_MIN_OUT_BYTES else 1


def _pool_block_shape(batch: int, spatial: Ints, out_spatial: Ints, channels: int, itemsize: int) -> tuple[int, int]:
    """(samples, output rows) per block of the pooling kernels: rows of the first spatial axis about
    ``POOL_BLOCK_BYTES`` of the widest workspace, or whole samples when one fits (then at least as many blocks as
    threads when the blocks go to threads)."""
    row_bytes = max(math.prod(spatial[1:]), math.prod(out_spatial[1:])) * channels * itemsize
    rows = max(1, POOL_BLOCK_BYTES // max(1, row_bytes))
    o0 = out_spatial[0]
    if rows < o0:
        return 1, rows
    threads = pool_threads(batch * math.prod(out_spatial) * channels * itemsize)
    return max(1, min(batch, rows // o0, -(-batch // threads))), o0


def pool_blocks(batch: int, spatial: Ints, out_spatial: Ints, channels: int,
                itemsize: int) -> list[tuple[int, int, int, int]]:
    """Blocks (n0, n1, r0, r1) of the pooling kernels' output: samples n0..n1-1, rows (first spatial axis) r0..r1-1."""
    per, rows = _pool_block_shape(batch, spatial, out_spatial, channels, itemsize)
    o0 = out_spatial[0]
    return [(n, min(batch, n + per), r, min(o0, r + rows)) for n in range(0, batch, per) for r in range(0, o0, rows)]


def _full_resolution(kernel: int, stride: int) -> bool:
    """Reduce the last spatial axis at stride 1, then keep every s-th window (overlapping windows, s < f): the
    taps then read runs of whole rows (W*C contiguous cells), which numpy runs far faster than s-strided runs
    of C cells (3 of those for 3x3/2, against one strided copy)."""
    return 1 < stride < kernel


def pool_workspaces(batch: int, spatial: Ints, out_spatial: Ints, kernel: Ints, stride: Ints, channels: int,
                    itemsize: int) -> dict[str, int]:
    """Bytes of each per-thread workspace of the pooling kernels: a block reduced over its first 1, 2 axes, and
    over all axes at stride 1 along the last (`_full_resolution`)."""
    per, rows = _pool_block_shape(batch, spatial, out_spatial, channels, itemsize)
    rows *= per  # output rows of the first axis in the largest block, over its samples
    sizes = {f"pool{ax}": rows * math.prod(out_spatial[1:ax + 1]) * math.prod(spatial[ax + 1:]) * channels * itemsize
             for ax in range(len(spatial) - 1)}
    if _full_resolution(kernel[-1], stride[-1]):
        sizes["pool_full"] = rows * math.prod(out_spatial[1:]) * stride[-1] * channels * itemsize
    return sizes


def _tap_range(o: int, n: int, s: int, offset: int, p0: int) -> tuple[int, int, int]:
    """Outputs [lo, hi) whose tap at ``offset`` (= u*d) reads inside an input of length n, and the first
    input cell read: i*s + offset - p0 in [0, n)."""
    lo = min(o, max(0, -(-(p0 - offset) // s)))
    hi = max(lo, min(o, -(-(n + p0 - offset) // s)))
    return lo, hi, lo * s + offset - p0


def _reduce_axis(src: np.ndarray, ax: int, reach, s: int, r0: int, r1: int, combine, fill: float,
                 dst: np.ndarray | None, role: str) -> np.ndarray:
    """dst[.., i - r0, ..] = combine over the taps that fall inside src of src[.., i*s + u*d - p0, ..] along axis
    ``ax``, for outputs i in [r0, r1); a window with no tap inside gets ``fill``.  ``reach`` lists per tap
    (first output, end, first input cell) as ``_tap_range`` gives.  Without ``dst``, a workspace (or a view of
    src when a single tap covers every output)."""
    lead = (slice(None),) * ax
    full: list[tuple[int, int, np.ndarray]] = []
    part: list[tuple[int, int, np.ndarray]] = []
    for lo, hi, first in reach:
        a0, a1 = max(lo, r0), min(hi, r1)
        if a0 >= a1:
            continue
        start = first + (a0 - lo) * s
        cells = src[(*lead, slice(start, start + (a1 - a0 - 1) * s + 1, s))]
        (full if (a0, a1) == (r0, r1) else part).append((a0 - r0, a1 - r0, cells))
    if dst is None:
        if len(full) == 1 and not part:
            return full[0][2]
        shape = (*src.shape[:ax], r1 - r0, *src.shape[ax + 1:])
        dst = _workspace(role, shape, src.dtype)
    if len(full) >= 2:
        combine(full[0][2], full[1][2], out=dst)
        full = full[2:]
    elif full and part:  # the widest partial tap with the full one, the rest of the full one copied
        cells = full.pop()[2]
        a0, a1, some = part.pop(max(range(len(part)), key=lambda i: part[i][1] - part[i][0]))
        combine(cells[(*lead, slice(a0, a1))], some, out=dst[(*lead, slice(a0, a1))])
        np.copyto(dst[(*lead, slice(0, a0))], cells[(*lead, slice(0, a0))])
        np.copyto(dst[(*lead, slice(a1, None))], cells[(*lead, slice(a1, None))])
    elif full:
        np.copyto(dst, full.pop()[2])
    else:
        dst.fill(fill)
    for a0, a1, cells in full + part:
        target = dst[(*lead, slice(a0, a1))]
        combine(target, cells, out=target)
    return dst


def _pool(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads, dilation: Ints | None, out_spatial: Ints | None,
          out: np.ndarray | None, fill: float, combine, divisor: Callable[..., np.ndarray] | None = None) -> np.ndarray:
    """Separable window reduction, block of output rows by block: per block, the first spatial axis is reduced
    over its taps, then the next axis of that, and so on, the last axis straight into the output (a max over a
    box is the max over rows of the max over columns; a sum likewise).  Each tap reads only the cells inside
    the input (`_tap_range`): padding and cells past the end in ceil mode are never materialised, a window
    reduces over its inside cells only.  ``divisor(geometry)`` gives the per-window divisors (*out_spatial)
    the sums are divided by, block by block.  Blocks run in the calling thread (``POOL_THREADS``)."""
    rank = x.ndim - 2
    dilation = dilation or _ones(rank)
    spatial = x.shape[1:-1]
    if out_spatial is None:
        out_spatial = floor_out_spatial(spatial, kernel, stride, pads, dilation)
    _check_windows(spatial, pads, stride, out_spatial)
    out = _output(out, (x.shape[0], *out_spatial, x.shape[-1]), x.dtype)
    blocks = pool_blocks(x.shape[0], spatial, out_spatial, x.shape[-1], x.dtype.itemsize)
    if len(blocks) == 1 and _tiles(kernel, stride, pads, dilation, spatial, out_spatial):
        return _pool_tiles(x, kernel, out, combine, None if divisor is None else math.prod(kernel))
    reach = [[_tap_range(o, n, s, u * d, p0) for u in range(f)]
             for o, n, s, d, f, (p0, _) in zip(out_spatial, spatial, stride, dilation, kernel, pads)]
    div: Any = None
    if divisor is not None:
        div = divisor(spatial, kernel, stride, pads, dilation, out_spatial).astype(x.dtype)[..., None]
        if (div == div.flat[0]).all():  # one count everywhere: a scalar divide runs over the flat block
            div = div.flat[0]

    last, s_last = rank - 1, stride[-1]
    full = _full_resolution(kernel[-1], s_last)
    if full:  # the last axis' windows at stride 1: (o - 1)*s + 1 of them
        o_full = (out_spatial[-1] - 1) * s_last + 1
        reach[-1] = [_tap_range(o_full, spatial[-1], 1, u * dilation[-1], pads[-1][0]) for u in range(kernel[-1])]

    def run(where: tuple[int, int, int, int]) -> None:
        n0, n1, r0, r1 = where
        block = out[n0:n1, r0:r1]
        t = x[n0:n1]
        for ax in range(rank):
            lo, hi = (r0, r1) if ax == 0 else (0, out_spatial[ax])
            if ax == last and full:
                t = _reduce_axis(t, ax + 1, reach[ax], 1, lo * s_last, (hi - 1) * s_last + 1, combine, fill,
                                 None, "pool_full")
                t = t[(slice(None),) * (ax + 1) + (slice(None, None, s_last),)]
            else:
                t = _reduce_axis(t, ax + 1, reach[ax], stride[ax], lo, hi, combine, fill,
                                 block if ax == last else None, f"pool{ax}")
        if div is not None:
            with np.errstate(invalid="ignore", divide="ignore"):  # a window wholly in the padding: 0/0
                np.divide(t, div if np.ndim(div) == 0 else div[r0:r1], out=block)
        elif full:
            np.copyto(block, t)

    if pool_threads(out.nbytes) > 1:
        run_blocks(run, blocks, out.nbytes)
    else:
        for block in blocks:
            run(block)
    return out


def _tiles(kernel: Ints, stride: Ints, pads: Pads, dilation: Ints, spatial: Ints, out_spatial: Ints) -> bool:
    """Whether the windows tile the input: kernel == stride, no dilation, no padding before, every window inside
    (cells left over at the end in floor mode are not read)."""
    return all(f == s and d == 1 and p0 == 0 and o * f <= n
               for f, s, d, (p0, _), n, o in zip(kernel, stride, dilation, pads, spatial, out_spatial))


def _pool_tiles(x: np.ndarray, kernel: Ints, out: np.ndarray, combine, count: int | None) -> np.ndarray:
    """A pool whose windows tile the input (``_tiles``), small enough for one block: x seen as (N, O_1, f_1, ...,
    C), each tap axis reduced in turn by whole-tensor ``combine`` calls (taps in order, as ``_reduce_axis`` does),
    the last straight into ``out``.  The blocked path's bookkeeping per tap costs more than the work on a small
    map.  An average divides by ``count``, the cells per window (every window lies inside)."""
    rank = len(kernel)
    inside = x[(slice(None), *(slice(0, o * f) for o, f in zip(out.shape[1:-1], kernel)))]
    t = inside.reshape(x.shape[0], *(d for o, f in zip(out.shape[1:-1], kernel) for d in (o, f)), x.shape[-1])
    for ax in range(rank):
        axis = 2 + ax  # the tap axis of this spatial axis, the earlier ones already reduced away
        lead: tuple[Any, ...] = (slice(None),) * axis
        dst = out if ax == rank - 1 else _workspace(f"pool{ax}", t.shape[:axis] + t.shape[axis + 1:], x.dtype)
        if kernel[ax] == 1:
            np.copyto(dst, t[(*lead, 0)])
        else:
            combine(t[(*lead, 0)], t[(*lead, 1)], out=dst)
            for u in range(2, kernel[ax]):
                combine(dst, t[(*lead, u)], out=dst)
        t = dst
    if count is not None:
        np.divide(out, count, out=out)
    return out


def maxpool(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads,
            dilation: Ints | None = None, out_spatial: Ints | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """y[n, i, c] = max over u of x[n, i*s + u*d - p_before, c], padded cells ignored (-inf)."""
    x = _as_float(x)
    done = _pool_compiled(x, kernel, stride, pads, dilation, out_spatial, out)
    return done if done is not None else _pool(x, kernel, stride, pads, dilation, out_spatial, out, -np.inf,
                                               np.maximum)


def _one_row(x: np.ndarray, out: np.ndarray, *geometry: Any) -> tuple[np.ndarray, np.ndarray, tuple]:
    """A 1-D map (N, L, C) and its output as 2-D maps one row high, each per-axis setting (kernel, stride, pads,
    dilation) with the leading axis's value prepended (1, or (0, 0) for pads); a 2-D map as it is.  The compiled
    row kernels take 2-D maps."""
    if x.ndim != 3:
        return x, out, geometry
    lead = tuple(((0, 0),) if isinstance(g[0], tuple) else (1,) for g in geometry)
    return x[:, None], out[:, None], tuple((*first, *g) for first, g in zip(lead, geometry))


#: Output rows per block of a compiled pool (blocks go to the pool when the output is large enough).
POOL_COMPILED_BLOCKS_PER_THREAD = 4


def _pool_compiled(x, kernel, stride, pads, dilation, out_spatial, out, include_pad: bool | None = None
                   ) -> np.ndarray | None:
    """A 1-D or 2-D float32 max pool (``include_pad`` None) or average pool by ``compiled.pool_rows``: each output
    row reduced tap by tap along the channels, read from the unpadded input, blocks of rows over the pool; None
    when it does not apply.  numpy's separable reduction makes a pass per tap and axis over a workspace (whole
    layers, batch 8: ShuffleNet's 3x3/2 max pool 2.0 -> 0.8 ms, SqueezeNet's first 2.9 -> 1.5, Inception v3's
    5.2 -> 2.8).  Averages divide the window's sum by its count (``window_counts``), as numpy's path does."""
    rank = x.ndim - 2
    if rank not in (1, 2) or x.dtype != np.float32 or not compiled.available(x.dtype):
        return None
    dilation = dilation or _ones(rank)
    if out_spatial is None:
        out_spatial = floor_out_spatial(x.shape[1:-1], kernel, stride, pads, dilation)
    out = _output(out, (x.shape[0], *out_spatial, x.shape[-1]), x.dtype)
    x = np.ascontiguousarray(x)
    return _pool_rows_runner(x, out, (kernel, stride, pads, dilation, out_spatial), include_pad)(x, out)


def _pool_rows_runner(x: np.ndarray, out: np.ndarray, geometry: tuple, include_pad: bool | None
                      ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The function (x, out) -> out that pools float32 arrays shaped as these (C-contiguous, 1-D or 2-D maps) by
    ``compiled.pool_rows``, with what it derives from the shapes alone made here once: the windows checked, the
    counts an average divides by (``include_pad`` None for a max pool), the blocks over the pool (one call below
    ``PARALLEL_MIN_OUT_BYTES`` of output: each costs a few us)."""
    kernel, stride, pads, dilation, out_spatial = geometry
    rank = x.ndim - 2
    _check_windows(x.shape[1:-1], pads, stride, tuple(out_spatial))
    div = None
    if include_pad is not None:
        counts = window_counts(x.shape[1:-1], kernel, stride, pads, dilation, out_spatial, include_pad=include_pad)
        div = np.ascontiguousarray(counts.reshape(-1 if rank == 2 else 1, out_spatial[-1]), np.float32)
    x4, out4, (k4, s4, p4, d4) = _one_row(x, out, kernel, stride, pads, dilation)
    settings = (tuple(k4), tuple(s4), (p4[0][0], p4[1][0]), tuple(d4))
    total = x4.shape[0] * out4.shape[1]
    spread = workers() > 1 and out.nbytes >= PARALLEL_MIN_OUT_BYTES
    step = max(1, -(-total // (POOL_COMPILED_BLOCKS_PER_THREAD * workers()))) if spread else total
    blocks = list(range(0, total, step))
    nbytes = out.nbytes

    def run(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        x4, out4 = (x, out) if rank == 2 else (x[:, None], out[:, None])
        if not spread:
            compiled.pool_rows(x4, div, out4, (0, total), *settings)
        else:
            run_blocks(lambda j0: compiled.pool_rows(x4, div, out4, (j0, min(j0 + step, total)), *settings), blocks,
                       nbytes)
        return out
    return run


def pool_prepared(x: np.ndarray, out: np.ndarray, geometry: tuple, average: bool, cache: dict) -> np.ndarray:
    """``maxpool`` or ``avgpool`` (padding not counted) of x into ``out`` for a caller that pools arrays of the same
    shapes again and again (the fused plan's pool steps): what the compiled pool derives from the shapes alone (the
    windows checked, the counts, the blocks: ``_pool_rows_runner``) is kept in ``cache`` per shapes, so a pass
    costs the kernel's call and little more.  ``geometry`` is (kernel, stride, pads, dilation, out_spatial).  Whole
    pool steps, batch 8: the MNIST nets' 28x28x32 2x2 45 -> 33 us, 14x14x64 34 -> 19 (see ``plan._lean``)."""
    key = (x.shape, x.strides, x.dtype, out.shape, out.strides, out.dtype)
    run = cache.get(key)
    if run is None:
        if (x.dtype == np.float32 and out.dtype == np.float32 and x.flags.c_contiguous and out.flags.c_contiguous
                and x.ndim - 2 in (1, 2) and compiled.available(x.dtype)):
            run = _pool_rows_runner(x, out, geometry, False if average else None)
        else:
            kernel, stride, pads, dilation, out_spatial = geometry
            generic = partial(avgpool if average else maxpool, kernel=kernel, stride=stride, pads=pads,
                              dilation=dilation, out_spatial=out_spatial)
            run = lambda x, out: generic(x, out=out)  # noqa: E731
        cache[key] = run
    return run(x, out)


def avgpool(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads,
            dilation: Ints | None = None, out_spatial: Ints | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """y[n, i, c] = mean of x over the window's cells inside the input (padding not counted).

    Matches TensorFlow's SAME average pooling and PyTorch's count_include_pad=False;
    cells of windows that hang off the end in ceil mode are not counted either.  A
    window lying wholly in the padding would have no mean; the calculator refuses such
    a pool (padding on a side at least the kernel).
    """
    x = _as_float(x)
    done = _pool_compiled(x, kernel, stride, pads, dilation, out_spatial, out, include_pad=False)
    return done if done is not None else _pool(x, kernel, stride, pads, dilation, out_spatial, out, 0.0, np.add,
                                               partial(window_counts, include_pad=False))


def global_avgpool(x: np.ndarray) -> np.ndarray:
    """y[n, c] = mean over every spatial position of x[n, ..., c].

    The sum is a product with a vector of ones, (P,) @ (N, P, C): BLAS reads each sample once, summing in
    vector registers, where numpy's reduction over the middle axes walked it with short inner loops
    (batch 8: 112x112x32 2.25 -> 0.38 ms, 56x56x144 1.06 -> 0.69; also closer to the float64 mean)."""
    x = _as_float(x)
    positions = math.prod(x.shape[1:-1])
    if positions == 0:
        return x.mean(axis=tuple(range(1, x.ndim - 1)))  # nan, as numpy's mean of nothing
    y = np.matmul(np.ones(positions, x.dtype), x.reshape(x.shape[0], positions, x.shape[-1]))
    y /= positions
    return y


def global_maxpool(x: np.ndarray) -> np.ndarray:
    """y[n, c] = max over every spatial position of x[n, ..., c]."""
    x = _as_float(x)
    return x.max(axis=tuple(range(1, x.ndim - 1)))


# ----------------------------------------------------------------------------
# dense, normalisation


def flatten(x: np.ndarray) -> np.ndarray:
    """(N, ...) -> (N, prod(...)) in C order, i.e. channels-last as Keras flattens."""
    return x.reshape(x.shape[0], -1)


def lrn(x: np.ndarray, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75,
        alpha_over_n: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """b_c = a_c / (k + alpha * sum_{c' near c} a_{c'}^2)^beta, across channels (AlexNet).

    The sum runs over channels c - size//2 .. c + (size-1)//2 that exist.  With
    ``alpha_over_n`` alpha is divided by ``size``, as PyTorch and Caffe do.

    Blocks of positions small enough to stay in cache go through every step before the
    next block, spread over ``run_blocks``' threads.  Every step runs over the whole flat
    block (numpy runs 2-D slices of C channels 3-4x slower, row by row): the neighbour
    sums are shifted adds of the flat squares, which wrongly reach into the next or the
    previous position for the first size//2 and last (size-1)//2 channels; those few
    columns are then summed again on their own.  beta = 0.75 is sqrt(s) * sqrt(sqrt(s)),
    cheaper than pow.
    """
    x = _as_float(x)
    out = _output(out, x.shape, x.dtype)
    dt, channels = x.dtype, x.shape[-1]
    xs, ys = x.reshape(-1, channels), out.reshape(-1, channels)
    scale, kk = dt.type(alpha / size if alpha_over_n else alpha), dt.type(k)
    before, after = min(size // 2, channels - 1), min((size - 1) // 2, channels - 1)
    edges = sorted(set(range(min(before, channels))) | set(range(max(0, channels - after), channels)))
    rows = lrn_block_rows(channels, dt.itemsize)

    def run(where: tuple[int, int]) -> None:
        xb, acc = xs[where[0]:where[1]], ys[where[0]:where[1]]
        sq = _workspace("lrn", xb.shape, dt)
        np.multiply(xb, xb, out=sq)
        sq *= scale
        np.add(sq, kk, out=acc)
        flat_sq, flat = sq.reshape(-1), acc.reshape(-1)
        for shift in range(1, before + 1):  # neighbours before c
            flat[shift:] += flat_sq[:-shift]
        for shift in range(1, after + 1):  # neighbours after c
            flat[:-shift] += flat_sq[shift:]
        for c in edges:  # the channels whose flat neighbours crossed into another position: again, in order
            col = acc[:, c]
            np.add(sq[:, c], kk, out=col)
            for shift in range(1, min(before, c) + 1):
                col += sq[:, c - shift]
            for shift in range(1, min(after, channels - 1 - c) + 1):
                col += sq[:, c + shift]
        if beta == 0.75:
            np.sqrt(acc, out=acc)
            acc *= np.sqrt(acc, out=sq)
            np.divide(xb, acc, out=acc)
        else:
            np.power(acc, dt.type(-beta), out=acc)
            acc *= xb

    total = xs.shape[0]
    run_blocks(run, [(r, min(total, r + rows)) for r in range(0, total, rows)], out.nbytes)
    return out


def lrn_block_rows(channels: int, itemsize: int) -> int:
    """Positions per block of ``lrn`` (its workspace holds a block of squares)."""
    return max(1, POOL_BLOCK_BYTES // (channels * itemsize))


def batchnorm(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
              moving_mean: np.ndarray, moving_variance: np.ndarray, eps: float = 1e-3,
              out: np.ndarray | None = None) -> np.ndarray:
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the channel axis (inference), into `out` if given
    (no temporary the size of x)."""
    x = _as_float(x)
    dt = x.dtype
    scale = 1.0 / np.sqrt(np.asarray(moving_variance, dtype=np.float64) + eps)
    if gamma is not None:
        scale = scale * np.asarray(gamma, dtype=np.float64)
    shift = -np.asarray(moving_mean, dtype=np.float64) * scale
    if beta is not None:
        shift = shift + np.asarray(beta, dtype=np.float64)
    y = _output(out, x.shape, dt)
    np.multiply(x, scale.astype(dt), out=y)
    y += shift.astype(dt)
    return y


# ----------------------------------------------------------------------------
# activations: each applied in place to a float array the pass owns; plain twins in reference.ACTIVATIONS


def _relu(x: np.ndarray, alpha: float | None) -> None:
    np.maximum(x, x.dtype.type(0), out=x)


def _leaky_relu(x: np.ndarray, alpha: float | None) -> None:
    """alpha * x below 0 (the spec's default alpha is 0.1, `layers.fields.DEFAULT_ALPHA`)."""
    np.multiply(x, x.dtype.type(alpha), out=x, where=x < 0)


def _elu(x: np.ndarray, alpha: float | None) -> None:
    neg = x < 0
    np.expm1(x, out=x, where=neg)
    np.multiply(x, x.dtype.type(alpha), out=x, where=neg)


def _sigmoid(x: np.ndarray, alpha: float | None) -> None:
    """1 / (1 + exp(-x)): exp overflows to inf below about -88 (float32), giving the exact limit 0."""
    with np.errstate(over="ignore"):
        np.negative(x, out=x)
        np.exp(x, out=x)
    x += 1
    np.reciprocal(x, out=x)


def _tanh(x: np.ndarray, alpha: float | None) -> None:
    np.tanh(x, out=x)


def _softmax(x: np.ndarray, alpha: float | None) -> None:
    """Over the last axis, shifted by the max for stability."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)


def _linear(x: np.ndarray, alpha: float | None) -> None:
    return None


def _relu6(x: np.ndarray, alpha: float | None) -> None:
    """min(max(0, x), 6)."""
    np.clip(x, x.dtype.type(0), x.dtype.type(6), out=x)


def _hardsigmoid(x: np.ndarray, alpha: float | None) -> None:
    """relu6(x + 3) / 6 (PyTorch's hard sigmoid)."""
    x += 3
    _relu6(x, None)
    x /= 6


def _hardswish(x: np.ndarray, alpha: float | None) -> None:
    """x * hardsigmoid(x)."""
    gate = _workspace("act", x.shape, x.dtype)
    np.copyto(gate, x)
    _hardsigmoid(gate, None)
    x *= gate


def _silu(x: np.ndarray, alpha: float | None) -> None:
    """x * sigmoid(x) = x / (1 + exp(-x)) (swish); below about -88 exp(-x) is inf and x / inf the exact limit 0."""
    gate = _workspace("act", x.shape, x.dtype)
    with np.errstate(over="ignore"):
        np.negative(x, out=gate)
        np.exp(gate, out=gate)
    gate += 1
    np.divide(x, gate, out=x)


#: Numerical Recipes' Chebyshev fit: erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0, fractional
#: error < 1.2e-7 everywhere (Press et al., Numerical Recipes, 6.2); coefficients of P from t^9 down to t^0.
_ERFC_FIT = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
             0.37409196, 1.00002368, -1.26551223)


def _erfc_fit(z: np.ndarray, out: np.ndarray, t: np.ndarray) -> np.ndarray:
    """erfc(z) for z >= 0 into ``out`` (``t`` a scratch array of z's shape), in z's dtype, in place."""
    dt = z.dtype.type
    np.multiply(z, dt(0.5), out=t)
    t += 1
    np.reciprocal(t, out=t)
    np.multiply(t, dt(_ERFC_FIT[0]), out=out)
    for c in _ERFC_FIT[1:-1]:
        out += dt(c)
        out *= t
    out += dt(_ERFC_FIT[-1])
    with np.errstate(under="ignore"):
        out -= np.square(z, out=z)  # z is spent: -z^2 + P(t)
        np.exp(out, out=out)
    out *= t
    return out


def _gelu(x: np.ndarray, approximate: str | None) -> None:
    """x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)); approximate 'tanh': x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    float32: Phi(x) = 1 - erfc(|x|/sqrt 2)/2 for x >= 0 and erfc(|x|/sqrt 2)/2 below, so
    gelu(x) = max(x, 0) - |x| erfc(|x|/sqrt 2)/2, with erfc from ``_ERFC_FIT`` computed in place in float32
    (no branch, no float64 copy).  float64: math.erf on each value, exact to the last bit.
    """
    dt = x.dtype.type
    if approximate == "tanh":
        inner = x * x
        inner *= dt(0.044715)
        inner += 1
        inner *= x
        inner *= dt(math.sqrt(2 / math.pi))
        np.tanh(inner, out=inner)
    elif approximate in (None, "none"):
        if x.dtype != np.float64:
            mag = np.abs(x, out=_workspace("act", x.shape, x.dtype))
            np.minimum(mag, np.finfo(x.dtype).max, out=mag)  # at +inf: inf - 0, not inf - inf * 0
            z = np.multiply(mag, dt(1 / math.sqrt(2)), out=_workspace("act_z", x.shape, x.dtype))
            half = _erfc_fit(z, _workspace("act_p", x.shape, x.dtype), _workspace("act_t", x.shape, x.dtype))
            half *= mag
            half *= dt(0.5)
            np.maximum(x, dt(0), out=x)
            x -= half
            return
        inner = erf_array(x * dt(1 / math.sqrt(2)))
    else:
        raise ValueError(f"gelu: unknown approximate {approximate!r}, expected 'none' or 'tanh'")
    inner += 1
    inner *= dt(0.5)
    x *= inner


ACTIVATE: dict[str, Callable[[np.ndarray, Any], None]] = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "softmax": _softmax,
    "linear": _linear,
    "relu6": _relu6,
    "hardsigmoid": _hardsigmoid,
    "hardswish": _hardswish,
    "silu": _silu,
    "gelu": _gelu,
}


#: Activations of several passes: applied chunk by chunk (each chunk and its temporaries in cache), the chunks
#: spread over the kernel threads.  relu, relu6 and linear are one pass (or none) and run directly.
_HEAVY = frozenset({"leaky_relu", "elu", "sigmoid", "tanh", "hardsigmoid", "hardswish", "silu", "gelu"})
#: Activations the compiled kernels apply when loaded: the heavy ones, and relu and relu6 (numpy's maximum against
#: a scalar takes 0.75 ms over 1.6 M float32 values here, the compiled loop 0.14) from ``COMPILED_MIN_VALUES`` on.
_COMPILED = frozenset(compiled.ACTIVATIONS)
#: Elements per chunk of a heavy activation: 1 MiB of float32.  Smaller chunks lose to the GIL hand-offs
#: between the two threads (gelu over 8 x 56 x 56 x 384, two threads: 32768 elements a chunk 112-122 ms,
#: 65536 67-84, 131072 51-61, 262144 33-41, one thread 57; silu 28 -> 16 ms, hardswish 15 -> 10 from 131072).
ACTIVATION_CHUNK = 262144


def activate(x: np.ndarray, function: str | None, alpha: Any = None) -> np.ndarray:
    """Apply the activation `function` (None: none) to x in place and return x; `alpha` for leaky_relu and elu,
    gelu's approximate ('none' or 'tanh')."""
    if function is None:
        return x
    fn = ACTIVATE[function]
    if (function in _COMPILED and x.flags.writeable and (function in _HEAVY or x.size >= COMPILED_MIN_VALUES)
            and compiled.available(x.dtype)):
        code = compiled.code(function, alpha)
        if code is not None and _activate_compiled(x, code):
            return x
    if function not in _HEAVY or x.size <= 2 * ACTIVATION_CHUNK:
        fn(x, alpha)
        return x
    rows = _as_rows(x)
    if rows is None:  # no 2-D view without a copy: one sub-array at a time (temporaries stay bounded)
        for sub in x:
            activate(sub, function, alpha)
        return x
    step = max(1, ACTIVATION_CHUNK // max(1, rows.shape[1]))
    run_blocks(lambda chunk: fn(chunk, alpha), [rows[r:r + step] for r in range(0, rows.shape[0], step)], x.nbytes)
    return x


def _activate_compiled(x: np.ndarray, code: int) -> bool:
    """The activation through the compiled kernel (float32), in chunks over the pool; False when x has no 2-D
    view with contiguous rows (then numpy does it).  A contiguous x is cut into flat chunks whatever its rows."""
    if x.flags.c_contiguous:
        flat = x.reshape(1, -1)
        chunks = [flat[:, i:i + ACTIVATION_CHUNK] for i in range(0, flat.shape[1], ACTIVATION_CHUNK)]
    else:
        rows = _as_rows(x)
        if rows is None or rows.strides[-1] != x.itemsize:
            return False
        step = max(1, ACTIVATION_CHUNK // max(1, rows.shape[1]))
        chunks = [rows[r:r + step] for r in range(0, rows.shape[0], step)]
    run_blocks(lambda chunk: compiled.activate_rows(chunk, code), chunks, x.nbytes)
    return True


def _as_rows(x: np.ndarray) -> np.ndarray | None:
    """x as a 2-D (rows, last axis) view sharing its memory, or None when that needs a copy."""
    if x.ndim == 0:
        return None
    rows = x.view()
    try:
        rows.shape = (-1, x.shape[-1])
    except AttributeError:  # not expressible as a view
        return None
    return rows


# ----------------------------------------------------------------------------
# modern kinds (issue 11): transposed convolution, resampling, reshaping of
# channels, adaptive pools, normalisation over channels, gating, activations


def conv_transpose_out_spatial(spatial: Ints, kernel: Ints, stride: Ints, pads: Pads,
                               output_padding: Ints, dilation: Ints) -> Ints:
    """o = (n - 1)*s - p_before - p_after + d*(f - 1) + output_padding + 1, per axis."""
    return tuple((n - 1) * s - p0 - p1 + d * (f - 1) + op + 1
                 for n, f, s, (p0, p1), op, d in zip(spatial, kernel, stride, pads, output_padding, dilation))


def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Ints, pads: Pads,
                   output_padding: Ints | None = None, dilation: Ints | None = None, groups: int = 1,
                   out_spatial: Ints | None = None) -> np.ndarray:
    """z[n, i*s + u*d - p_before, g*F_g + f] += x[n, i, c] * w[u, f, c] for c in group g, plus b.

    ``w`` is (*kernel, filters/groups, C_in), Keras's Conv2DTranspose layout for one
    group (PyTorch's (C_in, F_g, *kernel) moved axis by axis).  Computed as one matrix
    product per group, (rows, C_g) @ (C_g, taps * F_g), then a scatter-add of each
    tap's plane into the uncropped output (a loop over kernel taps, not pixels), then
    the crop by the padding.  Output cells past the uncropped extent (output_padding,
    or SAME with a kernel shorter than the stride) receive only the bias.
    """
    x = _as_float(x)
    w = _as_float(w, x.dtype)
    rank = x.ndim - 2
    kernel, spatial = w.shape[:rank], x.shape[1:-1]
    dilation = dilation or _ones(rank)
    output_padding = output_padding or (0,) * rank
    if out_spatial is None:
        out_spatial = conv_transpose_out_spatial(spatial, kernel, stride, pads, output_padding, dilation)
    c_in, f_g = x.shape[-1], w.shape[-2]
    if c_in != w.shape[-1] or c_in % groups:
        raise ValueError(f"conv_transpose: input channels {c_in}, kernel shape {w.shape}, groups {groups} "
                         "do not fit: need C_in == kernel[-1] and C_in % groups == 0")
    c_g, taps, n_batch = c_in // groups, math.prod(kernel), x.shape[0]
    # (G, C_g, taps * F_g): column (u, f) of group g holds w[u, f, g*C_g + c]
    wg = w.reshape(taps, f_g, groups, c_g).transpose(2, 3, 0, 1).reshape(groups, c_g, taps * f_g)
    xg = np.moveaxis(x.reshape(-1, groups, c_g), 1, 0)  # G, rows, C_g
    cols = (matmul(xg[0], wg[0])[None] if groups == 1 else np.matmul(xg, wg)).reshape(
        groups, n_batch, *spatial, *kernel, f_g)
    cols = np.moveaxis(cols, 0, -2)  # N, *spatial, *kernel, G, F_g
    full_extent = tuple(max((n - 1) * s + d * (f - 1) + 1, p0 + o)
                        for n, f, s, d, (p0, _), o in zip(spatial, kernel, stride, dilation, pads, out_spatial))
    full = np.zeros((n_batch, *full_extent, groups * f_g), dtype=x.dtype)
    lead = (slice(None),) * (1 + rank)
    for u in np.ndindex(*kernel):
        dst = tuple(slice(uu * d, uu * d + (n - 1) * s + 1, s) for uu, d, n, s in zip(u, dilation, spatial, stride))
        full[(slice(None), *dst)] += cols[(*lead, *u)].reshape(n_batch, *spatial, groups * f_g)
    crop = tuple(slice(p0, p0 + o) for (p0, _), o in zip(pads, out_spatial))
    out = np.ascontiguousarray(full[(slice(None), *crop)])
    if b is not None:
        out += _as_float(b, x.dtype)
    return out


def upsample(x: np.ndarray, scale: Ints, mode: str = "nearest") -> np.ndarray:
    """Resize each spatial axis by an integer factor: nearest (y[i] = x[i // s]) or linear per axis.

    ``bilinear`` (any number of axes: linear along each in turn) samples at
    (i + 0.5)/s - 0.5, clamped to the input, i.e. align_corners=False, the PyTorch
    and Keras default.
    """
    x = _as_float(x)
    for ax, s in enumerate(scale, start=1):
        if mode == "nearest":
            x = np.repeat(x, s, axis=ax)
        elif mode == "bilinear":
            lo, hi, frac = _linear_taps(x.shape[ax], s)
            shape = [1] * x.ndim
            shape[ax] = frac.size
            t = frac.astype(x.dtype).reshape(shape)
            x = np.take(x, lo, axis=ax) * (1 - t) + np.take(x, hi, axis=ax) * t
        else:
            raise ValueError(f"upsample: unknown mode {mode!r}, expected 'nearest' or 'bilinear'")
    return x


def _linear_taps(n: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source cells and weight of the upper one for output i: src = max((i + 0.5)/s - 0.5, 0)."""
    src = np.maximum((np.arange(n * s) + 0.5) / s - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, src - lo


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Add (before, after) cells of ``value`` on each spatial axis."""
    x = _as_float(x)
    return np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def crop(x: np.ndarray, crops: Pads) -> np.ndarray:
    """Drop (before, after) cells on each spatial axis: n -> n - before - after."""
    index = tuple(slice(c0, n - c1) for n, (c0, c1) in zip(x.shape[1:-1], crops))
    return _as_float(x)[(slice(None), *index, slice(None))]


def take_slice(x: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """x[..., start:stop, ...] on ``axis`` counted without the batch axis (-1 = channels)."""
    rank = x.ndim - 1
    if not -rank <= axis < rank:
        raise ValueError(f"slice: axis {axis} out of range for inputs of rank {rank} (without batch)")
    np_axis = axis + 1 if axis >= 0 else x.ndim + axis
    index = [slice(None)] * x.ndim
    index[np_axis] = slice(start, stop)
    return _as_float(x)[tuple(index)]


def channel_shuffle(x: np.ndarray, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    """Channels viewed as (groups, C/groups), transposed, flattened: y[..., j*G + g] = x[..., g*(C/G) + j].

    float32 rows go through the compiled kernel (``compiled.shuffle_rows``), blocks of rows spread over the pool:
    ShuffleNet V2's 28x28x116, batch 8, 237 -> 75 us, 14x14x232 134 -> 44.  Otherwise written straight into
    ``out``, one strided copy per group (or per column j when there are fewer columns than groups): a single copy
    of the transposed view makes numpy loop over runs of G channels (5x slower for G = 2).
    """
    x = _as_float(x)
    c = x.shape[-1]
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels do not divide by groups {groups}")
    out = _output(out, x.shape, x.dtype)
    per = c // groups
    rows, target = _as_rows(x), _as_rows(out)
    if (x.dtype == np.float32 and out.dtype == np.float32 and rows is not None and target is not None
            and out.flags.writeable and _runs(rows, target) and compiled.available(x.dtype)):
        step = max(1, DEPTHWISE_BLOCK_BYTES // max(1, c * x.itemsize))
        run_blocks(lambda r0: compiled.shuffle_rows(rows, target, groups, (r0, min(r0 + step, len(rows)))),
                   list(range(0, len(rows), step)), out.nbytes)
        return out
    if groups <= per:
        for g in range(groups):
            np.copyto(out[..., g::groups], x[..., g * per:(g + 1) * per])
    else:
        for j in range(per):
            np.copyto(out[..., j * groups:(j + 1) * groups], x[..., j::per])
    return out


def adaptive_windows(n: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows as a gather: indices (out, longest) and a mask of the real cells.

    Window i covers floor(i*n/out) .. ceil((i+1)*n/out) - 1.
    """
    i = np.arange(out)
    start = (i * n) // out
    stop = -((-(i + 1) * n) // out)
    longest = int((stop - start).max())
    index = start[:, None] + np.arange(longest)[None, :]
    mask = index < stop[:, None]
    return np.minimum(index, n - 1), mask


def _adaptive(x: np.ndarray, output: Ints, reduce: str) -> np.ndarray:
    x = _as_float(x)
    for ax, o in enumerate(output, start=1):
        index, mask = adaptive_windows(x.shape[ax], o)
        cells = np.take(x, index, axis=ax)  # ..., out, longest, ...
        shape = [1] * cells.ndim
        shape[ax:ax + 2] = mask.shape
        m = mask.reshape(shape)
        if reduce == "max":
            x = np.where(m, cells, -np.inf).max(axis=ax + 1).astype(x.dtype, copy=False)
        else:
            x = (np.where(m, cells, 0).sum(axis=ax + 1) / m.sum(axis=ax + 1)).astype(x.dtype, copy=False)
    return x


def adaptive_avgpool(x: np.ndarray, output: Ints) -> np.ndarray:
    """Mean over PyTorch's adaptive window of each output cell (the box is separable, one axis at a time)."""
    return _adaptive(x, output, "mean")


def adaptive_maxpool(x: np.ndarray, output: Ints) -> np.ndarray:
    """Max over PyTorch's adaptive window of each output cell."""
    return _adaptive(x, output, "max")


def window_counts(spatial: Ints, kernel: Ints, stride: Ints, pads: Pads, dilation: Ints,
                  out_spatial: Ints, include_pad: bool) -> np.ndarray:
    """Cells counted by each window, (*out_spatial): inside the input, or inside input + padding."""
    count = np.ones((), dtype=np.int64)
    for n, f, s, (p0, p1), d, o in zip(spatial, kernel, stride, pads, dilation, out_spatial):
        pos = np.arange(o)[:, None] * s + np.arange(f)[None, :] * d - p0  # window i, tap u
        lo, hi = (-p0, n + p1) if include_pad else (0, n)
        count = np.multiply.outer(count, ((pos >= lo) & (pos < hi)).sum(axis=1))
    return count


def avgpool_include_pad(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads,
                        dilation: Ints | None = None, out_spatial: Ints | None = None,
                        out: np.ndarray | None = None) -> np.ndarray:
    """y[n, i, c] = sum of the window's input cells / its cells inside input + padding.

    PyTorch's count_include_pad=True: padded zeros count, cells of ceil-mode windows
    that hang past the padding do not.  The same blocked sums as ``avgpool``, another divisor.
    """
    x = _as_float(x)
    done = _pool_compiled(x, kernel, stride, pads, dilation, out_spatial, out, include_pad=True)
    return done if done is not None else _pool(x, kernel, stride, pads, dilation, out_spatial, out, 0.0, np.add,
                                               partial(window_counts, include_pad=True))


def layernorm(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None, eps: float = 1e-6,
              out: np.ndarray | None = None) -> np.ndarray:
    """y = gamma * (x - mean_c x) / sqrt(var_c x + eps) + beta, statistics over the channels at each position.
    ``out`` (x's shape, contiguous) receives it if given.  With the compiled kernels loaded, float32 goes row by
    row through ``compiled.layernorm_rows``, blocks of rows over the pool (numpy takes eight passes over the map)."""
    x = _as_float(x)
    out = _output(out, x.shape, x.dtype)
    g = None if gamma is None else np.ascontiguousarray(_as_float(gamma, x.dtype)).reshape(-1)
    b = None if beta is None else np.ascontiguousarray(_as_float(beta, x.dtype)).reshape(-1)
    if (x.ndim and x.dtype == np.float32 and x.size >= COMPILED_MIN_VALUES and compiled.available(x.dtype)
            and all(v is None or v.size == x.shape[-1] for v in (g, b))):
        rows, dst = np.ascontiguousarray(x).reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1])
        step = max(1, ACTIVATION_CHUNK // max(1, rows.shape[1]))
        run_blocks(lambda r0: compiled.layernorm_rows(rows, g, b, eps, dst, (r0, min(r0 + step, rows.shape[0]))),
                   list(range(0, rows.shape[0], step)), out.nbytes)
        return out
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.square(centred).mean(axis=-1, keepdims=True)
    np.divide(centred, np.sqrt(var + x.dtype.type(eps)), out=out)
    if g is not None:
        out *= g
    if b is not None:
        out += b
    return out


def scale(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray | None = None) -> np.ndarray:
    """y = gamma * x (+ beta), one learnable factor per channel (ConvNeXt's layer scale)."""
    x = _as_float(x)
    y = x * _as_float(gamma, x.dtype)
    if beta is not None:
        y += _as_float(beta, x.dtype)
    return y


def embedding(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """y[n, l, :] = table[ids[n, l], :]: integer token ids to vectors."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" and not (ids.dtype.kind == "f" and np.all(ids == np.round(ids))):
        raise ValueError(f"embedding: ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    vocab = table.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(f"embedding: ids must lie in [0, {vocab}), got {ids.min()}..{ids.max()}")
    return _as_float(table)[ids]


def _per_sample_broadcast(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Line up trailing axes of each sample's shape: (N, C) next to (N, H, W, C) becomes (N, 1, 1, C)."""
    rank = max(x.ndim for x in xs)
    dt = np.result_type(*[_dtype_of(np.asarray(x)) for x in xs])
    out = []
    for x in xs:
        x = np.asarray(x, dtype=dt)
        out.append(x.reshape(x.shape[0], *(1,) * (rank - x.ndim), *x.shape[1:]))
    return out


def multiply(xs: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Elementwise product, shapes broadcast by NumPy's rules on each sample's channels-last shape.
    ``out`` (a reused buffer) receives it when it has the result's shape and dtype."""
    first, *rest = _per_sample_broadcast(xs)
    if not rest:
        return first
    shape = np.broadcast_shapes(first.shape, *(x.shape for x in rest))
    if out is None or out.shape != shape or out.dtype != first.dtype or not out.flags.c_contiguous:
        out = np.empty(shape, first.dtype)
    np.multiply(first, rest[0], out=out)
    for x in rest[1:]:
        np.multiply(out, x, out=out)
    return out


def add_broadcast(xs: Sequence[np.ndarray]) -> np.ndarray:
    """Elementwise sum, shapes broadcast as in ``multiply``."""
    first, *rest = _per_sample_broadcast(xs)
    out = first
    for x in rest:
        out = out + x
    return out


def _fresh(x: np.ndarray) -> np.ndarray:
    """A float copy of x that an in-place activation may overwrite."""
    y = _as_float(x)
    return y.copy() if y is x or np.shares_memory(y, x) else y


def relu6(x: np.ndarray) -> np.ndarray:
    """min(max(0, x), 6) (``ACTIVATE['relu6']`` on a copy)."""
    return activate(_fresh(x), "relu6")


def hardsigmoid(x: np.ndarray) -> np.ndarray:
    """relu6(x + 3) / 6, PyTorch's hard sigmoid."""
    return activate(_fresh(x), "hardsigmoid")


def hardswish(x: np.ndarray) -> np.ndarray:
    """x * relu6(x + 3) / 6."""
    return activate(_fresh(x), "hardswish")


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x) (swish)."""
    return activate(_fresh(x), "silu")


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """x * Phi(x), the erf form; approximate='tanh': the tanh form."""
    return activate(_fresh(x), "gelu", approximate)


_ERF = np.frompyfunc(math.erf, 1, 1)


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf(x) elementwise without scipy.  float64: math.erf on each value (exact to the last bit, slower);
    otherwise 1 - erfc(|x|) with the sign of x, erfc from ``_ERFC_FIT`` (fractional error < 1.2e-7)."""
    x = np.asarray(x)
    if _dtype_of(x) == np.float64:
        return _ERF(x).astype(np.float64)
    x = x.astype(np.float32)
    z = np.abs(x)
    erfc = _erfc_fit(z, np.empty_like(z), np.empty_like(z))
    return np.copysign(1 - erfc, x)


# ----------------------------------------------------------------------------
# depthwise and grouped convolution (issue 16): kernels of their own instead of
# thousands of tiny matrix products


#: Output bytes per block of the depthwise kernel (one einsum each): the block and the input rows it reads stay in
#: cache while every tap passes over them, and the epilogue runs on the block before it leaves the cache.
DEPTHWISE_BLOCK_BYTES = 256 * 2**10
#: OpenBLAS runs a product of m*n*k at most this in the calling thread (GEMM_MULTITHREAD_THRESHOLD 4 x
#: 65536); above it, every small per-group product wakes and syncs its threads (10-20x slower measured).
BLAS_ONE_THREAD_MNK = 4 * 65536
#: Below this many bytes of work (output, or an activation's input) a kernel runs its blocks in the calling thread.
PARALLEL_MIN_OUT_BYTES = 2**20

_threads: dict[str, Any] = {}
_POOL_PREFIX = "archcalc-kernel"


def workers() -> int:
    """Threads for the kernels that split their own work (numpy's loops and one-thread BLAS calls
    release the GIL): the machine's cores, at most 4."""
    n = _threads.get("workers")
    if n is None:
        import os

        n = _threads["workers"] = max(1, min(4, os.cpu_count() or 1))
    return n


def run_blocks(fn, blocks: list, nbytes: int) -> None:
    """fn(block) for every block, spread over ``workers()`` threads when the work is large enough: the calling
    thread works through the blocks too, alongside the crew's helpers (``_Crew``).  A call from inside a block runs
    its own blocks in its thread."""
    n = workers()
    if n < 2 or len(blocks) < 2 or nbytes < PARALLEL_MIN_OUT_BYTES or in_blocks():
        for block in blocks:
            fn(block)
        return
    crew = _threads.get("crew")
    if crew is None:
        crew = _threads["crew"] = _Crew(n - 1)
    job = _Job(fn, blocks)
    crew.hand(job, min(n, len(blocks)) - 1)
    _inside.busy = True
    try:
        job()
    finally:
        _inside.busy = False
    job.wait()


_inside = threading.local()


def in_blocks() -> bool:
    """Whether this thread is running blocks of ``run_blocks`` (a crew helper, or a caller inside its call)."""
    return bool(getattr(_inside, "busy", False))


#: The caller of ``run_blocks``, its own blocks done, polls for the helpers' for up to this long (``narrow.pause``
#: calls of ``WAIT_SPIN_PAUSES`` pauses, about 6 us, between looks, the GIL free meanwhile) before it sleeps on the
#: job's lock: waking a sleeping thread took 11-20 us here (a lock's round trip between two threads 22-40 us), paid
#: by every threaded layer.  Whole nets, batch 8, in one process, against sleeping at once: MNIST simple 0.89,
#: CIFAR-10 0.89, MobileNetV3-Small 0.95, ResNet-18 0.99; polls of 20 or 50 pauses gained less (0.92-0.95 on the
#: small nets), time.sleep(0) or sched_yield between looks lost or gained little (1.02, 0.96).  0 turns it off.
WAIT_SPIN_SECONDS = 0.002
WAIT_SPIN_PAUSES = 200


class _Job:
    """One ``run_blocks`` call: every thread that takes it works through the blocks not yet taken, one at a time
    (itertools' counters are atomic under the GIL); the thread that finishes the last block releases ``done``.
    After an error the remaining blocks are skipped, and the first error is raised in the caller."""

    __slots__ = ("fn", "blocks", "_take", "_finish", "_done", "complete", "error")

    def __init__(self, fn, blocks: list) -> None:
        self.fn, self.blocks = fn, blocks
        self._take = itertools.count().__next__
        self._finish = itertools.count(1).__next__
        self._done = threading.Lock()
        self._done.acquire()
        self.complete = False  # set (then ``_done`` released) by the thread that finishes the last block
        self.error: BaseException | None = None

    def __call__(self) -> None:
        blocks, total = self.blocks, len(self.blocks)
        while (i := self._take()) < total:
            if self.error is None:
                try:
                    self.fn(blocks[i])
                except BaseException as exc:  # raised in the caller (``wait``), after every block is done
                    self.error = self.error or exc
            if self._finish() == total:
                self.complete = True
                self._done.release()

    def wait(self) -> None:
        """Until every block is done (or skipped), then the first error.  Interrupted (Ctrl-C) while waiting, it
        skips the blocks not yet taken and still waits for the taken ones: none may write into buffers the next
        pass reuses.  It polls first (``WAIT_SPIN_SECONDS``), then sleeps on the lock."""
        try:
            self._until_complete()
        except BaseException as exc:
            self.error = self.error or exc
            while not self.complete:
                try:
                    self._done.acquire(timeout=0.01)
                except BaseException:
                    continue
        if self.error is not None:
            raise self.error

    def _until_complete(self) -> None:
        pause = narrow.pause() if WAIT_SPIN_SECONDS > 0 else None
        if pause is not None:
            stop = time.perf_counter() + WAIT_SPIN_SECONDS
            while not self.complete and time.perf_counter() < stop:
                pause(WAIT_SPIN_PAUSES)
        if not self.complete:
            self._done.acquire()


class _Crew:
    """Helper threads for ``run_blocks``, each waiting on its own queue for jobs.  Cheaper than a
    ThreadPoolExecutor (a no-op call of two blocks: about 40 us best, 80-100 us typical, there), whose caller only
    waits: here one queue put wakes each helper, and the caller starts on the blocks at once."""

    def __init__(self, helpers: int) -> None:
        import queue

        self.queues: list[Any] = []
        for i in range(helpers):
            jobs: Any = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(jobs,), name=f"{_POOL_PREFIX}-{i}", daemon=True).start()
            self.queues.append(jobs)

    @staticmethod
    def _serve(jobs: Any) -> None:
        _inside.busy = True
        while True:
            jobs.get()()

    def hand(self, job: _Job, helpers: int) -> None:
        for jobs in self.queues[:helpers]:
            jobs.put(job)


def _forget_crew() -> None:
    """A forked child has none of its parent's threads: it starts its own crew when it needs one."""
    _threads.pop("crew", None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_crew)


# ----------------------------------------------------------------------------
# BLAS threads: while other processes keep the cores busy, a forward pass runs every BLAS product in the calling
# thread and the engine spreads the blocks of a layer over its own pool instead.  OpenBLAS's threads synchronise on
# every call by spinning; with another process on a core, each call waits for a descheduled thread (measured at
# load 3 on 2 cores: MobileNetV2 708 ms with OpenBLAS's two threads, 242 ms with one).  The engine's pool threads
# block instead of spinning, and each of its blocks is one product, an im2col copy and an epilogue, all GIL-free.
# Since the compiled and narrow kernels took the small products, pinned is faster on a quiet machine too (in one
# process, pinned against OpenBLAS's threads, batch 8: CIFAR-10 0.73, Inception v3 0.82, SqueezeNet 1.1 0.82,
# MNIST deep 0.89, ResNet-18 0.94, VGG16 0.96; OpenBLAS's threads ahead on LeNet-5 0.92 and ResNeXt-50 0.97), so
# every pass pins by default.  (Before those kernels, over 11 nets: geometric mean 1.43 pinned, 1.37 with
# OpenBLAS's threads; the default was then "auto".)

_blas: dict[str, Any] = {"pinned": False}
#: "pin" (the default): BLAS pinned to one thread for every pass; "auto": only while other processes keep the cores
#: busy (``busy_elsewhere``), else BLAS's threads; "threads": never (``benchmarks/bench_engine.py --blas``).
BLAS_MODE = "pin"
#: Seconds between two looks at the CPU time of the other processes (``busy_elsewhere``).
BUSY_SAMPLE_SECONDS = 0.5
#: Cores' worth of CPU time other processes must take for the machine to count as busy.
BUSY_CORES = 0.5


def cpu_ticks() -> tuple[int, int, int] | None:
    """(busy ticks of all CPUs, all ticks, this process's ticks) from /proc, or None where there is none."""
    try:
        with open("/proc/stat", "rb") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        with open("/proc/self/stat", "rb") as f:
            own = f.read().rsplit(b")", 1)[1].split()
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks), int(own[11]) + int(own[12])  # own: utime + stime
    except (OSError, ValueError, IndexError):
        return None


def busy_elsewhere() -> bool:
    """True when other processes (or the hypervisor: steal time) kept at least ``BUSY_CORES`` busy since the last
    look, from /proc/stat less this process's own CPU time (/proc/self/stat).  Looks at most every
    ``BUSY_SAMPLE_SECONDS``; the first look in a process falls back on the load average.  False where there is no
    /proc (then BLAS keeps its own threads)."""
    import os
    import time

    now = time.monotonic()
    last = _blas.get("sample")
    if last is not None and now - last[0] < BUSY_SAMPLE_SECONDS:
        return bool(_blas.get("busy", False))
    ticks = cpu_ticks()
    if ticks is None:
        return False
    busy, total, mine = ticks
    cores = os.cpu_count() or 1
    if last is None:
        _blas["busy"] = os.getloadavg()[0] >= cores * 0.75
    elif total > last[3]:
        others = (busy - last[1]) - (mine - last[2])
        _blas["busy"] = others * cores >= BUSY_CORES * (total - last[3])
    _blas["sample"] = (now, busy, mine, total)
    return bool(_blas["busy"])


def _blas_controller() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, or None (not installed, or no BLAS it knows)."""
    if "controller" not in _blas:
        try:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

            controller = ThreadpoolController().select(user_api="blas")
            _blas["controller"] = controller if controller.lib_controllers else None
        except Exception:  # threadpoolctl missing or unable to inspect this process: OpenBLAS keeps its threads
            _blas["controller"] = None
    return _blas["controller"]


class _Pinning:
    """Pins BLAS to one thread per call (``_pin``) and restores its own thread count on exit: each library's
    setter directly (2 us a pass, against 10 us through threadpoolctl's ``limit``, which inspects them again)."""

    _limit: Any = None

    def _pin(self) -> None:
        libs = _blas_controller().lib_controllers
        self._limit = [(lib, lib.get_num_threads()) for lib in libs]
        for lib in libs:
            lib.set_num_threads(1)
        _blas["pinned"] = True

    def __exit__(self, *exc: object) -> None:
        if self._limit is not None:
            _blas["pinned"] = False
            for lib, threads in self._limit:
                lib.set_num_threads(threads)


class one_blas_thread(_Pinning):
    """Context for a pass: BLAS pinned to one thread per call and the engine's blocks spread over ``workers()``
    threads, when ``BLAS_MODE`` says so (by default always; "auto": while other processes keep the cores busy).

    Re-entrant; restores BLAS's own thread count on exit.  When not pinned (``BLAS_MODE``, one core, or no
    threadpoolctl) the kernels run their blocks one after another, each product threaded by BLAS.
    """

    def __enter__(self) -> "one_blas_thread":
        self._limit = None
        pin = BLAS_MODE == "pin" or (BLAS_MODE == "auto" and busy_elsewhere())
        if pin and _blas_controller() is not None and not _blas["pinned"] and workers() > 1:
            self._pin()
        return self


#: OpenBLAS's idle threads count as sleeping soon after a product when OPENBLAS_THREAD_TIMEOUT is at most this
#: (2^20 cycles, about 0.3 ms) in the environment numpy loaded it from (``archcalc`` sets 20 when imported first).
SHORT_BLAS_SPIN = 20


def blas_spin_short() -> bool:
    """Whether OpenBLAS's idle threads stop spinning within about 2^SHORT_BLAS_SPIN cycles of a product (see
    ``archcalc._blas_env``): only then do the engine's own threads get the other core right after a threaded
    product."""
    short = _blas.get("short_spin")
    if short is None:
        try:
            value = int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", ""))
        except ValueError:
            value = 28  # unset or not a number: OpenBLAS's default
        short = _blas["short_spin"] = _blas_env.APPLIES and value <= SHORT_BLAS_SPIN
    return bool(short)


def _may_pin_layer() -> bool:
    """Whether ``pinned_layer`` can pin BLAS for a layer now: OpenBLAS's idle threads sleep soon, ``BLAS_MODE``
    allows it, there are two cores or more and threadpoolctl controls the BLAS."""
    return BLAS_MODE != "threads" and workers() > 1 and blas_spin_short() and _blas_controller() is not None


def winograd_spreads(dtype: np.dtype) -> bool:
    """Whether a Winograd conv in ``dtype`` would take the compiled transforms with its chunks spread over the
    pool now (float32, the compiled kernels loaded, and BLAS pinned or pinnable for the layer)."""
    return (np.dtype(dtype) == np.float32 and compiled.available(dtype)
            and (bool(_blas["pinned"]) or _may_pin_layer()))


class pinned_layer(_Pinning):
    """Context for one layer whose blocks each make their own BLAS calls (the compiled Winograd chunks): BLAS
    pinned to one thread for the layer, so that the blocks can be spread over the pool; ``as`` gives whether to
    spread them.  True when the pass is pinned already (``one_blas_thread``); otherwise only when OpenBLAS's idle
    threads sleep soon (``blas_spin_short``: spinning, they hold the other core for up to 0.1 s after the last
    threaded product, and the pool's thread then waits for it) and ``BLAS_MODE`` is not "threads".  Entering and
    leaving costs about 13 us."""

    def __enter__(self) -> bool:
        self._limit = None
        if _blas["pinned"]:
            return True
        if not _may_pin_layer():
            return False
        self._pin()
        return True


def blas_pinned() -> bool:
    """True inside ``one_blas_thread`` when BLAS really runs one thread per call."""
    return bool(_blas["pinned"])


def run_blas_blocks(fn, blocks: list, macs: int) -> None:
    """Blocks whose work is a BLAS product (``macs`` multiply-adds in all): over the pool when BLAS is pinned to one
    thread and there is enough work, else one after another (two of our threads each calling a threaded BLAS would
    put four busy threads on two cores)."""
    if blas_pinned() and macs >= SPLIT_MIN_MACS and len(blocks) > 1:
        run_blocks(fn, blocks, PARALLEL_MIN_OUT_BYTES)
    else:
        for block in blocks:
            fn(block)


def parts(total: int, limit: int, macs: int) -> int:
    """Block length for ``total`` units: at most ``limit``, and at most total / workers() when BLAS is pinned and
    the product (``macs`` multiply-adds) is big enough to spread, so that every thread gets a block."""
    if blas_pinned() and macs >= SPLIT_MIN_MACS:
        limit = min(limit, -(-total // workers()))
    return max(1, limit)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for 2-D b, with a's rows (or, for fewer rows than workers, b's columns) split
    over the pool when BLAS is pinned to one thread and the product is large."""
    if out is None:
        out = np.empty((*a.shape[:-1], b.shape[-1]), np.result_type(a, b))
    rows, inner, cols = math.prod(a.shape[:-1]), a.shape[-1], b.shape[-1]
    n = workers()
    if not blas_pinned() or b.ndim != 2 or rows * inner * cols < SPLIT_MIN_MACS or in_blocks():
        return np.matmul(a, b, out=out)
    a2, out2 = a.reshape(rows, inner), out.reshape(rows, cols)
    if rows >= 8 * n:
        step = -(-rows // n)
        blocks = [(slice(r, r + step), slice(None)) for r in range(0, rows, step)]
    else:
        step = -(-cols // n)
        blocks = [(slice(None), slice(c, c + step)) for c in range(0, cols, step)]
    run_blocks(lambda rc: np.matmul(a2[rc[0]], b[:, rc[1]], out=out2[rc]), blocks, PARALLEL_MIN_OUT_BYTES)
    return out


#: Products of at least this many multiply-adds are split over the pool by ``matmul`` when BLAS is pinned.
SPLIT_MIN_MACS = 2**23


#: A dense layer of at most this many rows (samples) with this many weights or between runs through ``narrow``'s
#: kernels in the fused plan (``dense_narrow``): OpenBLAS packs the whole weight matrix on every call, and with a
#: few rows that packing is most of the product.  Whole nets, batch 8, in one process: CIFAR-10 0.87, MNIST deep
#: 0.84, MobileNetV3-Small 0.96, AlexNet (its last layer) 0.99; LeNet-5's dense layers (at most 48,000 weights)
#: were 1.04 with them, so they keep BLAS.
DENSE_NARROW_MAX_ROWS = 64
DENSE_NARROW_MIN_WEIGHTS = 2**16
DENSE_NARROW_MAX_WEIGHTS = 2**22


def dense_narrow_runs(rows: int, inner: int, columns: int, dtype: Any) -> bool:
    """Whether ``dense_narrow`` takes a float32 dense layer of these sizes on this machine."""
    return (rows <= DENSE_NARROW_MAX_ROWS and DENSE_NARROW_MIN_WEIGHTS <= inner * columns <= DENSE_NARROW_MAX_WEIGHTS
            and np.dtype(dtype) == np.float32 and _narrow_available())


def dense_parts(columns: int) -> list[tuple[int, int]]:
    """The column ranges ``dense_narrow`` shares among the threads: ``workers()`` parts, or parts of at most
    ``narrow.CHUNK_COLUMNS`` (one register pass each), every part but the last a multiple of 16 wide."""
    width = min(narrow.CHUNK_COLUMNS, -(-(-(-columns // max(1, workers()))) // 16) * 16)
    return [(lo, min(columns, lo + width)) for lo in range(0, columns, width)]


def dense_packed_bytes(inner: int, columns: int) -> int:
    """Bytes of the weights and bias ``dense_narrow`` keeps packed for a layer (zero-padded parts)."""
    return sum((inner + 1) * -(-(hi - lo) // 16) * 16 * 4 for lo, hi in dense_parts(columns))


def dense_narrow(a: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
                 prepared: dict) -> bool:
    """out = a @ w + bias by ``narrow``'s kernels, each part of the columns (``dense_parts``) one compiled call,
    the parts shared among the threads, the weights packed once per part into ``prepared`` (the plan's step);
    False (nothing done) where they do not run (``dense_narrow_runs``: few rows, a mid-sized float32 weight
    matrix, the narrow kernels here).  Alone, batch 8, against
    OpenBLAS: 8192 -> 128 187 -> 134 us, 1024 -> 1000 159 -> 113, 2048 -> 625 204 -> 161."""
    rows, inner = a.shape
    columns = w.shape[1]
    if (w.shape[0] != inner or out.shape != (rows, columns) or a.dtype != np.float32 or w.dtype != np.float32
            or out.dtype != np.float32 or not a.flags.c_contiguous or not out.flags.c_contiguous
            or (bias is not None and (bias.dtype != np.float32 or bias.shape != (columns,)))
            or not dense_narrow_runs(rows, inner, columns, a.dtype)):
        return False

    def pack() -> list:
        return [(lo, hi, narrow.pack(np.ascontiguousarray(w[:, lo:hi]), hi - lo, inner),
                 narrow.pack(None if bias is None else np.ascontiguousarray(bias[lo:hi]), hi - lo),
                 narrow.kernels(hi - lo, False, False)) for lo, hi in dense_parts(columns)]

    parts = _prepared(prepared, ("dense", w.shape, bias is None), pack)

    def multiply(part: tuple) -> None:
        lo, hi, wp, bp, kernels = part
        compiled.narrow_rows(a, wp, bp, out[:, lo:hi], kernels, 0, rows)

    run_blocks(multiply, parts, w.nbytes)
    return True


def _settle(x, w, stride: Ints, pads: Pads, dilation: Ints | None, out_spatial: Ints | None):
    """Float arrays of one dtype, the dilation per axis, and the output size (floor rounding unless given)."""
    x = _as_float(x)
    w = _as_float(w, x.dtype)
    rank = x.ndim - 2
    dilation = dilation or _ones(rank)
    if out_spatial is None:
        out_spatial = floor_out_spatial(x.shape[1:-1], w.shape[:rank], stride, pads, dilation)
    return x, w, dilation, out_spatial


def conv_depthwise(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Ints, pads: Pads,
                   dilation: Ints | None = None, out_spatial: Ints | None = None,
                   out: np.ndarray | None = None, epilogue=None) -> np.ndarray:
    """z[n, i, c*M + m] = b[c*M + m] + sum_u x[n, i*s + u*d - p_before, c] * w[u, 0, c*M + m].

    A convolution with groups == C_in (``w`` is (*kernel, 1, C_in * M), M the depth
    multiplier).  One ``np.einsum`` per block of output rows multiplies each tap's
    shifted view of the padded input by the tap's weights and accumulates in one
    pass (numpy has no fused multiply-add ufunc: a multiply and an add per tap
    stream the block twice, and measured 3-6x slower).  When the last spatial axis
    has stride 1, the last spatial axis and the channels are one contiguous run per
    tap (weights tiled along it), so the inner loop is O_last * C long instead of C.
    Other strides use the plain window view (splitting the input into stride phases
    to merge them too measured slower: the extra copy costs more than it saves).
    ``epilogue`` as in ``conv``.
    """
    x, w, dilation, out_spatial = _settle(x, w, stride, pads, dilation, out_spatial)
    c_in, filters = x.shape[-1], w.shape[-1]
    if w.shape[-2] != 1 or filters % c_in:
        raise ValueError(f"conv_depthwise: input channels {c_in} and kernel shape {w.shape} do not fit: "
                         "need kernel[-2] == 1 and filters a multiple of C_in")
    finish = _finisher(None if b is None else _as_float(b, x.dtype), epilogue)
    return _conv_depthwise(x, w, stride, pads, dilation, out_spatial, out, finish)


def _conv_depthwise(x, w, stride, pads, dilation, out_spatial, out=None, finish=None) -> np.ndarray:
    rank = x.ndim - 2
    kernel = w.shape[:rank]
    c_in, filters = x.shape[-1], w.shape[-1]
    if filters != c_in:  # depth multiplier M: filter k reads channel k // M
        x = np.repeat(x, filters // c_in, axis=-1)
    n_batch, dt = x.shape[0], x.dtype
    if out is not None and not out.flags.c_contiguous:  # a channel slice: the merged form needs whole rows
        whole = _conv_depthwise(x, w, stride, pads, dilation, out_spatial, None, finish)
        np.copyto(_output(out, whole.shape, dt, rows=True), whole)
        return out
    out = _output(out, (n_batch, *out_spatial, filters), dt)
    if rank <= 2 and compiled.available(dt) and (finish is None or finish.bias is None or finish.bias.ndim == 1):
        return _depthwise_compiled(x, w.reshape(*kernel, filters), stride, pads, dilation, out, finish)
    xp = _pad(x, pads, out_spatial, kernel, stride, dilation, 0.0)
    s_last = stride[-1]
    merged = s_last == 1 or (s_last <= DEPTHWISE_MERGED_MAX_STRIDE and filters <= DEPTHWISE_MERGED_MAX_CHANNELS)
    view, wt, target = _depthwise_operands(xp, w.reshape(*kernel, filters), out, out_spatial, stride, dilation, merged)
    n_lead, n_taps = target.ndim - 1, wt.ndim - 1
    letters = "abcdefghijklmnopqrstuvwxy"
    lead, taps = letters[:n_lead], letters[n_lead:n_lead + n_taps]
    formula = f"{lead}{taps}z,{taps}z->{lead}z"
    row_bytes = math.prod(target.shape[2:]) * dt.itemsize
    step = max(1, DEPTHWISE_BLOCK_BYTES // max(1, row_bytes)) if n_lead > 1 else 1
    rows = target.shape[1] if n_lead > 1 else 1
    every = merged and s_last > 1  # computed at every column: keep each s-th
    for n in range(n_batch):
        for r0 in range(0, rows, step):
            index = (slice(n, n + 1), slice(r0, r0 + step)) if n_lead > 1 else (slice(n, n + 1),)
            if every:
                block = _workspace("dw", target[index].shape, dt)
                np.einsum(formula, view[index], wt, out=block)
                np.copyto(out[index], block.reshape(*block.shape[:-1], -1, filters)[..., ::s_last, :])
            else:
                np.einsum(formula, view[index], wt, out=target[index])
            if finish is not None:
                finish(out[index])
    return out


def _depthwise_compiled(x, w, stride, pads, dilation, out, finish) -> np.ndarray:
    """float32 depthwise through the compiled kernel (``compiled.depthwise_rows``), blocks of output rows spread
    over the pool.  The kernel adds the bias and applies the epilogue's activation when the epilogue is just one
    it knows (its ``fused`` form without a residual), each row while in cache; any other epilogue runs on each block after.  1-D maps
    run as 2-D maps one row high; the input is read unpadded.

    Where the narrow kernels run (``DEPTHWISE_NARROW``), every such conv goes to ``compiled.depthwise_narrow``:
    zero-padded input rows in a ring and an LLVM kernel per output row holding four cells' sums in registers over all
    the taps (``narrow.depthwise``).  One thread, batch 8, against the numba ring: 7x7x576 5x5 379 -> 251 us,
    14x14x240 5x5 549 -> 421 us.  Whole nets in one process: MobileNetV3-Small 0.93-0.94 of the time, MobileNetV2
    0.92-0.99, EfficientNet-B0 0.96-0.98, ShuffleNet V2 even."""
    result = out
    _check_windows(x.shape[1:-1], pads, stride, out.shape[1:-1])
    if x.ndim == 3:
        w = w[None]
    x, out, (stride, pads, dilation) = _one_row(x, out, stride, pads, dilation)
    if not x.flags.c_contiguous:  # a channel slice (a split branch): one copy into the padding's workspace
        whole = _workspace("pad", x.shape, x.dtype)
        np.copyto(whole, x)
        x = whole
    w = np.ascontiguousarray(w, dtype=x.dtype)
    bias, act, rest = _in_kernel(finish, x.dtype)
    bias = np.zeros(out.shape[-1], x.dtype) if bias is None else bias
    geometry = (stride, (pads[0][0], pads[1][0]), dilation)

    ring = stride[1] == 1 and w.shape[1] in (3, 5, 7)  # each output cell's taps of a kernel row at once
    by_narrow = DEPTHWISE_NARROW and _narrow_available()
    kernels = narrow.depthwise(w.shape[0], w.shape[1], act == compiled.code("relu")) if by_narrow else None

    def compute(block: tuple[int, int]) -> None:
        if kernels is not None:
            compiled.depthwise_narrow(x, w, bias, out, block, *geometry, act, kernels)
        elif ring:
            compiled.depthwise_ring_rows(x, w, bias, out, block, stride[0], *geometry[1:], act)
        else:
            compiled.depthwise_rows(x, w, bias, out, block, *geometry, act)

    _depthwise_blocks(out, out.nbytes * w.shape[0] * w.shape[1], compute, rest)
    return result


def _depthwise_blocks(out: np.ndarray, work: int, compute: Callable[[tuple[int, int]], None], rest) -> None:
    """compute(block) for blocks of about ``DEPTHWISE_BLOCK_BYTES`` of output rows (j0, j1) of ``out`` (N, O_h, O_w,
    F), each then finished by ``rest`` (or None) while in cache, spread over the pool by ``work``: output bytes x
    multiply-adds a value, not output bytes, since a 5x5's output of under 1 MB is still 25 passes over it (alone,
    batch 8: 14x14x120 5x5 348 -> 246 us, 7x7x576 5x5 312 -> 197, 56x56x16 3x3/2 99 -> 81; whole nets in one
    process: MobileNetV3-Small 0.97, ShuffleNet V2 0.98, MobileNetV2 0.99).  The depthwise and grouped ring
    kernels' blocks."""
    o_h, o_w, filters = out.shape[1:]
    total = out.shape[0] * o_h
    step = max(1, DEPTHWISE_BLOCK_BYTES // max(1, o_w * filters * out.itemsize))
    rows = out.reshape(total, o_w, filters)

    def run(block: tuple[int, int]) -> None:
        compute(block)
        if rest is not None:
            rest(rows[block[0]:block[1]])

    run_blocks(run, [(j, min(j + step, total)) for j in range(0, total, step)], work)


#: False keeps the compiled depthwise kernels' numba loops where the narrow kernels could take them
#: (``narrow.depthwise``).
DEPTHWISE_NARROW = True


#: A depthwise conv with a stride of at most this on its last spatial axis, and at most this many channels, is
#: computed at every position of that axis (the contiguous merged form) and every s-th column kept: s times the
#: work, but inner loops as long as a row instead of C long.  Measured on the zoo's stride-2 layers, batch 8:
#: 16 channels 2.98 ms merged against 6.96 plain (MobileNetV3's first), 24: 0.93 vs 1.78, 58-72 even, 96 and
#: more: the plain form wins (MobileNetV2's 112x112x96: 19.3 vs 17.5 ms).
DEPTHWISE_MERGED_MAX_STRIDE = 2
DEPTHWISE_MERGED_MAX_CHANNELS = 48


def _depthwise_operands(xp: np.ndarray, w: np.ndarray, out: np.ndarray, out_spatial: Ints, stride: Ints,
                        dilation: Ints, merged: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input view, weights, output view) for ``einsum('<lead><taps>z,<taps>z-><lead>z')``.

    ``w`` is (*kernel, F) and ``xp`` the padded input with F channels.  Merged form: z runs over
    W * F contiguous cells, lead is (N, *O[:-1]), W the positions of the last axis computed: O_last
    for stride 1, else (O_last - 1) * s + 1 (every position; the caller keeps each s-th, and the
    returned output view is then only its shape).  Plain form: z is the channels, lead is (N, *O),
    taps is the kernel.
    """
    kernel, filters = w.shape[:-1], w.shape[-1]
    o_last, s_last, d_last, k_last = out_spatial[-1], stride[-1], dilation[-1], kernel[-1]
    sn, *ss, sc = xp.strides
    lead_shape = (xp.shape[0], *out_spatial[:-1])
    lead_strides = (sn, *(s * st for s, st in zip(stride[:-1], ss[:-1])))
    tap_shape, tap_strides = tuple(kernel[:-1]), tuple(d * st for d, st in zip(dilation[:-1], ss[:-1]))
    if merged:
        width = (o_last - 1) * s_last + 1
        view = as_strided(xp, (*lead_shape, *tap_shape, k_last, width * filters),
                          (*lead_strides, *tap_strides, d_last * ss[-1], sc), writeable=False)
        wt = np.broadcast_to(w[..., None, :], (*kernel, width, filters)).reshape(*kernel, -1)
        target = (out.reshape(*lead_shape, o_last * filters) if s_last == 1
                  else np.broadcast_to(np.empty((), out.dtype), (*lead_shape, width * filters)))
        return view, np.ascontiguousarray(wt), target
    view = _windows(xp, out_spatial, kernel, stride, dilation)  # N, *O, *k, F
    return view, np.ascontiguousarray(w), out


def conv_grouped(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Ints, pads: Pads,
                 dilation: Ints | None = None, groups: int = 1, out_spatial: Ints | None = None,
                 out: np.ndarray | None = None, epilogue=None) -> np.ndarray:
    """A convolution with 1 < groups: z[n, i, g*F_g + f] = b + sum_{u, c} x_pad[n, i*s + u*d, g*C_g + c] * w[u, c, g*F_g + f].

    The unfolded input of a block of rows is laid out (rows, groups, taps * C_g), so
    that each group's rows form a strided matrix BLAS reads as is, and one batched
    matrix product (groups, rows, taps * C_g) @ (groups, taps * C_g, F_g) writes
    straight into the output, seen as (groups, rows, F_g) with row stride F: no
    per-group loop in Python and no copy of the result.  Depthwise settings
    (C_g == 1) go to ``conv_depthwise``.  ``epilogue`` as in ``conv``.
    """
    x, w, dilation, out_spatial = _settle(x, w, stride, pads, dilation, out_spatial)
    c_in, filters, c_g = x.shape[-1], w.shape[-1], w.shape[-2]
    if c_in != c_g * groups or filters % groups:
        raise ValueError(f"conv_grouped: input channels {c_in}, kernel shape {w.shape}, groups {groups} "
                         "do not fit: need C_in == kernel[-2] * groups and filters % groups == 0")
    finish = _finisher(None if b is None else _as_float(b, x.dtype), epilogue)
    return _conv_groups(x, w, stride, pads, dilation, groups, out_spatial, out, finish)


#: Grouped 2-D convs of at most this many input channels a group run compiled in float32 (``_grouped_compiled``).
GROUPED_COMPILED_MAX_C_G = 8


def _grouped_compiled(x, w, stride, pads, dilation, groups, out_spatial, out, finish, prepared=None) -> np.ndarray:
    """float32 grouped conv through ``compiled.grouped_rows``: blocks of output rows over the pool, each finished
    (bias, epilogue) while in cache.  The products per group are C_g taps wide and F_g long, too small for BLAS;
    the kernel runs over all groups at once instead, the innermost loop along the groups."""
    n_batch, filters = x.shape[0], w.shape[-1]
    k_h, k_w, c_g = w.shape[0], w.shape[1], w.shape[2]
    out = _output(out, (n_batch, *out_spatial, filters), x.dtype)
    _check_windows(x.shape[1:-1], pads, stride, tuple(out_spatial))
    x = np.ascontiguousarray(x)
    wg = _prepared(prepared, ("grouped", x.dtype.str), lambda: np.ascontiguousarray(
        w.reshape(k_h, k_w, c_g, groups, filters // groups).transpose(0, 1, 2, 4, 3), dtype=x.dtype))
    total = n_batch * out_spatial[0]
    rows = out.reshape(total, -1, filters)
    step = max(1, -(-total // (GROUPED_BLOCKS_PER_THREAD * workers())))
    geometry = (tuple(stride), (pads[0][0], pads[1][0]), tuple(dilation))

    def run(block: tuple[int, int]) -> None:
        compiled.grouped_rows(x, wg, out, block, *geometry)
        if finish is not None:
            finish(rows[block[0]:block[1]])

    run_blocks(run, [(j, min(j + step, total)) for j in range(0, total, step)], out.nbytes)
    return out


#: Grouped 2-D convs of at least this many input channels a group take the narrow kernels (``_grouped_narrow``)
#: where they run.
GROUPED_NARROW_MIN_C_G = 9


def _grouped_narrow(x, w, stride, pads, dilation, groups, out_spatial, out, finish,
                    prepared: dict | None) -> np.ndarray | None:
    """A float32 grouped 2-D conv by ``narrow``'s kernels, or None (nothing done) where they do not take it (more
    than ``narrow.MAX_COLUMNS`` filters a group, a residual add or an opaque epilogue, no compiled kernels): each
    thread's share of the output rows in one compiled call (``compiled.grouped_narrow``), a step of rows at a time,
    each group's im2col columns gathered from the unpadded input and multiplied into its channels, the bias and
    activation applied there.  Where BLAS took one product per group (taps * C_g columns, F_g wide), too narrow
    for it: ResNeXt-50's 14x14 3x3 of 16 channels a group."""
    k_h, k_w, c_g, filters = w.shape
    f_g, inner = filters // groups, k_h * k_w * c_g
    if (x.dtype != np.float32 or f_g > narrow.MAX_COLUMNS or not _narrow_available()
            or (out is not None and out.dtype != np.float32)):
        return None
    bias, act, rest = _in_kernel(finish, x.dtype)
    if rest is not None or (bias is not None and bias.shape != (filters,)):
        return None
    n_batch = x.shape[0]
    out = _output(out, (n_batch, *out_spatial, filters), x.dtype, rows=True)
    target = _rows_of(out)
    if target.strides[1] != target.itemsize or target.strides[0] < 0 or not target.flags.writeable:
        return None
    _check_windows(x.shape[1:-1], pads, stride, tuple(out_spatial))
    x = np.ascontiguousarray(x)
    packed = _prepared(prepared, ("grouped-narrow", x.dtype.str), lambda: np.stack([
        narrow.pack(np.ascontiguousarray(w[..., g * f_g:(g + 1) * f_g]).reshape(inner, f_g), f_g, inner)
        for g in range(groups)]))
    chunks, width = narrow.layout(f_g)
    biases = np.zeros((groups, chunks, width), np.float32)
    if bias is not None:
        for c in range(chunks):  # chunk c of every group's bias at once
            lo, hi = c * width, min(f_g, (c + 1) * width)
            biases[:, c, :hi - lo] = bias.reshape(groups, f_g)[:, lo:hi]
    relu = act == compiled.code("relu")
    kernels = narrow.kernels(f_g, relu, False)
    o_h, o_w = out_spatial
    total = n_batch * o_h
    step = max(1, NARROW_BLOCK_BYTES // (o_w * inner * x.itemsize))
    macs = total * o_w * inner * filters
    threads = workers() if macs >= NARROW_SPREAD_MIN_MACS else 1
    share = -(-total // threads)
    geometry = ((o_h, o_w), (k_h, k_w), tuple(stride), (pads[0][0], pads[1][0]), tuple(dilation))

    def run(j0: int) -> None:
        j1 = min(j0 + share, total)
        cols = _workspace("cols", (min(step, j1 - j0) * o_w, inner), x.dtype)
        compiled.grouped_narrow(x, cols, (j0, j1), step, *geometry, groups, kernels, packed, biases, target,
                                0 if relu else act)

    run_blocks(run, list(range(0, total, share)), PARALLEL_MIN_OUT_BYTES)
    return out


#: Channels a group (in and out alike) of the grouped convs ``_grouped_ring`` takes.
GROUPED_RING_C_G = (2, 4, 8)


def _grouped_ring(x, w, stride, pads, dilation, out_spatial, out, finish) -> np.ndarray | None:
    """A float32 grouped 2-D conv of 2, 4 or 8 channels a group, in and out, by ``narrow.grouped``'s kernels, or None
    (nothing done) where they do not run: the depthwise kernels' ring of zero-padded input rows
    (``compiled.depthwise_narrow``), each output cell's sums in registers over the taps and the group's channels.
    ``compiled.grouped_rows`` loads and stores its sums once per multiply-add.  Alone, batch 8, ResNeXt-50's 56x56
    3x3 of 4 channels a group 7.7 -> 2.3 ms, 28x28 of 8 5.4 -> 1.9, 56x56 of 8 at stride 2 7.0 -> 2.7 (2 cells at once
    instead of 4: 2.6, 2.3, 3.7; 8 cells: 1.9, 3.0, 4.0)."""
    if not (GROUPED_RING and x.dtype == np.float32 and _narrow_available()
            and (out is None or (out.dtype == np.float32 and out.flags.c_contiguous))):
        return None
    bias, act, rest = _in_kernel(finish, x.dtype)
    if bias is not None and bias.shape != (w.shape[-1],):
        return None
    _check_windows(x.shape[1:-1], pads, stride, tuple(out_spatial))
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    filters = w.shape[-1]
    out = _output(out, (x.shape[0], *out_spatial, filters), x.dtype)
    bias = np.zeros(filters, x.dtype) if bias is None else bias
    kernels = narrow.grouped(w.shape[0], w.shape[1], w.shape[2], act == compiled.code("relu"))
    geometry = (tuple(stride), (pads[0][0], pads[1][0]), tuple(dilation))
    _depthwise_blocks(out, out.nbytes * math.prod(w.shape[:3]),
                      lambda block: compiled.depthwise_narrow(x, w, bias, out, block, *geometry, act, kernels), rest)
    return out


#: False keeps the grouped convs of 2-8 channels a group on ``compiled.grouped_rows`` (``_grouped_ring``).
GROUPED_RING = True


#: Blocks of output rows per thread of a compiled grouped conv (each block refills its ring of input rows).
GROUPED_BLOCKS_PER_THREAD = 4


def _conv_groups(x, w, stride, pads, dilation, groups, out_spatial, out=None, finish=None,
                 prepared: dict | None = None) -> np.ndarray:
    rank = x.ndim - 2
    kernel, c_g = w.shape[:rank], w.shape[-2]
    if c_g == 1 and groups == x.shape[-1]:
        return _conv_depthwise(x, w, stride, pads, dilation, out_spatial, out, finish)
    if rank == 2 and c_g >= GROUPED_NARROW_MIN_C_G:
        done = _grouped_narrow(x, w, stride, pads, dilation, groups, out_spatial, out, finish, prepared)
        if done is not None:
            return done
    if rank == 2 and c_g in GROUPED_RING_C_G and w.shape[-1] == x.shape[-1]:
        done = _grouped_ring(x, w, stride, pads, dilation, out_spatial, out, finish)
        if done is not None:
            return done
    if (rank == 2 and 1 < c_g <= GROUPED_COMPILED_MAX_C_G and x.dtype == np.float32 and compiled.available(x.dtype)
            and (out is None or out.flags.c_contiguous)
            and (finish is None or finish.bias is None or finish.bias.ndim == 1)):
        return _grouped_compiled(x, w, stride, pads, dilation, groups, out_spatial, out, finish, prepared)
    n_batch, dt = x.shape[0], x.dtype
    f_g, taps = w.shape[-1] // groups, math.prod(kernel)
    width = taps * c_g
    out = _output(out, (n_batch, *out_spatial, w.shape[-1]), dt, rows=True)
    wg = np.ascontiguousarray(
        w.reshape(taps, c_g, groups, f_g).transpose(2, 0, 1, 3).reshape(groups, width, f_g))
    xp = _pad(x, pads, out_spatial, kernel, stride, dilation, 0.0)
    # The gather moves each group's C_g channels as one unit of up to 16 bytes (3x faster than
    # float by float for C_g = 4): the input seen through a wider dtype, when its channels allow.
    unit = next(u for u in (np.dtype(np.complex128), np.dtype(np.float64), dt)
                if (c_g * dt.itemsize) % u.itemsize == 0 and u.itemsize >= dt.itemsize)
    if unit != dt and xp.strides[-1] == dt.itemsize and xp.strides[-2] % unit.itemsize == 0:
        xp = xp.view(unit)
    else:
        unit = dt
    c_units = c_g * dt.itemsize // unit.itemsize
    view = _windows(xp, out_spatial, kernel, stride, dilation)  # N, *o, *k, C (in units)
    # rows per product small enough that OpenBLAS stays in the calling thread; threads of our own instead
    max_rows = max(1, BLAS_ONE_THREAD_MNK // (width * f_g))

    def run(where: tuple[slice, slice]) -> None:
        nb, rows = where
        block = view[nb, rows]
        lead = block.shape[:1 + rank]
        block = block.reshape(*lead, taps, groups, c_units)
        buf = _workspace("cols", (*lead, groups, taps, c_units), unit)
        np.copyto(buf, np.swapaxes(block, -2, -3))
        target = out[nb, rows]
        cols = buf.view(dt).reshape(-1, groups, width).swapaxes(0, 1)  # G, rows, taps*C_g (row stride G*width)
        np.matmul(cols, wg, out=_rows_of(target).reshape(-1, groups, f_g).swapaxes(0, 1))
        if finish is not None:
            finish(target)

    run_blocks(run, list(_chunks(n_batch, out_spatial, 1, max_rows)), out.nbytes)
    return out
