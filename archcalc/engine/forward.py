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
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..analysis import LayerRow, Report, analyze
from ..errors import ShapeError, SpecError, brief, listing
from ..layers import REGISTRY
from ..layers.fields import DEFAULT_ALPHA
from ..spec import Network
from . import compiled
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
    """Glorot-uniform weights and zero biases (Keras' defaults), float32; batchnorm and layernorm gamma 1, beta 0,
    mean 0, variance 1; scale's gamma its `init`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"init_params: seed must be an int, got {type(seed).__name__} {brief(seed)}")
    if not 0 <= seed < 2**128:
        raise SpecError(f"seed must be a whole number from 0 to 2**128 - 1, got {brief(int(seed))}", field="seed")
    rng = np.random.default_rng(int(seed))
    params: dict[str, dict[str, np.ndarray]] = {}
    layers = {layer.name: layer for layer in network.layers}
    for name, shapes in param_shapes(network).items():
        entry = {}
        for key, shape in shapes.items():
            if key == "weight":
                entry[key] = _glorot_uniform(rng, shape)
            elif key in ("gamma", "moving_variance"):  # scale's gamma starts at its `init`
                entry[key] = np.full(shape, getattr(layers[name], "init", 1.0), np.float32)
            else:
                entry[key] = np.zeros(shape, np.float32)
        params[name] = entry
    return params


def check_params(network: Network, params: Mapping[str, Mapping[str, Any]], report: Report | None = None,
                 file: str | None = None) -> None:
    """Every layer's arrays present, none unknown, each of the spec's shape; else ParamsError naming layer and key."""
    _check_params_types(params)
    expected = param_shapes(network, report)
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    for name in params:
        if name not in expected:
            known = listing(expected) or "none"
            what = "has no parameters" if name in index else "is not a layer of the spec"
            raise ParamsError(f"parameters given for {brief(name)}, which {what} (layers with parameters: {known})",
                              file=file, layer_name=name, layer_index=index.get(name))
    for name, shapes in expected.items():
        entry = params.get(name)
        if entry is None:
            raise ParamsError(f"no parameters for this layer (expected {', '.join(shapes)})", file=file,
                              layer_index=index[name], layer_name=name)
        for key in entry:
            if key not in shapes:
                raise ParamsError(f"unknown parameter {brief(key)} (this layer has {', '.join(shapes)})", file=file,
                                  layer_index=index[name], layer_name=name)
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


def _check_params_types(params: Any) -> None:
    """TypeError, saying what was expected, when params is not {layer name: {key: array}}."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping {{layer name: {{key: array}}}} (archcalc.init_params(network) "
                        f"makes one), got {type(params).__name__}")
    for name, entry in params.items():
        if not isinstance(entry, Mapping):
            raise TypeError(f"params[{brief(name)}] must be a mapping {{key: array}}, got {type(entry).__name__}")


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


def run_maxpool(s: Step, xs):
    kernel, stride, pads, dilation, out_spatial = s.geometry()
    return K.maxpool(xs[0], kernel, stride, pads, dilation, out_spatial, s.new())


def run_avgpool(s: Step, xs):
    kernel, stride, pads, dilation, out_spatial = s.geometry()
    if s.layer.count_include_pad and any(p != (0, 0) for p in pads):
        return K.avgpool_include_pad(xs[0], kernel, stride, pads, dilation, out_spatial, s.new())
    return K.avgpool(xs[0], kernel, stride, pads, dilation, out_spatial, s.new())


def run_dense(s: Step, xs):
    return dense(xs[0], s.params["weight"], s.params.get("bias"), s.layer.activation, s.new())


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, activation: str | None, out: np.ndarray,
          prepared: dict | None = None) -> np.ndarray:
    """out = activation(x, each sample flattened, @ w + b).  With ``prepared`` (the fused plan's dense step keeps
    one), a few rows go to the narrow kernels, their packed weights kept there (``kernels.dense_narrow``)."""
    x = x.reshape(x.shape[0], -1)
    if prepared is None or out.ndim != 2 or not K.dense_narrow(x, w, b, out, prepared):
        K.matmul(x, w, out=out)
        if b is not None:
            out += b
    return K.activate(out, activation, DEFAULT_ALPHA.get(activation or ""))


