"""Pooling, LRN and channel-shuffle kernels: before (a git revision's kernels.py), now, and PyTorch, side by side.

    PYTHONPATH=. python benchmarks/bench_pool.py [--batch 8] [--repeat 5] [--nets googlenet,inception_v3,...]
                                                 [--baseline REV] [--threads N]

Every maxpool, avgpool, LRN and channel_shuffle layer of the nets (the shapes ``archcalc show`` gives, batch
``--batch``, float32, channels-last) runs through the kernel entry the engine uses (``forward.KERNELS``, output
into a given buffer as in the fused plan), through the same entry of ``kernels.py`` at ``--baseline`` (default:
the commit before the blocked kernels; loaded with ``git show``, skipped without git), and through PyTorch's
functional op (F.max_pool2d, F.avg_pool2d, F.local_response_norm, F.channel_shuffle; NCHW and channels_last,
the faster kept).  Outputs are compared (max pooling and shuffles must be bit-exact).  Best of ``--repeat``
after a warm-up; per layer shape and per net and kind (times the layers' count).  The load average is printed
before and after: on 2 shared cores, only a quiet machine's figures count.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of, optional_torch  # noqa: E402

import archcalc  # noqa: E402
from archcalc.engine import kernels as K  # noqa: E402

#: main before the blocked pooling / LRN / shuffle kernels (issue 'engine speed', part p16)
BASELINE = "6228fc4"
KINDS = ("maxpool", "avgpool", "lrn", "channel_shuffle")
NETS = "googlenet,inception_v3,squeezenet1_1,shufflenet_v2_x1_0,densenet121"


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def old_kernels(rev: str):
    """kernels.py as it was at ``rev`` (a self-contained module), or None."""
    try:
        text = subprocess.run(["git", "show", f"{rev}:archcalc/engine/kernels.py"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"no baseline ({exc}): timing the current kernels only")
        return None
    path = Path(tempfile.mkdtemp()) / "kernels_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("kernels_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layers(nets: list[str]) -> dict[tuple, Counter]:
    """(kind, input shape, geometry, settings) -> count per net."""
    found: dict[tuple, Counter] = defaultdict(Counter)
    for name in nets:
        report = archcalc.analyze(archcalc.load_spec(ROOT / "specs" / f"{name}.yaml"))
        for row in report.rows:
            if row.type not in KINDS:
                continue
            layer = row.layer
            if row.type in ("maxpool", "avgpool"):
                axes = row.axes
                geo = (tuple(a.f for a in axes), tuple(a.s for a in axes), tuple((a.pb, a.pa) for a in axes),
                       tuple(a.d for a in axes), tuple(a.out for a in axes))
                extra = (bool(getattr(layer, "count_include_pad", False)),)
            elif row.type == "lrn":
                geo, extra = (), (layer.size, layer.k, layer.alpha, layer.beta, layer.alpha_over_n)
            else:
                geo, extra = (), (layer.groups,)
            found[(row.type, tuple(row.input_shapes[0]), geo, extra)][name] += 1
    return found


def engine_call(module, key, x, out):
    """The kernel call the engine's entry makes for this layer (``forward.run_*``), in ``module``."""
    kind, _, geo, extra = key
    if kind == "maxpool":
        return lambda: module.maxpool(x, *geo, out)
    if kind == "avgpool":
        kernel, stride, pads, dilation, out_spatial = geo
        if extra[0] and any(p != (0, 0) for p in pads):
            if "out" in module.avgpool_include_pad.__code__.co_varnames:
                return lambda: module.avgpool_include_pad(x, *geo, out=out)
            return lambda: module.avgpool_include_pad(x, *geo)
        return lambda: module.avgpool(x, *geo, out)
    if kind == "lrn":
        size, k, alpha, beta, over_n = extra
        return lambda: module.lrn(x, size, k, alpha, beta, over_n, out=out)
    if "out" in module.channel_shuffle.__code__.co_varnames:
        return lambda: module.channel_shuffle(x, extra[0], out=out)
    return lambda: module.channel_shuffle(x, extra[0])


