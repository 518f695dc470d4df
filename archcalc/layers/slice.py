"""slice: a half-open range of one axis (ShuffleNetV2's channel split)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_weights
from .fields import MAX_VALUE, Count, NonNegative
from .geometry import rf_shifted, shape_text
from .working import Working


class Slice(LayerBase):
    """Slice: the cells start, start + 1, ..., stop - 1 of one axis (Python's half-open range); the other axes
    are kept.  Two slices of the channels are ShuffleNetV2's channel split.  No params, no MACs."""

    type: Literal["slice"] = Field(description="a range of one axis")
    axis: Annotated[int, Strict(), Field(ge=-MAX_VALUE, le=MAX_VALUE)] = Field(
        -1, description="the axis, without the batch axis; -1 = channels")
    start: NonNegative = Field(0, description="first index kept (from 0)")
    stop: Count = Field(description="one past the last index kept")

    @model_validator(mode="after")
    def _range(self) -> "Slice":
        if self.stop <= self.start:
            raise ValueError(f"slice needs start < stop, got {self.start}:{self.stop}")
        return self


def rule(layer: Slice, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    shape = shapes[0]
    rank = len(shape)
    if not -rank <= layer.axis < rank:
        raise ShapeError(f"axis {layer.axis} is out of range for an input with {rank} axes "
                         f"({shape_text(shape)}; batch axis not counted)", field="axis")
    axis = layer.axis % rank
    size = shape[axis]
    if layer.stop > size:
        what = "channels" if axis == rank - 1 else f"cells of axis {axis}"
        raise ShapeError(f"slice {layer.start}:{layer.stop} is outside the {size} {what} of "
                         f"'{layer.inputs[0]}' ({shape_text(shape)})", field="stop")
    out = shape[:axis] + (layer.stop - layer.start,) + shape[axis + 1:]
    rf = rfs[0]
    if rf is not None and axis < rank - 1:
        rf = rf_shifted(rf, [-layer.start if i == axis else 0 for i in range(rank - 1)])
    return Out(shape=out, rf=rf)


def heading(row: Row) -> str:
    return f"{row.layer.start}:{row.layer.stop} of axis {row.layer.axis}"


def explain(row: Row, w: Working, strict: bool) -> None:
    start, stop, axis = row.layer.start, row.layer.stop, row.layer.axis
    w.lines += [f"axis {axis}: cells {start} to {stop - 1}, {stop} - {start} = {stop - start} of "
                f"{row.input_shapes[0][axis]}", f"output shape: {shape_text(row.output_shape)}; no parameters, no MACs"]


KIND = Kind(Slice, rule, heading, explain, no_weights)
