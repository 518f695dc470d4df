"""Optional compiled kernels (numba) for the float32 loops numpy cannot fuse: ``pip install 'archcalc[fast]'``.

Two things hold the numpy engine back on the mobile nets, and neither is a matter of more numpy calls:

* a depthwise convolution has a handful of multiply-adds per output cell; numpy has no fused multiply-add and
  no loop over a window of taps, so ``kernels._conv_depthwise`` streams each block once per tap through one
  ``einsum``, which also holds the GIL (one core);
* numpy's float32 exp is a scalar loop here (1.5 ns a value), and its tanh 2.6 ns, so silu, sigmoid, gelu and tanh
  cost more than the matrix products in front of them.

With numba installed, float32 runs these through ``archcalc.engine._jit``: the depthwise kernel reads the
unpadded input, adds the bias and applies the activation to each output row while it is in cache, and the
activations use a vectorised exp.  Winograd's input and output transforms (3x3 and 5x5 convs) also run here, one
tile at a time: numpy applies them as dense Kronecker products (36 multiply-adds a value where a handful are not
zero) after a padded copy, and reorders the output cells with one more copy.  So do grouped convs of 2-8 channels a
group, whose products are too narrow for BLAS, the im2col gather of dense 1-D and 2-D convs (numpy's pays per
window row, 36 bytes for a 3-channel 3x3 conv, after a padded copy), and max and average pools (an output row at a
time from the unpadded input, where numpy makes a pass per tap and axis).  Products of 16-96 output columns,
which OpenBLAS runs at a fraction of its rate, go to kernels built with llvmlite (``archcalc.engine.narrow``).  Each kernel releases the GIL and works on one block, and the engine's pool
(``kernels.run_blocks``) spreads the blocks, so no numba threading layer is involved and the kernels may be
entered from any number of threads.

Nothing here is required.  Without numba, with ``ARCHCALC_JIT=0`` in the environment, with
``compiled.ENABLED = False``, or for float64, every kernel takes its numpy path; the tests hold both paths to the
same plain twins in ``archcalc.engine.reference``.  The compiled code is cached on disk (numba's ``cache=True``), so
the compile (about 22 s for all of them on the development machine) happens once per install.

Loading is tiered, as a JIT's is.  Importing numba and its runtime costs a process about 1.2 s, more than a small
net's whole pass (MobileNetV3-Small at batch 2: 75 ms), so by default (``ARCHCALC_JIT`` unset or ``auto``) the
kernels are loaded only once the process has spent ``AUTO_LOAD_AFTER`` seconds in forward passes (``account``,
called by the fused plan after each pass; the next pass loads them); until then the numpy kernels run.  A one-off ``archcalc run`` of a small
net never pays for numba; a loop of passes switches after a few seconds.  ``ARCHCALC_JIT=1`` loads them on the first
kernel that asks, and ``load()`` loads them now (the benchmark does, as it leaves torch's import out too).  numba is
never imported by ``archcalc show`` or the calculators.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

import numpy as np

_SETTING = os.environ.get("ARCHCALC_JIT", "auto").strip().lower()
#: False sends every kernel down its numpy path in this process (the tests switch it).
ENABLED = _SETTING not in ("0", "false", "no", "off")
#: True: load numba on the first kernel that asks (ARCHCALC_JIT=1); False: only after AUTO_LOAD_AFTER (the default).
EAGER = _SETTING in ("1", "true", "yes", "on")
#: Seconds of forward passes in this process after which the kernels are loaded (about 1.2 s to load: 2 s of
#: passes is where they have begun to pay on the nets they speed up).
AUTO_LOAD_AFTER = 2.0

#: Activations the compiled kernels apply (to float32); ``_jit.CODES`` numbers them.
ACTIVATIONS = ("relu", "relu6", "sigmoid", "silu", "hardsigmoid", "hardswish", "gelu", "tanh")

_state: dict[str, Any] = {}
_lock = threading.Lock()


def _module() -> Any:
    """``archcalc.engine._jit``, or None when numba is missing or broken (then the numpy paths run)."""
    if "jit" not in _state:
        with _lock:
            if "jit" not in _state:
                try:
                    from archcalc.engine import _jit

                    _warm(_jit)
                except Exception:  # not installed, an install that does not import (numpy too new for it), no
                    _jit = None  # type: ignore[assignment]  # place to cache, or a kernel that does not compile
                _state["jit"] = _jit
    return _state["jit"]


def _warm(jit: Any) -> None:
    """Run each kernel once on a tiny array: numba loads its runtime and the cached code (or compiles) here, not in
    the middle of a pass, and a kernel that does not work is found before it is used."""
    rows = np.array([[-1.0, 0.5]], np.float32)
    jit.activate_rows(rows, jit.SILU)
    x = np.ones((1, 2, 2, 1), np.float32)
    out = np.empty_like(x)
    jit.depthwise_rows(x, np.ones((1, 1, 1), np.float32), np.zeros(1, np.float32), out, 0, 2, 1, 1, 0, 0, 1, 1, 0)
    # a 3x3 and a 1x5 depthwise conv of ones over that 2x2 map of ones, padded by 1 and by 2 along the width: each
    # cell sees 4 ones, and 2
    ring = np.empty((2, 1, 2, 2, 1), np.float32)
    for cell, (k_h, k_w) in zip(ring, ((3, 3), (1, 5))):
        jit.depthwise_ring_rows(x, np.ones((k_h, k_w, 1), np.float32), np.zeros(1, np.float32), cell, 0, 2, 1,
                                k_h // 2, k_w // 2, 1, 1, 0)
    done, one = np.empty(3, np.float32), np.ones(1, np.float32)
    jit.finish_rows(np.array([-2.0, 1.0, 5.0], np.float32), 1, one * 2, one, np.array([0.5, 1.0, 2.0], np.float32), 1,
                    done, 1, 3, 1, jit.RELU, True)  # relu((x * 2 + 1) + r)
    normed = np.empty((1, 3), np.float32)
    jit.layernorm_rows(np.array([[1.0, 2.0, 3.0]], np.float32), _NOTHING, np.ones(3, np.float32), np.float32(0), normed,
                       0, 1)
    # Winograd F(2x2, 3x3) of a 2x2 map of ones, padded by 1, with a 3x3 kernel of ones: every cell sees 4 ones
    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)
    g = np.array([1, 1.5, 0.5, 1], np.float32)  # G @ ones(3)
    v = np.empty((16, 1, 1), np.float32)
    jit.winograd_in(x, 1, 1, 2, 2, bt, bt, v, 0, 0, 1, 1, 0, 1)
    cells = np.full(5, -1.0, np.float32)  # a cell beyond the map stays untouched
    jit.winograd_out(v * np.outer(g, g).reshape(16, 1, 1), at, at, -one, jit.RELU, cells, 0, 4, 2, 1, 2, 2, 0, 0, 1, 1, 0,
                     1)  # relu(4 - 1)
    # a 3x3 conv of two groups (one channel in, one out each) over a 2x2 map, padded by 1: 4 cells, the first
    # group weighted 1 and the second 2 (its input 3): 4 and 24
    grouped = np.empty((1, 2, 2, 2), np.float32)
    pair = np.stack([np.ones((1, 2, 2)), np.full((1, 2, 2), 3.0)], axis=-1).astype(np.float32)
    jit.grouped_rows(pair, np.stack([np.ones((3, 3, 1, 1)), np.full((3, 3, 1, 1), 2.0)], axis=-1).astype(np.float32),
                     grouped, 0, 2, 1, 1, 1, 1, 1, 1)
    # the 3x3 windows of that map padded by 1: each of the 4 holds the 4 cells, zeros elsewhere
    cols = np.full((4, 9), -1.0, np.float32)
    jit.im2col_rows(x, cols, 0, 2, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1)
    taps = np.full((9, 4), -1.0, np.float32)  # the same windows a row per tap
    jit.im2col_taps(x, taps, 0, 2, 2, 2, 3, 3, 1, 1, 1, 1, 1)
    # 3x3 windows of [[1, 2], [3, 4]] padded by 1 (every window holds all four): max 4, mean 10 / 4
    grid = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    pooled = np.empty((2, 1, 2, 2, 1), np.float32)
    for pool, div in zip(pooled, (_NOTHING_2D, np.full((2, 2), 4, np.float32))):
        jit.pool_rows(grid, div, pool, 0, 2, 3, 3, 1, 1, 1, 1, 1, 1)
    if not (np.allclose(rows, [[-0.26894143, 0.31122967]]) and (out == 1).all() and (done == [0.0, 4.0, 13.0]).all()
            and np.allclose(normed, [[1 - 1.5 ** 0.5, 1.0, 1 + 1.5 ** 0.5]])
            and np.allclose(cells, [3, 3, 3, 3, -1]) and (grouped.reshape(4, 2) == [4, 24]).all()
            and (cols.sum(axis=1) == 4).all() and ((cols == 0) | (cols == 1)).all() and (taps == cols.T).all()
            and (pooled[0] == 4).all() and (pooled[1] == 2.5).all() and (ring[0] == 4).all() and (ring[1] == 2).all()):
        raise RuntimeError("the compiled kernels give wrong values here")


#: What loading the kernels adds to a process's resident memory: numba, llvmlite and the compiled code (measured
#: 126 MiB); the memory estimate of a pass counts it when that pass will load them (``will_load``).
RUNTIME_BYTES = 128 * 2**20


def available(dtype: Any = np.float32) -> bool:
    """Whether compiled kernels run for arrays of ``dtype`` now (float32 only): switched on, and loaded (or loaded
    here: with ``EAGER``, or once earlier passes have taken ``AUTO_LOAD_AFTER``)."""
    if not expected(dtype):
        return False
    return _module() is not None


def expected(dtype: Any = np.float32) -> bool:
    """Whether the next pass in ``dtype`` runs the compiled kernels, as far as can be known without loading them."""
    if not ENABLED or np.dtype(dtype) != np.float32:
        return False
    if "jit" in _state:
        return _state["jit"] is not None
    return EAGER or bool(_state.get("due"))


def will_load(dtype: Any = np.float32) -> bool:
    """Whether the next pass in ``dtype`` loads the kernels (and so adds ``RUNTIME_BYTES`` to the process)."""
    return "jit" not in _state and expected(dtype)


def load() -> bool:
    """Load the kernels now (imports numba, about 1.2 s); whether they run.  False when switched off or when numba
    is missing or broken."""
    return ENABLED and _module() is not None


def account(seconds: float) -> None:
    """Count a forward pass's time; once the process has spent ``AUTO_LOAD_AFTER`` seconds in them, the next pass
    loads the kernels (not this one's end: a one-off run that crosses the threshold should not pay for them)."""
    if not ENABLED or "jit" in _state:
        return
    spent = _state["spent"] = _state.get("spent", 0.0) + seconds
    if spent >= AUTO_LOAD_AFTER:
        _state["due"] = True


def code(function: str | None, alpha: Any = None) -> int | None:
    """The loaded kernels' code for an activation (0 for none), or None when they do not have it.  alpha counts for
    gelu (its approximation) and relu (only 0 or none); the other activations take none."""
    if function is None:
        return 0
    if function == "relu" and alpha in (0, 0.0):
        alpha = None
    return _module().CODES.get((function, alpha if function in ("gelu", "relu") else None))


def activate_rows(rows: np.ndarray, activation: int) -> None:
    """The activation (a code from ``code``), in place, on a 2-D float32 array (rows may be strided, each row
    contiguous)."""
    _module().activate_rows(rows, activation)


def depthwise_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, rows: tuple[int, int],
                   stride: tuple[int, int], pads_before: tuple[int, int], dilation: tuple[int, int],
                   activation: int) -> None:
    """out[n, oh] = act(b + sum_{kh, kw} x[n, oh*s_h + kh*d_h - p_h, ow*s_w + kw*d_w - p_w] * w[kh, kw]) for the
    output rows j0 <= n * O_h + oh < j1 (``rows``), channel by channel; taps outside the input read zero.  ``x``
    (N, H, W, C), ``out`` (N, O_h, O_w, C), ``w`` (K_h, K_w, C) and ``b`` (C,) are C-contiguous float32;
    ``activation`` a code from ``code``."""
    _module().depthwise_rows(x, w, b, out, rows[0], rows[1], stride[0], stride[1], pads_before[0], pads_before[1],
                             dilation[0], dilation[1], activation)


