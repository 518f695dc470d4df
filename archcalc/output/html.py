"""One self-contained HTML file per net (`report_html`) or per zoo (`compare_html`).

Everything is inline (CSS, JS, SVG, PNG as base64): the file opens from disk with no network access.
The report holds the metadata, the totals as cards, the diagram (svg.py), the per-layer table (sortable,
with a filter box; hovering a layer anywhere highlights it everywhere), column charts of parameters,
compute and activation memory per layer (or per block at `depth`), the receptive-field growth, the
conventions and the warnings.  Numbers are exact ints until they are written here.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from .svg import draw_graph, shape_text
from .svg import fmt as _fmt

_ASSETS = "archcalc.output"
NUM = ' class="num"'
META_LABELS = {"source": "Source", "year": "Year", "authors": "Authors", "place": "ILSVRC place",
               "top5_error": "Top-5 error"}


def _x(value: Any) -> str:
    return escape(str(value), quote=True)


def _asset(name: str) -> str:
    from importlib.resources import files

    return files(_ASSETS).joinpath(name).read_text(encoding="utf-8")


# --- what the report shows, per row -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Row:
    index: int
    name: str
    type: str
    shape: tuple[int, ...]
    params: int
    trainable: int
    compute: int
    activation_bytes: int
    rf: int | None


def _compute(report: Any, convention: str | None) -> Any:
    """The costing under `convention` (its total; the per-row column is conventions.layer_column)."""
    from ..conventions import costing

    return costing(report, convention)


def _rows(report: Any, cost: Any, depth: int | None) -> list[_Row]:
    """Rows of the report, collapsed at `depth` the way collapse.py does; compute and activation memory are
    summed over the members of a block (its output shape and RF are its last member's).  The compute column is
    `show --convention NAME --depth N`'s: conventions.layer_column."""
    from ..analysis.collapse import collapse, group_name
    from ..conventions import layer_column

    raw = report.rows
    shown = collapse(report, depth).rows if depth is not None else raw
    compute = layer_column(report, shown, cost.convention)
    out: list[_Row] = []
    i = 0
    for row, value in zip(shown, compute):
        members = []
        key = group_name(row.name, depth) if depth is not None else row.name
        while i < len(raw) and (group_name(raw[i].name, depth) if depth is not None else raw[i].name) == key:
            members.append(raw[i])
            i += 1
        if not members:  # collapse and this walk disagree: show the row as it is
            members = [row]
        rf = row.receptive_field.size[0] if row.receptive_field is not None else None
        out.append(_Row(row.index, row.name, row.type, tuple(row.output_shape), row.params, row.trainable_params,
                        value, sum(m.output_bytes for m in members), rf))
    return out


# --- charts (SVG) -------------------------------------------------------------------------------

#: the plot area of a chart over the layer order: one slot of `step` pixels per row, from `left`
_Frame = NamedTuple("_Frame", [("left", float), ("top", float), ("plot_h", float), ("step", float)])


def _slot(f: _Frame, i: int) -> float:
    return f.left + i * f.step


def _frame(title: str, rows: Sequence[_Row], top_text: str) -> tuple[_Frame, list[str]]:
    """A chart's opening: caption, axis with its top value, and the layer names under the slots (small nets)."""
    n = len(rows)
    f = _Frame(64.0, 28.0, 150.0, min(36.0, max(3.0, 900.0 / max(n, 1))))
    names = n <= 48
    width = f.left + n * f.step + 20
    height = f.top + f.plot_h + (72.0 if names else 16.0)
    base = f.top + f.plot_h
    out = [f'<figure class="chart"><figcaption>{_x(title)}</figcaption>'
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" class="chart-svg">',
           f'<line x1="{f.left}" y1="{base}" x2="{width - 10:.0f}" y2="{base}" stroke="#9ca3af"/>',
           f'<text x="{f.left - 6}" y="{f.top + 4}" text-anchor="end" class="axis">{_x(top_text)}</text>',
           f'<text x="{f.left - 6}" y="{base}" text-anchor="end" class="axis">0</text>']
    if names:
        out += [f'<text class="tick" transform="translate({_slot(f, i) + f.step / 2 + 3:.1f},{base + 6}) '
                f'rotate(-55)" text-anchor="end">{_x(_short(row.name))}</text>' for i, row in enumerate(rows)]
    return f, out


def _column_chart(title: str, rows: Sequence[_Row], values: Sequence[int], text: Sequence[str], top_text: str,
                  colour: str, mark_max: str | None = None) -> str:
    """One column per row over the layer order, a tooltip per column; `mark_max` labels the tallest column."""
    peak = max(values, default=0)
    f, out = _frame(title, rows, top_text)
    for i, (row, v, t) in enumerate(zip(rows, values, text)):
        h = f.plot_h * v / peak if peak else 0.0
        x = _slot(f, i)
        cls = " peak" if mark_max and v == peak and peak else ""
        out.append(f'<rect class="bar{cls}" data-layer="{_x(row.name)}" x="{x + 0.5:.1f}" y="{f.top + f.plot_h - h:.1f}" '
                   f'width="{max(f.step - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                   f'<title>{_x(row.name)}: {_x(t)}</title></rect>')
        if cls:
            out.append(f'<text x="{x + f.step / 2:.1f}" y="{f.top + f.plot_h - h - 6:.1f}" text-anchor="middle" '
                       f'class="peak-label">{_x(mark_max)}: {_x(row.name)}, {_x(t)}</text>')
    out.append("</svg></figure>")
    return "\n".join(out)


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else "\u2026" + name[-(limit - 1):]


def _line_chart(title: str, rows: Sequence[_Row]) -> str:
    """Receptive field (first spatial axis) after each layer that has one."""
    points = [(i, r.rf) for i, r in enumerate(rows) if r.rf is not None]
    if not points:
        return ""
    peak = max(v for _, v in points)
    f, out = _frame(title, rows, f"{peak} px")
    xy = [(_slot(f, i) + f.step / 2, f.top + f.plot_h - f.plot_h * v / peak) for i, v in points]
    out.append('<path d="' + " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(xy))
               + '" fill="none" stroke="#7c3aed" stroke-width="2"/>')
    for (i, v), (x, y) in zip(points, xy):
        out.append(f'<circle class="dot" data-layer="{_x(rows[i].name)}" cx="{x:.1f}" cy="{y:.1f}" '
                   f'r="{min(4.0, f.step / 2):.1f}" fill="#7c3aed"><title>{_x(rows[i].name)}: {v}x{v}</title></circle>')
    out.append("</svg></figure>")
    return "\n".join(out)


# --- page ---------------------------------------------------------------------------------------

def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_x(title)}</title><style>{_asset('report.css')}</style></head>\n<body>\n{body}\n"
            f"<script>{_asset('report.js')}</script>\n</body></html>\n")


