"""An inference plan: a spec and its weights compiled once into fused steps that ``forward`` runs and reuses.

``compile_plan`` walks the calculator's rows once and

- folds a batchnorm (or ``scale``) that directly follows a conv into the conv's
  weights and bias (computed in float64, then cast): w' = w * g / sqrt(v + eps),
  b' = (b - mean) * g / sqrt(v + eps) + beta;
- fuses what follows a conv into its output epilogue, applied to each block of
  output rows while the block is in cache: activations, residual ``add`` (the
  other inputs added cell by cell), activations after the add.  A layer is fused
  only when the conv's chain is its sole input and nothing else reads the chain's
  intermediate outputs;
- folds a multiply of a map by a per-channel gate (squeeze-and-excitation) into the 1x1 conv that alone
  reads it: the conv scales its weights per sample (``kernels.pointwise``) and reads the map once;
- folds a batchnorm (and the activations after it) that only a 1x1 conv reads into that conv as a prologue
  (DenseNet's pre-activation): each block of the conv's input is transformed in cache and multiplied there;
- runs any other batchnorm and the activations after it as one blocked pass;
- lets a channel concat whose output feeds the next channel concat live inside
  that concat's buffer (its first channels): DenseNet's growing blocks then write
  only each layer's new channels instead of copying the whole block every layer; and
  a conv read only by a channel concat writes straight into its channels there;
- gives every activation a region of one arena by liveness: values whose
  lifetimes do not overlap share memory (greedy, largest first, lowest free
  offset).  The arena is allocated once per batch size and kept, so repeated
  passes do not page-fault fresh memory.

Every other layer kind runs through its layer-by-layer kernel entry
(``forward.KERNELS``) writing into its arena region.  The plan computes the same
function as ``forward(..., fuse=False)`` up to float rounding.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np

from ..analysis import LayerRow, Report, analyze
from ..layers.fields import DEFAULT_ALPHA
from ..spec import Network
from . import compiled
from . import kernels as K
from .forward import KERNELS, EngineShapeError, Step, _dtype, check_input, check_params, dense
from .forward import forward as layer_by_layer

#: Activations applied block by block inside an epilogue: every elementwise one of ``kernels.ACTIVATE``
#: (softmax normalises over the channels: blocks hold whole rows, but it stays a layer of its own).
FUSABLE = frozenset(K.ACTIVATE) - {"softmax"}
#: Kinds whose kernel entry returns a view of its first input (their storage is the input's).
VIEW_KINDS = frozenset({"flatten", "dropout", "crop", "slice"})
#: Folded into the conv before them: parameters -> (per-channel factor, per-channel shift).
FOLDABLE = frozenset({"batchnorm", "scale"})
ALIGN = 64

Op = tuple[str, Any, Any]  # ("act", function, alpha) | ("add", value names, None)


@dataclass
class PlanStep:
    """One step of the plan: computes ``rows[-1]``'s output from ``inputs``."""

    kind: str  # "conv" | "affine" | "concat" | "layer"
    rows: tuple[LayerRow, ...]
    inputs: tuple[str, ...]
    ops: tuple[Op, ...] = ()
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    gate: str | None = None  # a 1x1 conv of a gated map: the gate (N, C) its input was multiplied by
    # a 1x1 conv of a batchnorm's output: (factor, shift, activations) applied to each input block first
    prologue: tuple[np.ndarray, np.ndarray, tuple[Op, ...]] | None = None
    before: tuple[LayerRow, ...] = ()  # the layers folded in ahead of rows[0] (the multiply, or batchnorm + acts)
    prepared: dict = field(default_factory=dict)  # weights transformed for a kernel, once (``kernels.conv``)

    @property
    def row(self) -> LayerRow:
        return self.rows[-1]

    @property
    def name(self) -> str:
        return self.rows[-1].name


