"""The counting tools themselves, run on the one-module-per-layer PyTorch twin of every shipped spec.

Installs nothing: each of torchinfo, fvcore, ptflops (pytorch and aten backends) and thop is run
when importable, and its printed total must equal archcalc's convention of the same name.
ptflops's default printout (functional calls counted again) must equal its module-hook total plus
`ptflops_functional_extra`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from archcalc import analyze  # noqa: E402
from archcalc.conventions import by_convention, ptflops_functional_extra  # noqa: E402
from archcalc.errors import ArchcalcError  # noqa: E402
from archcalc import load_spec  # noqa: E402
from archcalc.spec import LAYER_TYPES  # noqa: E402

from .module_twin import build, tool_counts  # noqa: E402
from .test_conventions import KIND_CASES  # noqa: E402

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))


def assert_tools_agree(report, twin=None) -> None:
    """Each importable tool's total on the twin == archcalc's convention of its name; ptflops's default printout ==
    its module-hook total + the functional double count."""
    theirs = tool_counts(twin if twin is not None else build(report))
    if not theirs:
        pytest.skip("none of torchinfo, fvcore, ptflops, thop is installed")
    ours = {name: entry["total"] for name, entry in by_convention(report).items()}
    default = theirs.pop("ptflops-default", None)
    assert theirs == {name: ours[name] for name in theirs}
    if default is not None:
        assert default == ours["ptflops"] + ptflops_functional_extra(report)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_tool_matches_archcalc(path):
    report = analyze(load_spec(path))
    try:
        twin = build(report)
    except NotImplementedError as exc:
        pytest.skip(f"no module twin: {exc}")
    assert_tools_agree(report, twin)


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_new_kinds_against_the_tools(case):
    layer, expected = KIND_CASES[case]
    if layer["type"] not in LAYER_TYPES:
        pytest.xfail(f"layer kind {layer['type']} not in archcalc.spec.LAYER_TYPES yet (issue 11)")
    try:
        report = analyze(load_spec({"name": "one", "input": [8, 8, 4], "layers": [layer]}))
    except ArchcalcError as exc:
        pytest.xfail(f"{case}: {exc}")
    assert_tools_agree(report)
    assert {name: entry["total"] for name, entry in by_convention(report).items()} == expected


def test_embedding_against_the_tools():
    if "embedding" not in LAYER_TYPES:
        pytest.xfail("embedding not in LAYER_TYPES yet (issue 11)")
    report = analyze(load_spec({"name": "one", "input": [12], "layers": [{"type": "embedding", "vocab": 100,
                                                                          "dim": 8}]}))
    assert_tools_agree(report)
    assert by_convention(report)["torchinfo"]["total"] == 800


def _torch_module(case: str):
    """The PyTorch module each KIND_CASES layer stands for, on an 8x8x4 input (until archcalc has the kind)."""
    from torch import nn

    from .module_twin import Scale, _Lambda, _to_first, _to_last

    return {
        "conv_transpose": lambda: nn.ConvTranspose2d(4, 2, 3, 2, 1, output_padding=1),
        "upsample": lambda: nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest"),
        "upsample_bilinear": lambda: nn.Upsample(scale_factor=(2.0, 2.0), mode="bilinear"),
        "layernorm": lambda: nn.Sequential(_Lambda(_to_last), nn.LayerNorm(4, eps=1e-6), _Lambda(_to_first)),
        "adaptive_avgpool": lambda: nn.AdaptiveAvgPool2d((2, 2)),
        "adaptive_maxpool": lambda: nn.AdaptiveMaxPool2d((2, 2)),
        "scale": lambda: Scale(4, 2, False),
        "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU,
    }[case]()


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_new_kind_figures_are_the_tools_own(case):
    """The expected figures of the issue-11 kinds, checked against the tools on the PyTorch modules today."""
    from torch import nn

    class One(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = _torch_module(case)

        def forward(self, x):
            return self.m(x)

        def example_input(self):
            return torch.zeros((1, 4, 8, 8))

    theirs = tool_counts(One().eval())
    theirs.pop("ptflops-default", None)
    expected = KIND_CASES[case][1]
    assert theirs == {name: expected[name] for name in theirs}


#: Small nets over the corners of the rules: 1-D and 3-D maps (fvcore skips their adaptive pools), ELU, leaky
#: ReLU, softmax on a map (thop: 3C - 1 per position), a per-position bias, ceil-mode windows, LRN, a dense without bias.
SYNTHETIC = {
 "one_d": {"name": "1d", "input": [32, 3], "layers": [
    {"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "activation": "elu"},
    {"type": "batchnorm"}, {"type": "activation", "function": "leaky_relu"},
    {"type": "avgpool", "kernel": 2}, {"type": "maxpool", "kernel": 2},
    {"type": "activation", "function": "softmax"},
    {"type": "global_avgpool"}, {"type": "dense", "units": 5, "activation": "sigmoid"}]},
 "three_d": {"name": "3d", "input": [8, 8, 8, 2], "layers": [
    {"type": "conv", "filters": 4, "kernel": 3, "padding": "same", "activation": "tanh"},
    {"type": "batchnorm"}, {"type": "avgpool", "kernel": 2}, {"type": "global_avgpool"},
    {"type": "dense", "units": 3, "bias": False, "activation": "softmax"}]},
 "two_d_misc": {"name": "2d", "input": [9, 9, 3], "layers": [
    {"type": "conv", "name": "a", "filters": 4, "kernel": 2, "padding": "same", "bias": "per_position"},
    {"type": "conv", "name": "b", "inputs": "input", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "rounding": "ceil"},
    {"type": "maxpool", "name": "c", "inputs": "a", "kernel": 3, "stride": 2, "padding": 1, "rounding": "ceil"},
    {"type": "add", "inputs": ["b", "c"]}, {"type": "activation", "function": "softmax"},
    {"type": "lrn", "size": 3}, {"type": "global_maxpool"}, {"type": "dense", "units": 2}]},
}


@pytest.mark.parametrize("case", sorted(SYNTHETIC))
def test_small_nets_against_the_tools(case):
    report = analyze(load_spec(SYNTHETIC[case]))
    assert_tools_agree(report)
