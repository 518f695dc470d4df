"""The net as PyTorch code written with one module per layer, and the counting tools run on it.

The engine's own twin (archcalc.engine.torch_twin) calls functionals inside one module, which is
right for comparing outputs but not for the counting tools: torchinfo, ptflops and thop hook
modules (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, ...).  This twin is what `archcalc.conventions`
describes: a layer with a fused activation is nn.Sequential(conv, nn.ReLU()); a global pool is
nn.AdaptiveAvgPool2d(1) + flatten; add and multiply are the operators; a per-position bias is
a module of its own holding a parameter named `bias`.  Weights are PyTorch's default init:
the counts depend on shapes only.  Imports torch; used by the torch-marked tests and by
`python -m tests.conventions.module_twin SPEC...` (prints every tool's number).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import torch
from torch import nn


class _Lambda(nn.Module):
    """A parameter-free step no tool counts (permute, flatten, pad, crop, join)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


class PositionBias(nn.Module):
    """A bias per output position and channel (archcalc's `bias: per_position`)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return x + self.bias


class Scale(nn.Module):
    """A learnable per-channel multiplier (archcalc's `scale`), channels on axis 1."""

    def __init__(self, channels: int, rank: int, bias: bool) -> None:
        super().__init__()
        shape = (channels,) + (1,) * rank
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None

    def forward(self, x):
        return x * self.weight + self.bias if self.bias is not None else x * self.weight


def _to_last(t):
    return t.permute(0, *range(2, t.ndim), 1) if t.ndim > 2 else t


def _to_first(t):
    return t.permute(0, t.ndim - 1, *range(1, t.ndim - 1)) if t.ndim > 2 else t


def activation_module(fn: str | None, alpha: float | None = None) -> nn.Module | None:
    if fn in (None, "linear"):
        return None
    if fn == "leaky_relu":
        return nn.LeakyReLU(0.1 if alpha is None else alpha)
    if fn == "elu":
        return nn.ELU(1.0 if alpha is None else alpha)
    if fn == "softmax":
        return nn.Softmax(dim=1)
    if fn == "gelu":
        return nn.GELU()
    simple = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu6": nn.ReLU6,
              "hardsigmoid": nn.Hardsigmoid, "hardswish": nn.Hardswish, "silu": nn.SiLU, "swish": nn.SiLU}
    return simple[fn]()


def _seq(*mods: nn.Module | None) -> nn.Module:
    present = [m for m in mods if m is not None]
    return present[0] if len(present) == 1 else nn.Sequential(*present)


def _nd(name: str, rank: int):
    return getattr(nn, f"{name}{max(rank, 1)}d")


def _floor_out(a, pb: int, pa: int) -> int:
    return (a.n + pb + pa - a.d * (a.f - 1) - 1) // a.s + 1