def run_activation(s: Step, xs):
    x = xs[0] if s.inplace else xs[0].copy()
    return K.activate(x, s.layer.function, s.layer.setting)


def run_lrn(s: Step, xs):
    layer = s.layer
    return K.lrn(xs[0], layer.size, layer.k, layer.alpha, layer.beta, alpha_over_n=layer.alpha_over_n, out=s.new())


def run_batchnorm(s: Step, xs):
    p = s.params
    return K.batchnorm(xs[0], p["gamma"], p["beta"], p["moving_mean"], p["moving_variance"], s.layer.eps,
                       out=s.new())


def run_add(s: Step, xs):
    if any(x.shape != xs[0].shape for x in xs[1:]):
        return K.add_broadcast(xs)
    y = s.new()
    np.add(xs[0], xs[1], out=y)
    for x in xs[2:]:
        y += x
    return y


def run_concat(s: Step, xs):
    axis = s.layer.axis % (xs[0].ndim - 1) + 1
    return np.concatenate(xs, axis=axis, out=s.new())


def run_conv_transpose(s: Step, xs):
    axes, layer = s.row.axes, s.layer
    y = K.conv_transpose(xs[0], s.params["weight"], s.params.get("bias"), tuple(a.s for a in axes),
                         tuple((a.pb, a.pa) for a in axes), layer.output_padding, tuple(a.d for a in axes),
                         layer.groups, tuple(a.out for a in axes))
    fn = layer.activation
    return K.activate(y, fn, DEFAULT_ALPHA.get(fn or ""))


def run_crop(s: Step, xs):
    from ..layers.crop import row_crops

    return np.ascontiguousarray(K.crop(xs[0], row_crops(s.row)))


def run_embedding(s: Step, xs):
    try:
        return K.embedding(xs[0], s.params["weight"])
    except ValueError as exc:  # ids that are not whole numbers or lie outside the table
        raise ShapeError(f"embedding input must be integer token ids in [0, {s.layer.vocab}): "
                         f"{str(exc).split(': ', 1)[-1]}", field="input", layer_index=s.row.index,
                         layer_name=s.row.name) from None


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
    "conv_transpose": run_conv_transpose,
    "upsample": lambda s, xs: K.upsample(xs[0], s.layer.scale, s.layer.mode),
    "pad": lambda s, xs: K.pad(xs[0], s.layer.padding, s.layer.value),
    "crop": run_crop,
    "slice": lambda s, xs: np.ascontiguousarray(K.take_slice(xs[0], s.layer.axis, s.layer.start, s.layer.stop)),
    "channel_shuffle": lambda s, xs: K.channel_shuffle(xs[0], s.layer.groups, s.new()),
    "embedding": run_embedding,
    "adaptive_avgpool": lambda s, xs: K.adaptive_avgpool(xs[0], s.layer.output),
    "adaptive_maxpool": lambda s, xs: K.adaptive_maxpool(xs[0], s.layer.output),
    "layernorm": lambda s, xs: K.layernorm(xs[0], s.params["gamma"], s.params["beta"], s.layer.eps, s.new()),
    "scale": lambda s, xs: K.scale(xs[0], s.params["gamma"], s.params.get("beta")),
    "multiply": lambda s, xs: K.multiply(xs, s.new()),
}


# --- the pass ----------------------------------------------------------------------------

def _dtype(dtype: Any) -> np.dtype:
    try:
        key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except (TypeError, ValueError):
        key = None
    if key not in DTYPES:
        raise SpecError(f"dtype must be float32 or float64, got {brief(dtype)}", field="dtype")
    return DTYPES[key]


def token_ids(network: Network) -> bool:
    """True when the net's input is token ids read by an embedding (kept as integers, never cast to float)."""
    return any(layer.type == "embedding" for layer in network.layers)


