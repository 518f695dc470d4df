"""upsample: each spatial axis resized by an integer factor (nearest or bilinear)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from .. import arith
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_weights
from .fields import Scale, lowered
from .geometry import ReceptiveField, axis_names, exact, spatial_input
from .working import Working, receptive_field_line, setting_text, shape_text


class Upsample(LayerBase):
    """Upsampling: every spatial axis N -> N * scale, channels kept; nearest repeats each cell, bilinear blends the
    two nearest cells per axis (align_corners false, the PyTorch and Keras default).  No params, no MACs."""

    type: Literal["upsample"] = Field(description="resize by an integer factor")
    scale: Scale = Field(2, description="factor per spatial axis: an int or one int per axis")  # type: ignore[arg-type]
    mode: Literal["nearest", "bilinear"] = Field("nearest", description="nearest (repeat cells) or bilinear "
                                                                       "(linear along each axis, align_corners false)")

    _mode = lowered("mode")


def upsampled_rf(rf: ReceptiveField | None, scale: tuple[int, ...], mode: str) -> ReceptiveField | None:
    """jump / S; output cell o is centred at input (o + 1/2)/S - 1/2, so start - (S - 1)/(2S) * jump; size kept
    (nearest reads one cell) or + jump (bilinear reads two neighbours)."""
    if rf is None:
        return None
    sizes, jumps, starts = [], [], []
    for s, size, jump, start2 in zip(scale, rf.size, rf.jump, rf.start2):
        sizes.append(exact(size + jump) if mode == "bilinear" else size)
        jumps.append(exact(Fraction(jump) / s))
        starts.append(exact(start2 - Fraction(s - 1, s) * jump))
    return ReceptiveField(tuple(sizes), tuple(jumps), tuple(starts))


def rule(layer: Upsample, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    spatial, c = spatial_input("upsample", shapes[0])
    out = tuple(arith.upsample_out_size(n, s) for n, s in zip(spatial, layer.scale))
    return Out(shape=out + (c,), rf=upsampled_rf(rfs[0], layer.scale, layer.mode))


def heading(row: Row) -> str:
    return f"scale {setting_text(row.layer.scale)}, {row.layer.mode}"


def explain(row: Row, w: Working, strict: bool) -> None:
    w.lines.append("output size per axis = N * scale")
    for name, n, s, o in zip(axis_names(len(row.layer.scale)), row.input_shapes[0], row.layer.scale,
                             row.output_shape):
        w.lines.append(f"{name}: {n} * {s} = {o}")
    how = ("each output cell copies the nearest input cell" if row.layer.mode == "nearest" else
           "each output cell blends its two nearest input cells per axis")
    w.lines.append(f"output shape: {shape_text(row.output_shape)}; no parameters, no MACs ({how})")
    receptive_field_line(row, w)


def calc(options: dict[str, Any]) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": "upsample", "scale": options.get("scale") or 2}
    if options.get("mode") in ("nearest", "bilinear"):
        layer["mode"] = options["mode"]
    return layer


KIND = Kind(Upsample, rule, heading, explain, no_weights, calc=calc)
