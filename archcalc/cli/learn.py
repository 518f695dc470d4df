"""calc, check, solve, sweep, fit: the learning and design tools."""

from __future__ import annotations

import sys
from typing import Any

import click

from .options import (BATCH_OPTION, CONVENTION_OPTION, TRAINING_OPTION, console, echo, emit, format_option, parse_set,
                      set_option)


@click.command()
@click.argument("kind", metavar="KIND")
@click.option("--input", "input_shape", required=True, metavar="HxWxC", help="Input shape, channels last: 7x7x3.")
@click.option("--kernel", metavar="F", help="Kernel size: 3 or 3x5.")
@click.option("--stride", metavar="S", help="Stride: 2 or 2x1 (default 1; pooling: the kernel).")
@click.option("--padding", metavar="P", help="0, 1, 1x2 (per axis), 0+1 (before+after), same or valid.")
@click.option("--filters", type=click.IntRange(min=1), help="conv: number of filters (output channels).")
@click.option("--units", type=click.IntRange(min=1), help="dense: number of outputs.")
@click.option("--dilation", metavar="D", help="conv: dilation (default 1).")
@click.option("--groups", type=click.IntRange(min=1), default=1, show_default=True, help="conv: groups.")
@click.option("--no-bias", is_flag=True, help="conv/dense: no bias.")
@click.option("--mode", type=click.Choice(["max", "avg", "nearest", "bilinear"]), default=None,
              help="pool: max (default) or avg; upsample: nearest (default) or bilinear.")
@click.option("--scale", metavar="S", help="upsample: factor, 2 or 2x1 (default 2).")
@click.option("--output-padding", "output_padding", metavar="P", help="conv_transpose: extra cells after the last "
                                                                      "(default 0).")
@click.option("--rounding", type=click.Choice(["strict", "floor", "ceil"]), default=None,
              help="Non-whole output sizes: strict (default) reports that they do not fit.")
@click.option("--output-size", "output", metavar="O", help="adaptive pools: output size, 7 or 7x7.")
@format_option("text", "json")
def calc(kind: str, input_shape: str, kernel: str | None, stride: str | None, padding: str | None,
         filters: int | None, units: int | None, dilation: str | None, groups: int, no_bias: bool, mode: str | None,
         scale: str | None, output_padding: str | None, rounding: str | None,
         output: str | None, fmt: str) -> None:
    """One layer with the working shown: output size per axis, shape, parameters, MACs, receptive field.

    KIND is any layer kind with a calculator (conv, conv_transpose, dense, maxpool, avgpool, upsample, ...) or pool.

    \b
    archcalc calc conv --input 7x7x3 --kernel 3 --stride 2 --padding 1 --filters 6
    archcalc calc conv_transpose --input 28x28x1024 --filters 512 --kernel 2 --stride 2
    Exit status: 0, or 2 for impossible settings (e.g. a kernel larger than the padded input).
    """
    from ..learn.calc import calc as calc_layer
    from ..output.text import to_json

    w = calc_layer(kind, input_shape, kernel=kernel, stride=stride, padding=padding, filters=filters, units=units,
                   dilation=dilation, groups=groups, bias=not no_bias, mode=mode, rounding=rounding, scale=scale,
                   output_padding=output_padding, output=output)
    echo(to_json(w.to_dict()) if fmt == "json" else w.text(), nl=False)


@click.command()
@click.argument("exercises")
@click.option("--key", is_flag=True, help="Print the answer key (no grading).")
@click.option("--spec-root", metavar="DIR", default=None,
              help="Folder that exercises' spec: files must lie in (default: the current directory).")
