"""The layer kinds: one module per kind, registered here by its `type` tag.

Each module defines the kind's pydantic model and a `KIND` (`base.Kind`): its shape/params/MACs/receptive-field
rule, the lines `explain` and `calc` print, the shapes of its weights.  The engine's kernels
(`engine.forward.KERNELS`), their plain twins (`engine.reference.TWINS`), the PyTorch twins
(`engine.torch_twin.TWINS`) and the hypothesis strategies (`testing.strategies.LAYERS`) are keyed by the same tag;
`tests/layers/test_registry.py` fails when any of them lacks a kind.  To add a kind, see README, Development.
"""

from __future__ import annotations

from . import (activation, add, avgpool, batchnorm, concat, conv, dense, dropout, flatten, global_avgpool,
               global_maxpool, lrn, maxpool)
from .base import Expect, Kind, LayerBase, Out
from .fields import MAX_VALUE, parse_shape

__all__ = ["REGISTRY", "LAYER_TYPES", "MODELS", "Kind", "LayerBase", "Expect", "Out", "MAX_VALUE", "parse_shape"]

#: every layer kind by its `type` tag, in the order the README's layer table and messages list them
REGISTRY: dict[str, Kind] = {k.type: k for k in (
    conv.KIND, maxpool.KIND, avgpool.KIND, global_avgpool.KIND, global_maxpool.KIND, dense.KIND, flatten.KIND,
    dropout.KIND, lrn.KIND, batchnorm.KIND, activation.KIND, add.KIND, concat.KIND,
)}
LAYER_TYPES: tuple[str, ...] = tuple(REGISTRY)
MODELS: tuple[type[LayerBase], ...] = tuple(k.model for k in REGISTRY.values())
