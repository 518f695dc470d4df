"""The numba kernels behind ``archcalc.engine.compiled`` (imported only through it, and only when numba is
installed).  float32 only; each kernel is sequential over the block it is given and releases the GIL, so the
engine's own pool spreads blocks over the cores (no numba threading layer is used).

exp is Cephes' expf scheme: n = round(t / ln 2), r = t - n ln 2 (in two parts), exp(r) by a degree-6 polynomial
(relative error about 1e-7 on [-ln 2 / 2, ln 2 / 2]), times 2**n put into the exponent bits.  t is clamped to
[-87.3, 88.3] so that 2**n stays a normal float32; the activations take the limits themselves beyond that.
numpy's float32 exp is a scalar loop on this class of machine (1.5 ns a value); this one vectorises (0.3 ns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba import uint64 as _U
from numba.extending import intrinsic

F = np.float32
_LOG2E = F(1.4426950408889634)
_LN2_HI = F(0.693359375)
_LN2_LO = F(-2.12194440e-4)
_EXP_POLY = (F(1.9875691500e-4), F(1.3981999507e-3), F(8.3334519073e-3), F(4.1665795894e-2), F(1.6666665459e-1),
             F(5.0000001201e-1))
_LO = F(-87.3)
_HI = F(88.3)
_MINUS_ONE = F(-1.0)
#: gelu: Numerical Recipes' erfc fit (fractional error 1.2e-7), the same as ``kernels._ERFC_FIT``, t^9 down to t^0
_ERFC_FIT = tuple(F(c) for c in (
    0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368,
    -1.26551223))
#: tanh: the odd rational minimax p(x)/q(x) of degrees 13/6 of Eigen, XLA and ONNX Runtime's MLAS, clamped at
#: +-7.9053 where float32's tanh is +-1, and x itself below 4e-4 (no cancellation: tanh is odd)
_TANH_P = tuple(F(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08, 1.48572235717979e-05,
    6.37261928875436e-04, 4.89352455891786e-03))
_TANH_Q = tuple(F(c) for c in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
                                         4.89352518554385e-03))
_TANH_CLAMP = F(7.90531110763549805)
_TANH_LINEAR = F(0.0004)
_SQRT_HALF = F(0.7071067811865476)
_MINUS_TWO_SQRT_2_PI = F(-2.0 * 0.7978845608028654)
_GELU_C = F(0.044715)
_ZERO = F(0.0)
_BIG = np.finfo(np.float32).max
_ONE = F(1.0)
_HALF = F(0.5)
_THREE = F(3.0)
_SIX = F(6.0)
_SIXTH = F(1.0 / 6.0)

#: Activation codes of the kernels, the one place they are numbered (``compiled.code`` looks names up here).
NONE, RELU, RELU6, SIGMOID, SILU, HARDSIGMOID, HARDSWISH, GELU, GELU_TANH, TANH = range(10)
#: (activation, alpha) -> code; gelu's alpha is its approximation
CODES = {("relu", None): RELU, ("relu6", None): RELU6, ("sigmoid", None): SIGMOID, ("silu", None): SILU,
         ("hardsigmoid", None): HARDSIGMOID, ("hardswish", None): HARDSWISH, ("gelu", None): GELU,
         ("gelu", "none"): GELU, ("gelu", "tanh"): GELU_TANH, ("tanh", None): TANH}
#: Values per piece: the piece and its exp scratch stay in L1/L2 between the passes.
PIECE = 2048

#: Fused multiply-adds and approximate functions; NaN and inf keep their meaning.  Every kernel also takes
#: ``error_model="numpy"``: numba's default checks each float division for a zero divisor (Python's
#: ZeroDivisionError), and that branch kept the division loops scalar (silu 2.3 ns a value against 0.6).
_FLAGS = {"contract", "afn"}


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _horner(t, coefficients):  # pragma: no cover - compiled
    """The polynomial with these coefficients (highest power first) at t."""
    p = coefficients[0]
    for c in coefficients[1:]:
        p = p * t + c
    return p


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _exp_scaled(src, scale, ex, en, m):  # pragma: no cover - compiled
    """ex[i] = exp(scale * src[i]) for i < m (ex may be src): the polynomial into ex and the power of two into en,
    then merged."""
    for i in range(m):
        t = min(max(scale * src[i], _LO), _HI)
        n = np.floor(t * _LOG2E + _HALF)
        r = t - n * _LN2_HI - n * _LN2_LO
        ex[i] = _horner(r, _EXP_POLY) * r * r + r + _ONE
        en[i] = np.int32(n) << 23
    bits = ex.view(np.int32)
    for i in range(m):
        bits[i] += en[i]


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _relu6(x):  # pragma: no cover - compiled
    """min(max(x, 0), 6), NaN kept."""
    x = _ZERO if x < _ZERO else x
    return _SIX if x > _SIX else x


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _activate_run(v, code, ex, en, tt):  # pragma: no cover - compiled
    """The activation ``code`` in place on the contiguous 1-D run v, PIECE values at a time.  One loop per
    activation with no branch on the code inside, so that each vectorises."""
    total = v.shape[0]
    for start in range(0, total, PIECE):
        m = min(PIECE, total - start)
        s = v[start:start + m]
        if code == RELU:  # NaN kept; + 0 as in _finish_row (a plain select here is a slow masked store)
            for i in range(m):
                x = s[i]
                s[i] = _ZERO if x < _ZERO else x + _ZERO
        elif code == RELU6:
            for i in range(m):
                s[i] = _relu6(s[i])
        elif code == HARDSIGMOID:  # relu6(x + 3) / 6
            for i in range(m):
                x = s[i]
                s[i] = x if x != x else _relu6(x + _THREE) * _SIXTH
        elif code == HARDSWISH:  # x hardsigmoid(x)
            for i in range(m):
                x = s[i]
                s[i] = x * (_relu6(x + _THREE) * _SIXTH)
        elif code == SIGMOID:
            _exp_scaled(s, _MINUS_ONE, ex, en, m)
            for i in range(m):
                x = s[i]
                y = _ONE / (_ONE + ex[i])
                y = _ZERO if x < _LO else y  # exp(-x) past float32: the limit 0, as 1 / (1 + inf) gives
                s[i] = x if x != x else y
        elif code == SILU:
            _exp_scaled(s, _MINUS_ONE, ex, en, m)
            for i in range(m):
                x = s[i]
                y = x / (_ONE + ex[i])
                s[i] = x * _ZERO if x < _LO else y  # x / (1 + inf): -0, and NaN at -inf, as numpy's form gives
        elif code == GELU:  # max(x, 0) - |x| erfc(|x| / sqrt 2) / 2, erfc(z) = t exp(-z^2 + P(t)), t = 1/(1 + z/2)
            for i in range(m):
                z = abs(s[i]) * _SQRT_HALF
                t = _ONE / (_ONE + _HALF * z)
                ex[i] = _horner(t, _ERFC_FIT) - z * z
                tt[i] = t
            _exp_scaled(ex, _ONE, ex, en, m)
            for i in range(m):
                x = s[i]
                keep = x if x > _ZERO else _ZERO
                y = keep - abs(x) * (tt[i] * ex[i] * _HALF)
                s[i] = x if (x != x or x > _BIG) else y  # NaN stays, +inf stays (not inf - inf * 0)
        elif code == TANH:
            for i in range(m):
                x = s[i]
                c = _TANH_CLAMP if x > _TANH_CLAMP else x
                c = -_TANH_CLAMP if c < -_TANH_CLAMP else c
                c2 = c * c
                y = c * _horner(c2, _TANH_P) / _horner(c2, _TANH_Q)
                s[i] = x if abs(x) < _TANH_LINEAR else y
        elif code == GELU_TANH:  # x / 2 (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3)
            for i in range(m):
                x = s[i]
                tt[i] = _MINUS_TWO_SQRT_2_PI * x * (_ONE + _GELU_C * x * x)
            _exp_scaled(tt, _ONE, ex, en, m)
            for i in range(m):
                x = s[i]
                y = x / (_ONE + ex[i])
                s[i] = x * _ZERO if tt[i] > _HI else y


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _activation_scratch():  # pragma: no cover - compiled
    """The scratch ``_activate_run`` takes: exp values, powers of two and a third run, PIECE each."""
    return np.empty(PIECE, np.float32), np.empty(PIECE, np.int32), np.empty(PIECE, np.float32)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def activate_rows(x, code):  # pragma: no cover - compiled
    """The activation ``code`` in place on every row of the 2-D float32 array x (rows may be strided)."""
    ex, en, tt = _activation_scratch()
    for r in range(x.shape[0]):
        _activate_run(x[r], code, ex, en, tt)


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _columns(kw, dw, pw, sw, w_in, o_w):  # pragma: no cover - compiled
    """(offset, first, stop) of the output columns whose tap kw lands inside an input row of w_in cells: column ow
    reads cell ow * sw + offset (none when the tap lies wholly in the padding past the end)."""
    off = kw * dw - pw
    if off > w_in - 1:
        return off, 0, 0
    return off, 0 if off >= 0 else (sw - 1 - off) // sw, min(o_w, (w_in - 1 - off) // sw + 1)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def depthwise_rows(x, w, b, out, j0, j1, sh, sw, ph, pw, dh, dw, code):  # pragma: no cover - compiled
    """out[n, oh] = act(b + sum_{kh, kw} x[n, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw] * w[kh, kw]) for the output
    rows j0 <= n * O_h + oh < j1, channel by channel; taps outside the input read zero (no padded copy).  The
    arrays are indexed flat with unsigned offsets: numba skips its negative-index wraparound for those, and the
    channel loop vectorises (1.1-2x faster than 4-D indexing)."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    o_h, o_w = out.shape[1], out.shape[2]
    k_h, k_w = w.shape[0], w.shape[1]
    xf, wf, of = x.ravel(), w.ravel(), out.ravel()
    ex, en, tt = _activation_scratch()
    row_len = o_w * channels
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        base = _U(j * row_len)
        for ow in range(o_w):
            at = base + _U(ow * channels)
            for c in range(channels):
                of[at + _U(c)] = b[c]
        for kh in range(k_h):
            ih = oh * sh - ph + kh * dh
            if ih < 0 or ih >= h_in:
                continue
            src = _U((n * h_in + ih) * w_in * channels)
            for kw in range(k_w):
                off, lo, hi = _columns(kw, dw, pw, sw, w_in, o_w)
                wk = _U((kh * k_w + kw) * channels)
                for ow in range(lo, hi):
                    xo = src + _U((ow * sw + off) * channels)
                    oo = base + _U(ow * channels)
                    for c in range(channels):
                        cu = _U(c)
                        of[oo + cu] += xf[xo + cu] * wf[wk + cu]
        if code != NONE:
            _activate_run(of[base:base + _U(row_len)], code, ex, en, tt)



