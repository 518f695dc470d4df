"""Exporters: a spec -> a readable Python module in another framework.

Each framework has a table keyed by archcalc layer kind (`Registry`); an entry
turns one analysed row (`archcalc.analyze(net).rows`: resolved paddings,
output sizes and rounding in `row.axes`) into the lines a person would write.
`Plan` holds what both exporters share: Python names for the layers and the
variables of the forward pass.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..builder import ImportError_
from ..registry import Registry


class ExportError(ImportError_):
    """A layer the target framework cannot express faithfully."""


def identifier(text: str, taken: set[str], reserved: frozenset[str] = frozenset()) -> str:
    """A Python identifier from a layer name ('res2.1/conv3' -> 'res2_1_conv3'), unique among `taken`."""
    base = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or "layer"
    if base[0].isdigit():
        base = "l" + base
    if keyword.iskeyword(base) or base in reserved:
        base += "_"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def class_name(text: str) -> str:
    """'MNIST simple CNN (TensorFlow tf.nn)' -> 'MNISTSimpleCNN'; at most four words."""
    words = [w for w in re.split(r"\W+", text.split("(")[0], flags=re.ASCII) if w][:4]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Net"
    return "Net" + name if name[0].isdigit() else name


@dataclass
class Plan:
    """The analysed net with a Python name per layer and the variable each output lives in."""

    report: Any
    reserved: frozenset[str] = frozenset()
    names: dict[str, str] = field(default_factory=dict)  # layer name -> identifier
    vars: dict[str, str] = field(default_factory=dict)  # layer name (or "input") -> variable in forward

    def __post_init__(self) -> None:
        taken = {"x", "inputs", "self", "torch", "nn", "F", "np", "keras", "layers", "ops", "model"}
        rows = self.report.rows
        for row in rows:
            self.names[row.name] = identifier(row.name, taken, self.reserved)
        uses: dict[str, list[int]] = {}
        for row in rows:
            for ref in row.inputs:
                uses.setdefault(ref, []).append(row.index)
        order = ["input", *(r.name for r in rows)]
        for i, name in enumerate(order):
            chained = uses.get(name, []) == [i]  # read once, by the next layer
            self.vars[name] = "x" if chained or name == order[-1] else \
                ("inputs" if name == "input" else self.names[name])
        self.uses = uses

    @property
    def rows(self) -> list:
        return self.report.rows

    def ins(self, row: Any) -> list[str]:
        return [self.vars[ref] for ref in row.inputs]


Emitter = Callable[[Plan, Any], Any]


def axes_text(values: Any) -> str:
    """(3, 3) -> '3', (1, 7) -> '(1, 7)': a per-axis argument as a person writes it."""
    values = [int(v) for v in values]
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def window_args(args: list[str], axes: Any, stride: str, dilation: str, groups: int, groups_name: str = "groups",
                ) -> list[str]:
    """Append the stride, dilation and groups arguments that differ from 1 (named as the framework names them)."""
    if any(a.s != 1 for a in axes):
        args.append(f"{stride}={axes_text(a.s for a in axes)}")
    if any(a.d != 1 for a in axes):
        args.append(f"{dilation}={axes_text(a.d for a in axes)}")
    if groups != 1:
        args.append(f"{groups_name}={groups}")
    return args


def registry(framework: str) -> Registry:
    return Registry(f"{framework} exporter for layer kind")


def unsupported(table: Registry, row: Any, framework: str) -> ExportError:
    return ExportError(f"layer '{row.name}' ({row.type}) cannot be written in {framework}; the exporter writes "
                       f"{table.supported()}")


def cfirst_dense(plan: Plan, row: Any) -> tuple[int, ...] | None:
    """The map shape (*spatial, C) whose channels-first flattening reaches this dense layer, when that order
    differs from archcalc's channels-last one (spatial size > 1): its weight rows must be permuted."""
    shape = row.input_shapes[0]
    if len(shape) > 1:
        return shape if _spatial(shape) > 1 else None
    ref = row.inputs[0]
    by_name = {r.name: r for r in plan.rows}
    while ref in by_name and by_name[ref].type in ("dropout", "activation"):
        ref = by_name[ref].inputs[0]
    source = by_name.get(ref)
    if source is not None and source.type == "flatten" and natural_flatten(plan, source):
        return source.input_shapes[0] if _spatial(source.input_shapes[0]) > 1 else None
    return None


def natural_flatten(plan: Plan, row: Any) -> bool:
    """True when a flatten can be the framework's channels-first one: every path from it reaches only one dense
    layer, through dropouts and activations, so permuting that layer's weight rows keeps the net exact."""
    by_name = {r.name: r for r in plan.rows}
    name = row.name
    while True:
        users = plan.uses.get(name, [])
        if len(users) != 1:
            return False
        user = plan.rows[users[0]]
        if user.type == "dense":
            return True
        if user.type not in ("dropout",) and not (user.type == "activation" and user.layer.function != "softmax"):
            return False
        name = by_name[user.name].name


def _spatial(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape[:-1]:
        n *= s
    return n