def random_input(network: Network, batch: int, seed: int) -> np.ndarray:
    """A random input batch: standard normal float32, or uniform token ids in [0, vocab) for an embedding net."""
    rng = np.random.default_rng(seed)
    shape = (batch, *network.input_shape)
    vocab = [getattr(layer, "vocab") for layer in network.layers if layer.type == "embedding"]
    if vocab:
        return rng.integers(0, min(vocab), size=shape, dtype=np.int64)
    return rng.standard_normal(shape, dtype=np.float32)


def check_input(network: Network, x: Any) -> np.ndarray:
    """x as an array of shape (N, *input_shape) of real numbers (integer token ids for a net that starts with an
    embedding), or a ShapeError that says what was expected."""
    x = np.asarray(x)
    want = tuple(network.input_shape)
    if x.dtype.kind not in "fiub":
        raise ShapeError(f"input holds {x.dtype}, not numbers", field="input", file=network.file)
    if token_ids(network):
        if x.dtype.kind not in "iu":
            raise ShapeError(f"embedding input must be integer token ids, got {x.dtype}", field="input",
                             file=network.file, hint="save the ids as an integer array, e.g. np.int64")
        readers = {layer.type for layer in network.layers if "input" in layer.inputs}
        if readers != {"embedding"}:
            raise ShapeError("the input holds token ids: only embedding layers may read it, not "
                             f"{', '.join(sorted(readers - {'embedding'}))}", field="inputs", file=network.file)
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
    x = np.ascontiguousarray(x) if token_ids(network) else np.ascontiguousarray(x, dtype=dt)
    batch = x.shape[0]
    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        for ref in layer.inputs:
            last_use[ref] = i
    final = network.layers[-1].name
    arena = Arena(recycle=not return_all, foreign=[x])
    arena.put("input", x)
    with K.one_blas_thread():
        _run_layers(network, report, cast, dt, batch, arena, last_use, final, return_all, on_layer)
    if return_all:
        return {row.name: arena.values[row.name] for row in report.rows}
    return arena.values[final]


def _run_layers(network: Network, report: Report, cast, dt: np.dtype, batch: int, arena: Arena,
                last_use: dict[str, int], final: str, return_all: bool,
                on_layer: Callable[[LayerRow, np.ndarray], None] | None) -> None:
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


# --- memory ------------------------------------------------------------------------------
#
# The estimate is an upper bound of what ``forward`` allocates, built from the same decisions the pass makes:
# which layer's output comes from the arena, which is a view of its input, which is changed in place; when each
# value dies and its buffer goes to the free list (and stays held until the pass ends); and what each kernel
# allocates besides its output.  Kernel scratch is of two sorts: workspaces (`kernels._workspace`, kept per thread
# and per role for the life of the thread, so they add up across layers) and temporaries (freed when the layer
# returns).  tests/properties/test_engine_memory.py holds the bound against tracemalloc on random specs.

@dataclass
class MemoryEstimate:
    """Bytes a forward pass needs at its peak: live and recycled activations, parameters, kernel scratch."""

    activations: int
    params: int
    scratch: int
    overhead: int = 0  # the interpreter, numpy and Python objects of the pass

    @property
    def total(self) -> int:
        return self.activations + self.params + self.scratch + self.overhead


@dataclass
class Scratch:
    """What one layer's kernel allocates besides its output: workspaces by (thread, role), and temporaries."""

    workspace: dict[tuple[str, str], int]
    transient: int = 0


#: How each kind's kernel entry produces its output: "arena" (`Step.new`), "view" (of its single input, no
#: memory), "inplace" (its input's buffer when the pass owns it, else a fresh copy), "fresh" (a new array).
#: Kinds not listed are taken as "fresh" with temporaries of twice input plus output (`_unknown_scratch`).
OUTPUT: dict[str, str] = {
    "conv": "arena", "maxpool": "arena", "avgpool": "arena", "dense": "arena", "lrn": "arena",
    "batchnorm": "arena", "add": "arena", "concat": "arena", "channel_shuffle": "arena",
    "flatten": "view", "dropout": "view", "activation": "inplace",
    "global_avgpool": "fresh", "global_maxpool": "fresh",
}