@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _finish_row(src, so, factor, bias, res, ro, dst, do, cols, has_f, has_b, has_r, relu):  # pragma: no cover
    """dst[do + c] = (src[so + c] * factor[c] + bias[c]) + res[ro + c] for c < cols, then relu when asked.  relu
    keeps NaN and adds 0 to what it keeps: a select that may store x back unchanged compiles to a masked store here,
    5x slower."""
    for c in range(cols):
        cu = _U(c)
        v = src[so + cu]
        if has_f:
            v = v * factor[c]
        if has_b:
            v = v + bias[c]
        if has_r:
            v = v + res[ro + cu]
        if relu:
            v = _ZERO if v < _ZERO else v + _ZERO
        dst[do + cu] = v


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def finish_rows(src, s_row, factor, bias, res, r_row, dst, d_row, rows, cols, code, copy):  # pragma: no cover
    """dst[r, c] = act((src[r, c] * factor[c] + bias[c]) + res[r, c]) for r < rows, c < cols, in one pass: a conv
    block's bias, residual add and activation, or a batchnorm's factor and shift and activation.  The arrays are
    flat; row r of each starts at r times its row length (s_row, r_row, d_row: a channel slice of a wider buffer has
    rows longer than cols).  A factor, bias or res of length 0 is left out.  ``copy`` False: src is dst, and only dst is read (two names for one array would keep the loops scalar:
    LLVM's overlap check fails).  relu is applied in the same loop; other activations PIECE values at a time while
    the values are in L1."""
    has_f, has_b, has_r = factor.shape[0] > 0, bias.shape[0] > 0, res.shape[0] > 0
    relu = code == RELU
    rest = NONE if relu else code
    ex, en, tt = _activation_scratch()
    group = max(1, PIECE // cols) if d_row == cols else 1
    for g0 in range(0, rows, group):
        g1 = min(rows, g0 + group)
        if copy:
            for r in range(g0, g1):
                _finish_row(src, _U(r * s_row), factor, bias, res, _U(r * r_row), dst, _U(r * d_row), cols, has_f,
                            has_b, has_r, relu)
        elif has_f or has_b or has_r or relu:
            for r in range(g0, g1):
                do = _U(r * d_row)
                _finish_row(dst, do, factor, bias, res, _U(r * r_row), dst, do, cols, has_f, has_b, has_r, relu)
        if rest != NONE:
            start = _U(g0 * d_row)
            _activate_run(dst[start:start + _U((g1 - g0 - 1) * d_row + cols)], rest, ex, en, tt)


@njit(fastmath={"contract", "afn", "reassoc"}, error_model="numpy", nogil=True, cache=True)
def layernorm_rows(x, gamma, beta, eps, out, r0, r1):  # pragma: no cover - compiled
    """out[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta over the columns of each row r0 <= r < r1 (x and out
    2-D C-contiguous float32; gamma or beta of length 0 left out).  Two passes over the row for the statistics, as
    numpy's mean of squared deviations: the sums may be reassociated (vectorised partial sums), nothing else."""
    cols = x.shape[1]
    has_g, has_b = gamma.shape[0] > 0, beta.shape[0] > 0
    inv_n = _ONE / np.float32(cols)
    for r in range(r0, r1):
        row, dst = x[r], out[r]
        total = _ZERO
        for c in range(cols):
            total += row[c]
        mean = total * inv_n
        square = _ZERO
        for c in range(cols):
            d = row[c] - mean
            square += d * d
        scale = _ONE / np.sqrt(square * inv_n + eps)
        for c in range(cols):
            v = (row[c] - mean) * scale
            if has_g:
                v = v * gamma[c]
            if has_b:
                v = v + beta[c]
            dst[c] = v


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _combine(acc, n, coefficients, src, start, step):  # pragma: no cover - compiled
    """acc[c] = sum_k coefficients[k] * src[start + k * step + c] for c < n: one row of a transform applied to runs of
    n values, the zero coefficients skipped."""
    for c in range(n):
        acc[c] = _ZERO
    for k in range(coefficients.shape[0]):
        f = coefficients[k]
        if f != _ZERO:
            at = _U(start + k * step)
            for c in range(n):
                acc[c] += f * src[at + _U(c)]


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _tile(t, n0, r0, rt, tw):  # pragma: no cover - compiled
    """(image, tile row, tile column) of tile t of a Winograd chunk that starts at image n0, tile row r0, and holds
    rt rows of tw tiles."""
    nn = t // (rt * tw)
    rest = t - nn * rt * tw
    ri = rest // tw
    return n0 + nn, r0 + ri, rest - ri * tw


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _gather_window(xf, dst, at0, n, top, left, k_h, k_w, dh, dw, h_in, w_in, channels):  # pragma: no cover
    """The k_h x k_w window of image n's cells from (top, left), dh and dw apart, into dst from at0 as (kh, kw, c):
    zeros where a cell falls outside the input.  xf is the flat (N, H, W, C) input."""
    for kh in range(k_h):
        ih = top + kh * dh
        for kw in range(k_w):
            iw = left + kw * dw
            at = _U(at0 + (kh * k_w + kw) * channels)
            if 0 <= ih < h_in and 0 <= iw < w_in:
                src = _U(((n * h_in + ih) * w_in + iw) * channels)
                for c in range(channels):
                    dst[at + _U(c)] = xf[src + _U(c)]
            else:
                for c in range(channels):
                    dst[at + _U(c)] = _ZERO


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def winograd_in(x, ph, pw, m_h, m_w, bt_h, bt_w, v, n0, r0, rt, tw, t0, t1):  # pragma: no cover - compiled
    """v[i * a_w + j, t] = (B_h^T d_t B_w)[i, j] over the channels, for the tiles t0 <= t < t1 of a chunk: tile t is
    image n0 + t // (rt * tw), tile row r0 + (t // tw) % rt, tile column t % tw, and d_t the a_h x a_w input cells
    from (row * m_h - ph, column * m_w - pw) on (cells outside x read zero: no padded copy).  x (N, H, W, C) and v
    (a_h * a_w, tiles, C) are C-contiguous float32; bt_h, bt_w the transforms (a x a, mostly zeros: skipped)."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    a_h, a_w = bt_h.shape[0], bt_w.shape[0]
    xf, vf = x.ravel(), v.ravel()
    n_tiles = v.shape[1]
    d = np.empty(a_h * a_w * channels, np.float32)
    e = np.empty(a_h * a_w * channels, np.float32)
    acc = np.empty(channels, np.float32)
    for t in range(t0, t1):
        n, row, column = _tile(t, n0, r0, rt, tw)
        _gather_window(xf, d, 0, n, row * m_h - ph, column * m_w - pw, a_h, a_w, 1, 1, h_in, w_in, channels)
        # e[i, j] = sum_k bt_h[i, k] d[k, j] (whole rows of a_w cells at once)
        for i in range(a_h):
            _combine(e[i * a_w * channels:(i + 1) * a_w * channels], a_w * channels, bt_h[i], d, 0, a_w * channels)
        # v[i * a_w + j, t] = sum_k e[i, k] bt_w[j, k]
        for i in range(a_h):
            for j in range(a_w):
                _combine(acc, channels, bt_w[j], e, i * a_w * channels, channels)
                dst = _U(((i * a_w + j) * n_tiles + t) * channels)
                for c in range(channels):
                    vf[dst + _U(c)] = acc[c]


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def winograd_out(mm, at_h, at_w, b, code, out, base, s_n, s_r, s_q, o_h, o_w, n0, r0, rt, tw, t0, t1):  # pragma: no cover
    """The output cells (A_h^T M_t A_w)[i, j] of the tiles t0 <= t < t1 of a chunk (numbered as in
    ``winograd_in``), cells beyond the o_h x o_w map dropped.  mm (a_h * a_w, tiles, F) is C-contiguous; ``out`` is
    flat, cell (n, r, q) starting at base + n * s_n + r * s_r + q * s_q (a channel slice of a wider buffer too).
    Each cell gets the bias b (length 0: none) and the activation ``code`` on its way out, while in registers."""
    m_h, a_h = at_h.shape[0], at_h.shape[1]
    m_w, a_w = at_w.shape[0], at_w.shape[1]
    n_tiles, filters = mm.shape[1], mm.shape[2]
    mf = mm.ravel()
    e = np.empty(a_h * m_w * filters, np.float32)
    acc = np.empty(filters, np.float32)
    has_b = b.shape[0] > 0
    ex, en, tt = _activation_scratch()
    for t in range(t0, t1):
        n, row, column = _tile(t, n0, r0, rt, tw)
        top = row * m_h
        left = column * m_w
        # e[k, j] = sum_l mm[k * a_w + l, t] at_w[j, l]
        for k in range(a_h):
            for j in range(m_w):
                dst = (k * m_w + j) * filters
                _combine(e[dst:dst + filters], filters, at_w[j], mf, (k * a_w * n_tiles + t) * filters,
                         n_tiles * filters)
        # out[top + i, left + j] = sum_k at_h[i, k] e[k, j]
        for i in range(m_h):
            r = top + i
            if r >= o_h:
                break
            for j in range(m_w):
                q = left + j
                if q >= o_w:
                    break
                _combine(acc, filters, at_h[i], e, j * filters, m_w * filters)
                if has_b:
                    for c in range(filters):
                        acc[c] += b[c]
                dst = _U(base + n * s_n + r * s_r + q * s_q)
                if code == RELU:  # NaN kept; + 0 as in _finish_row
                    for c in range(filters):
                        v = acc[c]
                        out[dst + _U(c)] = _ZERO if v < _ZERO else v + _ZERO
                    continue
                if code != NONE:
                    _activate_run(acc, code, ex, en, tt)
                for c in range(filters):
                    out[dst + _U(c)] = acc[c]


#: A ring slot that holds no input row (far below any row's key, so never one an output row reads).
_EMPTY = -(2**62)


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _slot(held, key, first, dh):  # pragma: no cover - compiled
    """(slot, fresh) of input row ``key`` in a ring whose slots hold the rows ``held`` (``_EMPTY``: none): the slot
    that holds it, or (fresh) a slot whose row the current output row does not read (it reads rows first, first +
    dh, ..., one a slot), now marked as holding it.  With a dilation the oldest row may still be read: output row 1
    of a 2-tap kernel at dilation 2 reads rows 1 and 3 after row 0 read 0 and 2."""
    for s in range(held.shape[0]):
        if held[s] == key:
            return s, False
    last = first + (held.shape[0] - 1) * dh
    for s in range(held.shape[0]):
        k = held[s]
        if k < first or k > last or (k - first) % dh != 0:
            held[s] = key
            return s, True
    held[0] = key  # not reached: the current row is read and not held, so some slot holds a row that is not
    return 0, True


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _fill_ring(xf, ring, held, rows, n, oh, h_in, w_in, sh, ph, dh, width, lo, first, copied,
               channels):  # pragma: no cover - compiled
    """For output row ``oh`` of image n, rows[kh] = where in ``ring`` (rows ``width`` cells long, zero-padded) the
    input row of kernel row kh starts: the ring's last row, all zeros, for a row off the input; else its slot
    (``_slot``), into which it is copied the first time (``copied`` values from input cell ``first`` to padded
    cell ``lo``).  The depthwise kernels' ring (``depthwise_ring_rows``, ``depthwise_narrow``)."""
    k_h = rows.shape[0]
    for kh in range(k_h):
        ih = oh * sh - ph + kh * dh
        if ih < 0 or ih >= h_in:
            rows[kh] = k_h * width
            continue
        key = n * h_in + ih
        slot, fresh = _slot(held, key, n * h_in + oh * sh - ph, dh)
        rows[kh] = slot * width
        if fresh:
            dst = _U(slot * width + lo * channels)
            src = _U((key * w_in + first) * channels)
            for i in range(copied):
                ring[dst + _U(i)] = xf[src + _U(i)]


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def grouped_rows(x, w, out, j0, j1, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """out[n, oh, ow, g * f_g + f] = sum_{kh, kw, c} x[n, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw, g * c_g + c]
    * w[kh, kw, c, f, g] for the output rows j0 <= n * O_h + oh < j1 (no bias); taps outside the input read zero.
    w is (K_h, K_w, c_g, f_g, groups): group-minor, so that the innermost loop runs over the groups with unit
    stride.  Each input row is copied once into a ring of K_h rows with its channels group-minor (c * groups + g),
    and each output row is accumulated group-minor (f * groups + g) and put back in order at the end."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    o_h, o_w, filters = out.shape[1], out.shape[2], out.shape[3]
    k_h, k_w, c_g, f_g, groups = w.shape
    xf, wf, of = x.ravel(), w.ravel(), out.ravel()
    row_in = w_in * channels
    ring = np.empty(k_h * row_in, np.float32)
    held = np.full(k_h, _EMPTY, np.int64)
    acc = np.empty(o_w * filters, np.float32)
    gu = _U(groups)
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        for i in range(o_w * filters):
            acc[i] = _ZERO
        for kh in range(k_h):
            ih = oh * sh - ph + kh * dh
            if ih < 0 or ih >= h_in:
                continue
            key = n * h_in + ih
            slot, fresh = _slot(held, key, n * h_in + oh * sh - ph, dh)
            if fresh:
                src = _U(key * row_in)
                dst = _U(slot * row_in)
                for iw in range(w_in):
                    at = _U(iw * channels)
                    for g in range(groups):
                        for c in range(c_g):
                            ring[dst + at + _U(c) * gu + _U(g)] = xf[src + at + _U(g * c_g + c)]
            rb = _U(slot * row_in)
            for kw in range(k_w):
                off, lo, hi = _columns(kw, dw, pw, sw, w_in, o_w)
                wk = _U((kh * k_w + kw) * c_g * f_g) * gu
                for ow in range(lo, hi):
                    xo = rb + _U((ow * sw + off) * channels)
                    ao = _U(ow * filters)
                    for c in range(c_g):
                        xc = xo + _U(c) * gu
                        for f in range(f_g):
                            wc = wk + _U(c * f_g + f) * gu
                            af = ao + _U(f) * gu
                            for g in range(groups):
                                acc[af + _U(g)] += ring[xc + _U(g)] * wf[wc + _U(g)]
        base = _U(j * o_w * filters)
        for ow in range(o_w):
            ao = _U(ow * filters)
            for g in range(groups):
                for f in range(f_g):
                    of[base + ao + _U(g * f_g + f)] = acc[ao + _U(f) * gu + _U(g)]


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def im2col_rows(x, cols, j0, j1, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """cols[(j - j0) * o_w + ow, (kh * k_w + kw) * C + c] = x[n, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw, c] for the
    output rows j0 <= j = n * o_h + oh < j1, zero where the tap falls outside the input (no padded copy).  A window
    row that lies wholly inside the input with dw = 1 is one run of k_w * C cells, copied as one."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    xf, cf = x.ravel(), cols.ravel()
    width = k_h * k_w * channels
    span = k_w * channels
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        base = _U((j - j0) * o_w * width)
        for kh in range(k_h):
            ih = oh * sh - ph + kh * dh
            col = _U(kh * span)
            if ih < 0 or ih >= h_in:
                for ow in range(o_w):
                    at = base + _U(ow * width) + col
                    for i in range(span):
                        cf[at + _U(i)] = _ZERO
                continue
            src = (n * h_in + ih) * w_in
            for ow in range(o_w):
                at = base + _U(ow * width) + col
                iw = ow * sw - pw
                if dw == 1 and iw >= 0 and iw + k_w <= w_in:
                    xo = _U((src + iw) * channels)
                    for i in range(span):
                        cf[at + _U(i)] = xf[xo + _U(i)]
                    continue
                for kw in range(k_w):
                    cw = iw + kw * dw
                    ao = at + _U(kw * channels)
                    if cw < 0 or cw >= w_in:
                        for c in range(channels):
                            cf[ao + _U(c)] = _ZERO
                    else:
                        xo = _U((src + cw) * channels)
                        for c in range(channels):
                            cf[ao + _U(c)] = xf[xo + _U(c)]


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def im2col_taps(x, cols, j0, j1, o_h, o_w, k_h, k_w, sh, ph, pw, dh, dw):  # pragma: no cover - compiled
    """The im2col columns tap-major, for one input channel and stride 1 along the width: cols[kh * k_w + kw,
    (j - j0) * o_w + ow] = x[n, oh*sh + kh*dh - ph, ow + kw*dw - pw, 0] for the output rows j0 <= j = n * o_h + oh
    < j1, zero where the tap falls outside the input.  Each tap's output row is one run of the input row.  The
    bounds of each run are worked out once per tap column (an integer division per run cost 3x the copy)."""
    h_in, w_in = x.shape[1], x.shape[2]
    xf, cf = x.ravel(), cols.ravel()
    length = cols.shape[1]
    first = np.empty(k_w, np.int64)  # per kw: the outputs ow in [first, stop) read inside the input
    stop = np.empty(k_w, np.int64)
    for kw in range(k_w):
        shift = kw * dw - pw
        first[kw] = min(o_w, max(0, -shift))
        stop[kw] = max(first[kw], min(o_w, w_in - shift))
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        base = (j - j0) * o_w
        for kh in range(k_h):
            ih = oh * sh - ph + kh * dh
            inside = ih >= 0 and ih < h_in
            src = (n * h_in + ih) * w_in
            for kw in range(k_w):
                at = _U((kh * k_w + kw) * length + base)
                lo = first[kw] if inside else o_w
                hi = stop[kw] if inside else o_w
                for ow in range(lo):
                    cf[at + _U(ow)] = _ZERO
                xo = src + kw * dw - pw
                for ow in range(lo, hi):
                    cf[at + _U(ow)] = xf[_U(xo + ow)]
                for ow in range(hi, o_w):
                    cf[at + _U(ow)] = _ZERO


_MINUS_INF = F(-np.inf)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def pool_rows(x, div, out, j0, j1, k_h, k_w, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    """Window reduction over the taps inside x, for the output rows j0 <= n * O_h + oh < j1, of the cells
    x[n, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw, c]: with ``div`` empty the max (-inf for a window with no tap
    inside; NaN wins, as numpy's maximum), else the sum divided by div[oh, ow] (an average pool's counts).  Each
    row is reduced tap by tap along the channels, the loop that vectorises."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    o_h, o_w = out.shape[1], out.shape[2]
    xf, of = x.ravel(), out.ravel()
    average = div.shape[0] > 0
    start = _ZERO if average else _MINUS_INF
    row_len = o_w * channels
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        base = _U(j * row_len)
        for i in range(row_len):
            of[base + _U(i)] = start
        for kh in range(k_h):
            ih = oh * sh - ph + kh * dh
            if ih < 0 or ih >= h_in:
                continue
            src = _U((n * h_in + ih) * w_in * channels)
            for kw in range(k_w):
                off, lo, hi = _columns(kw, dw, pw, sw, w_in, o_w)
                for ow in range(lo, hi):
                    xo = src + _U((ow * sw + off) * channels)
                    oo = base + _U(ow * channels)
                    if average:
                        for c in range(channels):
                            cu = _U(c)
                            of[oo + cu] += xf[xo + cu]
                    else:
                        for c in range(channels):
                            cu = _U(c)
                            v = xf[xo + cu]
                            m = of[oo + cu]
                            of[oo + cu] = v if (v > m or v != v) else m
        if average:
            for ow in range(o_w):
                d = div[oh, ow]
                oo = base + _U(ow * channels)
                for c in range(channels):
                    of[oo + _U(c)] /= d


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def depthwise_ring_rows(x, w, b, out, j0, j1, sh, ph, pw, dh, dw, code):  # pragma: no cover - compiled
    """``depthwise_rows`` at stride 1 along the width for kernels 3, 5 or 7 wide: each input row a window reads is
    copied once, padded with zeros, into a ring of K_h rows (a row off the input is a row of zeros), so that every
    output cell reads all its taps without bounds checks; the taps of a kernel row (or all 9 of a 3x3) are summed
    in registers before the output is stored.  The tap by tap loop stores the output once per tap: 3x3 over
    28x28x88, batch 8, 0.61 -> 0.42 ms, 5x5 over 14x14x240 0.70 -> 0.53 (one thread)."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    o_h, o_w = out.shape[1], out.shape[2]
    k_h, k_w = w.shape[0], w.shape[1]
    xf, wf, of = x.ravel(), w.ravel(), out.ravel()
    ex, en, tt = _activation_scratch()
    row_len = o_w * channels
    cells = o_w + (k_w - 1) * dw  # a padded row
    width = cells * channels
    ring = np.zeros((k_h + 1) * width, np.float32)  # the last row stays zeros
    held = np.full(k_h, _EMPTY, np.int64)
    rows = np.empty(k_h, np.uint64)
    c_u = _U(channels)
    lo = min(max(0, pw), cells)  # the first padded cell that holds an input cell, and the first input cell
    first = max(0, -pw)
    copied = max(0, min(w_in - first, cells - lo)) * channels
    d = _U(dw * channels)
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        _fill_ring(xf, ring, held, rows, n, oh, h_in, w_in, sh, ph, dh, width, lo, first, copied, channels)
        base = _U(j * row_len)
        if k_h == 3 and k_w == 3:  # all nine taps at once
            r0, r1, r2 = rows[0], rows[1], rows[2]
            w1, w2 = c_u, c_u + c_u
            for ow in range(o_w):
                oo = base + _U(ow) * c_u
                a0 = r0 + _U(ow) * c_u
                a1 = r1 + _U(ow) * c_u
                a2 = r2 + _U(ow) * c_u
                for c in range(channels):
                    cu = _U(c)
                    of[oo + cu] = (b[c] + ring[a0 + cu] * wf[cu] + ring[a0 + d + cu] * wf[w1 + cu]
                                   + ring[a0 + d + d + cu] * wf[w2 + cu]
                                   + ring[a1 + cu] * wf[_U(3) * c_u + cu] + ring[a1 + d + cu] * wf[_U(4) * c_u + cu]
                                   + ring[a1 + d + d + cu] * wf[_U(5) * c_u + cu]
                                   + ring[a2 + cu] * wf[_U(6) * c_u + cu] + ring[a2 + d + cu] * wf[_U(7) * c_u + cu]
                                   + ring[a2 + d + d + cu] * wf[_U(8) * c_u + cu])
        else:
            for ow in range(o_w):
                oo = base + _U(ow) * c_u
                for c in range(channels):
                    of[oo + _U(c)] = b[c]
            for kh in range(k_h):
                wk = _U(kh * k_w) * c_u
                w1 = wk + c_u
                w2 = w1 + c_u
                w3 = w2 + c_u
                w4 = w3 + c_u
                for ow in range(o_w):
                    oo = base + _U(ow) * c_u
                    a = rows[kh] + _U(ow) * c_u
                    if k_w == 3:
                        for c in range(channels):
                            cu = _U(c)
                            of[oo + cu] += (ring[a + cu] * wf[wk + cu] + ring[a + d + cu] * wf[w1 + cu]
                                            + ring[a + d + d + cu] * wf[w2 + cu])
                    elif k_w == 5:
                        for c in range(channels):
                            cu = _U(c)
                            of[oo + cu] += (ring[a + cu] * wf[wk + cu] + ring[a + d + cu] * wf[w1 + cu]
                                            + ring[a + _U(2) * d + cu] * wf[w2 + cu]
                                            + ring[a + _U(3) * d + cu] * wf[w3 + cu]
                                            + ring[a + _U(4) * d + cu] * wf[w4 + cu])
                    else:  # 7
                        w5 = w4 + c_u
                        w6 = w5 + c_u
                        for c in range(channels):
                            cu = _U(c)
                            of[oo + cu] += (ring[a + cu] * wf[wk + cu] + ring[a + d + cu] * wf[w1 + cu]
                                            + ring[a + _U(2) * d + cu] * wf[w2 + cu]
                                            + ring[a + _U(3) * d + cu] * wf[w3 + cu]
                                            + ring[a + _U(4) * d + cu] * wf[w4 + cu]
                                            + ring[a + _U(5) * d + cu] * wf[w5 + cu]
                                            + ring[a + _U(6) * d + cu] * wf[w6 + cu])
        if code != NONE:
            _activate_run(of[base:base + _U(row_len)], code, ex, en, tt)




def _call_kernel(typingctx, address, args):  # pragma: no cover - compiled
    """Call the LLVM kernel at ``address`` (an int: ``compiled._at``) with ``args``, a tuple of ints (pointers and
    int64s alike, each passed as a 64-bit integer, as the x86-64 calling convention passes both).  numba types a
    ctypes function passed as an argument anew on every call (about 1.1 us each, four or six of them a layer);
    an int costs nothing."""
    if not isinstance(address, types.Integer) or not isinstance(args, types.BaseTuple) or not all(
            isinstance(t, types.Integer) for t in args):  # type: ignore[attr-defined]
        return None

    def codegen(context, builder, signature, values):
        import llvmlite.ir as ir

        i64 = ir.IntType(64)
        at, packed = values
        items = []
        for i, kind in enumerate(signature.args[1]):
            item = builder.extract_value(packed, i)
            if item.type.width < 64:
                item = builder.sext(item, i64) if kind.signed else builder.zext(item, i64)
            items.append(item)
        kernel = builder.inttoptr(at, ir.FunctionType(ir.VoidType(), [i64] * len(items)).as_pointer())
        builder.call(kernel, items)
        return context.get_dummy_value()

    return types.none(address, args), codegen


_call: Any = intrinsic(_call_kernel)


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _narrow_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, a_at, lda, by_col,
                   w_at, w_step, b_at, b_step, out_at, ldc, m, inner):  # pragma: no cover - compiled
    """m rows of out (at out_at, ldc cells apart) = a @ w + b by the LLVM kernels of ``archcalc.engine.narrow``,
    chunk by chunk of ``width`` output columns (the last chunk's kernels for the last): ``*_main`` ``*_rows`` rows
    at a time, ``*_tail`` a row at a time.  a's (r, c) at a_at + (r * lda + c) cells, or (c * lda + r) with
    ``by_col``; chunk c of w and b (``narrow.pack``) at w_at + c * w_step and b_at + c * b_step bytes."""
    item = 4
    for c in range(chunks):
        last = c == chunks - 1
        rows_at_once = last_rows if last else full_rows
        wp = w_at + c * w_step
        bp = b_at + c * b_step
        target = out_at + c * width * item
        body = m - m % rows_at_once
        if body > 0:
            if last:
                _call(last_main, (a_at, wp, bp, target, body, inner, lda, ldc))
            else:
                _call(full_main, (a_at, wp, bp, target, body, inner, lda, ldc))
        if body < m:
            skip = a_at + (body if by_col else body * lda) * item
            if last:
                _call(last_tail, (skip, wp, bp, target + body * ldc * item, m - body, inner, lda, ldc))
            else:
                _call(full_tail, (skip, wp, bp, target + body * ldc * item, m - body, inner, lda, ldc))


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _activate_step(out, flat, r0, m, code, ex, en, tt):  # pragma: no cover - compiled
    """The activation ``code`` (not relu: the narrow kernels do that) on out's rows r0 <= r < r0 + m while in cache:
    on ``flat`` (out's cells as one run, when out is contiguous; else empty), or row by row."""
    if code != NONE and code != RELU:
        if flat.shape[0] > 0:
            n = out.shape[1]
            _activate_run(flat[r0 * n:(r0 + m) * n], code, ex, en, tt)
        else:
            for r in range(r0, r0 + m):
                _activate_run(out[r], code, ex, en, tt)


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _narrow_step(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, a_at, lda, by_col, w,
                 b, out, flat, r0, m, code, ex, en, tt):  # pragma: no cover - compiled
    """out's rows r0 <= r < r0 + m = act(a @ w + b) (``_narrow_chunks``; the bias and a relu inside the kernels):
    w and b packed (``narrow.pack``: (chunks, K * width), (chunks, width)); out (rows, F) with rows of unit stride.
    Then the activation ``code`` on those rows (``_activate_step``)."""
    item = out.itemsize
    n = out.shape[1]
    ldc = out.strides[0] // item if out.shape[0] > 1 else n
    _narrow_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, a_at, lda, by_col,
                   w.ctypes.data, w.strides[0], b.ctypes.data, b.strides[0], out.ctypes.data + r0 * ldc * item, ldc,
                   m, w.shape[1] // width)
    _activate_step(out, flat, r0, m, code, ex, en, tt)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def narrow_rows(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, a, w, b, out, flat, code,
                step, res):  # pragma: no cover - compiled
    """out = act(a @ w + b + res) (``_narrow_step``), ``step`` rows at a time: a (rows, K) with rows of unit stride,
    out (rows, F) likewise.  ``res``, out's residual cells as one run (out contiguous, ``flat`` its cells), or empty:
    then the kernels leave out relu (the caller builds them without), and each step's rows get the residual and the
    activation while in cache.  One call per thread and layer."""
    item = a.itemsize
    lda = a.strides[0] // item if a.shape[0] > 1 else a.shape[1]
    ex, en, tt = _activation_scratch()
    rows, n = a.shape[0], out.shape[1]
    has_r = res.shape[0] > 0
    relu = code == RELU
    for r0 in range(0, rows, step):
        m = min(step, rows - r0)
        _narrow_step(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width,
                     a.ctypes.data + r0 * lda * item, lda, False, w, b, out, flat, r0, m, NONE if has_r else code, ex,
                     en, tt)
        if has_r:
            start = _U(r0 * n)
            _finish_row(flat, start, res, res, res, start, flat, start, m * n, False, False, True, relu)
            _activate_step(out, flat, r0, m, code, ex, en, tt)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def im2col_narrow(x, cols, j0, j1, step, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw, by_tap, full_main, full_tail,
                  full_rows, last_main, last_tail, last_rows, chunks, width, w, b, out, flat,
                  code):  # pragma: no cover - compiled
    """A dense 2-D conv's output rows j0 <= j = n * o_h + oh < j1, ``step`` rows at a time, in one call: the im2col
    columns of a step gathered into ``cols`` (``im2col_rows``, or ``im2col_taps`` with ``by_tap``, cols then
    (taps, step * o_w)), then multiplied and finished into out's rows by ``_narrow_step`` (out (N * O_h * O_w,
    F)).  One call per thread and layer: each return to Python takes the GIL, and on a VM handing it between
    threads costs tens of microseconds."""
    lda = cols.shape[1] if by_tap else w.shape[1] // width
    ex, en, tt = _activation_scratch()
    for s0 in range(j0, j1, step):
        s1 = min(s0 + step, j1)
        if by_tap:
            im2col_taps(x, cols, s0, s1, o_h, o_w, k_h, k_w, sh, ph, pw, dh, dw)
        else:
            im2col_rows(x, cols, s0, s1, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw)
        _narrow_step(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, cols.ctypes.data,
                     lda, by_tap, w, b, out, flat, s0 * o_w, (s1 - s0) * o_w, code, ex, en, tt)


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _indexed_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, a_at, lda,
                    offsets, w, b, out_at, ldc, m):  # pragma: no cover - compiled
    """``_narrow_chunks`` by indexed kernels (``narrow.kernels(..., indexed=True)``): a's (r, k) at a_at + (r * lda
    + offsets[k]) cells, w and b packed (chunks, K * width), (chunks, width); out's m rows from out_at."""
    item = 4
    inner = offsets.shape[0]
    for c in range(chunks):
        last = c == chunks - 1
        rows_at_once = last_rows if last else full_rows
        wp = w.ctypes.data + c * w.strides[0]
        bp = b.ctypes.data + c * b.strides[0]
        target = out_at + c * width * item
        body = m - m % rows_at_once
        if body > 0:
            if last:
                _call(last_main, (a_at, wp, bp, target, body, inner, lda, ldc, offsets.ctypes.data))
            else:
                _call(full_main, (a_at, wp, bp, target, body, inner, lda, ldc, offsets.ctypes.data))
        if body < m:
            skip = a_at + body * lda * item
            if last:
                _call(last_tail, (skip, wp, bp, target + body * ldc * item, m - body, inner, lda, ldc,
                                  offsets.ctypes.data))
            else:
                _call(full_tail, (skip, wp, bp, target + body * ldc * item, m - body, inner, lda, ldc,
                                  offsets.ctypes.data))


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def _gather_cells(x, cf, n, top, ow0, ow1, k_h, k_w, sw, pw, dh, dw):  # pragma: no cover - compiled
    """The im2col rows of output cells ow0 <= ow < ow1 of the output row whose window starts at input row ``top``
    of image n, into cf from its start (zeros where a tap falls outside the input)."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    xf = x.ravel()
    width = k_h * k_w * channels
    for ow in range(ow0, ow1):
        _gather_window(xf, cf, (ow - ow0) * width, n, top, ow * sw - pw, k_h, k_w, dh, dw, h_in, w_in, channels)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def direct_narrow(x, cols, j0, j1, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw, full_main, full_tail, full_rows,
                  last_main, last_tail, last_rows, chunks, width, w, b, out, flat, code):  # pragma: no cover - compiled
    """A dense 2-D conv's output rows j0 <= j = n * o_h + oh < j1 without an im2col copy where the window lies inside
    the input: the indexed LLVM kernels of ``archcalc.engine.narrow`` read each output cell's taps in place (cell
    ow's inner column (kh, kw, c) at (kh * dh * W + kw * dw) * C + c cells from its window's corner, cells
    sw * C apart).  Cells whose window crosses the input's edge (the first and last rows and columns) are gathered
    into ``cols`` first.  Then the activation ``code`` (not relu: that is in the kernels) on each row.  out
    (N * O_h * O_w, F), w and b packed (``narrow.pack``)."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    inner = k_h * k_w * channels
    offsets = np.empty(inner, np.int64)
    gathered = np.empty(inner, np.int64)
    for kh in range(k_h):
        for kw in range(k_w):
            for c in range(channels):
                k = (kh * k_w + kw) * channels + c
                offsets[k] = (kh * dh * w_in + kw * dw) * channels + c
                gathered[k] = k
    lo = min(o_w, max(0, -(-pw // sw)))  # the first and last + 1 cells whose windows lie inside along the width
    hi = max(lo, min(o_w, (w_in - 1 - (k_w - 1) * dw + pw) // sw + 1))
    item = 4
    ldc = out.strides[0] // item if out.shape[0] > 1 else out.shape[1]
    cf = cols.ravel()
    ex, en, tt = _activation_scratch()
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        top = oh * sh - ph
        first = j * o_w
        row_at = out.ctypes.data + first * ldc * item
        if top >= 0 and top + (k_h - 1) * dh < h_in and hi > lo:
            corner = x.ctypes.data + ((n * h_in + top) * w_in + lo * sw - pw) * channels * item
            _indexed_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width, corner,
                            sw * channels, offsets, w, b, row_at + lo * ldc * item, ldc, hi - lo)
            if lo > 0:
                _gather_cells(x, cf, n, top, 0, lo, k_h, k_w, sw, pw, dh, dw)
                _indexed_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width,
                                cols.ctypes.data, inner, gathered, w, b, row_at, ldc, lo)
            if hi < o_w:
                _gather_cells(x, cf, n, top, hi, o_w, k_h, k_w, sw, pw, dh, dw)
                _indexed_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width,
                                cols.ctypes.data, inner, gathered, w, b, row_at + hi * ldc * item, ldc, o_w - hi)
        else:
            _gather_cells(x, cf, n, top, 0, o_w, k_h, k_w, sw, pw, dh, dw)
            _indexed_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width,
                            cols.ctypes.data, inner, gathered, w, b, row_at, ldc, o_w)
        _activate_step(out, flat, first, o_w, code, ex, en, tt)


@njit(inline="always", fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def spread_stride(n):  # pragma: no cover - compiled
    """n cells rounded up to whole 64-byte lines, then an odd number of lines: the start of each of a tile's points,
    this many cells apart, falls in a different set of the L1 cache.  (Points 2^k bytes apart, 36 of them, share
    one set of 8 ways: the CIFAR-10 net's 32x32 32->32 input transform took twice the time.)"""
    s = (n + 15) // 16 * 16
    return s + 16 if (s // 16) % 2 == 0 else s


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def winograd_narrow(x, ph, pw, m_h, m_w, a_h, a_w, k_in, k_out, v_buf, m_buf, d_buf, y_buf, u, full_main, full_tail,
                    full_rows, last_main, last_tail, last_rows, chunks, width, zeros, b, code, out, base, s_n, s_r,
                    s_q, o_h, o_w, tw, filters, pieces):  # pragma: no cover - compiled
    """Winograd for the chunks ``pieces`` (rows of (first image, first tile row, tile rows, tiles)) in one call, by
    LLVM kernels (``archcalc.engine.narrow``): each tile's input transform (``k_in``, from x where the tile lies
    inside it, else from its cells gathered into d_buf with zeros outside) into v_buf, point p of every tile
    ``spread_stride`` cells after point p - 1; the a_h * a_w products (tiles, C) @ (C, F) (``_narrow_chunks``, u
    packed per point: (a_h * a_w, chunks, C * width); ``zeros`` the packed zero bias) into m_buf, likewise spread;
    each tile's output transform with the bias b (``k_out`` adds it and a relu, as built) into its output cells,
    through y_buf where the tile hangs over the map's edge, then the activation ``code`` if not relu.  ``out`` is
    flat, cell (n, r, q) starting at base + n * s_n + r * s_r + q * s_q.  v_buf and m_buf are flat, large enough
    for the largest chunk (a_h * a_w points of ``spread_stride(tiles * C)``).  One call per thread and layer."""
    a2, c_in = u.shape[0], x.shape[3]
    h_in, w_in = x.shape[1], x.shape[2]
    item = 4
    x_at, v_at, m_at, d_at, y_at = x.ctypes.data, v_buf.ctypes.data, m_buf.ctypes.data, d_buf.ctypes.data, \
        y_buf.ctypes.data
    b_at = b.ctypes.data if b.shape[0] > 0 else zeros.ctypes.data
    xf, df, yf = x.ravel(), d_buf.ravel(), y_buf.ravel()
    ex, en, tt = _activation_scratch()
    after = code != NONE and code != RELU
    for i in range(pieces.shape[0]):
        n0, r0, rt, n_tiles = pieces[i, 0], pieces[i, 1], pieces[i, 2], pieces[i, 3]
        pv, pm = spread_stride(n_tiles * c_in), spread_stride(n_tiles * filters)
        for t in range(n_tiles):
            n, row, column = _tile(t, n0, r0, rt, tw)
            top, left = row * m_h - ph, column * m_w - pw
            dst = v_at + t * c_in * item
            if top >= 0 and left >= 0 and top + a_h <= h_in and left + a_w <= w_in:
                _call(k_in, (x_at + ((n * h_in + top) * w_in + left) * c_in * item, w_in * c_in, c_in, dst, a_w * pv,
                             pv, c_in, b_at))
                continue
            _gather_window(xf, df, 0, n, top, left, a_h, a_w, 1, 1, h_in, w_in, c_in)
            _call(k_in, (d_at, a_w * c_in, c_in, dst, a_w * pv, pv, c_in, b_at))
        for p in range(a2):
            _narrow_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width,
                           v_at + p * pv * item, c_in, False, u.ctypes.data + p * u.strides[0], u.strides[1],
                           zeros.ctypes.data, zeros.strides[0], m_at + p * pm * item, filters, n_tiles, c_in)
        for t in range(n_tiles):
            n, row, column = _tile(t, n0, r0, rt, tw)
            top, left = row * m_h, column * m_w
            src = m_at + t * filters * item
            corner = base + n * s_n + top * s_r + left * s_q
            if top + m_h <= o_h and left + m_w <= o_w:
                _call(k_out, (src, a_w * pm, pm, out.ctypes.data + corner * item, s_r, s_q, filters, b_at))
                if after:
                    for k in range(m_h):
                        for q in range(m_w):
                            cell = corner + k * s_r + q * s_q
                            _activate_run(out[cell:cell + filters], code, ex, en, tt)
                continue
            _call(k_out, (src, a_w * pm, pm, y_at, m_w * filters, filters, filters, b_at))
            for k in range(min(m_h, o_h - top)):
                for q in range(min(m_w, o_w - left)):
                    at = _U((k * m_w + q) * filters)
                    cell = corner + k * s_r + q * s_q
                    for c in range(filters):
                        out[cell + c] = yf[at + _U(c)]
                    if after:
                        _activate_run(out[cell:cell + filters], code, ex, en, tt)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def depthwise_narrow(x, w, b, out, j0, j1, sh, sw, ph, pw, dh, dw, code, cells_main, cell_tail,
                     at_once):  # pragma: no cover - compiled
    """``depthwise_rows`` by the LLVM kernels of ``archcalc.engine.narrow`` (``depthwise``: ``cells_main`` takes
    ``at_once`` output cells at a time, the last of a row overlapping the block before; ``cell_tail`` a row of fewer
    cells, one at a time): each input row a window reads is copied
    once, zero-padded, into a ring of K_h rows (a row off the input reads a row of zeros), and each output row is one
    or two kernel calls with the bias, and relu if ``code`` says so; another activation ``code`` after, on the row
    while in cache.  Any stride and dilation."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    o_h, o_w = out.shape[1], out.shape[2]
    k_h, k_w = w.shape[0], w.shape[1]
    xf, of = x.ravel(), out.ravel()
    ex, en, tt = _activation_scratch()
    row_len = o_w * channels
    cells = (o_w - 1) * sw + (k_w - 1) * dw + 1  # a padded row
    width = cells * channels
    ring = np.zeros((k_h + 1) * width, np.float32)  # the last row stays zeros
    held = np.full(k_h, _EMPTY, np.int64)
    rows = np.empty(k_h, np.int64)
    lo = min(max(0, pw), cells)  # the first padded cell that holds an input cell, and the first input cell
    first = max(0, -pw)
    copied = max(0, min(w_in - first, cells - lo)) * channels
    body = o_w - o_w % at_once
    after = code != NONE and code != RELU
    item = 4
    ring_at, rows_at, w_at, b_at, out_at = ring.ctypes.data, rows.ctypes.data, w.ctypes.data, b.ctypes.data, \
        out.ctypes.data
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        _fill_ring(xf, ring, held, rows, n, oh, h_in, w_in, sh, ph, dh, width, lo, first, copied, channels)
        target = out_at + j * row_len * item
        if body > 0:
            _call(cells_main, (ring_at, rows_at, w_at, b_at, target, body, channels, sw * channels, dw * channels))
            if body < o_w:  # the last cells once more with the cells before them: the one-cell kernel is 2x slower
                last = o_w - at_once
                _call(cells_main, (ring_at + last * sw * channels * item, rows_at, w_at, b_at,
                                   target + last * channels * item, at_once, channels, sw * channels, dw * channels))
        else:
            _call(cell_tail, (ring_at, rows_at, w_at, b_at, target, o_w, channels, sw * channels, dw * channels))
        if after:
            _activate_run(of[j * row_len:(j + 1) * row_len], code, ex, en, tt)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def im2col_group(x, cols, j0, j1, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw, c0, cg):  # pragma: no cover - compiled
    """``im2col_rows`` for one group's channels c0 <= c < c0 + cg: cols[(j - j0) * o_w + ow, (kh * k_w + kw) * cg +
    c - c0] = x[n, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw, c], zero where the tap falls outside the input."""
    h_in, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    xf, cf = x.ravel(), cols.ravel()
    width = k_h * k_w * cg
    for j in range(j0, j1):
        n = j // o_h
        oh = j - n * o_h
        base = (j - j0) * o_w * width
        for kh in range(k_h):
            ih = oh * sh - ph + kh * dh
            inside = ih >= 0 and ih < h_in
            src = (n * h_in + ih) * w_in
            for ow in range(o_w):
                iw = ow * sw - pw
                at = base + ow * width + kh * k_w * cg
                for kw in range(k_w):
                    cw = iw + kw * dw
                    ao = _U(at + kw * cg)
                    if not inside or cw < 0 or cw >= w_in:
                        for c in range(cg):
                            cf[ao + _U(c)] = _ZERO
                    else:
                        xo = _U((src + cw) * channels + c0)
                        for c in range(cg):
                            cf[ao + _U(c)] = xf[xo + _U(c)]


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def grouped_narrow(x, cols, j0, j1, step, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw, groups, full_main, full_tail,
                   full_rows, last_main, last_tail, last_rows, chunks, width, w, b, out, flat,
                   code):  # pragma: no cover - compiled
    """A grouped 2-D conv's output rows j0 <= j = n * o_h + oh < j1, ``step`` rows at a time, in one call: for each
    group, its channels' im2col columns gathered into ``cols`` (``im2col_group``) and multiplied by its weights by
    the LLVM kernels of ``archcalc.engine.narrow`` (``_narrow_chunks``; w and b packed per group: (groups, chunks,
    taps * C_g * width), (groups, chunks, width)) into its channels of out's rows (out (N * O_h * O_w, F), rows of
    unit stride); then the activation ``code`` (not relu: the kernels did it) on the step's rows."""
    item = cols.itemsize
    cg = x.shape[3] // groups
    n = out.shape[1]
    fg = n // groups
    ldc = out.strides[0] // item if out.shape[0] > 1 else n
    inner = k_h * k_w * cg
    ex, en, tt = _activation_scratch()
    for s0 in range(j0, j1, step):
        s1 = min(s0 + step, j1)
        m = (s1 - s0) * o_w
        r0 = s0 * o_w
        for g in range(groups):
            im2col_group(x, cols, s0, s1, o_h, o_w, k_h, k_w, sh, sw, ph, pw, dh, dw, g * cg, cg)
            _narrow_chunks(full_main, full_tail, full_rows, last_main, last_tail, last_rows, chunks, width,
                           cols.ctypes.data, inner, False, w.ctypes.data + g * w.strides[0], w.strides[1],
                           b.ctypes.data + g * b.strides[0], b.strides[1],
                           out.ctypes.data + (r0 * ldc + g * fg) * item, ldc, m, inner)
        _activate_step(out, flat, r0, m, code, ex, en, tt)


@njit(fastmath=_FLAGS, error_model="numpy", nogil=True, cache=True)
def shuffle_rows(x, out, groups, r0, r1):  # pragma: no cover - compiled
    """out[r, j * groups + g] = x[r, g * per + j] (per = C / groups) for r0 <= r < r1: a channel shuffle, row by row
    (x and out (rows, C), each row contiguous).  Two groups as one loop of paired stores, which LLVM vectorises
    (numpy's strided copies ran at a third of it)."""
    per = x.shape[1] // groups
    for r in range(r0, r1):
        src, dst = x[r], out[r]
        if groups == 2:
            for j in range(per):
                dst[2 * j] = src[j]
                dst[2 * j + 1] = src[per + j]
        else:
            for g in range(groups):
                for j in range(per):
                    dst[j * groups + g] = src[g * per + j]
