"""The second zoo (issue 11): each spec's totals and output shape, as exact numbers.

Every number below was counted on an independent, hand-written PyTorch twin of the net
(torch_zoo.py: sum(p.numel()), batchnorm running statistics, conv/conv_transpose/linear MACs by
forward hooks, the output shape), whose parameter count equals torchvision's builder of the same name
(test_zoo_torch.py checks both when torch is installed).  Specs that use issue 11's new layer kinds
(or avgpool's count_include_pad) cannot load until those kinds exist: they wait in specs/pending/ and
their tests are expected to fail until then (xfail, not strict).
"""

from pathlib import Path

import pytest

from archcalc import analyze, load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"


def spec_path(name: str) -> Path:
    """specs/NAME.yaml; specs that need issue 11's kinds wait in specs/pending/ (not globbed by the
    every-spec tests) until the kinds are integrated and they move up."""
    path = SPECS / f"{name}.yaml"
    return path if path.exists() else SPECS / "pending" / f"{name}.yaml"

# name: (trainable params, non-trainable params, MACs, output shape)
ZOO = {
    "shufflenet_v2_x1_0": (2_278_604, 16_180, 144_907_992, (1000,)),
    "densenet121": (7_978_856, 83_648, 2_834_161_664, (1000,)),
    "squeezenet1_1": (1_235_496, 0, 349_151_936, (1000,)),
    "resnext50_32x4d": (25_028_904, 68_224, 4_230_479_872, (1000,)),
    "unet": (31_030_658, 0, 150_428_424_448, (388, 388, 2)),
    "textcnn_kim_rand": (5_990_402, 0, 19_020_600, (2,)),
}

#: what each spec needs beyond today's layer kinds
NEEDS = {
}


def zoo_params(names):
    return [pytest.param(n, marks=pytest.mark.xfail(reason=f"needs issue 11's {NEEDS[n]}", strict=False))
            if n in NEEDS else n for n in names]


@pytest.fixture(scope="module")
def reports():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = analyze(load_spec(spec_path(name)))
        return cache[name]
    return get


@pytest.mark.parametrize("name", zoo_params(sorted(ZOO)))
def test_totals_and_output_shape(reports, name):
    r = reports(name)
    trainable, non_trainable, macs, output = ZOO[name]
    assert (r.totals.trainable_params, r.totals.non_trainable_params, r.totals.macs) == (trainable, non_trainable, macs)
    assert r.rows[-1].output_shape == output
    assert sum(row.params for row in r.rows) == r.totals.params


@pytest.mark.parametrize("name", zoo_params(sorted(ZOO)))
def test_every_expect_holds_and_metadata(reports, name):
    r = reports(name)
    assert r.expect_failures == []
    net = r.network
    assert "checked against" in " ".join(net.source.split()) and net.year and net.authors


def test_densenet_growth_and_transitions(reports):
    r = reports("densenet121")
    assert [r.row(f"denseblock{i}.{n}/output").output_shape for i, n in ((1, 6), (2, 12), (3, 24), (4, 16))] == [
        (56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 1024)]
    assert sum(x.type == "conv" for x in r.rows) == 120  # 1 + 2 x 58 dense layers + 3 transitions


def test_squeezenet_fire_modules(reports):
    r = reports("squeezenet1_1")
    assert r.row("fire9/output").output_shape == (13, 13, 512)
    # squeeze 64 + expand 256 + 256: 512*64+64 + 64*256+256 + 9*64*256+256
    assert sum(x.params for x in r.rows if x.name.startswith("fire9/")) == 197_184


def test_resnext_grouped_convs(reports):
    r = reports("resnext50_32x4d")
    assert r.row("res2.1/conv2").params == 3 * 3 * (128 // 32) * 128  # 32 groups of 4 channels
    assert r.row("res5.3/relu").output_shape == (7, 7, 2048)
