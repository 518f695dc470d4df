"""concat: two or more inputs joined along one axis (channels by default)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict

from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading, no_weights
from .fields import MAX_VALUE
from .geometry import merged_rf, shape_text
from .merge import listed, need_two
from .working import Working


class Concat(LayerBase):
    """Join two or more inputs along `axis`; every other axis must be equal (Inception, DenseNet)."""

    type: Literal["concat"] = Field(description="join along an axis")
    axis: Annotated[int, Strict(), Field(ge=-MAX_VALUE, le=MAX_VALUE)] = Field(
        -1, description="axis to join along, without the batch axis; -1 = channels")


def rule(layer: Concat, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    need_two(layer, shapes)
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ShapeError(f"concat needs inputs with the same number of axes; got {listed(layer, shapes)}", field="inputs")
    axis = layer.axis
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for inputs with {rank} axes (batch axis not counted)",
                         field="axis")
    axis %= rank
    for i in range(rank):
        if i != axis and len({s[i] for s in shapes}) > 1:
            raise ShapeError(f"concat along axis {axis} needs every other axis equal; axis {i} differs: {listed(layer, shapes)}",
                             field="inputs")
    shape = tuple(sum(s[i] for s in shapes) if i == axis else shapes[0][i] for i in range(rank))
    return Out(shape=shape, rf=merged_rf(rfs))


def explain(row: Row, w: Working, strict: bool) -> None:
    parts = " + ".join(shape_text(s) for s in row.input_shapes)
    w.lines.append(f"output shape: {parts} joined along axis {row.layer.axis} -> {shape_text(row.output_shape)}")


KIND = Kind(Concat, rule, no_heading, explain, no_weights, merges=True)
