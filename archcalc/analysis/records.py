"""What an analysis produces: one row per layer and the totals, as frozen value types.

Conventions (stated once, repeated in the README and in every JSON report as `conventions`):
- params: every weight and bias; `trainable_params` excludes batchnorm's moving mean and variance (Keras's count).
- macs: plain multiply-accumulates of conv and dense only; bias adds, activations, pooling and normalisation are
  not counted.  No counting tool prints exactly this on a net with batchnorm or bias: what each adds (fvcore's
  total, torchinfo's Mult-Adds, ptflops, thop) is in conventions.py.
- flops: 2 * macs (one multiply and one add per MAC).
- bias_adds: one per bias per output position (what torchinfo adds to its Mult-Adds).
- memory: float32, 4 bytes per element; activations = every layer's output in one forward pass, batch 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..layers.geometry import AXIS_NAMES, AxisCalc, ReceptiveField
from ..layers.row import BYTES_PER_ELEMENT, Counts, ExpectResult, LayerRow
from ..spec import Network

__all__ = ["AXIS_NAMES", "AxisCalc", "ReceptiveField", "ExpectResult", "LayerRow", "Totals", "Report",
           "DEFINITIONS", "BYTES_PER_ELEMENT"]

#: what each number in a report means (the `conventions` key of JSON reports)
DEFINITIONS = {
    "macs": "plain multiply-accumulates of conv and dense layers; bias adds, activations, pooling and "
            "normalisation excluded (each counting tool's total: show --convention all)",
    "flops": "2 * macs",
    "params": "all weights and biases; non-trainable = batchnorm moving mean and variance",
    "memory": "float32 (4 bytes per element), batch 1; activations = every layer's output in one forward pass",
}


@dataclass(frozen=True, slots=True)
class Totals(Counts):
    params: int
    trainable_params: int
    macs: int
    bias_adds: int
    input_elements: int
    activation_elements: int
    peak_activation_elements: int

    @property
    def input_bytes(self) -> int:
        return self.input_elements * BYTES_PER_ELEMENT

    @property
    def activation_bytes(self) -> int:
        return self.activation_elements * BYTES_PER_ELEMENT

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_ELEMENT

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.activation_bytes + self.param_bytes

    @property
    def peak_activation_bytes(self) -> int:
        return self.peak_activation_elements * BYTES_PER_ELEMENT

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.counts(),
            "memory": {
                "input_bytes": self.input_bytes,
                "activation_bytes": self.activation_bytes,
                "param_bytes": self.param_bytes,
                "total_bytes": self.total_bytes,
                "peak_activation_bytes": self.peak_activation_bytes,
            },
        }


@dataclass(frozen=True, slots=True)
class Report:
    network: Network
    rows: list[LayerRow]
    totals: Totals
    warnings: list[str]

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.network.input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape

    @property
    def expect_failures(self) -> list[LayerRow]:
        return [r for r in self.rows if r.expect is not None and not r.expect.ok]

    def row(self, name: str) -> LayerRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        net = self.network
        meta = {k: getattr(net, k) for k in ("source", "description", "year", "authors", "place", "top5_error")
                if getattr(net, k) is not None}
        return {
            "name": net.name,
            **meta,
            "input_shape": list(net.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [r.to_dict() for r in self.rows],
            "totals": self.totals.to_dict(),
            "warnings": list(self.warnings),
            "conventions": DEFINITIONS,
        }