def _affine(row: LayerRow, params: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(factor, shift) per channel of a batchnorm or scale layer, in float64."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    channels = row.output_shape[-1]
    gamma = p.get("gamma", np.ones(channels))
    beta = p.get("beta", np.zeros(channels))
    if row.type == "scale":
        return gamma, beta
    factor = gamma / np.sqrt(p["moving_variance"] + row.layer.eps)
    return factor, beta - p["moving_mean"] * factor


def _act_op(row: LayerRow) -> Op | None:
    fn = row.layer.function
    return ("act", fn, row.layer.slope) if fn in FUSABLE else None


class Plan:
    """The compiled steps, the arena layout by liveness, and the arena itself (per batch size)."""

    def __init__(self, network: Network, report: Report, params: Mapping[str, Mapping[str, Any]],
                 dtype: np.dtype):
        self.network, self.report, self.dtype = network, report, dtype
        self.final = report.rows[-1].name
        self.steps = _fuse(report, params, dtype)
        self._layout()
        self._arenas: dict[int, np.ndarray] = {}
        self._views: dict[int, list[np.ndarray | None]] = {}
        self._shapes: dict[int, list[tuple[int, ...]]] = {}
        # an embedding reads the input as integer token ids: it is not cast to float
        self._token_ids = any(row.type == "embedding" and "input" in row.inputs for row in report.rows)

    # --- layout --------------------------------------------------------------------

    def _layout(self) -> None:
        """Where each value lives: a root region of the arena (+ a channel offset), the input, or its own array."""
        producer = {step.name: i for i, step in enumerate(self.steps)}
        shape = {step.name: step.row.output_shape for step in self.steps}
        readers: dict[str, list[int]] = {}
        for i, step in enumerate(self.steps):
            for ref in step.inputs:
                readers.setdefault(ref, []).append(i)
        # Values written straight into their channels of a channel concat's buffer (never the final output's:
        # that is a fresh array), so the concat copies nothing for them:
        # - a concat inside the next concat (read by that parent, or by anyone: readers see a view);
        # - a conv read only by the concat, with no residual add in its epilogue (the add's cells are found by
        #   offset in a contiguous output); conv kernels write into a channel slice (``kernels._output``), the
        #   bias and activations applied to each block in a contiguous workspace first (``kernels._product_into``).
        #   Measured neutral in time (SqueezeNet, GoogLeNet, Inception v3, DenseNet-121, within run-to-run noise)
        #   and in arena size (the peak lies elsewhere): numpy's strided copy costs what the concat's copy did.
        n_readers = {name: len(idx) for name, idx in readers.items()}
        self.placed: dict[str, tuple[str, int]] = {}
        for step in self.steps:
            if step.kind != "concat" or not _channel_axis(step.row) or step.name == self.final:
                continue
            offset = 0
            for ref in step.inputs:
                child = self.steps[producer[ref]] if ref in producer else None
                if (child is not None and ref not in self.placed and step.inputs.count(ref) == 1
                        and ((child.kind == "concat" and _channel_axis(child.row))
                             or (child.kind == "conv" and n_readers[ref] == 1 and ref != self.final
                                 and not any(op[0] == "add" for op in child.ops)))):
                    self.placed[ref] = (step.name, offset)
                offset += shape[ref][-1] if ref in shape else self.network.input_shape[-1]
        self.alias: dict[str, str] = {}  # view kinds: storage of their first input
        for step in self.steps:
            if step.kind == "layer" and step.row.type in VIEW_KINDS:
                self.alias[step.name] = step.inputs[0]

        def root(name: str) -> tuple[str, int]:
            if name in self.placed:
                parent, off = self.placed[name]
                r, base = root(parent)
                return r, base + off
            if name in self.alias:
                return root(self.alias[name])
            return name, 0

        self.root = {step.name: root(step.name) for step in self.steps}
        self.last_read = {name: max(idx) for name, idx in readers.items()}
        life: dict[str, list[int]] = {}
        for step in self.steps:
            r = self.root[step.name][0]
            if r in ("input", self.final) or r not in producer:
                continue
            first = producer[step.name]
            last = max(self.last_read.get(step.name, first), first)
            span = life.setdefault(r, [first, last])
            span[0], span[1] = min(span[0], first), max(span[1], last)
        # greedy offsets per sample: largest first, lowest offset free during its lifetime
        sizes = {r: _aligned(math.prod(shape[r]) * self.dtype.itemsize) for r in life}
        placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
        self.offsets: dict[str, int] = {}
        for r in sorted(life, key=lambda r: (-sizes[r], life[r][0])):
            first, last = life[r]
            busy = sorted((o, o + s) for o, s, f, l in placed if f <= last and first <= l)
            offset = 0
            for lo, hi in busy:
                if offset + sizes[r] <= lo:
                    break
                offset = max(offset, hi)
            self.offsets[r] = offset
            placed.append((offset, sizes[r], first, last))
        self.arena_bytes_per_sample = max((o + s for o, s, _, _ in placed), default=0)
        # after step i, drop the references to values read for the last time there
        self.frees: list[list[str]] = [[] for _ in self.steps]
        for name, i in self.last_read.items():
            if name != self.final:
                self.frees[i].append(name)
        for i, step in enumerate(self.steps):
            if step.name not in self.last_read and step.name != self.final:
                self.frees[i].append(step.name)

    def arena(self, batch: int) -> np.ndarray:
        """The arena for this batch size (allocated on first use, then kept)."""
        slab = self._arenas.get(batch)
        if slab is None:
            self._arenas.clear()  # one batch size at a time: memory is what the plan saves
            self._views.clear()
            self._shapes.clear()
            slab = self._arenas[batch] = np.empty(self.arena_bytes_per_sample * batch, np.uint8)
        return slab

    def _buffers(self, batch: int, slab: np.ndarray) -> list[np.ndarray | None]:
        """Each step's view of the arena for this batch (None for a value with an array of its own: the output),
        made on the first pass and kept with the arena (a few microseconds a step otherwise, on every pass)."""
        views = self._views.get(batch)
        if views is None:
            views = self._views[batch] = [self._in_arena(step.name, batch, slab) for step in self.steps]
        return views

    def _wants(self, batch: int) -> list[tuple[int, ...]]:
        """Each step's output shape at this batch size, made with the arena's views and kept with them."""
        wants = self._shapes.get(batch)
        if wants is None:
            wants = self._shapes[batch] = [(batch, *step.row.output_shape) for step in self.steps]
        return wants

    def _in_arena(self, name: str, batch: int, slab: np.ndarray) -> np.ndarray | None:
        """The view of the arena value ``name`` is written into, or None when it has an array of its own."""
        shape = self.steps[self._index[name]].row.output_shape
        r, channel = self.root[name]
        if r == self.final or r not in self.offsets:
            return None
        root_shape = self.steps[self._index[r]].row.output_shape
        nbytes = math.prod(root_shape) * self.dtype.itemsize * batch
        start = self.offsets[r] * batch
        whole = slab[start:start + nbytes].view(self.dtype).reshape(batch, *root_shape)
        if name == r:
            return whole
        return whole[..., channel:channel + shape[-1]]

    @property
    def _index(self) -> dict[str, int]:
        index = self.__dict__.get("_index_cache")
        if index is None:
            index = self.__dict__["_index_cache"] = {s.name: i for i, s in enumerate(self.steps)}
        return index

    # --- running ---------------------------------------------------------------------

    def run(self, x: np.ndarray, on_step: Callable[[PlanStep, np.ndarray], None] | None = None) -> np.ndarray:
        """The net's output for x (N, *input_shape), already checked, any real dtype."""
        if not self._token_ids:
            x = np.ascontiguousarray(x, dtype=self.dtype)
        batch = x.shape[0]
        slab = self.arena(batch)
        values: dict[str, np.ndarray] = {"input": x}
        start = time.perf_counter()
        with K.one_blas_thread():
            self._run_steps(batch, slab, values, on_step)
        compiled.account(time.perf_counter() - start)
        y = values[self.final]
        return np.array(y) if np.may_share_memory(y, slab) else y

    def _run_steps(self, batch: int, slab: np.ndarray, values: dict[str, np.ndarray],
                   on_step: Callable[[PlanStep, np.ndarray], None] | None) -> None:
        views = self._buffers(batch, slab)
        wants = self._wants(batch)
        dtype = self.dtype
        for i, step in enumerate(self.steps):
            xs = [values[ref] for ref in step.inputs]
            out = views[i]
            want = wants[i]
            if out is None:
                out = np.empty(want, dtype)
            y = _RUN[step.kind](self, step, xs, out, values)
            if y is not out and step.row.type not in VIEW_KINDS and np.may_share_memory(y, slab):
                raise EngineShapeError(f"the fused plan's step for '{step.name}' ({step.row.type}) returned a view "
                                       "of another value: a bug, please report it", layer_name=step.name)
            if y.shape != want or y.dtype != dtype:
                raise EngineShapeError(
                    f"the engine produced {tuple(y.shape[1:])} {y.dtype} but the calculator (archcalc show) says "
                    f"{tuple(step.row.output_shape)} {self.dtype} (fused plan): a bug, please report it",
                    layer_index=step.row.index, layer_name=step.name, file=self.network.file)
            values[step.name] = y
            if on_step is not None:
                on_step(step, y)
            for name in self.frees[i]:
                values.pop(name, None)


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _channel_axis(row: LayerRow) -> bool:
    rank = len(row.output_shape)
    return row.layer.axis % rank == rank - 1


# --- compiling ------------------------------------------------------------------------

def _fuse(report: Report, params: Mapping[str, Mapping[str, Any]], dtype: np.dtype) -> list[PlanStep]:
    rows = report.rows
    readers: dict[str, list[LayerRow]] = {}
    for row in rows:
        for ref in row.inputs:
            readers.setdefault(ref, []).append(row)
    final = rows[-1].name
    position = {row.name: i for i, row in enumerate(rows)}

    def sole_reader(name: str) -> LayerRow | None:
        users = readers.get(name, [])
        return users[0] if len(users) == 1 and name != final and users[0].inputs.count(name) == 1 else None

    absorbed: set[str] = set()
    ahead: dict[str, dict[str, Any]] = {}  # 1x1 conv -> what is folded in ahead of it (PlanStep fields)
    steps: list[PlanStep] = []
    for row in rows:
        if row.name in absorbed:
            continue
        fn = getattr(row.layer, "activation", None)
        gate = _gate(row, sole_reader)
        if gate is not None:
            reader, the_map, the_gate = gate
            ahead[reader.name] = {"inputs": (the_map, the_gate), "gate": the_gate, "before": (row,)}
            absorbed.add(row.name)
        elif row.type == "conv" and (fn in FUSABLE or fn is None):
            steps.append(_conv_chain(row, params, dtype, sole_reader, absorbed, ahead.get(row.name, {})))
        elif row.type == "batchnorm":
            factor, shift = _affine(row, params[row.name])
            chain, ops = _tail(row, sole_reader, absorbed, allow_add=False)
            conv = sole_reader(chain[-1].name)
            if conv is not None and conv.name not in ahead and _pointwise(conv) and len(row.output_shape) > 1:
                # pre-activation (DenseNet): the conv transforms each block of its input in cache
                ahead[conv.name] = {"inputs": row.inputs, "before": chain,
                                      "prologue": (factor.astype(dtype), shift.astype(dtype), ops)}
                absorbed.add(row.name)
                continue
            steps.append(PlanStep("affine", chain, row.inputs, ops, factor.astype(dtype), shift.astype(dtype)))
        elif row.type == "concat":
            steps.append(PlanStep("concat", (row,), row.inputs))
        else:
            cast = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in params.get(row.name, {}).items()}
            steps.append(PlanStep("layer", (row,), row.inputs, params=cast))
    # a fused step runs where its last layer stood: the other inputs of its adds exist by then
    steps.sort(key=lambda step: position[step.name])
    return steps


