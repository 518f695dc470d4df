"""The spec: pydantic models, one per layer kind, discriminated on `type`.

Models are frozen and forbid unknown fields.  Per-axis values (kernel, stride,
padding, dilation) stay as written (an int or one entry per axis) because the
number of spatial axes is only known where the layer sits in the net; the
calculators expand them with `per_axis` / `per_axis_padding`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, Strict, field_validator, model_validator

ACTIVATIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "linear")
DEFAULT_ALPHA = {"leaky_relu": 0.1, "elu": 1.0}
RESERVED_NAMES = frozenset({"input"})
MAX_VALUE = 10**15  # no size, count or per-axis value of a real net comes near; keeps every product printable


# --- field types -------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_shape(value: Any, what: str = "shape") -> tuple[int, ...]:
    """[227, 227, 3], (227, 227, 3) or "227x227x3" -> (227, 227, 3); every entry a positive int."""
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[x×,]", value.strip().strip("[]()")) if p.strip()]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"{what} must look like 227x227x3 or [227, 227, 3], got {_brief(value)}") from None
    if _is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{what} must be a non-empty list of positive ints or a string like 227x227x3, "
                         f"got {_brief(value)}")
    for v in value:
        if not _is_int(v) or v < 1:
            raise ValueError(f"{what} entries must be positive ints, got {v!r} in {list(value)!r}")
        if v > MAX_VALUE:
            raise ValueError(f"{what} entries must be at most 10**15, got {v}")
    return tuple(value)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _ints_per_axis(name: str, minimum: int):
    def check(value: Any) -> int | tuple[int, ...]:
        if _is_int(value):
            if value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {value}")
            if value > MAX_VALUE:
                raise ValueError(f"{name} must be at most 10**15, got {value}")
            return value
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
            bad = [v for v in value if v < minimum]
            if bad:
                raise ValueError(f"{name} must be >= {minimum} on every axis, got {list(value)}")
            if any(v > MAX_VALUE for v in value):
                raise ValueError(f"{name} must be at most 10**15 on every axis, got {list(value)}")
            return tuple(value)
        raise ValueError(f"{name} must be an int or one int per spatial axis (e.g. 3 or [3, 3]), got {value!r}")

    return BeforeValidator(check)


# Per-axis fields are typed Any with one validator each: the validator gives one clear message, and a
# plain schema keeps pydantic's start-up cost (paid on every CLI run) small.
Kernel = Annotated[Any, _ints_per_axis("kernel", 1)]
Stride = Annotated[Any, _ints_per_axis("stride", 1)]
Dilation = Annotated[Any, _ints_per_axis("dilation", 1)]


def _check_padding(value: Any):
    """int | [int per axis] | [[before, after] per axis] | 'valid' | 'same'."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("valid", "same"):
            return low
        raise ValueError(f"padding must be 'valid', 'same', an int, or per-axis values; got {value!r}")
    flat = [x for v in (value if isinstance(value, (list, tuple)) else [value])
            for x in (v if isinstance(v, (list, tuple)) else [v])]
    if any(_is_int(x) and x > MAX_VALUE for x in flat):
        raise ValueError(f"padding must be at most 10**15, got {value!r}")
    if _is_int(value):
        if value < 0:
            raise ValueError(f"padding must be >= 0, got {value}")
        return value
    if isinstance(value, (list, tuple)) and value:
        if all(_is_int(v) for v in value):
            if any(v < 0 for v in value):
                raise ValueError(f"padding must be >= 0 on every axis, got {list(value)}")
            return tuple(value)
        if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) and x >= 0 for x in v) for v in value):
            return tuple((v[0], v[1]) for v in value)
    raise ValueError(
        "padding must be an int, one int per axis ([1, 2]), one [before, after] pair per axis "
        f"([[0, 1], [0, 1]]), 'valid' or 'same'; got {value!r}"
    )


