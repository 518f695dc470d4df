"""The lecture notes' worked examples, exactly (seeds 000, 001 and 004)."""

import numpy as np
import pytest

import archcalc
from archcalc.engine import kernels as K

VALID2 = ((0, 0), (0, 0))


def image_1_to_9():
    """image.shape (1, 3, 3, 1) holding 1..9, as in the notes."""
    return np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)


def test_2x2_ones_valid():
    w = np.ones((2, 2, 1, 1), dtype=np.float32)
    out = K.conv(image_1_to_9(), w, None, (1, 1), VALID2)
    assert out.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(out[0, :, :, 0], [[12, 16], [24, 28]])


def test_2x2_ones_same_pads_after():
    # TensorFlow SAME for n=3, f=2, s=1 pads 0 before and 1 after
    w = np.ones((2, 2, 1, 1), dtype=np.float32)
    out = K.conv(image_1_to_9(), w, None, (1, 1), ((0, 1), (0, 1)))
    assert out.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(out[0, :, :, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


def test_three_filters_1_10_minus1():
    w = np.tile(np.array([1.0, 10.0, -1.0], dtype=np.float32), (2, 2, 1, 1))
    assert w.shape == (2, 2, 1, 3)
    out = K.conv(image_1_to_9(), w, None, (1, 1), ((0, 1), (0, 1)))
    assert out.shape == (1, 3, 3, 3)
    same = np.array([[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    np.testing.assert_array_equal(out[0, :, :, 0], same)
    np.testing.assert_array_equal(out[0, :, :, 1], [[120, 160, 90], [240, 280, 150], [150, 170, 90]])
    np.testing.assert_array_equal(out[0, :, :, 2], -same)


def rows_1_to_7():
    return np.repeat(np.arange(1, 8, dtype=np.float32)[:, None], 7, axis=1).reshape(1, 7, 7, 1)


ROW_FILTER = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]], dtype=np.float32).reshape(3, 3, 1, 1)


def test_7x7_rows_stride_1():
    out = K.conv(rows_1_to_7(), ROW_FILTER, None, (1, 1), VALID2)
    np.testing.assert_array_equal(out[0, :, :, 0], np.repeat([[24], [33], [42], [51], [60]], 5, axis=1))


def test_7x7_rows_stride_2():
    out = K.conv(rows_1_to_7(), ROW_FILTER, None, (2, 2), VALID2)
    np.testing.assert_array_equal(out[0, :, :, 0], np.repeat([[24], [42], [60]], 3, axis=1))


def test_5x5_ones_padded_by_1():
    out = K.conv(np.ones((1, 5, 5, 1), np.float32), np.ones((3, 3, 1, 1), np.float32), None,
                 (1, 1), ((1, 1), (1, 1)))
    np.testing.assert_array_equal(out[0, :, :, 0], [[4, 6, 6, 6, 4],
                                                    [6, 9, 9, 9, 6],
                                                    [6, 9, 9, 9, 6],
                                                    [6, 9, 9, 9, 6],
                                                    [4, 6, 6, 6, 4]])


def test_sharpen_kernel_first_output_114():
    image = np.array([[60, 113, 56, 139, 85],
                      [73, 121, 54, 84, 128],
                      [131, 99, 70, 129, 127],
                      [80, 57, 115, 69, 134],
                      [104, 126, 123, 95, 130]], dtype=np.float32).reshape(1, 5, 5, 1)
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32).reshape(3, 3, 1, 1)
    out = K.conv(image, sharpen, None, (1, 1), ((1, 1), (1, 1)))
    assert out.shape == (1, 5, 5, 1)
    assert out[0, 0, 0, 0] == 114  # 5*60 - 113 - 73


def test_4x4_sample_weighted_sum_59():
    sample = np.array([[1, 5, 4, 3], [8, 4, 1, 4], [1, 2, 3, 3], [6, 5, 3, 1]], np.float32)
    filt = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [2, 2, 2, 2], [3, 3, 3, 3]], np.float32)
    out = K.conv(sample.reshape(1, 4, 4, 1), filt.reshape(4, 4, 1, 1), None, (1, 1), VALID2)
    assert out.shape == (1, 1, 1, 1)
    assert out.item() == 13 - 17 + 18 + 45 == 59


def test_maxpool_2x2_stride_1_same():
    image = np.array([[4, 3], [2, 1]], np.float32).reshape(1, 2, 2, 1)
    out = K.maxpool(image, (2, 2), (1, 1), ((0, 1), (0, 1)))
    np.testing.assert_array_equal(out[0, :, :, 0], [[4, 3], [2, 1]])


def test_mnist_28x28_stride_2_same_shape():
    # SAME for n=28, f=3, s=2: out 14, total pad max((14-1)*2 + 3 - 28, 0) = 1, after
    x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    w = np.random.default_rng(1).normal(0, 0.01, (3, 3, 1, 5)).astype(np.float32)
    out = K.conv(x, w, None, (2, 2), ((0, 1), (0, 1)))
    assert out.shape == (1, 14, 14, 5)
    assert out.dtype == np.float32


def test_avgpool_excludes_padding():
    image = np.array([[4, 3], [2, 1]], np.float32).reshape(1, 2, 2, 1)
    out = K.avgpool(image, (2, 2), (1, 1), ((0, 1), (0, 1)))
    np.testing.assert_allclose(out[0, :, :, 0], [[10 / 4, 4 / 2], [3 / 2, 1]])


