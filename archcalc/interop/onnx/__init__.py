"""ONNX models -> archcalc specs (and weights): `from_onnx(path_or_ModelProto)`.

Needs the `onnx` package (`pip install 'archcalc[onnx]'`).  The graph is walked
in its (topological) order; each operator has one converter in a registry
(`graph.OPS`), and shapes come from onnx's own shape inference with the batch
fixed to 1, so every imported layer is checked against what ONNX says it
produces.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..builder import ImportError_, Imported, SpecBuilder
from .graph import OPS

__all__ = ["from_onnx", "import_onnx", "OPS"]

INSTALL = "reading ONNX models needs the onnx package: pip install 'archcalc[onnx]'"


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError_(INSTALL) from None
    from . import ops_elementwise, ops_layers, ops_shape  # noqa: F401  (they register their converters)

    return onnx


def _load(source: Any) -> tuple[Any, str, str]:
    """(model, what to call its origin, the net's name): a file's net is named after the file."""
    onnx = _onnx()
    if isinstance(source, onnx.ModelProto):
        name = source.graph.name or "model"
        return source, name, name
    path = Path(os.fspath(source))
    if not path.is_file():
        raise ImportError_(f"cannot read {path}: no such file")
    try:
        model = onnx.load(str(path))  # with its external data (weights in model.onnx.data), as exporters write it
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception:  # protobuf's DecodeError and onnx's own
        raise ImportError_(f"{path} is not an ONNX model (not a ModelProto)") from None
    if not model.graph.node:
        raise ImportError_(f"{path} is not an ONNX model (no graph nodes)")
    return model, path.name, path.stem


def _fixed_batch(model: Any) -> Any:
    """A copy whose graph inputs have batch 1 where the batch is symbolic, with inferred shapes."""
    onnx = _onnx()
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    inits = {t.name for t in copy.graph.initializer}
    for inp in copy.graph.input:
        if inp.name not in inits and inp.type.tensor_type.shape.dim:
            dim = inp.type.tensor_type.shape.dim[0]
            if not dim.HasField("dim_value"):
                dim.Clear()
                dim.dim_value = 1
    try:
        return onnx.shape_inference.infer_shapes(copy, data_prop=True)
    except Exception as exc:  # onnx raises its own InferenceError and others
        raise ImportError_(f"ONNX shape inference failed: {exc}") from None


def _shapes(model: Any) -> dict[str, tuple[int, ...]]:
    out = {}
    for info in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        t = info.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[info.name] = tuple(d.dim_value for d in t.shape.dim)
    return out


def import_onnx(source: Any, file_name: str | None = None) -> Imported:
    """The spec and weights of an ONNX model (a path or an onnx.ModelProto); a file's net is named after it."""
    from .graph import Context, Value, archcalc_shape, convert

    model, name, net_name = _load(source)
    name = file_name or name
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    inferred = _fixed_batch(model)
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ImportError_(f"the model has {len(inputs)} inputs and {len(model.graph.output)} outputs; archcalc "
                           "imports nets with one input and one output")
    shapes = _shapes(inferred)
    graph_input = inputs[0].name
    if graph_input not in shapes or len(shapes[graph_input]) < 2:
        raise ImportError_(f"input '{graph_input}' needs a fixed shape (N, C, spatial...), got "
                           f"{shapes.get(graph_input, 'unknown')}")
    onnx_in = shapes[graph_input][1:]
    is_int = inputs[0].type.tensor_type.elem_type in (6, 7)  # int32, int64: token ids
    layout = "nhwc" if is_int else "map" if len(onnx_in) >= 2 else "vector"
    in_shape = archcalc_shape(onnx_in, layout)
    producer = f"{model.producer_name} {model.producer_version}".strip()
    source = f"Imported from {name} (ONNX opset {opset}{', ' + producer if producer else ''}) by archcalc import"
    builder = SpecBuilder(net_name, source, in_shape)
    ctx = Context(model, builder, opset)
    ctx.shapes = shapes
    ctx.values[graph_input] = Value("input", in_shape, layout, onnx_in)
    for node in model.graph.node:
        convert(ctx, node)
    out = model.graph.output[0].name
    if out not in ctx.values:
        raise ImportError_(f"the model's output '{out}' is a constant")
    last = ctx.materialize(model.graph.node[-1], ctx.values[out])
    return builder.finish(last.layer)


def from_onnx(source: Any) -> dict:
    """A spec mapping (what `archcalc.load_spec` accepts) for an ONNX model: a path or an onnx.ModelProto."""
    return import_onnx(source).spec

