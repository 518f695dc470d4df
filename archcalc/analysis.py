"""Per-layer rows and totals: shapes, parameters, MACs, memory, receptive field.

Each layer kind has one rule in `RULES` (dispatch by the `type` tag).  A rule
gets the layer and the shapes (and receptive fields) of its inputs and returns
what the layer produces.  All counts are exact Python ints.

Conventions (stated once, repeated in the README):
- params: every weight and bias; `trainable_params` excludes batchnorm's moving
  mean and variance (Keras's count).
- macs: multiply-accumulates of conv and dense only; bias adds, activations,
  pooling and normalisation are not counted (fvcore's and ptflops's convention).
- flops: 2 * macs (one multiply and one add per MAC).
- bias_adds: one per bias per output position (what torchinfo adds to its Mult-Adds).
- memory: float32, 4 bytes per element; activations = every layer's output in one
  forward pass, batch 1.
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable, Sequence

from . import arith
from dataclasses import dataclass, field

from .errors import ShapeError, SpecError
from .spec import Network
from .output.format import shape_text

BYTES_PER_ELEMENT = 4


class _Record:
    """A small value class: fields in __slots__, init by position or keyword, equality and repr by fields.

    Plain classes instead of dataclasses: creating dataclasses costs milliseconds of start-up on every `show`.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__slots__
        if len(args) + len(kwargs) != len(names):
            raise TypeError(f"{type(self).__name__} takes {', '.join(names)}")
        for name, value in zip(names, args):
            object.__setattr__(self, name, value)
        for name in names[len(args):]:
            object.__setattr__(self, name, kwargs[name])

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(repr(getattr(self, n)) for n in self.__slots__))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"
AXIS_NAMES = {1: ("position",), 2: ("row", "column"), 3: ("plane", "row", "column")}


class ReceptiveField(_Record):
    """Per spatial axis: size of the input window a unit sees, jump (cumulative stride), start (centre of unit 0).

    start2 is twice the start: starts are whole or half pixels, kept exact as ints.
    """

    __slots__ = ("size", "jump", "start2")
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start2: tuple[int, ...]

    @property
    def start(self) -> tuple[int | float, ...]:
        return tuple(s // 2 if s % 2 == 0 else s / 2 for s in self.start2)

    def to_dict(self) -> dict[str, list]:
        return {"size": list(self.size), "jump": list(self.jump), "start": list(self.start)}


class AxisCalc(_Record):
    """The window arithmetic of one spatial axis, kept for `explain` and warnings; rounding is strict|floor|ceil|same."""

    __slots__ = ("n", "f", "s", "pb", "pa", "d", "out", "rounding")
    n: int
    f: int
    s: int
    pb: int
    pa: int
    d: int
    out: int
    rounding: str

    @property
    def whole(self) -> bool:
        return (self.n + self.pb + self.pa - arith.effective_kernel(self.f, self.d)) % self.s == 0

    def formula(self, spaced: bool = False) -> str:
        return arith.formula_text(self.n, self.f, self.s, self.pb, self.pa, self.d, spaced=spaced)


class _Counts:
    """What rows and totals derive the same way from params, trainable_params and macs."""

    __slots__ = ()

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params  # type: ignore[attr-defined]

    @property
    def flops(self) -> int:
        return 2 * self.macs  # type: ignore[attr-defined]


class ExpectResult(_Record):
    __slots__ = ("ok", "mismatches")
    ok: bool
    mismatches: list[tuple[str, Any, Any]]  # (field, expected, actual)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "mismatches": [{"field": f, "expected": _jsonable(e), "actual": _jsonable(a)}
                                              for f, e, a in self.mismatches]}


@dataclass
class LayerRow(_Counts):
    index: int
    name: str
    type: str
    inputs: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    bias_adds: int = 0
    receptive_field: ReceptiveField | None = None
    axes: tuple[AxisCalc, ...] = ()
    warnings: list[str] = field(default_factory=list)
    expect: ExpectResult | None = None
    layer: Any = None

    @property
    def output_elements(self) -> int:
        return prod(self.output_shape)

    @property
    def output_bytes(self) -> int:
        return self.output_elements * BYTES_PER_ELEMENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "bias_adds": self.bias_adds,
            "memory": {"elements": self.output_elements, "bytes": self.output_bytes},
            "padding": [[a.pb, a.pa] for a in self.axes] if self.axes else None,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
            "warnings": list(self.warnings),
            "expect": self.expect.to_dict() if self.expect else None,
        }


