"""Sweeps: one analysis per combination of variable values (`archcalc sweep --vary k=128,192,256,384`).

Each combination is passed to `load_spec(..., set_vars=...)`, so a sweep can only
vary variables the spec declares under `vars:` (the same check as `set_vars`).
Several varied variables give the product, in the order given.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..conventions import ALL, Costing, by_convention, costing
from ..errors import ArchcalcError

MAX_COMBINATIONS = 10_000
MAX_WORK = 2_000_000  # layers analysed in all (combinations x layers): about a minute; --max-work raises it


@dataclass(slots=True)
class SweepRow:
    values: dict[str, Any]
    name: str
    params: int
    costing: Costing
    output_shape: tuple[int, ...]
    #: --convention all: {name: {"total", "terms"}} of every convention, times the batch (the costing is macs)
    by_convention: dict[str, dict[str, Any]] | None = None
    receptive_field: tuple[int, ...] | None = None  # where the spatial layers end (as compare reports it)

    def to_dict(self) -> dict[str, Any]:
        c = self.costing
        if self.by_convention is not None:
            compute = {name: entry["total"] for name, entry in self.by_convention.items()}
        else:
            compute = {c.convention.name: c.compute}  # macs, flops, torchinfo, ...: the convention's name
        return {**self.values, "params": self.params, **compute,
                "activation_bytes": c.activation_bytes, "param_bytes": c.param_bytes,
                "total_bytes": c.total_bytes, "output_shape": list(self.output_shape),
                "receptive_field": list(self.receptive_field) if self.receptive_field else None}


def sweep(spec: Any, vary: Sequence[tuple[str, Sequence[Any]]], *, set_vars: Mapping[str, Any] | None = None,
          convention: str | None = None, batch: int = 1, training: str | None = None,
          max_work: int = MAX_WORK) -> list[SweepRow]:
    """Analyse `spec` once per combination of the varied values; `convention` all gives every convention's total
    (the costing is then the default's)."""
    return list(iter_sweep(spec, vary, set_vars=set_vars, convention=convention, batch=batch, training=training,
                           max_work=max_work))


def iter_sweep(spec: Any, vary: Sequence[tuple[str, Sequence[Any]]], *, set_vars: Mapping[str, Any] | None = None,
               convention: str | None = None, batch: int = 1, training: str | None = None,
               max_work: int = MAX_WORK, on_start: Callable[[int], None] | None = None) -> Iterator[SweepRow]:
    """The rows of `sweep` as they are computed.  Before the first, the whole sweep's work (combinations x layers
    of the first combination) is checked against `max_work`; `on_start(total)` is called once it is accepted."""
    from ..analysis import analyze
    from ..load import load_spec
    from .compare import final_receptive_field

    if not vary:
        raise ArchcalcError("give at least one variable to vary, with its values", field="vary")
    total = 1
    for _, values in vary:
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise ArchcalcError(f"{total:,} combinations; a sweep runs at most {MAX_COMBINATIONS:,}", field="vary")
    fixed = dict(set_vars or {})
    clash = [n for n, _ in vary if n in fixed]
    if clash:
        raise ArchcalcError(f"{clash[0]} is both set and varied; use one", field="vary")
    names = [n for n, _ in vary]
    started = False
    for combo in itertools.product(*(values for _, values in vary)):
        chosen = dict(zip(names, combo))
        net = load_spec(dict(spec) if isinstance(spec, Mapping) else spec, set_vars={**fixed, **chosen})
        if not started:
            work = total * len(net.layers)
            if work > max_work:
                raise ArchcalcError(f"this sweep analyses about {work:,} layers ({total:,} combinations x "
                                    f"{len(net.layers):,} layers), over the limit of {max_work:,}; vary fewer values, "
                                    "or raise the limit with --max-work N", field="vary")
            started = True
            if on_start is not None:
                on_start(total)
        report = analyze(net)
        every = convention == ALL
        yield SweepRow(chosen, net.name, report.totals.params,
                       costing(report, None if every else convention, batch, training), report.output_shape,
                       by_convention(report, batch) if every else None, final_receptive_field(report)[1])
