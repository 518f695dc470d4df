"""A spec -> a Keras 3 module (text): `build_model()` returning a functional keras.Model on channels-last input,
and `load_archcalc_weights(model, path)`.

Keras is channels-last like archcalc, so weights keep their layouts.  Keras's
windows pad `valid` or `same` only: other paddings become a ZeroPadding layer
(or a -inf pad for max pooling), windows that hang off the end (ceil) are padded
explicitly, and an average that leaves such padding out of the count is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ... import arith
from . import ExportError, Plan, axes_text, class_name, registry, unsupported, window_args

KERAS = registry("Keras")


@dataclass
class Code:
    """One layer's lines (the last assigns its output), the Keras layers holding its weights, custom classes."""

    lines: list[str]
    weights: list[tuple[str, list[str]]] = field(default_factory=list)  # (Keras layer name, archcalc keys)
    classes: tuple[str, ...] = ()


_tuple = axes_text


def _hang(a: Any) -> int:
    return max(0, (a.out - 1) * a.s + a.d * (a.f - 1) + 1 - (a.n + a.pb + a.pa))


def _same(axes: Any) -> bool:
    """True when the resolved padding is TensorFlow's SAME (so Keras's padding="same" says it)."""
    return all((a.pb, a.pa) == arith.same_padding(a.n, a.f, a.s, a.d) and a.out == arith.same_out_size(a.n, a.s)
               for a in axes)


def _valid(axes: Any) -> bool:
    return all(a.pb == a.pa == 0 and not _hang(a) for a in axes)


def _pairs(axes: Any) -> str:
    pairs = [(a.pb, a.pa + _hang(a)) for a in axes]
    if len(pairs) == 1:
        return str(pairs[0])
    return "(" + ", ".join(f"({b}, {a})" for b, a in pairs) + ")"


def _padded(out: str, x: str, axes: Any, name: str, fill_inf: bool = False) -> tuple[list[str], str, str]:
    """(lines, padding argument, input) for a window layer: valid, same, or an explicit pad before it."""
    if _valid(axes):
        return [], "", x
    if _same(axes):
        return [], ', padding="same"', x
    rank = len(axes)
    if fill_inf:
        pads = "[[0, 0], " + ", ".join(f"[{a.pb}, {a.pa + _hang(a)}]" for a in axes) + ", [0, 0]]"
        line = f'{out} = layers.Lambda(lambda t: ops.pad(t, {pads}, constant_values=float("-inf")), ' \
               f'name="{name}_pad")({x})'
    else:
        line = f'{out} = layers.ZeroPadding{rank}D({_pairs(axes)}, name="{name}_pad")({x})'
    return [line], "", out


_FUNCTIONS = {"relu": '"relu"', "sigmoid": '"sigmoid"', "tanh": '"tanh"', "softmax": '"softmax"',
              "relu6": '"relu6"', "hardsigmoid": '"hard_sigmoid"', "hardswish": '"hard_swish"', "silu": '"silu"',
              "swish": '"silu"', "gelu": '"gelu"'}


def _activation_layer(out: str, x: str, name: str, function: str, alpha: float | None) -> str:
    if function == "leaky_relu":
        return f'{out} = layers.LeakyReLU(negative_slope={alpha if alpha is not None else 0.1}, name="{name}")({x})'
    if function == "elu":
        return f'{out} = layers.ELU(alpha={alpha if alpha is not None else 1.0}, name="{name}")({x})'
    if function in _FUNCTIONS:
        return f'{out} = layers.Activation({_FUNCTIONS[function]}, name="{name}")({x})'
    raise ExportError(f"activation {function} has no Keras function in the exporter")


def _with_activation(lines: list[str], out: str, name: str, function: str | None) -> list[str]:
    """`activation=` in the layer when Keras's function is archcalc's, else an activation layer after it."""
    if function in (None, "linear"):
        return lines
    if function in _FUNCTIONS:
        lines[-1] = lines[-1].replace(f', name="{name}")', f', activation={_FUNCTIONS[function]}, name="{name}")')
        return lines
    return lines + [_activation_layer(out, out, f"{name}_activation", function, None)]


