"""Which algorithm each 3x3 stride-1 conv of the zoo should use: GEMM, Winograd F(2x2, 3x3) or F(4x4, 3x3).

    PYTHONPATH=. python benchmarks/bench_winograd.py [--batch 8] [--repeat 3] [--max-map 15]

For every distinct (map, C_in, filters) of a 3x3/1, groups-1, 2-D conv in specs/*.yaml with a map of at most
``--max-map`` (larger maps always take F(4x4, 3x3)), the three algorithms of ``kernels.conv`` run side by side,
alternating, best of ``--repeat``, and the script prints their times, the fastest, and what
``kernels.winograd_tile`` (the engine's automatic choice) picks.  Run it once as is and once with
OPENBLAS_NUM_THREADS=1: Winograd's 16 or 36 medium products thread less well than GEMM's single large one, and on
a busy machine OpenBLAS's threads make every extra product cost more.  The load average is printed before and after.
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

from _timing import best_of  # noqa: E402

import archcalc  # noqa: E402
from archcalc.engine import kernels as K  # noqa: E402


def shapes(max_map: int) -> dict[tuple[int, int, int], list[str]]:
    """(map, C_in, filters) -> the nets that have such a conv."""
    found: dict[tuple[int, int, int], list[str]] = {}
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        for row in archcalc.analyze(archcalc.load_spec(path)).rows:
            if row.type != "conv" or len(row.axes) != 2 or row.layer.groups != 1:
                continue
            if any(a.f != 3 or a.s != 1 or a.d != 1 for a in row.axes):
                continue
            side, c_in, filters = min(a.out for a in row.axes), row.input_shapes[0][-1], row.output_shape[-1]
            if side <= max_map and c_in >= 32 and filters >= 32:
                nets = found.setdefault((side, c_in, filters), [])
                if path.stem not in nets:
                    nets.append(path.stem)
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-map", type=int, default=15)
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    rng = np.random.default_rng(0)
    algorithms = {"gemm": None, "winograd2": 2, "winograd": 4}
    print(f"{'map':>4} {'C_in':>5} {'F':>5} | " + " ".join(f"{a:>10}" for a in algorithms) + " | fastest    auto       nets")
    for (side, c_in, filters), nets in sorted(shapes(args.max_map).items()):
        x = rng.standard_normal((args.batch, side, side, c_in), dtype=np.float32)
        w = (rng.standard_normal((3, 3, c_in, filters)) / np.sqrt(9 * c_in)).astype(np.float32)
        out = np.empty((args.batch, side, side, filters), np.float32)
        best = {a: float("inf") for a in algorithms}
        for _ in range(2):  # alternate, so that a change of load hits all three
            for a in algorithms:
                best[a] = min(best[a], best_of(
                    lambda: K.conv(x, w, None, (1, 1), ((1, 1), (1, 1)), algorithm=a, out=out), args.repeat))
        auto = K.winograd_tile((3, 3), c_in, filters, (1, 1), (1, 1), 1, (side, side))
        pick = {None: "gemm", 2: "winograd2", 4: "winograd"}[auto]
        print(f"{side:>4} {c_in:>5} {filters:>5} | " + " ".join(f"{best[a] * 1e3:8.1f}ms" for a in algorithms)
              + f" | {min(best, key=best.get):10} {pick:10} {','.join(nets)}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
