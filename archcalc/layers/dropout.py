"""dropout: zeroes inputs at random in training; the identity at inference."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, no_heading, no_weights, same_shape, unchanged_lines


class Dropout(LayerBase):
    """Dropout: in training each value is zeroed with probability `rate`; at inference the identity."""

    type: Literal["dropout"] = Field(description="dropout (identity at inference)")
    rate: float = Field(default=0.5, ge=0.0, lt=1.0, description="probability of zeroing a value in training")


KIND = Kind(Dropout, same_shape, no_heading, unchanged_lines, no_weights)
