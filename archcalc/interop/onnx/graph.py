"""Walking an ONNX graph: constants, folding, shapes, and what each tensor is in archcalc's terms.

ONNX tensors are batch-first and channels-first; archcalc's are channels-last
without the batch.  Each non-constant tensor becomes a `Value`: the archcalc
layer that holds its data, and its layout, which says how the two orders
relate:

- ``map``: ONNX (C, *spatial), archcalc (*spatial, C).
- ``vector``: ONNX (K,) or (K, 1, ..., 1) (a global pool's output), archcalc (K,).
- ``cfirst``: a map flattened in ONNX's channels-first order, archcalc's flatten
  being channels-last: a dense layer reading it gets its weight rows permuted.
- ``nhwc``: ONNX transposed the map to channels-last; archcalc holds the same data.

Nodes whose inputs are all constant (shape arithmetic, weight preprocessing) are
folded with onnx's own reference evaluator; `Shape` of a tensor folds to its
inferred shape (the batch fixed to 1).  Nothing else is guessed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..builder import ImportError_, SpecBuilder
from ..registry import Registry

#: How each layout's archcalc shape follows from the ONNX shape (batch left out); "grouped" and "grouped_t" are
#: the two middle steps of a channel shuffle (reshape to (g, C/g, ...), transpose), archcalc holding the map.
LAYOUTS = ("map", "vector", "cfirst", "nhwc", "grouped", "grouped_t")


@dataclass(frozen=True)
class Value:
    """A non-constant ONNX tensor in archcalc's terms."""

    layer: str  # the archcalc layer (or "input") whose output holds the data
    shape: tuple[int, ...]  # archcalc's shape, channels last
    layout: str
    onnx: tuple[int, ...]  # ONNX's shape, without the batch
    flat_of: tuple[int, ...] | None = None  # cfirst: the archcalc map that was flattened
    pad: tuple[tuple[tuple[int, int], ...], float] | None = None  # a Pad not yet applied: (pairs, value)
    own: bool = False  # the layer's own output (not an alias): an activation may fuse into it

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.onnx[1:] if self.layout == "map" else ()