def estimate_memory(network: Network, batch: int = 1, dtype: Any = "float32", keep_all: bool = False,
                    report: Report | None = None, input_dtype: Any = None,
                    params_bytes: int | None = None) -> MemoryEstimate:
    """An upper bound of the bytes ``forward`` holds at its peak (numpy allocations; Python's own are small).

    activations: the input (and its cast copy when `input_dtype` differs from `dtype`), every layer output and the
    arena's free buffers, replayed layer by layer as ``forward`` allocates and frees them.  params: float32 as
    stored (or `params_bytes`, what the caller's arrays take) plus a cast copy for another dtype.  scratch: every
    kernel workspace at its largest, plus the largest temporary of any one layer (and of the top-5 step).
    """
    dt = _dtype(dtype)
    report = report or analyze(network)
    itemsize = dt.itemsize
    input_bytes = math.prod(network.input_shape) * batch * itemsize
    if input_dtype is not None and np.dtype(input_dtype) != dt:
        input_bytes += math.prod(network.input_shape) * batch * np.dtype(input_dtype).itemsize
    params = params_bytes if params_bytes is not None else report.totals.params * (4 + (itemsize if itemsize != 4 else 0))
    workspace: dict[tuple[str, str], int] = {}
    transients = [top_k_scratch(math.prod(report.rows[-1].output_shape), itemsize) if is_classifier(report) else 0]
    for row in report.rows:
        need = SCRATCH.get(row.type, _unknown_scratch)(row, batch, itemsize)
        for key, size in need.workspace.items():
            workspace[key] = max(workspace.get(key, 0), size)
        transients.append(need.transient)
    kept = sum(size * (K.workers() if where == "pool" else 1) for (where, _), size in workspace.items())
    activations = _replay(report, batch, itemsize, input_bytes, keep_all)
    overhead = OVERHEAD + (compiled.RUNTIME_BYTES if compiled.will_load(dt) else 0)
    return MemoryEstimate(activations, params, kept + max(transients), overhead)


#: A fixed allowance for what is not arrays: the interpreter with numpy and the other libraries loaded (about
#: 50 MB resident) and Python's own allocations during a pass (steps, views, the thread pool).
OVERHEAD = 64 * 2**20


def params_footprint(params: Mapping[str, Mapping[str, Any]], dtype: Any = "float32") -> int:
    """Bytes the caller's parameter arrays take, plus the contiguous `dtype` copies ``forward`` makes of them."""
    dt = _dtype(dtype)
    total = 0
    for entry in params.values():
        for arr in entry.values():
            a = np.asarray(arr)
            total += a.nbytes
            if a.dtype != dt or not a.flags.c_contiguous:
                total += a.size * dt.itemsize
    return total


def _replay(report: Report, batch: int, itemsize: int, input_bytes: int, keep_all: bool) -> int:
    """The most bytes of activation buffers (live or on the arena's free list) ``forward`` holds at once.

    Mirrors ``forward`` and ``Arena`` step by step on sizes alone: same inplace test, same reuse of the smallest
    free buffer that fits, same drops.
    """
    rows = report.rows
    last_use: dict[str, int] = {}
    for row in rows:
        for ref in row.inputs:
            last_use[ref] = row.index
    final = rows[-1].name
    recycle = not keep_all
    size: dict[int, int] = {0: input_bytes}  # buffer id -> bytes
    users: Counter[int] = Counter({0: 1})
    where = {"input": 0}  # value -> buffer id
    free: list[int] = []  # buffer ids
    held = peak = input_bytes

    def fresh(nbytes: int) -> int:
        nonlocal held
        size[len(size)] = nbytes
        held += nbytes
        return len(size) - 1

    def drop(name: str) -> None:
        nonlocal held
        buf = where.pop(name)
        users[buf] -= 1
        if users[buf] == 0:
            del users[buf]
            if recycle and buf != 0 and size[buf] >= 2**16:
                free.append(buf)
            elif buf != 0:
                held -= size[buf]

    for row in rows:
        nbytes = math.prod(row.output_shape) * batch * itemsize
        mode = OUTPUT.get(row.type, "fresh")
        inplace = (len(row.inputs) == 1 and last_use.get(row.inputs[0]) == row.index and recycle
                   and where[row.inputs[0]] != 0 and users[where[row.inputs[0]]] == 1)
        if mode == "view" or (mode == "inplace" and inplace):
            buf = where[row.inputs[0]]
        elif mode == "arena" and nbytes and any(size[b] >= nbytes for b in free):
            buf = min((b for b in free if size[b] >= nbytes), key=lambda b: size[b])
            free.remove(buf)
        else:
            buf = fresh(nbytes)
        peak = max(peak, held)
        where[row.name] = buf
        users[buf] += 1
        if recycle:
            if row.name not in last_use and row.name != final:
                drop(row.name)
            for ref in set(row.inputs):
                if last_use.get(ref) == row.index and ref != final:
                    drop(ref)
    return peak


