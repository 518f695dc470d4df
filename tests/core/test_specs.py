"""Every number the notes print about the nets in specs/, asserted exactly."""

from pathlib import Path

import pytest

import archcalc

SPECS = Path(__file__).resolve().parents[2] / "specs"


def report(name):
    return archcalc.analyze(archcalc.load_spec(SPECS / name))


def shapes(r):
    return {row.name: row.output_shape for row in r.rows}


def test_alexnet_matches_the_notes_listing():
    r = report("alexnet.yaml")
    s = shapes(r)
    assert r.input_shape == (227, 227, 3)
    listing = {
        "conv1": (55, 55, 96), "pool1": (27, 27, 96), "norm1": (27, 27, 96), "conv2": (27, 27, 256),
        "pool2": (13, 13, 256), "norm2": (13, 13, 256), "conv3": (13, 13, 384), "conv4": (13, 13, 384),
        "conv5": (13, 13, 256), "pool3": (6, 6, 256), "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
    }
    for name, shape in listing.items():
        assert s[name] == shape, name
    conv1 = r.row("conv1")
    assert conv1.params == 11 * 11 * 3 * 96 + 96 == 34_944
    assert r.row("pool1").params == 0  # "Parameters: 0!"
    per_layer = {"conv2": 614_656, "conv3": 885_120, "conv4": 1_327_488, "conv5": 884_992,
                 "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000}
    for name, params in per_layer.items():
        assert r.row(name).params == params, name
    assert r.totals.params == 62_378_344
    assert r.totals.trainable_params == 62_378_344
    assert r.totals.macs == 1_135_256_096
    assert r.totals.flops == 2 * 1_135_256_096
    assert r.totals.bias_adds == 1_135_915_368 - 1_135_256_096  # torchinfo's Mult-Adds minus ours
    assert not r.expect_failures


def test_alexnet_receptive_fields():
    r = report("alexnet.yaml")
    rf = {row.name: row.receptive_field for row in r.rows}
    # size_l = size_{l-1} + (F-1)*jump_{l-1}, jump_l = jump_{l-1}*S, by hand:
    assert rf["conv1"].size == (11, 11) and rf["conv1"].jump == (4, 4) and rf["conv1"].start == (5, 5)
    assert rf["pool1"].size == (19, 19) and rf["pool1"].jump == (8, 8) and rf["pool1"].start == (9, 9)
    assert rf["conv2"].size == (51, 51) and rf["conv2"].start == (9, 9)  # pad 2 * jump 8 cancels the +2*8 shift
    assert rf["pool3"].size == (195, 195) and rf["pool3"].jump == (32, 32)
    assert rf["fc6"] is None


def test_alexnet_memory():
    r = report("alexnet.yaml")
    t = r.totals
    assert t.input_bytes == 227 * 227 * 3 * 4
    assert t.param_bytes == 62_378_344 * 4
    assert t.activation_elements == sum(row.output_elements for row in r.rows)
    assert t.total_bytes == t.input_bytes + t.activation_bytes + t.param_bytes


def test_lenet5_modern_variant():
    r = report("lenet5.yaml")
    assert [row.params for row in r.rows if row.params] == [156, 2416, 48120, 10164, 850]
    assert r.totals.params == 61_706
    assert shapes(r)["c5"] == (1, 1, 120)


def test_alphago_policy_per_position_bias():
    r = report("alphago_policy.yaml")
    last = r.row("conv13")
    assert last.output_shape == (19, 19, 1)
    assert last.params == 192 + 361  # 1x1x192 weights and a bias for each of the 361 positions, not 362
    assert r.row("conv1").params == 5 * 5 * 48 * 192 + 192
    assert r.row("conv2").params == 3 * 3 * 192 * 192 + 192
    assert r.totals.params == 230_592 + 11 * 331_968 + 553 == 3_882_793
    assert r.output_shape == (361,)
    # 23x23 and 21x21 zero-padded images, as the paper words it
    assert r.row("conv1").axes[0].n + r.row("conv1").axes[0].pb + r.row("conv1").axes[0].pa == 23
    assert r.row("conv2").axes[0].n + r.row("conv2").axes[0].pb + r.row("conv2").axes[0].pa == 21


@pytest.mark.parametrize("k", [128, 192, 256, 384])
def test_alphago_k_sweep(k):
    r = archcalc.analyze(archcalc.load_spec(SPECS / "alphago_policy.yaml", set_vars={"k": k}))
    expected = (5 * 5 * 48 * k + k) + 11 * (9 * k * k + k) + (k + 361)
    assert r.totals.params == expected


def test_mnist_simple_tensor_shapes():
    r = report("mnist_simple.yaml")
    assert [row.output_shape for row in r.rows] == [
        (28, 28, 32), (14, 14, 32), (14, 14, 64), (7, 7, 64), (3136,), (10,)]
    assert r.totals.params == 50_090


def test_mnist_deep_tensor_shapes():
    r = report("mnist_deep.yaml")
    s = shapes(r)
    assert s["pool3"] == (4, 4, 128)
    assert s["flat"] == (2048,)
    assert s["dense4"] == (625,)
    assert r.totals.params == 1_379_557


def test_cifar10_keras_summary():
    r = report("cifar10_keras.yaml")
    assert [row.params for row in r.rows] == [896, 9248, 0, 0, 0, 1_048_704, 1290]
    assert [row.output_shape for row in r.rows] == [
        (32, 32, 32), (32, 32, 32), (16, 16, 32), (16, 16, 32), (8192,), (128,), (10,)]
    assert r.totals.params == r.totals.trainable_params == 1_060_138
    assert r.totals.non_trainable_params == 0


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.y*ml")) + sorted(SPECS.glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_spec_loads_analyses_and_meets_its_expectations(path):
    net = archcalc.load_spec(path)
    assert net.source, f"{path.name} must name its source"
    r = archcalc.analyze(net)
    assert not r.expect_failures, [row.expect for row in r.expect_failures]
    # column sums equal the totals
    assert sum(row.params for row in r.rows) == r.totals.params
    assert sum(row.trainable_params for row in r.rows) == r.totals.trainable_params
    assert sum(row.macs for row in r.rows) == r.totals.macs
