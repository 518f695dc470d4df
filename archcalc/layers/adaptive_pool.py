"""The fields, rule and working shared by adaptive_avgpool and adaptive_maxpool: PyTorch's adaptive windows."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .. import arith
from ..errors import SpecError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_weights
from .fields import Kernel, expand_axes
from .geometry import AxisCalc, axis_names, rf_through, shape_text, spatial_input
from .working import Working, receptive_field_line


class AdaptivePool(LayerBase):
    output: Kernel = Field(description="output size: an int (every spatial axis) or one int per axis; the "
                                       "windows are PyTorch's: cell i covers floor(i*N/out) .. ceil((i+1)*N/out) - 1")

    def with_rank(self, rank: int, index: int | None = None) -> "AdaptivePool":
        from ..errors import ShapeError

        if isinstance(self.output, tuple) and len(self.output) == rank:
            return self
        try:
            value = expand_axes(self.output, rank, False, "output")
        except ValueError as exc:
            raise ShapeError(str(exc), field="output", layer_index=index, layer_name=self.name) from None
        return self.model_copy(update={"output": value})


def rule(layer: Any, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    """[*spatial, C] -> [*output, C]; no parameters, no MACs.  The receptive field is a window's when out divides
    N on every axis (kernel = stride = N/out); otherwise the windows differ in length and it is left unknown."""
    spatial, c = spatial_input(layer.type, shapes[0])
    output = tuple(layer.output)
    rf = None
    if rfs[0] is not None and all(n % o == 0 for n, o in zip(spatial, output)):
        axes = [AxisCalc(n, n // o, n // o, 0, 0, 1, o, "floor") for n, o in zip(spatial, output)]
        rf = rf_through(rfs[0], axes)
    return Out(shape=output + (c,), rf=rf)


def heading(row: Row) -> str:
    return f"output {shape_text(row.layer.output)}"


def lines(what: str):
    def explain(row: Row, w: Working, strict: bool) -> None:
        spatial = row.input_shapes[0][:-1]
        w.lines.append("window of output cell i per axis: floor(i*N/out) .. ceil((i+1)*N/out) - 1 (PyTorch's "
                       "adaptive pooling)")
        for name, n, o in zip(axis_names(len(spatial)), spatial, row.layer.output):
            same = arith.adaptive_as_window(n, o)
            if same is not None:
                w.lines.append(f"{name}: {n} -> {o}: {n}/{o} = {same[0]} divides, windows of {same[0]} with stride "
                               f"{same[1]} (an ordinary {what} pool)")
            else:
                first = arith.adaptive_window(0, n, o)
                last = arith.adaptive_window(o - 1, n, o)
                w.lines.append(f"{name}: {n} -> {o}: windows [{first[0]}, {first[1]}) .. [{last[0]}, {last[1]}), "
                               f"{arith.adaptive_max_window(n, o)} cells at most (N/out = {n}/{o} is not whole: "
                               "lengths differ, neighbouring windows may overlap)")
        w.lines.append(f"output shape: {shape_text(row.output_shape)}; channels kept; parameters: 0 (a window "
                       f"takes the {what})")
        if row.receptive_field is None and row.input_shapes and len(spatial) > 0:
            w.lines.append("receptive field: not one window size (the windows differ in length)")
        receptive_field_line(row, w)

    return explain


def kind(model: type[AdaptivePool], what: str) -> Kind:
    """The registry entry of adaptive_avgpool (what: 'mean') or adaptive_maxpool ('max')."""
    tag = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]

    def build(options: dict[str, Any]) -> dict[str, Any]:
        if options.get("output") is None:
            raise SpecError(f"{tag} needs --output-size (the output's spatial size, e.g. 7 or 7x7)", field="output")
        return {"type": tag, "output": options["output"]}

    return Kind(model, rule, heading, lines(what), no_weights, calc=build)
