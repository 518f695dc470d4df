"""archcalc calc and explain: the working with the notes' numbers."""

import json

import pytest

from archcalc.learn.calc import calc
from tests.learn.conftest import SPECS


def test_issue_example_working(run):
    r = run("calc", "conv", "--input", "7x7x3", "--kernel", 3, "--stride", 2, "--padding", 1, "--filters", 6)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "row: (7 + 1 + 1 - 3) / 2 + 1 = 4" in out
    assert "column: (7 + 1 + 1 - 3) / 2 + 1 = 4" in out
    assert "output shape: 4x4x6" in out
    assert "parameters: (3*3*3 + 1) * 6 = 168" in out
    assert "MACs: 4*4 positions * 6 filters * 3*3*3 = 2,592" in out
    assert "receptive field: 3x3" in out


@pytest.mark.parametrize("stride, size", [(1, 9), (2, 5)])
def test_eleven_by_eleven(stride, size):
    w = calc("conv", "11x11x1", kernel=3, stride=stride, filters=1)
    assert w.output_shape == (size, size, 1) and w.fits
    assert f"(11 - 3) / {stride} + 1 = {size}" in w.text()


@pytest.mark.parametrize("stride, size", [(1, 5), (2, 3)])
def test_seven_fits(stride, size):
    assert calc("conv", "7x7x1", kernel=3, stride=stride, filters=1).output_shape == (size, size, 1)


def test_seven_stride_three_does_not_fit(run):
    r = run("calc", "conv", "--input", "7x7x1", "--kernel", 3, "--stride", 3, "--filters", 1)
    assert r.exit_code == 0
    out = r.stdout
    assert "(7 - 3) / 3 + 1 = 2.33" in out
    assert "does not fit (2.33 x 2.33)" in out
    assert "PyTorch and Keras silently floor it to 2" in out
    assert "ceil_mode gives 3" in out
    assert "padding 1 gives 3" in out and "stride 1 gives 5" in out and "stride 2 gives 3" in out


def test_28_by_32_pad_2_stride_2():
    w = calc("conv", "28x32x1", kernel=5, stride=2, padding=2, filters=1)
    assert not w.fits
    assert w.exact_sizes == ("14.5", "16.5")
    assert w.floor_shape == (14, 16, 1)
    assert "(28 + 2 + 2 - 5) / 2 + 1 = 14.5" in w.text()
    assert calc("conv", "28x32x1", kernel=5, stride=2, padding=2, filters=1, rounding="floor").output_shape == (14, 16, 1)


def test_four_by_four_pad_one():
    w = calc("conv", "4x4x1", kernel=3, stride=1, padding=1, filters=1)
    assert w.output_shape == (4, 4, 1)
    assert "(4 + 1 + 1 - 3) / 1 + 1 = 4" in w.text()


def test_same_shows_tensorflow_padding(run):
    r = run("calc", "conv", "--input", "28x28x1", "--kernel", 3, "--stride", 2, "--padding", "same", "--filters", 5)
    assert r.exit_code == 0
    assert "ceil(28 / 2) = 14" in r.stdout
    assert "= 1: 0 before, 1 after" in r.stdout
    assert "output shape: 14x14x5" in r.stdout
    w = calc("conv", "11x11x1", kernel=6, stride=4, padding="same", filters=1)
    assert w.output_shape == (3, 3, 1)
    assert "= 3: 1 before, 2 after" in w.text()
    valid = calc("conv", "11x11x1", kernel=6, stride=4, padding="valid", filters=1)
    assert valid.floor_shape == (2, 2, 1) and not valid.fits


def test_alexnet_conv1_and_pool1():
    conv = calc("conv", "227x227x3", kernel=11, stride=4, filters=96)
    assert conv.output_shape == (55, 55, 96) and conv.params == 34944
    assert "(11*11*3 + 1) * 96 = 34,944" in conv.text()
    assert calc("conv", "227x227x3", kernel=11, stride=4, filters=96, bias=False).params == 34848
    pool = calc("pool", "55x55x96", kernel=3, stride=2)
    assert pool.output_shape == (27, 27, 96) and pool.params == 0
    assert "parameters: 0" in pool.text()


def test_224_alexnet_suggests_asymmetric_padding():
    w = calc("conv", "224x224x3", kernel=11, stride=4, filters=96)
    assert "54.25" in w.text() and "padding 1 before and 2 after gives 55" in w.text()


def test_dense_and_json(run):
    r = run("calc", "dense", "--input", "7x7x64", "--units", 10, "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["params"] == 31370 and data["macs"] == 31360 and data["output_shape"] == [10]
    assert "parameters: (3,136 + 1) * 10 = 31,370" in data["working"]


@pytest.mark.parametrize("args, message", [
    (["conv", "--input", "5x5x1", "--kernel", 7, "--filters", 1], "kernel 7 is larger than the padded input 5"),
    (["conv", "--input", "5xAx1", "--kernel", 3, "--filters", 1], "input must look like 227x227x3"),
    (["conv", "--input", "5x5x1", "--kernel", 3], "conv needs --filters"),
    (["dense", "--input", "10"], "dense needs --units"),
    (["pool", "--input", "8x8x1"], "pool needs --kernel"),
])
def test_calc_bad_input_exit_2(run, args, message):
    r = run("calc", *args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert "Traceback" not in r.output


def test_explain_alexnet(run):
    r = run("explain", SPECS / "alexnet.yaml")
    assert r.exit_code == 0
    out = r.stdout
    assert "conv1 (conv: 96 filters 11x11, stride 4, padding 0) on 227x227x3 -> 55x55x96" in out
    assert "row: (227 - 11) / 4 + 1 = 55" in out
    assert "parameters: (5*5*96 + 1) * 256 = 614,656" in out
    assert "parameters: (9,216 + 1) * 4,096 = 37,752,832" in out
    assert "input 6x6x256 is read as 6*6*256 = 9,216 values" in out
    for name in ("conv1", "pool1", "norm1", "conv5", "pool3", "fc6", "drop7", "fc8"):
        assert f"\n{name} (" in "\n" + out


def test_explain_one_layer_and_unknown(run):
    r = run("explain", SPECS / "alexnet.yaml", "--layer", "pool1")
    assert r.exit_code == 0
    assert r.stdout.startswith("pool1 (maxpool: 3x3 windows, stride 2, padding 0) on 55x55x96 -> 27x27x96")
    assert "conv1" not in r.stdout
    bad = run("explain", SPECS / "alexnet.yaml", "--layer", "conv9")
    assert bad.exit_code == 2 and "no layer named 'conv9'" in bad.stderr


def test_explain_json_matches_report(run):
    from archcalc import analyze, load_spec

    report = analyze(load_spec(SPECS / "alphago_policy.yaml"))
    r = run("explain", SPECS / "alphago_policy.yaml", "--format", "json", "--set", "k=128")
    data = json.loads(r.stdout)
    assert [d["name"] for d in data] == [row.name for row in report.rows]
    assert data[0]["output_shape"] == [19, 19, 128]
    assert "1*1*128 * 1 + 19*19*1 (a bias per position) = 489" in data[12]["working"][4]
