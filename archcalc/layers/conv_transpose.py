"""conv_transpose: a transposed ("fractionally strided") convolution over 1, 2 or 3 spatial axes (U-Net's up-conv)."""

from __future__ import annotations

from math import prod
from typing import Any, Literal

from pydantic import Field

from .. import arith
from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes
from . import conv
from .fields import Activation, Count, Dilation, Kernel, OutputPadding, Padding, Stride, lowered
from .geometry import AxisCalc, axis_names, rf_transposed, spatial_input
from .working import Working, count_text, product_text, receptive_field_line, setting_text, shape_text


class ConvTranspose(LayerBase):
    """Transposed convolution: each input cell scatters its value times the kernel into the output, `stride` cells
    apart (the gradient of a convolution; PyTorch's ConvTranspose, Keras's Conv2DTranspose).

    output per axis = (N - 1)*S - P_before - P_after + D*(F - 1) + output_padding + 1 (padding 'same': N*S);
    params = prod(kernel) * C_in * filters / groups (+ filters biases); MACs = input positions * C_in *
    filters / groups * prod(kernel) (each input cell meets its filters, fvcore's count)."""

    type: Literal["conv_transpose"] = Field(description="transposed convolution")
    filters: Count = Field(description="number of filters (output channels)")
    kernel: Kernel = Field(description="kernel size: an int (every spatial axis) or one int per axis")
    stride: Stride = Field(1, description="output cells between neighbouring input cells: an int or one per axis")  # type: ignore[arg-type]
    padding: Padding = Field(0, description="cells cropped from the full output: an int, one per axis, "  # type: ignore[arg-type]
                                            "[before, after] per axis, 'valid' (0) or 'same' (output N*S, "
                                            "as Keras's Conv2DTranspose)")
    output_padding: OutputPadding = Field(0, description="extra cells after the last on each axis (PyTorch's "  # type: ignore[arg-type]
                                                         "output_padding): an int or one per axis, each smaller "
                                                         "than the stride or the dilation")
    dilation: Dilation = Field(1, description="spacing of the kernel taps (1: none): an int or one per axis")  # type: ignore[arg-type]
    groups: Count = Field(1, description="split input channels and filters into this many groups")
    bias: bool = Field(True, description="a bias per filter")
    activation: Activation | None = Field(None, description="applied to the output (default: none)")

    _act = lowered("activation")


def rule(layer: ConvTranspose, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    spatial, c_in = spatial_input("conv_transpose", shapes[0])
    g = conv.check_groups(c_in, layer.filters, layer.groups)
    axes = []
    for i, n in enumerate(spatial):
        f, s, d, op = layer.kernel[i], layer.stride[i], layer.dilation[i], layer.output_padding[i]
        if op >= s and op >= d:
            raise ShapeError(f"output_padding {op} on axis {i} must be smaller than the stride ({s}) or the "
                             f"dilation ({d})", field="output_padding",
                             hint="output_padding only picks among the sizes a stride > 1 leaves open")
        if layer.padding == "same":
            if op:
                raise ShapeError("output_padding applies with numeric padding, not with padding 'same' (output N*S)",
                                 field="output_padding")
            pb, pa, extra = arith.conv_transpose_same_padding(f, s, d)
            axes.append(AxisCalc(n, f, s, pb, pa, d, arith.conv_transpose_same_out_size(n, s), "same"))
            continue
        pb, pa = layer.padding[i]
        out = arith.conv_transpose_out_size(n, f, s, pb, pa, d, op)
        if out < 1:
            raise ShapeError(f"output size ({n} - 1)*{s} - {pb} - {pa} + {d}*({f} - 1) + {op} + 1 = {out} on spatial "
                             f"axis {i}: the padding crops away the whole output", field="padding")
        axes.append(AxisCalc(n, f, s, pb, pa, d, out, "strict"))
    steps = [(a.f, a.s, a.pb, a.d) for a in axes]
    return Out(
        shape=tuple(a.out for a in axes) + (layer.filters,),
        params=arith.conv_transpose_params(layer.kernel, c_in, layer.filters, g, layer.bias),
        macs=arith.conv_transpose_macs(spatial, layer.kernel, c_in, layer.filters, g),
        bias_adds=prod(a.out for a in axes) * layer.filters if layer.bias else 0,
        rf=rf_transposed(rfs[0], steps),
        axes=tuple(axes),
    )


def heading(row: Row) -> str:
    """As conv's, with any output_padding."""
    op = row.layer.output_padding
    return conv.heading(row) + (f", output_padding {setting_text(op)}" if any(op) else "")


def explain(row: Row, w: Working, strict: bool) -> None:
    layer = row.layer
    if layer.padding == "same":
        w.lines.append("padding SAME (Keras's Conv2DTranspose): output = N * S; the full output is cropped by "
                       "max(D*(F - 1) + 1 - S, 0) cells, half before and the odd cell after")
    else:
        w.lines.append("output size per axis = (N - 1)*S - P_before - P_after + D*(F - 1) + output_padding + 1")
    for name, a, op in zip(axis_names(len(row.axes)), row.axes, layer.output_padding):
        if a.rounding == "same":
            w.lines.append(f"{name}: {a.n} * {a.s}{f' + {op}' if op else ''} = {a.out}; cropped {a.pb} before, "
                           f"{a.pa} after")
        else:
            w.lines.append(f"{name}: ({a.n} - 1)*{a.s} - {a.pb} - {a.pa} + {a.d}*({a.f} - 1) + {op} + 1 = {a.out}")
    w.lines.append(f"output shape: {shape_text(row.output_shape)}")
    c_in = row.input_shapes[0][-1]
    g, filters = layer.groups, layer.filters
    kernel = product_text(layer.kernel)
    bias = f" + {filters}" if layer.bias else " (no bias)"
    w.lines.append(f"parameters: {kernel} * {c_in} * {filters}/{g}{bias} = {count_text(row.params)}")
    w.lines.append(f"weights {'x'.join(map(str, layer.kernel))}x{filters // g}x{c_in} (kernel, filters/groups, "
                   "C_in: Keras's Conv2DTranspose layout)")
    w.lines.append(f"MACs: {product_text(row.input_shapes[0][:-1])} (input positions) * {c_in} * {filters}/{g} * "
                   f"{kernel} = {count_text(row.macs)} (each input cell meets its filters)")
    receptive_field_line(row, w)


def weights(row: Row) -> dict[str, tuple[int, ...]]:
    """weight (*kernel, filters / groups, C_in) (Keras's Conv2DTranspose layout for one group); bias (filters,)."""
    layer = row.layer
    shapes: dict[str, tuple[int, ...]] = {
        "weight": (*layer.kernel, layer.filters // layer.groups, row.input_shapes[0][-1])}
    if layer.bias:
        shapes["bias"] = (layer.filters,)
    return shapes


def calc(options: dict[str, Any]) -> dict[str, Any]:
    from ..errors import SpecError

    for key, what in (("kernel", "--kernel"), ("filters", "--filters (the number of output channels)")):
        if options.get(key) is None:
            raise SpecError(f"conv_transpose needs {what}", field=key)
    layer = {"type": "conv_transpose", "filters": options["filters"], "kernel": options["kernel"],
             "padding": options.get("padding", 0), "groups": options.get("groups", 1),
             "bias": options.get("bias", True)}
    for key in ("stride", "dilation", "output_padding"):
        if options.get(key) is not None:
            layer[key] = options[key]
    return layer


KIND = Kind(ConvTranspose, rule, heading, explain, weights, calc=calc, weighted=True)
