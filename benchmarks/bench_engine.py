"""archcalc.forward (the fused plan) on every net in specs/ against the same net in PyTorch on the CPU.

    PYTHONPATH=. python benchmarks/bench_engine.py [--batch 8] [--repeat 3] [--rounds 2] [--nets a,b]
                                                   [--max-load 1.5] [--strict] [--layers] [--markdown FILE]
                                                   [--blas pin|auto|threads] [--numpy-only]

Each spec gets weights from ``archcalc.init_params`` plus random biases and batchnorm statistics.
The engine runs the compiled plan (``archcalc.compile_plan``; batchnorm folded, epilogues fused,
one arena); PyTorch runs the twin (``archcalc.engine.torch_twin``, same weights, eager), in NCHW and
channels_last, the faster kept.  Engine and torch are timed in alternating phases (``--rounds``),
best of ``--repeat`` after a warm-up (more for a net whose pass is short: each phase runs at least
``--min-phase`` seconds, at most 1000 passes, on both sides alike), and their outputs are compared.  Per net: the time ratio
engine / torch, and the effective GFLOP/s (2 x MACs as ``archcalc show`` counts them, / time) next to
the measured float32 matmul rate.  Per net, the engine's time by layer kind (``--layers``: by step).  With numba
installed (``archcalc[fast]``) the compiled float32 kernels are loaded up front (a process pays that once, as it does
torch's import; by default the engine loads them only after a few seconds of passes) and the header says so;
``--numpy-only`` leaves them off.

The load average is printed before and after, and the CPU time other processes took during the run (from
/proc: the load average at the end also counts this benchmark's own threads).  A start load above ``--max-load``
(default 1.5, for 2 cores), or other processes taking more than ``--max-load`` - 1 cores on average, marks the
figures as taken on a busy machine, or with ``--strict`` a busy start refuses to report: other processes slow
OpenBLAS far more than PyTorch, so only side-by-side ratios from a quiet machine count.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import archcalc  # noqa: E402  # before numpy, as a user's script would: it sets OpenBLAS's idle spin (README)

import numpy as np  # noqa: E402
from _timing import best_of, matmul_rate, optional_torch  # noqa: E402

from archcalc.engine.forward import random_input  # noqa: E402
from archcalc.engine.kernels import cpu_ticks  # noqa: E402
from archcalc.engine.plan import PlanStep, compile_plan  # noqa: E402

TARGETS = {"AlexNet": 0.8, "VGG16": 0.8}


def params_for(net, seed: int = 0):
    """init_params with small random biases and batchnorm statistics (so that folding them matters)."""
    params = archcalc.init_params(net, seed)
    rng = np.random.default_rng(seed + 1)
    for entry in params.values():
        for key, value in entry.items():
            if key in ("bias", "beta", "moving_mean"):
                entry[key] = (rng.standard_normal(value.shape) * 0.01).astype(np.float32)
            elif key in ("gamma", "moving_variance"):
                entry[key] = (rng.random(value.shape) * 0.5 + 0.75).astype(np.float32)
    return params


def step_kind(step: PlanStep) -> str:
    """A label for the per-kind breakdown: convs by shape (1x1, kxk, grouped, depthwise), else the layer type."""
    row = step.rows[0]
    if row.type != "conv":
        return "concat (copy)" if step.kind == "concat" else ("batchnorm+act" if step.kind == "affine" else row.type)
    k = "x".join(str(a.f) for a in row.axes)
    groups, c_in = row.layer.groups, row.input_shapes[0][-1]
    if groups > 1:
        return f"conv {k} depthwise" if groups == c_in else f"conv {k} grouped"
    return f"conv {k}" + (" strided" if any(a.s > 1 for a in row.axes) else "")


def others_cores(start: tuple[int, int, int] | None) -> float | None:
    """Cores' worth of CPU time the other processes (and steal) took since ``start``: the load that matters, since
    the load average also counts this benchmark's own threads."""
    end = cpu_ticks()
    if start is None or end is None or end[1] <= start[1]:
        return None
    return ((end[0] - start[0]) - (end[2] - start[2])) * (os.cpu_count() or 1) / (end[1] - start[1])


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def compiled_text(compiled) -> str:
    """Load the engine's compiled float32 kernels up front, as torch is imported before it is timed; and say
    whether they run, which numba, and what loading them took (a process pays that once)."""
    start = time.perf_counter()
    if not compiled.load():
        return "compiled kernels off (numpy only)"
    import numba

    return f"compiled kernels on (numba {numba.__version__}, loaded in {time.perf_counter() - start:.1f} s)"


