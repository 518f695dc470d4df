"""channel_shuffle: channels interleaved across groups (ShuffleNet)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_weights
from .fields import Count
from .working import Working, shape_text


class ChannelShuffle(LayerBase):
    """Channel shuffle: the C channels viewed as (groups, C / groups), transposed and flattened, so output channel
    j * groups + g is input channel g * (C / groups) + j (ShuffleNet).  C must divide by groups.  No params, no
    MACs."""

    type: Literal["channel_shuffle"] = Field(description="interleave the channels of the groups")
    groups: Count = Field(description="number of groups the channels are split into")


def rule(layer: ChannelShuffle, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    c = shapes[0][-1]
    if c % layer.groups:
        raise ShapeError(f"channel_shuffle: {c} channels do not divide by groups {layer.groups}", field="groups")
    return Out(shape=shapes[0], rf=rfs[0])


def heading(row: Row) -> str:
    return f"groups {row.layer.groups}"


def explain(row: Row, w: Working, strict: bool) -> None:
    g, c = row.layer.groups, row.input_shapes[0][-1]
    w.lines.append(f"channels viewed as {g} x {c // g}, transposed to {c // g} x {g}, flattened: output channel "
                   f"j*{g} + g is input channel g*{c // g} + j")
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged); no parameters, no MACs")


KIND = Kind(ChannelShuffle, rule, heading, explain, no_weights)
