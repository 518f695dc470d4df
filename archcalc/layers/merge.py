"""What add and concat share: two or more inputs, the receptive field of the widest path."""

from __future__ import annotations

from typing import Any

from ..errors import ShapeError
from .base import Shapes
from .geometry import shape_text


def need_two(layer: Any, shapes: Shapes) -> None:
    """A ShapeError unless there are two or more inputs."""
    if len(shapes) < 2:
        raise ShapeError(f"{layer.type} joins two or more layers; list them in inputs (e.g. inputs: [a, b])",
                         field="inputs")


def listed(layer: Any, shapes: Shapes) -> str:
    """'a: 4x4x2, b: 4x4x3': the inputs and their shapes, for messages."""
    return ", ".join(f"{n}: {shape_text(s)}" for n, s in zip(layer.inputs, shapes))