def depthwise_ring_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, rows: tuple[int, int],
                        stride_h: int, pads_before: tuple[int, int], dilation: tuple[int, int], activation: int) -> None:
    """``depthwise_rows`` at stride 1 along the width for kernels 3, 5 or 7 wide (K_w), the taps of a kernel row summed
    before each store, from a ring of zero-padded input rows."""
    _module().depthwise_ring_rows(x, w, b, out, rows[0], rows[1], stride_h, pads_before[0], pads_before[1],
                                  dilation[0], dilation[1], activation)


def depthwise_narrow(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, rows: tuple[int, int],
                     stride: tuple[int, int], pads_before: tuple[int, int], dilation: tuple[int, int],
                     activation: int, kernels: tuple) -> None:
    """``depthwise_rows`` by the LLVM kernels of ``archcalc.engine.narrow`` (``kernels`` from ``narrow.depthwise``,
    built with relu if ``activation`` is relu's code), from a ring of zero-padded input rows, any stride."""
    _module().depthwise_narrow(x, w, b, out, rows[0], rows[1], stride[0], stride[1], pads_before[0], pads_before[1],
                               dilation[0], dilation[1], activation, *_at(*kernels))


_NOTHING = np.empty(0, np.float32)
_ADDRESSES: dict[tuple[int, ...], tuple[tuple, tuple]] = {}


