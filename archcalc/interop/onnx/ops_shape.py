"""ONNX operators that move data without computing: identity, flatten, reshape, transpose, pad, slice, resize."""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

from ..builder import ImportError_, per_axis
from .graph import OPS, Context, Value, f32, origin


@OPS.register("Identity")
def identity(ctx: Context, node: Any) -> Value:
    return ctx.alias(ctx.value(node, 0))


@OPS.register("Dropout")
def dropout(ctx: Context, node: Any) -> Value:
    x = ctx.materialize(node, ctx.value(node, 0))
    rate = float(ctx.consts[node.input[1]]) if ctx.has(node, 1) and node.input[1] in ctx.consts else \
        ctx.attrs(node).get("ratio", 0.5)
    layout = x.layout if x.layout != "cfirst" else "vector"
    out = ctx.emit(node, {"type": "dropout", "rate": f32(rate)}, [x], layout)
    return Value(out.layer, out.shape, x.layout, out.onnx, flat_of=x.flat_of)


def _flatten(ctx: Context, node: Any, x: Value) -> Value:
    """A map (or its channels-last transpose) flattened to a vector."""
    out = ctx.out_shape(node)
    if len(out) != 1:
        raise ImportError_(f"{origin(node)}: reshapes {list(x.onnx)} to {list(out)}; archcalc flattens to a vector")
    if x.layout in ("vector", "cfirst"):
        return ctx.alias(x, out)
    x = ctx.materialize(node, x)
    value = ctx.emit(node, {"type": "flatten"}, [x], "vector")
    if x.layout == "map" and prod(x.spatial) > 1:  # ONNX's order is C, H, W; archcalc's H, W, C
        return Value(value.layer, value.shape, "cfirst", value.onnx, flat_of=x.shape)
    return value


@OPS.register("Flatten")
def flatten(ctx: Context, node: Any) -> Value:
    if ctx.attrs(node).get("axis", 1) != 1:
        raise ImportError_(f"{origin(node)}: Flatten with axis {ctx.attrs(node)['axis']}; archcalc keeps the batch "
                           "axis apart (axis 1)")
    return _flatten(ctx, node, ctx.value(node, 0))


