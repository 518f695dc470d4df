"""flatten: a map read as one vector, channels last."""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading, no_weights
from .working import Working, count_text, product_text


class Flatten(LayerBase):
    """Flatten: [*spatial, C] -> [prod], rows, then columns, then channels (as Keras flattens channels-last)."""

    type: Literal["flatten"] = Field(description="reshape to a vector")


def rule(layer: Flatten, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    return Out(shape=(prod(shapes[0]),))


def explain(row: Row, w: Working, strict: bool) -> None:
    w.lines.append(f"output: {product_text(row.input_shapes[0])} = {count_text(row.output_shape[0])} values (rows, "
                   "then columns, then channels, as Keras flattens channels-last)")
    w.lines.append("parameters: 0 (nothing to learn: only a reshape)")


KIND = Kind(Flatten, rule, no_heading, explain, no_weights)
