"""Core speed figures (not a test): CLI start-up and loading/analysing very long specs.

    python benchmarks/bench_core.py

1. `archcalc show specs/alexnet.yaml` against a bare Python process that imports
   pydantic, click, rich (the console and table a table is drawn with) and yaml and
   validates one small pydantic model (target: at most 1.5x).  The ratio against the
   first baseline, `import rich` alone, is printed too: that import loads almost nothing
   of rich (its __init__ is lazy), so it left rich's own cost on archcalc's side.
   archcalc's bytecode is compiled first: with PYTHONDONTWRITEBYTECODE set (as on the
   development machine) every run would otherwise compile its ~50 modules from source,
   which an installed package never does.
2. Load + analyse generated specs of 10,000 and 40,000 layers in-process
   (targets: under 1 s, and 40,000 no more than 5x the 10,000 time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = (
    "import pydantic, click, rich.console, rich.table, yaml\n"
    "class M(pydantic.BaseModel):\n    x: int\n    y: str = 'a'\n"
    "M.model_validate({'x': 1})\n"
)
FIRST_BASELINE = BASELINE.replace("rich.console, rich.table", "rich")  # the figure before: rich's own cost counted as ours


def best_of(n: int, fn) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "COLUMNS": "120"})


def startup(repeats: int = 15) -> tuple[float, float, float]:
    import compileall

    compileall.compile_dir(ROOT / "archcalc", quiet=1)  # as pip does on install
    base = best_of(repeats, lambda: run([sys.executable, "-c", BASELINE]))
    first = best_of(repeats, lambda: run([sys.executable, "-c", FIRST_BASELINE]))
    show = best_of(repeats, lambda: run([sys.executable, "-m", "archcalc", "show", "specs/alexnet.yaml"]))
    return base, first, show


def generated_spec(n_layers: int, folder: Path) -> Path:
    """A plain (no aliases) YAML spec alternating conv / batchnorm / activation / residual add."""
    lines = ["name: generated", "input: [32, 32, 16]", "layers:"]
    for i in range(n_layers):
        k = i % 4
        if k == 0:
            lines.append(f"  - {{type: conv, name: c{i}, filters: 16, kernel: 3, padding: 1, bias: false}}")
        elif k == 1:
            lines.append(f"  - {{type: batchnorm, name: b{i}}}")
        elif k == 2:
            lines.append(f"  - {{type: activation, name: a{i}, function: relu}}")
        else:
            lines.append(f"  - {{type: add, name: s{i}, inputs: [a{i - 1}, {'input' if i < 4 else f's{i - 4}'}]}}")
    path = folder / f"gen_{n_layers}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def load_and_analyze(path: Path) -> float:
    import archcalc

    def once():
        archcalc.analyze(archcalc.load_spec(path))

    return best_of(3, once)


def main() -> None:
    base, first, show = startup()
    print(f"start-up: baseline (import pydantic, click, rich.console, rich.table, yaml + validate) {base * 1000:.0f} ms, "
          f"archcalc show specs/alexnet.yaml {show * 1000:.0f} ms, ratio {show / base:.2f}x (target <= 1.5x); "
          f"against `import rich` alone ({first * 1000:.0f} ms): {show / first:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        times = {}
        for n in (10_000, 40_000):
            path = generated_spec(n, Path(tmp))
            times[n] = load_and_analyze(path)
            print(f"load + analyse {n:,} layers ({path.stat().st_size / 1e6:.1f} MB YAML): {times[n] * 1000:.0f} ms")
        print(f"40,000 / 10,000 layers: {times[40_000] / times[10_000]:.2f}x (target <= 5x); "
              f"10,000 layers {'under' if times[10_000] < 1 else 'OVER'} 1 s")


if __name__ == "__main__":
    main()
