"""Collapsing expanded blocks into one row each, as torchinfo's `depth` does.

Layer names from blocks are paths (`res2.1/conv1`, `res2.1/add`); at depth N a
row keeps the first N parts of its name, and consecutive rows that share that
prefix become one row whose counts are the sums of theirs.  Totals are the
report's own, never recomputed, so they are the same at every depth.
"""

from __future__ import annotations

from dataclasses import replace

from .records import ExpectResult, LayerRow, Report


def group_name(name: str, depth: int) -> str:
    """'res2.1/conv1' at depth 1 -> 'res2.1'; names with fewer parts stay."""
    parts = name.split("/")
    return "/".join(parts[:depth]) if len(parts) > depth else name


def collapse(report: Report, depth: int | None) -> Report:
    """The report with block rows below `depth` merged; `depth` None or large enough returns it unchanged."""
    if depth is None:
        return report
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    runs: list[list[LayerRow]] = []
    for row in report.rows:
        key = group_name(row.name, depth)
        if runs and group_name(runs[-1][0].name, depth) == key:
            runs[-1].append(row)
        else:
            runs.append([row])
    return replace(report, rows=[_merge(run, depth) for run in runs])


def _merge(run: list[LayerRow], depth: int) -> LayerRow:
    first, last = run[0], run[-1]
    name = group_name(first.name, depth)
    if len(run) == 1 and name == first.name:
        renamed = tuple(group_name(ref, depth) for ref in first.inputs)
        return first if renamed == first.inputs else replace(first, inputs=renamed)
    members = {r.name for r in run}
    inputs: list[str] = []
    shapes: list[tuple[int, ...]] = []
    for r in run:
        for ref, shape in zip(r.inputs, r.input_shapes):
            if ref in members:
                continue
            outer = group_name(ref, depth)
            if outer not in inputs:
                inputs.append(outer)
                shapes.append(shape)
    expects = [r.expect for r in run if r.expect is not None]
    expect = (ExpectResult(all(e.ok for e in expects), [m for e in expects for m in e.mismatches])
              if expects else None)
    return LayerRow(
        index=first.index, name=name, type=f"{len(run)} layers", inputs=tuple(inputs), input_shapes=tuple(shapes),
        output_shape=last.output_shape, params=sum(r.params for r in run),
        trainable_params=sum(r.trainable_params for r in run), macs=sum(r.macs for r in run),
        bias_adds=sum(r.bias_adds for r in run), receptive_field=last.receptive_field, axes=(),
        warnings=[w for r in run for w in r.warnings], expect=expect, layer=None,
    )
