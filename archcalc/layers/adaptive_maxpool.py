"""adaptive_maxpool: the max of PyTorch's adaptive windows, to a chosen output size."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from . import adaptive_pool
from .adaptive_pool import AdaptivePool


class AdaptiveMaxPool(AdaptivePool):
    """Adaptive max pooling (PyTorch's AdaptiveMaxPool): the max of each output cell's window, per channel;
    windows floor(i*N/out) .. ceil((i+1)*N/out) - 1 on every axis, so any input size gives `output`.
    0 params, 0 MACs."""

    type: Literal["adaptive_maxpool"] = Field(description="adaptive max pooling to a fixed output size")


KIND = adaptive_pool.kind(AdaptiveMaxPool, "max")
