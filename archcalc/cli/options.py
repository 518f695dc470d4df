"""Options shared by several commands, and the two ways a command prints (echo, console)."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]),
                             default="table", show_default=True, help="Output format.")
#: conventions.NAMES, spelt out so that building the CLI does not import conventions (a test keeps them equal)
CONVENTION_NAMES = ("macs", "flops", "torchinfo", "fvcore", "ptflops", "ptflops-aten", "thop")
_CONVENTION_HELP = ("What to count: macs = MACs of conv and dense (default), flops = 2 x MACs, or the total a "
                    "counting tool prints (torchinfo, fvcore, ptflops, ptflops-aten, thop)")
#: show, compare, sweep: one convention, or `all` side by side
CONVENTION_OPTION = click.option("--convention", type=click.Choice(CONVENTION_NAMES + ("all",)), default=None,
                                 help=_CONVENTION_HELP + "; all = every convention side by side (show: with its "
                                                         "terms, and why they differ).")
#: commands that show one compute figure (report)
ONE_CONVENTION_OPTION = click.option("--convention", type=click.Choice(CONVENTION_NAMES), default=None,
                                     help=_CONVENTION_HELP + ".")
BATCH_OPTION = click.option("--batch", type=click.IntRange(min=1), default=None, metavar="N",
                            help="Batch size: scales MACs and activation memory (default 1).")
TRAINING_OPTION = click.option("--training", type=click.Choice(["sgd", "adam"]), default=None,
                               help="Add gradients and optimiser state to the memory estimate "
                                    "(sgd = with momentum: +2 copies of the parameters; adam: +3).")


def format_option(*choices: str) -> Callable[[F], F]:
    """--format with these choices, the first the default."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True)


def set_option(f: F) -> F:
    return click.option("--set", "set_vars", multiple=True, metavar="NAME=VALUE",
                        help="Override a variable declared under the spec's vars: (repeatable).")(f)


def parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    """('k=256', 'name=x') -> {'k': 256, 'name': 'x'}; numbers become numbers."""
    from ..load.vars import parse_value
    from ..output.format import escape

    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {escape(repr(item))}", param_hint="--set")
        name, _, raw = item.partition("=")
        out[name.strip()] = parse_value(raw.strip())
    return out


def echo(text: str, *, nl: bool = True, err: bool = False) -> None:
    """Print text, every control character escaped except line breaks (output.format.escape_message)."""
    from ..output.format import escape_message

    click.echo(escape_message(text), nl=nl, err=err)


def console() -> Any:
    """The rich console tables are drawn on: stdout at the terminal's width, or at COLUMNS when set; without a
    terminal (a file, a pipe) tables keep their natural width and full numbers, with no trailing spaces."""
    import os
    import sys

    from ..output.table import make_console, unpadded

    if os.environ.get("COLUMNS", "").strip() or sys.stdout.isatty():
        return make_console()
    return make_console(file=unpadded(sys.stdout), width=100_000)


def emit(data: Any, fmt: str, table: str, text: str) -> None:
    """--format table: output.table.<table>(data, console); any other: output.text.<text>(data, fmt) echoed."""
    if fmt == "table":
        from ..output import table as tables

        getattr(tables, table)(data, console())
    else:
        from ..output import text as texts

        echo(getattr(texts, text)(data, fmt), nl=False)
