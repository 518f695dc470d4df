"""The row of one analysed layer: its shapes and counts as the analysis records them (`archcalc.analysis`).

It lives beside the layer kinds because each kind's explain lines and weight shapes read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from .geometry import AxisCalc, ReceptiveField

BYTES_PER_ELEMENT = 4


class Counts:
    """What rows and totals derive the same way from params, trainable_params and macs."""

    __slots__ = ()
    params: int
    trainable_params: int
    macs: int
    bias_adds: int

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def counts(self) -> dict[str, int]:
        return {"params": self.params, "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params, "macs": self.macs, "flops": self.flops,
                "bias_adds": self.bias_adds}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True, slots=True)
class ExpectResult:
    ok: bool
    mismatches: list[tuple[str, Any, Any]]  # (field, expected, actual)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "mismatches": [{"field": f, "expected": _jsonable(e), "actual": _jsonable(a)}
                                              for f, e, a in self.mismatches]}


@dataclass(frozen=True, slots=True)
class LayerRow(Counts):
    index: int
    name: str
    type: str
    inputs: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    bias_adds: int = 0
    receptive_field: ReceptiveField | None = None
    axes: tuple[AxisCalc, ...] = ()
    warnings: list[str] = field(default_factory=list)
    expect: ExpectResult | None = None
    layer: Any = None

    @property
    def output_elements(self) -> int:
        return prod(self.output_shape)

    @property
    def output_bytes(self) -> int:
        return self.output_elements * BYTES_PER_ELEMENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape),
            **self.counts(),
            "memory": {"elements": self.output_elements, "bytes": self.output_bytes},
            "padding": [[a.pb, a.pa] for a in self.axes] if self.axes else None,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
            "warnings": list(self.warnings),
            "expect": self.expect.to_dict() if self.expect else None,
        }
