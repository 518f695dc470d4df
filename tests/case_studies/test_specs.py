"""The case-study specs: totals, per-stage shapes and metadata.

Every total below was verified independently: the same nets written by hand in PyTorch
(torch_nets.py) give the same sum(p.numel()), batchnorm running statistics and conv/linear
MACs (test_torch_crosscheck.py runs that comparison when torch is installed).
"""

from pathlib import Path

import pytest

from archcalc import analyze, load_spec
from archcalc.learn.compare import path_depth

SPECS = Path(__file__).resolve().parents[2] / "specs"

# name: (total params, trainable params, MACs, depth on the longest path)
TOTALS = {
    "vgg16": (138_357_544, 138_357_544, 15_470_264_320, 16),
    "resnet18": (11_699_112, 11_689_512, 1_814_073_344, 18),
    "resnet50": (25_610_152, 25_557_032, 4_089_184_256, 50),
    "resnet152": (60_344_232, 60_192_808, 11_513_626_624, 152),
    "googlenet": (6_998_552, 6_998_552, 1_582_671_872, 22),
    "zfnet": (107_627_624, 107_627_624, 2_476_704_896, 8),
    "textcnn_kim": (360_902, 360_902, 19_020_600, 2),
}


@pytest.fixture(scope="module")
def reports():
    return {name: analyze(load_spec(SPECS / f"{name}.yaml")) for name in TOTALS}


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_totals(reports, name):
    params, trainable, macs, depth = TOTALS[name]
    r = reports[name]
    assert (r.totals.params, r.totals.trainable_params, r.totals.macs) == (params, trainable, macs)
    assert path_depth(r) == depth
    assert sum(row.params for row in r.rows) == r.totals.params


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_every_expect_holds_and_metadata(reports, name):
    r = reports[name]
    assert r.expect_failures == []
    net = r.network
    assert net.source and ("verified" in net.source.lower() or "checked" in net.source.lower())
    assert net.year and net.authors


def test_vgg16_is_about_15_5_g_macs(reports):
    assert round(reports["vgg16"].totals.macs / 1e9, 1) == 15.5


def test_resnet_batchnorm_moving_statistics_are_non_trainable(reports):
    assert reports["resnet18"].totals.non_trainable_params == 9_600
    assert reports["resnet50"].totals.non_trainable_params == 53_120
    assert reports["resnet152"].totals.non_trainable_params == 151_424


def test_resnet50_stage_shapes(reports):
    r = reports["resnet50"]
    assert r.row("res2.3/relu").output_shape == (56, 56, 256)
    assert r.row("res3.4/relu").output_shape == (28, 28, 512)
    assert r.row("res4.6/relu").output_shape == (14, 14, 1024)
    assert r.row("res5.3/relu").output_shape == (7, 7, 2048)
    assert r.row("conv1").warnings and "112.5 floored to 112" in r.row("conv1").warnings[0]


def test_resnet_layer_counts(reports):
    assert len(reports["resnet50"].rows) == 174
    assert sum(r.type == "conv" for r in reports["resnet152"].rows) == 155  # 151 on the path + 4 projections


def test_googlenet_stage_shapes_and_per_layer_rounding(reports):
    r = reports["googlenet"]
    assert r.row("inception_3a/output").output_shape == (28, 28, 256)
    assert r.row("inception_5b/output").output_shape == (7, 7, 1024)
    assert r.row("conv1").axes[0].rounding == "floor"
    assert [r.row(p).axes[0].rounding for p in ("pool1", "pool2", "pool3", "pool4")] == ["ceil"] * 4
    assert r.row("inception_3a/5x5").layer.kernel == (5, 5)
    # the Table 1 columns of inception 3a, counted exactly with biases (the paper prints 159K)
    assert sum(x.params for x in r.rows if x.name.startswith("inception_3a/")) == 163_696


def test_textcnn_branches(reports):
    r = reports["textcnn_kim"]
    assert [r.row(f"width{w}/conv").output_shape for w in (3, 4, 5)] == [(54, 100), (53, 100), (52, 100)]
    assert r.row("features").output_shape == (300,)


def test_zfnet_figure_3_sizes(reports):
    r = reports["zfnet"]
    assert [r.row(n).output_shape for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool3")] == [
        (110, 110, 96), (55, 55, 96), (26, 26, 256), (13, 13, 256), (13, 13, 512), (6, 6, 512)]