def _long_text(text: str, limit: int = 110) -> str:
    """Short text as it is; a long one folded after its first sentence (click to read all)."""
    if len(text) <= limit:
        return _x(text)
    cut = text.find(". ", 30, limit)
    head = text[:cut + 1] if cut > 0 else text[:limit].rsplit(" ", 1)[0] + " \u2026"
    return f"<details><summary>{_x(head)}</summary>{_x(text)}</details>"


def _cards(cards: Iterable[tuple[str, str, str]]) -> str:
    return '<section class="cards">' + "".join(
        f'<div class="card" data-total="{_x(key)}"><div class="card-label">{_x(label)}</div>'
        f'<div class="card-value">{value}</div></div>' for key, label, value in cards) + "</section>"


def _table(head: Sequence[tuple[str, bool]], rows: Iterable[tuple[str | None, Sequence[tuple[str, Any]]]],
           table_id: str, what: str = "name, type, shape") -> str:
    """A sortable table: head = (title, numeric); each row = (layer name for hover linking, [(text, sort key)])."""
    th = "".join(f'<th data-numeric="{int(num)}" tabindex="0">{_x(t)}</th>' for t, num in head)
    body = []
    for name, cells in rows:
        attr = f' data-layer="{_x(name)}"' if name is not None else ""
        tds = "".join(f'<td data-v="{_x(key)}"{NUM if num else ""}>{text}</td>'
                      for (text, key), (_, num) in zip(cells, head))
        body.append(f"<tr{attr}>{tds}</tr>")
    return (f'<div class="table-tools"><input type="search" class="filter" data-table="{table_id}" '
            f'placeholder="filter rows ({what})" aria-label="filter rows"></div>'
            f'<div class="table-wrap"><table id="{table_id}" class="sortable"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def report_html(report: Any, convention: str | None = None, depth: int | None = None,
                maps: Mapping[str, bytes] | None = None) -> str:
    """The whole report as one HTML page; `maps` ({layer name: PNG bytes}, from maps.map_grids) adds the
    activation-map grids."""
    fmt = _fmt()
    cost = _compute(report, convention)
    label = cost.convention.heading
    net, t = report.network, report.totals
    rows = _rows(report, cost, depth)
    meta = [(k, getattr(net, k, None)) for k in ("source", "year", "authors", "place", "top5_error")]
    meta_html = "".join(f"<dt>{_x(META_LABELS[k])}</dt><dd>{_long_text(str(v))}</dd>" for k, v in meta if v is not None)
    cards = [
        ("params", "Parameters", f"{t.params:,}<small>{fmt.si(t.params)}</small>"),
        ("trainable_params", "Trainable", f"{t.trainable_params:,}"),
        ("non_trainable_params", "Non-trainable", f"{t.non_trainable_params:,}"),
        ("compute", label, f"{cost.compute:,}<small>{fmt.si(cost.compute)}</small>"),
        ("activation_bytes", "Activation memory", f"{fmt.human_bytes(t.activation_bytes)}"
                                                  f"<small>peak live {fmt.human_bytes(t.peak_activation_bytes)}</small>"),
        ("param_bytes", "Parameter memory", fmt.human_bytes(t.param_bytes)),
        ("total_bytes", "Total memory", f"{fmt.human_bytes(t.total_bytes)}<small>float32, batch 1</small>"),
    ]
    head = [("#", True), ("Layer", False), ("Type", False), ("Output shape", False), ("Params", True),
            (label, True), ("Activation", True), ("RF", True)]
    table = _table(head, ((r.name, [(str(r.index), r.index), (_x(r.name), r.name), (_x(r.type), r.type),
                                    (shape_text(r.shape), math.prod(r.shape)), (f"{r.params:,}", r.params),
                                    (f"{r.compute:,}", r.compute), (fmt.human_bytes(r.activation_bytes), r.activation_bytes),
                                    (f"{r.rf}" if r.rf is not None else "-", r.rf if r.rf is not None else -1)])
                          for r in rows), "layers")
    unit = "block" if depth else "layer"
    charts = "".join([
        _column_chart(f"Parameters per {unit}", rows, [r.params for r in rows],
                      [f"{r.params:,} params" for r in rows], fmt.si(max(r.params for r in rows)), "#2563eb"),
        _column_chart(f"{label} per {unit}", rows, [r.compute for r in rows],
                      [f"{r.compute:,} {label}" for r in rows], fmt.si(max(r.compute for r in rows)), "#ea580c"),
        _column_chart("Activation memory per " + ("block (sum of its outputs)" if depth else "layer output"), rows,
                      [r.activation_bytes for r in rows], [fmt.human_bytes(r.activation_bytes) for r in rows],
                      fmt.human_bytes(max(r.activation_bytes for r in rows)), "#16a34a", mark_max="largest"),
        _line_chart("Receptive field growth (pixels, first spatial axis)", rows),
    ])
    warnings = [w for r in report.rows for w in r.warnings] + list(report.warnings)
    notes = "".join(f"<li>{_x(a)}</li>" for a in cost.assumptions)
    notes += f"<li>parameters: every weight and bias; non-trainable = batchnorm's moving mean and variance</li>"
    warn = ("<ul class=\"warnings\">" + "".join(f"<li>{_x(w)}</li>" for w in warnings) + "</ul>") if warnings \
        else "<p class=\"muted\">No warnings.</p>"
    map_html = ""
    if maps:
        map_html = '<section><h2>Activation maps</h2><div class="maps">' + "".join(
            f'<figure data-layer="{_x(name)}"><img alt="activation maps of {_x(name)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"><figcaption>{_x(name)}</figcaption>'
            "</figure>" for name, png in maps.items()) + "</div></section>"
    depth_note = f" (blocks collapsed at depth {depth})" if depth else ""
    body = (f'<header><h1>{_x(report.name)}</h1><p class="muted">input {shape_text(report.input_shape)} \u2192 output '
            f'{shape_text(report.output_shape)}; {len(report.rows)} layers{depth_note}</p>'
            f'<dl class="meta">{meta_html}</dl></header>\n{_cards(cards)}\n'
            f'<section class="split"><div class="panel diagram"><h2>Diagram</h2>'
            f'<div class="diagram-scroll">{draw_graph(report, "tb", depth)}</div></div>'
            f'<div class="panel"><h2>Layers</h2>{table}</div></section>\n'
            f'<section><h2>Per layer</h2><div class="charts">{charts}</div></section>\n{map_html}'
            f'<section class="split"><div class="panel"><h2>Conventions</h2><ul>{notes}</ul></div>'
            f'<div class="panel"><h2>Warnings</h2>{warn}</div></section>'
            f'<footer class="muted">made by archcalc from the spec; exact integers, humanised only here</footer>')
    return _page(f"{report.name}: archcalc report", body)


