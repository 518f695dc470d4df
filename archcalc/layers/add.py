"""add: the elementwise sum of two or more inputs (residual connections), broadcast by NumPy's rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading, no_weights
from .geometry import shape_text
from .merge import broadcast, elementwise_rf, need_two
from .working import Working


class Add(LayerBase):
    """Elementwise sum of two or more inputs (list them in `inputs`); shapes broadcast by NumPy's rules on the
    channels-last shapes (a [C] input adds one value per channel). 0 params; MACs not counted."""

    type: Literal["add"] = Field(description="elementwise sum")


def rule(layer: Add, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    need_two(layer, shapes)
    shape = broadcast(layer, shapes)
    return Out(shape=shape, rf=elementwise_rf(rfs, shapes, shape))


def explain(row: Row, w: Working, strict: bool) -> None:
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (element-wise sum of {', '.join(row.inputs)}"
                   f"{broadcast_note(row)}); no parameters, MACs not counted")


def broadcast_note(row: Row) -> str:
    """', [C] broadcast over [H, W, C]' when the inputs differ in shape."""
    if all(s == row.output_shape for s in row.input_shapes):
        return ""
    small = ", ".join(f"{n} [{shape_text(s)}]" for n, s in zip(row.inputs, row.input_shapes) if s != row.output_shape)
    return f"; {small} broadcast to [{shape_text(row.output_shape)}]"


KIND = Kind(Add, rule, no_heading, explain, no_weights, merges=True)