def _pointwise(row: LayerRow) -> bool:
    """A 1x1 conv, stride 1, no padding or groups, with an activation the plan fuses and a bias per filter (or
    none): a plain product per position."""
    if row.type != "conv" or row.layer.bias == "per_position":
        return False
    fn = row.layer.activation
    return (row.layer.groups == 1 and (fn in FUSABLE or fn is None)
            and all(a.f == 1 and a.s == 1 and a.d == 1 and a.pb == 0 and a.pa == 0 for a in row.axes)
            and tuple(row.output_shape[:-1]) == tuple(row.input_shapes[0][:-1]))


def _gate(row: LayerRow, sole_reader) -> tuple[LayerRow, str, str] | None:
    """(the conv, the map, the gate) when ``row`` multiplies a map by a per-channel gate (squeeze-and-excitation)
    and only a pointwise conv reads the product: the conv then scales its weights per sample instead."""
    if row.type != "multiply" or len(row.inputs) != 2 or row.inputs[0] == row.inputs[1] or len(row.output_shape) < 2:
        return None
    reader = sole_reader(row.name)
    if reader is None or not _pointwise(reader):
        return None
    channels = row.output_shape[-1]
    for the_map, the_gate, gate_shape in ((0, 1, row.input_shapes[1]), (1, 0, row.input_shapes[0])):
        if (tuple(row.input_shapes[the_map]) == tuple(row.output_shape) and gate_shape[-1] == channels
                and math.prod(gate_shape) == channels):
            return reader, row.inputs[the_map], row.inputs[the_gate]
    return None


