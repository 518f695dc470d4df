"""The walk: every layer in spec order through its kind's rule (`archcalc.layers.REGISTRY`), then the totals.

All counts are exact Python ints.  Because a layer may only read layers above it, spec order is a topological
order, and one pass suffices.  The cyclic garbage collector stays on: on the 40,000-layer benchmark it costs about a
third of the walk (collections over the rows built so far), and load + analyse stays within its targets.
"""

from __future__ import annotations

from math import prod
from typing import Any

from ..errors import ArchcalcError, SpecError, brief, listing
from ..layers import REGISTRY
from ..spec import Network
from .graph import unused_outputs
from .records import ExpectResult, LayerRow, ReceptiveField, Report, Totals

WEIGHTED_TYPES = frozenset(tag for tag, kind in REGISTRY.items() if kind.weighted)


def analyze(net: Network) -> Report:
    """Walk the layers in order and compute every row and the totals."""
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
        kind = REGISTRY[layer.type]
        refs = layer.inputs + (kind.refs(layer) if kind.refs is not None else ())
        try:
            in_shapes = [shapes[ref] for ref in refs]
        except KeyError as exc:
            raise SpecError(f"inputs names {brief(exc.args[0])}, which is not a layer above", layer_index=i,
                            layer_name=layer.name, field="inputs", file=net.file) from None
        if not kind.merges and len(layer.inputs) != 1:
            raise SpecError(f"{layer.type} takes exactly one input, got {len(layer.inputs)} ({listing(layer.inputs)}); "
                            "join them first with add or concat", layer_index=i, layer_name=layer.name, field="inputs",
                            file=net.file)
        try:
            out = kind.rule(layer, in_shapes, [rfs[ref] for ref in refs], rounding)
        except ArchcalcError as exc:
            raise _at_layer(exc, i, layer.name, net.file) from None
        row_params = out.params
        row_trainable = out.params if out.trainable is None else out.trainable
        expect = None
        if layer.expect is not None:
            expect = _check_expect(layer.expect, out.shape, row_params, out.macs, out.rf)
        row = LayerRow(i, layer.name, layer.type, layer.inputs, tuple(in_shapes), out.shape, row_params,
                       row_trainable, out.macs, out.bias_adds, out.rf, out.axes, list(out.warnings), expect, layer)
        rows.append(row)
        shapes[layer.name] = out.shape
        rfs[layer.name] = out.rf
        params += row_params
        trainable += row_trainable
        macs += out.macs
        bias_adds += out.bias_adds
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
    if len(input_shape) == 2:  # two numbers: a 1-D signal, length x channels (a forgotten channel axis?)
        n, c = input_shape
        note = f"input {n}x{c} is read as 1-D: {n} positions x {c} channels"
        if n > 4 and c > 4:
            note += f"; for a {n}x{c} image with one channel write [{n}, {c}, 1]"
        warnings = [note] + warnings
    return Report(net, rows, totals, warnings)


def _at_layer(exc: ArchcalcError, index: int, name: str, file: str | None) -> ArchcalcError:
    """A located copy of a rule's error that names the layer (and file) it happened at; the raised one is unchanged."""
    return exc.located(layer_index=index, layer_name=name, file=exc.file or file)


def _check_expect(expect: Any, shape: tuple[int, ...], params: int, macs: int, rf: Any = None) -> ExpectResult:
    mismatches: list[tuple[str, Any, Any]] = []
    if expect.shape is not None and tuple(expect.shape) != shape:
        mismatches.append(("shape", tuple(expect.shape), shape))
    if expect.params is not None and expect.params != params:
        mismatches.append(("params", expect.params, params))
    if expect.macs is not None and expect.macs != macs:
        mismatches.append(("macs", expect.macs, macs))
    want = getattr(expect, "receptive_field", None)
    if want is not None:
        got = tuple(rf.size) if rf is not None else None
        wanted = (want,) * len(got or (1,)) if isinstance(want, int) else tuple(want)
        if got != wanted:
            mismatches.append(("receptive_field", wanted, got))
    return ExpectResult(not mismatches, mismatches)