@OPS.register("Reshape")
def reshape(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    out = ctx.out_shape(node)
    if x.layout == "vector" and prod(out) == prod(x.onnx) and max(out) == prod(out):
        return ctx.alias(x, out)  # (C,) <-> (C, 1, 1)
    if x.layout == "map" and len(out) == len(x.onnx) + 1 and out[2:] == x.onnx[1:] and out[0] * out[1] == x.onnx[0]:
        return ctx.alias(x, out, layout="grouped")  # first step of a channel shuffle
    if x.layout == "grouped_t" and len(out) == len(x.onnx) - 1 and out[1:] == x.onnx[2:]:
        groups = x.onnx[1]
        return ctx.emit(node, {"type": "channel_shuffle", "groups": int(groups)}, [replace_layout(x, "map")], "map")
    return _flatten(ctx, node, x)


def replace_layout(x: Value, layout: str) -> Value:
    channels = x.shape[-1]
    return Value(x.layer, x.shape, layout, (channels, *x.shape[:-1]))


@OPS.register("Squeeze", "Unsqueeze")
def squeeze(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    out = ctx.out_shape(node)
    if x.layout in ("vector", "cfirst") and prod(out) == max(out, default=1) == prod(x.onnx):
        return ctx.alias(x, out)
    raise ImportError_(f"{origin(node)}: {node.op_type} of {list(x.onnx)} to {list(out)}; archcalc only drops the "
                       "unit axes of a pooled vector")


@OPS.register("Transpose")
def transpose(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    perm = list(ctx.attrs(node).get("perm", []))
    rank = len(x.onnx) + 1
    to_last = [0, *range(2, rank), 1]
    to_first = [0, rank - 1, *range(1, rank - 1)]
    if x.layout == "map" and perm == to_last:
        return ctx.alias(ctx.materialize(node, x), tuple(x.shape), layout="nhwc")
    if x.layout == "nhwc" and perm == to_first:
        return ctx.alias(x, (x.shape[-1], *x.shape[:-1]), layout="map")
    if x.layout == "grouped" and perm == [0, 2, 1, *range(3, rank)]:
        return ctx.alias(x, ctx.out_shape(node), layout="grouped_t")
    raise ImportError_(f"{origin(node)}: transposes {list(x.onnx)} by {perm}; archcalc maps only channels-first "
                       "<-> channels-last and a channel shuffle's transpose")


@OPS.register("Pad")
def pad(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    a = ctx.attrs(node)
    mode = a.get("mode", b"constant")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
        raise ImportError_(f"{origin(node)}: Pad mode {mode!r}; archcalc pads with a constant")
    pads = [int(p) for p in (ctx.const(node, 1, "pads") if ctx.has(node, 1) else a["pads"])]
    if ctx.has(node, 3):
        raise ImportError_(f"{origin(node)}: Pad with axes is not supported")
    value = float(ctx.const(node, 2, "constant_value")) if ctx.has(node, 2) else float(a.get("value", 0.0))
    rank = len(pads) // 2
    if x.layout != "map" or pads[0] or pads[1] or pads[rank] or pads[rank + 1] or min(pads) < 0:
        raise ImportError_(f"{origin(node)}: pads {pads}; archcalc pads the spatial axes of a map (by >= 0)")
    pairs = tuple((pads[i], pads[i + rank]) for i in range(2, rank))
    if x.pad is not None:
        x = ctx.materialize(node, x)
    return Value(x.layer, x.shape, "map", x.onnx, pad=(pairs, value))


@OPS.register("Slice")
def slice_(ctx: Context, node: Any) -> Value:
    x = ctx.materialize(node, ctx.value(node, 0))
    starts, ends = ctx.const(node, 1, "starts"), ctx.const(node, 2, "ends")
    axes = ctx.const(node, 3, "axes") if ctx.has(node, 3) else np.arange(len(starts))
    steps = ctx.const(node, 4, "steps") if ctx.has(node, 4) else np.ones(len(starts), np.int64)
    rank = len(x.onnx) + 1
    channel_axis = 1 if x.layout in ("map", "vector") else rank - 1
    if len(axes) != 1 or int(axes[0]) % rank != channel_axis or int(steps[0]) != 1:
        raise ImportError_(f"{origin(node)}: slices axes {list(axes)}; archcalc slices the channels with step 1")
    channels = x.shape[-1]
    start = int(np.clip(starts[0] + channels if starts[0] < 0 else starts[0], 0, channels))
    stop = int(np.clip(ends[0] + channels if ends[0] < 0 else ends[0], 0, channels))
    return ctx.emit(node, {"type": "slice", "start": start, "stop": stop}, [x], x.layout)


@OPS.register("Split")
def split(ctx: Context, node: Any) -> Value:
    x = ctx.materialize(node, ctx.value(node, 0))
    rank = len(x.onnx) + 1
    axis = ctx.attrs(node).get("axis", 0) % rank
    if axis != (1 if x.layout in ("map", "vector") else rank - 1):
        raise ImportError_(f"{origin(node)}: splits axis {axis}; archcalc splits the channels")
    start = 0
    first = None
    for i, out in enumerate(node.output):
        size = ctx.out_shape(node, i)[0 if x.layout in ("map", "vector") else -1]
        shape = ctx.out_shape(node, i)
        layer = {"type": "slice", "start": start, "stop": start + size}
        ref = ctx.materialize(node, x).layer
        given = ctx.builder.add(layer, name=f"{ctx.layer_name(node)}_{i}", inputs=[ref], origin=origin(node),
                                shape=(*shape[1:], shape[0]) if x.layout == "map" else shape)
        value = Value(given, (*shape[1:], shape[0]) if x.layout == "map" else shape, x.layout, shape, own=True)
        ctx.values[out] = value
        first = first or value
        start += size
    return first  # type: ignore[return-value]


@OPS.register("Resize", "Upsample")
def resize(ctx: Context, node: Any) -> Value:
    x = ctx.materialize(node, ctx.value(node, 0))
    a = ctx.attrs(node)
    mode = a.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    out = ctx.out_shape(node)
    if x.layout != "map" or out[0] != x.onnx[0] or any(o % n for o, n in zip(out[1:], x.spatial)):
        raise ImportError_(f"{origin(node)}: resizes {list(x.onnx)} to {list(out)}; archcalc upsamples the "
                           "spatial axes by whole factors")
    scale = [o // n for o, n in zip(out[1:], x.spatial)]
    ctm = a.get("coordinate_transformation_mode", b"half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    if mode == "nearest":
        nearest = a.get("nearest_mode", b"round_prefer_floor")
        nearest = nearest.decode() if isinstance(nearest, bytes) else nearest
        if node.op_type == "Resize" and (ctm, nearest) != ("asymmetric", "floor"):
            raise ImportError_(f"{origin(node)}: nearest resize with {ctm}/{nearest}; archcalc's is PyTorch's "
                               "(asymmetric, floor)")
        kind = "nearest"
    elif mode in ("linear", "bilinear") and (node.op_type == "Upsample" or
                                             ctm in ("half_pixel", "pytorch_half_pixel")):
        kind = "bilinear"
    else:
        raise ImportError_(f"{origin(node)}: resize mode {mode} ({ctm}); archcalc upsamples nearest or bilinear "
                           "(align_corners false)")
    return ctx.emit(node, {"type": "upsample", "scale": per_axis(scale), "mode": kind}, [x], "map")
