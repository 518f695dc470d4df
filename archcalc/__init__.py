"""archcalc: exact shapes, parameters, MACs, memory and receptive fields of convolutional nets.

    >>> import archcalc
    >>> net = archcalc.load_spec("specs/alexnet.yaml")
    >>> report = archcalc.analyze(net)
    >>> report.totals.params
    62378344

Heavy modules (numpy for the forward pass) are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _blas_env  # noqa: F401  # first: OpenBLAS's idle spin is set before anything loads numpy

__version__ = "0.1.0"

__all__ = ["load_spec", "analyze", "init_params", "forward", "compile_plan", "from_onnx", "from_keras", "ArchcalcError",
           "SpecError", "__version__"]

from .errors import ArchcalcError, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Report
    from .spec import Network


def load_spec(source: Any, *, set_vars: Any = None) -> "Network":
    """A spec file (YAML/JSON) or a mapping -> validated Network (its `input_shape` has no batch axis)."""
    from .load import load_spec as _load

    return _load(source, set_vars=set_vars)


def analyze(network: Any) -> "Report":
    """Per-layer rows and totals for a Network (a path or mapping is loaded first)."""
    from .analysis import analyze as _analyze
    from .spec import Network

    if not isinstance(network, Network):
        network = load_spec(network)
    return _analyze(network)


def _network(network: Any) -> "Network":
    from .spec import Network

    return network if isinstance(network, Network) else load_spec(network)


def init_params(network: Any, seed: int = 0) -> dict:
    """{layer name: {"weight", "bias", ...}}: Glorot-uniform weights, zero biases (Keras), float32 (imports numpy)."""
    from .engine.forward import init_params as _init

    return _init(_network(network), seed=seed)


def forward(network: Any, x: Any, params: Any, dtype: str = "float32", return_all: bool = False,
            fuse: bool = True, plan: Any = None) -> Any:
    """Run the net on x of shape (N, *input_shape), channels last; the output, or every layer's with return_all.

    By default through the fused inference plan (batchnorm folded into convs, activations and residual
    adds in the conv's epilogue, one reused arena); ``fuse=False`` runs layer by layer.  For many batches
    compile once: ``plan = archcalc.compile_plan(net, params)``, then ``forward(net, x, None, plan=plan)``.
    """
    from .engine.plan import forward as _forward

    return _forward(_network(network), x, params, dtype=dtype, return_all=return_all, fuse=fuse, plan=plan)


def compile_plan(network: Any, params: Any, dtype: str = "float32") -> Any:
    """The fused inference plan of the net with these weights, for ``forward(..., plan=)`` (imports numpy)."""
    from .engine.plan import compile_plan as _compile

    return _compile(_network(network), params, dtype)


def from_onnx(source: Any) -> dict:
    """An ONNX model (path or onnx.ModelProto) -> a spec mapping for load_spec (needs `pip install 'archcalc[onnx]'`)."""
    from .interop.onnx import from_onnx as _from_onnx

    return _from_onnx(source)


def from_keras(source: Any) -> dict:
    """A Keras model (.keras file, model.to_json() file or string, or its mapping) -> a spec mapping for load_spec."""
    from .interop.keras import from_keras as _from_keras

    return _from_keras(source)
