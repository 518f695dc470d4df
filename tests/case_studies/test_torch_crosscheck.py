"""archcalc's totals against the same nets written by hand in PyTorch (torch_nets.py).

sum(p.numel()) = archcalc's trainable params; batchnorm running_mean + running_var = its
non-trainable params; conv/linear MACs counted by forward hooks on a real forward pass = its MACs;
and the PyTorch output shapes (NCHW) at the stage ends = archcalc's (HWC).  Skipped without torch.
"""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archcalc import analyze, load_spec  # noqa: E402

from . import torch_nets  # noqa: E402

pytestmark = pytest.mark.torch
SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.mark.parametrize("name", sorted(torch_nets.BUILDERS))
def test_params_and_macs_match_pytorch(name):
    build, shape = torch_nets.BUILDERS[name]
    counted = torch_nets.count(build(), shape)
    totals = analyze(load_spec(SPECS / f"{name}.yaml")).totals
    assert (totals.trainable_params, totals.non_trainable_params, totals.macs) == (
        counted["params"], counted["non_trainable"], counted["macs"])


def _hwc(t):
    return tuple(t.shape[2:]) + (t.shape[1],)


def test_resnet50_stage_shapes_match_pytorch():
    model = torch_nets.resnet50().eval()
    x = torch.zeros(1, 3, 224, 224)
    shapes = []
    with torch.no_grad():
        for module in model:
            x = module(x)
            if isinstance(module, torch.nn.Sequential):
                shapes.append(_hwc(x))
    report = analyze(load_spec(SPECS / "resnet50.yaml"))
    assert shapes == [report.row(n).output_shape for n in ("res2.3/relu", "res3.4/relu", "res4.6/relu", "res5.3/relu")]


def test_googlenet_inception_shapes_match_pytorch():
    model = torch_nets.googlenet().eval()
    x = torch.zeros(1, 3, 224, 224)
    shapes = {}
    with torch.no_grad():
        for module in model:
            x = module(x)
            if isinstance(module, torch_nets.Inception):
                shapes[module.tag] = _hwc(x)
    report = analyze(load_spec(SPECS / "googlenet.yaml"))
    assert shapes == {tag: report.row(f"inception_{tag}/output").output_shape for tag in torch_nets.GOOGLENET_TABLE1}
