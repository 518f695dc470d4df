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

import math
import threading
import numpy as np
from numpy.lib.stride_tricks import as_strided

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
    before, after = [], []
    for ax, (n, f, s, (p0, p1), d, o) in enumerate(
            zip(spatial, kernel, stride, pads, dilation, out_spatial)):
        if o < 1:
            raise ValueError(f"output size must be >= 1 on axis {ax}, got {o}")
        if (o - 1) * s >= p0 + n + p1:
            raise ValueError(
                f"window {o - 1} on axis {ax} starts at {(o - 1) * s}, past the padded "
                f"input of length {p0 + n + p1} (n={n}, pads=({p0}, {p1}), stride={s})")
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


def _output(out: np.ndarray | None, shape: Ints, dtype: np.dtype) -> np.ndarray:
    """A fresh array, or the caller's ``out`` after checking that it fits."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out has shape {out.shape}, dtype {out.dtype}; expected a contiguous "
                         f"{tuple(shape)} {dtype} array")
    return out


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
         algorithm: str = "auto", out: np.ndarray | None = None, epilogue=None) -> np.ndarray:
    """z[n, i, k] = b[k] + sum_{u, k'} x_pad[n, i*s + u*d, g*C_g + k'] * w[u, k', k].

    ``x`` is (N, *spatial, C_in), ``w`` is (*kernel, C_in/groups, filters) (HWIO),
    ``b`` is None, (filters,) or the output's (*out_spatial, filters) for a bias per
    position.  Filter k belongs to group g = k // (filters/groups).  ``algorithm`` is
    "gemm" (im2col + one matrix product per chunk), "winograd" (3x3, stride 1,
    dilation 1, groups 1, 2-D only) or "auto".  ``out``, if given, receives the
    result (a caller reusing activation buffers avoids fresh memory per layer).
    ``epilogue(block)``, if given, is applied in place to each block of output rows
    (after its bias) while the block is still in cache: an activation fused with
    the convolution instead of another pass over the whole output.
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
    if algorithm == "auto":
        algorithm = "winograd" if _winograd_pays(x, w, stride, dilation, groups, out_spatial) else "gemm"
    per_filter = None if b is None else _as_float(b, x.dtype)
    late = None
    if per_filter is not None and per_filter.ndim > 1:  # a bias per position: added to the whole output
        per_filter, late = None, per_filter
    finish = _finisher(per_filter, None if late is not None else epilogue)
    if algorithm == "winograd":
        out = conv_winograd(x, w, pads, out_spatial, out, finish)
    elif algorithm == "gemm":
        out = _conv_gemm(x, w, stride, pads, dilation, groups, out_spatial, out, finish)
    else:
        raise ValueError(f"conv: unknown algorithm {algorithm!r}, expected 'auto', 'gemm' or 'winograd'")
    if late is not None:
        out += late
        if epilogue is not None:
            epilogue(out)
    return out


def _finisher(bias, epilogue):
    """In-place bias add and epilogue for one output block, or None when there is nothing to do."""
    if bias is None and epilogue is None:
        return None

    def finish(block):
        if bias is not None:
            block += bias
        if epilogue is not None:
            epilogue(block)
    return finish


def _conv_gemm(x, w, stride, pads, dilation, groups, out_spatial, out=None, finish=None) -> np.ndarray:
    """im2col through a window view, then (rows, F*C_g) @ (F*C_g, filters) per chunk."""
    rank = x.ndim - 2
    kernel = w.shape[:rank]
    n_batch, filters = x.shape[0], w.shape[-1]
    c_g, f_g = w.shape[-2], filters // groups
    out = _output(out, (n_batch, *out_spatial, filters), x.dtype)

    if (all(k == 1 for k in kernel) and all(s == 1 for s in stride)
            and not any(p for pair in pads for p in pair) and groups == 1
            and tuple(out_spatial) == x.shape[1:-1]):
        c_in = x.shape[-1]
        flat_x, flat_out = x.reshape(-1, c_in), out.reshape(-1, filters)
        step = max(1, IM2COL_CHUNK_BYTES // (4 * max(c_in, filters) * x.itemsize))
        for r0 in range(0, flat_x.shape[0], step):
            block = flat_out[r0:r0 + step]
            np.matmul(flat_x[r0:r0 + step], w.reshape(c_in, filters), out=block)
            if finish is not None:
                finish(block)
        return out

    xp = _pad(x, pads, out_spatial, kernel, stride, dilation, 0.0)
    view = _windows(xp, out_spatial, kernel, stride, dilation)  # N, *o, *k, C
    taps = math.prod(kernel)
    width = taps * c_g

    if groups == 1:
        wm = w.reshape(width, filters)
        for nb, rows in _chunks(n_batch, out_spatial, width * x.itemsize):
            block = view[nb, rows]
            buf = _workspace("cols", block.shape, x.dtype)
            np.copyto(buf, block)
            target = out[nb, rows].reshape(-1, filters)
            np.matmul(buf.reshape(-1, width), wm, out=target)
            if finish is not None:
                finish(target)
        return out

    # groups: one batched product over the group axis, (G, rows, taps*C_g) @ (G, taps*C_g, F_g)
    wg = w.reshape(taps, c_g, groups, f_g).transpose(2, 0, 1, 3).reshape(groups, width, f_g)
    wg = np.ascontiguousarray(wg)
    for nb, rows in _chunks(n_batch, out_spatial, width * x.itemsize * 2):
        block = view[nb, rows]
        lead = block.shape[:1 + rank]
        block = block.reshape(*lead, *kernel, groups, c_g)
        block = np.moveaxis(block, -2, 0)  # G, n, *o, *k, C_g
        buf = np.empty(block.shape, dtype=x.dtype)
        np.copyto(buf, block)
        res = np.matmul(buf.reshape(groups, -1, width), wg)  # G, rows, F_g
        target = out[nb, rows].reshape(-1, groups, f_g)
        np.copyto(target, res.transpose(1, 0, 2))
        if finish is not None:
            finish(out[nb, rows])
    return out


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


# Winograd F(4x4, 3x3): y = A^T [ (G g G^T) * (B^T d B) ] A  (Lavin & Gray, 2015)
_WG_BT = np.array([[4, 0, -5, 0, 1, 0],
                   [0, -4, -4, 1, 1, 0],
                   [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0],
                   [0, 2, -1, -2, 1, 0],
                   [0, 4, 0, -5, 0, 1]], dtype=np.float64)
_WG_G = np.array([[1 / 4, 0, 0],
                  [-1 / 6, -1 / 6, -1 / 6],
                  [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6],
                  [1 / 24, -1 / 12, 1 / 6],
                  [0, 0, 1]], dtype=np.float64)
_WG_AT = np.array([[1, 1, 1, 1, 1, 0],
                   [0, 1, -1, 2, -2, 0],
                   [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]], dtype=np.float64)


def _winograd_pays(x, w, stride, dilation, groups, out_spatial) -> bool:
    """Winograd for 2-D 3x3/1 convs wide enough that the product, not the transforms, dominates.

    Maps under 16x16 stay on GEMM: 13x13 and 14x14 round up to 16x16 of 4x4 tiles (51 % and
    31 % wasted work), and AlexNet's 13x13 conv3 measured 7.4 ms by GEMM against 13 ms.
    """
    return (x.ndim == 4 and w.shape[:2] == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1
            and x.shape[-1] >= 32 and w.shape[-1] >= 32 and min(out_spatial) >= 16)


def conv_winograd(x: np.ndarray, w: np.ndarray, pads: Pads, out_spatial: Ints,
                  out: np.ndarray | None = None, finish=None) -> np.ndarray:
    """3x3 stride-1 2-D convolution by Winograd F(4x4, 3x3), without bias.

    Each 4x4 output tile is Y = A^T [ sum_c (G w_c G^T) * (B^T d_c B) ] A, where d_c
    is the 6x6 input tile (tiles overlap by 2).  Both transforms are applied as
    one product with a Kronecker matrix (kron(B^T, B^T) is 36x36), and the sum
    over channels is 36 matrix products (tiles, C_in) @ (C_in, filters).
    """
    x = _as_float(x)
    w = _as_float(w, x.dtype)
    dt = x.dtype
    n_batch, c_in, filters = x.shape[0], x.shape[-1], w.shape[-1]
    oh, ow = out_spatial
    th, tw = -(-oh // 4), -(-ow // 4)
    xp = _pad_to(x, pads, (4 * th + 2, 4 * tw + 2))
    sn, sh, sw, sc = xp.strides
    tiles = as_strided(xp, (n_batch, th, tw, 6, 6, c_in), (sn, 4 * sh, 4 * sw, sh, sw, sc),
                       writeable=False)

    kg = np.kron(_WG_G, _WG_G).astype(dt)  # 36 x 9
    kb = np.kron(_WG_BT, _WG_BT).astype(dt)  # 36 x 36
    ka = np.kron(_WG_AT, _WG_AT).astype(dt)  # 16 x 36
    u = (kg @ w.reshape(9, -1)).reshape(36, c_in, filters)  # U = G w G^T

    out = _output(out, (n_batch, oh, ow, filters), dt)
    for nb, rows in _chunks(n_batch, (th, tw), 36 * c_in * dt.itemsize, WINOGRAD_CHUNK_BYTES):
        d = tiles[nb, rows]  # b, rt, tw, 6, 6, C
        b, rt = d.shape[:2]
        buf = _workspace("cols", (6, 6, b, rt, tw, c_in), dt)
        np.copyto(buf, d.transpose(3, 4, 0, 1, 2, 5))
        v = (kb @ buf.reshape(36, -1)).reshape(36, -1, c_in)  # V = B^T d B
        mm = np.matmul(v, u)  # 36, tiles, F
        y = (ka @ mm.reshape(36, -1)).reshape(4, 4, b, rt, tw, filters)  # Y = A^T M A
        r0 = rows.start or 0
        n_rows = min(4 * rt, oh - 4 * r0)
        y = y.transpose(2, 3, 0, 4, 1, 5).reshape(b, 4 * rt, 4 * tw, filters)
        out[nb, 4 * r0:4 * r0 + n_rows] = y[:, :n_rows, :ow]
        if finish is not None:
            finish(out[nb, 4 * r0:4 * r0 + n_rows])
    return out


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


def _reduce_windows(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads, dilation: Ints | None,
                    out_spatial: Ints | None, out: np.ndarray | None, fill: float, combine) -> tuple[np.ndarray, Ints]:
    """out = combine(...combine(tap 0, tap 1)..., last tap) over the kernel's taps of every window, padding `fill`."""
    rank = x.ndim - 2
    dilation = dilation or _ones(rank)
    if out_spatial is None:
        out_spatial = floor_out_spatial(x.shape[1:-1], kernel, stride, pads, dilation)
    xp = _pad(x, pads, out_spatial, kernel, stride, dilation, fill)
    out = _output(out, (x.shape[0], *out_spatial, x.shape[-1]), x.dtype)
    for i, offset in enumerate(np.ndindex(*kernel)):
        cells = _shifted(xp, offset, out_spatial, stride, dilation)
        if i == 0:
            np.copyto(out, cells)
        else:
            combine(out, cells, out=out)
    return out, out_spatial


def maxpool(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads,
            dilation: Ints | None = None, out_spatial: Ints | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """y[n, i, c] = max over u of x[n, i*s + u*d - p_before, c], padded cells ignored (-inf)."""
    return _reduce_windows(_as_float(x), kernel, stride, pads, dilation, out_spatial, out, -np.inf, np.maximum)[0]


def avgpool(x: np.ndarray, kernel: Ints, stride: Ints, pads: Pads,
            dilation: Ints | None = None, out_spatial: Ints | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """y[n, i, c] = mean of x over the window's cells inside the input (padding not counted).

    Matches TensorFlow's SAME average pooling and PyTorch's count_include_pad=False;
    cells of windows that hang off the end in ceil mode are not counted either.  A
    window lying wholly in the padding would have no mean; the calculator refuses such
    a pool (padding on a side at least the kernel).
    """
    x = _as_float(x)
    out, out_spatial = _reduce_windows(x, kernel, stride, pads, dilation, out_spatial, out, 0.0, np.add)
    dilation = dilation or _ones(x.ndim - 2)
    count = np.ones((), dtype=np.int64)
    for n, f, s, (p0, _), d, o in zip(x.shape[1:-1], kernel, stride, pads, dilation, out_spatial):
        pos = np.arange(o)[:, None] * s + np.arange(f)[None, :] * d - p0  # window i, tap u
        inside = ((pos >= 0) & (pos < n)).sum(axis=1)
        count = np.multiply.outer(count, inside)
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= count[..., None].astype(x.dtype)
    return out


def global_avgpool(x: np.ndarray) -> np.ndarray:
    """y[n, c] = mean over every spatial position of x[n, ..., c]."""
    x = _as_float(x)
    return x.mean(axis=tuple(range(1, x.ndim - 1)))


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
    """
    x = _as_float(x)
    channels = x.shape[-1]
    sq = np.square(x, out=_workspace("lrn", x.shape, x.dtype))
    acc = _output(out, x.shape, x.dtype)
    np.copyto(acc, sq)
    for shift in range(1, min(size // 2, channels - 1) + 1):  # neighbours before c
        acc[..., shift:] += sq[..., :channels - shift]
    for shift in range(1, min((size - 1) // 2, channels - 1) + 1):  # neighbours after c
        acc[..., :channels - shift] += sq[..., shift:]
    scale = alpha / size if alpha_over_n else alpha
    acc *= x.dtype.type(scale)
    acc += x.dtype.type(k)
    if beta == 0.75:
        np.sqrt(acc, out=acc)
        acc *= np.sqrt(acc, out=sq)  # s^0.75 = sqrt(s) * sqrt(sqrt(s)), cheaper than pow
        np.divide(x, acc, out=acc)
        return acc
    np.power(acc, x.dtype.type(-beta), out=acc)
    acc *= x
    return acc


def batchnorm(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
              moving_mean: np.ndarray, moving_variance: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the channel axis (inference)."""
    x = _as_float(x)
    dt = x.dtype
    scale = 1.0 / np.sqrt(np.asarray(moving_variance, dtype=np.float64) + eps)
    if gamma is not None:
        scale = scale * np.asarray(gamma, dtype=np.float64)
    shift = -np.asarray(moving_mean, dtype=np.float64) * scale
    if beta is not None:
        shift = shift + np.asarray(beta, dtype=np.float64)
    return x * scale.astype(dt) + shift.astype(dt)


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
    """(1 + tanh(x/2)) / 2: never overflows."""
    half = x.dtype.type(0.5)
    x *= half
    np.tanh(x, out=x)
    x += 1
    x *= half


def _tanh(x: np.ndarray, alpha: float | None) -> None:
    np.tanh(x, out=x)


def _softmax(x: np.ndarray, alpha: float | None) -> None:
    """Over the last axis, shifted by the max for stability."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)


def _linear(x: np.ndarray, alpha: float | None) -> None:
    return None


ACTIVATE = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "softmax": _softmax,
    "linear": _linear,
}


def activate(x: np.ndarray, function: str | None, alpha: float | None = None) -> np.ndarray:
    """Apply the activation `function` (None: none) to x in place and return x; `alpha` for leaky_relu and elu."""
    if function is not None:
        ACTIVATE[function](x, alpha)
    return x
