"""Depthwise, grouped and transposed convolution kernels against PyTorch's F.conv2d / conv_transpose2d.

    PYTHONPATH=. python benchmarks/bench_grouped.py [--batch 8] [--repeat 5]

The layer shapes are those of the zoo's nets (MobileNetV2's depthwise 3x3 convs, ResNeXt-50's
32-group 3x3 convs, U-Net's 2x2/2 up-convolutions).  Each row times the engine's kernel and
PyTorch's (NCHW and channels_last, the faster kept) side by side, alternating, best of
``--repeat``; only the ratio means anything on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of, optional_torch  # noqa: E402

from archcalc.engine import kernels as K  # noqa: E402

#: name, input (H, C), kernel, stride, groups, filters
CONVS = [
    ("mbv2 dw 112x112x32 /1", 112, 32, 3, 1, 32, 32),
    ("mbv2 dw 112x112x96 /2", 112, 96, 3, 2, 96, 96),
    ("mbv2 dw 56x56x144 /1", 56, 144, 3, 1, 144, 144),
    ("mbv2 dw 28x28x192 /1", 28, 192, 3, 1, 192, 192),
    ("mbv2 dw 14x14x576 /1", 14, 576, 3, 1, 576, 576),
    ("mbv2 dw 7x7x960 /1", 7, 960, 3, 1, 960, 960),
    ("effnet dw 5x5 28x28x240", 28, 240, 5, 1, 240, 240),
    ("resnext g32 56x56x128", 56, 128, 3, 1, 32, 128),
    ("resnext g32 28x28x256", 28, 256, 3, 1, 32, 256),
    ("resnext g32 14x14x512", 14, 512, 3, 1, 32, 512),
    ("resnext g32 7x7x1024", 7, 1024, 3, 1, 32, 1024),
]
#: name, input (H, C), kernel = stride, filters
TRANSPOSED = [
    ("unet up 28x28x1024", 28, 1024, 2, 512),
    ("unet up 52x52x512", 52, 512, 2, 256),
    ("unet up 100x100x256", 100, 256, 2, 128),
]


def torch_side(torch, op, x, w, b, got, name: str, repeat: int) -> float:
    """Best time of op(x, w, b) in PyTorch, NCHW or channels_last (the faster); checks it against ``got``.
    ``w`` is ours: (kh, kw, C_in/groups, F) for conv, (kh, kw, F, C_in) for conv_transpose: both move to (.., .., kh, kw)."""
    tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    tb = torch.from_numpy(b)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    times = []
    with torch.inference_mode():
        for xx in (xt, xt.contiguous(memory_format=torch.channels_last)):
            times.append(best_of(lambda: op(xx, tw, tb), repeat))
        ref = op(xt, tw, tb).numpy().transpose(0, 2, 3, 1)
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert err < 1e-4, (name, err)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    torch = optional_torch()
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (ratios only: the machine is shared)")
    print(f"{'layer':28s} {'engine ms':>10s} {'torch ms':>9s} {'ratio':>6s} {'GFLOP/s':>8s}")
    for name, hw, c, k, s, groups, filters in CONVS:
        x = rng.standard_normal((args.batch, hw, hw, c), dtype=np.float32)
        w = rng.standard_normal((k, k, c // groups, filters), dtype=np.float32)
        b = rng.standard_normal(filters, dtype=np.float32)
        p = k // 2
        o = (hw + 2 * p - k) // s + 1
        out = np.empty((args.batch, o, o, filters), np.float32)

        def engine():
            K.conv_grouped(x, w, b, (s, s), ((p, p), (p, p)), None, groups, (o, o), out=out)

        row = [name, best_of(engine, args.repeat)]
        flop = 2 * args.batch * o * o * filters * k * k * (c // groups)
        if torch is not None:
            row.append(torch_side(torch, lambda xx, tw, tb: torch.nn.functional.conv2d(xx, tw, tb, s, p, 1, groups),
                                  x, w, b, out, name, args.repeat))
        line = (f"{name:28s} {row[1] * 1e3:10.2f} " + (f"{row[2] * 1e3:9.2f} {row[1] / row[2]:6.2f}"
                if len(row) > 2 else f"{'-':>9s} {'-':>6s}") + f" {flop / row[1] / 1e9:8.1f}")
        print(line)
    for name, hw, c, k, filters in TRANSPOSED:
        x = rng.standard_normal((args.batch, hw, hw, c), dtype=np.float32)
        w = rng.standard_normal((k, k, filters, c), dtype=np.float32) * 0.05
        b = rng.standard_normal(filters, dtype=np.float32)
        got = K.conv_transpose(x, w, b, (k, k), ((0, 0), (0, 0)))
        t_engine = best_of(lambda: K.conv_transpose(x, w, b, (k, k), ((0, 0), (0, 0))), args.repeat)
        flop = 2 * args.batch * hw * hw * c * filters * k * k
        if torch is None:
            print(f"{name:28s} {t_engine * 1e3:10.2f} {'-':>9s} {'-':>6s} {flop / t_engine / 1e9:8.1f}")
            continue
        t_torch = torch_side(torch, lambda xx, tw, tb: torch.nn.functional.conv_transpose2d(xx, tw, tb, k),
                             x, w, b, got, name, args.repeat)
        print(f"{name:28s} {t_engine * 1e3:10.2f} {t_torch * 1e3:9.2f} {t_engine / t_torch:6.2f} "
              f"{flop / t_engine / 1e9:8.1f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
