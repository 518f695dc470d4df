"""Tables for a terminal, drawn with rich: the only module that imports rich (lazily, inside functions).

Every string from a user (names, types, titles, questions) is escaped with
format.escape before it reaches rich, and rich markup is off, so neither a
terminal escape sequence nor ``[bold]`` in a name does anything.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

from .format import (COMPARE_NOTE, all_warnings, compare_compute_columns, compute_columns, escape, expect_text,
                     grouped, human_bytes, input_text, is_graph, plural, rf_short, rf_text, shape_text, short_bytes, si, stat,
                     totals_lines)


def make_console(file: Any = None, width: int | None = None) -> Any:
    """A rich Console that never interprets markup or highlights numbers."""
    from rich.console import Console

    return Console(file=file, width=width, highlight=False, soft_wrap=False, markup=False)


class _Unpadded(io.TextIOBase):
    """A text stream that drops the spaces rich pads lines with (a table drawn at a width it does not fill)."""

    def __init__(self, out: Any):
        self.out, self.pending = out, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.out.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.out.write(self.pending.rstrip(" "))
            self.pending = ""
        self.out.flush()


def unpadded(out: Any) -> Any:
    """`out` without trailing spaces on any line (for output that is not a terminal)."""
    return _Unpadded(out)


def plain_text(draw: Callable[[Any], None], width: int = 120) -> str:
    """What ``draw(console)`` prints, as plain text without colour (goldens, `render_compare(..., "table")`)."""
    buf = io.StringIO()
    console = make_console(file=buf, width=width)
    console.no_color = True
    draw(console)
    return buf.getvalue()


def _line(console: Any, text: str, style: str | None = None) -> None:
    from rich.text import Text

    console.print(Text(escape(text, keep_newlines=True), style=style or ""), soft_wrap=True)


def print_table(console: Any, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
    """A plain table (check, sweep, run): columns are (header, justify); long cells fold."""
    from rich.table import Table

    table = Table(title=None if title is None else escape(title), title_justify="left", expand=False)
    for header, justify in columns:
        table.add_column(escape(header), justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*[escape(c) for c in row])
    console.print(table)


# --- show ----------------------------------------------------------------------------------

def report_table(report: Any, console: Any, compute: tuple[str, list[int]] | None = None) -> None:
    """Print the per-layer table and the totals on `console`, fitted to its width; `compute` (heading, one number
    per row) replaces the MACs column (`show --convention NAME`).

    Names, types and numbers never wrap: on a narrow terminal MACs are shown as 118 M, then the RF column is
    dropped (and a note says so); the JSON/CSV formats always carry everything.
    """
    from rich.table import Table
    from rich.text import Text

    graph = is_graph(report)
    has_expect = any(r.expect is not None for r in report.rows)
    heading, values = compute if compute else ("MACs", [r.macs for r in report.rows])
    value_of = {id(r): v for r, v in zip(report.rows, values)}
    columns: list[tuple[str, dict[str, Any], Callable[[Any], str]]] = [
        ("#", {"justify": "right", "style": "dim"}, lambda r: str(r.index)),
        ("Layer", {}, lambda r: escape(r.name)),
        ("Type", {}, lambda r: escape(r.type)),
    ]
    if graph:
        columns.append(("Inputs", {"overflow": "fold", "no_wrap": False},
                        lambda r: escape(", ".join(r.inputs))))
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

    def width(skip: Sequence[str] = ()) -> int:
        keep = [i for i, n in enumerate(names) if n not in skip and n != "Inputs"]
        inputs = 15 if graph and "Inputs" not in skip else 0  # Inputs folds: it needs room for a name, not a list
        return sum(max(len(names[i]), *(len(row[i]) for row in cells)) + 3 for i in keep) + 1 + inputs

    hidden: list[str] = []
    wrap = False
    if width() > console.width:  # 1. compact numbers: the compute column, then params
        mac, par = names.index(heading), names.index("Params")
        for row, r in zip(cells, report.rows):
            row[mac] = si(value_of[id(r)])
        if width() > console.width:
            for row, r in zip(cells, report.rows):
                row[par] = si(r.params)
        if width() > console.width:  # 2. drop RF
            hidden.append("RF")
        if graph and width(hidden) > console.width:  # 3. drop Inputs; branch starts and merges marked instead
            hidden.append("Inputs")
            _mark_branches(report, cells, names.index("Layer"))
        if width(hidden) > console.width:  # 4. wrap names (and types)
            wrap = True
    title = f"{escape(report.name)}  (input {input_text(report.input_shape)})"
    fixed = [i for i, n in enumerate(names) if n not in hidden and n not in ("Layer", "Type", "Inputs")]
    room = console.width - sum(max(len(names[i]), *(len(row[i]) for row in cells)) + 3 for i in fixed) - 1
    if wrap and room < 2 * (6 + 3):  # 5. not even wrapped names fit: one record per layer
        _vertical(report, cells, names, hidden, title, console)
    else:
        table = Table(title=title, title_justify="left", show_lines=False, expand=False)
        shown = [i for i, n in enumerate(names) if n not in hidden]
        for i in shown:
            name, opts, _ = columns[i]
            if i in fixed:  # a number or a shape is never cut: its column is as wide as its widest cell
                opts = {**opts, "min_width": max(len(name), *(len(row[i]) for row in cells))}
            elif wrap or name == "Inputs":
                opts = {**opts, "no_wrap": False, "overflow": "fold"}
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
    for k, v in totals_lines(report):
        totals.add_row(k, v)
    console.print(totals)
    for w in all_warnings(report):
        _line(console, f"warning: {w}", "yellow")
    if hidden:
        note = " (> marks a layer read by more than one, + a layer with several inputs)" if "Inputs" in hidden else ""
        _line(console, f"({' and '.join(hidden)} {plural(len(hidden), 'column')} hidden at this terminal "
                       f"width{note}; widen it or use --format json)", "dim")
    failures = report.expect_failures
    for r in failures:
        _line(console, f"expect failed: {r.name}: {expect_text(r)[len('MISMATCH '):]}", "bold red")
    if failures:
        console.print(Text(escape(f"{len(failures)} {plural(len(failures), 'expectation')} failed: "
                                  + ", ".join(r.name for r in failures)), style="bold red"))


def _mark_branches(report: Any, cells: list[list[str]], col: int) -> None:
    """Without the Inputs column a graph's branches stay visible: '>' where a layer's output is read by more than
    one layer (a branch starts), '+' where a layer has several inputs (branches merge), before the name."""
    readers: dict[str, int] = {}
    for r in report.rows:
        for ref in r.inputs:
            readers[ref] = readers.get(ref, 0) + 1
    for row, r in zip(cells, report.rows):
        mark = "+" if len(r.inputs) > 1 else (">" if readers.get(r.name, 0) > 1 else "")
        if mark:
            row[col] = mark + row[col]


def _vertical(report: Any, cells: list[list[str]], names: list[str], hidden: list[str], title: str,
              console: Any) -> None:
    """The narrowest layout: one record per layer, a field per line, nothing cut."""
    _line(console, title)
    keep = [i for i, n in enumerate(names) if n not in hidden and n != "#"]
    for row in cells:
        _line(console, f"#{row[0]}")
        for i in keep:
            if row[i]:
                _line(console, f"  {names[i]}: {row[i]}")


# --- compare -------------------------------------------------------------------------------

def compare_table(rows: Sequence[Any], console: Any) -> None:
    """Compact for a terminal: MACs humanised and no authors (markdown, csv and json carry every exact figure)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Case studies", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    compute = compare_compute_columns(rows)
    table.add_column("Net", overflow="fold", min_width=10)
    for head in ("Year", "Depth", "Params", *(h for h, _ in compute), "Memory", "RF", "RF conv"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("Place", min_width=3)
    table.add_column("Top-5", min_width=5)
    for s in rows:
        table.add_row(escape(s.name), str(s.year or ""), str(s.depth), grouped(s.trainable_params),
                      *(si(value(s)) for _, value in compute), short_bytes(s.memory_bytes),
                      rf_short(s.receptive_field), rf_short(s.rf_conv), escape(s.place or ""),
                      escape(s.top5_error or ""))
    console.print(table)
    console.print(Text(COMPARE_NOTE, style="dim"))


# --- sweep ---------------------------------------------------------------------------------

def sweep_table(rows: Sequence[Any], console: Any) -> None:
    """One row per combination: the varied values, params, compute, activations and total memory."""
    first = rows[0].costing
    names = list(rows[0].values)
    compute = compute_columns(rows, first.convention.label, lambda r: r.costing.compute)
    memory = "Memory" + (f" (training, {first.training})" if first.training else "")
    columns = [(n, "right") for n in names] + [("Params", "right"), *((h, "right") for h, _ in compute),
                                                ("Activations", "right"), (memory, "right"), ("RF", "right")]
    cells = [[str(r.values[n]) for n in names] + [grouped(r.params), *(grouped(value(r)) for _, value in compute),
                                                  human_bytes(r.costing.activation_bytes),
                                                  human_bytes(r.costing.total_bytes), rf_short(r.receptive_field)]
             for r in rows]
    what = "every convention" if rows[0].by_convention is not None else first.convention.heading
    title = f"{rows[0].name}: {what}, batch {first.batch}, float32"
    print_table(console, columns, cells, title)


class Progress:
    """rich's progress bar on standard error (sweep, on a terminal); started once the total is known."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None

    def start(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import Progress as Bar

        self.bar = Bar(console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("sweep", total=total)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# --- check ---------------------------------------------------------------------------------

def exercise_table(outcome: Any, console: Any, key: bool, answer_text: Callable[[Any], str]) -> None:
    """The graded answers (or, with `key`, the answer key) of an exercise file."""
    if key:
        print_table(console, [("Id", "left"), ("Question", "left"), ("Answer", "left")],
                    [(r.id, r.question, answer_text(r.expected)) for r in outcome.results],
                    f"{outcome.title}: answer key")
        return
    rows: list[tuple[str, ...]] = []
    for r in outcome.results:
        if r.design_fits:  # a right design that may differ from the key's: not a contradiction
            other = {k: v for k, v in r.expected.items() if k in r.given}
            same = all(r.given.get(k) == v for k, v in other.items())
            rows.append((r.id, r.question, answer_text(r.given),
                         "your design fits" + ("" if same else f"; another answer: {answer_text(r.expected)}"),
                         "ok"))
        elif not r.parts:
            rows.append((r.id, r.question, answer_text(r.given), answer_text(r.expected), "ok" if r.ok else "WRONG"))
        else:
            for i, (k, part) in enumerate(r.parts.items()):
                rows.append((r.id if i == 0 else "", r.question if i == 0 else "", answer_text({k: part["given"]}),
                             answer_text({k: part["expected"]}), "ok" if part["ok"] else "WRONG"))
    print_table(console, [("Id", "left"), ("Question", "left"), ("Your answer", "left"), ("Correct answer", "left"),
                          ("", "left")], rows, outcome.title)


# --- run -----------------------------------------------------------------------------------

def run_tables(result: Any, console: Any, show_all: bool) -> None:
    """Each shown layer's output shape and statistics, then the top-5 classes of up to 8 samples."""
    shown = [s for i, s in enumerate(result.layers)
             if show_all or s.type in ("conv", "dense") or i == len(result.layers) - 1]
    rows = [(s.name, shape_text(s.shape), stat(s.min), stat(s.mean), stat(s.max), f"{s.seconds * 1e3:.1f}")
            for s in shown]
    n = result.output.shape[0]
    title = f"{result.report.name}, batch {n}, {result.output.dtype}: every shape as `archcalc show` computes it"
    print_table(console, [("layer", "left"), ("output shape", "left"), ("min", "right"), ("mean", "right"),
                          ("max", "right"), ("ms", "right")], rows, title)
    for i, top in enumerate(result.top5[:8]):
        label = "top-5" if n == 1 else f"top-5, sample {i}"
        print_table(console, [("class", "right"), ("score", "right")], [(str(c), stat(score)) for c, score in top],
                    label)
