"""The working behind each number: how a layer's shape, parameters, MACs and receptive field follow from its input.

`working(row)` turns one analysed `LayerRow` into a `Working`: plain lines of
arithmetic with the numbers substituted, e.g. ``(7 + 1 + 1 - 3) / 2 + 1 = 4`` and
``(3*3*3 + 1) * 6 = 168``.  Nothing is re-derived here: every result comes from
analysis.py (and arith.py); this module only writes the formula next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from . import arith
from .analysis import AXIS_NAMES, Report
from .output.format import shape_text

WINDOWED = frozenset({"conv", "maxpool", "avgpool"})


@dataclass(slots=True)
class Working:
    name: str
    type: str
    heading: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    fits: bool = True
    exact_sizes: tuple[str, ...] = ()  # per axis, e.g. ("2.33", "2.33"), for window layers
    floor_shape: tuple[int, ...] | None = None  # what PyTorch/Keras give when it does not fit
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join([self.heading] + ["  " + line for line in self.lines]) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "params": self.params, "macs": self.macs,
                "fits": self.fits, "exact_sizes": list(self.exact_sizes),
                "floor_shape": list(self.floor_shape) if self.floor_shape else None,
                "working": list(self.lines)}


def _n(x: int) -> str:
    return f"{x:,}"


def _product(values) -> str:
    return "*".join(str(v) for v in values)


def axis_names(rank: int) -> tuple[str, ...]:
    return AXIS_NAMES.get(rank, tuple(f"axis {i}" for i in range(rank)))


def explain(report: Report, layer: str | None = None) -> list[Working]:
    """The working of every layer of `report`, or of the one named `layer`."""
    from .errors import ArchcalcError

    rows = report.rows
    if layer is not None:
        rows = [r for r in rows if r.name == layer]
        if not rows:
            names = ", ".join(r.name for r in report.rows)
            raise ArchcalcError(f"no layer named {layer!r}; the layers are: {names}", field="layer",
                                file=report.network.file if hasattr(report.network, "file") else None)
    return [working(r) for r in rows]


def working(row, *, strict: bool = False) -> Working:
    """The working of one analysed layer.  `strict`: the user asked for whole output sizes (calc's default),
    so a floored axis is reported as not fitting, with what frameworks give and what would fit."""
    in_shape = row.input_shapes[0] if row.input_shapes else ()
    w = Working(row.name, row.type, _heading(row), in_shape, row.output_shape, row.params, row.macs)
    kind = row.type
    if kind in WINDOWED:
        _window_lines(row, w, strict)
    elif kind == "dense":
        _dense_lines(row, w)
    elif kind == "flatten":
        w.lines.append(f"output: {_product(in_shape)} = {_n(row.output_shape[0])} values (rows, then columns, "
                       "then channels, as Keras flattens channels-last)")
    elif kind in ("global_avgpool", "global_maxpool"):
        what = "mean" if kind == "global_avgpool" else "max"
        w.lines.append(f"output: one {what} per channel over {shape_text(in_shape[:-1])} positions -> {row.output_shape[0]}")
    elif kind == "batchnorm":
        c = in_shape[-1]
        w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged)")
        w.lines.append(f"parameters: 4 * {c} = {_n(row.params)} (gamma and beta trainable: {_n(row.trainable_params)}; "
                       f"moving mean and variance not: {_n(row.non_trainable_params)})")
    elif kind == "add":
        w.lines.append(f"output shape: {shape_text(row.output_shape)} (element-wise sum of "
                       f"{', '.join(row.inputs)})")
    elif kind == "concat":
        parts = " + ".join(shape_text(s) for s in row.input_shapes)
        w.lines.append(f"output shape: {parts} joined along axis {row.layer.axis} -> {shape_text(row.output_shape)}")
    else:
        w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged); no parameters, no MACs")
    if kind not in ("conv", "dense", "batchnorm") and row.params == 0 and kind in WINDOWED | {"flatten"}:
        w.lines.append("parameters: 0 (nothing to learn: " + ("a window takes the max or mean" if kind in WINDOWED
                                                               else "only a reshape") + ")")
    if row.receptive_field is not None and kind in WINDOWED:
        rf = row.receptive_field
        w.lines.append(f"receptive field: {shape_text(rf.size)} input pixels (neighbouring outputs are "
                       f"{shape_text(rf.jump)} input pixels apart)")
    return w


def _heading(row) -> str:
    layer = row.layer
    kind = row.type
    in_shape = row.input_shapes[0] if row.input_shapes else ()
    if kind == "conv":
        what = f"{layer.filters} filter{'s' if layer.filters != 1 else ''} {_per_axis_text(layer.kernel, len(in_shape) - 1)}"
        what += f", stride {_setting(layer.stride)}, padding {_setting(layer.padding)}"
        if layer.dilation != 1:
            what += f", dilation {_setting(layer.dilation)}"
        if layer.groups != 1:
            what += f", groups {layer.groups}"
    elif kind in ("maxpool", "avgpool"):
        stride = layer.stride if layer.stride is not None else layer.kernel
        what = f"{_per_axis_text(layer.kernel, len(in_shape) - 1)} windows, stride {_setting(stride)}, padding {_setting(layer.padding)}"
    elif kind == "dense":
        what = f"{layer.units} units"
    else:
        what = ""
    src = f"on {shape_text(in_shape)}" if len(row.input_shapes) == 1 else "on " + ", ".join(
        f"{n} ({shape_text(s)})" for n, s in zip(row.inputs, row.input_shapes))
    return f"{row.name} ({kind}{': ' + what if what else ''}) {src} -> {shape_text(row.output_shape)}"


def _setting(value) -> str:
    if isinstance(value, str):
        return value.upper() if value == "same" else value
    if isinstance(value, tuple) and value and isinstance(value[0], tuple) and len(set(value)) == 1:
        return f"{value[0][0]} before, {value[0][1]} after"
    if isinstance(value, tuple):
        return "x".join(str(v) if not isinstance(v, tuple) else f"{v[0]}+{v[1]}" for v in value)
    return str(value)


def _per_axis_text(kernel, rank: int) -> str:
    if isinstance(kernel, int):
        return "x".join([str(kernel)] * max(rank, 1))
    return "x".join(str(k) for k in kernel)


def _window_lines(row, w: Working, strict: bool) -> None:
    axes = row.axes
    names = axis_names(len(axes))
    dilated = any(a.d != 1 for a in axes)
    general = ("(N + P_before + P_after - D*(F - 1) - 1) / S + 1" if dilated
               else "(N + P_before + P_after - F) / S + 1")
    if any(a.rounding == "same" for a in axes):
        w.lines.append("padding SAME (TensorFlow): output = ceil(N / S); the padding needed is "
                       "(out - 1)*S + F - N in total, half before and the odd pixel after")
        for name, a in zip(names, axes):
            eff = arith.effective_kernel(a.f, a.d)
            total = a.pb + a.pa
            w.lines.append(f"{name}: ceil({a.n} / {a.s}) = {a.out}; padding max(({a.out} - 1)*{a.s} + {eff} - {a.n}, 0) "
                           f"= {total}: {a.pb} before, {a.pa} after; check {a.formula(spaced=True)}")
    else:
        w.lines.append(f"output size per axis = {general}")
    exact: list[str] = []
    not_whole: list[int] = []
    for i, (name, a) in enumerate(zip(names, axes)):
        ex = arith.exact_out_size(a.n, a.f, a.s, a.pb, a.pa, a.d)
        exact.append(arith.fmt_fraction(ex))
        if a.rounding == "same":
            continue
        line = f"{name}: {a.formula(spaced=True)}"
        if ex.denominator != 1:
            not_whole.append(i)
            if not strict:
                verb = "floored" if a.rounding == "floor" else "ceiled"
                line += f" -> {verb} to {a.out} (rounding: {a.rounding})"
        w.lines.append(line)
    w.exact_sizes = tuple(exact)
    if not_whole and strict:
        w.fits = False
        w.floor_shape = row.output_shape
        groups: dict[tuple, list[str]] = {}
        for i in not_whole:
            a = axes[i]
            groups.setdefault((a.n, a.f, a.s, a.pb, a.pa, a.d, a.out, exact[i]), []).append(names[i])
        for (n, f, s, pb, pa, d, out, ex), group in groups.items():
            ceil = arith.ceil_out_size(n, f, s, pb, pa, d)
            left = arith.unread(n, f, s, pb, pa, d, out)
            cells = f"{left} cell{'s' if left != 1 else ''}"
            w.lines.append(f"{' and '.join(group)}: {ex} is not a whole number, so the windows do not fit. "
                           f"PyTorch and Keras silently floor it to {out} (the last {cells} of the padded input "
                           f"never read); PyTorch's ceil_mode gives {ceil}")
            w.lines.append(f"  fits with: {fit_text(n, f, s, pb, pa, d)}")
        w.heading = w.heading.rsplit(" -> ", 1)[0] + (f" -> does not fit ({' x '.join(exact)}); "
                                                      f"PyTorch/Keras give {shape_text(row.output_shape)}")
    w.lines.append(f"output shape: {shape_text(row.output_shape)}" + (" (floored, as PyTorch/Keras would give)"
                                                                      if not w.fits else ""))
    if row.type == "conv":
        _conv_counts(row, w)
    else:
        w.lines.append(f"channels: {row.output_shape[-1]} (pooling keeps the channel count)")


def fit_text(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> str:
    """'padding 1 gives 3; stride 1 gives 5, stride 2 gives 3, stride 4 gives 2': the nearest settings that fit."""
    eff = arith.effective_kernel(f, d)
    parts = []
    pads = [(p, o) for p, o in arith.fitting_paddings(n, f, s, d) if p < eff and (p, p) != (pb, pa)]
    if not pads:
        for t in range(1, s):
            b, a = pb + t // 2, pa + t - t // 2
            if (n + b + a - eff) % s == 0:
                pads_text = f"padding {b} before and {a} after gives {(n + b + a - eff) // s + 1}"
                parts.append(pads_text)
                break
    if pads:
        parts.append(", ".join(f"padding {p} gives {o}" for p, o in pads))
    strides = sorted((st, o) for st, o in arith.fitting_strides(n, f, pb, pa, d, near=s, limit=4)
                     if st != s and st <= eff)
    if strides:
        parts.append(", ".join(f"stride {st} gives {o}" for st, o in strides))
    return "; ".join(parts) or "no nearby padding or stride; change the kernel"


def _conv_counts(row, w: Working) -> None:
    layer = row.layer
    axes = row.axes
    kernel = tuple(a.f for a in axes)
    c_in = row.input_shapes[0][-1]
    g = layer.groups
    c_g = c_in // g
    volume = f"{_product(kernel)}*{c_g}"
    filters = layer.filters
    out_spatial = row.output_shape[:-1]
    if layer.bias == "per_position":
        text = f"{volume} * {filters} + {_product(out_spatial)}*{filters} (a bias per position) = {_n(row.params)}"
    elif layer.bias:
        text = f"({volume} + 1) * {filters} = {_n(row.params)}"
    else:
        text = f"{volume} * {filters} = {_n(row.params)} (no bias)"
    w.lines.append(f"parameters: {text}" + (f"  (groups {g}: each filter sees {c_in}/{g} = {c_g} channels)" if g > 1 else ""))
    w.lines.append(f"filter shape: {_product(kernel).replace('*', 'x')}x{c_g}, {filters} filter{'s' if filters != 1 else ''}"
                   f" (weights {_product(kernel).replace('*', 'x')}x{c_g}x{filters}, HWIO)")
    w.lines.append(f"MACs: {_product(out_spatial)} positions * {filters} filter{'s' if filters != 1 else ''} * {volume} = {_n(row.macs)}"
                   + ("" if w.fits else " (on the floored output)"))


def _dense_lines(row, w: Working) -> None:
    in_shape = row.input_shapes[0]
    n_in = prod(in_shape)
    units = row.layer.units
    if len(in_shape) > 1:
        w.lines.append(f"input {shape_text(in_shape)} is read as {_product(in_shape)} = {_n(n_in)} values")
    if row.layer.bias:
        w.lines.append(f"parameters: ({_n(n_in)} + 1) * {_n(units)} = {_n(row.params)}")
    else:
        w.lines.append(f"parameters: {_n(n_in)} * {_n(units)} = {_n(row.params)} (no bias)")
    w.lines.append(f"MACs: {_n(n_in)} * {_n(units)} = {_n(row.macs)}")
    w.lines.append(f"output shape: {units}")
