"""Narrow matrix products in LLVM IR (``archcalc[fast]``): out = act(a @ w + bias) for w of up to 384 columns.

OpenBLAS runs products with few output columns and a short inner dimension at a fraction of its wide rate: the
im2col product of a 3-channel 3x3 first conv (27 columns in, 16-64 out) reaches 17-21 GMAC/s a thread, and it packs
both operands for every call.  Such products are every first conv of the zoo, the squeeze and projection 1x1
convs, Winograd's per-point products and the groups of grouped convs; on the first convs the engine trailed
PyTorch's direct kernels by 3-4x (CIFAR-10's 32x32x3 -> 32: 630 us against 136).

numba would not produce the kernel these need (its register-blocked form was not vectorised: 3-13 GMAC/s), so it is
built here with llvmlite, which numba installs: R rows at a time, each row's outputs held in ``<16 x float>``
registers across the whole inner dimension, one fused multiply-add per row, input column and 16 outputs, the bias
as the accumulators' start and relu applied on the way out; more than 96 columns in chunks (``layout``), weights and
bias zero-padded to 16 per chunk (``pack``).  45-56 GMAC/s a thread.

The kernels are built on first use, one module per column count (about 20 ms each), and only where the CPU has
AVX-512: the register budget (R rows x columns / 16 accumulators plus the weights' vectors, at most 32 registers)
is AVX-512's, and that is the only machine it was measured on.  Elsewhere, with ``ENABLED = False``
(``ARCHCALC_NARROW=0``) or without the compiled kernels, ``product`` returns False and the caller uses BLAS.
The engine calls them from numba loops (``compiled.im2col_narrow``, ``direct_narrow``, ``narrow_rows``,
``winograd_narrow``, ``grouped_narrow``), one call per thread and layer, by their addresses; ``product`` is the plain
entry (ctypes).  ``kernels(..., indexed=True)`` reads each inner column at its own offset: a first conv's taps read
in place from the input, without the im2col copy (``compiled.direct_narrow``).

Winograd's tile transforms (``transform``) and a depthwise conv's output rows (``depthwise``) are built here too, for
the same reason: numba's loops over a transform's rows, one small loop per coefficient, and its depthwise loops,
which load and store the output once per tap or kernel row, ran at a quarter of what the loads and stores allow.
Built from the transform's matrices, a tile's cells are loaded once, combined with the coefficients as constants
(zeros skipped, ones as adds) and stored, 16 channels at a time; a depthwise row's cells keep their sums in
registers over all the taps.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Callable

import numpy as np

from archcalc.engine import compiled

#: False sends every product to BLAS (the tests switch it to compare).
ENABLED = os.environ.get("ARCHCALC_NARROW", "1").strip().lower() not in ("0", "false", "no", "off")
#: Output columns one kernel pass holds in registers, at most: a product of more is made in chunks of equal width
#: (``layout``), each pass over rows still in cache.  A chunk's weights and bias are padded with zeros to a multiple
#: of 16 (``pack``), and the last register's real columns are stored one by one.
CHUNK_COLUMNS = 96
#: Output columns the engine gives the kernels, at most (chunks of up to 96; measured ahead of OpenBLAS up to 960 at
#: small inner dimensions, 5-15 % from 128 on).
MAX_COLUMNS = 384
#: Rows at a time per 16-column count (measured best, 32768 rows, 27-363 inner: 45-56 GMAC/s a thread).
ROWS_AT_ONCE = {1: 8, 2: 8, 3: 4, 4: 4, 5: 3, 6: 4}

_kernels: dict[tuple, Any] = {}
_state: dict[Any, Any] = {}
_lock = threading.Lock()
_SIGNATURE = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 4, *[ctypes.c_int64] * 4)
_INDEXED_SIGNATURE = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 4, *[ctypes.c_int64] * 4, ctypes.c_void_p)
_DEPTHWISE_SIGNATURE = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 5, *[ctypes.c_int64] * 4)
_TRANSFORM_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)


def available() -> bool:
    """Whether the kernels can run here: switched on, the compiled kernels loaded, llvmlite built for a CPU with
    AVX-512.  (The engine also checks its paths through them once per process: ``kernels._narrow_available``.)"""
    if not ENABLED or not compiled.available(np.float32):
        return False
    if "host" not in _state:
        _state["host"] = _host_has_avx512()
    return bool(_state["host"])


def _host_has_avx512() -> bool:
    try:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        return bool(llvm.get_host_cpu_features().get("avx512f", False))
    except Exception:  # llvmlite missing or unable to find the host: BLAS does the products
        return False


def fits(w: np.ndarray) -> bool:
    """Whether ``product`` takes weights ``w`` (K, N): float32, C-contiguous, N at most ``MAX_COLUMNS``, on a
    machine where the kernels run."""
    return (w.ndim == 2 and w.dtype == np.float32 and w.flags.c_contiguous and w.shape[0] > 0
            and 0 < w.shape[1] <= MAX_COLUMNS and available())


def layout(columns: int) -> tuple[int, int]:
    """(chunks, chunk width) of a product of ``columns`` output columns: the fewest chunks of at most
    ``CHUNK_COLUMNS``, of equal width rounded up to 16 (the last may hold fewer real columns)."""
    chunks = -(-columns // CHUNK_COLUMNS)
    return chunks, -(-(-(-columns // chunks)) // 16) * 16


def pack(v: np.ndarray | None, columns: int, inner: int = 1) -> np.ndarray:
    """Weights (K, N), or a bias (N,) (None: zeros), as the kernels read them: (chunks, K * width) (a bias: K = 1),
    chunk c holding columns c * width up to (c + 1) * width, zero-padded to a multiple of 16 (the last chunk's
    K rows of ceil16(its real columns), so that its kernel reads its rows as wide as it holds them)."""
    chunks, width = layout(columns)
    if v is None:
        zeros = _state.get(("zeros", columns))
        if zeros is None:
            zeros = _state[("zeros", columns)] = np.zeros((chunks, width), np.float32)
        return zeros
    rows = v.reshape(inner, columns)
    if chunks == 1 and columns % 16 == 0 and rows.flags.c_contiguous:
        return rows.reshape(1, -1)
    packed = np.zeros((chunks, inner * width), np.float32)
    for c in range(chunks):
        lo, hi = c * width, min(columns, (c + 1) * width)
        wide = -(-(hi - lo) // 16) * 16
        packed[c, :inner * wide].reshape(inner, wide)[:, :hi - lo] = rows[:, lo:hi]
    return packed


def product(a: np.ndarray, w: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None,
            relu: bool = False) -> bool:
    """out = a @ w (+ bias, then max(., 0) with ``relu``; NaN stays NaN), or False (nothing done) when the kernels
    do not take these operands.  ``a`` (M, K) float32 with unit stride along either axis (a transposed view of
    tap-major columns is read as it lies), ``w`` as ``fits`` says, ``out`` (M, N) float32, rows of unit stride
    (a channel slice of a wider buffer is written in place), ``bias`` (N,) float32 or None.  The plain entry (it
    packs w per call); the engine calls the kernels from compiled loops (``compiled.narrow_rows``,
    ``compiled.im2col_narrow``)."""
    if not fits(w) or a.ndim != 2 or out.ndim != 2 or a.dtype != np.float32 or out.dtype != np.float32:
        return False
    m, k = a.shape
    n = w.shape[1]
    if k != w.shape[0] or out.shape != (m, n) or m == 0 or not out.flags.writeable:
        return False
    item = a.itemsize
    if (out.strides[1] != item and n > 1) or out.strides[0] < n * item or out.strides[0] % item:
        return False
    if a.strides[1] == item and (m == 1 or (a.strides[0] >= k * item and a.strides[0] % item == 0)):
        transposed = False
    elif a.strides[0] == item and (k == 1 or (a.strides[1] >= m * item and a.strides[1] % item == 0)):
        transposed = True
    else:
        return False
    if bias is not None and (bias.shape != (n,) or bias.dtype != np.float32 or not bias.flags.c_contiguous):
        return False
    wp, bp = pack(w, n, k), pack(bias, n)
    chunks, width, full, last = kernels(n, bool(relu), transposed)
    if transposed:
        lda = a.strides[1] // item if k > 1 else m
    else:
        lda = a.strides[0] // item if m > 1 else k
    ldc = out.strides[0] // item if m > 1 else n
    for c in range(chunks):
        main, tail, rows_at_once = last if c == chunks - 1 else full
        pointers = (wp[c].ctypes.data, bp[c].ctypes.data)
        target = out.ctypes.data + c * width * item
        body = m - m % rows_at_once
        if body:
            main(a.ctypes.data, *pointers, target, body, k, lda, ldc)
        if body < m:  # the last rows, one at a time
            skip = body if transposed else body * lda
            tail(a.ctypes.data + skip * item, *pointers, target + body * ldc * item, m - body, k, lda, ldc)
    return True


def kernels(columns: int, relu: bool, transposed: bool,
            indexed: bool = False) -> tuple[int, int, tuple[Any, Any, int], tuple[Any, Any, int]]:
    """(chunks, chunk width, kernels of a full chunk, kernels of the last chunk) for a product of ``columns`` (up to
    ``MAX_COLUMNS``, ``layout``) output columns, relu'd or not, a read as it lies or transposed.  The kernels of a
    chunk are (kernel of ``ROWS_AT_ONCE`` rows, kernel of one row, rows at once), each a ctypes function (a, w,
    bias, out, rows, inner, lda, ldc) of pointers and int64s (``_define``) reading its chunk of w and bias
    ``pack``ed; built on first use.  ``indexed``: the kernels take one more pointer last, to ``inner`` int64 offsets,
    and read a's element (r, c) at r * lda + offsets[c] (a conv's taps read in place: ``compiled.direct_narrow``)."""
    chunks, width = layout(columns)
    return (chunks, width, _chunk(width, relu, transposed, indexed),
            _chunk(columns - (chunks - 1) * width, relu, transposed, indexed))


def _chunk(columns: int, relu: bool, transposed: bool, indexed: bool = False) -> tuple[Any, Any, int]:
    """The kernels of one chunk of ``columns`` (up to ``CHUNK_COLUMNS``): built once per process."""
    key = (columns, relu, transposed, indexed)
    hit = _kernels.get(key)
    if hit is None:
        with _lock:
            hit = _kernels.get(key)
            if hit is None:
                hit = _kernels[key] = _build(columns, relu, transposed, indexed)
    return hit[0], hit[1], ROWS_AT_ONCE[-(-columns // 16)]


def _build(columns: int, relu: bool, transposed: bool, indexed: bool = False) -> tuple[Any, Any, Any]:
    """Compile the two kernels (rows at once, and one row) into one module; the engine object owns their code."""
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    module = ir.Module(name=f"narrow{columns}")
    module.triple = llvm.get_process_triple()
    _define(ir, module, "rows", columns, ROWS_AT_ONCE[-(-columns // 16)], relu, transposed, indexed)
    _define(ir, module, "row", columns, 1, relu, transposed, indexed)
    engine = _compile(llvm, module)
    signature = _INDEXED_SIGNATURE if indexed else _SIGNATURE
    return (signature(engine.get_function_address("rows")), signature(engine.get_function_address("row")),
            engine)


def _compile(llvm: Any, module: Any) -> Any:
    """The module compiled for this CPU: the execution engine that owns its code."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    engine = llvm.create_mcjit_compiler(parsed, machine)
    engine.finalize_object()
    return engine