def test_ceil_mode_overhanging_windows():
    # n=5, f=2, s=2: floor gives 2 windows, ceil gives 3; the 3rd reads only x[4]
    x = np.array([1, 2, 3, 4, 5], np.float32).reshape(1, 5, 1)
    np.testing.assert_array_equal(K.maxpool(x, (2,), (2,), ((0, 0),), out_spatial=(3,))[0, :, 0], [2, 4, 5])
    np.testing.assert_array_equal(K.avgpool(x, (2,), (2,), ((0, 0),), out_spatial=(3,))[0, :, 0], [1.5, 3.5, 5])
    w = np.ones((2, 1, 1), np.float32)
    np.testing.assert_array_equal(K.conv(x, w, None, (2,), ((0, 0),), out_spatial=(3,))[0, :, 0], [3, 7, 5])


def test_lrn_paper_formula_single_value():
    # one channel: b = a / (k + alpha * a^2)^beta
    x = np.full((1, 1, 1, 1), 10.0)
    expected = 10.0 / (2 + 1e-4 * 100) ** 0.75
    assert K.lrn(x).item() == pytest.approx(expected, rel=1e-12)
    assert K.lrn(x, alpha_over_n=True).item() == pytest.approx(10.0 / (2 + 1e-4 / 5 * 100) ** 0.75, rel=1e-12)


def test_dense_flattens_channels_last():
    x = np.arange(2 * 2 * 3, dtype=np.float32).reshape(1, 2, 2, 3)  # (h, w, c) order
    w = np.zeros((12, 1), np.float32)
    w[1, 0] = 1.0  # flat index 1 is (h=0, w=0, c=1)
    net = archcalc.load_spec({"input": [2, 2, 3], "layers": [{"type": "dense", "units": 1, "name": "d"}]})
    params = {"d": {"weight": w, "bias": np.array([0.5], np.float32)}}
    assert archcalc.forward(net, x, params).item() == x[0, 0, 0, 1] + 0.5


def test_per_position_bias():
    x = np.zeros((1, 3, 3, 1), np.float32)
    b = np.arange(9, dtype=np.float32).reshape(3, 3, 1)
    out = K.conv(x, np.ones((1, 1, 1, 1), np.float32), b, (1, 1), VALID2)
    np.testing.assert_array_equal(out[0], b)


def test_dtype_kept():
    x64 = image_1_to_9().astype(np.float64)
    w = np.ones((2, 2, 1, 1), np.float32)
    assert K.conv(x64, w, None, (1, 1), VALID2).dtype == np.float64
    assert K.maxpool(x64, (2, 2), (1, 1), VALID2).dtype == np.float64
    assert K.conv(image_1_to_9().astype(np.int64), w, None, (1, 1), VALID2).dtype == np.float32


def act(name, x, alpha=None):
    return K.activate(np.array(x, dtype=np.float64), name, alpha)


def test_activations():
    x = [-2.0, 0.0, 3.0]
    np.testing.assert_array_equal(act("relu", x), [0, 0, 3])
    np.testing.assert_allclose(act("leaky_relu", x, 0.1), [-0.2, 0, 3])
    np.testing.assert_allclose(act("elu", x, 1.0), [np.expm1(-2.0), 0, 3])
    np.testing.assert_allclose(act("sigmoid", x), 1 / (1 + np.exp(-np.array(x))))
    np.testing.assert_allclose(act("tanh", x), np.tanh(x))
    np.testing.assert_allclose(act("softmax", x), np.exp(x) / np.exp(x).sum())
    np.testing.assert_array_equal(act("linear", x), x)
    np.testing.assert_array_equal(act(None, x), x)
    assert act("sigmoid", [-1000.0, 1000.0]).tolist() == [0.0, 1.0]
    np.testing.assert_allclose(act("softmax", [[1000.0, 1000.0]]), [[0.5, 0.5]])


def test_add_concat_global_pools():
    a = np.ones((2, 3, 3, 2), np.float32)
    b = np.full((2, 3, 3, 1), 2.0, np.float32)
    net = archcalc.load_spec({"input": [3, 3, 2], "layers": [
        {"type": "activation", "function": "linear", "name": "a"},
        {"type": "conv", "filters": 1, "kernel": 1, "name": "b", "inputs": "input"},
        {"type": "concat", "inputs": ["a", "b"], "name": "c"},
        {"type": "concat", "inputs": ["a", "a"], "axis": 0, "name": "rows"},
        {"type": "add", "inputs": ["a", "a", "a"], "name": "sum"}]})
    params = {"b": {"weight": np.full((1, 1, 2, 1), 1.0, np.float32), "bias": np.zeros(1, np.float32)}}
    out = archcalc.forward(net, a, params, return_all=True)
    np.testing.assert_array_equal(out["c"], np.concatenate([a, b], axis=-1))
    assert out["rows"].shape == (2, 6, 3, 2)
    np.testing.assert_array_equal(out["sum"], 3 * a)
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(K.global_avgpool(x), [[3, 4]])
    np.testing.assert_array_equal(K.global_maxpool(x), [[6, 7]])


def test_batchnorm():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = K.batchnorm(x, np.array([2.0, 1.0]), np.array([0.5, 0.0]), np.array([1.0, 2.0]),
                    np.array([4.0, 1.0]), eps=0.0)
    np.testing.assert_allclose(y, [[0.5, 0.0], [2.5, 2.0]])


def test_bad_channels_named():
    with pytest.raises(ValueError, match="input channels 2"):
        K.conv(np.ones((1, 3, 3, 2)), np.ones((2, 2, 3, 1)), None, (1, 1), VALID2)
