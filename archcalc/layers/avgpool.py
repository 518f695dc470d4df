"""avgpool: the mean of each window, channel by channel, padding not counted."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, no_weights
from .window import Pool, pool_calc, pool_heading, pool_lines, pool_rule


class AvgPool(Pool):
    """Average pooling: the mean of each window's input cells, per channel; padded cells are not counted
    (TensorFlow's SAME, PyTorch's count_include_pad=False)."""

    type: Literal["avgpool"] = Field(description="average pooling")


KIND = Kind(AvgPool, pool_rule, pool_heading, pool_lines("mean"), no_weights, calc=pool_calc("avgpool"))
