"""A spec -> a PyTorch module (text): one nn.Module subclass, NCHW input, `load_archcalc_weights(path)`.

One emitter per layer kind (`TORCH`).  Geometry comes from the analysed rows,
so paddings and output sizes are the spec's exactly: symmetric padding goes in
the layer, anything PyTorch's layers cannot say (TensorFlow's SAME with an odd
total, explicit before/after pairs, windows that hang off the end) becomes an
explicit `F.pad` in forward; pools use `ceil_mode` where PyTorch's own rule gives
the spec's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from . import (ExportError, Plan, axes_text, cfirst_dense, class_name, natural_flatten, registry, unsupported,
               window_args)

TORCH = registry("PyTorch")
_RESERVED = frozenset({"forward", "training", "eval", "train", "cuda", "cpu", "to", "load_archcalc_weights",
                       "parameters", "modules", "children", "state_dict", "apply", "float", "double", "half"})


@dataclass
class Code:
    """One layer: its constructor line (or None), its forward expression, and how the loader fills it."""

    init: str | None
    expr: str
    load: str | None = None  # "conv", "conv_per_position", "dense", "batchnorm"
    map_shape: tuple[int, ...] | None = None  # dense after a channels-first flatten of this (*spatial, C) map


_tuple = axes_text


def activation(expr: str, function: str | None, alpha: float | None = None) -> str:
    if function in (None, "linear"):
        return expr
    simple = {"relu": "F.relu", "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "relu6": "F.relu6",
              "hardsigmoid": "F.hardsigmoid", "hardswish": "F.hardswish", "silu": "F.silu", "swish": "F.silu"}
    if function in simple:
        return f"{simple[function]}({expr})"
    if function == "leaky_relu":
        return f"F.leaky_relu({expr}, {alpha if alpha is not None else 0.1})"
    if function == "elu":
        return f"F.elu({expr}, alpha={alpha if alpha is not None else 1.0})"
    if function == "softmax":
        return f"torch.softmax({expr}, dim=1)"
    if function == "gelu":
        return f"F.gelu({expr})"
    raise ExportError(f"activation {function} has no PyTorch function in the exporter")


def _hang(a: Any) -> int:
    """Cells the last window reads past the padded input (ceil rounding)."""
    return max(0, (a.out - 1) * a.s + a.d * (a.f - 1) + 1 - (a.n + a.pb + a.pa))


def _pad_call(expr: str, axes: Any, value: str | None = None) -> str:
    pads: list[int] = []
    for a in reversed(axes):  # F.pad lists the last axis first
        pads += [a.pb, a.pa + _hang(a)]
    fill = f", value={value}" if value else ""
    return f"F.pad({expr}, ({', '.join(map(str, pads))}){fill})"


def _torch_pool_out(n: int, f: int, s: int, p: int, ceil: bool) -> int:
    """PyTorch's pooling_output_shape: the last window must start inside the input or its left padding."""
    out = (n + 2 * p - f + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _dims(rank: int) -> str:
    return f"{rank}d"


@TORCH.register("conv")
def conv(plan: Plan, row: Any) -> Code:
    layer, axes = row.layer, row.axes
    rank = len(axes)
    c_in = row.input_shapes[0][-1]
    x = plan.ins(row)[0]
    symmetric = all(a.pb == a.pa and not _hang(a) for a in axes)
    args = [str(c_in), str(layer.filters), f"kernel_size={_tuple(a.f for a in axes)}"]
    if symmetric and any(a.pb for a in axes):
        args.append(f"padding={_tuple(a.pb for a in axes)}")
    window_args(args, axes, "stride", "dilation", layer.groups)
    if layer.bias is not True:
        args.append("bias=False")
    name = plan.names[row.name]
    init = f"self.{name} = nn.Conv{_dims(rank)}({', '.join(args)})"
    inner = x if symmetric else _pad_call(x, axes)
    expr = f"self.{name}({inner})"
    load = "conv"
    if layer.bias == "per_position":
        init += f"\n        self.{name}_bias = nn.Parameter(torch.zeros({layer.filters}, " \
                f"{', '.join(str(a.out) for a in axes)}))  # one bias per output position"
        expr = f"{expr} + self.{name}_bias"
        load = "conv_per_position"
    return Code(init, activation(expr, layer.activation), load)


def _pool(plan: Plan, row: Any, kind: str) -> Code:
    axes = row.axes
    rank = len(axes)
    name = plan.names[row.name]
    x = plan.ins(row)[0]
    k, s = _tuple(a.f for a in axes), _tuple(a.s for a in axes)
    symmetric = all(a.pb == a.pa and a.pb <= a.f // 2 for a in axes)
    cls = "MaxPool" if kind == "maxpool" else "AvgPool"
    include = bool(getattr(row.layer, "count_include_pad", False))
    extra = "" if kind == "maxpool" else f", count_include_pad={include}"
    if symmetric:
        for ceil in (False, True):
            if all(_torch_pool_out(a.n, a.f, a.s, a.pb, ceil) == a.out for a in axes):
                pad = f", padding={_tuple(a.pb for a in axes)}" if any(a.pb for a in axes) else ""
                mode = ", ceil_mode=True" if ceil else ""
                return Code(f"self.{name} = nn.{cls}{_dims(rank)}({k}, stride={s}{pad}{mode}{extra})",
                            f"self.{name}({x})")
    if kind == "avgpool" and not (include and not any(_hang(a) for a in axes)):
        raise ExportError(f"layer '{row.name}' (avgpool): padding {[(a.pb, a.pa) for a in axes]} left out of the "
                          "average cannot be written with PyTorch's AvgPool (its padding is symmetric and at most "
                          "half the kernel)")
    fill = 'float("-inf")' if kind == "maxpool" else None
    return Code(f"self.{name} = nn.{cls}{_dims(rank)}({k}, stride={s}{extra})",
                f"self.{name}({_pad_call(x, axes, fill)})")


@TORCH.register("maxpool", "avgpool")
def pool(plan: Plan, row: Any) -> Code:
    return _pool(plan, row, row.type)


def _spatial_dims(rank: int) -> str:
    return "(" + ", ".join(str(i) for i in range(2, rank + 2)) + ("," if rank == 1 else "") + ")"


@TORCH.register("global_avgpool")
def global_avgpool(plan: Plan, row: Any) -> Code:
    return Code(None, f"{plan.ins(row)[0]}.mean(dim={_spatial_dims(len(row.input_shapes[0]) - 1)})")


@TORCH.register("global_maxpool")
def global_maxpool(plan: Plan, row: Any) -> Code:
    return Code(None, f"{plan.ins(row)[0]}.amax(dim={_spatial_dims(len(row.input_shapes[0]) - 1)})")


@TORCH.register("dense")
def dense(plan: Plan, row: Any) -> Code:
    layer = row.layer
    name = plan.names[row.name]
    x = plan.ins(row)[0]
    if len(row.input_shapes[0]) > 1:
        x = f"torch.flatten({x}, 1)"
    bias = "" if layer.bias else ", bias=False"
    init = f"self.{name} = nn.Linear({prod(row.input_shapes[0])}, {layer.units}{bias})"
    return Code(init, activation(f"self.{name}({x})", layer.activation), "dense", cfirst_dense(plan, row))


@TORCH.register("flatten")
def flatten(plan: Plan, row: Any) -> Code:
    x = plan.ins(row)[0]
    shape = row.input_shapes[0]
    if len(shape) > 1 and prod(shape[:-1]) > 1 and not natural_flatten(plan, row):
        rank = len(shape) - 1
        x = f"{x}.permute(0, {', '.join(str(i) for i in range(2, rank + 2))}, 1)"  # channels last, as archcalc
    return Code(None, f"torch.flatten({x}, 1)")


@TORCH.register("dropout")
def dropout(plan: Plan, row: Any) -> Code:
    name = plan.names[row.name]
    return Code(f"self.{name} = nn.Dropout(p={row.layer.rate})", f"self.{name}({plan.ins(row)[0]})")


@TORCH.register("lrn")
def lrn(plan: Plan, row: Any) -> Code:
    layer = row.layer
    name = plan.names[row.name]
    alpha = layer.alpha if layer.alpha_over_n else layer.alpha * layer.size  # PyTorch divides alpha by size
    return Code(f"self.{name} = nn.LocalResponseNorm({layer.size}, alpha={alpha!r}, beta={layer.beta!r}, "
                f"k={layer.k!r})", f"self.{name}({plan.ins(row)[0]})")


@TORCH.register("batchnorm")
def batchnorm(plan: Plan, row: Any) -> Code:
    layer = row.layer
    name = plan.names[row.name]
    rank = max(1, len(row.output_shape) - 1)
    momentum = round(1 - layer.momentum, 10)  # PyTorch's momentum weighs the new batch, Keras's the old average
    return Code(f"self.{name} = nn.BatchNorm{_dims(rank)}({row.output_shape[-1]}, eps={layer.eps!r}, "
                f"momentum={momentum!r})", f"self.{name}({plan.ins(row)[0]})", "batchnorm")


@TORCH.register("activation")
def activation_layer(plan: Plan, row: Any) -> Code:
    return Code(None, activation(plan.ins(row)[0], row.layer.function, row.layer.slope))


@TORCH.register("add")
def add(plan: Plan, row: Any) -> Code:
    return Code(None, " + ".join(plan.ins(row)))


@TORCH.register("concat")
def concat(plan: Plan, row: Any) -> Code:
    rank = len(row.output_shape)
    axis = row.layer.axis % rank
    dim = 1 if axis == rank - 1 else axis + 2  # channels are dim 1 in NCHW, the spatial axes follow
    return Code(None, f"torch.cat([{', '.join(plan.ins(row))}], dim={dim})")


_HELPERS = '''

def _conv(w):
    """(*kernel, C_in/groups, filters) -> (filters, C_in/groups, *kernel)."""
    return np.moveaxis(np.moveaxis(w, -1, 0), -1, 1)


def _dense(w, map_shape):
    """(inputs, units) -> (units, inputs); rows of a flattened (*spatial, C) map reordered to C, *spatial."""
    if map_shape is not None:
        w = np.moveaxis(w.reshape(*map_shape, -1), -2, 0).reshape(w.shape)
    return w.T


def _copy(target, array, key):
    array = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if tuple(target.shape) != tuple(array.shape):
        raise ValueError(f"{key}: shape {tuple(array.shape)} does not fit {tuple(target.shape)}")
    target.copy_(array)
'''

_LOADER = '''
    def load_archcalc_weights(self, path):
        """Copy in the weights of an archcalc .npz (keys '<layer>.<key>', conv (*kernel, C_in/groups, filters),
        dense (inputs, units) over the channels-last flattening, batchnorm gamma/beta/moving_mean/moving_variance)."""
        with np.load(path) as arrays, torch.no_grad():
            for layer, (attr, kind, map_shape) in ARCHCALC_LAYERS.items():
                module = getattr(self, attr)
                if kind == "batchnorm":
                    for key, target in (("gamma", module.weight), ("beta", module.bias),
                                        ("moving_mean", module.running_mean), ("moving_variance", module.running_var)):
                        _copy(target, arrays[f"{layer}.{key}"], f"{layer}.{key}")
                    continue
                weight = arrays[f"{layer}.weight"]
                _copy(module.weight, _conv(weight) if kind.startswith("conv") else _dense(weight, map_shape),
                      f"{layer}.weight")
                if kind == "conv_per_position":
                    _copy(getattr(self, attr + "_bias"), np.moveaxis(arrays[f"{layer}.bias"], -1, 0), f"{layer}.bias")
                elif module.bias is not None:
                    _copy(module.bias, arrays[f"{layer}.bias"], f"{layer}.bias")
        return self
'''


def export(network: Any) -> str:
    """The PyTorch module for a Network, as Python source."""
    from ...analysis import analyze

    report = analyze(network)
    plan = Plan(report, _RESERVED)
    inits, lines, table = [], [], []
    for row in plan.rows:
        fn = TORCH.get(row.type)
        if fn is None:
            raise unsupported(TORCH, row, "PyTorch")
        code = fn(plan, row)
        if code.init:
            inits.append(code.init)
        lines.append(f"{plan.vars[row.name]} = {code.expr}")
        if code.load:
            table.append(f"    {row.name!r}: ({plan.names[row.name]!r}, {code.load!r}, {code.map_shape!r}),")
    net = network
    shape = net.input_shape
    nchw = (shape[-1], *shape[:-1]) if len(shape) > 1 else shape
    out = report.output_shape
    out_nchw = (out[-1], *out[:-1]) if len(out) > 1 else out
    cls = class_name(net.name)
    where = f" from {net.file}" if net.file else ""
    head = [
        f'"""{net.name}: written by `archcalc export --to pytorch`{where}.',
        "",
        f"Input: a (N, {', '.join(map(str, nchw))}) tensor (channels first); output: (N, "
        f"{', '.join(map(str, out_nchw))}).",
        f"{report.totals.trainable_params:,} trainable parameters. Weights: `{cls}().load_archcalc_weights(\"w.npz\")`"
        " reads an archcalc .npz (`archcalc init`, `archcalc import --weights`).",
        '"""',
        "",
        "import numpy as np",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "# archcalc layer -> (attribute, kind, map flattened channels-first before it)",
        "ARCHCALC_LAYERS = {",
        *table,
        "}",
        "",
        "",
        f"class {cls}(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        *(f"        {line}" for line in inits),
        *([] if inits else ["        pass"]),
        "",
        "    def forward(self, x):",
        *(["        inputs = x"] if plan.vars["input"] == "inputs" else []),
        *(f"        {line}" for line in lines),
        "        return x",
    ]
    return "\n".join(head) + "\n" + _LOADER + _HELPERS
