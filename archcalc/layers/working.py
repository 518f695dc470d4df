"""The working behind a layer's numbers, as `explain` and `calc` print it: formulas with the numbers in.

`Working` holds the lines; each layer kind's module writes its own lines (its `explain` entry in the
registry), and the window layers (conv, pools) share `window_lines` here.  Nothing is re-derived: every
number comes from the analysed row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import arith
from .row import LayerRow as Row
from .geometry import axis_names, shape_text

__all__ = ["Working", "shape_text", "count_text", "product_text", "setting_text", "window_lines", "fit_text"]


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


def count_text(x: int) -> str:
    return f"{x:,}"


def product_text(values: Sequence[int]) -> str:
    return "*".join(str(v) for v in values)


def setting_text(value: Any) -> str:
    """A per-axis setting as explain prints it: 2 (every axis), 2x1, SAME, '0 before, 1 after', 0+1x1+2."""
    if value == "same":
        return "SAME"
    if not isinstance(value, tuple):
        return str(value)
    if value and isinstance(value[0], tuple):
        if all(a == b for a, b in value):
            value = tuple(a for a, _ in value)
        elif len(set(value)) == 1:
            return f"{value[0][0]} before, {value[0][1]} after"
        else:
            return "x".join(f"{a}+{b}" for a, b in value)
    if len(set(value)) == 1:
        return str(value[0])
    return "x".join(str(v) for v in value)


def window_lines(row: Row, w: Working, strict: bool) -> None:
    """The output size of a sliding window per axis, with what frameworks give when it does not fit."""
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
            w.lines.append(f"{name}: ceil({a.n} / {a.s}) = {a.out}; padding max(({a.out} - 1)*{a.s} + {eff} - {a.n}, 0) "
                           f"= {a.pb + a.pa}: {a.pb} before, {a.pa} after; check {a.formula(spaced=True)}")
    else:
        w.lines.append(f"output size per axis = {general}")
    exact: list[str] = []
    not_whole: list[int] = []
    for i, (name, a) in enumerate(zip(names, axes)):
        ex = a.exact
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
        groups: dict[tuple[Any, ...], list[str]] = {}
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


def fit_text(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> str:
    """'padding 1 gives 3; padding same gives 3; stride 1 gives 5, stride 2 gives 3': the nearest settings that fit
    (arith.fit_options: the same list as the error `show` gives)."""
    return "; ".join(arith.fit_options(n, f, s, pb, pa, d)) or "no nearby padding or stride; change the kernel"


def receptive_field_line(row: Row, w: Working) -> None:
    rf = row.receptive_field
    if rf is not None:
        w.lines.append(f"receptive field: {shape_text(rf.size)} input pixels (neighbouring outputs are "
                       f"{shape_text(rf.jump)} input pixels apart)")
