"""scale: a learnable factor per channel (ConvNeXt's layer scale)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, Out, RFs, Row, Shapes
from .fields import Finite
from .geometry import shape_text
from .working import Working, count_text


class Scale(LayerBase):
    """A learnable per-channel multiplier: y = gamma * x (+ beta with `bias: true`), gamma initialised to `init`
    (ConvNeXt's layer scale, 1e-6). params = C, or 2 * C with bias; MACs not counted (elementwise)."""

    type: Literal["scale"] = Field(description="learnable per-channel scale")
    init: Finite = Field(1.0, description="initial value of every factor (init and run --random)")
    bias: bool = Field(False, description="also a learnable per-channel offset beta")


def rule(layer: Scale, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    c = shapes[0][-1]
    return Out(shape=shapes[0], params=2 * c if layer.bias else c, rf=rfs[0])


def heading(row: Row) -> str:
    return f"init {row.layer.init:g}" + (", with bias" if row.layer.bias else "")


def explain(row: Row, w: Working, strict: bool) -> None:
    c = row.input_shapes[0][-1]
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged; each channel times its factor)")
    what = f"2 * {c} = {count_text(row.params)} (gamma and beta)" if row.layer.bias else \
        f"{c} (one gamma per channel)"
    w.lines.append(f"parameters: {what}; MACs not counted (elementwise)")


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """gamma (C,)[, beta (C,)]."""
    c = row.output_shape[-1]
    return {"gamma": (c,), "beta": (c,)} if row.layer.bias else {"gamma": (c,)}


KIND = Kind(Scale, rule, heading, explain, weights)
