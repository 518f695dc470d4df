"""batchnorm: batch normalisation at inference, per channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_heading
from .geometry import shape_text
from .working import Working, count_text

KEYS = ("gamma", "beta", "moving_mean", "moving_variance")


class BatchNorm(LayerBase):
    """Batch normalisation (inference): gamma * (x - mean) / sqrt(variance + eps) + beta per channel.

    params = 4 * C, of which 2 * C (gamma, beta) trainable (Keras's count)."""

    type: Literal["batchnorm"] = Field(description="batch normalisation")
    eps: float = Field(default=1e-3, gt=0, allow_inf_nan=False, description="added to the variance")
    momentum: float = Field(default=0.99, ge=0, le=1, description="of the moving averages in training")


def rule(layer: BatchNorm, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    c = shapes[0][-1]
    return Out(shape=shapes[0], params=4 * c, trainable=2 * c, rf=rfs[0])


def explain(row: Row, w: Working, strict: bool) -> None:
    c = row.input_shapes[0][-1]
    w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged)")
    w.lines.append(f"parameters: 4 * {c} = {count_text(row.params)} (gamma and beta trainable: "
                   f"{count_text(row.trainable_params)}; moving mean and variance not: "
                   f"{count_text(row.non_trainable_params)})")


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """gamma, beta, moving_mean, moving_variance: (C,) each."""
    return {key: (row.output_shape[-1],) for key in KEYS}


KIND = Kind(BatchNorm, rule, no_heading, explain, weights)
