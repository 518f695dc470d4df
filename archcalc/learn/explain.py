"""The working behind each number: how a layer's shape, parameters, MACs and receptive field follow from its input.

`working(row)` turns one analysed `LayerRow` into a `Working`: plain lines of arithmetic with the numbers
substituted, e.g. ``(7 + 1 + 1 - 3) / 2 + 1 = 4`` and ``(3*3*3 + 1) * 6 = 168``.  Nothing is re-derived here:
every result comes from the analysis, and each layer kind's module writes its own lines (`Kind.explain`).
"""

from __future__ import annotations

from ..analysis import LayerRow, Report
from ..errors import ArchcalcError, brief, listing
from ..layers import REGISTRY
from ..layers.working import Working, fit_text, shape_text

__all__ = ["Working", "explain", "working", "fit_text"]


def explain(report: Report, layer: str | None = None) -> list[Working]:
    """The working of every layer of `report`, or of the one named `layer`."""
    rows = report.rows
    if layer is not None:
        rows = [r for r in rows if r.name == layer]
        if not rows:
            names = listing(r.name for r in report.rows)
            raise ArchcalcError(f"no layer named {brief(layer)}; the layers are: {names}", field="layer",
                                file=report.network.file)
    return [working(r) for r in rows]


def working(row: LayerRow, *, strict: bool = False) -> Working:
    """The working of one analysed layer.  `strict`: the user asked for whole output sizes (calc's default),
    so a floored axis is reported as not fitting, with what frameworks give and what would fit."""
    kind = REGISTRY[row.type]
    in_shape = row.input_shapes[0] if row.input_shapes else ()
    what = kind.heading(row)
    src = f"on {shape_text(in_shape)}" if len(row.input_shapes) == 1 else "on " + ", ".join(
        f"{n} ({shape_text(s)})" for n, s in zip(row.inputs, row.input_shapes))
    heading = f"{row.name} ({row.type}{': ' + what if what else ''}) {src} -> {shape_text(row.output_shape)}"
    w = Working(row.name, row.type, heading, in_shape, row.output_shape, row.params, row.macs)
    kind.explain(row, w, strict)
    return w
