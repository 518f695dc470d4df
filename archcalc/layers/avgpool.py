"""avgpool: the mean of each window, channel by channel; padding counted or not (count_include_pad)."""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import Field

from .base import Kind, no_weights
from .row import LayerRow as Row
from .window import Pool, pool_calc, pool_heading, pool_lines, pool_rule
from .working import Working


class AvgPool(Pool):
    """Average pooling: the mean of each window's cells, per channel.  Padded cells are not counted by default
    (TensorFlow's SAME, PyTorch's count_include_pad=False); with `count_include_pad: true` the divisor is the
    window's cells inside the input plus its padding (PyTorch's default, torchvision's Inception v3)."""

    type: Literal["avgpool"] = Field(description="average pooling")
    count_include_pad: bool = Field(False, description="divide by the window's cells inside input + padding "
                                                       "(true, PyTorch's count_include_pad) or inside the input "
                                                       "only (false, the default; Keras)")


_mean_lines = pool_lines("mean")


def explain(row: Row, w: Working, strict: bool) -> None:
    _mean_lines(row, w, strict)
    layer = row.layer
    taps = prod(layer.kernel)
    if layer.count_include_pad:
        w.lines.append(f"divisor {taps} where the window lies inside input + padding (padding counted, "
                       "count_include_pad: true); fewer only where a ceil-mode window hangs past the padding")
    elif any(a.pb or a.pa for a in row.axes):
        w.lines.append(f"divisor: the window's cells inside the input ({taps} away from the border; padding not "
                       "counted, count_include_pad: false)")


KIND = Kind(AvgPool, pool_rule, pool_heading, explain, no_weights, calc=pool_calc("avgpool"))