@format_option("table", "json")
def check(exercises: str, key: bool, spec_root: str | None, fmt: str) -> None:
    """Grade the answers in an EXERCISES file (YAML/JSON); print the worked solution of each wrong one.

    \b
    The file:
      title: Quiz 1
      exercises:
        - {id: q1, input: 11x11x1, layers: [{type: conv, filters: 1, kernel: 3, stride: 2}],
           answer: {shape: 5x5x1, params: 10}}
        - {id: stem, input: 224x224x3, target: 112x112x64, rounding: floor,
           given: {kernel: 7}, answer: {stride: 2, padding: 3}}

    \b
    Each exercise has an id, an optional question, and one of:
      input + layers   a small net written inline (layers take weights:,
                       biases: for an output answer; values: is the input)
      spec             a spec file (under --spec-root), with set: {k: 128}
      input + target   "which layer maps input to target?"; given: {kernel: 7}
                       fixes fields; any design that fits is right
    Optional: rounding (strict, floor, ceil), tolerance (for output),
    layout (hwc or chw, for output).

    \b
    Answer keys (each graded on its own):
      shape            output shape, channels last: [5, 5, 1] or 5x5x1
      params, macs     whole numbers (parameters with biases; MACs)
      fits             true or false: every output size is whole
      receptive_field  input pixels at the last spatial layer: 5 or [5, 5]
      output           the net's output for values:, nested lists
      kernel, stride, padding, filters   a design (target exercises)

    Exit status: 0 all right, 1 some answer wrong, 2 the file is invalid.
    """
    from ..learn.exercises import answer_text, grade
    from ..output.table import exercise_table
    from ..output.text import to_json

    outcome = grade(exercises, key_only=key, spec_root=spec_root)
    if fmt == "json":
        echo(to_json(outcome.key_dict() if key else outcome.to_dict()), nl=False)
    else:
        exercise_table(outcome, console(), key, answer_text)
        for r in outcome.results:
            if key:
                echo(f"\n{r.id}: {r.question}\n{r.solution}")
            elif not r.ok:
                echo(f"\n{r.id} is wrong. Working:\n{r.solution}")
        if not key:
            echo(f"\nscore: {outcome.correct}/{len(outcome.results)}")
    if not key and not outcome.all_ok:
        sys.exit(1)


def _padding(padding: str | None) -> int | str | None:
    """--padding: an int >= 0, valid (0) or same."""
    from ..errors import brief
    from ..learn.solve import SolveError

    if padding is None or padding.lower() == "same":
        return None if padding is None else "same"
    if padding.lower() == "valid":
        return 0
    try:
        pad = int(padding)
    except ValueError:
        pad = -1
    if pad < 0:
        raise SolveError(f"--padding must be an int >= 0, valid or same, got {brief(padding)}", field="padding")
    return pad


@click.command()
@click.option("--input", "input_shape", metavar="HxWxC", help="Input shape, channels last: 7x7x3.")
@click.option("--output", "output_shape", metavar="HxWxC", help="Wanted output shape: 5x5x1.")
@click.option("--kernel", type=click.IntRange(min=1), help="Fix the kernel size (or, with --target-rf, the kernel of the stack).")
@click.option("--stride", type=click.IntRange(min=1), help="Fix the stride (with --target-rf: the downsampling stride, default 2).")
@click.option("--padding", metavar="P", help="Fix the padding: an int, valid or same.")
@click.option("--rounding", type=click.Choice(["strict", "floor", "ceil"]), default="strict", show_default=True,
              help="floor (PyTorch) or ceil: also list designs whose output size rounds to the target.")
@click.option("--target-rf", type=click.IntRange(min=1), metavar="N", help="Instead: conv stacks of --kernel reaching receptive field N.")
@click.option("--pool", type=click.IntRange(min=2), metavar="P",
              help="With --target-rf: downsample with PxP pools of stride P after a conv instead of strided convs.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most this many.")
@format_option("text", "json")
def solve(input_shape: str | None, output_shape: str | None, kernel: int | None, stride: int | None,
          padding: str | None, rounding: str, target_rf: int | None, pool: int | None, limit: int, fmt: str) -> None:
    """Every (kernel, stride, padding) mapping --input to --output, practical designs first (odd kernels up
    to 7, strides 1 and 2, padding (F-1)/2 or same); or, with --target-rf, the conv stacks that reach a
    receptive field (--input bounds how many downsamplings fit).  Exit status 2 when the target is impossible.
    """
    from ..output.format import plural
    from ..output.text import to_json
    from ..learn.solve import SolveError, solve as solve_shapes, target_rf as solve_rf
    from ..spec import parse_shape

    _padding(padding)  # a negative --padding is refused in every mode
    if target_rf is not None:
        step, most, note = pool or stride or 2, None, ""
        if input_shape:
            try:
                spatial = parse_shape(input_shape, "--input")[:-1] or (1,)
            except ValueError as exc:
                raise SolveError(str(exc)) from None
            n, most = min(spatial), 0
            while n // step ** (most + 1) >= 1 and step > 1:
                most += 1
            note = f"; input {input_shape}: at most {most} downsampling{'s' if most != 1 else ''} of {step} keep a map"
        stacks = solve_rf(target_rf, kernel or 3, stride or 2, max_downsamples=most, pool=pool)[:limit]
        if fmt == "json":
            echo(to_json([s.to_dict() for s in stacks]), nl=False)
            return
        echo(f"receptive field {target_rf} with {kernel or 3}x{kernel or 3} convs "
             f"(a stride multiplies the growth of every later layer{note}):")
        for stack in stacks:
            echo(f"  {stack.text()}")
        return
    if not input_shape or not output_shape:
        raise SolveError("give --input and --output (e.g. --input 7x7x3 --output 5x5x1), or --target-rf N")
    try:
        src, dst = parse_shape(input_shape, "--input"), parse_shape(output_shape, "--output")
    except ValueError as exc:
        raise SolveError(str(exc)) from None
    found = solve_shapes(src, dst, kernel=kernel, stride=stride, padding=_padding(padding), rounding=rounding)
    if fmt == "json":
        echo(to_json([s.to_dict() for s in found[:limit]]), nl=False)
        return
    echo(f"{input_shape} -> {output_shape}: {len(found)} {plural(len(found), 'way')}, practical first "
         f"(output = (N + 2P - F) / S + 1{', rounded ' + rounding if rounding != 'strict' else ''})")
    for s in found[:limit]:
        echo(f"  {s.text()}")
    if len(found) > limit:
        echo(f"  ... and {len(found) - limit} more (--limit)")


