"""Small ONNX graphs built with onnx.helper, and the check every operator test makes.

The reference for each output is onnx's own ReferenceEvaluator, an
implementation of the ONNX operators independent of archcalc and of the
importer: the imported spec, run by archcalc's engine on the imported weights,
must give the ONNX graph's output.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import archcalc  # noqa: E402
from archcalc.interop.onnx import import_onnx  # noqa: E402

RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def node(op: str, inputs: list[str], outputs: list[str] | str = "y", name: str | None = None, **attrs):
    outputs = [outputs] if isinstance(outputs, str) else outputs
    return helper.make_node(op, inputs, outputs, name=name or f"/{op.lower()}/{op}", **attrs)


def model(nodes: list, input_shape: tuple, output: str = "y", opset: int = 17, batch="N",
          dtype=TensorProto.FLOAT, **weights: np.ndarray):
    """One input 'x' of shape (batch, *input_shape), one output, initializers from keyword arrays."""
    graph = helper.make_graph(
        nodes, "test_net",
        [helper.make_tensor_value_info("x", dtype, [batch, *input_shape])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_onnx(m, x: np.ndarray) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(m).run(None, {"x": x})[0]


def to_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 1, -1) if a.ndim > 2 else a


def check(m, atol: float = 1e-4):
    """Import, then compare archcalc's forward pass with ONNX's on a random batch of two; returns the import."""
    imported = import_onnx(m)
    net = archcalc.load_spec(imported.spec)
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = rand(2, *dims)
    want = to_last(run_onnx(m, x))
    got = archcalc.forward(net, to_last(x), imported.weights, dtype="float64")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol * max(1.0, float(np.abs(want).max())))
    return imported


def layers(imported) -> list[dict]:
    """The imported layers without names and inputs: what the operator became."""
    return [{k: v for k, v in layer.items() if k not in ("name", "inputs")} for layer in imported.spec["layers"]]


def needs_kind(kind: str):
    """xfail (not strict) until archcalc has the issue-11 layer kind or activation `kind`."""
    from archcalc.interop.builder import spec_accepts

    if kind == "avgpool_count_include_pad":
        have = spec_accepts(repr({"type": "avgpool", "kernel": 2, "count_include_pad": True}))
    elif kind in ("relu6", "hardsigmoid", "hardswish", "silu", "gelu"):
        have = spec_accepts(repr({"type": "activation", "function": kind}))
    else:
        have = kind in _layer_types()
    return pytest.mark.xfail(not have, reason=f"archcalc has no '{kind}' yet (issue 11)", strict=False)


def _layer_types() -> tuple:
    from archcalc.spec import LAYER_TYPES

    return tuple(LAYER_TYPES)
