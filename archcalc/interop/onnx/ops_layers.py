"""ONNX operators with weights or windows: one converter per operator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..builder import ImportError_, optional_axes, per_axis, window_fields
from .graph import OPS, Context, Value, f32, origin


def _map(node: Any, x: Value) -> Value:
    if x.layout != "map":
        raise ImportError_(f"{origin(node)}: needs a feature map (N, C, spatial...), got a tensor of shape "
                           f"{list(x.onnx)} without spatial axes")
    return x


def _geometry(ctx: Context, node: Any, x: Value, kernel: tuple[int, ...], pad_value: float | None,
              ceil: bool = False) -> tuple[Value, dict[str, Any]]:
    """Padding and rounding fields from pads / auto_pad, taking in a preceding Pad of `pad_value`."""
    a = ctx.attrs(node)
    rank = len(kernel)
    stride = tuple(a.get("strides", [1] * rank))
    dilation = tuple(a.get("dilations", [1] * rank))
    pads = a.get("pads", [0] * (2 * rank))
    pairs = tuple((pads[i], pads[i + rank]) for i in range(rank))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    spatial = x.spatial
    if x.pad is not None and (pad_value is None or x.pad[1] != pad_value or auto not in ("NOTSET", "VALID")):
        x = ctx.materialize(node, x)
    if x.pad is not None:
        pairs = tuple((b + pb, e + pa) for (b, e), (pb, pa) in zip(pairs, x.pad[0]))
        x = ctx.materialize(node, Value(x.layer, x.shape, x.layout, x.onnx))  # the unpadded input
        spatial = x.spatial
    if auto == "SAME_UPPER":
        return x, {"padding": "same"}
    if auto == "SAME_LOWER":
        totals = [max((-(-n // s) - 1) * s + d * (f - 1) + 1 - n, 0)
                  for n, f, s, d in zip(spatial, kernel, stride, dilation)]
        pairs = tuple((t - t // 2, t // 2) for t in totals)
    elif auto == "VALID":
        pairs = ((0, 0),) * rank
    return x, window_fields(spatial, kernel, stride, dilation, pairs, ceil, origin(node))


def _strides(ctx: Context, node: Any, rank: int) -> tuple[int, ...]:
    return tuple(ctx.attrs(node).get("strides", [1] * rank))


def _dense_from_1x1(ctx: Context, node: Any, x: Value, w: np.ndarray, b: np.ndarray | None) -> Value:
    """A 1x1 conv on a global pool's (C, 1, 1) output is a dense layer (squeeze-and-excitation)."""
    layer: dict[str, Any] = {"type": "dense", "units": int(w.shape[0])}
    weights = {"weight": w.reshape(w.shape[0], -1).T}
    if b is None:
        layer["bias"] = False
    else:
        weights["bias"] = b
    return ctx.emit(node, layer, [x], "vector", weights)


def _bias(ctx: Context, node: Any) -> np.ndarray | None:
    """The bias input; None when absent, or when it is zeros the exporter computed (no initializer, so no
    parameter of the model: torch's dynamo exporter writes Expand(0) for bias=False)."""
    if not ctx.has(node, 2):
        return None
    b = ctx.const(node, 2, "bias")
    return None if node.input[2] not in ctx.initializers and not b.any() else b


