"""Feasibility, not used by the engine: a narrow-product micro-kernel in LLVM IR against OpenBLAS, side by side.

    python benchmarks/bench_narrow.py [--repeat 30] [--rows 8]

OpenBLAS runs products with 16 output columns at a third to a half of its wide rate, and those are where the engine
trails PyTorch most (SqueezeNet's squeeze convs, the 3-channel first convs, ResNeXt-50's groups; benchmarks/RESULTS.md,
tenth round).  numba did not vectorise a register-blocked kernel for them (3-13 GMAC/s a thread).  This script builds
one with llvmlite (installed with numba, the ``archcalc[fast]`` extra): ``--rows`` rows at a time, each row's 16
outputs one ``<16 x float>`` accumulator held in a register across the whole inner dimension, one fused multiply-add
per row and input column.  It times it in one thread against numpy's matmul with OpenBLAS pinned to one thread and
with its own threads, on the zoo's narrow shapes, checks the values, and prints the load average before and after.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import archcalc  # noqa: E402,F401  (sets OpenBLAS's idle spin before numpy's BLAS starts its threads)
from _timing import best_of  # noqa: E402

#: (rows, inner) of x @ w with w (inner, 16): SqueezeNet's 55x55 squeeze convs (128 and 64 channels in), a 3-channel
#: 3x3/2 first conv's im2col (27), a 27x27 squeeze (128 in), a grouped conv's per-group product (144 = 9 x 16).
SHAPES = [(24200, 128), (24200, 64), (100352, 27), (5832, 128), (1568, 144)]


def build(rows_at_once: int):
    """The compiled kernel gemm16(x, w, out, rows, inner) for float32 C-contiguous x (rows, inner), w (inner, 16),
    out (rows, 16); rows a multiple of ``rows_at_once`` (the caller finishes a tail)."""
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    f32, i64, i32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
    v16 = ir.VectorType(f32, 16)
    module = ir.Module(name="narrow")
    module.triple = llvm.get_process_triple()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [f32.as_pointer()] * 3 + [i64, i64]), name="gemm16")
    x, w, out, rows, inner = fn.args
    for arg in (x, w, out):
        arg.add_attribute("noalias")
    fma = ir.Function(module, ir.FunctionType(v16, [v16, v16, v16]), name="llvm.fma.v16f32")
    entry, row_loop, col_loop, col_done, done = (fn.append_basic_block(n) for n in
                                                 ("entry", "rows", "inner", "store", "done"))

    def const(v: int) -> ir.Constant:
        return ir.Constant(i64, v)

    b = ir.IRBuilder(entry)
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
    accs = []
    for i in range(rows_at_once):
        acc = b.phi(v16, f"acc{i}")
        acc.add_incoming(ir.Constant(v16, None), row_loop)
        accs.append(acc)
    wv = b.load(b.bitcast(b.gep(w, [b.mul(c, const(16))]), v16.as_pointer()), align=4)
    splat_mask = ir.Constant(ir.VectorType(i32, 16), [0] * 16)
    new = []
    for i, acc in enumerate(accs):
        xi = b.load(b.gep(x, [b.add(b.mul(b.add(r0, const(i)), inner), c)]))
        one = b.insert_element(ir.Constant(v16, ir.Undefined), xi, ir.Constant(i32, 0))
        new.append(b.call(fma, [b.shuffle_vector(one, ir.Constant(v16, ir.Undefined), splat_mask), wv, acc]))
    c_next = b.add(c, const(1))
    for acc, value in zip(accs, new):
        acc.add_incoming(value, col_loop)
    c.add_incoming(c_next, col_loop)
    b.cbranch(b.icmp_unsigned("<", c_next, inner), col_loop, col_done)
    b = ir.IRBuilder(col_done)
    for i, value in enumerate(new):
        target = b.gep(out, [b.mul(b.add(r0, const(i)), const(16))])
        b.store(value, b.bitcast(target, v16.as_pointer()), align=4)
    block_next = b.add(block, const(1))
    block.add_incoming(block_next, col_done)
    b.cbranch(b.icmp_unsigned("<", block_next, blocks), row_loop, done)
    ir.IRBuilder(done).ret_void()

    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    engine = llvm.create_mcjit_compiler(parsed, machine)
    engine.finalize_object()
    kernel = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 3, ctypes.c_int64, ctypes.c_int64)(
        engine.get_function_address("gemm16"))
    return kernel, engine  # the engine owns the code: keep it alive with the kernel


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--rows", type=int, default=8, help="rows at a time (accumulators held in registers)")
    args = ap.parse_args(argv)
    try:
        kernel, _engine = build(args.rows)
    except ImportError:
        print("llvmlite is not installed (it comes with numba: pip install 'archcalc[fast]')")
        return 1
    from threadpoolctl import threadpool_limits

    print("load average %.2f (5 min %.2f) on %d cores" % (*os.getloadavg()[:2], os.cpu_count() or 1))
    print(f"{'rows x inner x 16':>22} | {'llvm, 1 thread':>22} | {'OpenBLAS, 1 thread':>22} | OpenBLAS, its threads | "
          "llvm / OpenBLAS 1 thread")
    rng = np.random.default_rng(0)
    for rows, inner in SHAPES:
        x = rng.standard_normal((rows, inner), dtype=np.float32)
        w = rng.standard_normal((inner, 16), dtype=np.float32)
        out = np.empty((rows, 16), np.float32)
        body = rows - rows % args.rows

        def ours() -> None:
            kernel(x.ctypes.data, w.ctypes.data, out.ctypes.data, body, inner)
            np.matmul(x[body:], w, out=out[body:])  # the tail

        ours()
        want = x.astype(np.float64) @ w
        assert np.allclose(out, want, rtol=1e-4, atol=1e-4 * np.abs(want).max()), "the kernel's values are wrong"
        t_ours = best_of(ours, args.repeat)
        with threadpool_limits(1, "blas"):
            t_one = best_of(lambda: np.matmul(x, w, out=out), args.repeat)
        t_threads = best_of(lambda: np.matmul(x, w, out=out), args.repeat)
        macs = rows * inner * 16

        def rate(t: float) -> str:
            return f"{t * 1e6:8.0f} us {macs / t / 1e9:5.1f} GMAC/s"

        print(f"{rows:>9} x {inner:>4} x 16 | {rate(t_ours)} | {rate(t_one)} | {rate(t_threads):>21} | "
              f"{t_ours / t_one:.2f}")
    print("load average %.2f (5 min %.2f)" % os.getloadavg()[:2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