def _hbar_chart(title: str, names: Sequence[str], values: Sequence[int], text: Sequence[str], colour: str) -> str:
    """One horizontal bar per net."""
    label_w = max((len(n) for n in names), default=4) * 6.0 + 16
    bar_h, plot_w = 22.0, 300.0
    width, height = label_w + plot_w + 70, 20 + bar_h * len(names)
    peak = max(values, default=0)
    out = [f'<figure class="chart"><figcaption>{_x(title)}</figcaption>'
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" class="chart-svg">']
    for i, (name, v, t) in enumerate(zip(names, values, text)):
        y = 10 + i * bar_h
        w = plot_w * v / peak if peak else 0.0
        out.append(f'<text x="{label_w - 8:.0f}" y="{y + 15:.0f}" text-anchor="end" class="axis">{_x(name)}</text>'
                   f'<rect class="bar" data-layer="{_x(name)}" x="{label_w:.0f}" y="{y + 3:.0f}" width="{w:.1f}" '
                   f'height="{bar_h - 6:.0f}" fill="{colour}"><title>{_x(name)}: {_x(t)}</title></rect>'
                   f'<text x="{label_w + w + 6:.1f}" y="{y + 15:.0f}" class="axis">{_x(t)}</text>')
    out.append("</svg></figure>")
    return "\n".join(out)


def compare_html(summaries: Sequence[Any]) -> str:
    """The `archcalc compare` table (compare.NetSummary rows) with bar charts of parameters and compute."""
    from .format import compare_compute_columns

    fmt = _fmt()
    label = summaries[0].compute_label if summaries else "MACs"
    convention = summaries[0].convention if summaries else ""
    every = bool(summaries) and summaries[0].by_convention is not None
    compute = compare_compute_columns(summaries) if every else [(label, lambda s: s.compute)]
    head = [("Net", False), ("Year", True), ("Depth", True), ("Params (trainable)", True),
            *((heading, True) for heading, _ in compute),
            ("Memory", True), ("RF", True), ("Place", False), ("Top-5 error", False)]
    table = _table(head, ((s.name, [
        (_x(s.name), s.name), (str(s.year or "-"), s.year or 0), (str(s.depth), s.depth),
        (f"{s.trainable_params:,}", s.trainable_params), *((f"{value(s):,}", value(s)) for _, value in compute),
        (fmt.human_bytes(s.memory_bytes), s.memory_bytes),
        (shape_text(s.receptive_field) if s.receptive_field else "-", s.receptive_field[0] if s.receptive_field else -1),
        (_x(s.place or "-"), s.place or ""), (_x(s.top5_error or "-"), s.top5_error or "")]) for s in summaries),
        "nets", "name, year, place")
    names = [s.name for s in summaries]
    charts = (_hbar_chart("Parameters (trainable)", names, [s.trainable_params for s in summaries],
                          [fmt.si(s.trainable_params) for s in summaries], "#2563eb")
              + _hbar_chart(f"{label} ({convention}, batch {summaries[0].batch if summaries else 1})", names,
                            [s.compute for s in summaries], [fmt.si(s.compute) for s in summaries], "#ea580c"))
    body = (f'<header><h1>Comparison of {len(summaries)} nets</h1><p class="muted">Params: trainable (the papers\' '
            'figure). Depth: conv and dense layers on the longest path. Memory: input + activations + parameters, '
            f'float32.</p></header>\n<section class="panel">{table}</section>\n'
            f'<section><div class="charts">{charts}</div></section>')
    return _page("archcalc: comparison", body)


__all__ = ["report_html", "compare_html"]
