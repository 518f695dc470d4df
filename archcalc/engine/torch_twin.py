"""The same net in PyTorch, built from a spec and the engine's parameters (for cross-checks and benchmarks).

Imports torch lazily; nothing else in archcalc needs it.  Weights are copied
across HWIO -> OIHW (dense (inputs, units) -> (units, inputs)); the torch net
takes and returns channels-last arrays so its output compares directly with
``archcalc.forward``.  Geometry (paddings, output sizes) comes from the
calculator as in the engine; asymmetric padding is applied with ``F.pad``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..analysis import analyze
from ..layers.fields import DEFAULT_ALPHA
from ..spec import Network


class Ctx:
    """What a twin gets besides its row and inputs: torch, torch.nn.functional, the layer's tensors."""

    def __init__(self, torch: Any, F: Any, weights: dict[str, Any]) -> None:
        self.torch, self.F, self.w = torch, F, weights

    def padded(self, t: Any, axes: Any, value: float) -> Any:
        pads = []
        for a in reversed(axes):  # F.pad lists the last axis first
            pads += [a.pb, a.pa]
        return self.F.pad(t, pads, value=value) if any(pads) else t

    def activation(self, t: Any, fn: str | None, alpha: float | None) -> Any:
        return t if fn is None else ACTIVATIONS[fn](self, t, alpha)


ACTIVATIONS: dict[str, Callable[[Ctx, Any, Any], Any]] = {
    "relu": lambda c, t, a: c.F.relu(t, inplace=True),
    "leaky_relu": lambda c, t, a: c.F.leaky_relu(t, a, inplace=True),
    "elu": lambda c, t, a: c.F.elu(t, a),
    "sigmoid": lambda c, t, a: c.torch.sigmoid(t),
    "tanh": lambda c, t, a: c.torch.tanh(t),
    "softmax": lambda c, t, a: c.torch.softmax(t, dim=1 if t.ndim > 1 else -1),
    "linear": lambda c, t, a: t,
}


def _floor_out(a: Any) -> int:
    return (a.n + a.pb + a.pa - a.d * (a.f - 1) - 1) // a.s + 1


def _to_last(t: Any) -> Any:
    return t.permute(0, *range(2, t.ndim), 1) if t.ndim > 2 else t


def _conv(c: Ctx, row: Any, xs: list[Any]) -> Any:
    layer, axes, x = row.layer, row.axes, xs[0]
    rank = len(axes)
    sym = all(a.pb == a.pa for a in axes)
    if not sym:
        x = c.padded(x, axes, 0.0)
    if any(a.out > _floor_out(a) for a in axes):  # windows hang off the end: zeros there
        x = c.F.pad(x, [p for a in reversed(axes) for p in (0, (a.out - _floor_out(a)) * a.s)])
    bias = c.w.get("bias") if layer.bias is True else None
    conv = {1: c.F.conv1d, 2: c.F.conv2d, 3: c.F.conv3d}[rank]
    y = conv(x, c.w["weight"], bias, tuple(a.s for a in axes), tuple(a.pb for a in axes) if sym else 0,
             tuple(a.d for a in axes), layer.groups)
    if layer.bias == "per_position":
        y = y + c.w["bias"]
    return c.activation(y, layer.activation, DEFAULT_ALPHA.get(layer.activation or ""))


