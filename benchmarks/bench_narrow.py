"""The engine's narrow-product kernels (``archcalc.engine.narrow``) against OpenBLAS, side by side, in one thread.

    python benchmarks/bench_narrow.py [--repeat 30]

OpenBLAS runs products with few output columns and a short inner dimension at a fraction of its wide rate, and
those are the products of every first conv, of the squeeze and projection 1x1 convs, of Winograd's per-point
products and of grouped convs.  The engine gives them to kernels built with llvmlite (installed with numba, the
``archcalc[fast]`` extra): R rows at a time, each row's outputs held in ``<16 x float>`` registers across the whole
inner dimension, in chunks of up to 96 columns.  This script times ``narrow.product`` in one thread against numpy's
matmul with OpenBLAS pinned to one thread and with its own threads, on the zoo's shapes, checks the values against
float64, and prints the load average before and after.  (``narrow.product`` packs the weights on each call; the
engine packs them once per plan step, so the engine's own calls are a little faster than these.)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import archcalc  # noqa: E402,F401  (sets OpenBLAS's idle spin before numpy's BLAS starts its threads)
from _timing import best_of  # noqa: E402

#: (rows, inner, columns) of x @ w, and where the zoo has it: first convs' im2col (27 = 3x3x3, 147 = 7x7x3),
#: SqueezeNet's squeezes, MobileNetV2's projection, a Winograd point's product (ResNet-18's 56x56 64 -> 64: 1568
#: tiles), ResNeXt-50's group (144 = 3x3x16), DenseNet-121's bottleneck (128 wide: two chunks).
SHAPES = [(8192, 27, 32, "CIFAR-10's first conv"), (100352, 27, 16, "MobileNetV3-Small's first conv"),
          (100352, 147, 64, "ResNet's 7x7/2 first conv"), (24200, 64, 16, "SqueezeNet's fire2 squeeze"),
          (24200, 128, 16, "SqueezeNet's fire3 squeeze"), (25088, 144, 24, "MobileNetV2's projection"),
          (1568, 64, 64, "a Winograd point, 56x56 64 -> 64"), (1568, 144, 16, "a ResNeXt-50 group, 14x14"),
          (6272, 512, 128, "DenseNet-121's 1x1, 28x28")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)
    from archcalc.engine import compiled, narrow

    if not compiled.load() or not narrow.available():
        print("the narrow kernels do not run here: they need numba (pip install 'archcalc[fast]') and a CPU with "
              "AVX-512")
        return 1
    from threadpoolctl import threadpool_limits

    print("load average %.2f (5 min %.2f) on %d cores" % (*os.getloadavg()[:2], os.cpu_count() or 1))
    print(f"{'rows x inner x columns':>24} | {'narrow, 1 thread':>22} | {'OpenBLAS, 1 thread':>22} | "
          f"{'OpenBLAS, its threads':>22} | narrow / OpenBLAS 1 thread | where")
    rng = np.random.default_rng(0)
    for rows, inner, columns, where in SHAPES:
        x = rng.standard_normal((rows, inner), dtype=np.float32)
        w = rng.standard_normal((inner, columns), dtype=np.float32)
        out = np.empty((rows, columns), np.float32)
        assert narrow.product(x, w, out)
        want = x.astype(np.float64) @ w
        assert np.allclose(out, want, rtol=1e-4, atol=1e-4 * np.abs(want).max()), "the kernel's values are wrong"
        t_ours = best_of(lambda: narrow.product(x, w, out), args.repeat)
        with threadpool_limits(1, "blas"):
            t_one = best_of(lambda: np.matmul(x, w, out=out), args.repeat)
        t_threads = best_of(lambda: np.matmul(x, w, out=out), args.repeat)
        macs = rows * inner * columns

        def rate(t: float) -> str:
            return f"{t * 1e6:8.0f} us {macs / t / 1e9:5.1f} GMAC/s"

        print(f"{rows:>8} x {inner:>4} x {columns:>4} | {rate(t_ours)} | {rate(t_one)} | {rate(t_threads)} | "
              f"{t_ours / t_one:26.2f} | {where}")
    print("load average %.2f (5 min %.2f)" % os.getloadavg()[:2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
