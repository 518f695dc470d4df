"""activation: a function applied to every value."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import Kind, LayerBase, no_heading, no_weights, same_shape, unchanged_lines
from .fields import DEFAULT_ALPHA, Activation, Finite, lower


class ActivationLayer(LayerBase):
    """An activation function on every value (softmax: over the last axis)."""

    type: Literal["activation"] = Field(description="activation function")
    function: Activation = Field(description="the function")
    alpha: Finite | None = Field(None, description="slope below 0 of leaky_relu (default 0.1), scale of elu "
                                                   "(default 1.0)")

    @field_validator("function", mode="before")
    @classmethod
    def _fn(cls, v: Any) -> Any:
        return lower(v)

    @model_validator(mode="after")
    def _alpha_applies(self) -> "ActivationLayer":
        if self.alpha is not None and self.function not in DEFAULT_ALPHA:
            raise ValueError(f"alpha applies to leaky_relu and elu only, not to {self.function}")
        return self

    @property
    def slope(self) -> float | None:
        """alpha, or the default for the function (leaky_relu 0.1 as the notes write max(0.1x, x); elu 1.0)."""
        return self.alpha if self.alpha is not None else DEFAULT_ALPHA.get(self.function)


KIND = Kind(ActivationLayer, same_shape, no_heading, unchanged_lines, no_weights)