#: Timed passes in a phase, at most (``repeats``).
MAX_PASSES = 1000


def repeats(warm_seconds: float, args) -> int:
    """Timed passes in a phase: ``--repeat``, or more for a short pass, so that the phase lasts about
    ``--min-phase`` seconds (at most ``MAX_PASSES``): a best of 4 over a 1 ms pass was noise-bound (LeNet-5's ratio
    1.32 and 1.60 in two runs of the same code), and so was a best of 200 over a 0.5 ms one, a phase of 0.1 s (MNIST
    simple 0.89-1.16 in three runs of the same code)."""
    return max(args.repeat, min(MAX_PASSES, int(args.min_phase / max(warm_seconds, 1e-6))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (engine phase, torch phase)")
    ap.add_argument("--min-phase", type=float, default=0.25,
                    help="seconds each timed phase runs at least (short passes repeated more: best of more)")
    ap.add_argument("--nets", default="", help="spec names or spec files (default: every specs/*.yaml)")
    ap.add_argument("--max-load", type=float, default=1.5)
    ap.add_argument("--strict", action="store_true", help="refuse to report when the load is above --max-load")
    ap.add_argument("--layers", action="store_true", help="print the engine's time per plan step")
    ap.add_argument("--markdown", help="also write the summary table to this file")
    ap.add_argument("--blas", choices=["auto", "pin", "threads"], default="pin",
                    help="pin (the engine's default): BLAS pinned to one thread and blocks on the engine's threads; "
                         "auto: only while other processes keep the cores busy; threads: BLAS's own threads")
    ap.add_argument("--numpy-only", action="store_true",
                    help="leave the compiled float32 kernels off (archcalc[fast]), as without numba")
    args = ap.parse_args(argv)

    from archcalc.engine import compiled, kernels

    kernels.BLAS_MODE = args.blas
    if args.numpy_only:
        compiled.ENABLED = False
    jit = compiled_text(compiled)
    start_load, start_ticks = os.getloadavg()[0], cpu_ticks()
    spin = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
    print(load_text() + f"; BLAS threads: {args.blas} (OPENBLAS_THREAD_TIMEOUT {spin}); {jit}")
    if start_load > args.max_load:
        msg = f"the machine is busy (load {start_load:.2f} > {args.max_load}): OpenBLAS slows far more than torch"
        if args.strict:
            print(f"refusing to report: {msg}")
            return 1
        print(f"WARNING: {msg}; figures below are marked busy")
    torch = optional_torch()
    peak = matmul_rate(args.repeat)
    print(f"numpy {np.__version__}, float32 matmul 4096^3: {peak:.0f} GFLOP/s")
    if torch is not None:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")

    names = args.nets.split(",") if args.nets else sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    summary = []
    for name in names:
        path = Path(name) if name.endswith((".yaml", ".json")) else ROOT / "specs" / f"{name}.yaml"
        net = archcalc.load_spec(path)
        report = archcalc.analyze(net)
        params = params_for(net)
        x = random_input(net, args.batch, 3)  # token ids for an embedding net
        gflop = 2 * report.totals.macs * args.batch / 1e9
        plan = compile_plan(net, params, report=report)

        def timed():
            times: dict[int, float] = {}
            clock = [time.perf_counter()]

            def tick(step, y):
                now = time.perf_counter()
                times[id(step)] = now - clock[0]
                clock[0] = now

            t0 = time.perf_counter()
            y = plan.run(x, on_step=tick)
            return time.perf_counter() - t0, times, y

        twins = {}
        if torch is not None:
            from archcalc.engine import torch_twin

            try:
                for fmt, last in (("nchw", False), ("channels_last", True)):
                    twins[fmt] = (torch_twin.build(net, params, channels_last=last),
                                  torch_twin.to_torch(x, channels_last=last))
            except Exception as exc:  # a kind the twin does not know yet
                print(f"{name}: no PyTorch twin ({type(exc).__name__}: {exc})")
                twins = {}
        results = {fmt: float("inf") for fmt in twins}
        best_t, best_steps, y, ref = float("inf"), {}, None, None
        for _ in range(args.rounds):
            time.sleep(0.3)  # let the spinning threads of the previous phase sleep
            for _ in range(repeats(timed()[0], args)):
                t, steps, y = timed()
                if t < best_t:
                    best_t, best_steps = t, steps
            for fmt, (twin, xt) in twins.items():
                with torch.inference_mode():
                    start = time.perf_counter()
                    out = twin(xt)
                    if ref is None:
                        ref = torch_twin.from_torch(out)
                    reps = repeats(time.perf_counter() - start, args)
                    results[fmt] = min(results[fmt], best_of(lambda: twin(xt), reps))
        by_kind: dict[str, float] = defaultdict(float)
        for step in plan.steps:
            by_kind[step_kind(step)] += best_steps[id(step)]
        t_torch = min(results.values()) if results else None
        fmt = min(results, key=results.get) if results else "-"
        err = float(np.abs(y - ref).max() / np.abs(ref).max()) if ref is not None else None
        print(f"\n== {report.name} ({name}), batch {args.batch}: {gflop:.2f} GFLOP, {len(report.rows)} layers -> "
              f"{len(plan.steps)} plan steps")
        line = f"engine {best_t * 1e3:.1f} ms ({gflop / best_t:.0f} GFLOP/s, {100 * gflop / best_t / peak:.0f}% of matmul)"
        if t_torch is not None:
            line += (f"; torch ({fmt}) {t_torch * 1e3:.1f} ms ({gflop / t_torch:.0f} GFLOP/s); ratio "
                     f"{best_t / t_torch:.2f}; max |diff| / max |y| = {err:.1e}")
        print(line)
        print("engine time by layer kind: " + ", ".join(
            f"{k} {v * 1e3:.1f} ms" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])))
        if args.layers:
            for step in plan.steps:
                sec = best_steps[id(step)]
                flop = 2 * sum(r.macs for r in step.rows) * args.batch
                print(f"  {step.name:40s} {step_kind(step):22s} {sec * 1e3:8.2f} ms {flop / sec / 1e9:7.1f} GFLOP/s")
        summary.append((report.name, gflop, best_t, t_torch, dict(by_kind)))

    end_load, others = os.getloadavg()[0], others_cores(start_ticks)
    # the load average at the end counts this benchmark's own threads: judge by the other processes' CPU time
    busy = start_load > args.max_load or (others if others is not None else end_load - 2) > args.max_load - 1
    other_text = "" if others is None else f"; other processes used {others:.2f} cores on average during the run"
    print(f"\n{load_text()}{other_text}" + (" -- BUSY: ratios are indicative only" if busy else ""))
    lines = [f"batch {args.batch}; float32 matmul {peak:.0f} GFLOP/s; {jit}; load average {start_load:.2f} -> "
             f"{end_load:.2f}" + other_text + (" (busy machine)" if busy else ""), "",
             "| net | GFLOP | engine ms | torch ms | ratio | target | engine GFLOP/s | % of matmul | slowest kinds (engine) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    ratios = []
    for title, gflop, t, tt, kinds in summary:
        ratio = None if tt is None else t / tt
        if ratio is not None:
            ratios.append(ratio)
        top = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {title} | {gflop:.2f} | {t * 1e3:.1f} | {'-' if tt is None else f'{tt * 1e3:.1f}'} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}'} | {TARGETS.get(title, 1.0):.1f} | {gflop / t:.0f} | "
                     f"{100 * gflop / t / peak:.0f}% | {top} |")
    if ratios:
        lines.append(f"\ngeometric mean of the ratios over {len(ratios)} nets: "
                     f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f} (target <= 0.8)")
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
