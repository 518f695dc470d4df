"""Field types of the spec: constrained ints, per-axis values, padding, names, enums.

Every type here carries its own check (one clear message where pydantic's wording
is worse) and its JSON Schema.  Per-axis fields (kernel, stride, dilation, padding)
are validated as written here (an int or one entry per axis); `Network` then
expands them to one entry per spatial axis (`LayerBase.with_rank`), so that every
consumer downstream sees tuples.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, Strict, WithJsonSchema

from ..errors import brief  # the one way a value is echoed: about 80 characters at most

MAX_VALUE = 10**15  # no size, count or per-axis value of a real net comes near; keeps every product printable
MAX_AXES = 3

Rounding = Literal["strict", "floor", "ceil"]
Activation = Literal["relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "linear", "relu6", "hardsigmoid",
                     "hardswish", "silu", "gelu"]
DEFAULT_ALPHA = {"leaky_relu": 0.1, "elu": 1.0}
ALIASES = {"swish": "silu"}  # other names of an activation, accepted as written
Count = Annotated[int, Strict(), Field(ge=1, le=MAX_VALUE)]  # a bool or 3.0 is not a count
NonNegative = Annotated[int, Strict(), Field(ge=0, le=MAX_VALUE)]
Finite = Annotated[float, Field(allow_inf_nan=False)]  # nan and inf are never a layer's setting
Pairs = tuple[tuple[int, int], ...]


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def lowered(*fields: str) -> Any:
    """A before-validator that strips and lower-cases the strings of `fields` (enum-like settings)."""
    from pydantic import field_validator

    return field_validator(*fields, mode="before")(classmethod(lambda cls, v: lower(v)))


def activation_name(v: Any) -> Any:
    """An activation as written: any case, `swish` read as `silu`."""
    v = lower(v)
    return ALIASES.get(v, v) if isinstance(v, str) else v


def parse_shape(value: Any, what: str = "shape") -> tuple[int, ...]:
    """[227, 227, 3], (227, 227, 3) or "227x227x3" -> (227, 227, 3); every entry a positive int."""
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[x×,]", value.strip().strip("[]()")) if p.strip()]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"{what} must look like 227x227x3 or [227, 227, 3], got {brief(value)}") from None
    if is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{what} must be a non-empty list of positive ints or a string like 227x227x3, "
                         f"got {brief(value)}")
    for v in value:
        if not is_int(v) or v < 1:
            raise ValueError(f"{what} entries must be positive ints, got {brief(v)} in {brief(list(value))}")
        if v > MAX_VALUE:
            raise ValueError(f"{what} entries must be at most 10**15, got {brief(v)}")
    return tuple(value)


# --- per-axis values ---------------------------------------------------------------------


class PerAxis:
    """Marks a field holding one int per spatial axis (`padding`: one (before, after) pair per axis)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: bool = False) -> None:
        self.pairs = pairs