Padding = Annotated[Any, BeforeValidator(_check_padding)]  # 'same' | 'valid' | int | (int, ...) | ((before, after), ...)
Rounding = Literal["strict", "floor", "ceil"]
Count = Annotated[int, Strict(), Field(ge=1, le=MAX_VALUE)]  # a bool or 3.0 is not a count
NonNegative = Annotated[int, Strict(), Field(ge=0, le=MAX_VALUE)]
Finite = Annotated[float, Field(allow_inf_nan=False)]  # nan and inf are never a layer's setting
Activation = Literal["relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "linear"]


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # free text may keep tabs and line breaks


def _printable(v: Any, what: str, pattern: re.Pattern = _CONTROL) -> Any:
    """Refuse control characters: printed in a table they would be terminal escape sequences."""
    if isinstance(v, str) and pattern.search(v):
        raise ValueError(f"{what} must not contain control characters, got {v!r}")
    return v


class Expect(BaseModel):
    """What the author expects a layer to produce; `show` checks it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    shape: tuple[int, ...] | None = None
    params: NonNegative | None = None
    macs: NonNegative | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape_shorthand(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple, str)) or _is_int(data):
            return {"shape": parse_shape(data, "expect")}
        if isinstance(data, dict) and "shape" in data and data["shape"] is not None:
            return {**data, "shape": parse_shape(data["shape"], "expect.shape")}
        return data


# --- layers ------------------------------------------------------------------

class LayerBase(BaseModel):
    # defer_build: each layer's schema is built once, inside Network's, not also on its own at import
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str | None = None
    inputs: tuple[str, ...] | None = None
    expect: Expect | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"name must be a non-empty string, got {v!r}")
        return _printable(v, "name")

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, v: Any) -> Any:
        if isinstance(v, str):
            return (v,)
        if isinstance(v, (list, tuple)):
            if not v or not all(isinstance(x, str) for x in v):
                raise ValueError(f"inputs must be a layer name or a non-empty list of names, got {v!r}")
        return v

    @property
    def kind(self) -> str:
        return self.type  # type: ignore[attr-defined]


class _Windowed(LayerBase):
    """Fields shared by layers that slide a window (conv and pooling)."""

    kernel: Kernel
    padding: Padding = 0
    rounding: Rounding | None = None


class Conv(_Windowed):
    type: Literal["conv"]
    filters: Count
    stride: Stride = 1
    dilation: Dilation = 1
    groups: Count = 1
    bias: Union[bool, Literal["per_position"]] = True
    activation: Activation | None = None

    @field_validator("activation", mode="before")
    @classmethod
    def _act(cls, v: Any) -> Any:
        return _lower(v)

    @field_validator("bias", mode="before")
    @classmethod
    def _bias(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower().replace("-", "_") == "per_position":
            return "per_position"
        if isinstance(v, bool) or v == "per_position":
            return v
        raise ValueError(f"bias must be true, false or 'per_position', got {v!r}")


class MaxPool(_Windowed):
    type: Literal["maxpool"]
    stride: Stride | None = None


class AvgPool(_Windowed):
    type: Literal["avgpool"]
    stride: Stride | None = None


class GlobalAvgPool(LayerBase):
    type: Literal["global_avgpool"]


class GlobalMaxPool(LayerBase):
    type: Literal["global_maxpool"]


class Dense(LayerBase):
    type: Literal["dense"]
    units: Count
    bias: bool = True
    activation: Activation | None = None

    @field_validator("activation", mode="before")
    @classmethod
    def _act(cls, v: Any) -> Any:
        return _lower(v)


class Flatten(LayerBase):
    type: Literal["flatten"]


class Dropout(LayerBase):
    type: Literal["dropout"]
    rate: float = Field(default=0.5, ge=0.0, lt=1.0)


class LRN(LayerBase):
    type: Literal["lrn"]
    size: Count = 5
    alpha: Finite = 1e-4
    beta: Finite = 0.75
    k: Finite = 2.0
    alpha_over_n: bool = False  # PyTorch/Caffe divide alpha by size; the AlexNet paper does not


class BatchNorm(LayerBase):
    type: Literal["batchnorm"]
    eps: float = Field(default=1e-3, gt=0, allow_inf_nan=False)
    momentum: float = Field(default=0.99, ge=0, le=1)


class ActivationLayer(LayerBase):
    type: Literal["activation"]
    function: Activation
    alpha: Finite | None = None

    @field_validator("function", mode="before")
    @classmethod
    def _fn(cls, v: Any) -> Any:
        return _lower(v)

    @model_validator(mode="after")
    def _alpha_applies(self) -> "ActivationLayer":
        if self.alpha is not None and self.function not in DEFAULT_ALPHA:
            raise ValueError(f"alpha applies to leaky_relu and elu only, not to {self.function}")
        return self

    @property
    def slope(self) -> float | None:
        """alpha, or the default for the function (leaky_relu 0.1 as the notes write max(0.1x, x); elu 1.0)."""
        return self.alpha if self.alpha is not None else DEFAULT_ALPHA.get(self.function)


class Add(LayerBase):
    type: Literal["add"]


class Concat(LayerBase):
    type: Literal["concat"]
    axis: Annotated[int, Strict(), Field(ge=-MAX_VALUE, le=MAX_VALUE)] = -1


LAYER_MODELS: tuple[type[LayerBase], ...] = (
    Conv, MaxPool, AvgPool, GlobalAvgPool, GlobalMaxPool, Dense, Flatten,
    Dropout, LRN, BatchNorm, ActivationLayer, Add, Concat,
)
LAYER_TYPES: tuple[str, ...] = tuple(m.model_fields["type"].annotation.__args__[0] for m in LAYER_MODELS)  # type: ignore[union-attr]
MODEL_BY_TYPE: dict[str, type[LayerBase]] = dict(zip(LAYER_TYPES, LAYER_MODELS))

Layer = Annotated[Union[tuple(LAYER_MODELS)], Field(discriminator="type")]  # type: ignore[valid-type]


# --- the network ---------------------------------------------------------------

class _NetFields(BaseModel):
    """The net-level fields and their checks, shared by Network and NetworkHeader."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = "network"
    source: str | None = None
    description: str | None = None
    year: Annotated[int, Strict(), Field(ge=-MAX_VALUE, le=MAX_VALUE)] | None = None
    authors: str | None = None
    place: str | None = None
    top5_error: str | None = None
    input_shape: tuple[int, ...] = Field(alias="input")
    rounding: Rounding = "strict"

    @field_validator("input_shape", mode="before")
    @classmethod
    def _input(cls, v: Any) -> Any:
        shape = parse_shape(v, "input")
        if len(shape) > 4:
            raise ValueError(f"input has at most 3 spatial axes and a channel axis ([D, H, W, C]), got {list(shape)}")
        return shape

    @field_validator("place", "top5_error", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @field_validator("name", "authors", "place", "top5_error", "source", "description", mode="after")
    @classmethod
    def _printable_text(cls, v: Any, info: Any) -> Any:
        return _printable(v, info.field_name, _CONTROL_TEXT if info.field_name in ("source", "description") else _CONTROL)

    @field_validator("rounding", mode="before")
    @classmethod
    def _rounding(cls, v: Any) -> Any:
        return _lower(v)



class NetworkHeader(_NetFields):
    """Everything but the layers: load.validate checks these here and each layer with its own model, so a spec only
    pays (in start-up time) for building the schemas of the layer kinds it uses."""

    layers: Any = None


class Network(_NetFields):
    """A validated net: input shape (no batch axis, channels last) and its layers with names and inputs resolved.

    `archcalc.load_spec` builds it (archcalc.load); `Network.model_validate(data)` checks the same for data whose
    layers are already named and wired (every layer has `name` and `inputs`, as `to_data()` gives).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    layers: tuple[Layer, ...]  # type: ignore[valid-type]
    _file: str | None = PrivateAttr(default=None)

    @field_validator("layers", mode="after")
    @classmethod
    def _not_empty(cls, v: tuple) -> tuple:
        if not v:
            raise ValueError("a net needs at least one layer")
        return v

    @property
    def file(self) -> str | None:
        """The spec file this net was read from, if any (named in error messages)."""
        return self._file

    @property
    def rank(self) -> int:
        """Number of spatial axes of the input."""
        return len(self.input_shape) - 1

    def layer_by_name(self) -> dict[str, Any]:
        return {layer.name: layer for layer in self.layers}

    def to_data(self) -> dict[str, Any]:
        """Plain data that `load_spec` reads back into the same network."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
