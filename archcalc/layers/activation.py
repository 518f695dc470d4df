"""activation: a function applied to every value."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import Kind, LayerBase, no_heading, no_weights, same_shape, unchanged_lines
from .fields import DEFAULT_ALPHA, Activation, Finite, activation_name


class ActivationLayer(LayerBase):
    """An activation function on every value (softmax: over the last axis).

    relu6 = min(max(0, x), 6); hardsigmoid = relu6(x + 3) / 6 (PyTorch's); hardswish = x * hardsigmoid(x);
    silu (also written swish) = x * sigmoid(x); gelu = x * Phi(x), the erf form, or the tanh form with
    `approximate: tanh`."""

    type: Literal["activation"] = Field(description="activation function")
    function: Activation = Field(description="the function ('swish' is read as silu)")
    alpha: Finite | None = Field(None, description="slope below 0 of leaky_relu (default 0.1), scale of elu "
                                                   "(default 1.0)")
    approximate: Literal["none", "tanh"] | None = Field(
        None, description="gelu only: 'none' (the exact erf form, the default) or 'tanh' "
                          "(x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))))")

    @field_validator("function", "approximate", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return activation_name(v)  # any case; swish -> silu

    @model_validator(mode="after")
    def _settings_apply(self) -> "ActivationLayer":
        if self.alpha is not None and self.function not in DEFAULT_ALPHA:
            raise ValueError(f"alpha applies to leaky_relu and elu only, not to {self.function}")
        if self.approximate is not None and self.function != "gelu":
            raise ValueError(f"approximate applies to gelu only, not to {self.function}")
        return self

    @property
    def slope(self) -> float | None:
        """alpha, or the default for the function (leaky_relu 0.1 as the notes write max(0.1x, x); elu 1.0)."""
        return self.alpha if self.alpha is not None else DEFAULT_ALPHA.get(self.function)

    @property
    def setting(self) -> float | str | None:
        """What the kernels take beside the function: the slope (leaky_relu, elu) or gelu's approximate."""
        if self.function == "gelu":
            return self.approximate or "none"
        return self.slope


KIND = Kind(ActivationLayer, same_shape, no_heading, unchanged_lines, no_weights)