def _define(ir: Any, module: Any, name: str, columns: int, rows_at_once: int, relu: bool, transposed: bool,
            indexed: bool = False) -> None:
    """name(a, w, bias, out, rows, inner, lda, ldc): for each block of ``rows_at_once`` rows (rows a multiple of
    it), accumulators start at the bias, take one fused multiply-add per inner column (a's value splatted, times
    w's row of 16 x ``vectors``, ``padded``), and the first ``columns`` of each row are stored (relu'd) to out's
    rows, ldc apart: whole registers, then the last one's real columns one by one.  a's element (r, c) is at
    r * lda + c, or at c * lda + r when ``transposed``, or at r * lda + offsets[c] when ``indexed`` (the offsets a
    last argument)."""
    vectors = -(-columns // 16)
    last = columns - 16 * (vectors - 1)  # real columns in the last register
    f32, i64, i32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
    v16 = ir.VectorType(f32, 16)
    extra = [i64.as_pointer()] if indexed else []
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [f32.as_pointer()] * 4 + [i64] * 4 + extra), name=name)
    a, w, bias, out, rows, inner, lda, ldc = fn.args[:8]
    offsets = fn.args[8] if indexed else None
    for arg in (a, w, bias, out):
        arg.add_attribute("noalias")
    fma = module.globals.get("llvm.fma.v16f32") or ir.Function(
        module, ir.FunctionType(v16, [v16, v16, v16]), name="llvm.fma.v16f32")
    entry, row_loop, col_loop, store, done = (
        fn.append_basic_block(n) for n in ("entry", "rows", "inner", "store", "done"))

    def const(v: int) -> Any:
        return ir.Constant(i64, v)

    zero = ir.Constant(v16, None)
    b = ir.IRBuilder(entry)
    loaded = [b.load(b.bitcast(b.gep(bias, [const(16 * j)]), v16.as_pointer()), align=4) for j in range(vectors)]
    blocks = b.udiv(rows, const(rows_at_once))
    b.cbranch(b.icmp_unsigned(">", blocks, const(0)), row_loop, done)

    b = ir.IRBuilder(row_loop)
    block = b.phi(i64, "block")
    block.add_incoming(const(0), entry)
    r0 = b.mul(block, const(rows_at_once))
    b.branch(col_loop)

    b = ir.IRBuilder(col_loop)
    c = b.phi(i64, "c")
    c.add_incoming(const(0), row_loop)
    accs = [[b.phi(v16) for _ in range(vectors)] for _ in range(rows_at_once)]
    for row in accs:
        for j, acc in enumerate(row):
            acc.add_incoming(loaded[j], row_loop)
    w_row = b.mul(c, const(16 * vectors))
    wv = [b.load(b.bitcast(b.gep(w, [b.add(w_row, const(16 * j))]), v16.as_pointer()), align=4)
          for j in range(vectors)]
    splat = ir.Constant(ir.VectorType(i32, 16), [0] * 16)
    column = b.load(b.gep(offsets, [c])) if offsets is not None else c
    new = []
    for i, row in enumerate(accs):
        r = b.add(r0, const(i))
        at = b.add(b.mul(c, lda), r) if transposed else b.add(b.mul(r, lda), column)
        one = b.insert_element(ir.Constant(v16, ir.Undefined), b.load(b.gep(a, [at]), align=4), ir.Constant(i32, 0))
        value = b.shuffle_vector(one, ir.Constant(v16, ir.Undefined), splat)
        new.append([b.call(fma, [value, wv[j], acc]) for j, acc in enumerate(row)])
    c_next = b.add(c, const(1))
    for row, values in zip(accs, new):
        for acc, value in zip(row, values):
            acc.add_incoming(value, col_loop)
    c.add_incoming(c_next, col_loop)
    b.cbranch(b.icmp_unsigned("<", c_next, inner), col_loop, store)

    b = ir.IRBuilder(store)
    for i, values in enumerate(new):
        target = b.gep(out, [b.mul(b.add(r0, const(i)), ldc)])
        for j, value in enumerate(values):
            if relu:  # a negative value becomes 0; NaN stays (numpy's maximum keeps it too)
                value = b.select(b.fcmp_ordered("<", value, zero), zero, value)
            if j < vectors - 1 or last == 16:
                b.store(value, b.bitcast(b.gep(target, [const(16 * j)]), v16.as_pointer()), align=4)
            else:
                for e in range(last):
                    b.store(b.extract_element(value, ir.Constant(i32, e)), b.gep(target, [const(16 * j + e)]), align=4)
    block_next = b.add(block, const(1))
    block.add_incoming(block_next, store)
    b.cbranch(b.icmp_unsigned("<", block_next, blocks), row_loop, done)
    ir.IRBuilder(done).ret_void()



