"""maxpool: the largest value of each window, channel by channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, no_weights
from .window import Pool, pool_calc, pool_heading, pool_lines, pool_rule


class MaxPool(Pool):
    """Max pooling: the largest value of each window, per channel (padded cells are never the max)."""

    type: Literal["maxpool"] = Field(description="max pooling")


KIND = Kind(MaxPool, pool_rule, pool_heading, pool_lines("max"), no_weights, calc=pool_calc("maxpool"))