@KERAS.register("conv")
def conv(plan: Plan, row: Any) -> Code:
    layer, axes = row.layer, row.axes
    name, out = plan.names[row.name], plan.vars[row.name]
    lines, padding, x = _padded(out, plan.ins(row)[0], axes, name)
    args = window_args([str(layer.filters), _tuple(a.f for a in axes)], axes, "strides", "dilation_rate", layer.groups)
    if layer.bias is not True:
        args.append("use_bias=False")
    lines.append(f'{out} = layers.Conv{len(axes)}D({", ".join(args)}{padding}, name="{name}")({x})')
    weights = [(name, ["weight", "bias"] if layer.bias is True else ["weight"])]
    classes: tuple[str, ...] = ()
    if layer.bias == "per_position":
        lines.append(f'{out} = PositionBias(name="{name}_bias")({out})')
        weights.append((f"{name}_bias", ["bias"]))
        classes = ("PositionBias",)
        if layer.activation not in (None, "linear"):
            lines.append(_activation_layer(out, out, f"{name}_activation", layer.activation, None))
        return Code(lines, weights, classes)
    return Code(_with_activation(lines, out, name, layer.activation), weights, classes)


def _pool(plan: Plan, row: Any, kind: str) -> Code:
    axes = row.axes
    name, out = plan.names[row.name], plan.vars[row.name]
    x = plan.ins(row)[0]
    if kind == "avgpool" and not (_valid(axes) or _same(axes)):
        if not getattr(row.layer, "count_include_pad", False) or any(_hang(a) for a in axes):
            raise ExportError(f"layer '{row.name}' (avgpool): padding {[(a.pb, a.pa) for a in axes]} left out of "
                              "the average cannot be written with Keras's pooling (valid or same only)")
    lines, padding, x = _padded(out, x, axes, name, fill_inf=kind == "maxpool")
    cls = "MaxPooling" if kind == "maxpool" else "AveragePooling"
    lines.append(f'{out} = layers.{cls}{len(axes)}D({_tuple(a.f for a in axes)}, '
                 f'strides={_tuple(a.s for a in axes)}{padding}, name="{name}")({x})')
    return Code(lines)


@KERAS.register("maxpool", "avgpool")
def pool(plan: Plan, row: Any) -> Code:
    return _pool(plan, row, row.type)


def _simple(plan: Plan, row: Any, call: str) -> Code:
    """One Keras layer called on the row's input(s)."""
    name, out = plan.names[row.name], plan.vars[row.name]
    ins = plan.ins(row)
    arg = ins[0] if len(ins) == 1 else f"[{', '.join(ins)}]"
    sep = ", " if not call.endswith("(") else ""
    return Code([f'{out} = layers.{call}{sep}name="{name}")({arg})'])


@KERAS.register("global_avgpool", "global_maxpool")
def global_pool(plan: Plan, row: Any) -> Code:
    cls = "GlobalAveragePooling" if row.type == "global_avgpool" else "GlobalMaxPooling"
    return _simple(plan, row, f"{cls}{len(row.input_shapes[0]) - 1}D(")


@KERAS.register("dense")
def dense(plan: Plan, row: Any) -> Code:
    layer = row.layer
    name, out = plan.names[row.name], plan.vars[row.name]
    x = plan.ins(row)[0]
    lines = []
    if len(row.input_shapes[0]) > 1:  # Keras's Dense acts on the last axis: flatten first, as archcalc does
        lines.append(f'{out} = layers.Flatten(name="{name}_flatten")({x})')
        x = out
    bias = "" if layer.bias else ", use_bias=False"
    lines.append(f'{out} = layers.Dense({layer.units}{bias}, name="{name}")({x})')
    return Code(_with_activation(lines, out, name, layer.activation),
                [(name, ["weight", "bias"] if layer.bias else ["weight"])])


@KERAS.register("flatten")
def flatten(plan: Plan, row: Any) -> Code:
    return _simple(plan, row, "Flatten(")


@KERAS.register("dropout")
def dropout(plan: Plan, row: Any) -> Code:
    return _simple(plan, row, f"Dropout({row.layer.rate}")


@KERAS.register("lrn")
def lrn(plan: Plan, row: Any) -> Code:
    layer = row.layer
    alpha = layer.alpha / layer.size if layer.alpha_over_n else layer.alpha
    code = _simple(plan, row, f"LocalResponseNorm({layer.size}, alpha={alpha!r}, beta={layer.beta!r}, k={layer.k!r}")
    code.lines[-1] = code.lines[-1].replace("layers.LocalResponseNorm", "LocalResponseNorm")
    code.classes = ("LocalResponseNorm",)
    return code


