"""Turning reports into text: rich tables for people, JSON/CSV/markdown for machines.

The only module that imports rich (lazily), and the only place numbers are
humanised (62,378,344 and 62.4 M); everything upstream stays exact ints.
"""

from __future__ import annotations

import io
import json
from typing import Any, Sequence

FORMATS = ("table", "json", "markdown", "csv")


# --- numbers -------------------------------------------------------------------------

def grouped(n: int) -> str:
    return f"{n:,}"


def si(n: int | float) -> str:
    """62378344 -> '62.4 M', 1135256096 -> '1.14 G', 896 -> '896'."""
    for div, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def human_count(n: int) -> str:
    """'62,378,344 (62.4 M)'; small numbers stay as they are."""
    return grouped(n) if abs(n) < 1000 else f"{grouped(n)} ({si(n)})"


def human_bytes(n: int) -> str:
    """Binary units: 1.23 MiB."""
    for div, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def rf_text(rf) -> str:
    if rf is None:
        return "-"
    return shape_text(rf.size)


def expect_text(row, detail: bool = True) -> str:
    if row.expect is None:
        return ""
    if row.expect.ok:
        return "ok"
    if not detail:
        return "MISMATCH"
    parts = []
    for field, expected, actual in row.expect.mismatches:
        if field == "shape":
            parts.append(f"shape: expected {shape_text(expected)}, got {shape_text(actual)}")
        else:
            parts.append(f"{field}: expected {grouped(expected)}, got {grouped(actual)}")
    return "MISMATCH " + "; ".join(parts)


def _is_graph(report) -> bool:
    previous = "input"
    for row in report.rows:
        if row.inputs != (previous,):
            return True
        previous = row.name
    return False


# --- the report ------------------------------------------------------------------------

def report_json(report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def report_csv(report) -> str:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "name", "type", "inputs", "output_shape", "params", "trainable_params",
                "non_trainable_params", "macs", "flops", "output_bytes", "rf_size", "rf_jump", "rf_start",
                "expect", "warnings"])
    for r in report.rows:
        rf = r.receptive_field
        w.writerow([r.index, r.name, r.type, " ".join(r.inputs), shape_text(r.output_shape), r.params,
                    r.trainable_params, r.non_trainable_params, r.macs, r.flops, r.output_bytes,
                    shape_text(rf.size) if rf else "", shape_text(rf.jump) if rf else "",
                    "x".join(str(s) for s in rf.start) if rf else "",
                    expect_text(r), " | ".join(r.warnings)])
    return buf.getvalue()


def _totals_lines(report) -> list[tuple[str, str]]:
    t = report.totals
    return [
        ("Total params", human_count(t.params)),
        ("Trainable params", human_count(t.trainable_params)),
        ("Non-trainable params", human_count(t.non_trainable_params)),
        ("MACs", human_count(t.macs)),
        ("FLOPs (2 x MACs)", human_count(t.flops)),
        ("Input memory", human_bytes(t.input_bytes)),
        ("Activation memory", f"{human_bytes(t.activation_bytes)} (every layer's output, batch 1, float32)"),
        ("Parameter memory", human_bytes(t.param_bytes)),
        ("Total memory", human_bytes(t.total_bytes)),
    ]


def report_markdown(report, compute: tuple[str, list[int]] | None = None) -> str:
    """`compute`: (heading, one number per row) replaces the MACs column (`show --convention NAME`)."""
    graph = _is_graph(report)
    has_expect = any(r.expect is not None for r in report.rows)
    heading, values = compute if compute else ("MACs", [r.macs for r in report.rows])
    head = ["#", "Layer", "Type"] + (["Inputs"] if graph else []) + ["Output shape", "Params", heading, "RF"]
    head += ["Expect"] if has_expect else []
    lines = [f"### {report.name}", "", f"Input: {shape_text(report.input_shape)}", "",
             "| " + " | ".join(head) + " |", "|" + "|".join("---:" if h in ("#", "Params", heading) else "---" for h in head) + "|"]
    for r, value in zip(report.rows, values):
        cells = [str(r.index), r.name, r.type] + ([", ".join(r.inputs)] if graph else [])
        cells += [shape_text(r.output_shape), grouped(r.params), grouped(value), rf_text(r.receptive_field)]
        cells += [expect_text(r)] if has_expect else []
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    lines += [f"- **{k}**: {v}" for k, v in _totals_lines(report)]
    for w in _all_warnings(report):
        lines.append(f"- warning: {w}")
    return "\n".join(lines) + "\n"


