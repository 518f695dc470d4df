"""AlexNet and VGG16 forward passes: archcalc's NumPy kernels against PyTorch on the CPU.

    python benchmarks/bench_kernels.py [--batch 8] [--repeat 3] [--nets alexnet,vgg16]

Builds both nets directly from ``archcalc.engine.kernels`` (channels-last, HWIO
weights), builds the same nets in PyTorch with the same weights, checks that the
outputs agree, and times both side by side (best of ``--repeat`` runs each).
PyTorch is timed both in NCHW and channels_last and the faster is reported.
Prints the engine's GFLOP/s per conv layer (FLOPs = 2 * MACs) against the
measured float32 matrix-product rate of numpy's BLAS, and the time ratios.
PyTorch is optional: without it only the engine is timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of, matmul_rate, optional_torch  # noqa: E402

from archcalc.engine import kernels as K  # noqa: E402

# layer lists: ("conv", filters, kernel, stride, pad) | ("maxpool", kernel, stride) | ("lrn",) | ("fc", units)
ALEXNET = [
    ("conv", 96, 11, 4, 0), ("maxpool", 3, 2), ("lrn",),
    ("conv", 256, 5, 1, 2), ("maxpool", 3, 2), ("lrn",),
    ("conv", 384, 3, 1, 1), ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1), ("maxpool", 3, 2),
    ("fc", 4096), ("fc", 4096), ("fc", 1000),
]
VGG16 = []
for _filters, _reps in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
    VGG16 += [("conv", _filters, 3, 1, 1)] * _reps + [("maxpool", 2, 2)]
VGG16 += [("fc", 4096), ("fc", 4096), ("fc", 1000)]
NETS = {"alexnet": (ALEXNET, 227), "vgg16": (VGG16, 224)}
LRN = dict(size=5, k=2.0, alpha=1e-4, beta=0.75)


def init_params(layers, channels: int, size: int, seed: int = 0):
    """He-normal weights (so activations stay O(1) through the net), small random biases."""
    rng = np.random.default_rng(seed)
    params, c, s, flat = [], channels, size, None
    for layer in layers:
        if layer[0] == "conv":
            _, f, k, st, p = layer
            w = rng.standard_normal((k, k, c, f), dtype=np.float32) * np.float32(np.sqrt(2 / (k * k * c)))
            params.append((w, rng.standard_normal(f, dtype=np.float32) * np.float32(0.01)))
            c, s = f, (s + 2 * p - k) // st + 1
        elif layer[0] == "maxpool":
            s = (s - layer[1]) // layer[2] + 1
            params.append(None)
        elif layer[0] == "fc":
            n_in = flat if flat is not None else s * s * c
            w = rng.standard_normal((n_in, layer[1]), dtype=np.float32) * np.float32(np.sqrt(2 / n_in))
            params.append((w, rng.standard_normal(layer[1], dtype=np.float32) * np.float32(0.01)))
            flat = layer[1]
        else:
            params.append(None)
    return params


def engine_forward(layers, params, x, timings=None):
    """Forward pass through the kernels; fills ``timings`` with (label, seconds, macs) per conv."""
    n_fc = sum(1 for layer in layers if layer[0] == "fc")
    fc_seen = 0
    for layer, p in zip(layers, params):
        kind = layer[0]
        t0 = time.perf_counter()
        if kind == "conv":
            _, f, k, st, pad = layer
            w, b = p
            y = K.conv(x, w, b, (st, st), ((pad, pad), (pad, pad)))
            x = K.relu(y, inplace=True)
            if timings is not None:
                macs = y.size * k * k * w.shape[2]
                timings.append((f"conv {k}x{k}/{st} {w.shape[2]}->{f} @{y.shape[1]}", time.perf_counter() - t0, macs))
        elif kind == "maxpool":
            x = K.maxpool(x, (layer[1],) * 2, (layer[2],) * 2, ((0, 0), (0, 0)))
        elif kind == "lrn":
            x = K.lrn(x, **LRN)
        elif kind == "fc":
            fc_seen += 1
            x = K.dense(x, *p)
            if fc_seen < n_fc:
                x = K.relu(x, inplace=True)
        if timings is not None and kind != "conv":
            timings.append((kind, time.perf_counter() - t0, 0))
    return x


def torch_net(layers, params, channels: int):
    """The same net in PyTorch, weights converted from HWIO / (inputs, units) layouts."""
    import torch
    from torch import nn

    mods, c, flat_done = [], channels, False
    n_fc = sum(1 for layer in layers if layer[0] == "fc")
    fc_seen = 0
    for layer, p in zip(layers, params):
        if layer[0] == "conv":
            _, f, k, st, pad = layer
            conv = nn.Conv2d(c, f, k, st, pad)
            conv.weight.data = torch.from_numpy(p[0].transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.from_numpy(p[1].copy())
            mods += [conv, nn.ReLU(inplace=True)]
            c = f
        elif layer[0] == "maxpool":
            mods.append(nn.MaxPool2d(layer[1], layer[2]))
        elif layer[0] == "lrn":
            # PyTorch divides alpha by size: pass alpha * size to get the paper's formula
            mods.append(nn.LocalResponseNorm(LRN["size"], LRN["alpha"] * LRN["size"], LRN["beta"], LRN["k"]))
        elif layer[0] == "fc":
            if not flat_done:
                # the engine flattens channels-last (H, W, C) as Keras; torch flattens (C, H, W)
                mods += [Permute(), nn.Flatten()]
                flat_done = True
            fc_seen += 1
            fc = nn.Linear(p[0].shape[0], p[0].shape[1])
            fc.weight.data = torch.from_numpy(p[0].T.copy())
            fc.bias.data = torch.from_numpy(p[1].copy())
            mods.append(fc)
            if fc_seen < n_fc:
                mods.append(nn.ReLU(inplace=True))
    return nn.Sequential(*mods).eval()


def _permute_cls():
    try:
        from torch import nn
    except ImportError:  # pragma: no cover
        return None

    class _Permute(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    return _Permute


Permute = _permute_cls()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nets", default="alexnet,vgg16")
    args = ap.parse_args(argv)

    torch = optional_torch()

    peak = matmul_rate(args.repeat)
    print(f"numpy {np.__version__}, float32 matmul 4096^3: {peak:.0f} GFLOP/s")
    if torch is not None:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")

    for name in args.nets.split(","):
        layers, size = NETS[name]
        params = init_params(layers, 3, size)
        x = np.random.default_rng(3).standard_normal((args.batch, size, size, 3), dtype=np.float32)

        timings: list = []
        engine_forward(layers, params, x)
        best, best_t = None, float("inf")
        for _ in range(args.repeat):
            run: list = []
            t0 = time.perf_counter()
            y = engine_forward(layers, params, x, run)
            t = time.perf_counter() - t0
            if t < best_t:
                best, best_t = run, t
        timings = best
        macs = sum(m for _, _, m in timings)
        fc_macs = sum(p[0].size for layer, p in zip(layers, params) if layer[0] == "fc") * args.batch
        total_gflop = 2 * (macs + fc_macs) / 1e9
        print(f"\n== {name}, batch {args.batch}: {total_gflop:.1f} GFLOP (2 x MACs, conv + fc)")
        print(f"{'layer':34s} {'ms':>8s} {'GFLOP/s':>8s} {'% matmul':>9s}")
        for label, sec, m in timings:
            if m:
                rate = 2 * m / sec / 1e9
                print(f"{label:34s} {sec * 1e3:8.1f} {rate:8.0f} {100 * rate / peak:8.0f}%")
        other = {}
        for label, sec, m in timings:
            if not m:
                other[label] = other.get(label, 0.0) + sec
        for label, sec in other.items():
            print(f"{label + ' (all)':34s} {sec * 1e3:8.1f}")
        print(f"engine total: {best_t * 1e3:.1f} ms, {total_gflop / best_t:.0f} GFLOP/s")

        if torch is None:
            continue
        net = torch_net(layers, params, 3)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        results = {}
        with torch.inference_mode():
            ref = net(xt).numpy()
            for fmt in ("nchw", "channels_last"):
                if fmt == "channels_last":
                    net = net.to(memory_format=torch.channels_last)
                    xt = xt.contiguous(memory_format=torch.channels_last)
                results[fmt] = best_of(lambda: net(xt), args.repeat)
        fmt = min(results, key=results.get)
        t_torch = results[fmt]
        err = np.abs(y - ref).max() / np.abs(ref).max()
        print(f"torch ({fmt}) total: {t_torch * 1e3:.1f} ms, {total_gflop / t_torch:.0f} GFLOP/s"
              f"   [{', '.join(f'{k} {v * 1e3:.1f} ms' for k, v in results.items())}]")
        print(f"engine / torch time ratio: {best_t / t_torch:.2f}  (target <= 0.80);"
              f" max |diff| / max |y| = {err:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