def before_call(module, key, x, out):
    """As ``engine_call``, but the baseline's entry: pools with 9+ taps and LRN split over the batch (``by_batch``
    of forward.py at the baseline, 4 threads at most)."""
    fn = engine_call(module, key, x, out)
    kind, _, geo, extra = key
    threaded = kind == "lrn" or (kind in ("maxpool", "avgpool") and np.prod(geo[0]) >= 9)
    if kind == "avgpool" and extra[0] and any(p != (0, 0) for p in geo[2]):
        threaded = False  # avgpool_include_pad: one call, a fresh output
    if not threaded or x.nbytes < 2**20 or x.shape[0] < 2:
        return fn
    from concurrent.futures import ThreadPoolExecutor

    parts = min(4, os.cpu_count() or 1, x.shape[0])
    if parts < 2:
        return fn
    pool = ThreadPoolExecutor(max_workers=parts)
    bounds = np.linspace(0, x.shape[0], parts + 1).astype(int)
    calls = [engine_call(module, key, x[a:b], out[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def run():
        list(pool.map(lambda f: f(), calls))
    return run


def torch_call(torch, key, x):
    """PyTorch's op on the same values (NCHW and channels_last: the faster), and its result as channels-last."""
    import torch.nn.functional as F

    kind, _, geo, extra = key
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    if kind in ("maxpool", "avgpool"):
        kernel, stride, pads, dilation, out_spatial = geo
        floor = tuple((n + 2 * p0 - d * (f - 1) - 1) // s + 1
                      for n, f, s, (p0, _), d in zip(x.shape[1:-1], kernel, stride, pads, dilation))
        ceil = out_spatial != floor
        if kind == "maxpool":
            def op(t):
                return F.max_pool2d(t, kernel, stride, [p for p, _ in pads], dilation, ceil_mode=ceil)
        else:
            def op(t):
                return F.avg_pool2d(t, kernel, stride, [p for p, _ in pads], ceil_mode=ceil,
                                    count_include_pad=extra[0])
    elif kind == "lrn":
        size, k, alpha, beta, over_n = extra

        def op(t):  # torch divides alpha by size
            return F.local_response_norm(t, size, alpha if over_n else alpha * size, beta, k)
    else:
        def op(t):
            return F.channel_shuffle(t, extra[0])
    best, y = float("inf"), None
    with torch.inference_mode():
        for t in (xt, xt.contiguous(memory_format=torch.channels_last)):
            y = np.moveaxis(op(t).numpy(), 1, -1)
            best = min(best, best_of(lambda: op(t), REPEAT))
    return best, y


REPEAT = 5


def main(argv=None) -> int:
    global REPEAT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--nets", default=NETS)
    ap.add_argument("--baseline", default=BASELINE, help="git revision whose kernels.py is 'before'")
    args = ap.parse_args(argv)
    REPEAT = args.repeat
    print(load_text())
    torch = optional_torch()
    if torch is not None:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    old = old_kernels(args.baseline)
    nets = args.nets.split(",")
    found = layers(nets)
    rng = np.random.default_rng(0)
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    print(f"\n{'kind':16s} {'input':>16s} {'k/s/pads':>18s} {'before':>8s} {'now':>8s} {'torch':>8s} "
          f"{'now/before':>10s} {'now/torch':>9s}  nets (count)")
    for key, counts in found.items():
        kind, shape, geo, extra = key
        x = rng.standard_normal((args.batch, *shape), dtype=np.float32)
        out_shape = (args.batch, *geo[4], shape[-1]) if geo else x.shape
        out = np.empty(out_shape, np.float32)
        now = best_of(engine_call(K, key, x, out), args.repeat)
        y = out.copy()
        before = float("nan")
        if old is not None:
            out_old = np.empty_like(out)
            before = best_of(before_call(old, key, x, out_old), args.repeat)
            y_old = engine_call(old, key, x, out_old)()
            _agree(kind, y, y_old, "before")
        t_torch = float("nan")
        if torch is not None:
            t_torch, y_torch = torch_call(torch, key, x)
            _agree(kind, y, y_torch, "torch")
        for net, n in counts.items():
            acc = totals[(net, kind)]
            acc[0] += n * before
            acc[1] += n * now
            acc[2] += n * t_torch
        label = "x".join(map(str, shape))
        setting = (f"{'x'.join(map(str, geo[0]))}/{geo[1][0]} p{geo[2][0][0]}{geo[2][0][1]}"
                   + (" inc" if kind == "avgpool" and extra[0] else "")) if geo else ""
        print(f"{kind:16s} {label:>16s} {setting:>18s} {before * 1e3:8.2f} {now * 1e3:8.2f} {t_torch * 1e3:8.2f} "
              f"{now / before:10.2f} {now / t_torch:9.2f}  " + ", ".join(f"{k} ({v})" for k, v in counts.items()))
    print(f"\nper net and kind, ms (batch {args.batch}, each layer once):")
    print(f"{'net':22s} {'kind':16s} {'before':>8s} {'now':>8s} {'torch':>8s} {'speed-up':>9s}")
    for (net, kind), (b, n, t) in sorted(totals.items()):
        print(f"{net:22s} {kind:16s} {b * 1e3:8.2f} {n * 1e3:8.2f} {t * 1e3:8.2f} {b / n:9.2f}x")
    print(load_text())
    return 0


def _agree(kind: str, got: np.ndarray, want: np.ndarray, what: str) -> None:
    if kind in ("maxpool", "channel_shuffle"):
        if not np.array_equal(got, want):
            raise SystemExit(f"{kind}: differs from {what} (must be bit-exact)")
    else:
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, err_msg=f"{kind} vs {what}")


if __name__ == "__main__":
    raise SystemExit(main())
