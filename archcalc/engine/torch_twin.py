"""The same net in PyTorch, built from a spec and the engine's parameters (for cross-checks and benchmarks).

Imports torch lazily; nothing else in archcalc needs it.  Weights are copied
across HWIO -> OIHW (dense (inputs, units) -> (units, inputs)); the torch net
takes and returns channels-last arrays so its output compares directly with
``archcalc.forward``.  Geometry (paddings, output sizes) comes from the
calculator as in the engine; asymmetric padding is applied with ``F.pad``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..analysis import analyze
from ..spec import DEFAULT_ALPHA, Network


def build(network: Network, params: Mapping[str, Mapping[str, np.ndarray]], channels_last: bool = False):
    """A torch.nn.Module: forward(x NCHW tensor) -> output tensor (NCHW for maps, (N, units) for vectors)."""
    import torch
    import torch.nn.functional as F

    report = analyze(network)
    rows = report.rows
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def tensor(a, conv_weight=False):
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if conv_weight:  # (*k, C_in/g, F) -> (F, C_in/g, *k)
            rank = t.ndim - 2
            t = t.permute(rank + 1, rank, *range(rank)).contiguous()
            if channels_last and rank == 2:
                t = t.contiguous(memory_format=torch.channels_last)
        return t

    weights: dict[str, dict[str, Any]] = {}
    for name, entry in params.items():
        w = {}
        for key, arr in entry.items():
            if key == "weight":
                w[key] = tensor(arr, conv_weight=arr.ndim > 2) if arr.ndim > 2 else tensor(arr.T)
            elif key == "bias" and arr.ndim > 1:  # per position (*out, F) -> (F, *out)
                w[key] = tensor(np.moveaxis(arr, -1, 0))
            else:
                w[key] = tensor(arr)
        weights[name] = w

    conv_fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    maxpool_fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
    avgpool_fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}

    def to_last(t):
        return t.permute(0, *range(2, t.ndim), 1) if t.ndim > 2 else t

    def padded(t, axes, value):
        pads = []
        for a in reversed(axes):  # F.pad lists the last axis first
            pads += [a.pb, a.pa]
        return F.pad(t, pads, value=value) if any(pads) else t

    def floor_out(a):
        return (a.n + a.pb + a.pa - a.d * (a.f - 1) - 1) // a.s + 1

    def activation(t, fn, alpha):
        if fn in (None, "linear"):
            return t
        if fn == "relu":
            return F.relu(t, inplace=True)
        if fn == "leaky_relu":
            return F.leaky_relu(t, alpha, inplace=True)
        if fn == "elu":
            return F.elu(t, alpha)
        if fn == "sigmoid":
            return torch.sigmoid(t)
        if fn == "tanh":
            return torch.tanh(t)
        return torch.softmax(t, dim=1 if t.ndim > 1 else -1)

    def run_layer(row, xs):
        layer, kind, w = row.layer, row.type, weights.get(row.name, {})
        x = xs[0]
        axes = row.axes
        if kind == "conv":
            rank = len(axes)
            sym = all(a.pb == a.pa for a in axes)
            if not sym:
                x = padded(x, axes, 0.0)
            ceil = any(a.out > floor_out(a) for a in axes)
            if ceil:  # windows hang off the end: zeros there
                x = F.pad(x, [p for a in reversed(axes) for p in (0, (a.out - floor_out(a)) * a.s)])
            bias = w.get("bias") if layer.bias is True else None
            y = conv_fn[rank](x, w["weight"], bias, tuple(a.s for a in axes),
                              tuple(a.pb for a in axes) if sym else 0, tuple(a.d for a in axes), layer.groups)
            if layer.bias == "per_position":
                y = y + w["bias"]
            return activation(y, layer.activation, DEFAULT_ALPHA.get(layer.activation or ""))
        if kind in ("maxpool", "avgpool"):
            rank = len(axes)
            ceil = any(a.out > floor_out(a) for a in axes)
            k, s = tuple(a.f for a in axes), tuple(a.s for a in axes)
            sym = all(a.pb == a.pa and a.pb <= a.f // 2 for a in axes)
            if kind == "maxpool":
                if sym:
                    return maxpool_fn[rank](x, k, s, tuple(a.pb for a in axes), ceil_mode=ceil)
                return maxpool_fn[rank](padded(x, axes, float("-inf")), k, s, 0, ceil_mode=ceil)
            if not sym:
                raise NotImplementedError(f"{row.name}: asymmetric average-pool padding has no torch twin")
            return avgpool_fn[rank](x, k, s, tuple(a.pb for a in axes), ceil_mode=ceil, count_include_pad=False)
        if kind == "global_avgpool":
            return x.mean(dim=tuple(range(2, x.ndim)))
        if kind == "global_maxpool":
            return x.amax(dim=tuple(range(2, x.ndim)))
        if kind == "dense":
            y = F.linear(to_last(x).flatten(1), w["weight"], w.get("bias"))
            return activation(y, layer.activation, DEFAULT_ALPHA.get(layer.activation or ""))
        if kind == "flatten":
            return to_last(x).flatten(1)
        if kind == "dropout":
            return x
        if kind == "lrn":
            alpha = layer.alpha if layer.alpha_over_n else layer.alpha * layer.size
            return F.local_response_norm(x, layer.size, alpha, layer.beta, layer.k)
        if kind == "batchnorm":
            return F.batch_norm(x, w["moving_mean"], w["moving_variance"], w["gamma"], w["beta"], False, 0.0,
                                layer.eps)
        if kind == "activation":
            return activation(x.clone(), layer.function, layer.slope)
        if kind == "add":
            y = xs[0] + xs[1]
            for t in xs[2:]:
                y = y + t
            return y
        if kind == "concat":
            rank = xs[0].ndim - 1
            axis = layer.axis % rank
            dim = 1 if (xs[0].ndim > 2 and axis == rank - 1) else (axis + 2 if xs[0].ndim > 2 else axis + 1)
            return torch.cat(xs, dim=dim)
        raise NotImplementedError(kind)

    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        for ref in layer.inputs:
            last_use[ref] = i

    class Twin(torch.nn.Module):
        def forward(self, x):
            values = {"input": x.contiguous(memory_format=fmt) if x.ndim == 4 else x}
            for row in rows:
                values[row.name] = run_layer(row, [values[r] for r in row.inputs])
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
