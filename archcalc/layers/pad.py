"""pad: constant cells added around each spatial axis (Keras's ZeroPadding)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .. import arith
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_weights
from .fields import Finite, Sides
from .geometry import axis_names, rf_shifted, spatial_input
from .working import Working, setting_text, shape_text


class Pad(LayerBase):
    """Padding: `padding` cells of `value` before and after each spatial axis, N -> N + P_before + P_after
    (Keras's ZeroPadding2D; AlphaGo's 19x19 board padded to 21x21).  No params, no MACs."""

    type: Literal["pad"] = Field(description="add constant cells around the map")
    padding: Sides = Field(description="cells added: an int (every side), one int per axis, or one "
                                       "[before, after] pair per axis")
    value: Finite = Field(0.0, description="the value of the added cells")


def rule(layer: Pad, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    spatial, c = spatial_input("pad", shapes[0])
    out = tuple(arith.pad_out_size(n, pb, pa) for n, (pb, pa) in zip(spatial, layer.padding))
    return Out(shape=out + (c,), rf=rf_shifted(rfs[0], [pb for pb, _ in layer.padding]))


def heading(row: Row) -> str:
    value = row.layer.value
    return f"padding {setting_text(row.layer.padding)}" + (f", value {value:g}" if value else "")


def explain(row: Row, w: Working, strict: bool) -> None:
    w.lines.append("output size per axis = N + P_before + P_after")
    for name, n, (pb, pa), o in zip(axis_names(len(row.layer.padding)), row.input_shapes[0], row.layer.padding,
                                    row.output_shape):
        w.lines.append(f"{name}: {n} + {pb} + {pa} = {o}")
    w.lines.append(f"output shape: {shape_text(row.output_shape)}; no parameters, no MACs")


KIND = Kind(Pad, rule, heading, explain, no_weights)