@KERAS.register("batchnorm")
def batchnorm(plan: Plan, row: Any) -> Code:
    code = _simple(plan, row, f"BatchNormalization(epsilon={row.layer.eps!r}, momentum={row.layer.momentum!r}")
    code.weights = [(plan.names[row.name], ["gamma", "beta", "moving_mean", "moving_variance"])]
    return code


@KERAS.register("activation")
def activation(plan: Plan, row: Any) -> Code:
    name, out = plan.names[row.name], plan.vars[row.name]
    return Code([_activation_layer(out, plan.ins(row)[0], name, row.layer.function, row.layer.slope)])


@KERAS.register("add")
def add(plan: Plan, row: Any) -> Code:
    return _simple(plan, row, "Add(")


@KERAS.register("concat")
def concat(plan: Plan, row: Any) -> Code:
    axis = row.layer.axis
    return _simple(plan, row, f"Concatenate(axis={axis if axis < 0 else axis + 1}")  # Keras counts the batch


_CLASSES = {
    "LocalResponseNorm": '''

class LocalResponseNorm(keras.layers.Layer):
    """b_c = a_c / (k + alpha * sum of a^2 over channels c - size//2 .. c + (size-1)//2)^beta (AlexNet's LRN)."""

    def __init__(self, size, alpha, beta, k, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        channels = x.shape[-1]
        squares = ops.pad(ops.square(x), [[0, 0]] * (len(x.shape) - 1) + [[self.size // 2, (self.size - 1) // 2]])
        total = sum(squares[..., i:i + channels] for i in range(self.size))
        return x / ops.power(self.k + self.alpha * total, self.beta)
''',
    "PositionBias": '''

class PositionBias(keras.layers.Layer):
    """One learnable bias per output element ("a different bias for each position")."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", name="bias")

    def call(self, x):
        return x + self.bias
''',
}

_LOADER = '''

def load_archcalc_weights(model, path):
    """Set the weights of an archcalc .npz (keys '<layer>.<key>'; conv (*kernel, C_in/groups, filters) and dense
    (inputs, units) are Keras's own layouts)."""
    with np.load(path) as arrays:
        for layer, keras_name, keys in ARCHCALC_WEIGHTS:
            model.get_layer(keras_name).set_weights([arrays[f"{layer}.{key}"] for key in keys])
    return model
'''


def export(network: Any) -> str:
    """The Keras module for a Network, as Python source."""
    from ...analysis import analyze

    report = analyze(network)
    plan = Plan(report)
    body: list[str] = []
    table: list[str] = []
    classes: list[str] = []
    for row in plan.rows:
        fn = KERAS.get(row.type)
        if fn is None:
            raise unsupported(KERAS, row, "Keras")
        code = fn(plan, row)
        body += code.lines
        table += [f"    ({row.name!r}, {keras_name!r}, {keys!r})," for keras_name, keys in code.weights]
        classes += [c for c in code.classes if c not in classes]
    net = network
    where = f" from {net.file}" if net.file else ""
    model_name = class_name(net.name)
    head = [
        f'"""{net.name}: written by `archcalc export --to keras`{where}.',
        "",
        f"Input: (N, {', '.join(map(str, net.input_shape))}) channels last; output: (N, "
        f"{', '.join(map(str, report.output_shape))}). {report.totals.trainable_params:,} trainable parameters.",
        "Weights: `load_archcalc_weights(build_model(), \"w.npz\")` reads an archcalc .npz (`archcalc init`, "
        "`archcalc import --weights`).",
        '"""',
        "",
        "import keras",
        "import numpy as np",
        "from keras import layers, ops",
        "",
        "# (archcalc layer, Keras layer, archcalc keys in Keras's weight order)",
        "ARCHCALC_WEIGHTS = [",
        *table,
        "]",
    ]
    build = [
        "",
        "",
        "def build_model():",
        f'    inputs = keras.Input(shape={tuple(net.input_shape)!r}, name="input")',
        *(["    x = inputs"] if plan.vars["input"] == "x" else []),
        *(f"    {line}" for line in body),
        f'    return keras.Model(inputs, x, name="{model_name}")',
    ]
    return "\n".join(head) + "\n" + "".join(_CLASSES[c] for c in classes) + "\n".join(build) + "\n" + _LOADER
