"""lrn: local response normalisation across channels (AlexNet)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, no_heading, no_weights, same_shape, unchanged_lines
from .fields import Count, Finite


class LRN(LayerBase):
    """Local response normalisation across channels (AlexNet): b_c = a_c / (k + alpha * sum of a_c'^2 over
    the `size` channels around c)^beta."""

    type: Literal["lrn"] = Field(description="local response normalisation")
    size: Count = Field(5, description="number of neighbouring channels summed (n in the paper)")
    alpha: Finite = Field(1e-4, description="scale of the sum of squares")
    beta: Finite = Field(0.75, description="exponent")
    k: Finite = Field(2.0, description="additive constant")
    alpha_over_n: bool = Field(False, description="divide alpha by size, as PyTorch and Caffe do "
                                                  "(the AlexNet paper does not)")


KIND = Kind(LRN, same_shape, no_heading, unchanged_lines, no_weights)
