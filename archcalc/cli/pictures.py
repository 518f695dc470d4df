"""`archcalc draw` and `archcalc report`: the pictures (archcalc.output.svg, .html, .maps), written to files."""

from __future__ import annotations

from typing import Any

import click

from .options import ONE_CONVENTION_OPTION, echo, parse_set, set_option

DEPTH_OPTION = click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
                            help="Collapse blocks below depth N into one node/row each (as `show --depth`).")
OUTPUT_OPTION = click.option("-o", "--output", required=True, metavar="FILE", help="The file to write.")


def max_maps_option(f: Any) -> Any:
    return click.option("--max-maps", type=click.IntRange(min=1), default=64, show_default=True, metavar="N",
                        help="At most N channels (tiles) per activation-map grid.")(f)


def _wrote(path: Any, size: int) -> None:
    from ..output.format import escape

    echo(f"wrote {escape(str(path))} ({size:,} bytes)")


@click.command()
@click.argument("spec")
@OUTPUT_OPTION
@click.option("--style", type=click.Choice(["graph", "blocks"]), default="graph", show_default=True,
              help="graph: the layer graph (any net); blocks: lecture-slide boxes (chains only).")
@click.option("--direction", type=click.Choice(["tb", "lr"]), default="tb", show_default=True,
              help="Graph style: top to bottom or left to right.")
@DEPTH_OPTION
@click.option("--format", "fmt", type=click.Choice(["svg", "png"]), default=None,
              help="svg (default) or png (needs archcalc[image]); default: from the file name.")
@set_option
def draw(spec: str, output: str, style: str, direction: str, depth: int | None, fmt: str | None,
         set_vars: tuple[str, ...]) -> None:
    """Draw SPEC as an SVG (or PNG) diagram: each layer with its name, type, output shape and parameters."""
    from .. import analyze, load_spec
    from ..output.files import check_target, write_bytes
    from ..output.svg import draw_svg, svg_to_png

    fmt = fmt or ("png" if output.lower().endswith(".png") else "svg")
    check_target(output, "drawing")
    svg = draw_svg(analyze(load_spec(spec, set_vars=parse_set(set_vars))), style=style, direction=direction, depth=depth)
    data = svg_to_png(svg) if fmt == "png" else svg.encode("utf-8")
    _wrote(write_bytes(output, data, "drawing"), len(data))


@click.command()
@click.argument("spec")
@OUTPUT_OPTION
@ONE_CONVENTION_OPTION
@DEPTH_OPTION
@click.option("--input", "input_path", metavar="X.npy|IMAGE",
              help="Embed the activation maps of each conv/pool layer for this input (needs archcalc[image]).")
@click.option("--weights", metavar="W.npz", help="With --input: weights written by `archcalc init` (default: seeded).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the default weights.")
@max_maps_option
@set_option
def report(spec: str, output: str, convention: str | None, depth: int | None, input_path: str | None,
           weights: str | None, seed: int, max_maps: int, set_vars: tuple[str, ...]) -> None:
    """One self-contained HTML report of SPEC: totals, diagram, sortable table, charts, conventions, warnings."""
    from .. import analyze, load_spec
    from ..output.files import check_target, write_text
    from ..output.html import report_html

    check_target(output, "report")
    net = load_spec(spec, set_vars=parse_set(set_vars))
    maps = None
    if input_path is not None:
        maps = _maps(net, input_path, weights, seed, max_maps)
    html = report_html(analyze(net), convention=convention, depth=depth, maps=maps)
    _wrote(write_text(output, html, "report"), len(html.encode("utf-8")))


def _maps(net: Any, input_path: str, weights: str | None, seed: int, max_maps: int) -> dict[str, bytes]:
    """The activation-map grids of the first sample of the input (PNG bytes per conv/pool layer)."""
    from ..engine.run import load_input
    from ..output.maps import activation_maps

    params = None
    if weights:
        from ..engine.weights import load_params

        params = load_params(weights, net)
    return activation_maps(net, load_input(input_path, net)[:1], params, max_maps=max_maps, seed=seed)


def save_maps_to(directory: str, net: Any, x: Any, params: Any, seed: int, max_maps: int) -> None:
    """`run --save-maps DIR`: one PNG grid per conv/pool layer of the first sample, then one line saying where."""
    from .. import analyze
    from ..output.format import escape
    from ..output.maps import activation_maps, save_maps

    paths = save_maps(activation_maps(net, x[:1], params, max_maps=max_maps, seed=seed), analyze(net), directory)
    echo(f"wrote {len(paths)} activation-map grid{'s' if len(paths) != 1 else ''} to {escape(directory)}")


COMMANDS = (draw, report)