def _at(*kernels: Any) -> tuple:
    """The LLVM kernels (``narrow``'s ctypes functions; ints pass through) as the addresses the numba loops take
    (``_jit._call``), remembered per object: numba types a ctypes function passed as an argument anew on every call,
    about 1.1 us each (an empty ``narrow_rows`` 5.5 us, four of them), and an int costs nothing."""
    key = tuple(map(id, kernels))
    hit = _ADDRESSES.get(key)
    if hit is None or any(a is not b for a, b in zip(hit[0], kernels)):
        hit = _ADDRESSES[key] = (kernels, tuple(k if isinstance(k, int) else ctypes.cast(k, ctypes.c_void_p).value
                                                for k in kernels))
    return hit[1]


def _run(a: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """An array whose last axis is contiguous (strides forwards) as (the flat run from its first cell to its last,
    the other axes' strides in cells): a channel slice of a wider buffer is indexed in place."""
    if a.flags.c_contiguous:
        flat = a.reshape(-1)
    else:
        span = sum((n - 1) * s for n, s in zip(a.shape, a.strides)) // a.itemsize + 1
        flat = np.lib.stride_tricks.as_strided(a, shape=(span,), strides=(a.itemsize,))
    return flat, tuple(s // a.itemsize for s in a.strides[:-1])


def _flat(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """A 2-D array with contiguous rows as (the flat run from its first cell to its last, the row length there)."""
    flat, (step,) = _run(rows)
    return flat, step if rows.shape[0] > 1 else rows.shape[1]


def finish_rows(src: np.ndarray, bias: np.ndarray | None, res: np.ndarray | None, dst: np.ndarray,
                activation: int, factor: np.ndarray | None = None) -> None:
    """dst = act((src * factor + bias) + res) in one pass: a conv block's bias, residual add and activation (a code
    from ``code``), or a batchnorm's factor, shift and activation.  src, res and dst are 2-D float32 of one shape
    with contiguous rows (a channel slice of a wider buffer too), factor and bias (columns,) float32 or None, res
    None; src may be dst."""
    rows, cols = dst.shape
    if rows == 0 or cols == 0:
        return
    s, s_row = _flat(src)
    d, d_row = _flat(dst)
    r, r_row = (_NOTHING, 0) if res is None else _flat(res)
    b = _NOTHING if bias is None else bias
    same = s_row == d_row and src.ctypes.data == dst.ctypes.data
    f = _NOTHING if factor is None else factor
    _module().finish_rows(s, s_row, f, b, r, r_row, d, d_row, rows, cols, activation, not same)


def layernorm_rows(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None, eps: float, out: np.ndarray,
                   rows: tuple[int, int]) -> None:
    """out[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta over each row r of ``rows`` (x, out 2-D C-contiguous
    float32, gamma and beta (columns,) float32 or None)."""
    _module().layernorm_rows(x, _NOTHING if gamma is None else gamma, _NOTHING if beta is None else beta,
                             np.float32(eps), out, rows[0], rows[1])


def winograd_in(x: np.ndarray, pads_before: tuple[int, int], tile: tuple[int, int], bt: tuple[np.ndarray, np.ndarray],
                v: np.ndarray, first: tuple[int, int], tile_rows: int, tiles_across: int, span: tuple[int, int]) -> None:
    """The Winograd input transform of tiles span[0] <= t < span[1] of a chunk into ``v`` (a_h * a_w, tiles, C):
    the chunk starts at image first[0], tile row first[1], and holds ``tile_rows`` rows of ``tiles_across`` tiles.
    ``x`` (N, H, W, C) C-contiguous float32, read unpadded (cells outside it are zeros); ``tile`` the output tile
    (m_h, m_w); ``bt`` the float32 transforms B^T of each axis."""
    _module().winograd_in(x, pads_before[0], pads_before[1], tile[0], tile[1], bt[0], bt[1], v, first[0], first[1],
                          tile_rows, tiles_across, span[0], span[1])


def winograd_out(mm: np.ndarray, at: tuple[np.ndarray, np.ndarray], out: np.ndarray, first: tuple[int, int],
                 tile_rows: int, tiles_across: int, span: tuple[int, int], bias: np.ndarray | None = None,
                 activation: int = 0) -> None:
    """The Winograd output transform A^T M A of tiles span[0] <= t < span[1] of a chunk (numbered as in
    ``winograd_in``) into ``out`` (N, O_h, O_w, F) float32 whose channels are contiguous (a channel slice of a wider
    buffer too); cells beyond its edges are dropped.  ``bias`` (F,) float32 and the ``activation`` (a code from
    ``code``) are applied to each cell on its way out."""
    flat, (s_n, s_r, s_q) = _run(out)
    _module().winograd_out(mm, at[0], at[1], _NOTHING if bias is None else bias, activation, flat, 0, s_n, s_r, s_q,
                           out.shape[1], out.shape[2], first[0], first[1], tile_rows, tiles_across, span[0], span[1])


def winograd_narrow(x: np.ndarray, pads_before: tuple[int, int], tile: tuple[int, int], points: tuple[int, int],
                    transforms: tuple[Any, Any], buffers: tuple[np.ndarray, ...], u: np.ndarray, kernels: tuple,
                    zeros: np.ndarray, out: np.ndarray, tiles_across: int, pieces: np.ndarray,
                    bias: np.ndarray | None = None, activation: int = 0) -> None:
    """Winograd for the chunks ``pieces`` ((first image, first tile row, tile rows, tiles) each) in one call: the
    input transform, the products and the output transform with the bias and activation, by LLVM kernels of
    ``archcalc.engine.narrow``: ``transforms`` (input, output) from ``narrow.transform`` (the output one built with
    the bias if ``bias`` is given, and with relu if ``activation`` is relu's code), ``kernels`` from
    ``narrow.kernels``, ``u`` the transformed weights packed per point, (a^2, chunks, C * width), ``zeros`` the
    packed zero bias.  ``points`` (a_h, a_w) the input tile; ``buffers`` flat float32 scratch: the largest chunk's
    transformed tiles and products (a^2 ``spread_stride``s each), a tile's input cells and a tile's output cells.
    ``out`` as for ``winograd_out``."""
    chunks, width, full, last = kernels
    flat, (s_n, s_r, s_q) = _run(out)
    _module().winograd_narrow(x, pads_before[0], pads_before[1], tile[0], tile[1], points[0], points[1],
                              *_at(*transforms), *buffers, u, *_at(*full), *_at(*last), chunks, width, zeros,
                              _NOTHING if bias is None else bias,
                              activation, flat, 0, s_n, s_r, s_q, out.shape[1], out.shape[2], tiles_across,
                              out.shape[3], pieces)


def spread_stride(cells: int) -> int:
    """The cells between a Winograd chunk's points in ``winograd_narrow``'s scratch (``_jit.spread_stride``)."""
    s = -(-cells // 16) * 16
    return s + 16 if (s // 16) % 2 == 0 else s


def grouped_narrow(x: np.ndarray, cols: np.ndarray, rows: tuple[int, int], step: int, out_spatial: tuple[int, int],
                   kernel: tuple[int, int], stride: tuple[int, int], pads_before: tuple[int, int],
                   dilation: tuple[int, int], groups: int, kernels: tuple, w: np.ndarray, bias: np.ndarray,
                   out: np.ndarray, activation: int) -> None:
    """A grouped 2-D conv's output rows j0 <= n * O_h + oh < j1 (``rows``), ``step`` at a time, group by group: the
    group's im2col columns gathered into ``cols`` and multiplied by its weights with its bias (both packed per
    group) by the LLVM kernels of ``archcalc.engine.narrow`` (``kernels``, from ``narrow.kernels`` for F_g
    columns), into its channels of ``out`` (N * O_h * O_w, F) rows, then the ``activation`` (a code, not relu).
    ``x`` (N, H, W, C) C-contiguous float32, read unpadded."""
    chunks, width, full, last = kernels
    _module().grouped_narrow(x, cols, rows[0], rows[1], step, out_spatial[0], out_spatial[1], kernel[0], kernel[1],
                             stride[0], stride[1], pads_before[0], pads_before[1], dilation[0], dilation[1], groups,
                             *_at(*full), *_at(*last), chunks, width, w, bias, out,
                             out.reshape(-1) if out.flags.c_contiguous else _NOTHING, activation)


def grouped_rows(x: np.ndarray, w: np.ndarray, out: np.ndarray, rows: tuple[int, int], stride: tuple[int, int],
                 pads_before: tuple[int, int], dilation: tuple[int, int]) -> None:
    """A grouped convolution without bias for the output rows j0 <= n * O_h + oh < j1 (``rows``): ``x`` (N, H, W,
    C) read unpadded, ``w`` (K_h, K_w, C_g, F_g, groups) group-minor, ``out`` (N, O_h, O_w, F), all C-contiguous
    float32."""
    _module().grouped_rows(x, w, out, rows[0], rows[1], stride[0], stride[1], pads_before[0], pads_before[1],
                           dilation[0], dilation[1])


def im2col_rows(x: np.ndarray, cols: np.ndarray, rows: tuple[int, int], out_spatial: tuple[int, int],
                kernel: tuple[int, int], stride: tuple[int, int], pads_before: tuple[int, int],
                dilation: tuple[int, int]) -> None:
    """The im2col columns of the output rows j0 <= n * O_h + oh < j1 (``rows``) into ``cols`` ((j1 - j0) * O_w,
    K_h * K_w * C), tap-major, channels innermost: ``x`` (N, H, W, C) read unpadded (cells outside it are zeros),
    both C-contiguous float32."""
    _module().im2col_rows(x, cols, rows[0], rows[1], out_spatial[0], out_spatial[1], kernel[0], kernel[1], stride[0],
                          stride[1], pads_before[0], pads_before[1], dilation[0], dilation[1])


def im2col_narrow(x: np.ndarray, cols: np.ndarray, rows: tuple[int, int], step: int, out_spatial: tuple[int, int],
                  kernel: tuple[int, int], stride: tuple[int, int], pads_before: tuple[int, int],
                  dilation: tuple[int, int], by_tap: bool, kernels: tuple, w: np.ndarray, bias: np.ndarray,
                  out: np.ndarray, activation: int) -> None:
    """A 2-D conv's output rows j0 <= n * O_h + oh < j1 (``rows``), ``step`` at a time: each step's im2col columns
    gathered into ``cols`` (as ``im2col_rows``, or as ``im2col_taps`` with ``by_tap``), multiplied by ``w`` with the
    ``bias`` (both ``narrow.pack``ed) by the LLVM kernels of ``archcalc.engine.narrow`` (``kernels``, from
    ``narrow.kernels``), into ``out`` (N * O_h * O_w, F) rows, and the ``activation`` (a code, not relu: that is in
    the kernels or not) applied.  ``kernels._narrow_form`` checks the operands."""
    chunks, width, full, last = kernels
    _module().im2col_narrow(x, cols, rows[0], rows[1], step, out_spatial[0], out_spatial[1], kernel[0], kernel[1],
                            stride[0], stride[1], pads_before[0], pads_before[1], dilation[0], dilation[1], by_tap,
                            *_at(*full), *_at(*last), chunks, width, w, bias, out,
                            out.reshape(-1) if out.flags.c_contiguous else _NOTHING, activation)


def direct_narrow(x: np.ndarray, cols: np.ndarray, rows: tuple[int, int], out_spatial: tuple[int, int],
                  kernel: tuple[int, int], stride: tuple[int, int], pads_before: tuple[int, int],
                  dilation: tuple[int, int], kernels: tuple, w: np.ndarray, bias: np.ndarray, out: np.ndarray,
                  activation: int) -> None:
    """``im2col_narrow`` without the im2col copy where a window lies inside the input: the indexed kernels
    (``kernels`` from ``narrow.kernels(..., indexed=True)``) read each cell's taps in place; ``cols`` holds one
    output row's im2col rows, for the cells at the input's edges."""
    chunks, width, full, last = kernels
    _module().direct_narrow(x, cols, rows[0], rows[1], out_spatial[0], out_spatial[1], kernel[0], kernel[1],
                            stride[0], stride[1], pads_before[0], pads_before[1], dilation[0], dilation[1],
                            *_at(*full), *_at(*last), chunks, width, w, bias, out,
                            out.reshape(-1) if out.flags.c_contiguous else _NOTHING, activation)


def narrow_rows(a: np.ndarray, w: np.ndarray, bias: np.ndarray, out: np.ndarray, kernels: tuple, activation: int,
                step: int, res: np.ndarray | None = None) -> None:
    """out = act(a @ w + bias (+ res)), ``step`` rows at a time, by the LLVM kernels of ``archcalc.engine.narrow``
    (``kernels``, from ``narrow.kernels``) and the ``activation`` (a code; relu only with ``res``, else the kernels
    do it) after them: a (rows, K) and out (rows, F) float32 with rows of unit stride, w and bias ``narrow.pack``ed.
    ``res``, a residual of out's shape, C-contiguous as out must then be, is added before the activation (kernels
    built without relu).  ``kernels._narrow_form`` checks the operands."""
    chunks, width, full, last = kernels
    if res is not None and (res.shape != out.shape or not (res.flags.c_contiguous and out.flags.c_contiguous)):
        raise ValueError("narrow_rows: a residual needs an output and a residual of one shape, both C-contiguous")
    _module().narrow_rows(*_at(*full), *_at(*last), chunks, width, a, w, bias, out,
                          out.reshape(-1) if out.flags.c_contiguous else _NOTHING, activation, step,
                          _NOTHING if res is None else res.reshape(-1))


def shuffle_rows(x: np.ndarray, out: np.ndarray, groups: int, rows: tuple[int, int]) -> None:
    """A channel shuffle of rows r0 <= r < r1 (``rows``): out[r, j * groups + g] = x[r, g * C/groups + j]; x and out
    2-D float32 of one shape, each row contiguous."""
    _module().shuffle_rows(x, out, groups, rows[0], rows[1])


def im2col_taps(x: np.ndarray, cols: np.ndarray, rows: tuple[int, int], out_spatial: tuple[int, int],
                kernel: tuple[int, int], stride_h: int, pads_before: tuple[int, int], dilation: tuple[int, int]) -> None:
    """``im2col_rows``' columns transposed, for ``x`` (N, H, W, 1) of one channel and stride 1 along the width:
    ``cols`` (K_h * K_w, (j1 - j0) * O_w), a row per tap, each filled from runs of the input's rows."""
    _module().im2col_taps(x, cols, rows[0], rows[1], out_spatial[0], out_spatial[1], kernel[0], kernel[1], stride_h,
                          pads_before[0], pads_before[1], dilation[0], dilation[1])


def pool_rows(x: np.ndarray, div: np.ndarray | None, out: np.ndarray, rows: tuple[int, int], kernel: tuple[int, int],
              stride: tuple[int, int], pads_before: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Max pooling (``div`` None) or sums divided by ``div`` (O_h, O_w) float32, the windows' counts, of the output
    rows j0 <= n * O_h + oh < j1 (``rows``) over the taps inside ``x`` (N, H, W, C) into ``out`` (N, O_h, O_w, C),
    both C-contiguous float32 (a max over no tap is -inf; NaN propagates)."""
    _module().pool_rows(x, _NOTHING_2D if div is None else div, out, rows[0], rows[1], kernel[0], kernel[1],
                        stride[0], stride[1], pads_before[0], pads_before[1], dilation[0], dilation[1])


_NOTHING_2D = np.empty((0, 0), np.float32)
