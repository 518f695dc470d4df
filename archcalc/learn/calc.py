"""One-layer calculator: `archcalc calc conv|maxpool|avgpool|pool|dense` with the working shown.

The layer is built as a one-layer `Network` and analysed by analysis.py, so the
numbers are exactly those of `show`; explain.py writes the working.  When the
user does not choose a rounding, a non-whole output size is reported as not
fitting, together with what PyTorch/Keras would silently give (floor) and the
paddings and strides that would fit.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ArchcalcError, SpecError, brief
from ..layers import REGISTRY
from .explain import Working, working

#: what `archcalc calc KIND` offers: every layer kind with a calc entry, and `pool` (maxpool or avgpool by --mode)
KINDS: tuple[str, ...] = tuple(tag for tag, kind in REGISTRY.items() if kind.calc is not None) + ("pool",)


def parse_per_axis(text: Any, what: str) -> int | list[int]:
    """'3' -> 3, '3x5' or '3,5' -> [3, 5]."""
    if isinstance(text, int):
        return text
    parts = [p for p in re.split(r"[x×,\s]+", str(text).strip().strip("[]()")) if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise SpecError(f"{what} must be an int or one int per axis like 3x5, got {brief(text)}", field=what) from None
    if not values:
        raise SpecError(f"{what} is empty", field=what)
    return values[0] if len(values) == 1 else values


def parse_padding(text: Any, rank: int) -> Any:
    """'same' / 'valid' / '1' / '1x2' (per axis) / '0+1' (before+after, every axis)."""
    if text is None:
        return 0
    raw = str(text).strip().lower()
    if raw in ("same", "valid"):
        return raw
    if "+" in raw:
        try:
            pair = [int(p) for p in raw.split("+")]
        except ValueError:
            pair = []
        if len(pair) != 2:
            raise SpecError(f"padding before+after must look like 0+1, got {brief(text)}", field="padding")
        return [pair] * rank
    return parse_per_axis(raw, "padding")


def layer_spec(kind: str, *, kernel: Any = None, stride: Any = None, padding: Any = None, filters: int | None = None,
               units: int | None = None, dilation: Any = None, groups: int = 1, bias: bool = True,
               mode: str = "max", rounding: str | None = None, rank: int = 2) -> dict[str, Any]:
    """The spec mapping of one layer from calc's options (each kind's module builds its own, `Kind.calc`)."""
    if kind not in KINDS:
        raise SpecError(f"calc knows {', '.join(KINDS)}, not {brief(kind)}")
    if kind == "pool":
        if mode not in ("max", "avg"):
            raise SpecError(f"pool mode is max or avg, not {brief(mode)}", field="mode")
        kind = f"{mode}pool"
    options = {"kind": kind, "filters": filters, "units": units, "groups": groups, "bias": bias,
               "rounding": rounding or None, "padding": parse_padding(padding, rank),
               "kernel": None if kernel is None else parse_per_axis(kernel, "kernel"),
               "stride": None if stride is None else parse_per_axis(stride, "stride"),
               "dilation": None if dilation is None else parse_per_axis(dilation, "dilation")}
    build = REGISTRY[kind].calc
    assert build is not None
    return build(options)


def calc(kind: str, input_shape: Any, **options: Any) -> Working:
    """Analyse one layer on `input_shape` and return its working (see explain.working)."""
    from ..analysis import analyze
    from ..load import load_spec
    from ..spec import parse_shape

    try:
        shape = parse_shape(input_shape, "input")
    except ValueError as exc:
        raise SpecError(str(exc), field="input") from None
    rounding = options.get("rounding")
    layer = layer_spec(kind, rank=len(shape) - 1, **{k: v for k, v in options.items() if k != "rounding"},
                       rounding=rounding or None)
    strict = rounding in (None, "strict")
    if strict and "kernel" in layer:
        layer = {**layer, "rounding": "floor"}  # analyse as frameworks do; the working says it does not fit
    net = load_spec({"name": "calc", "input": list(shape), "layers": [{"name": kind, **layer}]})
    try:
        report = analyze(net)
    except ArchcalcError as exc:  # one layer: name the field, not the layer
        raise exc.located(layer_index=None, layer_name=None, origin=None) from None
    return working(report.rows[0], strict=strict)
