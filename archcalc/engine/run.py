"""What `archcalc run` does, as a library: read the input, budget memory, run, summarise each layer.

The CLI command only parses options, calls ``run_spec`` and prints the result.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis import Report, analyze
from ..errors import LoadError, ShapeError
from ..spec import Network
from .forward import (TOP_K_CHUNK, MemoryEstimate, estimate_memory, forward, init_params, is_classifier,
                      params_footprint)
from .weights import MemoryBudgetError, declared_bytes, npy_header, regular_file

DEFAULT_MAX_MEMORY = 2 * 2**30
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")



def parse_size(text: str | int) -> int:
    """'512MiB' -> 536870912, '2GiB', '4GB' (decimal), '1.5G' (binary), '1000' (bytes): conventions.parse_size."""
    from ..conventions import parse_size as parse

    return parse(text, field="max-memory")


def load_input(path: str, network: Network, batch: int | None = None,
               max_bytes: int | None = None) -> np.ndarray:
    """An .npy of shape (N, *input_shape) or (*input_shape), or a PNG/JPEG resized to the input; -> (N, *input_shape).

    The path must be a regular file (a FIFO would hang).  An .npy's header is read first: its shape, dtype and
    size (at most ``max_bytes``) are checked before the data is.
    """
    regular_file(path, "input")
    p = Path(path)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        x = load_image(p, network.input_shape)[None]
    else:
        x = _load_npy(path, network, batch, max_bytes)
    if batch is not None and x.shape[0] == 1 and batch > 1:
        x = np.repeat(x, batch, axis=0)
    return x


def _load_npy(path: str, network: Network, batch: int | None, max_bytes: int | None) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            if fh.read(2) == b"PK":
                raise LoadError("input must be a single array (.npy), not an archive (.npz)", file=path)
            fh.seek(0)
            shape, dtype = npy_header(fh)
            _check_input_header(path, network, batch, max_bytes, shape, dtype)
            fh.seek(0)
            x = np.lib.format.read_array(fh, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LoadError(f"cannot read input as .npy: {exc}", file=path) from None
    if x.shape[:1] == (0,):
        raise ShapeError("input batch is empty", field="input", file=path)
    return x if x.shape != tuple(network.input_shape) else x[None]


def _check_input_header(path: str, network: Network, batch: int | None, max_bytes: int | None,
                        shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise LoadError("cannot read input: it holds Python objects, not numbers", file=path)
    if dtype.kind not in "fiub":
        raise LoadError(f"input holds {dtype}, not numbers", file=path)
    want = tuple(network.input_shape)
    if shape != want and shape[1:] != want:
        raise ShapeError(f"input has shape {shape}; the spec needs {want} or (N, {', '.join(map(str, want))})",
                         file=path)
    if shape != want and batch is not None and batch != shape[0]:
        raise ShapeError(f"input holds a batch of {shape[0]} but a batch of {batch} was asked for", file=path)
    size = declared_bytes(shape, dtype)
    if max_bytes is not None and size > max_bytes:
        from ..output.format import human_bytes

        raise MemoryBudgetError(f"the input declares {human_bytes(size)}, more than the budget of "
                                f"{human_bytes(max_bytes)}; nothing was loaded", file=path, needed=size)
    if size > os.stat(path).st_size:
        raise LoadError(f"cannot read input as .npy: the file is shorter than the {shape} {dtype} array its "
                        "header declares", file=path)


def load_image(path: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    """A PNG/JPEG resized (bilinear) to the input's height and width, grey or RGB(A) to match its channels, / 255."""
    try:
        from PIL import Image  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise LoadError("reading PNG/JPEG needs Pillow: pip install 'archcalc[image]' (or give an .npy file)") from None
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3, 4):
        raise ShapeError(f"an image fits only an input of [height, width, 1|3|4]; this spec's input is {list(input_shape)}",
                         file=str(path), hint="give an .npy file instead")
    h, w, c = input_shape
    try:
        with Image.open(path) as img:
            small = img.convert({1: "L", 3: "RGB", 4: "RGBA"}[c]).resize((w, h), Image.Resampling.BILINEAR)
            x = np.asarray(small, dtype=np.float32) / np.float32(255)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # Pillow refuses images over ~179M pixels
        raise LoadError(f"cannot read image: {exc}", file=str(path)) from None
    return x.reshape(h, w, c)