def _all_warnings(report) -> list[str]:
    return [w for r in report.rows for w in r.warnings] + list(report.warnings)


def report_table(report, console, compute: tuple[str, list[int]] | None = None) -> None:
    """Print the rich table and totals on `console`, fitted to its width; `compute` as in `report_markdown`.

    Names, types and numbers never wrap: on a narrow terminal MACs are shown as 118 M, then the RF column is
    dropped (and a note says so); the JSON/CSV formats always carry everything.
    """
    from rich.table import Table
    from rich.text import Text

    graph = _is_graph(report)
    has_expect = any(r.expect is not None for r in report.rows)
    heading, values = compute if compute else ("MACs", [r.macs for r in report.rows])
    value_of = {id(r): v for r, v in zip(report.rows, values)}
    columns: list[tuple[str, dict, Any]] = [
        ("#", {"justify": "right", "style": "dim"}, lambda r: str(r.index)),
        ("Layer", {}, lambda r: r.name),
        ("Type", {}, lambda r: r.type),
    ]
    if graph:
        columns.append(("Inputs", {"overflow": "fold", "no_wrap": False}, lambda r: ", ".join(r.inputs)))
    columns += [
        ("Output shape", {}, lambda r: shape_text(r.output_shape)),
        ("Params", {"justify": "right"}, lambda r: grouped(r.params)),
        (heading, {"justify": "right"}, lambda r: grouped(value_of[id(r)])),
        ("RF", {"justify": "right"}, lambda r: rf_text(r.receptive_field)),
    ]
    if has_expect:
        columns.append(("Expect", {}, lambda r: expect_text(r, detail=False)))
    cells = [[get(r) for _, _, get in columns] for r in report.rows]
    names = [c[0] for c in columns]

    def width(skip=()) -> int:
        keep = [i for i, n in enumerate(names) if n not in skip and n != "Inputs"]
        inputs = 15 if graph and "Inputs" not in skip else 0  # Inputs folds: it needs room for a name, not a list
        return sum(max(len(names[i]), *(len(row[i]) for row in cells)) + 3 for i in keep) + 1 + inputs

    hidden: list[str] = []
    if width() > console.width:
        mac = names.index(heading)
        for row, r in zip(cells, report.rows):
            row[mac] = si(value_of[id(r)])
        if width() > console.width:
            hidden.append("RF")
        if graph and width(hidden) > console.width:
            hidden.append("Inputs")
    title = f"{report.name}  (input {shape_text(report.input_shape)})"
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    shown = [i for i, n in enumerate(names) if n not in hidden]
    for i in shown:
        name, opts, _ = columns[i]
        table.add_column(name, **{"no_wrap": True, **opts})
    for row in cells:
        out: list[Any] = [row[i] for i in shown]
        if has_expect:
            out[-1] = Text(out[-1], style="green" if out[-1] == "ok" else "bold red")
        table.add_row(*out)
    console.print(table)
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column()
    for k, v in _totals_lines(report):
        totals.add_row(k, v)
    console.print(totals)
    for w in _all_warnings(report):
        console.print(Text(f"warning: {w}", style="yellow"), soft_wrap=True)
    if hidden:
        console.print(Text(f"({' and '.join(hidden)} column{'s' if len(hidden) > 1 else ''} hidden at this terminal "
                           "width; widen it or use --format json)",
                           style="dim"), soft_wrap=True)
    failures = report.expect_failures
    for r in failures:
        console.print(Text(f"expect failed: {r.name}: {expect_text(r)[len('MISMATCH '):]}", style="bold red"),
                      soft_wrap=True)
    if failures:
        console.print(Text(f"{len(failures)} expectation{'s' if len(failures) > 1 else ''} failed: "
                           + ", ".join(r.name for r in failures), style="bold red"))


def make_console(file=None, width: int | None = None):
    from rich.console import Console

    return Console(file=file, width=width, highlight=False, soft_wrap=False, markup=False)  # names are not markup


def render(report, fmt: str) -> str:
    """Any format but `table` as a string (table needs a console: use report_table)."""
    if fmt == "json":
        return report_json(report) + "\n"
    if fmt == "csv":
        return report_csv(report)
    if fmt == "markdown":
        return report_markdown(report)
    raise ValueError(fmt)


def table_to_text(report, width: int = 120) -> str:
    """The table format as plain text (no colour), e.g. for golden files."""
    buf = io.StringIO()
    console = make_console(file=buf, width=width)
    console.no_color = True
    report_table(report, console)
    return buf.getvalue()


