"""add: the elementwise sum of two or more inputs (residual connections), broadcast by NumPy's rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, no_heading, no_weights
from .merge import elementwise_lines, elementwise_rule


class Add(LayerBase):
    """Elementwise sum of two or more inputs (list them in `inputs`); shapes broadcast by NumPy's rules on the
    channels-last shapes (a [C] input adds one value per channel). 0 params; MACs not counted."""

    type: Literal["add"] = Field(description="elementwise sum")


KIND = Kind(Add, elementwise_rule, no_heading, elementwise_lines("sum"), no_weights, merges=True)
