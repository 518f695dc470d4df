"""The parts every layer kind shares: the pydantic base model, `expect`, what a rule returns, the registry entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ShapeError, brief
from .fields import Name, NonNegative, expand_axes, is_int, parse_shape
from .geometry import AxisCalc, ReceptiveField
from .row import LayerRow as Row

if TYPE_CHECKING:
    from .working import Working


class Expect(BaseModel):
    """What the author expects the layer to produce; `show` checks it and reports any mismatch.

    Written as a mapping, or as a shape alone (`expect: [55, 55, 96]` or `expect: 55x55x96`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    shape: tuple[int, ...] | None = Field(None, description="expected output shape, channels last, no batch axis")
    params: NonNegative | None = Field(None, description="expected number of parameters of this layer")
    macs: NonNegative | None = Field(None, description="expected multiply-accumulates of this layer")
    receptive_field: int | tuple[int, ...] | None = Field(
        None, description="expected receptive field in input pixels: one size for every axis, or one per axis")

    @field_validator("receptive_field", mode="before")
    @classmethod
    def _rf(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):  # 32x32, like every per-axis value
            v = parse_shape(v, "expect.receptive_field")
        sizes = [v] if is_int(v) else list(v) if isinstance(v, (list, tuple)) else None
        if not sizes or not all(is_int(x) and x >= 1 for x in sizes):
            raise ValueError(f"receptive_field is a size in pixels (32) or one per axis ([32, 32]), got {v!r}")
        return v if is_int(v) else tuple(v)

    @model_validator(mode="before")
    @classmethod
    def _shape_shorthand(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple, str)) or is_int(data):
            return {"shape": parse_shape(data, "expect")}
        if isinstance(data, dict) and "shape" in data and data["shape"] is not None:
            return {**data, "shape": parse_shape(data["shape"], "expect.shape")}
        return data


#: field names that hold one value per spatial axis (True: one (before, after) pair per axis)
PER_AXIS = {"kernel": False, "stride": False, "dilation": False, "output_padding": False, "scale": False,
            "padding": True, "cropping": True}


class LayerBase(BaseModel):
    """Fields every layer has: its name, the layers it reads, what it is expected to give."""

    # defer_build: a kind's schema is built the first time a spec uses it, not at import (start-up time)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    per_axis_fields: ClassVar[tuple[tuple[str, bool], ...]] = ()  # (field, holds pairs), filled per subclass

    type: str
    # name and inputs are typed as a layer inside a Network holds them: the load pipeline fills in the defaults
    name: Name = Field(None, description="unique layer name (default: type + running count, e.g. conv1); "  # type: ignore[assignment]
                                          "block layers get 'block/name'")
    inputs: tuple[str, ...] = Field(None, description="the layer(s) it reads: a name, a list of names, or "  # type: ignore[arg-type]
                                                        "'input' (default: the layer above)")
    expect: Expect | None = Field(None, description="expected output shape (shorthand: the shape alone), params "
                                                     "or MACs; show checks them")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = []
        for klass in reversed(cls.__mro__):
            for attr in getattr(klass, "__annotations__", {}):
                if attr in PER_AXIS:
                    found.append((attr, PER_AXIS[attr]))
        cls.per_axis_fields = tuple(dict.fromkeys(found))

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, v: Any) -> Any:
        if isinstance(v, str):
            return (v,)
        if isinstance(v, (list, tuple)):
            if not v or not all(isinstance(x, str) for x in v):
                raise ValueError(f"inputs must be a layer name or a non-empty list of names, got {brief(v)}")
        return v

    @property
    def kind(self) -> str:
        return self.type

    def with_rank(self, rank: int, index: int | None = None) -> "LayerBase":
        """This layer with every per-axis field as one entry per spatial axis (`rank` axes); a ShapeError naming
        the field (and the layer, at `index`) when a list has the wrong length."""
        update = {}
        for attr, pairs in self.per_axis_fields:
            value = getattr(self, attr)
            if value is None or isinstance(value, tuple) and len(value) == rank and (
                    not pairs or not value or isinstance(value[0], tuple)):
                continue
            try:
                update[attr] = expand_axes(value, rank, pairs, attr)
            except ValueError as exc:
                raise ShapeError(str(exc), field=attr, layer_index=index, layer_name=self.name) from None
        return self.model_copy(update=update) if update else self


class Out(NamedTuple):
    """What a rule returns for one layer (trainable None: all params trainable)."""

    shape: tuple[int, ...]
    params: int = 0
    trainable: int | None = None
    macs: int = 0
    bias_adds: int = 0
    rf: ReceptiveField | None = None
    axes: tuple[AxisCalc, ...] = ()
    warnings: tuple[str, ...] = ()


Shapes = Sequence[tuple[int, ...]]
RFs = Sequence[ReceptiveField | None]
Rule = Callable[[Any, Shapes, RFs, str], Out]
Heading = Callable[[Row], str]
Explain = Callable[[Row, "Working", bool], None]
Weights = Callable[[Row], dict[str, tuple[int, ...]]]


@dataclass(frozen=True, slots=True)
class Kind:
    """One layer kind: everything archcalc knows about it, keyed by its `type` tag in `archcalc.layers.REGISTRY`.

    model: the pydantic model (its docstring and field descriptions are the schema's);
    rule: (layer, input shapes, input receptive fields, net rounding) -> Out (shape, params, MACs, ...);
    heading: the settings `explain` shows after the type ('' for none); explain: appends the working lines;
    weights: {key: shape} of its parameters as init/run store them ({} for none);
    merges: takes two or more inputs (add, concat); weighted: counts in a net's depth (a weight layer: conv, dense);
    calc: builds the layer from `archcalc calc` options, if offered;
    refs: the layers besides `inputs` whose shapes the rule reads (crop's `like`): the walk passes their shapes and
    receptive fields after the inputs', the graph checks them as it checks inputs; none are data inputs.
    """

    model: type[LayerBase]
    rule: Rule
    heading: Heading
    explain: Explain
    weights: Weights
    merges: bool = False
    weighted: bool = False
    calc: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    refs: Callable[[Any], tuple[str, ...]] | None = None
    type: str = field(init=False)

    def __post_init__(self) -> None:
        tag = self.model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        object.__setattr__(self, "type", tag)

    @property
    def description(self) -> str:
        return " ".join((self.model.__doc__ or "").split())


# --- the pieces several kinds share -------------------------------------------------------------

def no_heading(row: Row) -> str:
    return ""


def no_weights(row: Row) -> dict[str, tuple[int, ...]]:
    return {}


def same_shape(layer: Any, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    """Output = input: shape and receptive field pass through, nothing to learn."""
    return Out(shape=shapes[0], rf=rfs[0])


def unchanged_lines(row: Row, w: "Working", strict: bool) -> None:
    from .working import shape_text

    w.lines.append(f"output shape: {shape_text(row.output_shape)} (unchanged); no parameters, no MACs")

