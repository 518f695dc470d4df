"""Reports as JSON, CSV, markdown and YAML strings (for machines, files and documents).

No rich here: the terminal table is table.py.  Every cell that came from a user
goes through format.escape; JSON escapes control characters itself.
"""

from __future__ import annotations

import io
import json
from typing import Any, Callable, Iterable, Sequence

from .format import (COMPARE_NOTE, all_warnings, compare_compute_columns, escape, expect_text, grouped, human_bytes,
                     input_text, is_graph, rf_text, shape_text, totals_lines)


def to_json(data: Any) -> str:
    """Indented JSON and a final newline."""
    return json.dumps(data, indent=2) + "\n"


def csv_text(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (\\n line ends); text cells escaped."""
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for row in rows:
        w.writerow([escape(c) if isinstance(c, str) else c for c in row])
    return buf.getvalue()


def markdown_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(escape(c).replace("|", "\\|") for c in cells) + " |"


# --- the report ------------------------------------------------------------------------

REPORT_CSV_HEAD = ("index", "name", "type", "inputs", "output_shape", "params", "trainable_params",
                   "non_trainable_params", "macs", "flops", "output_bytes", "rf_size", "rf_jump", "rf_start",
                   "expect", "warnings")


def report_csv(report: Any) -> str:
    def row(r: Any) -> list[Any]:
        rf = r.receptive_field
        return [r.index, r.name, r.type, " ".join(r.inputs), shape_text(r.output_shape), r.params,
                r.trainable_params, r.non_trainable_params, r.macs, r.flops, r.output_bytes,
                shape_text(rf.size) if rf else "", shape_text(rf.jump) if rf else "",
                shape_text(rf.start) if rf else "", expect_text(r), " | ".join(r.warnings)]

    return csv_text(REPORT_CSV_HEAD, (row(r) for r in report.rows))


def report_markdown(report: Any, compute: tuple[str, list[int]] | None = None) -> str:
    """`compute`: (heading, one number per row) replaces the MACs column (`show --convention NAME`)."""
    graph = is_graph(report)
    has_expect = any(r.expect is not None for r in report.rows)
    heading, values = compute if compute else ("MACs", [r.macs for r in report.rows])
    head = ["#", "Layer", "Type"] + (["Inputs"] if graph else []) + ["Output shape", "Params", heading, "RF"]
    head += ["Expect"] if has_expect else []
    lines = [f"### {escape(report.name)}", "", f"Input: {input_text(report.input_shape)}", "",
             "| " + " | ".join(head) + " |",
             "|" + "|".join("---:" if h in ("#", "Params", heading) else "---" for h in head) + "|"]
    for r, value in zip(report.rows, values):
        cells = [str(r.index), r.name, r.type] + ([", ".join(r.inputs)] if graph else [])
        cells += [shape_text(r.output_shape), grouped(r.params), grouped(value), rf_text(r.receptive_field)]
        cells += [expect_text(r)] if has_expect else []
        lines.append(markdown_row(cells))
    lines.append("")
    lines += [f"- **{k}**: {v}" for k, v in totals_lines(report)]
    lines += [f"- warning: {escape(w)}" for w in all_warnings(report)]
    return "\n".join(lines) + "\n"


def render(report: Any, fmt: str) -> str:
    """`show` in json, csv or markdown (the table needs a console: table.report_table)."""
    if fmt == "json":
        return to_json(report.to_dict())
    if fmt == "csv":
        return report_csv(report)
    if fmt == "markdown":
        return report_markdown(report)
    raise ValueError(fmt)


# --- compare: one row per net (archcalc.compare.NetSummary) -------------------------------

COMPARE_HEAD = ("Net", "Year", "Depth", "Params (trainable)", "MACs", "Memory", "RF", "RF conv", "Place",
                "Top-5 error", "Authors")
COMPARE_CSV_HEAD = ("name", "year", "depth", "weighted_layers", "params", "trainable_params", "macs", "convention",
                    "batch", "compute", "memory_bytes", "receptive_field", "rf_layer", "place", "top5_error",
                    "authors", "file", "receptive_field_last_conv", "rf_conv_layer")


def _compare_cells(s: Any, compute: Sequence[tuple[str, Callable[[Any], int]]]) -> list[str]:
    return [s.name, str(s.year or ""), str(s.depth), grouped(s.trainable_params),
            *(grouped(value(s)) for _, value in compute), human_bytes(s.memory_bytes),
            shape_text(s.receptive_field) if s.receptive_field else "-", shape_text(s.rf_conv) if s.rf_conv else "-",
            s.place or "", s.top5_error or "",
            s.authors or ""]


def _compare_csv_row(s: Any) -> list[Any]:
    every = [entry["total"] for entry in s.by_convention.values()] if s.by_convention is not None else []
    return [s.name, s.year or "", s.depth, s.weighted_layers, s.params, s.trainable_params, s.macs, s.convention,
            s.batch, s.compute, s.memory_bytes, shape_text(s.receptive_field) if s.receptive_field else "",
            s.rf_layer or "", s.place or "", s.top5_error or "", s.authors or "", s.file or "",
            shape_text(s.rf_conv) if s.rf_conv else "", s.rf_conv_layer or "", *every]


def render_compare(rows: Sequence[Any], fmt: str, width: int = 120) -> str:
    """`archcalc compare` in any format, as text; with `--convention all` one compute column per convention
    (csv: appended after `file` as compute_macs, compute_flops, ...)."""
    if fmt == "json":
        return to_json([s.to_dict() for s in rows])
    if fmt == "csv":
        every = rows[0].by_convention if rows else None
        return csv_text(COMPARE_CSV_HEAD + tuple(f"compute_{name}" for name in every or ()),
                        (_compare_csv_row(s) for s in rows))
    if fmt == "markdown":
        compute = compare_compute_columns(rows)
        heads = [h for h, _ in compute]
        head = [h for c in COMPARE_HEAD for h in (heads if c == "MACs" else [c])]
        right = ("Year", "Depth", "Params (trainable)", *heads, "Memory", "RF", "RF conv")
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h in right else "---" for h in head) + "|"]
        lines += [markdown_row(_compare_cells(s, compute)) for s in rows]
        return "\n".join(lines) + "\n\n" + COMPARE_NOTE + "\n"
    if fmt == "table":
        from .table import compare_table, plain_text

        return plain_text(lambda console: compare_table(rows, console), width)
    raise ValueError(fmt)


# --- sweep: one row per combination (archcalc.sweep.SweepRow) -----------------------------

def render_sweep(rows: Sequence[Any], fmt: str) -> str:
    """`archcalc sweep` as csv or json."""
    if fmt == "json":
        return to_json([r.to_dict() for r in rows])
    if fmt == "csv":
        dicts = [r.to_dict() for r in rows]
        return csv_text(list(dicts[0]), (sweep_csv_cells(d) for d in dicts))
    raise ValueError(fmt)


def sweep_csv_cells(d: dict[str, Any]) -> list[Any]:
    """One sweep row's CSV cells: shapes and receptive fields as 5x5x1, a missing field empty."""
    return [shape_text(v) if isinstance(v, list) else "" if v is None else v for v in d.values()]


# --- show --expand: the expanded spec as plain data --------------------------------------------

def plain(value: Any) -> Any:
    """Tuples -> lists, recursively (for json.dumps and yaml.safe_dump)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def spec_yaml(data: Any) -> str:
    """A spec as YAML with one flow-style line per layer (what `show --expand` prints; load_spec reads it back)."""
    import yaml

    data = plain(dict(data))
    head = {k: v for k, v in data.items() if k != "layers"}
    out = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None) if head else ""
    layers = data.get("layers")
    if not isinstance(layers, list):  # not a spec's layers: print it as it is (load_spec names the problem)
        return out + yaml.safe_dump({"layers": layers}, sort_keys=False, allow_unicode=True)
    out += "layers:\n"
    for layer in layers:
        line = yaml.safe_dump(layer, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6)
        out += "  - " + line.strip() + "\n"
    return out


def expanded_text(data: Any, fmt: str) -> str:
    """`show --expand`: YAML, or JSON with --format json."""
    return to_json(plain(data)) if fmt == "json" else spec_yaml(data)
