from __future__ import annotations

from functools import lru_cache
from pathlib import Path

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))


@lru_cache(maxsize=None)
def report_of(path: Path):
    import archcalc

    return archcalc.analyze(str(path))
