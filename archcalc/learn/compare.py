"""One summary row per net, for `archcalc compare`: the case-study table of the notes, computed.

Depth is the number of weighted layers (conv and dense) on the longest path from
the input to the output, the count papers quote (ResNet-50 has 50, GoogLeNet 22);
`weighted_layers` counts all of them (ResNet-50's 4 projection shortcuts make 54).
"""

from __future__ import annotations

from ..errors import brief

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..analysis import WEIGHTED_TYPES, LayerRow, Report

SORT_KEYS = ("params", "macs", "year")


@dataclass(frozen=True, slots=True)
class NetSummary:
    name: str
    file: str | None
    year: int | None
    authors: str | None
    place: str | None
    top5_error: str | None
    input_shape: tuple[int, ...]
    layers: int
    depth: int
    weighted_layers: int
    params: int
    trainable_params: int
    macs: int
    activation_bytes: int
    param_bytes: int
    memory_bytes: int
    receptive_field: tuple[int, ...] | None
    rf_layer: str | None
    bias_adds: int = 0
    rf_conv: tuple[int, ...] | None = None  # at the last conv layer
    rf_conv_layer: str | None = None
    compute: int = 0          # the convention's count for the whole batch (plain MACs at batch 1 by default)
    compute_label: str = "MACs"
    convention: str = "macs"
    batch: int = 1
    #: --convention all: {name: {"total", "terms"}} of every convention, times the batch (compute stays macs)
    by_convention: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "file": self.file, "year": self.year, "authors": self.authors,
            "place": self.place, "top5_error": self.top5_error, "input_shape": list(self.input_shape),
            "layers": self.layers, "depth": self.depth, "weighted_layers": self.weighted_layers,
            "params": self.params, "trainable_params": self.trainable_params,
            "non_trainable_params": self.params - self.trainable_params, "macs": self.macs,
            "memory": {"activation_bytes": self.activation_bytes, "param_bytes": self.param_bytes,
                       "total_bytes": self.memory_bytes},
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "rf_layer": self.rf_layer,
            "receptive_field_last_conv": list(self.rf_conv) if self.rf_conv else None,
            "rf_conv_layer": self.rf_conv_layer,
            "compute": {"convention": self.convention, "label": self.compute_label, "batch": self.batch,
                        "value": self.compute},
            **({"by_convention": self.by_convention} if self.by_convention is not None else {}),
        }


def path_depth(report: Report) -> int:
    """Weighted layers (conv, dense) on the longest input-to-output path."""
    depth: dict[str, int] = {"input": 0}
    for row in report.rows:
        depth[row.name] = max(depth[r] for r in row.inputs) + (row.type in WEIGHTED_TYPES)
    return depth[report.rows[-1].name]


def final_receptive_field(report: Report) -> tuple[str | None, tuple[int, ...] | None]:
    """The receptive field where the spatial part of the net ends: the largest among the spatial layers whose output
    feeds a layer without spatial axes (flatten, dense, global pooling), else that of the last spatial layer."""
    spatial = {r.name: r for r in report.rows if r.receptive_field is not None and len(r.output_shape) >= 2}
    ends = [spatial[ref] for r in report.rows if r.name not in spatial for ref in r.inputs if ref in spatial]
    if not ends:
        if not spatial:
            return None, None
        last = [r for r in report.rows if r.name in spatial][-1]
        return last.name, _rf_size(last)
    best = max(ends, key=lambda r: (_rf_size(r), r.index))
    return best.name, _rf_size(best)


def rf_ends(report: Report) -> tuple[tuple[str, tuple[int, ...]] | None, tuple[str, tuple[int, ...]] | None]:
    """(last conv's name and receptive field, the last spatial layer's): where a pool follows the last conv the two
    differ (a 32 conv field becomes 36 after a 2x2 pool), so both are reported, labelled."""
    convs = [r for r in report.rows if r.receptive_field is not None and "conv" in r.type]
    conv = (convs[-1].name, _rf_size(convs[-1])) if convs else None
    name, size = final_receptive_field(report)
    return conv, (name, size) if name is not None and size is not None else None


def _rf_size(row: LayerRow) -> tuple[Any, ...]:  # ints, or exact Fractions after a transposed conv
    assert row.receptive_field is not None  # only rows of spatial layers are asked
    return row.receptive_field.size


def summarize(report: Report, convention: str | None = None, batch: int = 1,
              training: str | None = None) -> NetSummary:
    """One row; `convention` (macs, flops, torchinfo, fvcore, ptflops, ptflops-aten, thop, or all: every one in
    `by_convention`, the compute column macs) and `batch` scale the compute column and the input + activation
    memory (parameters are stored once); `training` (sgd, adam) makes the memory that of a training step
    (gradients and optimiser state too)."""
    from ..conventions import ALL, by_convention, costing, get

    net, t = report.network, report.totals
    every = convention == ALL
    conv = get(None if every else convention)
    rf_layer, rf = final_receptive_field(report)
    last_conv, _ = rf_ends(report)
    return NetSummary(
        name=net.name, file=net.file, year=net.year, authors=net.authors, place=net.place,
        top5_error=net.top5_error, input_shape=net.input_shape, layers=len(report.rows),
        depth=path_depth(report), weighted_layers=sum(r.type in WEIGHTED_TYPES for r in report.rows),
        params=t.params, trainable_params=t.trainable_params, macs=t.macs,
        activation_bytes=t.activation_bytes * batch, param_bytes=t.param_bytes,
        memory_bytes=(costing(report, None if every else convention, batch, training).total_bytes if training
                      else (t.input_bytes + t.activation_bytes) * batch + t.param_bytes),
        receptive_field=rf, rf_layer=rf_layer, bias_adds=t.bias_adds,
        rf_conv=last_conv[1] if last_conv else None, rf_conv_layer=last_conv[0] if last_conv else None,
        compute=conv.count(report) * batch, compute_label=conv.label, convention=conv.name, batch=batch,
        by_convention=by_convention(report, batch) if every else None,
    )


def sort_summaries(rows: Sequence[NetSummary], key: str | None) -> list[NetSummary]:
    """Ascending by params (trainable, the papers' figure), macs or year (nets without a year last); ties keep the
    given order."""
    if key is None:
        return list(rows)
    if key not in SORT_KEYS:
        raise ValueError(f"sort key must be one of {', '.join(SORT_KEYS)}, got {brief(key)}")
    if key == "year":
        return sorted(rows, key=lambda r: (r.year is None, r.year or 0))
    return sorted(rows, key=lambda r: r.trainable_params if key == "params" else r.compute)


def compare(sources: Iterable[Any], sort: str | None = "year", convention: str | None = None,
            batch: int = 1, set_vars: Any = None, training: str | None = None) -> list[NetSummary]:
    """Spec paths (or mappings, or Networks) -> one NetSummary per net, sorted.  `set_vars` is given to every
    spec (each must declare the variables)."""
    from ..analysis import analyze
    from ..load import load_spec
    from ..spec import Network

    rows = []
    for source in sources:
        net = source if isinstance(source, Network) else load_spec(source, set_vars=set_vars or None)
        rows.append(summarize(analyze(net), convention, batch, training))
    return sort_summaries(rows, sort)
