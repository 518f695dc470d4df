"""Keras layer classes -> archcalc layers: one converter per class, registered in `LAYERS`.

A converter gets the layer's name, its config and the archcalc names of its
inputs, adds one or two layers to the spec and returns the name of the layer
that holds its output.
"""

from __future__ import annotations

from ...errors import brief

import re
from math import prod
from typing import Any, Callable

import numpy as np

from ..builder import ImportError_, SpecBuilder, optional_axes, per_axis, spec_accepts, window_fields
from ..registry import Registry

Converter = Callable[["Context", str, dict, list[str]], str]
LAYERS: Registry[Converter] = Registry("Keras layer")

#: Keras activation names -> archcalc's (Keras 3 meanings; hard_sigmoid is relu6(x + 3) / 6 there).
ACTIVATIONS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax", "linear": "linear",
               "elu": "elu", "relu6": "relu6", "hard_sigmoid": "hardsigmoid", "hard_swish": "hardswish",
               "hard_silu": "hardswish", "silu": "silu", "swish": "silu", "gelu": "gelu",
               "leaky_relu": "leaky_relu"}


def snake_case(name: str) -> str:
    """Keras's own naming of a layer's weights group: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Context:
    """The spec being built, Keras names -> archcalc names, and the weights file."""

    def __init__(self, builder: SpecBuilder, keras3: bool, weights: Any) -> None:
        self.builder = builder
        self.keras3 = keras3
        self.weights = weights
        self.names: dict[str, str] = {}
        self.h5_name = ""
        self._shapes: tuple[int, dict[str, tuple[int, ...]]] = (-1, {})

    def shape(self, ref: str) -> tuple[int, ...]:
        """The archcalc shape of a layer added so far (the spec is analysed when it has grown)."""
        if ref == "input":
            return self.builder.input_shape
        if self._shapes[0] != len(self.builder.layers):
            from ...analysis import analyze
            from ...load import load_spec

            report = analyze(load_spec(self.builder.spec()))
            self._shapes = (len(self.builder.layers), {r.name: r.output_shape for r in report.rows})
        return self._shapes[1][ref]

    def vars(self, count: int) -> list[np.ndarray] | None:
        """The layer's arrays in the .keras weights file (layers/<name>/vars/0, 1, ...), or None without weights."""
        if self.weights is None:
            return None
        group = self.weights.get(f"layers/{self.h5_name}/vars")
        if group is None or len(group) < count:
            found = 0 if group is None else len(group)
            raise ImportError_(f"model.weights.h5 has {found} arrays for layer '{self.h5_name}', expected {count}")
        return [np.asarray(group[str(i)]) for i in range(count)]

    def add(self, layer: dict, name: str, inputs: list[str], weights: dict[str, Any] | None = None) -> str:
        return self.builder.add(layer, name=name, inputs=inputs, origin=f"Keras layer '{name}'", weights=weights)


def _fail(name: str, cfg_class: str, why: str) -> ImportError_:
    return ImportError_(f"Keras layer '{name}' ({cfg_class}): {why}")


def _function(ctx: Context, name: str, spec: Any) -> tuple[str, dict[str, Any]]:
    """A Keras activation (a string or Keras 3's serialised function) -> (archcalc function, extra fields)."""
    if isinstance(spec, dict):
        spec = spec.get("config") if isinstance(spec.get("config"), str) else spec.get("class_name")
    if spec is None:
        return "linear", {}
    if spec == "hard_sigmoid" and not ctx.keras3:
        raise _fail(name, "activation", "Keras 2's hard_sigmoid is 0.2x + 0.5, archcalc's is relu6(x + 3) / 6")
    if spec not in ACTIVATIONS:
        raise _fail(name, "activation", f"activation {brief(spec)} has no archcalc function; supported: "
                    f"{', '.join(sorted(ACTIVATIONS))}")
    function = ACTIVATIONS[spec]
    if function == "leaky_relu":  # keras.activations.leaky_relu's slope is 0.2, archcalc's default 0.1
        return function, {"alpha": 0.2}
    return function, {}


def _with_activation(ctx: Context, layer: dict, name: str, inputs: list[str], weights: Any,
                     activation: Any) -> str:
    """A conv or dense layer carrying its activation, or followed by an activation layer when it needs an alpha."""
    function, extra = _function(ctx, name, activation)
    if function != "linear" and not extra and spec_accepts(repr({"type": "dense", "units": 1,
                                                                   "activation": function})):
        layer["activation"] = function
        return ctx.add(layer, name, inputs, weights)
    given = ctx.add(layer, name, inputs, weights)
    if function == "linear":
        return given
    return ctx.add({"type": "activation", "function": function, **extra}, f"{name}_activation", [given])


