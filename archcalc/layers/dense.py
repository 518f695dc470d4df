"""dense: a fully connected layer on the flattened input."""

from __future__ import annotations

from math import prod
from typing import Any, Literal

from pydantic import Field, field_validator

from .base import Kind, LayerBase, Out, RFs, Row, Shapes
from .fields import Activation, Count, lower
from .geometry import shape_text
from .working import Working, count_text, product_text


class Dense(LayerBase):
    """Fully connected: every output reads every input value (a map is read flattened, channels last).

    params = inputs * units (+ units biases); MACs = inputs * units."""

    type: Literal["dense"] = Field(description="fully connected layer")
    units: Count = Field(description="number of outputs")
    bias: bool = Field(True, description="add a bias per unit")
    activation: Activation | None = Field(None, description="applied to the output (default: none)")

    @field_validator("activation", mode="before")
    @classmethod
    def _act(cls, v: Any) -> Any:
        return lower(v)


def rule(layer: Dense, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    n_in = prod(shapes[0])
    bias = layer.units if layer.bias else 0
    return Out(shape=(layer.units,), params=n_in * layer.units + bias, macs=n_in * layer.units, bias_adds=bias)


def heading(row: Row) -> str:
    return f"{row.layer.units} units"


def explain(row: Row, w: Working, strict: bool) -> None:
    in_shape = row.input_shapes[0]
    n_in = prod(in_shape)
    units = row.layer.units
    if len(in_shape) > 1:
        w.lines.append(f"input {shape_text(in_shape)} is read as {product_text(in_shape)} = {count_text(n_in)} values")
    if row.layer.bias:
        w.lines.append(f"parameters: ({count_text(n_in)} + 1) * {count_text(units)} = {count_text(row.params)}")
    else:
        w.lines.append(f"parameters: {count_text(n_in)} * {count_text(units)} = {count_text(row.params)} (no bias)")
    w.lines.append(f"MACs: {count_text(n_in)} * {count_text(units)} = {count_text(row.macs)}")
    w.lines.append(f"output shape: {units}")


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """weight (inputs, units) (Keras's layout), bias (units,)."""
    units = row.layer.units
    shapes: dict[str, tuple[int, ...]] = {"weight": (prod(row.input_shapes[0]), units)}
    if row.layer.bias:
        shapes["bias"] = (units,)
    return shapes


def calc(options: dict[str, Any]) -> dict[str, Any]:
    from ..errors import SpecError

    if options.get("units") is None:
        raise SpecError("dense needs --units (the number of outputs)", field="units")
    return {"type": "dense", "units": options["units"], "bias": options.get("bias", True)}


KIND = Kind(Dense, rule, heading, explain, weights, calc=calc, weighted=True)