def transform(left: np.ndarray, right: np.ndarray, bias: bool = False, relu: bool = False) -> Any:
    """The kernel of a Winograd tile transform y = left @ x @ right^T applied to each channel, built on first use
    (one per matrices and relu): a ctypes function (src, s_row, s_col, dst, d_row, d_col, channels, bias) of
    pointers and int64s.  Cell (k, l) of the input tile, k < left's columns and l < right's columns, starts at src
    + k * s_row + l * s_col cells; cell (i, j) of the output at dst + i * d_row + j * d_col; each holds ``channels``
    contiguous float32s.  With ``bias``, the ``channels`` float32s at bias are added to every output cell (else the
    pointer is not read); then relu with ``relu`` (NaN stays).  The input transform is (B_h^T, B_w^T), the output
    transform (A_h^T, A_w^T)."""
    key = ("transform", left.shape, left.tobytes(), right.shape, right.tobytes(), bool(bias), bool(relu))
    hit = _kernels.get(key)
    if hit is None:
        with _lock:
            hit = _kernels.get(key)
            if hit is None:
                hit = _kernels[key] = _build_transform(np.asarray(left, np.float64), np.asarray(right, np.float64),
                                                       bool(bias), bool(relu))
    return hit[0]


def _build_transform(left: np.ndarray, right: np.ndarray, bias: bool, relu: bool) -> tuple[Any, Any]:
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    module = ir.Module(name="transform")
    module.triple = llvm.get_process_triple()
    _define_transform(ir, module, left.tolist(), right.tolist(), bias, relu)
    engine = _compile(llvm, module)
    return _TRANSFORM_SIGNATURE(engine.get_function_address("transform")), engine


