"""The forward pass of a whole spec: one kernel entry per layer type, driven by the calculator.

The geometry every kernel needs (paddings, strides, output sizes after floor,
ceil or SAME) comes from ``analysis.analyze(network)``, so the engine and the
calculator cannot disagree; after each layer the produced shape is checked
against the calculator's row and a difference fails loudly, naming the layer.

Data is batch-first and channels-last, ``(N, *input_shape)``.  Parameters are
``{layer name: {"weight", "bias", ...}}`` (conv kernels HWIO, dense (inputs,
units)), see ``param_shapes``.  Activations are freed once their last consumer
has run, and freed buffers are reused for later outputs (fresh pages are slow
to fault in), so a chain of N layers holds two or three maps at a time.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..analysis import LayerRow, Report, analyze
from ..errors import ShapeError, SpecError
from ..layers import REGISTRY
from ..layers.fields import DEFAULT_ALPHA
from ..spec import Network
from . import kernels as K

DTYPES: dict[str, np.dtype[Any]] = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


class EngineShapeError(ShapeError):
    """The engine produced a shape that differs from the calculator's: a bug in one of them."""


class ParamsError(SpecError):
    """Parameters (in memory or in a .npz file) do not fit the spec."""


# --- parameters ------------------------------------------------------------------------

def param_shapes(network: Network, report: Report | None = None) -> dict[str, dict[str, tuple[int, ...]]]:
    """{layer: {key: shape}} for every layer with parameters, in layer order (each kind's `Kind.weights`)."""
    report = report or analyze(network)
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for row in report.rows:
        shapes = REGISTRY[row.type].weights(row)
        if shapes:
            out[row.name] = shapes
    return out


def _glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)); fans as Keras counts them for HWIO / (inputs, units)."""
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.float32(math.sqrt(6.0 / (fan_in + fan_out)))
    w = rng.random(shape, dtype=np.float32)
    w *= 2 * limit
    w -= limit
    return w


def init_params(network: Network, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Glorot-uniform weights and zero biases (Keras' defaults), float32; batchnorm gamma 1, beta 0, mean 0, variance 1."""
    rng = np.random.default_rng(seed)
    params: dict[str, dict[str, np.ndarray]] = {}
    for name, shapes in param_shapes(network).items():
        entry = {}
        for key, shape in shapes.items():
            if key == "weight":
                entry[key] = _glorot_uniform(rng, shape)
            elif key in ("gamma", "moving_variance"):
                entry[key] = np.ones(shape, np.float32)
            else:
                entry[key] = np.zeros(shape, np.float32)
        params[name] = entry
    return params


def check_params(network: Network, params: Mapping[str, Mapping[str, Any]], report: Report | None = None,
                 file: str | None = None) -> None:
    """Every layer's arrays present, none unknown, each of the spec's shape; else ParamsError naming layer and key."""
    expected = param_shapes(network, report)
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    for name in params:
        if name not in expected:
            known = ", ".join(expected) or "none"
            what = "has no parameters" if name in index else "is not a layer of the spec"
            raise ParamsError(f"parameters given for '{name}', which {what} (layers with parameters: {known})",
                              file=file, layer_name=name, layer_index=index.get(name))
    for name, shapes in expected.items():
        entry = params.get(name)
        if entry is None:
            raise ParamsError(f"no parameters for this layer (expected {', '.join(shapes)})", file=file,
                              layer_index=index[name], layer_name=name)
        for key in entry:
            if key not in shapes:
                raise ParamsError(f"unknown parameter '{key}' (this layer has {', '.join(shapes)})", file=file,
                                  layer_index=index[name], layer_name=name, field=key)
        for key, shape in shapes.items():
            if key not in entry:
                raise ParamsError(f"'{key}' is missing (expected shape {list(shape)})", file=file,
                                  layer_index=index[name], layer_name=name, field=key)
            arr = entry[key]
            got = tuple(getattr(arr, "shape", ()))
            if got != shape:
                raise ParamsError(f"'{key}' has shape {list(got)}, the spec needs {list(shape)}", file=file,
                                  layer_index=index[name], layer_name=name, field=key)
            kind = getattr(getattr(arr, "dtype", None), "kind", None)
            if kind not in ("f", "i", "u"):
                raise ParamsError(f"'{key}' holds {getattr(arr, 'dtype', type(arr).__name__)}, not numbers",
                                  file=file, layer_index=index[name], layer_name=name, field=key)