@OPS.register("Conv")
def conv(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    w = ctx.const(node, 1, "weight")
    b = _bias(ctx, node)
    a = ctx.attrs(node)
    rank = w.ndim - 2
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    group = a.get("group", 1)
    if x.layout == "vector" and group == 1 and all(k == 1 for k in kernel) and len(x.onnx) == rank + 1:
        return _dense_from_1x1(ctx, node, x, w, b)
    _map(node, x)
    x, fields = _geometry(ctx, node, x, kernel, 0.0)
    stride = _strides(ctx, node, rank)
    dilation = tuple(a.get("dilations", [1] * rank))
    layer = optional_axes({"type": "conv", "filters": int(w.shape[0]), "kernel": per_axis(kernel)}, stride=stride)
    layer.update(fields)
    return _kernel_layer(ctx, node, optional_axes(layer, dilation=dilation), x, w, b, group)


def _kernel_layer(ctx: Context, node: Any, layer: dict[str, Any], x: Value, w: np.ndarray, b: np.ndarray | None,
                  group: int) -> Value:
    """groups, bias and the weights, (out or in, in or out, *kernel) -> (*kernel, ..., ...), of a conv or
    transposed conv."""
    if group != 1:
        layer["groups"] = group
    weights = {"weight": np.transpose(w, (*range(2, w.ndim), 1, 0))}
    if b is None:
        layer["bias"] = False
    else:
        weights["bias"] = b
    return ctx.emit(node, layer, [x], "map", weights)


@OPS.register("ConvTranspose")
def conv_transpose(ctx: Context, node: Any) -> Value:
    x = _map(node, ctx.materialize(node, ctx.value(node, 0)))
    w = ctx.const(node, 1, "weight")  # (C_in, filters/groups, *kernel)
    b = _bias(ctx, node)
    a = ctx.attrs(node)
    rank = w.ndim - 2
    if "output_shape" in a:
        raise ImportError_(f"{origin(node)}: output_shape is not supported; export with pads and output_padding")
    group = a.get("group", 1)
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    layer = optional_axes({"type": "conv_transpose", "filters": int(w.shape[1] * group), "kernel": per_axis(kernel)},
                          stride=_strides(ctx, node, rank))
    auto = a.get("auto_pad", b"NOTSET")
    if auto in (b"SAME_UPPER", "SAME_UPPER"):
        layer["padding"] = "same"
    elif auto in (b"NOTSET", "NOTSET"):
        pads = a.get("pads", [0] * (2 * rank))
        pairs = [(pads[i], pads[i + rank]) for i in range(rank)]
        if any(p for pair in pairs for p in pair):
            layer["padding"] = per_axis([p for p, _ in pairs]) if all(p == q for p, q in pairs) else \
                [list(p) for p in pairs]
    elif auto not in (b"VALID", "VALID"):
        raise ImportError_(f"{origin(node)}: auto_pad {auto!r} is not supported on ConvTranspose")
    if any(a.get("output_padding", [0] * rank)):
        layer["output_padding"] = per_axis(a["output_padding"])
    return _kernel_layer(ctx, node, optional_axes(layer, dilation=a.get("dilations", [1] * rank)), x, w, b, group)


def _pool(ctx: Context, node: Any, kind: str, pad_value: float | None) -> Value:
    x = _map(node, ctx.value(node, 0))
    a = ctx.attrs(node)
    if len(node.output) > 1 and node.output[1] and ctx.consumers[node.output[1]]:
        raise ImportError_(f"{origin(node)}: its Indices output is used; archcalc's pools have none")
    kernel = tuple(a["kernel_shape"])
    rank = len(kernel)
    if any(d != 1 for d in a.get("dilations", [1] * rank)):
        raise ImportError_(f"{origin(node)}: dilated pooling has no archcalc layer")
    x, fields = _geometry(ctx, node, x, kernel, pad_value, ceil=bool(a.get("ceil_mode", 0)))
    layer: dict[str, Any] = {"type": kind, "kernel": per_axis(kernel), "stride": per_axis(_strides(ctx, node, rank))}
    layer.update(fields)
    if kind == "avgpool" and a.get("count_include_pad", 0) and ("padding" in fields or "rounding" in fields):
        layer["count_include_pad"] = True
    return ctx.emit(node, layer, [x], "map")


@OPS.register("MaxPool")
def maxpool(ctx: Context, node: Any) -> Value:
    return _pool(ctx, node, "maxpool", float("-inf"))


@OPS.register("AveragePool")
def avgpool(ctx: Context, node: Any) -> Value:
    return _pool(ctx, node, "avgpool", None)


@OPS.register("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: Context, node: Any) -> Value:
    x = _map(node, ctx.materialize(node, ctx.value(node, 0)))
    kind = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    return ctx.emit(node, {"type": kind}, [x], "vector")


def _vector_weights(node: Any, x: Value, w: np.ndarray) -> np.ndarray:
    """(inputs, units) rows in archcalc's order: a channels-first flattening is permuted to channels-last."""
    if w.shape[0] != x.shape[0] or len(x.shape) != 1:
        raise ImportError_(f"{origin(node)}: a weight of {w.shape[0]} rows for an input of shape {list(x.onnx)}")
    if x.layout == "vector":
        return w
    if x.layout == "cfirst" and x.flat_of is not None:
        *spatial, c = x.flat_of
        return np.moveaxis(w.reshape(c, *spatial, w.shape[-1]), 0, -2).reshape(w.shape)
    raise ImportError_(f"{origin(node)}: needs a vector (flatten the feature map first), got shape {list(x.onnx)}")


@OPS.register("Gemm")
def gemm(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    a = ctx.attrs(node)
    if a.get("transA", 0):
        raise ImportError_(f"{origin(node)}: transA=1 (a transposed input) has no archcalc layer")
    w = ctx.const(node, 1, "weight")
    w = (w.T if a.get("transB", 0) else w) * np.float32(a.get("alpha", 1.0))
    layer: dict[str, Any] = {"type": "dense", "units": int(w.shape[1])}
    weights = {"weight": _vector_weights(node, x, w)}
    if ctx.has(node, 2):
        c = ctx.const(node, 2, "bias") * np.float32(a.get("beta", 1.0))
        weights["bias"] = np.broadcast_to(c.reshape(-1) if c.size == w.shape[1] else c, (w.shape[1],)).copy()
    else:
        layer["bias"] = False
    return ctx.emit(node, layer, [x], "vector", weights)


@OPS.register("MatMul")
def matmul(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    w = ctx.const(node, 1, "weight")
    if w.ndim != 2 or len(x.onnx) != 1:
        raise ImportError_(f"{origin(node)}: only vector x matrix products (a dense layer) are supported, got "
                           f"{list(x.onnx)} x {list(w.shape)}")
    layer = {"type": "dense", "units": int(w.shape[1]), "bias": False}
    return ctx.emit(node, layer, [x], "vector", {"weight": _vector_weights(node, x, w)})


def add_bias(ctx: Context, node: Any, x: Value, c: np.ndarray) -> Value | None:
    """Add(MatMul(x, W), b) or Add(Conv(x, W), b) where the layer has no bias yet: that layer's bias (per filter,
    or one per output position); None if this Add is not that."""
    data = node.input[0] if node.input[0] in ctx.values else node.input[1]
    if not x.own or not ctx.single_use(data):
        return None
    layer = ctx.builder.layer(x.layer)
    if layer.get("bias", True) is not False or layer["type"] not in ("conv", "dense") or "activation" in layer:
        return None
    units = layer["units"] if layer["type"] == "dense" else layer["filters"]
    if c.size == units and (c.ndim <= 1 or c.shape[0] == units or c.shape[-1] == units and c.ndim == 2):
        bias = c.reshape(-1)
    elif layer["type"] == "conv" and tuple(c.shape[-len(x.onnx):]) == x.onnx and c.size == np.prod(x.onnx):
        layer["bias"] = "per_position"
        bias = np.moveaxis(c.reshape(x.onnx), 0, -1)
    else:
        return None
    if layer["bias"] is False:
        del layer["bias"]
    ctx.builder.weights[x.layer]["bias"] = np.ascontiguousarray(bias, dtype=np.float32)
    return Value(x.layer, x.shape, x.layout, x.onnx, own=True)


@OPS.register("BatchNormalization")
def batchnorm(ctx: Context, node: Any) -> Value:
    x = ctx.materialize(node, ctx.value(node, 0))
    a = ctx.attrs(node)
    if a.get("training_mode", 0):
        raise ImportError_(f"{origin(node)}: training_mode=1; export the model in eval mode")
    keys = ("gamma", "beta", "moving_mean", "moving_variance")
    weights = {k: ctx.const(node, i + 1, k) for i, k in enumerate(keys)}
    layer = {"type": "batchnorm", "eps": f32(a.get("epsilon", 1e-5)),
             "momentum": f32(a.get("momentum", 0.9))}
    return ctx.emit(node, layer, [x], x.layout if x.layout in ("map", "vector") else "vector", weights)


@OPS.register("LRN")
def lrn(ctx: Context, node: Any) -> Value:
    x = _map(node, ctx.materialize(node, ctx.value(node, 0)))
    a = ctx.attrs(node)
    layer = {"type": "lrn", "size": int(a["size"]), "alpha": f32(a.get("alpha", 1e-4)),
             "beta": f32(a.get("beta", 0.75)), "k": f32(a.get("bias", 1.0)),
             "alpha_over_n": True}
    return ctx.emit(node, layer, [x], "map")


@OPS.register("LayerNormalization")
def layernorm(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    axis = ctx.attrs(node).get("axis", -1)
    if x.layout not in ("nhwc", "vector") or axis not in (-1, len(x.onnx)):
        raise ImportError_(f"{origin(node)}: only a layer norm over the channels (the last axis of a channels-last "
                           "tensor) has an archcalc layer")
    weights = {"gamma": ctx.const(node, 1, "scale")}
    weights["beta"] = ctx.const(node, 2, "bias") if ctx.has(node, 2) else np.zeros_like(weights["gamma"])
    layer = {"type": "layernorm", "eps": f32(ctx.attrs(node).get("epsilon", 1e-5))}
    return ctx.emit(node, layer, [x], x.layout, weights)


@OPS.register("Gather")
def embedding(ctx: Context, node: Any) -> Value:
    table = ctx.const(node, 0, "embedding table")
    if table.ndim != 2 or ctx.attrs(node).get("axis", 0) != 0 or node.input[1] not in ctx.values:
        raise ImportError_(f"{origin(node)}: only an embedding lookup (a constant table indexed by the input's "
                           "token ids) is supported")
    x = ctx.value(node, 1)
    layer = {"type": "embedding", "vocab": int(table.shape[0]), "dim": int(table.shape[1])}
    return ctx.emit(node, layer, [x], "nhwc", {"weight": table})


@OPS.register("ReduceMean", "ReduceMax")
def reduce_spatial(ctx: Context, node: Any) -> Value:
    """A mean or max over every spatial axis is a global pool."""
    x = ctx.value(node, 0)
    a = ctx.attrs(node)
    axes = a.get("axes")
    if axes is None and ctx.has(node, 1):
        axes = ctx.const(node, 1, "axes").tolist()
    rank = len(x.onnx) + 1
    if x.layout != "map" or sorted(int(i) % rank for i in (axes or [])) != list(range(2, rank)):
        raise ImportError_(f"{origin(node)}: reduces axes {axes} of {list(x.onnx)}; archcalc reduces all spatial "
                           "axes of a map (a global pool)")
    kind = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    return ctx.emit(node, {"type": kind}, [ctx.materialize(node, x)], "vector")