# --- compare: one row per net (archcalc.compare.NetSummary) -------------------------------

COMPARE_HEAD = ("Net", "Year", "Depth", "Params (trainable)", "MACs", "Memory", "RF", "Place", "Top-5 error",
                "Authors")


def _compare_head(rows) -> tuple[str, ...]:
    label = _compute_label(rows)
    return tuple(label if h == "MACs" else h for h in COMPARE_HEAD)


def _compute_label(rows) -> str:
    """'MACs', or e.g. 'Mult-Adds (torchinfo) x8' when a convention or batch was chosen."""
    if not rows:
        return "MACs"
    s = rows[0]
    label = s.compute_label if s.convention == "macs" else f"{s.compute_label} ({s.convention})"
    return label + (f" x{s.batch}" if s.batch != 1 else "")


def _compare_cells(s) -> list[str]:
    return [s.name, str(s.year or ""), str(s.depth), grouped(s.trainable_params), grouped(s.compute),
            human_bytes(s.memory_bytes), shape_text(s.receptive_field) if s.receptive_field else "-",
            s.place or "", s.top5_error or "", s.authors or ""]


COMPARE_NOTE = ("Params: trainable (the papers' figure). Depth: conv and dense layers on the longest path. "
                "Memory: input + every layer's output (times the batch) + parameters, float32. "
                "RF: receptive field where the spatial layers end.")


def _short_bytes(n: int) -> str:
    """3 significant digits: '586 MiB', '52.8 MiB'."""
    for div, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n} B"


def _rf_short(size) -> str:
    """(212, 212) -> '212'; unequal axes stay '5x7'; none -> '-'."""
    if not size:
        return "-"
    return str(size[0]) if len(set(size)) == 1 else shape_text(size)


def compare_table(rows, console) -> None:
    """Compact for a terminal: MACs humanised and no authors (markdown, csv and json carry every exact figure)."""
    from rich import box
    from rich.table import Table

    from rich.text import Text

    table = Table(title="Case studies", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("Net", overflow="fold", min_width=10)
    for head in ("Year", "Depth", "Params", _compute_label(rows), "Memory", "RF"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("Place", min_width=3)
    table.add_column("Top-5", min_width=5)
    for s in rows:
        table.add_row(s.name, str(s.year or ""), str(s.depth), grouped(s.trainable_params), si(s.compute),
                      _short_bytes(s.memory_bytes), _rf_short(s.receptive_field), s.place or "", s.top5_error or "")
    console.print(table)
    console.print(Text(COMPARE_NOTE, style="dim"))


def render_compare(rows, fmt: str, width: int = 120) -> str:
    """`archcalc compare` in any format, as text."""
    if fmt == "json":
        return json.dumps([s.to_dict() for s in rows], indent=2) + "\n"
    if fmt == "csv":
        import csv

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "year", "depth", "weighted_layers", "params", "trainable_params", "macs",
                    "convention", "batch", "compute", "memory_bytes", "receptive_field", "rf_layer", "place",
                    "top5_error", "authors", "file"])
        for s in rows:
            w.writerow([s.name, s.year or "", s.depth, s.weighted_layers, s.params, s.trainable_params, s.macs,
                        s.convention, s.batch, s.compute, s.memory_bytes, shape_text(s.receptive_field) if s.receptive_field else "",
                        s.rf_layer or "", s.place or "", s.top5_error or "", s.authors or "", s.file or ""])
        return buf.getvalue()
    if fmt == "markdown":
        head = _compare_head(rows)
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---:" if h in ("Year", "Depth", "Params (trainable)", head[4], "Memory", "RF")
                                else "---" for h in head) + "|"]
        for s in rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _compare_cells(s)) + " |")
        return "\n".join(lines) + "\n\n" + COMPARE_NOTE + "\n"
    if fmt == "table":
        buf = io.StringIO()
        console = make_console(file=buf, width=width)
        console.no_color = True
        compare_table(rows, console)
        return buf.getvalue()
    raise ValueError(fmt)


# --- show --expand: the expanded spec as plain data --------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def spec_yaml(data) -> str:
    """A spec as YAML with one flow-style line per layer (what `show --expand` prints; load_spec reads it back)."""
    import yaml

    data = _plain(dict(data))
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


def print_table(console, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A plain rich table for the learning commands (check, solve, sweep): columns are (header, justify)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", expand=False)
    for header, justify in columns:
        table.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*[str(c) for c in row])
    console.print(table)
