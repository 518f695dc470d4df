"""global_maxpool: the largest value of every channel over all positions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from . import global_pool
from .base import Kind, LayerBase, no_heading, no_weights


class GlobalMaxPool(LayerBase):
    """Global max pooling: [*spatial, C] -> [C], the largest value of each channel over every position."""

    type: Literal["global_maxpool"] = Field(description="global max pooling")


KIND = Kind(GlobalMaxPool, global_pool.rule, no_heading, global_pool.lines("max"), no_weights)
