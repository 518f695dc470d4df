"""crop: cells removed from each spatial axis, by count or to the size of another layer (U-Net's crop-and-concat)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .. import arith
from ..errors import ShapeError
from .base import Kind, LayerBase, Out, RFs, Row, Shapes, no_weights
from .fields import CropSides, Name
from .geometry import axis_names, rf_shifted, shape_text, spatial_input
from .working import Working, setting_text


class Crop(LayerBase):
    """Cropping: `cropping` cells removed before and after each spatial axis, N -> N - C_before - C_after; or
    `like: NAME`, a centre crop to the spatial size of layer NAME (the odd cell removed after), U-Net's
    crop-and-concat.  No params, no MACs."""

    type: Literal["crop"] = Field(description="remove cells around the map")
    cropping: CropSides | None = Field(None, description="cells removed: an int (every side), one int per axis, "
                                                         "or one [before, after] pair per axis")
    like: Name | None = Field(None, description="centre-crop to the spatial size of this layer (a layer above, "
                                                "as in inputs); instead of cropping")

    @model_validator(mode="after")
    def _one_of(self) -> "Crop":
        if (self.cropping is None) == (self.like is None):
            raise ValueError("crop needs exactly one of cropping (cells per side) and like (a layer to match)")
        return self


def refs(layer: Crop) -> tuple[str, ...]:
    return (layer.like,) if layer.like is not None else ()


def crops(layer: Crop, spatial: tuple[int, ...], like_shape: tuple[int, ...] | None) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial axis: as written, or the centre crop to `like_shape`'s spatial size."""
    if layer.like is None:
        return layer.cropping  # type: ignore[return-value]
    assert like_shape is not None
    target = like_shape[:-1]
    if len(target) != len(spatial):
        raise ShapeError(f"like names '{layer.like}' of shape {shape_text(like_shape)}: it has {len(target)} spatial "
                         f"axes, the input {shape_text(spatial)} has {len(spatial)}", field="like")
    for i, (n, t) in enumerate(zip(spatial, target)):
        if t > n:
            raise ShapeError(f"like names '{layer.like}', whose size {t} on spatial axis {i} is larger than the "
                             f"input's {n}: a crop cannot enlarge", field="like")
    return tuple(arith.centre_crop(n, t) for n, t in zip(spatial, target))


def rule(layer: Crop, shapes: Shapes, rfs: RFs, rounding: str) -> Out:
    spatial, c = spatial_input("crop", shapes[0])
    sides = crops(layer, spatial, shapes[1] if layer.like is not None else None)
    out = []
    for i, (n, (cb, ca)) in enumerate(zip(spatial, sides)):
        o = arith.crop_out_size(n, cb, ca)
        if o < 1:
            raise ShapeError(f"crop of {cb} + {ca} leaves nothing of {n} on spatial axis {i}", field="cropping")
        out.append(o)
    return Out(shape=tuple(out) + (c,), rf=rf_shifted(rfs[0], [-cb for cb, _ in sides]))


def heading(row: Row) -> str:
    layer = row.layer
    return f"like {layer.like} (centre)" if layer.like is not None else f"cropping {setting_text(layer.cropping)}"


def explain(row: Row, w: Working, strict: bool) -> None:
    layer = row.layer
    spatial = row.input_shapes[0][:-1]
    sides = crops(layer, spatial, row.input_shapes[1] if layer.like is not None else None)
    if layer.like is not None:
        w.lines.append(f"centre crop to '{layer.like}' ({shape_text(row.input_shapes[1][:-1])}): before = "
                       "(N - target) // 2, the odd cell after")
    w.lines.append("output size per axis = N - C_before - C_after")
    for name, n, (cb, ca), o in zip(axis_names(len(spatial)), spatial, sides, row.output_shape):
        w.lines.append(f"{name}: {n} - {cb} - {ca} = {o}")
    w.lines.append(f"output shape: {shape_text(row.output_shape)}; no parameters, no MACs")


def row_crops(row: Row) -> tuple[tuple[int, int], ...]:
    """The (before, after) cells a row's crop removes (for the engine and its twins)."""
    layer: Any = row.layer
    return crops(layer, row.input_shapes[0][:-1], row.input_shapes[1] if layer.like is not None else None)


KIND = Kind(Crop, rule, heading, explain, no_weights, refs=refs)