def _define_transform(ir: Any, module: Any, left: list, right: list, with_bias: bool, relu: bool) -> None:
    """transform(src, s_row, s_col, dst, d_row, d_col, channels, bias) (see ``transform``): 16 channels at a time,
    then the rest one at a time.  t[k][j] = sum_l right[j][l] x[k][l], then y[i][j] = sum_k left[i][k] t[k][j]
    (+ bias, relu'd), every coefficient a constant: zeros skipped, +-1 an add or a subtract."""
    f32, i64 = ir.FloatType(), ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [f32.as_pointer(), i64, i64, f32.as_pointer(), i64, i64,
                                                             i64, f32.as_pointer()]), name="transform")
    src, s_row, s_col, dst, d_row, d_col, channels, bias = fn.args
    for arg in (src, dst, bias):
        arg.add_attribute("noalias")
    entry, wide, wide_body, single, single_body, done = (
        fn.append_basic_block(n) for n in ("entry", "wide", "wide_body", "single", "single_body", "done"))

    def const(v: int) -> Any:
        return ir.Constant(i64, v)

    def body(b: Any, c: Any, width: int) -> None:
        kind = ir.VectorType(f32, width) if width > 1 else f32

        def at(base: Any, i: int, j: int, rows: Any, cols: Any) -> Any:
            cell = b.gep(base, [b.add(b.add(b.mul(const(i), rows), b.mul(const(j), cols)), c)])
            return b.bitcast(cell, kind.as_pointer()) if width > 1 else cell

        def combine(coefficients: list, values: list) -> Any:
            total = None
            for f, v in zip(coefficients, values):
                if f == 0:
                    continue
                term = v if f in (1, -1) else b.fmul(v, ir.Constant(kind, [f] * width if width > 1 else f))
                if total is None:
                    total = b.fneg(term) if f == -1 else term
                else:
                    total = b.fsub(total, term) if f == -1 else b.fadd(total, term)
            return total if total is not None else ir.Constant(kind, None)

        cells = [[b.load(at(src, k, l, s_row, s_col), align=4) for l in range(len(right[0]))]
                 for k in range(len(left[0]))]
        t = [[combine(right[j], row) for j in range(len(right))] for row in cells]
        shift = b.load(at(bias, 0, 0, const(0), const(0)), align=4) if with_bias else None
        zero = ir.Constant(kind, None)
        for i in range(len(left)):
            for j in range(len(right)):
                y = combine(left[i], [row[j] for row in t])
                if shift is not None:
                    y = b.fadd(y, shift)
                if relu:
                    y = b.select(b.fcmp_ordered("<", y, zero), zero, y)
                b.store(y, at(dst, i, j, d_row, d_col), align=4)

    ir.IRBuilder(entry).branch(wide)
    _by_channels(ir, entry, (wide, wide_body, single, single_body), channels, body, done)
    ir.IRBuilder(done).ret_void()