def is_classifier(report: Report) -> bool:
    """Last layer ends in softmax, or the output is one vector per sample (`run` then lists the top 5)."""
    last = report.rows[-1]
    fn = getattr(last.layer, "activation", None) or getattr(last.layer, "function", None)
    return fn == "softmax" or len(last.output_shape) == 1


def top_k_scratch(classes: int, itemsize: int) -> int:
    """What `run.top_k` allocates for one chunk: masks, copies of the scores, partition's work, indices."""
    chunk = min(classes, TOP_K_CHUNK)
    return chunk * (4 + 3 * itemsize + 16) + 2**12


#: `run.top_k` looks at this many scores of a sample at a time.
TOP_K_CHUNK = 2**18


def _padded_bytes(row: LayerRow, batch: int, itemsize: int) -> int:
    """The padded copy of a window layer's input (`kernels._pad`), windows past the end in ceil mode included."""
    cells = math.prod(max(a.pb + a.n, (a.out - 1) * a.s + a.d * (a.f - 1) + 1) for a in row.axes)
    return cells * row.input_shapes[0][-1] * batch * itemsize


def _chunk_bytes(batch: int, out_spatial: tuple[int, ...], row_bytes: int, limit: int) -> int:
    """The largest block `kernels._chunks` yields, in bytes of `row_bytes` per output position."""
    per_line = math.prod(out_spatial[1:]) * row_bytes
    total = batch * out_spatial[0] * per_line
    return min(total, max(limit, per_line))