def layer_module(row) -> nn.Module:
    layer, kind, shape = row.layer, row.type, row.input_shapes[0]
    rank = len(shape) - 1
    c_in = shape[-1]
    if kind in ("conv", "conv_transpose"):
        axes = row.axes
        k = tuple(a.f for a in axes) if axes else tuple(layer.kernel) if not isinstance(layer.kernel, int) \
            else (layer.kernel,) * rank
        if kind == "conv_transpose":
            if any(a.pb != a.pa for a in axes):
                raise NotImplementedError("asymmetric conv_transpose padding")
            conv = _nd("ConvTranspose", rank)(c_in, layer.filters, k, tuple(a.s for a in axes),
                                              tuple(a.pb for a in axes),
                                              output_padding=getattr(layer, "output_padding", 0),
                                              groups=layer.groups, bias=layer.bias is True,
                                              dilation=tuple(a.d for a in axes))
            return _seq(conv, activation_module(layer.activation))
        pads = []
        for a in axes:  # explicit padding (and the ceil-mode remainder) so the conv's output is the row's
            pads.append((a.pb, a.pa + (a.out - _floor_out(a, a.pb, a.pa)) * a.s))
        flat = [p for pair in reversed(pads) for p in pair]
        pad = _Lambda(lambda x, flat=tuple(flat): nn.functional.pad(x, flat)) if any(flat) else None
        conv = _nd("Conv", rank)(c_in, layer.filters, k, tuple(a.s for a in axes), 0,
                                 tuple(a.d for a in axes), layer.groups, bias=layer.bias is True)
        bias = PositionBias((layer.filters, *row.output_shape[:-1])) if layer.bias == "per_position" else None
        return _seq(pad, conv, bias, activation_module(layer.activation))
    if kind in ("maxpool", "avgpool"):
        axes = row.axes
        if any(a.pb > a.f // 2 for a in axes):
            raise NotImplementedError("pool padding larger than half the window")
        sym = tuple(min(a.pb, a.pa) for a in axes)
        ceil = any(a.out > _floor_out(a, p, p) for a, p in zip(axes, sym))
        k, s = tuple(a.f for a in axes), tuple(a.s for a in axes)
        if kind == "maxpool":
            return _nd("MaxPool", rank)(k, s, sym, ceil_mode=ceil)
        include = getattr(layer, "count_include_pad", False)
        return _nd("AvgPool", rank)(k, s, sym, ceil_mode=ceil, count_include_pad=include)
    if kind in ("global_avgpool", "global_maxpool"):
        pool = _nd("AdaptiveAvgPool" if kind == "global_avgpool" else "AdaptiveMaxPool", rank)(1)
        return nn.Sequential(pool, nn.Flatten(1))
    if kind in ("adaptive_avgpool", "adaptive_maxpool"):
        out = tuple(row.output_shape[:-1])
        return _nd("AdaptiveAvgPool" if kind == "adaptive_avgpool" else "AdaptiveMaxPool", rank)(out)
    if kind == "dense":
        n_in = 1
        for d in shape:
            n_in *= d
        flat = _Lambda(lambda x: _to_last(x).flatten(1)) if len(shape) > 1 else None
        return _seq(flat, nn.Linear(n_in, layer.units, bias=layer.bias), activation_module(layer.activation))
    if kind == "flatten":
        return _Lambda(lambda x: _to_last(x).flatten(1))
    if kind == "dropout":
        return nn.Dropout(layer.rate)
    if kind == "lrn":
        alpha = layer.alpha if layer.alpha_over_n else layer.alpha * layer.size
        return nn.LocalResponseNorm(layer.size, alpha, layer.beta, layer.k)
    if kind == "batchnorm":
        return _nd("BatchNorm", rank)(c_in, eps=layer.eps)
    if kind == "layernorm":
        return nn.Sequential(_Lambda(_to_last), nn.LayerNorm(c_in, eps=layer.eps), _Lambda(_to_first))
    if kind == "scale":
        return Scale(c_in, rank, bool(getattr(layer, "bias", False)))
    if kind == "activation":
        fn = layer.function
        return activation_module(fn, getattr(layer, "slope", None)) or _Lambda(lambda x: x)
    if kind == "embedding":  # (N, L) token ids -> (N, L, dim) -> channels first for the layers after it
        return nn.Sequential(nn.Embedding(layer.vocab, layer.dim), _Lambda(_to_first))
    if kind == "upsample":
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[rank] if layer.mode == "bilinear" else "nearest"
        scale = tuple(float(o // i) for o, i in zip(row.output_shape[:-1], shape[:-1]))
        return nn.Upsample(scale_factor=scale, mode=mode)
    if kind == "add":
        def add(*xs):
            y = xs[0] + xs[1]
            for t in xs[2:]:
                y = y + t
            return y
        return _Lambda(add)
    if kind == "multiply":
        def mul(*xs):
            y = xs[0] * xs[1]
            for t in xs[2:]:
                y = y * t
            return y
        return _Lambda(mul)
    if kind == "concat":
        nd = len(shape)
        axis = layer.axis % nd
        dim = 1 if (nd > 1 and axis == nd - 1) else axis + 2 if nd > 1 else 1
        return _Lambda(lambda *xs: torch.cat(xs, dim=dim))
    raise NotImplementedError(kind)


class ModuleTwin(nn.Module):
    def __init__(self, report) -> None:
        super().__init__()
        self.rows = [(r.name, tuple(r.inputs)) for r in report.rows]
        self.layers = nn.ModuleList(layer_module(r) for r in report.rows)
        self.input_shape = tuple(report.network.input_shape)
        self.tokens = report.rows[0].type == "embedding"

    def forward(self, x):
        values = {"input": x}
        for (name, inputs), module in zip(self.rows, self.layers):
            values[name] = module(*[values[r] for r in inputs])
        return values[self.rows[-1][0]]

    def example_input(self):
        shape = self.input_shape
        if self.tokens:
            return torch.zeros((1, *shape), dtype=torch.long)
        return torch.zeros((1, shape[-1], *shape[:-1]) if len(shape) > 1 else (1, *shape))


def build(report) -> ModuleTwin:
    twin = ModuleTwin(report).eval()
    with torch.no_grad():  # the twin must give every layer the row's shape, or the counts compare nothing
        y = twin(twin.example_input())
    want = report.rows[-1].output_shape
    got = tuple(y.shape[2:]) + (y.shape[1],) if y.ndim > 2 else tuple(y.shape[1:])
    if got != tuple(want):
        raise AssertionError(f"module twin output {got} != {want}")
    return twin


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def tool_counts(twin: ModuleTwin, tools: tuple[str, ...] = ("torchinfo", "fvcore", "ptflops", "thop")) -> dict[str, Any]:
    """Each importable tool's own total on the twin: {convention name: int}; 'ptflops-default' is its printout."""
    import importlib.util

    x = twin.example_input()
    out: dict[str, Any] = {}
    if "torchinfo" in tools and importlib.util.find_spec("torchinfo"):
        from torchinfo import summary

        with _quiet():
            out["torchinfo"] = int(summary(twin, input_data=x, verbose=0).total_mult_adds)
    if "fvcore" in tools and importlib.util.find_spec("fvcore"):
        from fvcore.nn import FlopCountAnalysis

        with _quiet():
            fca = FlopCountAnalysis(twin, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            out["fvcore"] = int(fca.total())
    if "ptflops" in tools and importlib.util.find_spec("ptflops"):
        from ptflops import get_model_complexity_info

        res = tuple(x.shape[1:])
        with _quiet():
            for key, backend, config in (("ptflops", "pytorch", {"count_functional": False}),
                                         ("ptflops-default", "pytorch", {}), ("ptflops-aten", "aten", {})):
                macs, _ = get_model_complexity_info(twin, res, as_strings=False, print_per_layer_stat=False,
                                                    input_constructor=lambda _: x, backend=backend,
                                                    backend_specific_config=config)
                out[key] = int(macs)
    if "thop" in tools and importlib.util.find_spec("thop"):
        from thop import profile

        with _quiet():
            ops, _ = profile(twin, inputs=(x,), verbose=False)
        out["thop"] = int(ops)
    return out


if __name__ == "__main__":  # pragma: no cover - a helper for the closing note
    import sys

    from archcalc import conventions
    from archcalc import analyze
    from archcalc import load_spec

    for path in sys.argv[1:]:
        report = analyze(load_spec(path))
        ours = conventions.by_convention(report)
        tools = tool_counts(build(report))
        tools_default = tools.pop("ptflops-default", None)
        print(path)
        for name, entry in ours.items():
            theirs = tools.get(name)
            mark = "" if theirs is None else ("  ==" if theirs == entry["total"] else f"  != {theirs:,}")
            print(f"  {name:13} {entry['total']:>16,}{mark}")
        if tools_default is not None:
            extra = conventions.ptflops_functional_extra(report)
            total = ours["ptflops"]["total"] + extra
            print(f"  ptflops default (count_functional) {tools_default:,}; archcalc ptflops + functional {total:,}"
                  f"{'  ==' if total == tools_default else '  !='}")
