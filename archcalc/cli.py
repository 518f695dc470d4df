"""The `archcalc` command: thin click commands over the library.

The only module that imports click.  Each command parses its arguments, calls
the library, and hands the result to render.py.  Any ArchcalcError becomes one
or a few lines on stderr and exit code 2; a failed `expect` is exit code 1.
Heavy imports happen inside the commands, so `--help` stays instant.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .errors import ArchcalcError

FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]),
                             default="table", show_default=True, help="Output format.")


def _set_option(f):
    return click.option("--set", "set_vars", multiple=True, metavar="NAME=VALUE",
                        help="Override a variable declared under the spec's vars: (repeatable).")(f)


CONVENTION_NAMES = ("macs", "flops", "torchinfo", "fvcore", "ptflops", "ptflops-aten", "thop")  # conventions.NAMES
_CONVENTION_HELP = ("What to count: macs = MACs of conv and dense (default), flops = 2 x MACs, or the total a "
                    "counting tool prints (torchinfo, fvcore, ptflops, ptflops-aten, thop).")
CONVENTION_OPTION = click.option("--convention", type=click.Choice(CONVENTION_NAMES), default=None,
                                 help=_CONVENTION_HELP)
SHOW_CONVENTION_OPTION = click.option("--convention", type=click.Choice(CONVENTION_NAMES + ("all",)), default=None,
                                      help=_CONVENTION_HELP + " all = every convention with its terms, and why "
                                                              "they differ.")
BATCH_OPTION = click.option("--batch", type=click.IntRange(min=1), default=None, metavar="N",
                            help="Batch size: scales MACs and activation memory (default 1).")
TRAINING_OPTION = click.option("--training", type=click.Choice(["sgd", "adam"]), default=None,
                               help="Add gradients and optimiser state to the memory estimate "
                                    "(sgd = with momentum: +2 copies of the parameters; adam: +3).")


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
    from .load.vars import parse_value as parse

    return parse(raw)


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
@SHOW_CONVENTION_OPTION
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
    from .analysis import analyze
    from .load import load_spec

    if expand:
        import json

        from .load import expanded_data
        from .render import _plain, spec_yaml

        data = expanded_data(spec, set_vars=parse_set(set_vars))
        click.echo(json.dumps(_plain(data), indent=2) if fmt == "json" else spec_yaml(data), nl=fmt == "json")
        return
    full = analyze(load_spec(spec, set_vars=parse_set(set_vars)))
    report = full
    if depth is not None:
        from .collapse import collapse

        report = collapse(full, depth)
    if convention or batch or training:
        echo_report_costing(full, report, fmt, convention, batch, training)
    else:
        echo_report(report, fmt)
    if report.expect_failures:
        sys.exit(1)


@main.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@FORMAT_OPTION
@click.option("--sort", "sort", type=click.Choice(["params", "macs", "year"]), default="year", show_default=True,
              help="Order of the rows (ascending; params = trainable parameters).")
@CONVENTION_OPTION
@BATCH_OPTION
def compare(specs: tuple[str, ...], fmt: str, sort: str, convention: str | None, batch: int | None) -> None:
    """One row per net: year, depth, params, MACs, memory, receptive field, place and top-5 error."""
    from . import render
    from .compare import compare as compare_nets

    rows = compare_nets(specs, sort=sort, convention=convention, batch=batch or 1)
    if fmt == "table":
        render.compare_table(rows, render.make_console())
    else:
        click.echo(render.render_compare(rows, fmt), nl=False)


# --- learning and design tools (issue 5): calc, explain, check, solve, sweep, fit -----------------

def echo_report_costing(full, report, fmt: str, convention: str | None, batch: int | None,
                        training: str | None) -> None:
    """`show` with --convention/--batch/--training: the report (its compute column following the convention), then
    the costing (JSON: under "costing", with every convention's total and terms under "by_convention").
    `full` is the analysis before --depth collapsed it into `report`."""
    import json

    from . import conventions, render

    every = convention == "all"
    c = conventions.costing(full, None if every else convention, batch or 1, training)
    if fmt == "json":
        cost = {**c.to_dict(), "by_convention": conventions.by_convention(full)}
        if every:
            cost["why_they_differ"] = conventions.why_they_differ(full)
        click.echo(json.dumps({**report.to_dict(), "costing": cost}, indent=2))
        return
    if fmt == "csv":
        raise click.UsageError("--convention, --batch and --training print their totals with --format table, "
                               "markdown or json (csv is one row per layer)")
    compute = None
    if convention and not every:
        compute = (c.convention.heading, conventions.layer_column(full, report.rows, c.convention))
    if fmt == "table":
        render.report_table(report, render.make_console(), compute=compute)
    else:
        click.echo(render.report_markdown(report, compute=compute), nl=False)
    if every:
        _echo_conventions(full, fmt)
    click.echo("\n".join(conventions.costing_lines(c, markdown=fmt == "markdown")))


def _echo_conventions(report, fmt: str) -> None:
    """`show --convention all`: one row per convention (its total and the terms that make it up), then why."""
    from . import conventions, render

    rows = [[name, render.grouped(entry["total"]), conventions.terms_text(report, name)]
            for name, entry in conventions.by_convention(report).items()]
    why = conventions.why_they_differ(report)
    if fmt == "markdown":
        lines = ["", "| Convention | Total | Terms |", "|---|---:|---|"]
        lines += [f"| {name} | {total} | {terms} |" for name, total, terms in rows]
        click.echo("\n".join(lines + ["", why, ""]))
        return
    _echo_rich_table([("Convention", "left"), ("Total", "right"), ("Terms", "left")], rows,
                     f"{report.name}: every counting convention (batch 1)")
    click.echo(why)


def _echo_rich_table(columns, rows, title=None) -> None:
    from . import render

    render.print_table(render.make_console(), columns, rows, title)


@main.command()
@click.argument("kind", type=click.Choice(["conv", "pool", "dense"]))
@click.option("--input", "input_shape", required=True, metavar="HxWxC", help="Input shape, channels last: 7x7x3.")
@click.option("--kernel", metavar="F", help="Kernel size: 3 or 3x5.")
@click.option("--stride", metavar="S", help="Stride: 2 or 2x1 (default 1; pooling: the kernel).")
@click.option("--padding", metavar="P", help="0, 1, 1x2 (per axis), 0+1 (before+after), same or valid.")
@click.option("--filters", type=click.IntRange(min=1), help="conv: number of filters (output channels).")
@click.option("--units", type=click.IntRange(min=1), help="dense: number of outputs.")
@click.option("--dilation", metavar="D", help="conv: dilation (default 1).")
@click.option("--groups", type=click.IntRange(min=1), default=1, show_default=True, help="conv: groups.")
@click.option("--no-bias", is_flag=True, help="conv/dense: no bias.")
@click.option("--mode", type=click.Choice(["max", "avg"]), default="max", show_default=True, help="pool: max or avg.")
@click.option("--rounding", type=click.Choice(["strict", "floor", "ceil"]), default=None,
              help="Non-whole output sizes: strict (default) reports that they do not fit.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def calc(kind, input_shape, kernel, stride, padding, filters, units, dilation, groups, no_bias, mode, rounding,
         fmt) -> None:
    """One layer with the working shown: output size per axis, shape, parameters, MACs, receptive field.

    \b
    archcalc calc conv --input 7x7x3 --kernel 3 --stride 2 --padding 1 --filters 6
    Exit status: 0, or 2 for impossible settings (e.g. a kernel larger than the padded input).
    """
    import json

    from .calc import calc as calc_layer

    w = calc_layer(kind, input_shape, kernel=kernel, stride=stride, padding=padding, filters=filters, units=units,
                   dilation=dilation, groups=groups, bias=not no_bias, mode=mode, rounding=rounding)
    click.echo(json.dumps(w.to_dict(), indent=2) if fmt == "json" else w.text(), nl=fmt == "json")


@main.command()
@click.argument("spec")
@click.option("--layer", metavar="NAME", help="Only this layer.")
@_set_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(spec: str, layer: str | None, set_vars: tuple[str, ...], fmt: str) -> None:
    """The working of every layer of SPEC (or one): how each shape, parameter and MAC count follows."""
    import json

    from .analysis import analyze
    from .explain import explain as explain_report
    from .load import load_spec

    workings = explain_report(analyze(load_spec(spec, set_vars=parse_set(set_vars))), layer)
    if fmt == "json":
        click.echo(json.dumps([w.to_dict() for w in workings], indent=2))
    else:
        click.echo("\n".join(w.text() for w in workings), nl=False)


@main.command()
@click.argument("exercises")
@click.option("--key", is_flag=True, help="Print the answer key (no grading).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check(exercises: str, key: bool, fmt: str) -> None:
    """Grade the answers in an EXERCISES file (YAML/JSON); print the worked solution of each wrong one.

    Exit status: 0 all right, 1 some answer wrong, 2 the file is invalid.
    """
    import json

    from .exercises import answer_text, grade

    outcome = grade(exercises, key_only=key)
    if fmt == "json":
        click.echo(json.dumps(outcome.key_dict() if key else outcome.to_dict(), indent=2))
    elif key:
        _echo_rich_table([("Id", "left"), ("Question", "left"), ("Answer", "left")],
                         [(r.id, r.question, answer_text(r.expected)) for r in outcome.results],
                         f"{outcome.title}: answer key")
        for r in outcome.results:
            click.echo(f"\n{r.id}: {r.question}\n{r.solution}")
    else:
        _echo_rich_table([("Id", "left"), ("Question", "left"), ("Your answer", "left"), ("Correct answer", "left"),
                          ("", "left")],
                         [(r.id, r.question, answer_text(r.given), answer_text(r.expected),
                           "ok" if r.ok else "WRONG") for r in outcome.results], outcome.title)
        for r in outcome.results:
            if not r.ok:
                click.echo(f"\n{r.id} is wrong. Working:\n{r.solution}")
        click.echo(f"\nscore: {outcome.correct}/{len(outcome.results)}")
    if not key and not outcome.all_ok:
        sys.exit(1)


@main.command()
@click.option("--input", "input_shape", metavar="HxWxC", help="Input shape, channels last: 7x7x3.")
@click.option("--output", "output_shape", metavar="HxWxC", help="Wanted output shape: 5x5x1.")
@click.option("--kernel", type=click.IntRange(min=1), help="Fix the kernel size (or, with --target-rf, the kernel of the stack).")
@click.option("--stride", type=click.IntRange(min=1), help="Fix the stride (with --target-rf: the downsampling stride, default 2).")
@click.option("--padding", metavar="P", help="Fix the padding: an int, valid or same.")
@click.option("--target-rf", type=click.IntRange(min=1), metavar="N", help="Instead: conv stacks of --kernel reaching receptive field N.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most this many.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def solve(input_shape, output_shape, kernel, stride, padding, target_rf, limit, fmt) -> None:
    """Every (kernel, stride, padding) mapping --input to --output, smallest first; or, with --target-rf,
    the conv stacks that reach a receptive field.  Exit status 2 when the target is impossible.
    """
    import json

    from .solve import SolveError, solve as solve_shapes, target_rf as solve_rf
    from .spec import parse_shape

    if target_rf is not None:
        stacks = solve_rf(target_rf, kernel or 3, stride or 2)[:limit]
        if fmt == "json":
            click.echo(json.dumps([s.to_dict() for s in stacks], indent=2))
            return
        click.echo(f"receptive field {target_rf} with {kernel or 3}x{kernel or 3} convs "
                   "(a stride multiplies the growth of every later layer):")
        for s in stacks:
            click.echo(f"  {s.text()}")
        return
    if not input_shape or not output_shape:
        raise SolveError("give --input and --output (e.g. --input 7x7x3 --output 5x5x1), or --target-rf N")
    try:
        src, dst = parse_shape(input_shape, "--input"), parse_shape(output_shape, "--output")
    except ValueError as exc:
        raise SolveError(str(exc)) from None
    pad = None if padding is None else (padding.lower() if padding.lower() in ("same", "valid") else padding)
    if pad == "valid":
        pad = 0
    elif pad not in (None, "same"):
        try:
            pad = int(pad)
        except ValueError:
            raise SolveError(f"--padding must be an int, valid or same, got {padding!r}", field="padding") from None
    found = solve_shapes(src, dst, kernel=kernel, stride=stride, padding=pad)
    if fmt == "json":
        click.echo(json.dumps([s.to_dict() for s in found[:limit]], indent=2))
        return
    click.echo(f"{input_shape} -> {output_shape}: {len(found)} way{'s' if len(found) != 1 else ''}, smallest first "
               "(output = (N + 2P - F) / S + 1)")
    for s in found[:limit]:
        click.echo(f"  {s.text()}")
    if len(found) > limit:
        click.echo(f"  ... and {len(found) - limit} more (--limit)")


@main.command()
@click.argument("spec")
@click.option("--vary", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A declared variable and its values (repeat for the product).")
@_set_option
@CONVENTION_OPTION
@BATCH_OPTION
@TRAINING_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sweep(spec, vary, set_vars, convention, batch, training, fmt) -> None:
    """One row per combination of variable values: params, MACs, memory (e.g. --vary k=128,192,256,384)."""
    from .sweep import parse_vary, render_sweep, sweep as run_sweep

    rows = run_sweep(spec, parse_vary(vary), set_vars=parse_set(set_vars), convention=convention,
                     batch=batch or 1, training=training)
    if fmt == "table":
        columns, cells, title = render_sweep(rows, "table")
        _echo_rich_table(columns, cells, title)
    else:
        click.echo(render_sweep(rows, fmt), nl=False)


@main.command()
@click.argument("spec")
@click.option("--memory", required=True, metavar="SIZE", help="Memory budget: 8GiB, 512MiB, 2GB.")
@TRAINING_OPTION
@_set_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def fit(spec, memory, training, set_vars, fmt) -> None:
    """The largest batch whose memory estimate (weights, activations, and with --training gradients and
    optimiser state; float32) fits in --memory.  Exit status 2 when not even batch 1 fits."""
    import json

    from .analysis import analyze
    from .conventions import costing_lines, largest_batch, parse_size
    from .load import load_spec

    budget = parse_size(memory)
    batch, costing = largest_batch(analyze(load_spec(spec, set_vars=parse_set(set_vars))), budget, training)
    if fmt == "json":
        click.echo(json.dumps({"memory": budget, "batch": batch, "costing": costing.to_dict()}, indent=2))
        return
    click.echo(f"largest batch: {batch:,} (budget {memory} = {budget:,} bytes)")
    click.echo("\n".join(costing_lines(costing)))


# --- the forward-pass engine (issue 4): init, run ------------------------------------------------

@main.command()
@click.argument("spec")
@click.option("-o", "--output", "output", required=True, metavar="WEIGHTS.npz", help="Where to write the weights.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of the Glorot-uniform init.")
@_set_option
def init(spec: str, output: str, seed: int, set_vars: tuple[str, ...]) -> None:
    """Write seeded initial weights of SPEC to a .npz (keys <layer>.<weight|bias|...>, float32)."""
    from .analysis import analyze
    from .engine.forward import init_params
    from .engine.weights import save_params
    from .load import load_spec

    net = load_spec(spec, set_vars=parse_set(set_vars))
    if not output.strip() or os.path.isdir(output):
        raise ArchcalcError(f"-o {output!r} must name a file to write, such as weights.npz", field="output")
    try:
        if analyze(net).totals.param_bytes > sys.maxsize:  # more than numpy can even describe
            raise MemoryError
        params = init_params(net, seed=seed)
    except MemoryError:
        raise ArchcalcError(f"not enough memory for the parameters of {spec}; nothing written") from None
    try:
        save_params(output, params)
    except OSError as exc:
        raise ArchcalcError(f"cannot write {output}: {exc.strerror or exc}") from None
    arrays = sum(len(entry) for entry in params.values())
    values = sum(a.size for entry in params.values() for a in entry.values())
    click.echo(f"wrote {output}: {arrays} arrays, {values:,} parameters of {len(params)} layers (seed {seed})")


@main.command()
@click.argument("spec")
@click.option("--input", "input_path", metavar="X.npy|IMAGE",
              help="Input: an .npy of shape (N, *input) or (*input), or a PNG/JPEG resized to the input (needs Pillow).")
@click.option("--random", "random_input", is_flag=True, help="Random standard-normal input (seeded by --seed).")
@click.option("--weights", metavar="W.npz", help="Weights written by `archcalc init` (default: seeded init).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the default weights and --random.")
@click.option("--save", metavar="OUT.npy", help="Save the net's output to an .npy file.")
@click.option("--all", "show_all", is_flag=True, help="Show every layer (default: conv and dense layers and the output).")
@click.option("--batch", type=click.IntRange(min=1), default=None, metavar="N", help="Batch size (default 1, or the .npy's).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--max-memory", default="2GiB", show_default=True, metavar="SIZE",
              help="Refuse to start a run whose estimated peak memory exceeds SIZE (512MiB, 2GiB, 4GB).")
@_set_option
def run(spec: str, input_path: str | None, random_input: bool, weights: str | None, seed: int, save: str | None,
        show_all: bool, batch: int | None, dtype: str, max_memory: str, set_vars: tuple[str, ...]) -> None:
    """Run SPEC forward on an input with NumPy; print each layer's output shape and min / mean / max.

    Every output shape is checked against what `archcalc show` computes.  For a classifier the
    top-5 classes are printed.  Exit status 2 on a bad spec, input, weights file or memory budget.
    """
    from .engine import run as R
    from .load import load_spec

    if (input_path is None) == (not random_input):
        raise click.UsageError("give exactly one of --input X.npy and --random")
    net = load_spec(spec, set_vars=parse_set(set_vars))
    budget = R.parse_size(max_memory)
    R.check_budget(R.estimate_memory(net, batch or 1, dtype), budget)  # before building a --random or --batch input
    if random_input:
        import numpy as np

        x = np.random.default_rng(seed).standard_normal((batch or 1, *net.input_shape), dtype=np.float32)
    else:
        x = R.load_input(input_path, net, batch)
    params = None
    if weights:
        from .engine.weights import load_params

        params = load_params(weights, net)
    result = R.run_spec(net, x, params, seed=seed, dtype=dtype, max_memory=budget)
    if save:
        from .engine.weights import save_array

        save_array(save, result.output)
    _echo_run(result, show_all, save)


def _echo_run(result, show_all: bool, save: str | None) -> None:
    from . import render

    console = render.make_console()
    shown = [s for i, s in enumerate(result.layers)
             if show_all or s.type in ("conv", "dense") or i == len(result.layers) - 1]
    rows = [(s.name, "x".join(map(str, s.shape)), f"{s.min:.4g}", f"{s.mean:.4g}", f"{s.max:.4g}",
             f"{s.seconds * 1e3:.1f}") for s in shown]
    n = result.output.shape[0]
    title = f"{result.report.name}, batch {n}, {result.output.dtype}: every shape as `archcalc show` computes it"
    render.print_table(console, [("layer", "left"), ("output shape", "left"), ("min", "right"), ("mean", "right"),
                                 ("max", "right"), ("ms", "right")], rows, title)
    for i, top in enumerate(result.top5[:8]):
        label = "top-5" if n == 1 else f"top-5, sample {i}"
        render.print_table(console, [("class", "right"), ("score", "right")],
                           [(c, f"{score:.4g}") for c, score in top], label)
    if n > 8 and result.top5:
        click.echo(f"(top-5 of the first 8 of {n} samples shown)")
    est = result.estimate
    click.echo(f"time {result.seconds * 1e3:.1f} ms; estimated peak memory {render.human_bytes(est.total)} "
               f"(activations {render.human_bytes(est.activations)}, params {render.human_bytes(est.params)}, "
               f"scratch {render.human_bytes(est.scratch)})")
    if save:
        click.echo(f"saved the output {tuple(result.output.shape)} to {save}")


if __name__ == "__main__":  # pragma: no cover
    main()
