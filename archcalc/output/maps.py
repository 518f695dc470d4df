"""Activation-map grids: one PNG per conv or pool layer, one tile per channel, as the notes show them.

`activation_maps(network, x, params)` runs the forward pass once and renders each conv/pool output of the
first sample as it comes (nothing else is kept); `save_maps(activations, report, outdir)` does the same
from a {layer name: array} mapping (what `forward(..., return_all=True)` returns) and writes the files.
Each tile is normalised on its own (min -> black, max -> white; a constant map is mid grey), tiles are
upscaled to at least MIN_TILE pixels (nearest neighbour) and downscaled to at most MAX_TILE, and a header
names the layer and its shape.  Needs Pillow (the optional extra archcalc[image]).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import ArchcalcError
from .svg import MissingExtra

MIN_TILE = 48
MAX_TILE = 96
GAP = 2
HEADER = 18
BACKGROUND = (255, 255, 255)
FRAME = (37, 99, 235)  # a one-pixel frame around each tile, so tiles are countable


@dataclass(frozen=True, slots=True)
class Grid:
    """Where the tiles of a grid go: `cols` x `rows` slots of tile_h x tile_w pixels inside a frame."""

    count: int
    cols: int
    rows: int
    tile_h: int
    tile_w: int

    @property
    def width(self) -> int:
        return GAP + self.cols * (self.tile_w + 2 + GAP)

    @property
    def height(self) -> int:
        return HEADER + GAP + self.rows * (self.tile_h + 2 + GAP)

    def origin(self, k: int) -> tuple[int, int]:
        """Top-left pixel of slot k's frame."""
        r, c = divmod(k, self.cols)
        return GAP + c * (self.tile_w + 2 + GAP), HEADER + GAP + r * (self.tile_h + 2 + GAP)


def grid_geometry(height: int, width: int, channels: int, max_maps: int = 64) -> Grid:
    """min(channels, max_maps) tiles in a near-square grid (ceil(sqrt(n)) columns), each at least MIN_TILE
    pixels on its longer side by an integer factor, and at most MAX_TILE."""
    n = max(0, min(channels, max_maps))
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    longer = max(height, width, 1)
    scale = max(1, math.ceil(MIN_TILE / longer))
    th, tw = height * scale, width * scale
    if max(th, tw) > MAX_TILE:
        th, tw = max(1, round(height * MAX_TILE / longer)), max(1, round(width * MAX_TILE / longer))
    return Grid(n, cols, rows, th, tw)


def is_map_layer(row: Any) -> bool:
    """A conv or pool layer whose output has two spatial axes and channels (H, W, C)."""
    return ("conv" in row.type or "pool" in row.type) and len(row.output_shape) == 3


def _pil() -> Any:
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise MissingExtra("activation maps need Pillow: pip install 'archcalc[image]'") from None
    return Image, ImageDraw


def grid_png(fmap: Any, title: str, max_maps: int = 64) -> bytes:
    """PNG bytes of one layer's maps: `fmap` is (H, W, C) for one sample."""
    import io

    import numpy as np

    Image, ImageDraw = _pil()
    a = np.asarray(fmap, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"an activation map grid needs (height, width, channels), got shape {a.shape}")
    h, w, c = a.shape
    g = grid_geometry(h, w, c, max_maps)
    img = Image.new("RGB", (g.width, g.height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    shown = f" ({g.count} of {c} maps)" if g.count < c else ""
    draw.text((GAP + 1, 3), f"{title}  {h}x{w}x{c}{shown}", fill=(17, 24, 39))
    for k in range(g.count):
        t = a[:, :, k]
        lo, hi = float(t.min()), float(t.max())
        norm = (t - lo) / (hi - lo) if hi > lo else np.full_like(t, 0.5)
        tile = Image.fromarray(np.round(norm * 255).astype(np.uint8), mode="L")
        resample = Image.NEAREST if g.tile_h >= h else Image.BOX
        tile = tile.resize((g.tile_w, g.tile_h), resample)
        x0, y0 = g.origin(k)
        draw.rectangle([x0, y0, x0 + g.tile_w + 1, y0 + g.tile_h + 1], outline=FRAME)
        img.paste(tile.convert("RGB"), (x0 + 1, y0 + 1))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


class MapRecorder:
    """An `on_layer(row, y)` callback for the forward pass: renders each conv/pool output of sample 0."""

    def __init__(self, max_maps: int = 64) -> None:
        if max_maps < 1:
            raise ValueError(f"max_maps must be at least 1, got {max_maps}")
        self.max_maps = max_maps
        self.grids: dict[str, bytes] = {}
        _pil()  # fail before the forward pass, not after it

    def __call__(self, row: Any, y: Any) -> None:
        if is_map_layer(row):
            self.grids[row.name] = grid_png(y[0], row.name, self.max_maps)


def activation_maps(network: Any, x: Any, params: Any = None, max_maps: int = 64, seed: int = 0) -> dict[str, bytes]:
    """{layer name: PNG grid} for every conv/pool layer, from one forward pass on x (N, *input) or one sample;
    random (seeded) weights when `params` is None."""
    from ..engine.forward import forward, init_params

    recorder = MapRecorder(max_maps)
    if tuple(getattr(x, "shape", ())) == tuple(network.input_shape):
        x = x[None]
    forward(network, x, params if params is not None else init_params(network, seed=seed), on_layer=recorder)
    return recorder.grids


def file_name(index: int, name: str) -> str:
    """'03_inception_3a-3x3.png': the layer's index (for order) and its name with anything unsafe replaced."""
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-.') or 'layer'}.png"


def save_maps(source: Any, report: Any, outdir: str | os.PathLike[str], max_maps: int = 64) -> list[Path]:
    """Write one PNG grid per conv/pool layer of `report` into `outdir` (created if missing); return the paths.

    `source` is {layer name: activation} (with or without the batch axis; sample 0 is drawn), an object
    with such an `activations` mapping, or {layer name: PNG bytes} from `activation_maps`.
    """
    from .files import write_bytes

    acts: Mapping[str, Any] = getattr(source, "activations", source)
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise ArchcalcError(f"cannot write activation maps into {out}: it exists and is not a directory")
    rows = [r for r in report.rows if is_map_layer(r) and r.name in acts]
    grids = []
    for row in rows:  # render all before writing any: a failure leaves the directory as it was
        value = acts[row.name]
        if not isinstance(value, bytes):
            if getattr(value, "ndim", 0) == len(row.output_shape) + 1:
                value = value[0]
            value = grid_png(value, row.name, max_maps)
        grids.append((out / file_name(row.index, row.name), value))
    out.mkdir(parents=True, exist_ok=True)
    for path, png in grids:
        write_bytes(path, png, "activation map")
    return [path for path, _ in grids]


__all__ = ["activation_maps", "save_maps", "grid_png", "grid_geometry", "MapRecorder", "is_map_layer", "Grid"]