def _by_channels(ir: Any, start: Any, blocks: tuple, channels: Any, body: Callable[[Any, Any, int], None],
                 after: Any) -> None:
    """Fill ``blocks`` (wide, wide_body, single, single_body) with a loop over ``channels``: body(builder, c, 16)
    for c = 0, 16, ... while 16 channels remain, then body(builder, c, 1) for each one left, then on to ``after``.
    ``start`` is the block that branches to wide."""
    i64 = ir.IntType(64)
    wide, wide_body, single, single_body = blocks
    b = ir.IRBuilder(wide)
    c = b.phi(i64, "c")
    c.add_incoming(ir.Constant(i64, 0), start)
    b.cbranch(b.icmp_signed("<=", b.add(c, ir.Constant(i64, 16)), channels), wide_body, single)
    b = ir.IRBuilder(wide_body)
    body(b, c, 16)
    c.add_incoming(b.add(c, ir.Constant(i64, 16)), wide_body)
    b.branch(wide)
    b = ir.IRBuilder(single)
    c1 = b.phi(i64, "c1")
    c1.add_incoming(c, wide)
    b.cbranch(b.icmp_signed("<", c1, channels), single_body, after)
    b = ir.IRBuilder(single_body)
    body(b, c1, 1)
    c1.add_incoming(b.add(c1, ir.Constant(i64, 1)), single_body)
    b.branch(single)


