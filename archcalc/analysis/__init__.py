"""Analysis of a validated net: per-layer rows and totals (shapes, parameters, MACs, memory, receptive field).

records.py holds the value types, walk.py the walk over the layers (each kind's rule from `archcalc.layers`),
graph.py the checks of names and `inputs`, collapse.py the folding of block rows (torchinfo's `depth`).
"""

from __future__ import annotations

from .records import (AXIS_NAMES, BYTES_PER_ELEMENT, DEFINITIONS, AxisCalc, ExpectResult, LayerRow, ReceptiveField,
                      Report, Totals)
from .walk import WEIGHTED_TYPES, analyze

__all__ = ["analyze", "Report", "LayerRow", "Totals", "ExpectResult", "AxisCalc", "ReceptiveField", "AXIS_NAMES",
           "BYTES_PER_ELEMENT", "DEFINITIONS", "WEIGHTED_TYPES"]
