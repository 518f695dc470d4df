"""The rule and working shared by global_avgpool and global_maxpool: one value per channel."""

from __future__ import annotations

from typing import Any

from .base import Out, RFs, Row, Shapes
from .geometry import shape_text, spatial_input
from .working import Working


def rule(layer: Any, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    """[*spatial, C] -> [C]; no parameters, no MACs."""
    _, c = spatial_input(layer.type, shapes[0])
    return Out(shape=(c,))


def lines(what: str):
    def explain(row: Row, w: Working, strict: bool) -> None:
        w.lines.append(f"output: one {what} per channel over {shape_text(row.input_shapes[0][:-1])} positions "
                       f"-> {row.output_shape[0]}")

    return explain
