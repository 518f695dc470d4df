"""layernorm: normalisation over the channels at each position (ConvNeXt's LayerNorm2d)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading
from .geometry import shape_text
from .working import Working, count_text


class LayerNorm(LayerBase):
    """Layer normalisation over the channels at each position: gamma * (x - mean) / sqrt(variance + eps) + beta,
    mean and variance over the C channels of that position (ConvNeXt's LayerNorm2d; PyTorch's LayerNorm on a
    channels-last map). params = 2 * C (gamma, beta), all trainable; MACs not counted."""

    type: Literal["layernorm"] = Field(description="layer normalisation over the channels")
    eps: float = Field(default=1e-6, gt=0, allow_inf_nan=False, description="added to the variance")


def rule(layer: LayerNorm, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    return Out(shape=shapes[0], params=2 * shapes[0][-1], rf=rfs[0])


def explain(row: Row, w: Working, strict: bool) -> None:
    c = row.input_shapes[0][-1]
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged; mean and variance over the {c} "
                   f"channels of each position, eps {row.layer.eps:g})")
    w.lines.append(f"parameters: 2 * {c} = {count_text(row.params)} (gamma and beta, trainable)")


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """gamma (C,), beta (C,)."""
    c = row.output_shape[-1]
    return {"gamma": (c,), "beta": (c,)}


KIND = Kind(LayerNorm, rule, no_heading, explain, weights)