def _channels_last(name: str, cfg: dict) -> None:
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        raise _fail(name, "data_format", f"{cfg['data_format']}; archcalc imports channels_last models")


def _window(ctx: Context, name: str, cfg: dict, inputs: list[str], kernel: tuple[int, ...],
            stride: tuple[int, ...], dilation: tuple[int, ...]) -> dict[str, Any]:
    padding = cfg.get("padding", "valid")
    if padding == "same":
        return {"padding": "same"}
    if padding != "valid":
        raise _fail(name, "padding", f"padding {brief(padding)}; archcalc has same and valid")
    spatial = ctx.shape(inputs[0])[:-1]
    return window_fields(spatial, kernel, stride, dilation, ((0, 0),) * len(kernel), False,
                         f"Keras layer '{name}'")


def _rank(ctx: Context, ref: str) -> int:
    return len(ctx.shape(ref)) - 1


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value),) * rank


def _kernel_geometry(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> tuple[tuple[int, ...], ...]:
    """(kernel, strides, dilation_rate) of a conv-like layer, one entry per spatial axis of its input."""
    _channels_last(name, cfg)
    rank = _rank(ctx, inputs[0])
    return (_tuple(cfg["kernel_size"], rank), _tuple(cfg.get("strides", 1), rank),
            _tuple(cfg.get("dilation_rate", 1), rank))


@LAYERS.register("Conv1D", "Conv2D", "Conv3D")
def conv(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    kernel, stride, dilation = _kernel_geometry(ctx, name, cfg, inputs)
    layer = optional_axes({"type": "conv", "filters": int(cfg["filters"]), "kernel": per_axis(kernel)}, stride=stride)
    layer.update(_window(ctx, name, cfg, inputs, kernel, stride, dilation))
    optional_axes(layer, dilation=dilation)
    if cfg.get("groups", 1) != 1:
        layer["groups"] = int(cfg["groups"])
    return _weighted(ctx, layer, name, cfg, inputs)


def _weighted(ctx: Context, layer: dict[str, Any], name: str, cfg: dict, inputs: list[str]) -> str:
    """A conv, transposed conv or dense layer: its bias setting, its kernel and bias, its activation."""
    use_bias = cfg.get("use_bias", True)
    if not use_bias:
        layer["bias"] = False
    arrays = ctx.vars(2 if use_bias else 1)
    weights = None if arrays is None else dict(zip(("weight", "bias"), arrays))
    return _with_activation(ctx, layer, name, inputs, weights, cfg.get("activation"))


@LAYERS.register("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def conv_transpose(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    kernel, stride, dilation = _kernel_geometry(ctx, name, cfg, inputs)
    rank = len(kernel)
    layer = optional_axes({"type": "conv_transpose", "filters": int(cfg["filters"]), "kernel": per_axis(kernel)},
                          stride=stride)
    if cfg.get("padding", "valid") == "same":
        layer["padding"] = "same"
    if cfg.get("output_padding"):
        layer["output_padding"] = per_axis(_tuple(cfg["output_padding"], rank))
    optional_axes(layer, dilation=dilation)
    return _weighted(ctx, layer, name, cfg, inputs)


def _depthwise(ctx: Context, name: str, cfg: dict, inputs: list[str], kernel_arr: Any, bias: Any,
               use_bias: bool) -> dict[str, Any]:
    """A depthwise conv as a grouped conv: groups = C_in, filters = C_in * depth_multiplier."""
    kernel, stride, dilation = _kernel_geometry(ctx, name, cfg, inputs)
    channels = ctx.shape(inputs[0])[-1]
    multiplier = int(cfg.get("depth_multiplier", 1))
    layer = optional_axes({"type": "conv", "filters": channels * multiplier, "kernel": per_axis(kernel)}, stride=stride)
    layer.update(_window(ctx, name, cfg, inputs, kernel, stride, dilation))
    optional_axes(layer, dilation=dilation)
    layer["groups"] = channels
    if not use_bias:
        layer["bias"] = False
    weights = None
    if kernel_arr is not None:  # (*kernel, C, multiplier) -> (*kernel, 1, C * multiplier), channel c*m + j
        weights = {"weight": kernel_arr.reshape(*kernel, 1, channels * multiplier)}
        if use_bias:
            weights["bias"] = bias
    return {"layer": layer, "weights": weights}


@LAYERS.register("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    _channels_last(name, cfg)
    use_bias = cfg.get("use_bias", True)
    found = ctx.vars(2 if use_bias else 1)
    arrays: list[Any] = [None, None] if found is None else list(found)
    made = _depthwise(ctx, name, cfg, inputs, arrays[0], arrays[1] if use_bias else None, use_bias)
    return _with_activation(ctx, made["layer"], name, inputs, made["weights"], cfg.get("activation"))


@LAYERS.register("SeparableConv1D", "SeparableConv2D")
def separable(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    """Two layers: `<name>_depthwise` (no bias) and the pointwise 1x1 conv `<name>` with the bias and activation."""
    _channels_last(name, cfg)
    use_bias = cfg.get("use_bias", True)
    found = ctx.vars(3 if use_bias else 2)
    arrays: list[Any] = [None, None, None] if found is None else list(found)
    made = _depthwise(ctx, name, cfg, inputs, arrays[0], None, False)
    depthwise_name = ctx.add(made["layer"], f"{name}_depthwise", inputs, made["weights"])
    layer: dict[str, Any] = {"type": "conv", "filters": int(cfg["filters"]), "kernel": 1}
    if not use_bias:
        layer["bias"] = False
    weights = None
    if arrays[1] is not None:
        weights = {"weight": arrays[1]}
        if use_bias:
            weights["bias"] = arrays[2]
    return _with_activation(ctx, layer, name, [depthwise_name], weights, cfg.get("activation"))


def _pool(ctx: Context, name: str, cfg: dict, inputs: list[str], kind: str) -> str:
    _channels_last(name, cfg)
    rank = _rank(ctx, inputs[0])
    kernel = _tuple(cfg.get("pool_size", 2), rank)
    stride = _tuple(cfg.get("strides") or kernel, rank)
    layer: dict[str, Any] = {"type": kind, "kernel": per_axis(kernel), "stride": per_axis(stride)}
    layer.update(_window(ctx, name, cfg, inputs, kernel, stride, (1,) * rank))
    return ctx.add(layer, name, inputs)


@LAYERS.register("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D")
def maxpool(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return _pool(ctx, name, cfg, inputs, "maxpool")


@LAYERS.register("AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D")
def avgpool(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return _pool(ctx, name, cfg, inputs, "avgpool")


def _global(ctx: Context, name: str, cfg: dict, inputs: list[str], kind: str) -> str:
    if cfg.get("keepdims"):
        raise _fail(name, "keepdims", "keepdims=True keeps 1x1 spatial axes; archcalc's global pools give a vector")
    _channels_last(name, cfg)
    return ctx.add({"type": kind}, name, inputs)


@LAYERS.register("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                 "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D")
def global_avgpool(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return _global(ctx, name, cfg, inputs, "global_avgpool")


@LAYERS.register("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
                 "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D")
def global_maxpool(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return _global(ctx, name, cfg, inputs, "global_maxpool")


@LAYERS.register("Dense")
def dense(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    if len(shape) != 1 and prod(shape[:-1]) != 1:
        raise _fail(name, "Dense", f"applied to a {list(shape)} tensor Keras's Dense acts on the last axis only; "
                    "archcalc's dense flattens first (add a Flatten)")
    return _weighted(ctx, {"type": "dense", "units": int(cfg["units"])}, name, cfg, inputs)


@LAYERS.register("Flatten")
def flatten(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    _channels_last(name, cfg)
    return ctx.add({"type": "flatten"}, name, inputs)


@LAYERS.register("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
                 "GaussianDropout")
def dropout(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return ctx.add({"type": "dropout", "rate": float(cfg.get("rate", 0.5))}, name, inputs)


@LAYERS.register("BatchNormalization")
def batchnorm(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    axis = cfg.get("axis", -1)
    rank = len(ctx.shape(inputs[0]))
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % rank != rank - 1 and axis != rank:
        raise _fail(name, "axis", f"normalises axis {cfg.get('axis')}; archcalc's batchnorm normalises the channels")
    if not cfg.get("center", True) or not cfg.get("scale", True):
        raise _fail(name, "center/scale", "without beta or gamma; archcalc's batchnorm has both")
    layer = {"type": "batchnorm", "eps": float(cfg.get("epsilon", 1e-3)), "momentum": float(cfg.get("momentum", 0.99))}
    arrays = ctx.vars(4)
    weights = None if arrays is None else dict(zip(("gamma", "beta", "moving_mean", "moving_variance"), arrays))
    return ctx.add(layer, name, inputs, weights)


@LAYERS.register("LayerNormalization")
def layernorm(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if axis != -1 and axis != len(ctx.shape(inputs[0])):
        raise _fail(name, "axis", f"normalises axis {axis}; archcalc's layernorm normalises the channels")
    if not cfg.get("center", True) or not cfg.get("scale", True):
        raise _fail(name, "center/scale", "without beta or gamma; archcalc's layernorm has both")
    arrays = ctx.vars(2)
    weights = None if arrays is None else dict(zip(("gamma", "beta"), arrays))
    return ctx.add({"type": "layernorm", "eps": float(cfg.get("epsilon", 1e-3))}, name, inputs, weights)


@LAYERS.register("Activation")
def activation(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    function, extra = _function(ctx, name, cfg.get("activation"))
    return ctx.add({"type": "activation", "function": function, **extra}, name, inputs)


@LAYERS.register("ReLU")
def relu(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    top, slope, threshold = cfg.get("max_value"), cfg.get("negative_slope", 0.0), cfg.get("threshold", 0.0)
    if threshold:
        raise _fail(name, "threshold", "a ReLU threshold has no archcalc function")
    if top is None and not slope:
        layer: dict[str, Any] = {"type": "activation", "function": "relu"}
    elif top == 6 and not slope:
        layer = {"type": "activation", "function": "relu6"}
    elif top is None:
        layer = {"type": "activation", "function": "leaky_relu", "alpha": float(slope)}
    else:
        raise _fail(name, "max_value", f"ReLU capped at {top}; archcalc has relu and relu6")
    return ctx.add(layer, name, inputs)


@LAYERS.register("LeakyReLU")
def leaky_relu(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    return ctx.add({"type": "activation", "function": "leaky_relu", "alpha": float(slope)}, name, inputs)


@LAYERS.register("ELU")
def elu(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return ctx.add({"type": "activation", "function": "elu", "alpha": float(cfg.get("alpha", 1.0))}, name, inputs)


@LAYERS.register("Softmax")
def softmax(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    if cfg.get("axis", -1) != -1:
        raise _fail(name, "axis", "softmax over another axis than the channels")
    return ctx.add({"type": "activation", "function": "softmax"}, name, inputs)


@LAYERS.register("Add")
def add(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return ctx.add({"type": "add"}, name, inputs)


@LAYERS.register("Multiply")
def multiply(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    return ctx.add({"type": "multiply"}, name, inputs)


@LAYERS.register("Concatenate")
def concatenate(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    layer: dict[str, Any] = {"type": "concat"}
    if cfg.get("axis", -1) != -1:
        layer["axis"] = int(cfg["axis"]) - 1 if cfg["axis"] > 0 else int(cfg["axis"])  # Keras counts the batch
    return ctx.add(layer, name, inputs)


def _pairs(value: Any, rank: int) -> list[list[int]]:
    """Keras's padding/cropping: an int, one int per axis, or one (before, after) pair per axis."""
    if isinstance(value, int):
        return [[value, value]] * rank
    return [[int(v), int(v)] if isinstance(v, int) else [int(v[0]), int(v[1])] for v in value]


@LAYERS.register("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    _channels_last(name, cfg)
    pairs = _pairs(cfg.get("padding", 1), _rank(ctx, inputs[0]))
    return ctx.add({"type": "pad", "padding": pairs}, name, inputs)


@LAYERS.register("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    _channels_last(name, cfg)
    pairs = _pairs(cfg.get("cropping", 1), _rank(ctx, inputs[0]))
    return ctx.add({"type": "crop", "cropping": pairs}, name, inputs)


@LAYERS.register("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    _channels_last(name, cfg)
    size = cfg.get("size", 2)
    mode = cfg.get("interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise _fail(name, "interpolation", f"{mode}; archcalc upsamples nearest or bilinear")
    return ctx.add({"type": "upsample", "scale": per_axis(_tuple(size, _rank(ctx, inputs[0]))), "mode": mode},
                   name, inputs)


@LAYERS.register("Embedding")
def embedding(ctx: Context, name: str, cfg: dict, inputs: list[str]) -> str:
    arrays = ctx.vars(1)
    layer = {"type": "embedding", "vocab": int(cfg["input_dim"]), "dim": int(cfg["output_dim"])}
    return ctx.add(layer, name, inputs, None if arrays is None else {"weight": arrays[0]})
