"""The fields and the rule shared by the layers that slide a window: conv, maxpool, avgpool."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ..errors import ShapeError
from .base import LayerBase, Out, RFs, Row, Shapes
from .fields import Kernel, Padding, Rounding, lower
from .geometry import AxisCalc, rf_through, spatial_input, windows
from .working import Working, receptive_field_line, setting_text, window_lines


class Windowed(LayerBase):
    kernel: Kernel = Field(description="window size: an int (every spatial axis) or one int per axis")
    # per-axis defaults are written as ints; Network expands them to tuples (layers.fields)
    padding: Padding = Field(0, description="zero padding: an int, one per axis, [before, after] per axis, "  # type: ignore[arg-type]
                                            "'valid' or 'same'")
    rounding: Rounding | None = Field(None, description="when the windows do not tile the padded input: strict "
                                                         "(an error), floor (PyTorch/Keras) or ceil (ceil_mode); "
                                                         "default: the net's rounding")

    @field_validator("rounding", mode="before")
    @classmethod
    def _rounding(cls, v: Any) -> Any:
        return lower(v)


def slide(layer: Any, shape: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
          rounding: str) -> tuple[tuple[int, ...], int, tuple[AxisCalc, ...], tuple[str, ...]]:
    """(input spatial, channels, per-axis arithmetic, warnings) of a window layer on `shape`."""
    spatial, channels = spatial_input(layer.type, shape)
    axes, warnings = windows(layer.name, spatial, layer.kernel, stride, dilation, layer.padding,
                             layer.rounding or rounding)
    return spatial, channels, axes, warnings


class Pool(Windowed):
    stride: Kernel = Field(None, description="step between windows: an int or one per axis; "  # type: ignore[arg-type]
                                                    "default: the kernel (windows do not overlap)")

    def with_rank(self, rank: int, index: int | None = None) -> "Pool":
        layer = super().with_rank(rank, index)
        assert isinstance(layer, Pool)
        return layer if layer.stride is not None else layer.model_copy(update={"stride": layer.kernel})


def pool_rule(layer: Any, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    """Output per axis (N + Pb + Pa - F) / S + 1 windows, channels kept; no parameters, no MACs."""
    rank = len(layer.kernel)
    _, c, axes, warnings = slide(layer, shapes[0], layer.stride, (1,) * rank, rounding)
    for i, a in enumerate(axes):
        side = max(a.pb, a.pa)
        if a.rounding != "same" and side >= a.f:
            raise ShapeError(f"padding {side} on spatial axis {i} is not smaller than the kernel {a.f}: a window "
                             "could lie wholly in the padding and pool padding only", field="padding",
                             hint="use padding smaller than the kernel (PyTorch allows at most half of it)")
    return Out(shape=tuple(a.out for a in axes) + (c,), rf=rf_through(rfs[0], axes), axes=axes, warnings=warnings)


def pool_heading(row: Row) -> str:
    layer = row.layer
    return f"{'x'.join(map(str, layer.kernel))} windows, stride {setting_text(layer.stride)}, " \
           f"padding {setting_text(layer.padding)}"


def pool_lines(what: str):
    def explain(row: Row, w: Working, strict: bool) -> None:
        window_lines(row, w, strict)
        w.lines.append(f"channels: {row.output_shape[-1]} (pooling keeps the channel count)")
        w.lines.append(f"parameters: 0 (nothing to learn: a window takes the {what})")
        receptive_field_line(row, w)

    return explain


def pool_calc(kind: str):
    def build(options: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, **window_options(options)}

    return build


def window_options(options: dict[str, Any]) -> dict[str, Any]:
    """kernel, padding, stride and rounding from calc's options (kernel required)."""
    from ..errors import SpecError

    if options.get("kernel") is None:
        raise SpecError(f"{options['kind']} needs --kernel", field="kernel")
    layer = {"kernel": options["kernel"], "padding": options.get("padding", 0)}
    for key in ("stride", "rounding"):
        if options.get(key) is not None:
            layer[key] = options[key]
    return layer
