"""ONNX activations and the operators that join tensors: one converter per operator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..builder import ImportError_, spec_accepts
from .graph import OPS, Context, Value, f32, origin
from .ops_layers import add_bias

#: The activation an archcalc conv or dense layer applies itself with its default alpha.
_FUSE_ALPHA = {"leaky_relu": 0.1, "elu": 1.0}


def activation(ctx: Context, node: Any, function: str, alpha: float | None = None, **extra: Any) -> Value:
    """`activation: f` on the conv or dense layer that produced the input when nothing else reads that layer,
    else an `activation` layer."""
    x = ctx.materialize(node, ctx.value(node, 0))
    fused = _fuse(ctx, node, x, function, alpha) if not extra else None
    if fused is not None:
        return fused
    spec: dict[str, Any] = {"type": "activation", "function": function, **extra}
    if alpha is not None:
        spec["alpha"] = f32(alpha)
    if x.layout == "cfirst":
        return _cfirst(ctx, node, spec, x)
    return ctx.emit(node, spec, [x], x.layout)


def _fuse(ctx: Context, node: Any, x: Value, function: str, alpha: float | None) -> Value | None:
    if not x.own or not ctx.single_use(node.input[0]):
        return None
    layer = ctx.builder.layer(x.layer)
    default = _FUSE_ALPHA.get(function)
    if alpha is not None and (default is None or np.float32(alpha) != np.float32(default)):
        return None
    if layer["type"] not in ("conv", "dense") or "activation" in layer or \
            function == "softmax" and layer["type"] != "dense":
        return None
    if not spec_accepts(repr({"type": "dense", "units": 1, "activation": function})):
        return None
    layer["activation"] = function
    return Value(x.layer, x.shape, x.layout, x.onnx, own=True)


def _cfirst(ctx: Context, node: Any, spec: dict[str, Any], x: Value) -> Value:
    out = ctx.emit(node, spec, [x], "vector")
    return Value(out.layer, out.shape, "cfirst", out.onnx, flat_of=x.flat_of, own=True)


#: Operators that are one archcalc function, with the ONNX default of their alpha where they have one.
_FUNCTIONS = {"Relu": ("relu", None), "Sigmoid": ("sigmoid", None), "Tanh": ("tanh", None),
              "HardSwish": ("hardswish", None), "LeakyRelu": ("leaky_relu", 0.01), "Elu": ("elu", 1.0)}


@OPS.register(*_FUNCTIONS)
def plain_activation(ctx: Context, node: Any) -> Value:
    function, default = _FUNCTIONS[node.op_type]
    return activation(ctx, node, function, None if default is None else ctx.attrs(node).get("alpha", default))


@OPS.register("Softmax")
def softmax(ctx: Context, node: Any) -> Value:
    x = ctx.value(node, 0)
    axis = ctx.attrs(node).get("axis", -1 if ctx.opset >= 13 else 1)
    rank = len(x.onnx) + 1
    channels = 1 if x.layout == "map" else rank - 1
    over_all = ctx.opset < 13 and axis % rank == 1 and np.prod(x.onnx[1:]) == 1
    if axis % rank != channels and not over_all or x.layout == "cfirst":
        raise ImportError_(f"{origin(node)}: softmax over axis {axis} of {list(x.onnx)}; archcalc's softmax "
                           "runs over the channels")
    if ctx.opset < 13 and x.layout == "map" and np.prod(x.spatial) > 1:
        raise ImportError_(f"{origin(node)}: before opset 13 Softmax runs over C*H*W together; archcalc's over "
                           "the channels")
    return activation(ctx, node, "softmax")


@OPS.register("Clip")
def clip(ctx: Context, node: Any) -> Value:
    a = ctx.attrs(node)
    low = float(ctx.const(node, 1, "min")) if ctx.has(node, 1) else a.get("min", -np.inf)
    high = float(ctx.const(node, 2, "max")) if ctx.has(node, 2) else a.get("max", np.inf)
    if low == 0 and high == 6:
        return activation(ctx, node, "relu6")
    if low == 0 and high == np.inf:
        return activation(ctx, node, "relu")
    raise ImportError_(f"{origin(node)}: Clip to [{low}, {high}]; archcalc has relu6 ([0, 6]) and relu ([0, inf])")


@OPS.register("HardSigmoid")
def hardsigmoid(ctx: Context, node: Any) -> Value:
    a = ctx.attrs(node)
    alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
    if not (np.isclose(alpha, 1 / 6, rtol=1e-6) and np.isclose(beta, 0.5)):
        raise ImportError_(f"{origin(node)}: HardSigmoid with alpha {alpha}, beta {beta}; archcalc's hardsigmoid "
                           "is PyTorch's (alpha 1/6, beta 0.5)")
    return activation(ctx, node, "hardsigmoid")


@OPS.register("Gelu")
def gelu(ctx: Context, node: Any) -> Value:
    approx = ctx.attrs(node).get("approximate", b"none")
    approx = approx.decode() if isinstance(approx, bytes) else approx
    return activation(ctx, node, "gelu", None, **({"approximate": "tanh"} if approx == "tanh" else {}))


def _values_and_consts(ctx: Context, node: Any) -> tuple[list[Value], list[np.ndarray]]:
    values = [ctx.materialize(node, ctx.values[i]) for i in node.input if i in ctx.values]
    consts = [ctx.consts[i] for i in node.input if i in ctx.consts]
    return values, consts


def _join(ctx: Context, node: Any, kind: str, values: list[Value]) -> Value:
    layouts = {v.layout for v in values}
    if len(layouts) != 1 or "cfirst" in layouts:
        raise ImportError_(f"{origin(node)}: joins tensors of different layouts ({', '.join(sorted(layouts))})")
    return ctx.emit(node, {"type": kind}, values, layouts.pop())


@OPS.register("Add", "Sum")
def add(ctx: Context, node: Any) -> Value:
    values, consts = _values_and_consts(ctx, node)
    if len(values) == 1 and len(consts) == 1:
        fused = add_bias(ctx, node, values[0], consts[0])
        if fused is not None:
            return fused
        raise ImportError_(f"{origin(node)}: adds a constant of shape {list(consts[0].shape)}; archcalc adds "
                           "constants only as a dense or conv layer's bias")
    return _join(ctx, node, "add", values)


@OPS.register("Mul")
def multiply(ctx: Context, node: Any) -> Value:
    values, consts = _values_and_consts(ctx, node)
    if not consts:
        return _join(ctx, node, "multiply", values)
    x, c = values[0], consts[0]
    if c.size != (x.onnx[0] if x.layout == "map" else x.shape[-1]) or x.layout == "cfirst":
        raise ImportError_(f"{origin(node)}: multiplies by a constant of shape {list(c.shape)}; archcalc scales "
                           "by one learnable value per channel only (scale)")
    return ctx.emit(node, {"type": "scale", "bias": False}, [x], x.layout, {"scale": c.reshape(-1)})


@OPS.register("Concat")
def concat(ctx: Context, node: Any) -> Value:
    values, consts = _values_and_consts(ctx, node)
    if consts:
        raise ImportError_(f"{origin(node)}: concatenates a constant tensor")
    axis = ctx.attrs(node)["axis"]
    rank = len(values[0].onnx) + 1
    channel_axis = 1 if values[0].layout in ("map", "vector") else rank - 1
    if axis % rank != channel_axis:
        raise ImportError_(f"{origin(node)}: concatenates along axis {axis}; archcalc concatenates channels")
    return _join(ctx, node, "concat", values)
