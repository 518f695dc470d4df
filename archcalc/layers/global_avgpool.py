"""global_avgpool: the mean of every channel over all positions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from . import global_pool
from .base import Kind, LayerBase, no_heading, no_weights


class GlobalAvgPool(LayerBase):
    """Global average pooling: [*spatial, C] -> [C], the mean of each channel over every position."""

    type: Literal["global_avgpool"] = Field(description="global average pooling")


KIND = Kind(GlobalAvgPool, global_pool.rule, no_heading, global_pool.lines("mean"), no_weights)