# --- buffers ---------------------------------------------------------------------------

def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class Arena:
    """Live activations by name; a buffer is recycled once no live activation uses it any more."""

    def __init__(self, recycle: bool, foreign: list[np.ndarray]):
        self.recycle = recycle
        self.values: dict[str, np.ndarray] = {}
        self.users: Counter[int] = Counter()
        self.foreign = {id(_root(a)) for a in foreign}
        self.keep = foreign  # keeps ids stable
        self.free: list[np.ndarray] = []  # flat uint8 buffers

    def new(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array, from the smallest free buffer that holds it."""
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes == 0 or not any(b.nbytes >= nbytes for b in self.free):
            return np.empty(shape, dtype)
        i = min((i for i, b in enumerate(self.free) if b.nbytes >= nbytes), key=lambda i: self.free[i].nbytes)
        buf = self.free.pop(i)
        return buf[:nbytes].view(dtype).reshape(shape)

    def put(self, name: str, value: np.ndarray) -> None:
        self.values[name] = value
        self.users[id(_root(value))] += 1

    def sole_user(self, name: str) -> bool:
        """True when nothing but `name` uses its storage (so the next layer may overwrite it)."""
        root = _root(self.values[name])
        return self.recycle and id(root) not in self.foreign and self.users[id(root)] == 1

    def drop(self, name: str) -> None:
        value = self.values.pop(name)
        root = _root(value)
        self.users[id(root)] -= 1
        if self.users[id(root)] == 0:
            del self.users[id(root)]
            if self.recycle and id(root) not in self.foreign and root.flags.c_contiguous and root.nbytes >= 2**16:
                self.free.append(root.reshape(-1).view(np.uint8))


# --- kernel entries, one per layer type ----------------------------------------------------

@dataclass
class Step:
    """What a kernel entry gets besides its inputs."""

    row: LayerRow
    params: Mapping[str, np.ndarray]
    arena: Arena
    dtype: np.dtype
    batch: int
    inplace: bool  # the single input dies here and nothing else shares its storage

    @property
    def layer(self) -> Any:
        return self.row.layer

    def new(self) -> np.ndarray:
        return self.arena.new((self.batch, *self.row.output_shape), self.dtype)

    def geometry(self):
        axes = self.row.axes
        return (tuple(a.f for a in axes), tuple(a.s for a in axes), tuple((a.pb, a.pa) for a in axes),
                tuple(a.d for a in axes), tuple(a.out for a in axes))


def run_conv(s: Step, xs):
    kernel, stride, pads, dilation, out_spatial = s.geometry()
    fn = s.layer.activation
    alpha = DEFAULT_ALPHA.get(fn or "")
    epilogue = None if fn in (None, "linear") else (lambda block: K.activate(block, fn, alpha))
    return K.conv(xs[0], s.params["weight"], s.params.get("bias"), stride, pads, dilation, s.layer.groups,
                  out_spatial, out=s.new(), epilogue=epilogue)


#: Below this many input bytes a layer runs in one thread (splitting costs more than it saves).
PARALLEL_MIN_BYTES = 2**20
_pool: Any = None


def _workers() -> int:
    return min(4, os.cpu_count() or 1)


def by_batch(s: Step, fn: Callable[..., np.ndarray], x: np.ndarray) -> np.ndarray:
    """fn(x), with x split along the batch over threads (numpy's loops release the GIL) for the
    layers that numpy runs single-threaded: LRN and overlapping pools."""
    global _pool
    parts = min(_workers(), x.shape[0])
    out = s.new()
    if parts < 2 or x.nbytes < PARALLEL_MIN_BYTES:
        return fn(x, out)
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="archcalc")
    bounds = np.linspace(0, x.shape[0], parts + 1).astype(int)
    list(_pool.map(fn, [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])], [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]))
    return out


def _pool_split(s: Step, fn, x):
    """Overlapping windows (3x3/2 in AlexNet) gain from threads; 2x2/2 pools are bound by memory and lose."""
    return by_batch(s, fn, x) if math.prod(a.f for a in s.row.axes) >= 9 else fn(x, s.new())


def run_maxpool(s: Step, xs):
    kernel, stride, pads, dilation, out_spatial = s.geometry()
    return _pool_split(s, lambda x, out: K.maxpool(x, kernel, stride, pads, dilation, out_spatial, out), xs[0])


def run_avgpool(s: Step, xs):
    kernel, stride, pads, dilation, out_spatial = s.geometry()
    return _pool_split(s, lambda x, out: K.avgpool(x, kernel, stride, pads, dilation, out_spatial, out), xs[0])


def run_dense(s: Step, xs):
    x = xs[0]
    y = s.new()
    np.matmul(x.reshape(x.shape[0], -1), s.params["weight"], out=y)
    if "bias" in s.params:
        y += s.params["bias"]
    fn = s.layer.activation
    return K.activate(y, fn, DEFAULT_ALPHA.get(fn or ""))


def run_activation(s: Step, xs):
    x = xs[0] if s.inplace else xs[0].copy()
    return K.activate(x, s.layer.function, s.layer.slope)


def run_lrn(s: Step, xs):
    layer = s.layer
    return by_batch(s, lambda x, out: K.lrn(x, layer.size, layer.k, layer.alpha, layer.beta,
                                            alpha_over_n=layer.alpha_over_n, out=out), xs[0])


def run_batchnorm(s: Step, xs):
    p = s.params
    return K.batchnorm(xs[0], p["gamma"], p["beta"], p["moving_mean"], p["moving_variance"], s.layer.eps)


def run_add(s: Step, xs):
    y = s.new()
    np.add(xs[0], xs[1], out=y)
    for x in xs[2:]:
        y += x
    return y


def run_concat(s: Step, xs):
    axis = s.layer.axis % (xs[0].ndim - 1) + 1
    return np.concatenate(xs, axis=axis, out=s.new())


KERNELS: dict[str, Callable[[Step, list], np.ndarray]] = {
    "conv": run_conv,
    "maxpool": run_maxpool,
    "avgpool": run_avgpool,
    "global_avgpool": lambda s, xs: K.global_avgpool(xs[0]),
    "global_maxpool": lambda s, xs: K.global_maxpool(xs[0]),
    "dense": run_dense,
    "flatten": lambda s, xs: K.flatten(xs[0]),
    "dropout": lambda s, xs: xs[0],  # identity at inference
    "lrn": run_lrn,
    "batchnorm": run_batchnorm,
    "activation": run_activation,
    "add": run_add,
    "concat": run_concat,
}


# --- the pass ----------------------------------------------------------------------------

def _dtype(dtype: Any) -> np.dtype:
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in DTYPES:
        raise SpecError(f"dtype must be float32 or float64, got {dtype!r}", field="dtype")
    return DTYPES[key]


def check_input(network: Network, x: Any) -> np.ndarray:
    """x as an array of shape (N, *input_shape) of real numbers, or a ShapeError that says what was expected."""
    x = np.asarray(x)
    want = tuple(network.input_shape)
    if x.dtype.kind not in "fiub":
        raise ShapeError(f"input holds {x.dtype}, not numbers", field="input", file=network.file)
    if x.shape[1:] != want or x.ndim == 0:
        hint = None
        if x.shape == want:
            hint = "add a batch axis first: x[None] has shape (1, " + ", ".join(map(str, want)) + ")"
        raise ShapeError(f"input has shape {tuple(x.shape)}, the spec needs (N, {', '.join(map(str, want))}) "
                         "(batch first, channels last)", field="input", hint=hint, file=network.file)
    if x.shape[0] < 1:
        raise ShapeError("input batch is empty", field="input", file=network.file)
    return x


def forward(network: Network, x: Any, params: Mapping[str, Mapping[str, Any]], dtype: Any = "float32",
            return_all: bool = False, on_layer: Callable[[LayerRow, np.ndarray], None] | None = None,
            report: Report | None = None):
    """Run the net on x (N, *input_shape); the last layer's output, or {layer name: output} with return_all.

    ``on_layer(row, y)`` is called after each layer with its output; without
    return_all the array's memory is reused later, so copy what you keep.
    """
    dt = _dtype(dtype)
    report = report or analyze(network)
    check_params(network, params, report)
    x = check_input(network, x)
    cast = {name: {k: np.ascontiguousarray(v, dtype=dt) for k, v in entry.items()} for name, entry in params.items()}
    x = np.ascontiguousarray(x, dtype=dt)
    batch = x.shape[0]
    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        for ref in layer.inputs:
            last_use[ref] = i
    final = network.layers[-1].name
    arena = Arena(recycle=not return_all, foreign=[x])
    arena.put("input", x)
    for row in report.rows:
        i, name = row.index, row.name
        inputs = row.inputs
        xs = [arena.values[ref] for ref in inputs]
        inplace = (len(inputs) == 1 and last_use.get(inputs[0]) == i and arena.sole_user(inputs[0]))
        step = Step(row, cast.get(name, {}), arena, dt, batch, inplace)
        y = KERNELS[row.type](step, xs)
        want = (batch, *row.output_shape)
        if y.shape != want or y.dtype != dt:
            raise EngineShapeError(
                f"the engine produced {tuple(y.shape[1:])} {y.dtype} but the calculator (archcalc show) says "
                f"{tuple(row.output_shape)} {dt}: a bug, please report it", layer_index=i, layer_name=name,
                file=network.file)
        arena.put(name, y)
        if on_layer is not None:
            on_layer(row, y)
        if not return_all:
            if name not in last_use and name != final:  # an output nobody reads
                arena.drop(name)
            for ref in set(inputs):
                if last_use.get(ref) == i and ref != final:
                    arena.drop(ref)
    if return_all:
        return {row.name: arena.values[row.name] for row in report.rows}
    return arena.values[final]


# --- memory ------------------------------------------------------------------------------

@dataclass
class MemoryEstimate:
    """Bytes a forward pass needs at its peak: live activations, parameters, convolution scratch."""

    activations: int
    params: int
    scratch: int

    @property
    def total(self) -> int:
        return self.activations + self.params + self.scratch


def estimate_memory(network: Network, batch: int = 1, dtype: Any = "float32", keep_all: bool = False,
                    report: Report | None = None) -> MemoryEstimate:
    """Peak bytes of ``forward``: activations live at once x batch x dtype size, + params, + conv scratch.

    Params count float32 (as stored) plus a cast copy for float64.  Scratch is the
    padded input and the unfolded (im2col / Winograd) chunk of the largest conv.
    """
    dt = _dtype(dtype)
    report = report or analyze(network)
    totals = report.totals
    elems = totals.input_elements + totals.activation_elements if keep_all else totals.peak_activation_elements
    params = totals.params * 4 + (totals.params * dt.itemsize if dt.itemsize != 4 else 0)
    scratch = max((SCRATCH[row.type](row, batch, dt.itemsize) for row in report.rows if row.type in SCRATCH),
                  default=0)
    return MemoryEstimate(elems * batch * dt.itemsize, params, scratch)


def _padded_bytes(row: LayerRow, batch: int, itemsize: int) -> int:
    """The padded copy of a window layer's input."""
    return math.prod(a.n + a.pb + a.pa for a in row.axes) * row.input_shapes[0][-1] * batch * itemsize


def _conv_scratch(row: LayerRow, batch: int, itemsize: int) -> int:
    """The padded input plus the unfolded (im2col) or Winograd chunk; twice that with groups."""
    c_in = row.input_shapes[0][-1]
    taps = math.prod(a.f for a in row.axes)
    unfolded = math.prod(row.output_shape[:-1]) * batch * taps * (c_in // row.layer.groups) * itemsize
    line = unfolded // max(1, batch * row.output_shape[0])
    chunk = min(unfolded, max(K.IM2COL_CHUNK_BYTES, line))
    wino = 3 * K.WINOGRAD_CHUNK_BYTES * max(1, row.output_shape[-1] // max(1, c_in))
    work = max(chunk, wino if taps == 9 else 0) * (2 if row.layer.groups > 1 else 1)
    return _padded_bytes(row, batch, itemsize) + work


#: bytes a kind's kernel allocates besides its output, by `type` tag (kinds not listed: none)
SCRATCH: dict[str, Callable[[LayerRow, int, int], int]] = {
    "conv": _conv_scratch,
    "maxpool": _padded_bytes,
    "avgpool": _padded_bytes,
}
