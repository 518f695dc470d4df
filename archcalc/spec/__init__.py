"""The spec format: the validated `Network` and its layer models, and the JSON Schema of what people write.

The field types and layer models live with their kinds in `archcalc.layers`; this package puts the network
together (`network.py`) and describes the written format (`schema.py`).
"""

from __future__ import annotations

from ..layers import LAYER_TYPES, MODELS, REGISTRY, Expect, LayerBase
from ..layers.activation import ActivationLayer
from ..layers.add import Add
from ..layers.avgpool import AvgPool
from ..layers.batchnorm import BatchNorm
from ..layers.concat import Concat
from ..layers.conv import Conv
from ..layers.dense import Dense
from ..layers.dropout import Dropout
from ..layers.fields import DEFAULT_ALPHA, MAX_VALUE, parse_shape
from ..layers.flatten import Flatten
from ..layers.global_avgpool import GlobalAvgPool
from ..layers.global_maxpool import GlobalMaxPool
from ..layers.lrn import LRN
from ..layers.maxpool import MaxPool
from .network import RESERVED_NAMES, Layer, Network, NetworkHeader

LAYER_MODELS = MODELS
MODEL_BY_TYPE: dict[str, type[LayerBase]] = {tag: kind.model for tag, kind in REGISTRY.items()}

__all__ = [
    "Network", "NetworkHeader", "Layer", "LayerBase", "Expect", "MODEL_BY_TYPE", "LAYER_TYPES", "LAYER_MODELS",
    "parse_shape", "MAX_VALUE", "DEFAULT_ALPHA", "RESERVED_NAMES",
    "Conv", "MaxPool", "AvgPool", "GlobalAvgPool", "GlobalMaxPool", "Dense", "Flatten", "Dropout", "LRN",
    "BatchNorm", "ActivationLayer", "Add", "Concat",
]