@dataclass
class LayerStats:
    name: str
    type: str
    shape: tuple[int, ...]  # without the batch axis
    min: float
    mean: float
    max: float
    seconds: float


@dataclass
class RunResult:
    report: Report
    output: np.ndarray
    layers: list[LayerStats]
    estimate: MemoryEstimate
    seconds: float
    top5: list[list[tuple[int, float]]] = field(default_factory=list)  # per sample: (class, score)

    @property
    def classifier(self) -> bool:
        return bool(self.top5)


def top_k(scores: np.ndarray, k: int = 5) -> list[list[tuple[int, float]]]:
    """Per sample, the k largest scores as (class index, score), best first."""
    flat = scores.reshape(scores.shape[0], -1)
    return [_top_k_row(row, min(k, row.size)) for row in flat]


def _top_k_row(row: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k largest of one sample, a chunk of `TOP_K_CHUNK` scores at a time (argpartition, never a whole sort):
    memory stays one chunk however many classes.  Ties go to the lower index; NaN ranks last."""
    best: list[tuple[float, int]] = []  # (score, index) candidates
    for start in range(0, row.size, TOP_K_CHUNK):
        chunk = row[start:start + TOP_K_CHUNK]
        keys = np.where(np.isnan(chunk), -np.inf, chunk) if chunk.dtype.kind == "f" else chunk
        take = min(k, chunk.size)
        if take < chunk.size:  # the take largest, ties at the threshold to the lowest indices
            threshold = np.partition(keys, chunk.size - take)[chunk.size - take]
            above = np.flatnonzero(keys > threshold)  # fewer than take
            equal: list[int] = []
            first = 0
            tied = keys == threshold
            while len(equal) < take - above.size:
                first += int(tied[first:].argmax())
                equal.append(first)
                first += 1
            idx = np.concatenate([above, np.array(equal, dtype=np.intp)])
        else:
            idx = np.arange(chunk.size)
        best.extend((float(chunk[i]), start + int(i)) for i in idx)
        best.sort(key=lambda t: (-_rank(t[0]), t[1]))
        del best[k:]
    return [(i, v) for v, i in best]


def _rank(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def check_budget(estimate: MemoryEstimate, max_memory: int) -> None:
    """Refuse a run whose estimated peak exceeds ``max_memory`` bytes (MemoryBudgetError.needed says how much)."""
    from ..output.format import human_bytes

    if estimate.total > max_memory:
        raise MemoryBudgetError(
            f"this run needs about {human_bytes(estimate.total)} (activations {human_bytes(estimate.activations)}, "
            f"params {human_bytes(estimate.params)}, kernel scratch {human_bytes(estimate.scratch)}, interpreter "
            f"{human_bytes(estimate.overhead)}), more than the budget of {human_bytes(max_memory)}",
            needed=estimate.total)


def suggested_budget(needed: int) -> str:
    """The next power of two in MiB at or above `needed` bytes: '512MiB'."""
    return f"{2 ** math.ceil(math.log2(max(needed / 2**20, 1)))}MiB"


def run_spec(network: Network, x: np.ndarray, params: dict | None = None, seed: int = 0, dtype: str = "float32",
             max_memory: int = DEFAULT_MAX_MEMORY) -> RunResult:
    """Budget, run and summarise: per-layer output statistics, and the top-5 classes for a classifier."""
    report = analyze(network)
    given = None if params is None else params_footprint(params, dtype)
    estimate = estimate_memory(network, x.shape[0], dtype, report=report, input_dtype=x.dtype, params_bytes=given)
    check_budget(estimate, max_memory)
    if params is None:
        params = init_params(network, seed=seed)
    stats: list[LayerStats] = []
    clock = [time.perf_counter()]

    def record(row, y):
        now = time.perf_counter()
        stats.append(LayerStats(row.name, row.type, tuple(y.shape[1:]), float(y.min()), float(y.mean(dtype=np.float64)),
                                float(y.max()), now - clock[0]))
        clock[0] = time.perf_counter()

    t0 = time.perf_counter()
    from .forward import forward as _forward

    y = _forward(network, x, params, dtype=dtype, on_layer=record, report=report)
    seconds = time.perf_counter() - t0
    result = RunResult(report, y, stats, estimate, seconds)
    if is_classifier(report):
        result.top5 = top_k(y)
    return result


__all__ = ["run_spec", "load_input", "load_image", "parse_size", "estimate_memory", "forward", "RunResult",
           "MemoryBudgetError", "DEFAULT_MAX_MEMORY"]
