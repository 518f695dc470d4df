"""add: the elementwise sum of two or more inputs of one shape (residual connections)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading, no_weights
from .geometry import merged_rf, shape_text
from .merge import listed, need_two
from .working import Working


class Add(LayerBase):
    """Elementwise sum of two or more inputs of the same shape (list them in `inputs`)."""

    type: Literal["add"] = Field(description="elementwise sum")


def rule(layer: Add, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    need_two(layer, shapes)
    if any(s != shapes[0] for s in shapes[1:]):
        raise ShapeError(f"add needs inputs of one shape; got {listed(layer, shapes)}", field="inputs",
                         hint="project the shortcut with a 1x1 conv to match channels and stride")
    return Out(shape=shapes[0], rf=merged_rf(rfs))


def explain(row: Row, w: Working, strict: bool) -> None:
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (element-wise sum of {', '.join(row.inputs)})")


KIND = Kind(Add, rule, no_heading, explain, no_weights, merges=True)