def _conv_chain(row: LayerRow, params, dtype, sole_reader, absorbed: set[str],
                ahead: Mapping[str, Any] | None = None) -> PlanStep:
    """The conv, the batchnorm/scale layers folded into it, and the epilogue layers after them (and, ``ahead``,
    what is folded in before it: a gating multiply, or a batchnorm with its activations; their inputs are read
    in its place)."""
    ahead = ahead or {}
    p = params[row.name]
    w = np.asarray(p["weight"], dtype=np.float64)
    b = np.asarray(p["bias"], dtype=np.float64) if "bias" in p else None
    chain = [row]
    fn = row.layer.activation
    ops: tuple[Op, ...] = ()
    if fn in (None, "linear"):
        while True:
            nxt = sole_reader(chain[-1].name)
            if nxt is None or nxt.name in absorbed or nxt.type not in FOLDABLE:
                break
            factor, shift = _affine(nxt, params[nxt.name])
            w = w * factor
            b = shift if b is None else b * factor + shift
            chain.append(nxt)
            absorbed.add(nxt.name)
    else:
        ops = (("act", fn, DEFAULT_ALPHA.get(fn)),)
    more, tail_ops = _tail(chain[-1], sole_reader, absorbed, allow_add=True)
    inputs = list(ahead.get("inputs", row.inputs[:1]))
    for op in tail_ops:
        if op[0] == "add":
            inputs += [ref for ref in op[1] if ref not in inputs]
    # copies the plan owns: "later edits to the weight arrays are not seen" (``compile_plan``), and the kernels keep
    # what they derive from them (``PlanStep.prepared``)
    return PlanStep("conv", (*chain, *more[1:]), tuple(inputs), ops + tail_ops, np.array(w, dtype=dtype, order="C"),
                    None if b is None else np.array(b, dtype=dtype), gate=ahead.get("gate"),
                    prologue=ahead.get("prologue"), before=ahead.get("before", ()))


