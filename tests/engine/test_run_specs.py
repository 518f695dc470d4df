"""Every shipped spec runs forward at batch 2, and every layer's shape is the calculator's.

U-Net (150 GMACs a sample at 572x572) runs at batch 1 on 188x188x1, the smallest size the paper's net takes
(572 - 16*24: every pooling even, every crop whole), through every layer of the same spec; its full size runs in
the torch-marked zoo test against its PyTorch twin and in `archcalc run specs/unet.yaml --random`."""

from pathlib import Path

import numpy as np
import pytest

import archcalc

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))
SMALLER = {"unet": (1, [188, 188, 1])}  # spec: (batch, input)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_runs_at_batch_2(path):
    batch = 2
    net = archcalc.load_spec(path)
    if path.stem in SMALLER:
        import yaml

        batch, shape = SMALLER[path.stem]
        net = archcalc.load_spec({**yaml.safe_load(path.read_text()), "input": shape})
    report = archcalc.analyze(net)
    params = archcalc.init_params(net, seed=0)
    if any(layer.type == "embedding" for layer in net.layers):
        vocab = min(layer.vocab for layer in net.layers if layer.type == "embedding")
        x = np.random.default_rng(0).integers(0, vocab, (batch, *net.input_shape))
    else:
        x = np.random.default_rng(0).standard_normal((batch, *net.input_shape), dtype=np.float32)
    seen = {}

    from archcalc.engine.forward import forward

    y = forward(net, x, params, on_layer=lambda row, out: seen.__setitem__(row.name, out.shape), report=report)
    assert seen == {row.name: (batch, *row.output_shape) for row in report.rows}
    assert y.shape == (batch, *report.output_shape) and y.dtype == np.float32
    assert np.isfinite(y).all()


def test_spec_list_is_not_empty():
    assert len(SPECS) >= 6
