"""With PyTorch: every shipped spec round-trips through its PyTorch twin, torch.onnx.export and `from_onnx` to the
same totals and output, and its exported PyTorch code has the spec's parameters and forward pass."""

from __future__ import annotations

from .exported import load_module, random_params
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.torch

import archcalc  # noqa: E402
from archcalc.engine import torch_twin  # noqa: E402
from archcalc.interop import export_code  # noqa: E402
from archcalc.interop.onnx import import_onnx  # noqa: E402

SPECS = sorted(Path(__file__).resolve().parents[2].joinpath("specs").glob("*.yaml"))


class _LRN(torch.autograd.Function):
    """F.local_response_norm exported as ONNX's LRN operator: PyTorch traces the Python function into a dozen
    operators (Mul, Pad, AveragePool, If, Pow, Div) that the importer does not pattern-match."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        return _LRN.original(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size, alpha, beta, k):
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


def to_onnx(module, x) -> "onnx.ModelProto":
    """torch.onnx.export (TorchScript exporter, batchnorm kept as its own operator: TrainingMode.PRESERVE)."""
    functional = torch.nn.functional
    _LRN.original = functional.local_response_norm
    buf = io.BytesIO()
    try:
        functional.local_response_norm = lambda t, size, alpha=1e-4, beta=0.75, k=1.0: _LRN.apply(t, size, alpha,
                                                                                                  beta, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x,), buf, dynamo=False, training=torch.onnx.TrainingMode.PRESERVE,
                              input_names=["x"], output_names=["y"])
    finally:
        functional.local_response_norm = _LRN.original
    return onnx.load_from_string(buf.getvalue())


def sample(net, batch, seed):
    """A random input: float32 maps, or integer token ids for a net that starts with an embedding."""
    from archcalc.engine.forward import random_input

    return random_input(net, batch, seed)


def assert_close(got, want, rtol=1e-4):
    scale = float(np.abs(want).max())
    assert np.abs(np.asarray(got, np.float64) - want).max() <= rtol * scale


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_twin_to_onnx_and_back(spec):
    net = archcalc.load_spec(spec)
    params = random_params(net)
    twin = torch_twin.build(net, params)
    x = sample(net, 1, 0)
    xt = torch_twin.to_torch(x)
    imported = import_onnx(to_onnx(twin, xt))
    back = archcalc.load_spec(imported.spec)
    want, got = archcalc.analyze(net).totals, archcalc.analyze(back).totals
    assert (got.params, got.trainable_params, got.macs) == (want.params, want.trainable_params, want.macs)
    assert archcalc.analyze(back).output_shape == archcalc.analyze(net).output_shape
    with torch.no_grad():
        reference = torch_twin.from_torch(twin(xt)).astype(np.float64)
    assert_close(archcalc.forward(back, x, imported.weights, dtype="float64"), reference)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_exported_pytorch_code(spec, tmp_path):
    from archcalc.engine.weights import save_params

    net = archcalc.load_spec(spec)
    module = load_module(export_code(net, "pytorch"), tmp_path)
    classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__ == module.__name__]
    model = classes[0]().eval()
    report = archcalc.analyze(net)
    assert sum(p.numel() for p in model.parameters()) == report.totals.trainable_params
    params = random_params(net)
    save_params(tmp_path / "w.npz", params)
    model.load_archcalc_weights(tmp_path / "w.npz")
    x = sample(net, 2, 2)
    with torch.no_grad():
        y = model(torch_twin.to_torch(x) if x.ndim > 2 or x.dtype.kind == "i" else torch.from_numpy(x)).numpy()
    assert_close(torch_twin.from_torch(torch.from_numpy(y)), archcalc.forward(net, x, params, dtype="float64"))


def test_torchvision_resnet18_imports_to_the_shipped_spec_totals(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    from archcalc.engine.weights import load_params
    from archcalc.interop import import_model

    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():  # batchnorm statistics that are not the identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 224, 224)
    path = tmp_path / "resnet18.onnx"
    path.write_bytes(to_onnx(model, x).SerializeToString())
    import_model(path, tmp_path / "resnet18.yaml", weights=tmp_path / "resnet18.npz")
    net = archcalc.load_spec(tmp_path / "resnet18.yaml")
    shipped = archcalc.analyze(archcalc.load_spec(SPECS[0].parent / "resnet18.yaml")).totals
    totals = archcalc.analyze(net).totals
    assert totals.trainable_params == 11_689_512 == sum(p.numel() for p in model.parameters())
    assert (totals.params, totals.macs) == (shipped.params, shipped.macs)
    assert net.layers[0].name == "conv1" and net.layers[0].rounding == "floor"
    with torch.no_grad():
        want = model(x).numpy().astype(np.float64)
    got = archcalc.forward(net, x.numpy().transpose(0, 2, 3, 1), load_params(tmp_path / "resnet18.npz", net),
                           dtype="float64")
    assert_close(got, want)