def _pool_parts(row: Any) -> tuple[int, bool, tuple[int, ...], tuple[int, ...], bool]:
    axes = row.axes
    ceil = any(a.out > _floor_out(a) for a in axes)
    sym = all(a.pb == a.pa and a.pb <= a.f // 2 for a in axes)
    return len(axes), ceil, tuple(a.f for a in axes), tuple(a.s for a in axes), sym


def _maxpool(c: Ctx, row: Any, xs: list[Any]) -> Any:
    rank, ceil, k, s, sym = _pool_parts(row)
    pool = {1: c.F.max_pool1d, 2: c.F.max_pool2d, 3: c.F.max_pool3d}[rank]
    if sym:
        return pool(xs[0], k, s, tuple(a.pb for a in row.axes), ceil_mode=ceil)
    return pool(c.padded(xs[0], row.axes, float("-inf")), k, s, 0, ceil_mode=ceil)


def _avgpool(c: Ctx, row: Any, xs: list[Any]) -> Any:
    rank, ceil, k, s, sym = _pool_parts(row)
    if not sym:
        raise NotImplementedError(f"{row.name}: asymmetric average-pool padding has no torch twin")
    pool = {1: c.F.avg_pool1d, 2: c.F.avg_pool2d, 3: c.F.avg_pool3d}[rank]
    return pool(xs[0], k, s, tuple(a.pb for a in row.axes), ceil_mode=ceil, count_include_pad=False)


def _dense(c: Ctx, row: Any, xs: list[Any]) -> Any:
    y = c.F.linear(_to_last(xs[0]).flatten(1), c.w["weight"], c.w.get("bias"))
    return c.activation(y, row.layer.activation, DEFAULT_ALPHA.get(row.layer.activation or ""))


def _lrn(c: Ctx, row: Any, xs: list[Any]) -> Any:
    layer = row.layer
    alpha = layer.alpha if layer.alpha_over_n else layer.alpha * layer.size
    return c.F.local_response_norm(xs[0], layer.size, alpha, layer.beta, layer.k)


def _add(c: Ctx, row: Any, xs: list[Any]) -> Any:
    y = xs[0] + xs[1]
    for t in xs[2:]:
        y = y + t
    return y


def _concat(c: Ctx, row: Any, xs: list[Any]) -> Any:
    rank = xs[0].ndim - 1
    axis = row.layer.axis % rank
    dim = 1 if (xs[0].ndim > 2 and axis == rank - 1) else (axis + 2 if xs[0].ndim > 2 else axis + 1)
    return c.torch.cat(xs, dim=dim)


#: one twin per layer kind, keyed by the `type` tag (inputs and outputs channels-first, NCHW)
TWINS: dict[str, Callable[[Ctx, Any, list[Any]], Any]] = {
    "conv": _conv,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": lambda c, row, xs: xs[0].mean(dim=tuple(range(2, xs[0].ndim))),
    "global_maxpool": lambda c, row, xs: xs[0].amax(dim=tuple(range(2, xs[0].ndim))),
    "dense": _dense,
    "flatten": lambda c, row, xs: _to_last(xs[0]).flatten(1),
    "dropout": lambda c, row, xs: xs[0],
    "lrn": _lrn,
    "batchnorm": lambda c, row, xs: c.F.batch_norm(xs[0], c.w["moving_mean"], c.w["moving_variance"],
                                                   c.w["gamma"], c.w["beta"], False, 0.0, row.layer.eps),
    "activation": lambda c, row, xs: c.activation(xs[0].clone(), row.layer.function, row.layer.slope),
    "add": _add,
    "concat": _concat,
}


def build(network: Network, params: Mapping[str, Mapping[str, np.ndarray]], channels_last: bool = False) -> Any:
    """A torch.nn.Module: forward(x NCHW tensor) -> output tensor (NCHW for maps, (N, units) for vectors)."""
    import torch
    import torch.nn.functional as F

    report = analyze(network)
    rows = report.rows
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def tensor(a: np.ndarray, conv_weight: bool = False) -> Any:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if conv_weight:  # (*k, C_in/g, F) -> (F, C_in/g, *k)
            rank = t.ndim - 2
            t = t.permute(rank + 1, rank, *range(rank)).contiguous()
            if channels_last and rank == 2:
                t = t.contiguous(memory_format=torch.channels_last)
        return t

    ctx: dict[str, Ctx] = {}
    for row in rows:
        w = {}
        for key, arr in params.get(row.name, {}).items():
            if key == "weight":
                w[key] = tensor(arr, conv_weight=True) if arr.ndim > 2 else tensor(arr.T)
            elif key == "bias" and arr.ndim > 1:  # per position (*out, F) -> (F, *out)
                w[key] = tensor(np.moveaxis(arr, -1, 0))
            else:
                w[key] = tensor(arr)
        ctx[row.name] = Ctx(torch, F, w)

    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        for ref in layer.inputs:
            last_use[ref] = i

    class Twin(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            values = {"input": x.contiguous(memory_format=fmt) if x.ndim == 4 else x}
            for row in rows:
                values[row.name] = TWINS[row.type](ctx[row.name], row, [values[r] for r in row.inputs])
                for ref in set(row.inputs):
                    if last_use.get(ref) == row.index:
                        del values[ref]
            return values[rows[-1].name]

    return Twin().eval()


def to_torch(x: np.ndarray, channels_last: bool = False):
    """(N, *spatial, C) array -> (N, C, *spatial) float32 tensor."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1), dtype=np.float32))
    return t.contiguous(memory_format=torch.channels_last) if channels_last and t.ndim == 4 else t


def from_torch(t) -> np.ndarray:
    """(N, C, *spatial) tensor -> (N, *spatial, C) array; vectors unchanged."""
    a = t.detach().numpy()
    return np.moveaxis(a, 1, -1) if a.ndim > 2 else a
