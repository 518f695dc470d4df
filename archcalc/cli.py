"""The `archcalc` command: thin click commands over the library.

The only module that imports click.  Each command parses its arguments, calls
the library, and hands the result to render.py.  Any ArchcalcError becomes one
or a few lines on stderr and exit code 2; a failed `expect` is exit code 1.
Heavy imports happen inside the commands, so `--help` stays instant.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .errors import ArchcalcError

FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]),
                             default="table", show_default=True, help="Output format.")


def _set_option(f):
    return click.option("--set", "set_vars", multiple=True, metavar="NAME=VALUE",
                        help="Override a variable declared under the spec's vars: (repeatable).")(f)


class ArchcalcGroup(click.Group):
    """Maps library errors to exit code 2 with a one-line message and no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchcalcError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:  # `archcalc show ... | head`
            sys.stderr.close()
            ctx.exit(0)


def parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    """('k=256', 'name=x') -> {'k': 256, 'name': 'x'}; numbers become numbers."""
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        name, _, raw = item.partition("=")
        out[name.strip()] = parse_value(raw.strip())
    return out


def parse_value(raw: str) -> Any:
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    return raw


def echo_report(report, fmt: str) -> None:
    from . import render

    if fmt == "table":
        render.report_table(report, render.make_console())
    else:
        click.echo(render.render(report, fmt), nl=False)


@click.group(cls=ArchcalcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archcalc")
def main() -> None:
    """Exact shapes, parameters, MACs, memory and receptive fields of convolutional networks."""


@main.command()
@click.argument("spec")
@FORMAT_OPTION
@_set_option
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="Collapse blocks: keep N levels of layer names (res2.1/conv1 at depth 1 is one row res2.1). "
                   "Totals do not change.")
@click.option("--expand", is_flag=True, help="Print the spec with vars, blocks and repeats expanded "
                                             "(YAML, or JSON with --format json) instead of the table.")
def show(spec: str, fmt: str, set_vars: tuple[str, ...], depth: int | None, expand: bool) -> None:
    """Per-layer table and totals of the net in SPEC (a YAML or JSON file).

    Exit status: 0 when all is well, 1 when an `expect` does not hold, 2 when the spec is invalid.
    """
    from .analysis import analyze
    from .io import load_spec

    if expand:
        import json

        from .blocks import expanded_data
        from .render import _plain, spec_yaml

        data = expanded_data(spec, set_vars=parse_set(set_vars))
        click.echo(json.dumps(_plain(data), indent=2) if fmt == "json" else spec_yaml(data), nl=fmt == "json")
        return
    report = analyze(load_spec(spec, set_vars=parse_set(set_vars)))
    if depth is not None:
        from .collapse import collapse

        report = collapse(report, depth)
    echo_report(report, fmt)
    if report.expect_failures:
        sys.exit(1)


@main.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@FORMAT_OPTION
@click.option("--sort", "sort", type=click.Choice(["params", "macs", "year"]), default="year", show_default=True,
              help="Order of the rows (ascending; params = trainable parameters).")
def compare(specs: tuple[str, ...], fmt: str, sort: str) -> None:
    """One row per net: year, depth, params, MACs, memory, receptive field, place and top-5 error."""
    from . import render
    from .compare import compare as compare_nets

    rows = compare_nets(specs, sort=sort)
    if fmt == "table":
        render.compare_table(rows, render.make_console())
    else:
        click.echo(render.render_compare(rows, fmt), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
