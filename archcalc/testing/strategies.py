"""Hypothesis strategies for layer settings and whole specs that archcalc accepts.

Use them to property-test your own model code against archcalc's shapes:

    from hypothesis import given
    from archcalc.strategies import specs
    import archcalc

    @given(specs(max_layers=3, rank=2))
    def test_my_model(spec):
        expected = archcalc.analyze(archcalc.load_spec(spec)).output_shape
        ...

`conv_layers()` and `pool_layers()` draw one layer's settings (a mapping for a
spec's `layers:` list), valid on their own; `fitting_layers(spatial)` and `specs()`
draw layers that fit the shape reaching them, so `analyze` never raises.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("archcalc.strategies needs hypothesis: pip install hypothesis "
                      "(or pip install 'archcalc[test]')") from exc

__all__ = ["conv_layers", "pool_layers", "fitting_layers", "input_shapes", "specs", "LAYERS"]


def _per_axis(values: st.SearchStrategy[int], rank: int, per_axis: bool) -> st.SearchStrategy[Any]:
    if not per_axis:
        return values
    return st.one_of(values, st.lists(values, min_size=rank, max_size=rank))


def conv_layers(rank: int = 2, *, max_kernel: int = 5, max_stride: int = 3, max_padding: int = 2,
                max_filters: int = 8, same: bool = True, dilation: bool = False, per_axis: bool = False,
                bias: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Conv layer settings: {type: conv, filters, kernel, stride, padding[, dilation, bias]}.

    Valid as a spec layer; whether it fits an input depends on the input (see fitting_layers).
    `same=False` keeps padding an int, `per_axis=True` sometimes gives one value per axis.
    """
    ints = st.integers
    padding = _per_axis(ints(0, max_padding), rank, per_axis)
    if same:
        padding = st.one_of(padding, st.sampled_from(["same", "valid"]))
    fields = {
        "type": st.just("conv"),
        "filters": ints(1, max_filters),
        "kernel": _per_axis(ints(1, max_kernel), rank, per_axis),
        "stride": _per_axis(ints(1, max_stride), rank, per_axis),
        "padding": padding,
    }
    if dilation:
        fields["dilation"] = _per_axis(ints(1, 2), rank, per_axis)
    if not bias:
        fields["bias"] = st.just(False)
    return st.fixed_dictionaries(fields)


