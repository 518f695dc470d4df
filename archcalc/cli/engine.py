"""init, run: seeded weights on disk, and a forward pass with NumPy."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import ArchcalcError
from .pictures import max_maps_option
from .options import console, echo, parse_set, set_option


def _budget_hint(exc: Any) -> ArchcalcError:
    """A MemoryBudgetError again, with the options that fix it (library messages do not name options)."""
    from ..engine.run import suggested_budget

    return ArchcalcError(exc.message, file=exc.file, field=exc.field,
                         hint=f"lower --batch, or raise the budget with --max-memory {suggested_budget(exc.needed)}")


@click.command()
@click.argument("spec")
@click.option("-o", "--output", "output", required=True, metavar="WEIGHTS.npz", help="Where to write the weights.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of the Glorot-uniform init.")
@set_option
def init(spec: str, output: str, seed: int, set_vars: tuple[str, ...]) -> None:
    """Write seeded initial weights of SPEC to a .npz (keys <layer>.<weight|bias|...>, float32)."""
    from .. import analyze
    from ..engine.forward import init_params
    from ..engine.weights import save_params
    from .. import load_spec
    from ..output.files import check_target

    net = load_spec(spec, set_vars=parse_set(set_vars))
    check_target(output, "weights file")  # before the work: a symlink, FIFO or device is refused untouched
    try:
        if analyze(net).totals.param_bytes > sys.maxsize:  # more than numpy can even describe
            raise MemoryError
        params = init_params(net, seed=seed)
    except MemoryError:
        raise ArchcalcError(f"not enough memory for the parameters of {spec}; nothing written") from None
    save_params(output, params)
    arrays = sum(len(entry) for entry in params.values())
    values = sum(a.size for entry in params.values() for a in entry.values())
    echo(f"wrote {output}: {arrays} arrays, {values:,} parameters of {len(params)} layers (seed {seed})")


@click.command()
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
@click.option("--save-maps", metavar="DIR", help="Write one PNG grid of activation maps per conv/pool layer (first "
                                                 "sample) into DIR (needs archcalc[image]).")
@max_maps_option
@set_option
def run(spec: str, input_path: str | None, random_input: bool, weights: str | None, seed: int, save: str | None,
        show_all: bool, batch: int | None, dtype: str, max_memory: str, save_maps: str | None, max_maps: int,
        set_vars: tuple[str, ...]) -> None:
    """Run SPEC forward on an input with NumPy; print each layer's output shape and min / mean / max.

    Every output shape is checked against what `archcalc show` computes.  For a classifier the
    top-5 classes are printed.  Exit status 2 on a bad spec, input, weights file or memory budget.
    """
    from ..engine import run as R
    from ..engine.weights import MemoryBudgetError
    from .. import load_spec

    if (input_path is None) == (not random_input):
        raise click.UsageError("give exactly one of --input X.npy and --random")
    net = load_spec(spec, set_vars=parse_set(set_vars))
    budget = R.parse_size(max_memory)
    if save:
        from ..output.files import check_target

        check_target(save, "output file")  # before the run: refused targets stay untouched
    if save_maps:
        from ..output.maps import MapRecorder

        MapRecorder(max_maps)  # without Pillow: one line now, before the run
    try:
        R.check_budget(R.estimate_memory(net, batch or 1, dtype), budget)  # before building any input
        result, x, params = _run(R, net, input_path, weights, batch, seed, dtype, budget)
    except MemoryBudgetError as exc:
        raise _budget_hint(exc) from None
    if save:
        from ..engine.weights import save_array

        save_array(save, result.output)
    _echo_run(result, show_all, save)
    if save_maps:
        from .pictures import save_maps_to

        save_maps_to(save_maps, net, x, params, seed, max_maps)


def _run(R: Any, net: Any, input_path: str | None, weights: str | None, batch: int | None, seed: int, dtype: str,
         budget: int) -> tuple[Any, Any, Any]:
    """The run's result, and the input and weights it used (the weights None for the seeded default)."""
    if input_path is None:
        import numpy as np

        x = np.random.default_rng(seed).standard_normal((batch or 1, *net.input_shape), dtype=np.float32)
    else:
        x = R.load_input(input_path, net, batch, max_bytes=budget)
    params = None
    if weights:
        from ..engine.weights import load_params

        params = load_params(weights, net, max_bytes=budget)
    return R.run_spec(net, x, params, seed=seed, dtype=dtype, max_memory=budget), x, params


def _echo_run(result: Any, show_all: bool, save: str | None) -> None:
    from ..output.format import human_bytes
    from ..output.table import run_tables

    run_tables(result, console(), show_all)
    n = result.output.shape[0]
    if n > 8 and result.top5:
        echo(f"(top-5 of the first 8 of {n} samples shown)")
    est = result.estimate
    echo(f"time {result.seconds * 1e3:.1f} ms; estimated peak memory {human_bytes(est.total)} "
         f"(activations {human_bytes(est.activations)}, params {human_bytes(est.params)}, "
         f"scratch {human_bytes(est.scratch)}, interpreter {human_bytes(est.overhead)})")
    if save:
        echo(f"saved the output {tuple(result.output.shape)} to {save}")


COMMANDS = (init, run)
