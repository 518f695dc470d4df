"""archcalc.forward on AlexNet and VGG16 against the same nets in PyTorch on the CPU.

    python benchmarks/bench_engine.py [--batch 8] [--repeat 3] [--rounds 2] [--nets alexnet,vgg16]

Loads specs/alexnet.yaml and specs/vgg16.yaml (VGG16 is built here as a spec
dict if the file is absent), initialises the weights with ``archcalc.init_params``
(random biases added so they matter), times ``archcalc.forward`` and the PyTorch
twin (``archcalc.engine.torch_twin``, same weights, NCHW and channels_last,
the faster reported) side by side, best of ``--repeat`` each after a warm-up,
and checks that the outputs agree.  Prints the engine's GFLOP/s per conv layer
(FLOPs = 2 x MACs as ``archcalc show`` counts them) against the measured float32
matmul rate, and the time ratio engine / torch.  Engine and torch are timed in alternating phases
(``--rounds``, default 2) so that load from other processes on a shared machine hits both.  PyTorch is optional.
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

from _timing import best_of, matmul_rate, optional_torch  # noqa: E402

import archcalc  # noqa: E402
from archcalc.engine.forward import forward  # noqa: E402


def vgg16_spec() -> dict:
    """Configuration D of Simonyan & Zisserman, if specs/vgg16.yaml is not there."""
    layers: list[dict] = []
    for stage, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for i in range(1, convs + 1):
            layers.append({"type": "conv", "name": f"block{stage}/conv{i}", "filters": filters, "kernel": 3,
                           "padding": 1, "activation": "relu"})
        layers.append({"type": "maxpool", "name": f"block{stage}/pool", "kernel": 2, "stride": 2})
    layers += [{"type": "flatten", "name": "flatten"},
               {"type": "dense", "name": "fc1", "units": 4096, "activation": "relu"},
               {"type": "dense", "name": "fc2", "units": 4096, "activation": "relu"},
               {"type": "dense", "name": "predictions", "units": 1000, "activation": "softmax"}]
    return {"name": "VGG16", "input": [224, 224, 3], "layers": layers}


def load(name: str):
    path = ROOT / "specs" / f"{name}.yaml"
    if path.exists():
        return archcalc.load_spec(path)
    if name == "vgg16":
        print("specs/vgg16.yaml not found: using the VGG16 spec built in this script")
        return archcalc.load_spec(vgg16_spec())
    raise SystemExit(f"no spec {path}")


def params_for(net, seed: int = 0):
    params = archcalc.init_params(net, seed)
    rng = np.random.default_rng(seed + 1)
    for entry in params.values():
        if "bias" in entry:
            entry["bias"] = (rng.standard_normal(entry["bias"].shape) * 0.01).astype(np.float32)
    return params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (engine phase, torch phase)")
    ap.add_argument("--nets", default="alexnet,vgg16")
    args = ap.parse_args(argv)

    torch = optional_torch()

    peak = matmul_rate(args.repeat)
    print(f"numpy {np.__version__}, float32 matmul 4096^3: {peak:.0f} GFLOP/s; load average "
          f"{os.getloadavg()[0]:.2f} (other processes on a 2-core machine slow OpenBLAS far more than torch)")
    if torch is not None:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")

    summary = []
    for name in args.nets.split(","):
        net = load(name)
        report = archcalc.analyze(net)
        params = params_for(net)
        x = np.random.default_rng(3).standard_normal((args.batch, *net.input_shape), dtype=np.float32)
        macs = {row.name: row.macs * args.batch for row in report.rows}
        total_gflop = 2 * sum(macs.values()) / 1e9

        def timed():
            times: dict[str, float] = {}
            clock = [time.perf_counter()]

            def tick(row, y):
                now = time.perf_counter()
                times[row.name] = now - clock[0]
                clock[0] = now

            t0 = time.perf_counter()
            y = forward(net, x, params, on_layer=tick, report=report)
            return time.perf_counter() - t0, times, y

        twins = {}
        if torch is not None:
            from archcalc.engine import torch_twin

            for fmt, last in (("nchw", False), ("channels_last", True)):
                twins[fmt] = (torch_twin.build(net, params, channels_last=last),
                              torch_twin.to_torch(x, channels_last=last))
        # Phases, not interleaved runs: torch's OpenMP threads keep spinning after a forward pass and
        # starve OpenBLAS's threads (layers 50x slower).  Two rounds of (engine phase, torch phase),
        # each a warm-up and --repeat timed runs; best of each.
        results = {fmt: float("inf") for fmt in twins}
        best_t, best_layers, y, ref = float("inf"), {}, None, None
        for _ in range(args.rounds):
            time.sleep(0.5)  # let spinning threads of the previous phase go to sleep
            timed()
            for _ in range(args.repeat):
                t, layers, y = timed()
                if t < best_t:
                    best_t, best_layers = t, layers
            for fmt, (twin, xt) in twins.items():
                with torch.inference_mode():
                    out = twin(xt)
                    if ref is None:
                        ref = torch_twin.from_torch(out)
                    results[fmt] = min(results[fmt], best_of(lambda: twin(xt), args.repeat))
        print(f"\n== {report.name}, batch {args.batch}: {total_gflop:.1f} GFLOP (2 x MACs)")
        print(f"{'layer':22s} {'ms':>8s} {'GFLOP/s':>8s} {'% matmul':>9s}")
        other = 0.0
        for row in report.rows:
            sec = best_layers[row.name]
            if row.type in ("conv", "dense"):
                rate = 2 * macs[row.name] / sec / 1e9
                print(f"{row.name:22s} {sec * 1e3:8.1f} {rate:8.0f} {100 * rate / peak:8.0f}%")
            else:
                other += sec
        print(f"{'other layers':22s} {other * 1e3:8.1f}")
        print(f"engine total: {best_t * 1e3:.1f} ms, {total_gflop / best_t:.0f} GFLOP/s "
              f"({100 * total_gflop / best_t / peak:.0f}% of matmul)")
        if torch is None:
            summary.append((report.name, best_t, None, None))
            continue
        fmt = min(results, key=results.get)
        t_torch = results[fmt]
        err = np.abs(y - ref).max() / np.abs(ref).max()
        print(f"torch ({fmt}) total: {t_torch * 1e3:.1f} ms, {total_gflop / t_torch:.0f} GFLOP/s "
              f"[{', '.join(f'{k} {v * 1e3:.1f} ms' for k, v in results.items())}]")
        print(f"engine / torch time ratio: {best_t / t_torch:.2f} (target <= 0.80); "
              f"max |diff| / max |y| = {err:.1e}")
        summary.append((report.name, best_t, t_torch, err))

    print("\n| net | engine | torch (best layout) | ratio |\n|---|---|---|---|")
    for name, t, tt, _ in summary:
        print(f"| {name} | {t * 1e3:.1f} ms | {'-' if tt is None else f'{tt * 1e3:.1f} ms'} | "
              f"{'-' if tt is None else f'{t / tt:.2f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
