"""import, export: models from ONNX and Keras in as specs, specs out as PyTorch and Keras code."""

from __future__ import annotations

import click

from .options import echo


@click.command("import")
@click.argument("model")
@click.option("-o", "--output", "output", required=True, metavar="SPEC.yaml", help="Where to write the spec.")
@click.option("--weights", metavar="W.npz", help="Also write the model's weights in archcalc's .npz layout.")
def import_(model: str, output: str, weights: str | None) -> None:
    """Import MODEL (ONNX, a .keras file, or Keras's model.to_json()) as an archcalc spec; the format is found by
    content.  ONNX needs: pip install 'archcalc[onnx]'; a .keras file's weights: pip install 'archcalc[keras]'."""
    from ..interop import import_model, import_summary

    imported = import_model(model, output, weights=weights)
    echo(import_summary(model, output, imported, weights))


@click.command()
@click.argument("spec")
@click.option("--to", "to", type=click.Choice(["pytorch", "keras"]), required=True, help="The framework.")
@click.option("-o", "--output", "output", required=True, metavar="NET.py", help="Where to write the module.")
def export(spec: str, to: str, output: str) -> None:
    """Write SPEC as a PyTorch module (one nn.Module, NCHW input) or a Keras 3 model (build_model(), channels-last
    input), each with load_archcalc_weights for an archcalc .npz."""
    from ..interop import export_spec

    export_spec(spec, to, output)
    echo(f"wrote {output}: {to} code for {spec}")


COMMANDS = [import_, export]