def pool_layers(rank: int = 2, *, max_kernel: int = 3, max_stride: int = 3, same: bool = True,
                kinds: Sequence[str] = ("maxpool", "avgpool"), per_axis: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Pooling layer settings: {type: maxpool|avgpool, kernel, stride, padding}."""
    padding: st.SearchStrategy[Any] = st.just(0)
    if same:
        padding = st.sampled_from([0, "same", "valid"])
    return st.fixed_dictionaries({
        "type": st.sampled_from(list(kinds)),
        "kernel": _per_axis(st.integers(1, max_kernel), rank, per_axis),
        "stride": _per_axis(st.integers(1, max_stride), rank, per_axis),
        "padding": padding,
    })


def input_shapes(rank: int = 2, *, min_side: int = 1, max_side: int = 32, max_channels: int = 4
                 ) -> st.SearchStrategy[tuple[int, ...]]:
    """Channels-last input shapes with `rank` spatial axes: (H, W, C) for rank 2."""
    sides = st.tuples(*[st.integers(min_side, max_side)] * rank)
    return st.tuples(sides, st.integers(1, max_channels)).map(lambda t: t[0] + (t[1],))


@st.composite
def fitting_layers(draw, spatial: Sequence[int], *, kinds: Sequence[str] = ("conv", "maxpool", "avgpool"),
                   max_kernel: int = 5, max_stride: int = 3, max_filters: int = 8, same: bool = True,
                   rounding: str = "strict") -> dict[str, Any]:
    """One window layer that fits `spatial` under `rounding`: with 'strict' the stride divides
    N + 2P - F exactly on every axis (one square kernel, symmetric padding, or SAME)."""
    kind = draw(st.sampled_from(list(kinds)))
    smallest = min(spatial)
    if same and draw(st.integers(0, 4)) == 0:
        kernel = draw(st.integers(1, max_kernel))
        stride = draw(st.integers(1, max_stride))
        layer: dict[str, Any] = {"type": kind, "kernel": kernel, "stride": stride, "padding": "same"}
    else:
        padding = draw(st.integers(0, 2))
        kernel = draw(st.integers(1, min(max_kernel, smallest + 2 * padding)))
        if kind != "conv":
            padding = min(padding, kernel // 2)  # frameworks refuse pool padding beyond half the window
            kernel = min(kernel, smallest + 2 * padding)
        spans = [n + 2 * padding - kernel for n in spatial]
        if rounding == "strict":
            options = [s for s in range(1, max_stride + 1) if all(span % s == 0 for span in spans)]
            stride = draw(st.sampled_from(options))  # 1 always divides
        else:
            stride = draw(st.integers(1, max_stride))
        layer = {"type": kind, "kernel": kernel, "stride": stride, "padding": padding}
    if kind == "conv":
        layer["filters"] = draw(st.integers(1, max_filters))
    return layer


@st.composite
def specs(draw, max_layers: int = 4, rank: int = 2, *, min_layers: int = 1,
          kinds: Sequence[str] = ("conv", "maxpool", "avgpool"), max_side: int = 24, max_channels: int = 4,
          rounding: str = "strict", same: bool = True, head: bool = True) -> dict[str, Any]:
    """A whole spec mapping ({input, rounding, layers}) that archcalc.load_spec and analyze accept.

    Window layers are drawn to fit the shape that reaches them; with `head` the net may end in
    flatten + dense.  `rounding='floor'` also draws strides that leave pixels unread.
    """
    from ..arith import floor_out_size, same_out_size

    shape = draw(input_shapes(rank, min_side=1, max_side=max_side, max_channels=max_channels))
    spatial = list(shape[:-1])
    layers = []
    count = draw(st.integers(min_layers, max_layers))
    for _ in range(count):
        layer = draw(fitting_layers(spatial, kinds=kinds, same=same, rounding=rounding))
        layers.append(layer)
        k, s, p = layer["kernel"], layer["stride"], layer["padding"]
        if p == "same":
            spatial = [same_out_size(n, s) for n in spatial]
        else:
            spatial = [floor_out_size(n, k, s, p, p) for n in spatial]
    if head and draw(st.booleans()):
        layers.append({"type": "flatten"})
        layers.append({"type": "dense", "units": draw(st.integers(1, 10))})
    return {"name": "drawn", "input": list(shape), "rounding": rounding, "layers": layers}


def _unit_layers(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.just({"type": kind})


def _activations() -> st.SearchStrategy[dict[str, Any]]:
    from typing import get_args

    from ..layers.fields import DEFAULT_ALPHA, Activation

    def with_alpha(fn: str) -> st.SearchStrategy[dict[str, Any]]:
        base: dict[str, Any] = {"type": "activation", "function": fn}
        if fn not in DEFAULT_ALPHA:
            return st.just(base)
        return st.one_of(st.just(base), st.floats(0.01, 1.0).map(lambda a: {**base, "alpha": a}))

    return st.sampled_from(get_args(Activation)).flatmap(with_alpha)


#: one strategy per layer kind (keyed by the `type` tag as `archcalc.layers.REGISTRY`): settings of one layer
#: of that kind, valid on their own; merges (add, concat) name their `inputs` a and b.
LAYERS: dict[str, Callable[[], st.SearchStrategy[dict[str, Any]]]] = {
    "conv": lambda: conv_layers(dilation=True, per_axis=True),
    "maxpool": lambda: pool_layers(kinds=("maxpool",), per_axis=True),
    "avgpool": lambda: pool_layers(kinds=("avgpool",), per_axis=True),
    "global_avgpool": lambda: _unit_layers("global_avgpool"),
    "global_maxpool": lambda: _unit_layers("global_maxpool"),
    "dense": lambda: st.fixed_dictionaries({"type": st.just("dense"), "units": st.integers(1, 16),
                                            "bias": st.booleans()}),
    "flatten": lambda: _unit_layers("flatten"),
    "dropout": lambda: st.fixed_dictionaries({"type": st.just("dropout"), "rate": st.floats(0.0, 0.9)}),
    "lrn": lambda: st.fixed_dictionaries({"type": st.just("lrn"), "size": st.integers(1, 7),
                                          "alpha_over_n": st.booleans()}),
    "batchnorm": lambda: _unit_layers("batchnorm"),
    "activation": _activations,
    "add": lambda: st.just({"type": "add", "inputs": ["a", "b"]}),
    "concat": lambda: st.just({"type": "concat", "inputs": ["a", "b"]}),
}