def _tail(head: LayerRow, sole_reader, absorbed: set[str], allow_add: bool):
    """Activations (and with allow_add, equal-shape adds) that only the chain feeds, in order."""
    chain: list[LayerRow] = [head]
    ops: list[Op] = []
    while True:
        nxt = sole_reader(chain[-1].name)
        if nxt is None or nxt.name in absorbed:
            break
        act = _act_op(nxt) if nxt.type == "activation" else None
        if act is not None:
            ops.append(act)
        elif (allow_add and nxt.type == "add" and len(set(nxt.input_shapes)) == 1
              and nxt.input_shapes[0] == nxt.output_shape):
            ops.append(("add", tuple(ref for ref in nxt.inputs if ref != chain[-1].name), None))
        else:
            break
        chain.append(nxt)
        absorbed.add(nxt.name)
    return tuple(chain), tuple(ops)


# --- running each kind of step ------------------------------------------------------------

def _same_cells(block: np.ndarray, out: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The cells of ``other`` at the positions ``block`` (a contiguous run of ``out``) occupies."""
    start = (block.ctypes.data - out.ctypes.data) // out.itemsize
    if not (np.may_share_memory(block, out) and 0 <= start <= out.size - block.size):
        raise AssertionError("a residual add's epilogue got a block outside its conv's output")
    return other.reshape(-1)[start:start + block.size].reshape(block.shape)


def _activate_block(block: np.ndarray, fn: str, alpha: float | None) -> None:
    K.activate(block, fn, alpha)


def _add_cells(block: np.ndarray, out: np.ndarray, others: list[np.ndarray]) -> None:
    for other in others:
        block += _same_cells(block, out, other)


def _epilogue(ops: tuple[Op, ...], out: np.ndarray, values: Mapping[str, np.ndarray]):
    """The in-place function applied to each finished block of ``out``: the ops in order, or None."""
    if not ops:
        return None
    actions: list[Callable[[np.ndarray], Any]] = []
    for kind, a, b in ops:
        if kind == "act":
            actions.append(partial(_activate_block, fn=a, alpha=b))
        else:
            actions.append(partial(_add_cells, out=out, others=[np.ascontiguousarray(values[ref]) for ref in a]))
    return _Epilogue(actions, _fused(ops, out, values))


def _fused(ops: tuple[Op, ...], out: np.ndarray, values: Mapping[str, np.ndarray]):
    """(residual cells of a block or None, (activation, alpha) or None) when the ops are an activation, one
    residual add of an array shaped as ``out``, or that add then an activation; else None."""
    adds = ops[:1] if ops[0][0] == "add" else ()
    rest = ops[len(adds):]
    if len(rest) > 1 or (rest and rest[0][0] != "act") or (adds and len(adds[0][1]) != 1):
        return None
    residual = None
    if adds:
        other = values[adds[0][1][0]]
        if other.shape != out.shape or other.dtype != out.dtype:
            return None
        residual = partial(_same_cells, out=out, other=np.ascontiguousarray(other))
    return residual, ((rest[0][1], rest[0][2]) if rest else None)


class _Epilogue:
    """The ops of a fused step, in order, on a block.  ``fused`` (``_fused``'s form: residual cells and the named
    activation, or None) lets a compiled kernel do them itself: the block finish (``kernels._Finish``), and the
    depthwise kernel when the ops are one activation (``kernels._depthwise_compiled``)."""

    __slots__ = ("actions", "fused")

    def __init__(self, actions: list[Callable[[np.ndarray], Any]], fused: Any = None) -> None:
        self.actions, self.fused = actions, fused

    def __call__(self, block: np.ndarray) -> None:
        for action in self.actions:
            action(block)


def _run_conv(plan: Plan, step: PlanStep, xs, out, values) -> np.ndarray:
    geometry = step.prepared.get("geometry")
    if geometry is None:
        geometry = step.prepared["geometry"] = _geometry(step.rows[0])
    kernel, stride, pads, dilation, out_spatial = geometry
    assert step.weight is not None
    if step.gate is not None or step.prologue is not None:
        return K.pointwise(xs[0], step.weight, step.bias, out=out, epilogue=_epilogue(step.ops, out, values),
                           gate=None if step.gate is None else values[step.gate], prologue=_prologue(step.prologue))
    return K.conv(xs[0], step.weight, step.bias, stride, pads, dilation, step.rows[0].layer.groups, out_spatial,
                  out=out, epilogue=_epilogue(step.ops, out, values), prepared=step.prepared)


def _prologue(spec: tuple[np.ndarray, np.ndarray, tuple[Op, ...]] | None):
    """The function writing factor * src + shift, then the activations, into dst; or None.  A 1x1 conv's prologue,
    and the block body of a standalone batchnorm (``_run_affine``)."""
    if spec is None:
        return None
    factor, shift, ops = spec

    activations = [(fn, alpha) for _, fn, alpha in ops]

    def transform(src: np.ndarray, dst: np.ndarray) -> None:
        K.scale_shift(src, factor, shift, dst, activations)
    return transform


def _geometry(row: LayerRow):
    axes = row.axes
    return (tuple(a.f for a in axes), tuple(a.s for a in axes), tuple((a.pb, a.pa) for a in axes),
            tuple(a.d for a in axes), tuple(a.out for a in axes))


def _run_affine(plan: Plan, step: PlanStep, xs, out, values) -> np.ndarray:
    """out = x * factor + shift, then the activations, over blocks of rows that stay in cache."""
    x = xs[0]
    assert step.weight is not None and step.bias is not None
    transform = _prologue((step.weight, step.bias, step.ops))  # its ops are activations only (no add)
    lead = x.shape[:2] if x.ndim > 2 else x.shape[:1]
    per = math.prod(x.shape[len(lead):]) * x.itemsize
    step_rows = max(1, K.DEPTHWISE_BLOCK_BYTES // max(1, per))
    blocks = [(n, r, min(r + step_rows, lead[-1])) for n in range(x.shape[0]) for r in range(0, lead[-1], step_rows)] \
        if len(lead) == 2 else [(None, r, min(r + step_rows, lead[0])) for r in range(0, lead[0], step_rows)]

    def run(where) -> None:
        n, r0, r1 = where
        index = (n, slice(r0, r1)) if n is not None else (slice(r0, r1),)
        transform(x[index], out[index])

    K.run_blocks(run, blocks, out.nbytes)
    return out


def _run_concat(plan: Plan, step: PlanStep, xs, out, values) -> np.ndarray:
    row = step.row
    axis = row.layer.axis % (xs[0].ndim - 1) + 1
    if axis != out.ndim - 1:
        return np.concatenate(xs, axis=axis, out=out)
    offset = 0
    for ref, x in zip(step.inputs, xs):
        width = x.shape[-1]
        if plan.placed.get(ref) != (step.name, offset):  # a child placed here (concat or conv) is already in place
            np.copyto(out[..., offset:offset + width], x)
        offset += width
    return out


class _Fixed:
    """The arena a layer-by-layer kernel entry sees: its ``new()`` is the plan's region for the step."""

    def __init__(self, out: np.ndarray):
        self.out = out

    def new(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if tuple(shape) != self.out.shape or dtype != self.out.dtype:
            return np.empty(shape, dtype)
        return self.out


def _run_layer(plan: Plan, step: PlanStep, xs, out, values) -> np.ndarray:
    lean = step.prepared.get("lean", _UNSET)
    if lean is _UNSET:
        lean = step.prepared["lean"] = _lean(step)
    if lean is not None:
        return lean(xs, out)
    if step.row.type == "slice" and _channel_axis(step.row):  # a view: its readers take the channels in place
        layer = step.row.layer
        return K.take_slice(xs[0], layer.axis, layer.start, layer.stop)
    s = Step(step.row, step.params, _Fixed(out), plan.dtype, out.shape[0], False)  # type: ignore[arg-type]
    return KERNELS[step.row.type](s, xs)


_UNSET = object()


def _lean(step: PlanStep) -> Callable[[list, np.ndarray], np.ndarray] | None:
    """The function (inputs, out) -> output a layer step runs by, made on its first pass with what the layer-by-layer
    entry (``forward.KERNELS``) derives on every pass (its Step, the geometry, the checks: 15-20 us, a third of a
    small pool's time); None for the kinds that take that entry.  Pools keep what the compiled pool derives from the
    shapes (``kernels.pool_prepared``): the MNIST nets' 28x28x32 2x2 pool step 45 -> 33 us, 14x14x64 34 -> 19.
    Dense layers of a few rows take the narrow kernels, weights packed once (``kernels.dense_narrow``)."""
    row, kind = step.row, step.row.type
    layer = row.layer
    if kind in ("maxpool", "avgpool") and not (kind == "avgpool" and layer.count_include_pad
                                                and any(a.pb or a.pa for a in row.axes)):
        geometry, average, cache = _geometry(row), kind == "avgpool", step.prepared
        return lambda xs, out: K.pool_prepared(xs[0], out, geometry, average, cache)
    if kind == "flatten":
        return lambda xs, out: K.flatten(xs[0])
    if kind == "dropout":  # identity at inference
        return lambda xs, out: xs[0]
    if kind == "dense" and len(row.output_shape) == 1:
        w, b, fn, prepared = step.params["weight"], step.params.get("bias"), layer.activation, step.prepared
        return lambda xs, out: dense(xs[0], w, b, fn, out, prepared)
    return None


_RUN: dict[str, Callable[..., np.ndarray]] = {
    "conv": _run_conv,
    "affine": _run_affine,
    "concat": _run_concat,
    "layer": _run_layer,
}


def compile_plan(network: Network, params: Mapping[str, Mapping[str, Any]], dtype: Any = "float32",
                 report: Report | None = None) -> Plan:
    """The fused plan of ``network`` with these weights (checked against the spec first).

    Compile once and pass it as ``forward(..., plan=plan)`` (or call ``plan.run(x)``) to run many
    batches: the folding is done once and the arena is kept between passes.  Later edits to the
    weight arrays are not seen by a compiled plan.  A plan is not for two threads at once.
    """
    dt = _dtype(dtype)
    report = report or analyze(network)
    check_params(network, params, report)
    return Plan(network, report, params, dt)


def forward(network: Network, x: Any, params: Any, dtype: Any = "float32",
            return_all: bool = False, on_layer: Callable[[LayerRow, np.ndarray], None] | None = None,
            report: Report | None = None, fuse: bool = True, plan: Plan | None = None):
    """``engine.forward.forward`` through the fused plan when it can be: not with ``fuse=False``, and not
    when every layer's output is wanted (``return_all``, ``on_layer``), which the fused plan never holds."""
    if plan is not None and (return_all or on_layer is not None or not fuse):
        raise TypeError("a compiled plan gives the net's output only: drop plan= for return_all, on_layer, fuse=False")
    if plan is None and (return_all or on_layer is not None or not fuse):
        return layer_by_layer(network, x, params, dtype=dtype, return_all=return_all, on_layer=on_layer,
                              report=report)
    if plan is None:
        plan = compile_plan(network, params, dtype, report)
    elif plan.network is not network:
        raise TypeError("this plan was compiled for another network")
    return plan.run(check_input(network, x))
