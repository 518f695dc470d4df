"""What add, multiply and concat share: two or more inputs, broadcasting, the receptive field of the widest path."""

from __future__ import annotations

from typing import Any

from ..errors import ShapeError
from .base import Out, Shapes
from .geometry import merged_rf, shape_text


def need_two(layer: Any, shapes: Shapes) -> None:
    """A ShapeError unless there are two or more inputs."""
    if len(shapes) < 2:
        raise ShapeError(f"{layer.type} joins two or more layers; list them in inputs (e.g. inputs: [a, b])",
                         field="inputs")


def listed(layer: Any, shapes: Shapes) -> str:
    """'a: 4x4x2, b: 4x4x3': the inputs and their shapes, for messages."""
    return ", ".join(f"{n}: {shape_text(s)}" for n, s in zip(layer.inputs, shapes))


def broadcast(layer: Any, shapes: Shapes) -> tuple[int, ...]:
    """The shape of the inputs broadcast by NumPy's rules on the channels-last shapes (aligned at the right, each
    axis equal or 1 in all but one); a ShapeError naming the first pair that does not broadcast."""
    out: tuple[int, ...] = shapes[0]
    first = layer.inputs[0]
    for name, shape in zip(layer.inputs[1:], shapes[1:]):
        rank = max(len(out), len(shape))
        a = (1,) * (rank - len(out)) + out
        b = (1,) * (rank - len(shape)) + shape
        if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
            raise ShapeError(f"{layer.type} needs inputs that broadcast; {first}: {shape_text(out)} and {name}: "
                             f"{shape_text(shape)} do not (NumPy's rules on the channels-last shapes: aligned at "
                             "the right, each axis equal or 1)", field="inputs",
                             hint="project the shortcut with a 1x1 conv to match channels and stride; a gate of "
                                  "shape [C] or [1, 1, C] scales an [H, W, C] map")
        out = tuple(max(x, y) for x, y in zip(a, b))
        first = f"{first} and {name}" if len(layer.inputs) > 2 else first
    return out


def elementwise_rf(rfs: Any, shapes: Shapes, out: tuple[int, ...]) -> Any:
    """The receptive field of an elementwise merge: the widest path among the inputs with the output's spatial
    axes (a [C] gate has none and is left out)."""
    return merged_rf([rf for rf, s in zip(rfs, shapes) if rf is not None and len(s) == len(out)])


def elementwise_rule(layer: Any, shapes: Shapes, rfs: Any, rounding: str) -> Any:
    """add, multiply: two or more inputs, the broadcast shape, no parameters, MACs not counted."""
    need_two(layer, shapes)
    shape = broadcast(layer, shapes)
    return Out(shape=shape, rf=elementwise_rf(rfs, shapes, shape))


def elementwise_lines(what: str):
    """explain of add and multiply: the output shape, the inputs, any broadcasting."""
    def explain(row: Any, w: Any, strict: bool) -> None:
        note = ""
        if any(s != row.output_shape for s in row.input_shapes):
            small = ", ".join(f"{n} ({shape_text(s)})" for n, s in zip(row.inputs, row.input_shapes)
                              if s != row.output_shape)
            note = f"; {small} broadcast to {shape_text(row.output_shape)}"
        w.lines.append(f"output shape: {shape_text(row.output_shape)} (element-wise {what} of "
                       f"{', '.join(row.inputs)}{note})")

    return explain