class Totals(_Record, _Counts):
    __slots__ = ("params", "trainable_params", "macs", "bias_adds", "input_elements", "activation_elements",
                 "peak_activation_elements")
    params: int
    trainable_params: int
    macs: int
    bias_adds: int
    input_elements: int
    activation_elements: int
    peak_activation_elements: int

    @property
    def input_bytes(self) -> int:
        return self.input_elements * BYTES_PER_ELEMENT

    @property
    def activation_bytes(self) -> int:
        return self.activation_elements * BYTES_PER_ELEMENT

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_ELEMENT

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.activation_bytes + self.param_bytes

    @property
    def peak_activation_bytes(self) -> int:
        return self.peak_activation_elements * BYTES_PER_ELEMENT

    def to_dict(self) -> dict[str, int]:
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "bias_adds": self.bias_adds,
            "memory": {
                "input_bytes": self.input_bytes,
                "activation_bytes": self.activation_bytes,
                "param_bytes": self.param_bytes,
                "total_bytes": self.total_bytes,
                "peak_activation_bytes": self.peak_activation_bytes,
            },
        }


@dataclass
class Report:
    network: Network
    rows: list[LayerRow]
    totals: Totals
    warnings: list[str]

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.network.input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape

    @property
    def expect_failures(self) -> list[LayerRow]:
        return [r for r in self.rows if r.expect is not None and not r.expect.ok]

    def row(self, name: str) -> LayerRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        net = self.network
        meta = {k: getattr(net, k) for k in ("source", "description", "year", "authors", "place", "top5_error")
                if getattr(net, k) is not None}
        return {
            "name": net.name,
            **meta,
            "input_shape": list(net.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [r.to_dict() for r in self.rows],
            "totals": self.totals.to_dict(),
            "warnings": list(self.warnings),
            "conventions": CONVENTIONS,
        }


CONVENTIONS = {
    "macs": "multiply-accumulates of conv and dense layers; bias adds, activations, pooling and normalisation excluded (fvcore/ptflops)",
    "flops": "2 * macs",
    "params": "all weights and biases; non-trainable = batchnorm moving mean and variance",
    "memory": "float32 (4 bytes per element), batch 1; activations = every layer's output in one forward pass",
}
WEIGHTED_TYPES = frozenset({"conv", "dense"})


# --- per-axis helpers ---------------------------------------------------------------

def per_axis(value: int | Sequence[int], rank: int, field_name: str) -> tuple[int, ...]:
    """3 -> (3, 3) for rank 2; a sequence must have one entry per spatial axis."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise ShapeError(f"{field_name} has {len(value)} entries but the input has {rank} spatial "
                         f"ax{'is' if rank == 1 else 'es'}; give one int or {rank}", field=field_name)
    return tuple(value)


def per_axis_padding(padding: Any, rank: int) -> tuple[tuple[int, int], ...] | str:
    """Padding as written -> one (before, after) pair per axis, or 'same'."""
    if padding == "same":
        return "same"
    if padding == "valid":
        return ((0, 0),) * rank
    if isinstance(padding, int):
        return ((padding, padding),) * rank
    if len(padding) != rank:
        raise ShapeError(f"padding has {len(padding)} entries but the input has {rank} spatial "
                         f"ax{'is' if rank == 1 else 'es'}", field="padding")
    if isinstance(padding[0], int):
        return tuple((p, p) for p in padding)
    return tuple(tuple(p) for p in padding)  # type: ignore[return-value]


def windows(layer, spatial: tuple[int, ...], kernel, stride, dilation, rounding: str) -> tuple[tuple[int, ...], tuple[AxisCalc, ...], list[str]]:
    """Output spatial size of a sliding window on every axis, with the arithmetic and any rounding warning."""
    rank = len(spatial)
    pads = per_axis_padding(layer.padding, rank)
    axes = []
    for i, n in enumerate(spatial):
        f, s, d = kernel[i], stride[i], dilation[i]
        eff = arith.effective_kernel(f, d)
        if pads == "same":
            pb, pa = arith.same_padding(n, f, s, d)
            axes.append(AxisCalc(n, f, s, pb, pa, d, arith.same_out_size(n, s), "same"))
            continue
        pb, pa = pads[i]
        if n + pb + pa < eff:
            dil = f" (dilated to {eff})" if d > 1 else ""
            raise ShapeError(f"kernel {f}{dil} is larger than the padded input {n + pb + pa} ({n} + {pb} + {pa}) "
                             f"on spatial axis {i}", field="kernel",
                             hint="use a smaller kernel, more padding, or padding: same")
        span = n + pb + pa - eff
        if span % s == 0:
            axes.append(AxisCalc(n, f, s, pb, pa, d, span // s + 1, rounding))
            continue
        if rounding == "strict":
            raise ShapeError(f"output size {arith.formula_text(n, f, s, pb, pa, d)} is not a whole number on "
                             f"spatial axis {i} (input {n}, kernel {f}, stride {s}, padding {pb}+{pa})",
                             field="stride", hint=arith.fit_suggestion(n, f, s, pb, pa, d))
        out = arith.out_size(n, f, s, pb, pa, d, rounding)
        axes.append(AxisCalc(n, f, s, pb, pa, d, out, rounding))
    out_spatial = tuple(a.out for a in axes)
    return out_spatial, tuple(axes), _rounding_warnings(layer.name, axes)


def _rounding_warnings(name: str, axes: Sequence[AxisCalc]) -> list[str]:
    """'conv1: 224 -> 112.5 floored to 112, the last row and column of the padded input are never read'."""
    rank = len(axes)
    names = AXIS_NAMES.get(rank, tuple(f"axis {i}" for i in range(rank)))
    groups: dict[tuple, list[str]] = {}
    for i, a in enumerate(axes):
        if a.rounding in ("same", "strict") or a.whole:
            continue
        left = arith.unread(a.n, a.f, a.s, a.pb, a.pa, a.d, a.out)
        exact = arith.fmt_fraction(arith.exact_out_size(a.n, a.f, a.s, a.pb, a.pa, a.d))
        verb = "floored" if a.rounding == "floor" else "ceiled"
        groups.setdefault((a.n, exact, verb, a.out, left), []).append(names[i])
    out = []
    for (n, exact, verb, o, left), axis_names in groups.items():
        joined = " and ".join(axis_names)
        if left > 0:
            what = f"the last {joined}" if left == 1 else f"the last {left} {' and '.join(x + 's' for x in axis_names)}"
            tail = f"{what} of the padded input {'are' if len(axis_names) > 1 or left > 1 else 'is'} never read"
        elif left < 0:
            plural = " and ".join(x + "s" for x in axis_names)
            tail = f"the last window runs {-left} past the padded input along the {plural} (read as padding)"
        else:
            tail = "the windows end exactly at the padded input's edge"
        out.append(f"{name}: {n} -> {exact} {verb} to {o}, {tail}")
    return out


# --- rules, one per layer kind --------------------------------------------------------

class Out:
    """What a rule returns for one layer (trainable None: all params trainable)."""

    __slots__ = ("shape", "params", "trainable", "macs", "bias_adds", "rf", "axes", "warnings")

    def __init__(self, shape: tuple[int, ...], params: int = 0, trainable: int | None = None, macs: int = 0,
                 bias_adds: int = 0, rf: ReceptiveField | None = None, axes: tuple[AxisCalc, ...] = (),
                 warnings: list[str] | None = None) -> None:
        self.shape, self.params, self.trainable, self.macs = shape, params, trainable, macs
        self.bias_adds, self.rf, self.axes, self.warnings = bias_adds, rf, axes, warnings if warnings is not None else []


Rule = Callable[[Any, list, list, str], Out]


def _spatial_input(layer, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    if len(shape) < 2:
        raise ShapeError(f"{layer.type} needs an input with spatial axes and channels, got shape [{shape_text(shape)}] "
                         "(a dense or flatten layer above removed them)", field="inputs")
    return shape[:-1], shape[-1]


def _rf_through(rf: ReceptiveField | None, axes: Sequence[AxisCalc]) -> ReceptiveField | None:
    if rf is None:
        return None
    sizes, jumps, starts = [], [], []
    for a, size, jump, start2 in zip(axes, rf.size, rf.jump, rf.start2):
        k = arith.effective_kernel(a.f, a.d) - 1
        sizes.append(size + k * jump)
        jumps.append(jump * a.s)
        starts.append(start2 + (k - 2 * a.pb) * jump)
    return ReceptiveField(tuple(sizes), tuple(jumps), tuple(starts))


def rule_conv(layer, shapes, rfs, rounding) -> Out:
    spatial, c_in = _spatial_input(layer, shapes[0])
    rank = len(spatial)
    kernel = per_axis(layer.kernel, rank, "kernel")
    stride = per_axis(layer.stride, rank, "stride")
    dilation = per_axis(layer.dilation, rank, "dilation")
    g = layer.groups
    if c_in % g or layer.filters % g:
        bad = f"the input's {c_in} channels" if c_in % g else f"its {layer.filters} filters"
        raise ShapeError(f"groups {g} does not divide {bad}; groups must divide both the input channels "
                         f"({c_in}) and filters ({layer.filters})", field="groups")
    out_spatial, axes, warnings = windows(layer, spatial, kernel, stride, dilation, layer.rounding or rounding)
    if layer.bias == "per_position":
        biases = prod(out_spatial) * layer.filters
    else:
        biases = layer.filters if layer.bias else 0
    out_elems = prod(out_spatial) * layer.filters
    return Out(
        shape=out_spatial + (layer.filters,),
        params=arith.conv_params(kernel, c_in, layer.filters, g, biases),
        macs=arith.conv_macs(out_spatial, kernel, c_in, layer.filters, g),
        bias_adds=out_elems if layer.bias else 0,
        rf=_rf_through(rfs[0], axes),
        axes=axes,
        warnings=warnings,
    )


def rule_pool(layer, shapes, rfs, rounding) -> Out:
    spatial, c = _spatial_input(layer, shapes[0])
    rank = len(spatial)
    kernel = per_axis(layer.kernel, rank, "kernel")
    stride = per_axis(layer.stride if layer.stride is not None else layer.kernel, rank, "stride")
    out_spatial, axes, warnings = windows(layer, spatial, kernel, stride, (1,) * rank, layer.rounding or rounding)
    return Out(shape=out_spatial + (c,), rf=_rf_through(rfs[0], axes), axes=axes, warnings=warnings)


def rule_global_pool(layer, shapes, rfs, rounding) -> Out:
    _, c = _spatial_input(layer, shapes[0])
    return Out(shape=(c,))


def rule_dense(layer, shapes, rfs, rounding) -> Out:
    n_in = prod(shapes[0])
    bias = layer.units if layer.bias else 0
    return Out(shape=(layer.units,), params=n_in * layer.units + bias, macs=n_in * layer.units, bias_adds=bias)


def rule_flatten(layer, shapes, rfs, rounding) -> Out:
    return Out(shape=(prod(shapes[0]),))


def rule_same_shape(layer, shapes, rfs, rounding) -> Out:
    return Out(shape=shapes[0], rf=rfs[0])


def rule_batchnorm(layer, shapes, rfs, rounding) -> Out:
    c = shapes[0][-1]
    return Out(shape=shapes[0], params=4 * c, trainable=2 * c, rf=rfs[0])


def _merged_rf(rfs: list) -> ReceptiveField | None:
    """Along a graph: per axis, the largest field over the paths (jump and start of that path)."""
    present = [r for r in rfs if r is not None]
    if not present:
        return None
    rank = len(present[0].size)
    if any(len(r.size) != rank for r in present):
        return None
    best = [max(present, key=lambda r: r.size[i]) for i in range(rank)]
    return ReceptiveField(tuple(best[i].size[i] for i in range(rank)), tuple(best[i].jump[i] for i in range(rank)),
                          tuple(best[i].start2[i] for i in range(rank)))


def _need_two(layer, shapes) -> None:
    if len(shapes) < 2:
        raise ShapeError(f"{layer.type} joins two or more layers; list them in inputs (e.g. inputs: [a, b])",
                         field="inputs")


def rule_add(layer, shapes, rfs, rounding) -> Out:
    _need_two(layer, shapes)
    if any(s != shapes[0] for s in shapes[1:]):
        listed = ", ".join(f"{n}: {shape_text(s)}" for n, s in zip(layer.inputs, shapes))
        raise ShapeError(f"add needs inputs of one shape; got {listed}", field="inputs",
                         hint="project the shortcut with a 1x1 conv to match channels and stride")
    return Out(shape=shapes[0], rf=_merged_rf(rfs))


def rule_concat(layer, shapes, rfs, rounding) -> Out:
    _need_two(layer, shapes)
    rank = len(shapes[0])
    listed = ", ".join(f"{n}: {shape_text(s)}" for n, s in zip(layer.inputs, shapes))
    if any(len(s) != rank for s in shapes):
        raise ShapeError(f"concat needs inputs with the same number of axes; got {listed}", field="inputs")
    axis = layer.axis
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for inputs with {rank} axes (batch axis not counted)", field="axis")
    axis %= rank
    for i in range(rank):
        if i != axis and len({s[i] for s in shapes}) > 1:
            raise ShapeError(f"concat along axis {axis} needs every other axis equal; axis {i} differs: {listed}",
                             field="inputs")
    shape = tuple(sum(s[i] for s in shapes) if i == axis else shapes[0][i] for i in range(rank))
    return Out(shape=shape, rf=_merged_rf(rfs))


RULES: dict[str, Rule] = {
    "conv": rule_conv,
    "maxpool": rule_pool,
    "avgpool": rule_pool,
    "global_avgpool": rule_global_pool,
    "global_maxpool": rule_global_pool,
    "dense": rule_dense,
    "flatten": rule_flatten,
    "dropout": rule_same_shape,
    "lrn": rule_same_shape,
    "activation": rule_same_shape,
    "batchnorm": rule_batchnorm,
    "add": rule_add,
    "concat": rule_concat,
}
SINGLE_INPUT = frozenset(RULES) - {"add", "concat"}


# --- the walk --------------------------------------------------------------------------

def analyze(network: Network) -> Report:
    """Walk the layers in order and compute every row and the totals."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _analyze(network)
    finally:
        if enabled:
            gc.enable()


def _analyze(net: Network) -> Report:
    from .graph import unused_outputs

    input_shape = net.input_shape
    rank = len(input_shape) - 1
    input_rf = ReceptiveField((1,) * rank, (1,) * rank, (0,) * rank) if rank else None
    shapes: dict[str, tuple[int, ...]] = {"input": input_shape}
    rfs: dict[str, ReceptiveField | None] = {"input": input_rf}
    rows: list[LayerRow] = []
    last_use: dict[str, int] = {}
    for i, layer in enumerate(net.layers):
        for ref in layer.inputs:
            last_use[ref] = i
    rounding = net.rounding
    params = trainable = macs = bias_adds = activations = 0
    live = peak = prod(input_shape)
    for i, layer in enumerate(net.layers):
        kind = layer.type
        try:
            in_shapes = [shapes[ref] for ref in layer.inputs]
        except KeyError as exc:
            raise SpecError(f"inputs names '{exc.args[0]}', which is not a layer above", layer_index=i,
                            layer_name=layer.name, field="inputs", file=net.file) from None
        if kind in SINGLE_INPUT and len(in_shapes) != 1:
            raise SpecError(f"{kind} takes exactly one input, got {len(in_shapes)} ({', '.join(layer.inputs)}); "
                            "join them first with add or concat", layer_index=i, layer_name=layer.name, field="inputs",
                            file=net.file)
        try:
            out = RULES[kind](layer, in_shapes, [rfs[ref] for ref in layer.inputs], rounding)
        except SpecError as exc:
            exc.layer_index, exc.layer_name = i, layer.name
            raise exc.with_file(net.file)
        row = LayerRow(i, layer.name, kind, layer.inputs, tuple(in_shapes), out.shape, out.params,
                       out.params if out.trainable is None else out.trainable, out.macs, out.bias_adds,
                       out.rf, out.axes, out.warnings, None, layer)
        if layer.expect is not None:
            row.expect = _check_expect(layer.expect, row)
        rows.append(row)
        shapes[layer.name] = out.shape
        rfs[layer.name] = out.rf
        params += row.params
        trainable += row.trainable_params
        macs += row.macs
        bias_adds += row.bias_adds
        elems = prod(out.shape)
        activations += elems
        live += elems
        peak = max(peak, live)
        for ref in set(layer.inputs):
            if last_use.get(ref) == i:
                live -= prod(shapes[ref])
    warnings = [f"{name}: its output is never used (the net's output is the last layer, "
                f"{net.layers[-1].name})" for name in unused_outputs(net)]
    totals = Totals(params, trainable, macs, bias_adds, prod(input_shape), activations, peak)
    return Report(net, rows, totals, warnings)


def _check_expect(expect, row: LayerRow) -> ExpectResult:
    mismatches = []
    if expect.shape is not None and tuple(expect.shape) != row.output_shape:
        mismatches.append(("shape", tuple(expect.shape), row.output_shape))
    if expect.params is not None and expect.params != row.params:
        mismatches.append(("params", expect.params, row.params))
    if expect.macs is not None and expect.macs != row.macs:
        mismatches.append(("macs", expect.macs, row.macs))
    return ExpectResult(not mismatches, mismatches)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
