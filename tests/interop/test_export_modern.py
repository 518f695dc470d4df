"""The exporters on issue 11's elementwise and normalisation kinds: relu6 ... gelu, multiply and broadcast add,
adaptive pools, avgpool count_include_pad, layernorm, scale.  Code text here; with torch, the exported module
against the engine on the same weights."""

from __future__ import annotations

from .exported import load_module

import numpy as np
import pytest

import archcalc
from archcalc.errors import SpecError
from archcalc.interop import export_code

LAYERS = [
    {"type": "conv", "name": "stem", "filters": 8, "kernel": 3, "padding": 1, "activation": "hardswish"},
    {"type": "layernorm", "name": "norm"},
    {"type": "avgpool", "name": "pool", "kernel": 3, "stride": 1, "padding": 1, "count_include_pad": True},
    {"type": "global_avgpool", "name": "squeeze"},
    {"type": "dense", "name": "reduce", "units": 4, "activation": "silu"},
    {"type": "dense", "name": "expand", "units": 8, "activation": "hardsigmoid"},
    {"type": "multiply", "name": "gate", "inputs": ["pool", "expand"]},
    {"type": "add", "name": "bias_add", "inputs": ["gate", "squeeze"]},
    {"type": "scale", "name": "ls", "init": 0.5, "bias": True},
    {"type": "activation", "name": "g1", "function": "gelu"},
    {"type": "activation", "name": "g2", "function": "gelu", "approximate": "tanh"},
    {"type": "activation", "name": "r6", "function": "relu6"},
    {"type": "adaptive_avgpool", "name": "ap", "output": 4},
    {"type": "adaptive_maxpool", "name": "mp", "output": 2},
    {"type": "flatten", "name": "flat"},
    {"type": "dense", "name": "head", "units": 3},
]


def network():
    return archcalc.load_spec({"name": "modern", "input": [8, 8, 3], "layers": LAYERS})


def test_pytorch_code():
    code = export_code(network(), "pytorch")
    for text in ["F.hardswish(self.stem(", "self.norm = nn.LayerNorm(8, eps=1e-06)", "count_include_pad=True",
                 "x = pool * x.reshape(*x.shape[:2], 1, 1, *x.shape[2:])",
                 "self.ls = nn.Parameter(torch.full((8,), 0.5))", "F.gelu(x, approximate='tanh')", "F.gelu(x)",
                 "F.relu6(", "F.adaptive_avg_pool2d(x, 4)", "F.adaptive_max_pool2d(x, 2)",
                 "F.silu(", "F.hardsigmoid("]:
        assert text in code, text


def test_keras_code():
    code = export_code(network(), "keras")
    for text in ['layers.LayerNormalization(axis=-1, epsilon=1e-06, name="norm")',
                 'layers.Reshape((1, 1, 8), name="gate_reshape1")(x)', 'layers.Multiply(name="gate")',
                 'ChannelScale(init=0.5, bias=True, name="ls")', "class ChannelScale(keras.layers.Layer)",
                 "keras.activations.gelu(t, approximate=True)", 'layers.AveragePooling2D(2, strides=2, name="ap")', 'layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool_pad")',
                 'activation="hard_swish"', "('ls', 'ls', ['gamma', 'beta'])", "('norm', 'norm', ['gamma', 'beta'])"]:
        assert text in code, text


def test_keras_cannot_write_uneven_adaptive_windows():
    net = archcalc.load_spec({"input": [10, 10, 2], "layers": [{"type": "adaptive_avgpool", "name": "odd",
                                                                 "output": 3}]})
    assert "F.adaptive_avg_pool2d(x, 3)" in export_code(net, "pytorch")
    with pytest.raises(SpecError, match="layer 'odd' \\(adaptive_avgpool\\).*Keras has no adaptive pooling"):
        export_code(net, "keras")


@pytest.mark.torch
def test_exported_pytorch_module_matches_the_engine(tmp_path):
    torch = pytest.importorskip("torch")
    from archcalc.engine import torch_twin
    from archcalc.engine.weights import save_params

    net = network()
    module = load_module(export_code(net, "pytorch"), tmp_path, "modern_export")
    model = module.Modern().eval()
    report = archcalc.analyze(net)
    assert sum(p.numel() for p in model.parameters()) == report.totals.trainable_params
    params = archcalc.init_params(net, seed=4)
    rng = np.random.default_rng(4)
    for entry in params.values():
        for key, value in entry.items():
            value += rng.standard_normal(value.shape).astype(value.dtype) * 0.3
    save_params(tmp_path / "w.npz", params)
    model.load_archcalc_weights(tmp_path / "w.npz")
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    with torch.no_grad():
        y = model(torch_twin.to_torch(x)).numpy()
    want = archcalc.forward(net, x, params, dtype="float64")
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.keras
def test_exported_keras_model_matches_the_engine(tmp_path):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from archcalc.engine.weights import save_params

    net = network()
    module = load_module(export_code(net, "keras"), tmp_path, "modern_keras")
    model = module.build_model()
    report = archcalc.analyze(net)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == report.totals.trainable_params
    params = archcalc.init_params(net, seed=5)
    rng = np.random.default_rng(5)
    for entry in params.values():
        for key, value in entry.items():
            value += rng.standard_normal(value.shape).astype(value.dtype) * 0.3
    save_params(tmp_path / "w.npz", params)
    module.load_archcalc_weights(model, tmp_path / "w.npz")
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    want = archcalc.forward(net, x, params, dtype="float64")
    got = np.asarray(model.predict(x, verbose=0), np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