def grouped(k_h: int, k_w: int, per_group: int, relu: bool = False) -> tuple[Any, Any, int]:
    """``depthwise``'s kernels for a grouped conv of ``per_group`` (2, 4 or 8) channels in and out a group: the same
    ctypes functions (src, rows, w, bias, dst, cells, channels, cell_step, tap_step), where ``w`` is the conv's HWIO
    weights (k_h, k_w, per_group, channels) and output channel k = g * per_group + f sums, over the taps and c <
    per_group, src[... + g * per_group + c] * w[kh, kw, c, k].  16 output channels (16 / per_group groups) take one
    load of the same 16 input channels, and each c a permutation of it within the groups (``shufflevector``), so
    the sums stay in registers over all the taps and channels, as the depthwise kernels' do."""
    if per_group not in (2, 4, 8):
        raise ValueError(f"narrow.grouped: {per_group} channels a group, expected 2, 4 or 8")
    key = ("grouped", k_h, k_w, per_group, bool(relu))
    hit = _kernels.get(key)
    if hit is None:
        with _lock:
            hit = _kernels.get(key)
            if hit is None:
                hit = _kernels[key] = _build_grouped(k_h, k_w, per_group, bool(relu))
    return hit[0], hit[1], GROUPED_CELLS


#: Output cells a grouped kernel holds in registers at once.
GROUPED_CELLS = 4


def _build_grouped(k_h: int, k_w: int, per_group: int, relu: bool) -> tuple[Any, Any, Any]:
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    module = ir.Module(name=f"grouped{k_h}x{k_w}g{per_group}")
    module.triple = llvm.get_process_triple()
    _define_depthwise(ir, module, "cells", k_h, k_w, GROUPED_CELLS, relu, per_group)
    _define_depthwise(ir, module, "cell", k_h, k_w, 1, relu, per_group)
    engine = _compile(llvm, module)
    return (_DEPTHWISE_SIGNATURE(engine.get_function_address("cells")),
            _DEPTHWISE_SIGNATURE(engine.get_function_address("cell")), engine)


_PAUSE_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_int64)