def parse_vary(items: tuple[str, ...], fixed: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """('k=128,192', 'b=1,2') -> [('k', [128, 192]), ('b', [1, 2])]; numbers become numbers."""
    from ..errors import ArchcalcError, brief
    from ..load.vars import parse_value

    out: list[tuple[str, list[Any]]] = []
    for item in items:
        name, eq, raw = item.partition("=")
        name = name.strip()
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not eq or not name or not values:
            raise ArchcalcError(f"--vary expects NAME=V1,V2,..., got {brief(item)}", field="vary")
        if any(name == n for n, _ in out):
            raise ArchcalcError(f"--vary {name} is given twice; list all its values once: {name}=a,b,c", field="vary")
        if name in fixed:
            raise ArchcalcError(f"{name} is both --set and --vary; use one", field="vary")
        out.append((name, [parse_value(v) for v in values]))
    return out


@click.command()
@click.argument("spec")
@click.option("--vary", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A declared variable and its values (repeat for the product).")
@set_option
@CONVENTION_OPTION
@BATCH_OPTION
@TRAINING_OPTION
@click.option("--max-work", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse a sweep that analyses more than N layers in all (combinations x layers; default 2,000,000).")
@format_option("table", "csv", "json")
def sweep(spec: str, vary: tuple[str, ...], set_vars: tuple[str, ...], convention: str | None, batch: int | None,
          training: str | None, max_work: int | None, fmt: str) -> None:
    """One row per combination of variable values: params, MACs, memory, receptive field (e.g. --vary
    k=128,192,256,384).  CSV rows are printed as they finish; on a terminal a progress bar shows how far it is."""
    from ..learn.sweep import MAX_WORK, iter_sweep

    fixed = parse_set(set_vars)
    rows = iter_sweep(spec, parse_vary(vary, fixed), set_vars=fixed, convention=convention, batch=batch or 1,
                      training=training, max_work=max_work or MAX_WORK,
                      on_start=lambda total: progress.start(total) if progress else None)
    from ..output.table import Progress

    progress = Progress() if fmt != "csv" and sys.stderr.isatty() else None
    if fmt == "csv":  # streamed: each row as soon as it is computed
        from ..output.text import csv_text, sweep_csv_cells

        for i, row in enumerate(rows):
            d = row.to_dict()
            text = csv_text(list(d), [sweep_csv_cells(d)])
            echo(text if i == 0 else text.split("\n", 1)[1], nl=False)
            sys.stdout.flush()
        return
    done = []
    try:
        for row in rows:
            done.append(row)
            if progress:
                progress.advance()
    finally:
        if progress:
            progress.stop()
    emit(done, fmt, "sweep_table", "render_sweep")


@click.command()
@click.argument("spec")
@click.option("--memory", required=True, metavar="SIZE", help="Memory budget: 8GiB, 512MiB, 2GB.")
@TRAINING_OPTION
@set_option
@format_option("text", "json")
def fit(spec: str, memory: str, training: str | None, set_vars: tuple[str, ...], fmt: str) -> None:
    """The largest batch whose memory estimate (weights, activations, and with --training gradients and
    optimiser state; float32) fits in --memory.  Exit status 2 when not even batch 1 fits."""
    from .. import analyze
    from ..conventions import costing_lines, largest_batch, parse_size
    from .. import load_spec
    from ..output.text import to_json

    budget = parse_size(memory)
    batch, costing = largest_batch(analyze(load_spec(spec, set_vars=parse_set(set_vars))), budget, training)
    if fmt == "json":
        echo(to_json({"memory": budget, "batch": batch, "costing": costing.to_dict()}), nl=False)
        return
    echo(f"largest batch: {batch:,} (budget {memory} = {budget:,} bytes)")
    echo("\n".join(costing_lines(costing)))


COMMANDS = (calc, check, solve, sweep, fit)