def archcalc_shape(onnx_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if layout == "map":
        return (*onnx_shape[1:], onnx_shape[0])
    if layout in ("vector", "cfirst"):
        return (int(np.prod(onnx_shape)),)
    return onnx_shape


Converter = Callable[["Context", Any], "Value | None"]
OPS: Registry[Converter] = Registry("ONNX operator")


def f32(value: Any) -> float:
    """An ONNX float attribute (float32) as the shortest decimal that is the same float32: 1e-05, not 9.99e-06."""
    return float(str(np.float32(value)))


def origin(node: Any) -> str:
    return f"node '{node.name}' ({node.op_type})" if node.name else f"a {node.op_type} node"


class Context:
    """The state of one import: constants, values, shapes, consumers, and the spec being built."""

    def __init__(self, model: Any, builder: SpecBuilder, opset: int) -> None:
        from onnx import numpy_helper

        self.model = model
        self.builder = builder
        self.opset = opset
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.values: dict[str, Value] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.consumers: Counter[str] = Counter(i for n in model.graph.node for i in n.input if i)
        for out in model.graph.output:
            self.consumers[out.name] += 1
        self.initializers = set(self.consts)

    # --- reading a node -------------------------------------------------------------------

    @staticmethod
    def attrs(node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def has(self, node: Any, i: int) -> bool:
        return len(node.input) > i and bool(node.input[i])

    def const(self, node: Any, i: int, what: str) -> np.ndarray:
        name = node.input[i]
        if name not in self.consts:
            raise ImportError_(f"{origin(node)}: its {what} ('{name}') is computed at run time; archcalc needs it "
                               "to be a constant (an initializer)")
        return self.consts[name]

    def is_const(self, node: Any, i: int) -> bool:
        return node.input[i] in self.consts

    def value(self, node: Any, i: int = 0) -> Value:
        name = node.input[i]
        if name not in self.values:
            raise ImportError_(f"{origin(node)}: input '{name}' is a constant where archcalc needs a layer's output")
        return self.values[name]

    def out_shape(self, node: Any, i: int = 0) -> tuple[int, ...]:
        """The inferred ONNX shape of an output, without the batch."""
        name = node.output[i]
        if name not in self.shapes:
            self._infer(node)
        if name not in self.shapes:
            raise ImportError_(f"{origin(node)}: the shape of its output '{name}' cannot be inferred "
                               "(export the model with fixed input sizes)")
        return self.shapes[name][1:]

    def _infer(self, node: Any) -> None:
        """ONNX shape inference on this node alone, its inputs' shapes and constants known now (the whole-graph
        pass cannot see through shape arithmetic it did not fold, such as a Pad's computed pads)."""
        from onnx import TensorProto, helper, numpy_helper, shape_inference

        inputs = [helper.make_tensor_value_info(i, TensorProto.FLOAT, self.shapes[i]) for i in node.input
                  if i and i in self.shapes and i not in self.consts]
        consts = [numpy_helper.from_array(self.consts[i], i) for i in node.input if i in self.consts]
        graph = helper.make_graph([node], "one", inputs, [helper.make_empty_tensor_value_info(o) for o in node.output],
                                  consts)
        try:
            model = shape_inference.infer_shapes(helper.make_model(graph, opset_imports=self.model.opset_import),
                                                 strict_mode=True)
        except Exception:  # onnx's InferenceError and others: the caller reports the missing shape
            return
        for info in model.graph.output:
            dims = info.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                self.shapes[info.name] = tuple(d.dim_value for d in dims)

    def single_use(self, value_name: str) -> bool:
        return self.consumers[value_name] == 1

    def layer_name(self, node: Any) -> str:
        """A module path when the exporter left one: a weight named 'layer1.0.conv1.weight', or the node name
        '/layer1/layer1.0/conv1/Conv'; else the node's name or its operator."""
        for name in node.input[1:2]:
            if name in self.consts and name.endswith(".weight"):
                return name[: -len(".weight")]
        parts = [p for p in node.name.split("/") if p]
        if node.name.startswith("/") and len(parts) > 1:
            return parts[-2] if parts[-2].count(".") >= parts[0].count(".") else ".".join(parts[:-1])
        return node.name.removeprefix("node_") or node.op_type.lower()  # torch's dynamo exporter: node_relu_2

    # --- producing values -----------------------------------------------------------------

    def emit(self, node: Any, layer: dict[str, Any], inputs: list[Value], layout: str,
             weights: dict[str, np.ndarray] | None = None, name: str | None = None) -> Value:
        """Add an archcalc layer for `node`; its output's shape comes from ONNX's inferred shape."""
        onnx_shape = self.out_shape(node)
        shape = archcalc_shape(onnx_shape, layout)
        refs = [self.materialize(node, v).layer for v in inputs]
        given = self.builder.add(layer, name=name or self.layer_name(node), inputs=refs, origin=origin(node),
                                 shape=shape, weights=weights)
        return Value(given, shape, layout, onnx_shape, own=True)

    def materialize(self, node: Any, value: Value) -> Value:
        """A value with a pending Pad becomes a `pad` layer (when no conv or pool takes the padding in)."""
        if value.pad is None:
            return value
        pairs, fill = value.pad
        layer: dict[str, Any] = {"type": "pad", "padding": [list(p) for p in pairs]}
        if fill:
            layer["value"] = fill
        shape = (*(n + b + a for n, (b, a) in zip(value.shape[:-1], pairs)), value.shape[-1])
        given = self.builder.add(layer, name=f"{value.layer}_pad", inputs=[value.layer], origin=origin(node),
                                 shape=shape)
        return Value(given, shape, "map", (shape[-1], *shape[:-1]))

    def alias(self, value: Value, onnx_shape: tuple[int, ...] | None = None, **changes: Any) -> Value:
        """The same data under another ONNX name (Identity, Squeeze of ones, ...)."""
        return replace(value, onnx=onnx_shape if onnx_shape is not None else value.onnx, own=False, **changes)


_META_INPUTS = {"Shape": 0, "Size": 0, "CastLike": 1}


def fold(ctx: Context, node: Any) -> bool:
    """Evaluate a node whose inputs are all known constants; False if it is not one."""
    if node.op_type == "Constant":
        from onnx import numpy_helper

        attr = node.attribute[0]
        if attr.name == "value":
            ctx.consts[node.output[0]] = numpy_helper.to_array(attr.t)
        else:
            from onnx import helper

            ctx.consts[node.output[0]] = np.array(helper.get_attribute_value(attr))
        return True
    meta = _META_INPUTS.get(node.op_type)  # an input of which only the shape or type is read
    if meta is not None and len(node.input) > meta and node.input[meta] in ctx.values and \
            node.input[meta] in ctx.shapes and all(i in ctx.consts for j, i in enumerate(node.input) if j != meta):
        feeds = {i: ctx.consts[i] for j, i in enumerate(node.input) if j != meta}
        feeds[node.input[meta]] = np.zeros(ctx.shapes[node.input[meta]], np.float32)
    elif all(not i or i in ctx.consts for i in node.input):
        feeds = {i: ctx.consts[i] for i in node.input if i}
    else:
        return False
    for out, result in zip(node.output, _evaluate(ctx, node, feeds)):
        ctx.consts[out] = np.asarray(result)
    return True


def _evaluate(ctx: Context, node: Any, feeds: dict[str, np.ndarray]) -> list:
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(n) for n in feeds],
                              [helper.make_empty_tensor_value_info(n) for n in node.output if n])
    model = helper.make_model(graph, opset_imports=list(ctx.model.opset_import))
    try:
        return list(ReferenceEvaluator(model).run(None, feeds))
    except Exception as exc:  # the evaluator raises anything; its message says what
        raise ImportError_(f"{origin(node)}: cannot fold this constant computation ({type(exc).__name__}: "
                           f"{exc})") from None


def convert(ctx: Context, node: Any) -> None:
    if fold(ctx, node):
        return
    fn = OPS.get(node.op_type)
    if fn is None or node.domain not in ("", "ai.onnx"):
        raise ImportError_(f"{origin(node)}: operator {node.op_type} cannot be mapped to archcalc layers; "
                           f"supported: {OPS.supported()}")
    result = fn(ctx, node)
    if result is not None:
        ctx.values[node.output[0]] = result
        if node.output[0] not in ctx.shapes:  # what later nodes' shape inference needs
            onnx_shape = result.onnx if result.pad is None else \
                (result.onnx[0], *(n + b + a for n, (b, a) in zip(result.onnx[1:], result.pad[0])))
            ctx.shapes[node.output[0]] = (1, *onnx_shape)
