"""The network: its header fields and its layers (one model per kind, from `archcalc.layers`), discriminated on
`type`.  Models are frozen and forbid unknown fields.

A layer's per-axis fields (kernel, stride, dilation, padding) are validated as written (an int or one entry per
axis); the network, which knows the input's number of spatial axes, expands them to one entry per axis, so every
consumer downstream sees tuples: `kernel` (3, 3), `padding` ((1, 1), (1, 1)) or 'same'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, Strict, field_validator

from ..layers import MODELS, LayerBase
from ..layers.fields import CONTROL, CONTROL_TEXT, MAX_VALUE, Rounding, lower, parse_shape, printable

RESERVED_NAMES = frozenset({"input"})

if TYPE_CHECKING:
    Layer = LayerBase
else:  # the discriminated union of every kind's model, on `type`
    Layer = Annotated[Union[tuple(MODELS)], Field(discriminator="type")]


# --- the network ---------------------------------------------------------------

class _NetFields(BaseModel):
    """The net-level fields and their checks, shared by Network and NetworkHeader."""

    # defer_build: only the subclasses are ever validated; building this base's schema at import was pure start-up cost
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    name: str = Field("network", description="the net's name (default: the file's name)")
    source: str | None = Field(None, description="where the architecture comes from (paper, notes)")
    description: str | None = Field(None, description="free text")
    year: Annotated[int, Strict(), Field(ge=-MAX_VALUE, le=MAX_VALUE)] | None = Field(
        None, description="year of publication")
    authors: str | None = Field(None, description="who designed it")
    place: str | None = Field(None, description="competition result or venue, e.g. 'ILSVRC 2012, 1st'")
    top5_error: str | None = Field(None, description="reported top-5 error, as text")
    input_shape: tuple[int, ...] = Field(alias="input", description="input shape without the batch axis, channels "
                                                                    "last: [H, W, C] ([N, C], [D, H, W, C]) or "
                                                                    "'227x227x3'")
    rounding: Rounding = Field("strict", description="default for window layers whose windows do not tile the "
                                                     "padded input: strict (an error), floor (PyTorch/Keras) or ceil")

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
        return printable(v, info.field_name, CONTROL_TEXT if info.field_name in ("source", "description") else CONTROL)

    @field_validator("rounding", mode="before")
    @classmethod
    def _rounding(cls, v: Any) -> Any:
        return lower(v)



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

    layers: tuple[Layer, ...]
    _file: str | None = PrivateAttr(default=None)

    @field_validator("layers", mode="after")
    @classmethod
    def _not_empty(cls, v: tuple[LayerBase, ...]) -> tuple[LayerBase, ...]:
        if not v:
            raise ValueError("a net needs at least one layer")
        return v

    def model_post_init(self, context: Any) -> None:
        """Expand every layer's per-axis fields to one entry per spatial axis of the input."""
        rank = len(self.input_shape) - 1
        layers = tuple(layer.with_rank(rank, i) for i, layer in enumerate(self.layers))
        object.__setattr__(self, "layers", layers)

    @property
    def file(self) -> str | None:
        """The spec file this net was read from, if any (named in error messages)."""
        return self._file

    @property
    def rank(self) -> int:
        """Number of spatial axes of the input."""
        return len(self.input_shape) - 1

    def layer_by_name(self) -> dict[str, LayerBase]:
        return {layer.name: layer for layer in self.layers}

    def to_data(self) -> dict[str, Any]:
        """Plain data that `load_spec` reads back into the same network."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