def pause() -> Callable[[int], None] | None:
    """pause(n): n x86 ``pause`` instructions in a ctypes call, which releases the GIL while it runs (about 28 ns
    each on the machine measured); built on first use, None where llvmlite is missing or the CPU is not x86-64.
    ``kernels._Job.wait`` polls with it: a thread waiting on a lock sleeps, and waking it took 11-20 us here."""
    if "pause" not in _state:
        with _lock:
            if "pause" not in _state:
                _state["pause"] = _build_pause()
    hit = _state["pause"]
    return None if hit is None else hit[0]


def _build_pause() -> tuple[Any, Any] | None:
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        import llvmlite.binding as llvm
        import llvmlite.ir as ir
    except ImportError:
        return None
    module = ir.Module(name="pause")
    module.triple = llvm.get_process_triple()
    i64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64]), name="pause")
    instruction = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name="llvm.x86.sse2.pause")
    entry, loop, done = fn.append_basic_block("entry"), fn.append_basic_block("loop"), fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", fn.args[0], ir.Constant(i64, 0)), loop, done)
    b = ir.IRBuilder(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    b.call(instruction, [])
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, fn.args[0]), loop, done)
    ir.IRBuilder(done).ret_void()
    engine = _compile(llvm, module)
    return _PAUSE_SIGNATURE(engine.get_function_address("pause")), engine


#: Output cells a depthwise kernel holds in registers at once, per kernel size (the rest of a row one at a time).
DEPTHWISE_CELLS = 4


def depthwise(k_h: int, k_w: int, relu: bool = False) -> tuple[Any, Any, int]:
    """(kernel of ``DEPTHWISE_CELLS`` output cells at a time, kernel of one cell, cells at once) of a k_h x k_w
    depthwise conv's output rows, built on first use: ctypes functions (src, rows, w, bias, dst, cells, channels,
    cell_step, tap_step) of pointers and int64s.  Output cell p of a row (p < cells, a multiple of the cells at once
    for the first kernel) is act(bias + sum_{kh, kw} src[rows[kh] + p * cell_step + kw * tap_step + c] *
    w[(kh * k_w + kw) * channels + c]) for each channel c, stored at dst + p * channels: ``rows`` holds k_h int64
    offsets (cells) of the input rows from src, and every tap must lie in memory (a zero-padded copy of the rows).
    ``relu``: max(., 0), NaN kept.  Each cell's sums stay in ``<16 x float>`` registers over all the taps, 16
    channels at a time and then the rest one by one, where numba's loop loaded and stored the output once per tap
    or kernel row."""
    key = ("depthwise", k_h, k_w, bool(relu))
    hit = _kernels.get(key)
    if hit is None:
        with _lock:
            hit = _kernels.get(key)
            if hit is None:
                hit = _kernels[key] = _build_depthwise(k_h, k_w, bool(relu))
    return hit[0], hit[1], DEPTHWISE_CELLS


def _build_depthwise(k_h: int, k_w: int, relu: bool) -> tuple[Any, Any, Any]:
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    module = ir.Module(name=f"depthwise{k_h}x{k_w}")
    module.triple = llvm.get_process_triple()
    _define_depthwise(ir, module, "cells", k_h, k_w, DEPTHWISE_CELLS, relu)
    _define_depthwise(ir, module, "cell", k_h, k_w, 1, relu)
    engine = _compile(llvm, module)
    return (_DEPTHWISE_SIGNATURE(engine.get_function_address("cells")),
            _DEPTHWISE_SIGNATURE(engine.get_function_address("cell")), engine)


