"""The `archcalc` command: one thin module per command group, registered in COMMAND_GROUPS.

The only package that imports click.  Each command parses its options, calls the
library, and hands the result to archcalc.output.  Errors become exit codes here:
0 all well, 1 an `expect` failed or an answer is wrong, 2 the user's input is
wrong (ArchcalcError, one or a few lines), 3 a bug in archcalc (InternalError or
any unexpected exception: one line; `archcalc --debug ...` or ARCHCALC_DEBUG=1
prints the traceback), 130 interrupted (Ctrl-C).
Heavy imports happen inside the commands, so `--help` stays instant.

Adding a command group: a module here whose COMMANDS lists its click commands,
and its name in COMMAND_GROUPS.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from ..errors import ArchcalcException
from .options import echo

COMMAND_GROUPS = ("show", "learn", "engine", "interop", "pictures")  # modules of archcalc.cli, each with COMMANDS
BUG_EXIT = 3
TRACEBACK_HOW = "run again with --debug (archcalc --debug COMMAND ...) or ARCHCALC_DEBUG=1 to see the traceback"


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("ARCHCALC_DEBUG", "") not in ("", "0")


def _bug(ctx: click.Context, exc: BaseException) -> None:
    """One line for an unexpected exception (exit 3); the traceback only when asked for."""
    if _debugging(ctx):
        import traceback

        traceback.print_exception(exc)
    try:
        detail = f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose __str__ fails
        detail = type(exc).__name__
    if len(detail) > 200:
        detail = detail[:199] + "…"
    echo(f"error: internal error ({detail.splitlines()[0] if detail else ''}). This is a bug in archcalc; "
         f"{TRACEBACK_HOW}, and please report it.", err=True)
    ctx.exit(BUG_EXIT)


class ArchcalcGroup(click.Group):
    """Maps library errors to their exit code with a short message, and anything unexpected to exit 3."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's first paragraph in full, wrapped: never cut with '...' (click's short help)."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            first = (cmd.short_help or (cmd.help or "").split("\n\n")[0]).replace("\b", "")
            rows.append((name, " ".join(first.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchcalcException as exc:  # the user's mistakes (exit 2) and InternalError (exit 3)
            try:
                text = str(exc)
            except Exception as broken:  # the error itself is broken: that is our bug
                return _bug(ctx, broken)
            if exc.exit_code == BUG_EXIT and not _debugging(ctx):
                text += f" ({TRACEBACK_HOW})"
            echo(f"error: {text}", err=True)
            if _debugging(ctx):
                import traceback

                traceback.print_exception(exc)
            ctx.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:  # a usage error: click's own text, escaped
            import io

            buf = io.StringIO()
            exc.show(file=buf)
            echo(buf.getvalue(), nl=False, err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:  # Ctrl-C: the shell's code for SIGINT, not 1 ("a check failed")
            echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `archcalc show ... | head`
            sys.stderr.close()
            ctx.exit(0)
        except Exception as exc:
            _bug(ctx, exc)


@click.group(cls=ArchcalcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archcalc")
@click.option("--debug", is_flag=True, help="Print the traceback of an error (also: ARCHCALC_DEBUG=1).")
def main(debug: bool) -> None:
    """Exact shapes, parameters, MACs, memory and receptive fields of convolutional networks."""


for _group in COMMAND_GROUPS:
    for _command in importlib.import_module(f"{__name__}.{_group}").COMMANDS:
        main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