def _conv_transpose_scratch(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    """The per-tap products (input positions x taps x filters), the uncropped output, the activation's."""
    taps = math.prod(a.f for a in row.axes)
    full = math.prod(max((a.n - 1) * a.s + a.d * (a.f - 1) + 1, a.pb + a.out) for a in row.axes)
    cols = math.prod(row.input_shapes[0][:-1]) * taps * row.output_shape[-1]
    act = _activation_transient(row.layer.activation, math.prod(row.output_shape) * batch, row.output_shape[-1],
                                itemsize)
    return Scratch({}, (cols + full * row.output_shape[-1]) * batch * itemsize + act)


def _activation_transient(fn: str | None, elements: int, channels: int, itemsize: int) -> int:
    """Temporaries of `kernels.activate` on `elements` values: a mask (leaky_relu, elu), a reduction (softmax);
    gelu's per chunk and thread: the tanh form's inner term, or in float64 math.erf through an object array
    (a pointer and a Python float per value) and its float copies."""
    if fn in ("leaky_relu", "elu"):
        return elements
    if fn == "softmax":
        return elements // max(1, channels) * itemsize
    if fn == "gelu":
        return _activation_chunk(elements, channels) * (itemsize + (8 + 32 + 8 if itemsize == 8 else 0)) * K.workers()
    return 0


#: The workspaces (`kernels._workspace` roles) of the heavy activations computed in place in float32.
_ACTIVATION_ROLES = {"gelu": ("act", "act_z", "act_p", "act_t"), "silu": ("act",), "hardswish": ("act",)}


def _activation_chunk(elements: int, channels: int) -> int:
    """The most values one call of an activation function gets from `kernels.activate` (a chunk, or the whole
    array when it is at most two chunks, or one row of the last axis when a row is longer than a chunk)."""
    return min(elements, max(2 * K.ACTIVATION_CHUNK, channels))


def _activation_workspaces(fn: str | None, elements: int, channels: int, itemsize: int) -> dict[tuple[str, str], int]:
    """Those workspaces at one chunk each, in the calling thread and in each pool thread."""
    size = _activation_chunk(elements, channels) * itemsize
    return {(where, role): size for role in _ACTIVATION_ROLES.get(fn or "", ()) for where in ("main", "pool")}


def _conv_scratch(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    """im2col: the padded input and one unfolded chunk (workspaces); Winograd: its tiles and transforms; groups:
    the gathered block, its product and a reordered copy of the weights (temporaries); plus the activation's."""
    layer = row.layer
    c_in, filters = row.input_shapes[0][-1], row.output_shape[-1]
    axes = row.axes
    out_spatial = tuple(a.out for a in axes)
    taps = math.prod(a.f for a in axes)
    groups = layer.groups
    out_elems = math.prod(row.output_shape) * batch
    fn = getattr(layer, "activation", None)
    act = _activation_transient(fn, out_elems, filters, itemsize)
    ws = _activation_workspaces(fn, out_elems, filters, itemsize)
    if (taps == 1 and all(a.s == 1 and a.pb == 0 and a.pa == 0 for a in axes) and groups == 1
            and out_spatial == tuple(a.n for a in axes)):
        return Scratch(ws, act)  # 1x1: a plain product into the output
    ws[("main", "pad")] = _padded_bytes(row, batch, itemsize)
    weights = taps * (c_in // groups) * filters * itemsize
    kernel = tuple(a.f for a in axes)
    # Winograd or not depends on the path (float32 with the compiled kernels and its chunks spread takes it from
    # fewer channels, and fewer still where the narrow kernels run, ``kernels.winograd_tile``): any may run, so each
    # is counted
    m, fast, by_narrow = (K.winograd_tile(kernel, c_in, filters, tuple(a.s for a in axes), tuple(a.d for a in axes),
                                          groups, out_spatial, fast=f, narrow_gemm=n)
                          for f, n in ((False, False), (True, False), (True, True)))
    width = taps * (c_in // groups) * itemsize
    if (m is None or by_narrow is None) and groups == 1:
        ws[("main", "cols")] = ws[("pool", "cols")] = _chunk_bytes(batch, out_spatial, width, K.IM2COL_CHUNK_BYTES)
    tiles_used = sorted({t for t in (m, fast, by_narrow) if t is not None})
    for tile in tiles_used:  # the largest of each workspace over the tiles that may run
        (m_h, a_h), (m_w, a_w) = K.winograd_axes(kernel, tile)
        a2 = a_h * a_w
        th, tw = -(-out_spatial[0] // m_h), -(-out_spatial[1] // m_w)
        ws[("main", "pad")] = max(ws[("main", "pad")],
                                  batch * (m_h * th + a_h - m_h) * (m_w * tw + a_w - m_w) * c_in * itemsize)
        per_tile = a2 * c_in * itemsize
        tiles = max(_chunk_bytes(batch, (th, tw), per_tile, K.WINOGRAD_CHUNK_BYTES),  # numpy's, the compiled path's
                    _chunk_bytes(batch, (th, tw), per_tile, K.WINOGRAD_CHUNK_TILES * per_tile))
        products = tiles // c_in * filters  # M: a^2 x tiles x F; Y: m^2/a^2 of it
        spread = a2 * 32 * itemsize  # each point's start a spread_stride apart (compiled.winograd_narrow)
        for where in ("main", "pool"):  # chunks run in the caller or on the pool
            for key, size in (("cols", tiles), ("wino_v", tiles + spread), ("wino_m", products + spread),
                              ("wino_y", products * m_h * m_w // a2 + 1)):
                ws[(where, key)] = max(ws.get((where, key), 0), size)
    if tiles_used:
        a2 = max(math.prod(a for _, a in K.winograd_axes(kernel, t)) for t in tiles_used)
        # U = G w G^T: the weights in float64, the product and its cast (a2 / taps of the weights each)
        return Scratch(ws, weights * (3 - (-3 * a2 // taps)) + act)
    if groups == 1:
        return Scratch(ws, act)
    block = _chunk_bytes(batch, out_spatial, 2 * width, K.IM2COL_CHUNK_BYTES) // 2 * groups
    product = block // (taps * c_in) * filters
    return Scratch(ws, block + product + weights + act)


def _kernel_threads(row: LayerRow, batch: int, itemsize: int) -> str:
    """Where the workspaces of a kernel that splits its own blocks (`kernels.run_blocks`) live: the "main"
    thread, or each of the kernel pool's threads."""
    out_bytes = math.prod(row.output_shape) * batch * itemsize
    return "pool" if K.workers() >= 2 and out_bytes >= K.PARALLEL_MIN_OUT_BYTES else "main"


def _pool_scratch(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    """The blocks reduced over their first axes, or at stride 1 (per thread); average pooling's divisors."""
    where = "pool" if K.pool_threads(math.prod(row.output_shape) * batch * itemsize) > 1 else "main"
    spatial, out_spatial = tuple(a.n for a in row.axes), tuple(a.out for a in row.axes)
    ws = K.pool_workspaces(batch, spatial, out_spatial, tuple(a.f for a in row.axes), tuple(a.s for a in row.axes),
                           row.input_shapes[0][-1], itemsize)
    counts = math.prod(a.out for a in row.axes) * (2 * 8 + itemsize) if row.type == "avgpool" else 0
    return Scratch({(where, role): size for role, size in ws.items()}, counts)


def _lrn_scratch(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    """The scaled squares of one block of positions (per thread)."""
    channels = row.input_shapes[0][-1]
    positions = math.prod(row.input_shapes[0][:-1]) * batch
    rows = min(positions, K.lrn_block_rows(channels, itemsize))
    return Scratch({(_kernel_threads(row, batch, itemsize), "lrn"): rows * channels * itemsize})


def _dense_scratch(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    """The activation's; and where the fused plan may take the narrow kernels (``kernels.dense_narrow``), the
    weights it keeps packed, counted as kept for the pass (whether the kernels run here or not: an upper bound)."""
    scratch = _activation_scratch(row, batch, itemsize, row.layer.activation)
    inner, columns = math.prod(row.input_shapes[0]), row.output_shape[-1]
    if (itemsize == 4 and compiled.expected(np.float32) and batch <= K.DENSE_NARROW_MAX_ROWS
            and K.DENSE_NARROW_MIN_WEIGHTS <= inner * columns <= K.DENSE_NARROW_MAX_WEIGHTS):
        scratch.workspace[("main", f"dense {row.name}")] = K.dense_packed_bytes(inner, columns)
    return scratch


def _activation_scratch(row: LayerRow, batch: int, itemsize: int, fn: str | None = None) -> Scratch:
    elems, channels = math.prod(row.output_shape) * batch, row.output_shape[-1]
    fn = fn if fn is not None else getattr(row.layer, "function", None)
    return Scratch(_activation_workspaces(fn, elems, channels, itemsize),
                   _activation_transient(fn, elems, channels, itemsize))


def _none(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    return Scratch({})


def _unknown_scratch(row: LayerRow, batch: int, itemsize: int) -> Scratch:
    """A kind without an entry below: temporaries of twice its inputs plus its output, to stay an upper bound."""
    elems = sum(math.prod(s) for s in row.input_shapes) * 2 + math.prod(row.output_shape)
    return Scratch({}, elems * batch * itemsize)


#: what a kind's kernel allocates besides its output, by `type` tag (kinds not listed: `_unknown_scratch`)
SCRATCH: dict[str, Callable[[LayerRow, int, int], Scratch]] = {
    "conv_transpose": _conv_transpose_scratch,
    "conv": _conv_scratch,
    "maxpool": _pool_scratch,
    "avgpool": _pool_scratch,
    "lrn": _lrn_scratch,
    "channel_shuffle": _none,
    "dense": _dense_scratch,
    "activation": _activation_scratch,
    "batchnorm": _none,
    "add": _none,
    "concat": _none,
    "flatten": _none,
    "dropout": _none,
    "global_avgpool": _none,
    "global_maxpool": _none,
}
