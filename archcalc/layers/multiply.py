"""multiply: the elementwise product of two or more inputs (squeeze-and-excitation gates), broadcast by NumPy's rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .add import broadcast_note
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading, no_weights
from .geometry import shape_text
from .merge import broadcast, elementwise_rf, need_two
from .working import Working


class Multiply(LayerBase):
    """Elementwise product of two or more inputs (list them in `inputs`); shapes broadcast by NumPy's rules on the
    channels-last shapes, so a gate of shape [C] or [1, 1, C] scales an [H, W, C] map channel by channel
    (squeeze-and-excitation). 0 params; MACs not counted (elementwise, as add)."""

    type: Literal["multiply"] = Field(description="elementwise product")


def rule(layer: Multiply, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    need_two(layer, shapes)
    shape = broadcast(layer, shapes)
    return Out(shape=shape, rf=elementwise_rf(rfs, shapes, shape))


def explain(row: Row, w: Working, strict: bool) -> None:
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (element-wise product of {', '.join(row.inputs)}"
                   f"{broadcast_note(row)}); no parameters, MACs not counted (elementwise)")


KIND = Kind(Multiply, rule, no_heading, explain, no_weights, merges=True)
