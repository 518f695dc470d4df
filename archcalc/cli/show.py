"""show, compare, explain: what a net is, layer by layer, and how nets compare."""

from __future__ import annotations

import sys
from typing import Any

import click

from .options import (BATCH_OPTION, CONVENTION_OPTION, FORMAT_OPTION, TRAINING_OPTION, console, echo, emit,
                      format_option, parse_set, set_option)


def echo_report_costing(full: Any, report: Any, fmt: str, convention: str | None, batch: int | None,
                        training: str | None) -> None:
    """`show` with --convention/--batch/--training: the report (its compute column following the convention), then
    the costing (JSON: under "costing", with every convention's total and terms under "by_convention").
    `full` is the analysis before --depth collapsed it into `report`."""
    from .. import conventions
    from ..output import table, text

    every = convention == conventions.ALL
    c = conventions.costing(full, None if every else convention, batch or 1, training)
    if fmt == "json":
        cost = {**c.to_dict(), "by_convention": conventions.by_convention(full, c.batch)}
        if every:
            cost["why_they_differ"] = conventions.why_they_differ(full)
        echo(text.to_json({**report.to_dict(), "costing": cost}), nl=False)
        return
    if fmt == "csv":
        raise click.UsageError("--convention, --batch and --training print their totals with --format table, "
                               "markdown or json (csv is one row per layer)")
    compute = None
    if convention and not every:
        compute = (c.convention.heading, conventions.layer_column(full, report.rows, c.convention))
    if fmt == "table":
        table.report_table(report, console(), compute=compute)
    else:
        echo(text.report_markdown(report, compute=compute), nl=False)
    if every:
        _echo_conventions(full, fmt)
    echo("\n".join(conventions.costing_lines(c, markdown=fmt == "markdown")))


def _echo_conventions(report: Any, fmt: str) -> None:
    """`show --convention all`: one row per convention (its total and the terms that make it up), then why."""
    from .. import conventions
    from ..output.format import grouped
    from ..output.table import print_table
    from ..output.text import markdown_row

    rows = [[name, grouped(entry["total"]), conventions.terms_text(report, name)]
            for name, entry in conventions.by_convention(report).items()]
    why = conventions.why_they_differ(report)
    if fmt == "markdown":
        lines = ["", "| Convention | Total | Terms |", "|---|---:|---|"] + [markdown_row(row) for row in rows]
        echo("\n".join(lines + ["", why, ""]))
        return
    print_table(console(), [("Convention", "left"), ("Total", "right"), ("Terms", "left")], rows,
                f"{report.name}: every counting convention (batch 1)")
    echo(why)


@click.command()
@click.argument("spec")
@FORMAT_OPTION
@set_option
@CONVENTION_OPTION
@BATCH_OPTION
@TRAINING_OPTION
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="Collapse blocks: keep N levels of layer names (res2.1/conv1 at depth 1 is one row res2.1). "
                   "Totals do not change.")
@click.option("--expand", is_flag=True, help="Print the spec with vars, blocks and repeats expanded "
                                             "(YAML, or JSON with --format json) instead of the table.")
def show(spec: str, fmt: str, set_vars: tuple[str, ...], convention: str | None, batch: int | None,
         training: str | None, depth: int | None, expand: bool) -> None:
    """Per-layer table and totals of the net in SPEC (a YAML or JSON file).

    Exit status: 0 when all is well, 1 when an `expect` does not hold, 2 when the spec is invalid.
    """
    from .. import analyze
    from .. import load_spec

    if expand:
        from ..load import expanded_data
        from ..output.text import expanded_text

        echo(expanded_text(expanded_data(spec, set_vars=parse_set(set_vars)), fmt), nl=False)
        return
    full = analyze(load_spec(spec, set_vars=parse_set(set_vars)))
    report = full
    if depth is not None:
        from ..analysis.collapse import collapse

        report = collapse(full, depth)
    if convention or batch or training:
        echo_report_costing(full, report, fmt, convention, batch, training)
    else:
        emit(report, fmt, "report_table", "render")
    if report.expect_failures:
        sys.exit(1)


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@format_option("table", "json", "markdown", "csv", "html")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of the terminal (html: a self-contained page).")
@click.option("--sort", "sort", type=click.Choice(["params", "macs", "year"]), default="year", show_default=True,
              help="Order of the rows (ascending; params = trainable parameters).")
@CONVENTION_OPTION
@BATCH_OPTION
@TRAINING_OPTION
@set_option
def compare(specs: tuple[str, ...], fmt: str, output: str | None, sort: str, convention: str | None,
            batch: int | None, training: str | None, set_vars: tuple[str, ...]) -> None:
    """One row per net: year, depth, params, MACs, memory, receptive field, place and top-5 error."""
    from ..learn.compare import compare as compare_nets

    if output:
        from ..output.files import check_target

        check_target(output, "comparison")
    rows = compare_nets(specs, sort=sort, convention=convention, batch=batch or 1, set_vars=parse_set(set_vars),
                        training=training)
    if fmt == "html":
        from ..output.html import compare_html

        text = compare_html(rows)
    elif output:
        from ..output.text import render_compare

        text = render_compare(rows, fmt)
    else:
        emit(rows, fmt, "compare_table", "render_compare")
        return
    if output:
        from ..output.files import write_text

        write_text(output, text, "comparison")
        echo(f"wrote {output} ({len(text.encode('utf-8')):,} bytes)")
    else:
        echo(text, nl=False)


@click.command()
@click.argument("spec")
@click.option("--layer", metavar="NAME", help="Only this layer.")
@set_option
@format_option("text", "json")
def explain(spec: str, layer: str | None, set_vars: tuple[str, ...], fmt: str) -> None:
    """The working of every layer of SPEC (or one): how each shape, parameter and MAC count follows."""
    from .. import analyze
    from ..learn.explain import explain as explain_report
    from .. import load_spec
    from ..output.text import to_json

    workings = explain_report(analyze(load_spec(spec, set_vars=parse_set(set_vars))), layer)
    if fmt == "json":
        echo(to_json([w.to_dict() for w in workings]), nl=False)
    else:
        echo("\n".join(w.text() for w in workings), nl=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (the file archcalc/schema/archcalc.schema.json).

    Point an editor at it: a first line `# yaml-language-server: $schema=PATH` in a spec, or VS Code's yaml.schemas.
    """
    from ..spec.schema import schema_text

    click.echo(schema_text(), nl=False)  # our own text: nothing to escape


COMMANDS = (show, compare, explain, schema)
