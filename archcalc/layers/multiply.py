"""multiply: the elementwise product of two or more inputs (squeeze-and-excitation gates), broadcast by NumPy's
rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, no_heading, no_weights
from .merge import elementwise_lines, elementwise_rule


class Multiply(LayerBase):
    """Elementwise product of two or more inputs (list them in `inputs`); shapes broadcast by NumPy's rules on the
    channels-last shapes, so a gate of shape [C] or [1, 1, C] scales an [H, W, C] map channel by channel
    (squeeze-and-excitation). 0 params; MACs not counted (elementwise, as add)."""

    type: Literal["multiply"] = Field(description="elementwise product")


KIND = Kind(Multiply, elementwise_rule, no_heading, elementwise_lines("product"), no_weights, merges=True)