def _int_schema(minimum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": MAX_VALUE}


AXES_TEXT = re.compile(r"\s*\d+(\s*[x×]\s*\d+)*\s*")  # 3x3, 1x2: per-axis values written as in `input: 28x28x1`
AXES_PATTERN = "^\\s*\\d+(\\s*[x×]\\s*\\d+)*\\s*$"


def axes_text(value: Any) -> Any:
    """'3x3' -> (3, 3), '3' -> 3; anything else unchanged."""
    if isinstance(value, str) and AXES_TEXT.fullmatch(value) and len(value) < 200:
        parts = tuple(int(p) for p in re.split(r"[x×]", value))
        return parts[0] if len(parts) == 1 else parts
    return value


def _ints_per_axis(name: str, minimum: int) -> BeforeValidator:
    def check(value: Any) -> int | tuple[int, ...]:
        value = axes_text(value)
        if is_int(value):
            if value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {brief(value)}")
            if value > MAX_VALUE:
                raise ValueError(f"{name} must be at most 10**15, got {brief(value)}")
            return value
        if isinstance(value, (list, tuple)) and value and all(is_int(v) for v in value):
            if any(v < minimum for v in value):
                raise ValueError(f"{name} must be >= {minimum} on every axis, got {list(value)}")
            if any(v > MAX_VALUE for v in value):
                raise ValueError(f"{name} must be at most 10**15 on every axis, got {list(value)}")
            return tuple(value)
        raise ValueError(f"{name} must be an int or one int per spatial axis (e.g. 3, [3, 3] or 3x3), "
                         f"got {brief(value)}")

    return BeforeValidator(check)


def _per_axis_schema(minimum: int, what: str) -> WithJsonSchema:
    one = _int_schema(minimum)
    return WithJsonSchema({"description": what, "oneOf": [
        one, {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_AXES},
        {"type": "string", "pattern": AXES_PATTERN}]})


def check_padding(value: Any) -> Any:
    """int | [int per axis] | 1x2 | [[before, after] per axis] | 'valid' | 'same' (any case)."""
    value = axes_text(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("valid", "same"):
            return low
        raise ValueError(f"padding must be 'valid', 'same', an int, or per-axis values; got {brief(value)}")
    flat = [x for v in (value if isinstance(value, (list, tuple)) else [value])
            for x in (v if isinstance(v, (list, tuple)) else [v])]
    if any(is_int(x) and x > MAX_VALUE for x in flat):
        raise ValueError(f"padding must be at most 10**15, got {brief(value)}")
    if is_int(value):
        if value < 0:
            raise ValueError(f"padding must be >= 0, got {brief(value)}")
        return value
    if isinstance(value, (list, tuple)) and value:
        if all(is_int(v) for v in value):
            if any(v < 0 for v in value):
                raise ValueError(f"padding must be >= 0 on every axis, got {list(value)}")
            return tuple(value)
        if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(is_int(x) and x >= 0 for x in v) for v in value):
            return tuple((v[0], v[1]) for v in value)
    raise ValueError(
        "padding must be an int, one int per axis ([1, 2]), one [before, after] pair per axis "
        f"([[0, 1], [0, 1]]), 'valid' or 'same'; got {brief(value)}"
    )


_PAD_ONE = _int_schema(0)
_PADDING_SCHEMA = WithJsonSchema({
    "description": "zero padding: an int (every side), one int per spatial axis, one [before, after] pair per "
                   "axis, 'valid' (0) or 'same' (TensorFlow's SAME: output ceil(N / stride), the odd pixel after)",
    "oneOf": [
        _PAD_ONE,
        {"type": "string", "pattern": "^\\s*([Ss][Aa][Mm][Ee]|[Vv][Aa][Ll][Ii][Dd])\\s*$"},
        {"type": "string", "pattern": AXES_PATTERN},
        {"type": "array", "items": _PAD_ONE, "minItems": 1, "maxItems": MAX_AXES},
        {"type": "array", "minItems": 1, "maxItems": MAX_AXES,
         "items": {"type": "array", "items": _PAD_ONE, "minItems": 2, "maxItems": 2}},
    ]})

def check_sides(name: str) -> BeforeValidator:
    """int | [int per axis] | [[before, after] per axis], all >= 0 (pad, crop: no 'same' or 'valid')."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"{name} must be an int, one int per axis or one [before, after] pair per axis, "
                             f"got {brief(value)}")
        try:
            return check_padding(value)
        except ValueError:
            raise ValueError(f"{name} must be an int >= 0, one int per axis ([1, 2]) or one [before, after] pair "
                             f"per axis ([[0, 1], [0, 1]]); got {brief(value)}") from None

    return BeforeValidator(check)


_SIDES_SCHEMA = WithJsonSchema({
    "description": "cells on each side: an int (every side), one int per spatial axis, or one [before, after] "
                   "pair per axis",
    "oneOf": [
        _PAD_ONE,
        {"type": "array", "items": _PAD_ONE, "minItems": 1, "maxItems": MAX_AXES},
        {"type": "array", "minItems": 1, "maxItems": MAX_AXES,
         "items": {"type": "array", "items": _PAD_ONE, "minItems": 2, "maxItems": 2}},
    ]})

if TYPE_CHECKING:  # what a layer inside a Network holds (Network expands the written form per axis)
    Kernel = tuple[int, ...]
    OutputPadding = tuple[int, ...]
    Scale = tuple[int, ...]
    Sides = Pairs
    CropSides = Pairs
    Stride = tuple[int, ...]
    Dilation = tuple[int, ...]
    Padding = Union[Pairs, Literal["same"]]
else:
    Kernel = Annotated[Any, _ints_per_axis("kernel", 1), PerAxis(),
                       _per_axis_schema(1, "window size: an int (every axis) or one int per spatial axis")]
    Stride = Annotated[Any, _ints_per_axis("stride", 1), PerAxis(),
                       _per_axis_schema(1, "step between windows: an int or one int per spatial axis")]
    Dilation = Annotated[Any, _ints_per_axis("dilation", 1), PerAxis(),
                         _per_axis_schema(1, "spacing of the kernel taps (1: none): an int or one per spatial axis")]
    Padding = Annotated[Any, BeforeValidator(check_padding), PerAxis(pairs=True), _PADDING_SCHEMA]
    OutputPadding = Annotated[Any, _ints_per_axis("output_padding", 0), PerAxis(),
                              _per_axis_schema(0, "extra cells after the last on each axis: an int or one per axis")]
    Scale = Annotated[Any, _ints_per_axis("scale", 1), PerAxis(),
                      _per_axis_schema(1, "factor per spatial axis: an int or one int per axis")]
    Sides = Annotated[Any, check_sides("padding"), PerAxis(pairs=True), _SIDES_SCHEMA]
    CropSides = Annotated[Any, check_sides("cropping"), PerAxis(pairs=True), _SIDES_SCHEMA]


def expand_axes(value: Any, rank: int, pairs: bool, field: str) -> Any:
    """A per-axis value as written -> one entry per axis; ValueError naming the field when the count is wrong."""
    if pairs:
        if value == "same":
            return value
        if value == "valid":
            return ((0, 0),) * rank
    if is_int(value):
        return ((value, value),) * rank if pairs else (value,) * rank
    if rank == 0:
        return ()  # no spatial axes: the layer's rule says so
    if len(value) != rank:
        tail = "" if pairs else f"; give one int or {rank}"
        if rank == 1 and len(value) == 2:
            tail += (" (an input of two numbers such as 28x28 is 1-D, length x channels; for an image with one "
                     "channel write 28x28x1)")
        raise ValueError(f"{field} has {len(value)} entries but the input has {rank} spatial "
                         f"ax{'is' if rank == 1 else 'es'}{tail}")
    if pairs and is_int(value[0]):
        return tuple((p, p) for p in value)
    return tuple(value)


# --- names -------------------------------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # free text may keep tabs and line breaks


def printable(v: Any, what: str, pattern: re.Pattern[str] = CONTROL) -> Any:
    """Refuse control characters: printed in a table they would be terminal escape sequences."""
    if isinstance(v, str) and pattern.search(v):
        raise ValueError(f"{what} must not contain control characters, got {brief(v)}")
    return v


def check_name(v: Any) -> Any:
    """A layer name: a non-empty string of printable characters, usable as a path inside a .npz.

    Refused: control characters (terminal escapes), format characters such as bidirectional overrides and
    zero-width spaces (two names that look alike in a table), a leading '/', and '.' or '..' as a segment
    (a weights archive would write outside its folder).  Block names legitimately contain '/'.
    """
    if v is None:
        return v
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"name must be a non-empty string, got {brief(v)}")
    printable(v, "name")
    hidden = sorted({f"U+{ord(c):04X}" for c in v if unicodedata.category(c) == "Cf"})
    if hidden:
        raise ValueError(f"name must not contain invisible or direction-changing characters ({', '.join(hidden)}), "
                         f"got {brief(v)}")
    if v.startswith("/") or any(part in (".", "..") for part in v.split("/")):
        raise ValueError(f"name must not start with '/' or have '.' or '..' between slashes "
                         f"(it names files inside a weights archive), got {brief(v)}")
    return v


Name = Annotated[str, BeforeValidator(check_name)]
