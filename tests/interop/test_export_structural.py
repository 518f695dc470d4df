"""The exporters' emitters for issue 11's structural kinds (one per kind), and the errors naming a layer where a
framework cannot express it.  With torch installed, the exported PyTorch module runs and equals the engine."""

from __future__ import annotations

from .exported import load_module

import numpy as np
import pytest

import archcalc
from archcalc.interop import export_code
from archcalc.interop.export import ExportError

NET = {"name": "structural", "input": [9, 8, 4], "layers": [
    {"type": "pad", "padding": [[1, 0], [0, 2]], "name": "pad"},
    {"type": "conv_transpose", "filters": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1,
     "name": "up", "activation": "relu"},
    {"type": "crop", "inputs": "up", "like": "pad", "name": "crop0"},
    {"type": "crop", "cropping": [[1, 2], [0, 3]], "name": "crop"},
    {"type": "upsample", "scale": 2, "mode": "bilinear", "name": "resize"},
    {"type": "slice", "start": 1, "stop": 3, "name": "part"},
    {"type": "global_maxpool", "name": "gmp"},
    {"type": "channel_shuffle", "groups": 2, "inputs": "up", "name": "shuffle"},
    {"type": "global_avgpool", "name": "gap"},
    {"type": "concat", "inputs": ["gmp", "gap"], "name": "out"}]}


def test_pytorch_emitters():
    code = export_code(archcalc.load_spec(NET), "pytorch")
    assert "self.up = nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2, padding=1, output_padding=1)" in code
    assert "F.pad(x, (0, 2, 1, 0))" in code
    assert "F.interpolate(" in code and '"bilinear", align_corners=False' in code
    assert ".narrow(1, 1, 2)" in code and ".unflatten(1, (2, 3)).transpose(1, 2).flatten(1, 2)" in code


def test_keras_emitters_and_refusals():
    code = export_code(archcalc.load_spec(NET), "keras")
    assert "layers.ZeroPadding2D(((1, 0), (0, 2))" in code
    assert 'layers.UpSampling2D(2, interpolation="bilinear"' in code
    assert "layers.Cropping2D(((1, 2), (0, 3))" in code
    grouped = {"input": [4, 4, 4], "layers": [{"type": "conv_transpose", "filters": 4, "kernel": 2, "groups": 2,
                                                 "name": "t"}]}
    with pytest.raises(ExportError, match="layer 't' \\(conv_transpose\\): Keras's ConvTranspose has no groups"):
        export_code(archcalc.load_spec(grouped), "keras")
    linear1d = {"input": [4, 4], "layers": [{"type": "upsample", "mode": "bilinear", "name": "u"}]}
    with pytest.raises(ExportError, match="layer 'u' \\(upsample\\)"):
        export_code(archcalc.load_spec(linear1d), "keras")


def test_embedding_in_both():
    net = archcalc.load_spec({"input": [12], "layers": [{"type": "embedding", "vocab": 30, "dim": 5, "name": "emb"},
                                                         {"type": "conv", "filters": 2, "kernel": 3, "name": "c"}]})
    assert "self.emb = nn.Embedding(30, 5)" in export_code(net, "pytorch")
    assert "layers.Embedding(30, 5" in export_code(net, "keras")


@pytest.mark.torch
def test_exported_pytorch_runs_like_the_engine(tmp_path):
    torch = pytest.importorskip("torch")
    from archcalc.engine import torch_twin
    from archcalc.engine.weights import save_params

    net = archcalc.load_spec(NET)
    module = load_module(export_code(net, "pytorch"), tmp_path)
    model = module.Structural().eval()
    params = archcalc.init_params(net, seed=1)
    params["up"]["bias"] += np.float32(0.3)
    save_params(tmp_path / "w.npz", params)
    model.load_archcalc_weights(tmp_path / "w.npz")
    x = np.random.default_rng(0).standard_normal((2, 9, 8, 4)).astype(np.float32)
    with torch.no_grad():
        y = model(torch_twin.to_torch(x)).numpy()
    np.testing.assert_allclose(y, archcalc.forward(net, x, params), rtol=1e-4, atol=1e-5)
