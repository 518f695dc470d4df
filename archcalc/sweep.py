"""Sweeps: one analysis per combination of variable values (`--vary k=128,192,256,384`).

Each combination is passed to `load_spec(..., set_vars=...)`, so a sweep can only
vary variables the spec declares under `vars:` (the same check as `--set`).
Several `--vary` give the product, in the order given.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .conventions import Costing, costing
from .load.vars import parse_value
from .errors import ArchcalcError

MAX_COMBINATIONS = 10_000


@dataclass(slots=True)
class SweepRow:
    values: dict[str, Any]
    name: str
    params: int
    costing: Costing
    output_shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        c = self.costing
        return {**self.values, "params": self.params, c.convention.label.lower().replace("-", "_"): c.compute,
                "activation_bytes": c.activation_bytes, "param_bytes": c.param_bytes,
                "total_bytes": c.total_bytes, "output_shape": list(self.output_shape)}


def parse_vary(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """('k=128,192', 'b=1,2') -> [('k', [128, 192]), ('b', [1, 2])]; numbers become numbers."""
    out: list[tuple[str, list[Any]]] = []
    for item in items:
        name, eq, raw = item.partition("=")
        name = name.strip()
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not eq or not name or not values:
            raise ArchcalcError(f"--vary expects NAME=V1,V2,..., got {item!r}", field="vary")
        if any(name == n for n, _ in out):
            raise ArchcalcError(f"--vary {name} is given twice; list all its values once: {name}=a,b,c", field="vary")
        out.append((name, [parse_value(v) for v in values]))
    return out


def sweep(spec: Any, vary: Sequence[tuple[str, Sequence[Any]]], *, set_vars: Mapping[str, Any] | None = None,
          convention: str | None = None, batch: int = 1, training: str | None = None) -> list[SweepRow]:
    """Analyse `spec` once per combination of the varied values."""
    from .analysis import analyze
    from .load import load_spec

    if not vary:
        raise ArchcalcError("give at least one --vary NAME=V1,V2,...", field="vary")
    total = 1
    for _, values in vary:
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise ArchcalcError(f"{total:,} combinations; a sweep runs at most {MAX_COMBINATIONS:,}", field="vary")
    fixed = dict(set_vars or {})
    clash = [n for n, _ in vary if n in fixed]
    if clash:
        raise ArchcalcError(f"{clash[0]} is both --set and --vary; use one", field="vary")
    names = [n for n, _ in vary]
    rows = []
    for combo in itertools.product(*(values for _, values in vary)):
        values = dict(zip(names, combo))
        net = load_spec(dict(spec) if isinstance(spec, Mapping) else spec, set_vars={**fixed, **values})
        report = analyze(net)
        rows.append(SweepRow(values, net.name, report.totals.params, costing(report, convention, batch, training),
                             report.output_shape))
    return rows


def render_sweep(rows: Sequence[SweepRow], fmt: str):
    """csv/json text, or for `table` the (columns, cells, title) that render.print_table draws."""
    import csv
    import io
    import json

    if fmt == "json":
        return json.dumps([r.to_dict() for r in rows], indent=2) + "\n"
    first = rows[0].costing
    names = list(rows[0].values)
    label = first.convention.label
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        keys = list(rows[0].to_dict())
        w.writerow(keys)
        for r in rows:
            w.writerow(["x".join(map(str, v)) if isinstance(v, list) else v for v in r.to_dict().values()])
        return buf.getvalue()
    from .render import grouped, human_bytes

    memory = "Memory" + (f" (training, {first.training})" if first.training else "")
    columns = [(n, "right") for n in names] + [("Params", "right"), (label, "right"), ("Activations", "right"),
                                                (memory, "right")]
    cells = [[str(r.values[n]) for n in names] + [grouped(r.params), grouped(r.costing.compute),
                                                  human_bytes(r.costing.activation_bytes),
                                                  human_bytes(r.costing.total_bytes)] for r in rows]
    title = f"{rows[0].name}: {first.convention.heading}, batch {first.batch}, float32"
    return columns, cells, title
