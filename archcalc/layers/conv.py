"""conv: a convolution over 1, 2 or 3 spatial axes (groups, dilation, padding, a bias per filter or position)."""

from __future__ import annotations

from math import prod
from typing import Any, Literal, Union

from pydantic import Field, field_validator

from .. import arith
from ..errors import ShapeError, brief
from .base import Kind, Out, RFs, Row, Shapes
from .fields import Activation, Count, Dilation, Stride, lower
from .geometry import rf_through, spatial_input
from .window import Windowed, slide, window_lines, window_options
from .working import Working, count_text, product_text, receptive_field_line, setting_text


class Conv(Windowed):
    """Convolution: `filters` kernels slide over the input; output channels = filters.

    params = prod(kernel) * C_in / groups * filters (+ filters biases); MACs = output positions * filters *
    prod(kernel) * C_in / groups."""

    type: Literal["conv"] = Field(description="convolution")
    filters: Count = Field(description="number of filters (output channels)")
    stride: Stride = Field(1, description="step between windows: an int or one int per spatial axis")  # type: ignore[arg-type]
    dilation: Dilation = Field(1, description="spacing of the kernel taps (1: none): an int or one per axis")  # type: ignore[arg-type]
    groups: Count = Field(1, description="split input channels and filters into this many groups")
    bias: Union[bool, Literal["per_position"]] = Field(True, description="a bias per filter (true), none "
                                                                         "(false), or one per output position "
                                                                         "and filter ('per_position', LeNet-5's C3)")
    activation: Activation | None = Field(None, description="applied to the output (default: none)")

    @field_validator("activation", mode="before")
    @classmethod
    def _act(cls, v: Any) -> Any:
        return lower(v)

    @field_validator("bias", mode="before")
    @classmethod
    def _bias(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower().replace("-", "_") == "per_position":
            return "per_position"
        if isinstance(v, bool):
            return v
        raise ValueError(f"bias must be true, false or 'per_position', got {brief(v)}")


def rule(layer: Conv, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    _, c_in = spatial_input("conv", shapes[0])
    g = layer.groups
    if c_in % g or layer.filters % g:
        bad = f"the input's {c_in} channels" if c_in % g else f"its {layer.filters} filters"
        raise ShapeError(f"groups {g} does not divide {bad}; groups must divide both the input channels "
                         f"({c_in}) and filters ({layer.filters})", field="groups")
    _, _, axes, warnings = slide(layer, shapes[0], layer.stride, layer.dilation, rounding)
    out_spatial = tuple(a.out for a in axes)
    positions = prod(out_spatial)
    if layer.bias == "per_position":
        biases = positions * layer.filters
    else:
        biases = layer.filters if layer.bias else 0
    return Out(
        shape=out_spatial + (layer.filters,),
        params=arith.conv_params(layer.kernel, c_in, layer.filters, g, biases),
        macs=arith.conv_macs(out_spatial, layer.kernel, c_in, layer.filters, g),
        bias_adds=positions * layer.filters if layer.bias else 0,
        rf=rf_through(rfs[0], axes),
        axes=axes,
        warnings=warnings,
    )


def heading(row: Row) -> str:
    layer = row.layer
    what = f"{layer.filters} filter{'s' if layer.filters != 1 else ''} {'x'.join(map(str, layer.kernel))}"
    what += f", stride {setting_text(layer.stride)}, padding {setting_text(layer.padding)}"
    if any(d != 1 for d in layer.dilation):
        what += f", dilation {setting_text(layer.dilation)}"
    if layer.groups != 1:
        what += f", groups {layer.groups}"
    return what


def explain(row: Row, w: Working, strict: bool) -> None:
    window_lines(row, w, strict)
    layer = row.layer
    kernel = layer.kernel
    c_in = row.input_shapes[0][-1]
    g = layer.groups
    c_g = c_in // g
    volume = f"{product_text(kernel)}*{c_g}"
    filters = layer.filters
    out_spatial = row.output_shape[:-1]
    if layer.bias == "per_position":
        text = f"{volume} * {filters} + {product_text(out_spatial)}*{filters} (a bias per position) = " \
               f"{count_text(row.params)}"
    elif layer.bias:
        text = f"({volume} + 1) * {filters} = {count_text(row.params)}"
    else:
        text = f"{volume} * {filters} = {count_text(row.params)} (no bias)"
    w.lines.append(f"parameters: {text}" + (f"  (groups {g}: each filter sees {c_in}/{g} = {c_g} channels)"
                                            if g > 1 else ""))
    plural = "s" if filters != 1 else ""
    w.lines.append(f"filter shape: {'x'.join(map(str, kernel))}x{c_g}, {filters} filter{plural}"
                   f" (weights {'x'.join(map(str, kernel))}x{c_g}x{filters}, HWIO)")
    w.lines.append(f"MACs: {product_text(out_spatial)} positions * {filters} filter{plural} * {volume} = "
                   f"{count_text(row.macs)}" + ("" if w.fits else " (on the floored output)"))
    receptive_field_line(row, w)


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """weight (*kernel, C_in / groups, filters) (HWIO, Keras's layout); bias (filters,) or the output's shape."""
    layer = row.layer
    c_in = row.input_shapes[0][-1]
    shapes: dict[str, tuple[int, ...]] = {"weight": (*layer.kernel, c_in // layer.groups, layer.filters)}
    if layer.bias == "per_position":
        shapes["bias"] = row.output_shape
    elif layer.bias:
        shapes["bias"] = (layer.filters,)
    return shapes


def calc(options: dict[str, Any]) -> dict[str, Any]:
    from ..errors import SpecError

    layer = window_options(options)
    if options.get("filters") is None:
        raise SpecError("conv needs --filters (the number of filters, i.e. output channels)", field="filters")
    layer.update(type="conv", filters=options["filters"], groups=options.get("groups", 1),
                 bias=options.get("bias", True))
    if options.get("dilation") is not None:
        layer["dilation"] = options["dilation"]
    return layer


KIND = Kind(Conv, rule, heading, explain, weights, calc=calc, weighted=True)