def _define_depthwise(ir: Any, module: Any, name: str, k_h: int, k_w: int, at_once: int, relu: bool,
                      per_group: int = 1) -> None:
    """name(src, rows, w, bias, dst, cells, channels, cell_step, tap_step) (see ``depthwise``): for each block of
    ``at_once`` cells, each 16 channels (then each channel left) summed over the k_h x k_w taps in registers.  With
    ``per_group`` above 1, a grouped conv's (``grouped``): each tap also sums over the group's input channels."""
    f32, i64 = ir.FloatType(), ir.IntType(64)
    p32, p64 = f32.as_pointer(), i64.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [p32, p64, p32, p32, p32] + [i64] * 4), name=name)
    src, rows, w, bias, dst, cells, channels, cell_step, tap_step = fn.args
    for arg in (src, rows, w, bias, dst):
        arg.add_attribute("noalias")
    entry, block_loop, wide, wide_body, single, single_body, next_block, done = (
        fn.append_basic_block(n) for n in ("entry", "block", "wide", "wide_body", "single", "single_body", "next",
                                           "done"))

    def const(v: int) -> Any:
        return ir.Constant(i64, v)

    b = ir.IRBuilder(entry)
    starts = [b.load(b.gep(rows, [const(kh)])) for kh in range(k_h)]
    blocks = b.udiv(cells, const(at_once))
    b.cbranch(b.icmp_unsigned(">", blocks, const(0)), block_loop, done)

    b = ir.IRBuilder(block_loop)
    block = b.phi(i64, "block")
    block.add_incoming(const(0), entry)
    first = b.mul(block, const(at_once))
    b.branch(wide)

    def body(b: Any, c: Any, width: int) -> None:
        kind = ir.VectorType(f32, width) if width > 1 else f32

        def load(base: Any, offset: Any) -> Any:
            cell = b.gep(base, [b.add(offset, c)])
            return b.load(b.bitcast(cell, kind.as_pointer()) if width > 1 else cell, align=4)

        fma = None
        if width > 1:
            fma = module.globals.get("llvm.fma.v16f32") or ir.Function(
                module, ir.FunctionType(kind, [kind] * 3), name="llvm.fma.v16f32")
        sums = [load(bias, const(0)) for _ in range(at_once)]
        # a grouped conv's lane (channel k) reads input channel k - k % per_group + i for its group's i-th input:
        # 16 lanes hold whole groups, so one load of the lanes' own channels and a permutation within the groups
        base = c if per_group == 1 or width > 1 else b.sub(c, b.urem(c, const(per_group)))
        for kh in range(k_h):
            for kw in range(k_w):
                tap = b.add(starts[kh], b.mul(const(kw), tap_step))
                if per_group == 1:
                    wv = load(w, b.mul(const(kh * k_w + kw), channels))
                    for i in range(at_once):
                        xv = load(src, b.add(tap, b.mul(b.add(first, const(i)), cell_step)))
                        sums[i] = b.call(fma, [xv, wv, sums[i]]) if fma is not None else b.fadd(sums[i],
                                                                                                 b.fmul(xv, wv))
                    continue
                cells_in = [b.add(b.add(tap, b.mul(b.add(first, const(i)), cell_step)), b.sub(base, c))
                            for i in range(at_once)]
                xvs = [load(src, at) for at in cells_in] if width > 1 else []
                for j in range(per_group):
                    wv = load(w, b.mul(const((kh * k_w + kw) * per_group + j), channels))
                    for i in range(at_once):
                        if width > 1:
                            mask = ir.Constant(ir.VectorType(ir.IntType(32), width),
                                               [lane - lane % per_group + j for lane in range(width)])
                            xv = b.shuffle_vector(xvs[i], ir.Constant(kind, None), mask)
                        else:
                            xv = load(src, b.add(cells_in[i], const(j)))
                        sums[i] = b.call(fma, [xv, wv, sums[i]]) if fma is not None else b.fadd(sums[i],
                                                                                                 b.fmul(xv, wv))
        zero = ir.Constant(kind, None)
        for i, total in enumerate(sums):
            if relu:  # NaN stays
                total = b.select(b.fcmp_ordered("<", total, zero), zero, total)
            cell = b.gep(dst, [b.add(b.mul(b.add(first, const(i)), channels), c)])
            b.store(total, b.bitcast(cell, kind.as_pointer()) if width > 1 else cell, align=4)

    _by_channels(ir, block_loop, (wide, wide_body, single, single_body), channels, body, next_block)
    b = ir.IRBuilder(next_block)
    following = b.add(block, const(1))
    block.add_incoming(following, next_block)
    b.cbranch(b.icmp_unsigned("<", following, blocks), block_loop, done)
    ir.IRBuilder(done).ret_void()
