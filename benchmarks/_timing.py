"""What the benchmark scripts share: best-of timing, the machine's matmul rate, optional PyTorch."""

from __future__ import annotations

import time

import numpy as np


def best_of(fn, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` timed calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_rate(repeat: int) -> float:
    """GFLOP/s of numpy's float32 matrix product, 4096^3."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4096, 4096), dtype=np.float32)
    b = rng.standard_normal((4096, 4096), dtype=np.float32)
    out = np.empty_like(a)
    return 2 * 4096**3 / best_of(lambda: np.matmul(a, b, out=out), repeat) / 1e9


def optional_torch():
    """The torch module, or None with a message: the scripts then time the engine only."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: timing the engine only (pip install torch to compare).")
        return None
    return torch
