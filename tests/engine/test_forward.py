"""The notes' worked examples through whole specs: archcalc.forward on tiny nets gives the notes' numbers."""

import numpy as np
import pytest

import archcalc
from archcalc.engine import compiled
from archcalc.engine.forward import EngineShapeError, KERNELS, ParamsError, estimate_memory, param_shapes
from archcalc.errors import ShapeError
from archcalc.layers import REGISTRY as RULES
from archcalc.spec import LAYER_TYPES


def net(input_shape, *layers, **extra):
    return archcalc.load_spec({"input": list(input_shape), "layers": list(layers), **extra})


def conv_params(w, b=None, name="conv1"):
    entry = {"weight": np.asarray(w, np.float32)}
    if b is not None:
        entry["bias"] = np.asarray(b, np.float32)
    return {name: entry}


def image_1_to_9():
    return np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)


def test_every_layer_type_has_a_kernel_and_a_rule():
    assert set(KERNELS) == set(LAYER_TYPES) == set(RULES)


@pytest.mark.parametrize("padding, expected", [
    ("valid", [[12, 16], [24, 28]]),
    ("same", [[12, 16, 9], [24, 28, 15], [15, 17, 9]]),
])
def test_2x2_ones_valid_and_same(padding, expected):
    n = net([3, 3, 1], {"type": "conv", "filters": 1, "kernel": 2, "padding": padding, "bias": False})
    y = archcalc.forward(n, image_1_to_9(), conv_params(np.ones((2, 2, 1, 1))))
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_three_filters_1_10_minus1_same():
    n = net([3, 3, 1], {"type": "conv", "filters": 3, "kernel": 2, "padding": "same"})
    w = np.tile(np.array([1.0, 10.0, -1.0]), (2, 2, 1, 1))
    y = archcalc.forward(n, image_1_to_9(), conv_params(w, np.zeros(3)))
    same = np.array([[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    for k, scale in enumerate([1, 10, -1]):
        np.testing.assert_array_equal(y[0, :, :, k], scale * same)


@pytest.mark.parametrize("stride, rows", [(1, [24, 33, 42, 51, 60]), (2, [24, 42, 60])])
def test_7x7_rows_filter_rows_0_1_2(stride, rows):
    n = net([7, 7, 1], {"type": "conv", "filters": 1, "kernel": 3, "stride": stride, "bias": False})
    x = np.repeat(np.arange(1, 8, dtype=np.float32)[:, None], 7, axis=1).reshape(1, 7, 7, 1)
    w = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]]).reshape(3, 3, 1, 1)
    y = archcalc.forward(n, x, conv_params(w))
    np.testing.assert_array_equal(y[0, :, :, 0], np.repeat(np.array(rows)[:, None], len(rows), axis=1))


def test_5x5_ones_padded_by_1():
    n = net([5, 5, 1], {"type": "conv", "filters": 1, "kernel": 3, "padding": 1, "bias": False})
    y = archcalc.forward(n, np.ones((1, 5, 5, 1)), conv_params(np.ones((3, 3, 1, 1))))
    edge, mid = [4, 6, 6, 6, 4], [6, 9, 9, 9, 6]
    np.testing.assert_array_equal(y[0, :, :, 0], [edge, mid, mid, mid, edge])


def test_sharpen_first_output_114():
    image = np.array([[60, 113, 56, 139, 85], [73, 121, 54, 84, 128], [131, 99, 70, 129, 127],
                      [80, 57, 115, 69, 134], [104, 126, 123, 95, 130]], np.float32).reshape(1, 5, 5, 1)
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]).reshape(3, 3, 1, 1)
    n = net([5, 5, 1], {"type": "conv", "filters": 1, "kernel": 3, "padding": 1, "bias": False})
    y = archcalc.forward(n, image, conv_params(sharpen))
    assert y.shape == (1, 5, 5, 1)
    assert y[0, 0, 0, 0] == 114


def test_4x4_sample_weighted_sum_59():
    sample = np.array([[1, 5, 4, 3], [8, 4, 1, 4], [1, 2, 3, 3], [6, 5, 3, 1]], np.float32)
    filt = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [2, 2, 2, 2], [3, 3, 3, 3]])
    n = net([4, 4, 1], {"type": "conv", "filters": 1, "kernel": 4, "bias": False})
    y = archcalc.forward(n, sample.reshape(1, 4, 4, 1), conv_params(filt.reshape(4, 4, 1, 1)))
    assert y.shape == (1, 1, 1, 1) and y.item() == 59


def test_maxpool_2x2_stride_1_same():
    n = net([2, 2, 1], {"type": "maxpool", "kernel": 2, "stride": 1, "padding": "same"})
    y = archcalc.forward(n, np.array([[4, 3], [2, 1]], np.float32).reshape(1, 2, 2, 1), {})
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 3], [2, 1]])


def test_mnist_28x28_stride_2_same_gives_1_14_14_5():
    n = net([28, 28, 1], {"type": "conv", "filters": 5, "kernel": 3, "stride": 2, "padding": "same"})
    params = archcalc.init_params(n)
    assert params["conv1"]["weight"].shape == (3, 3, 1, 5)
    y = archcalc.forward(n, np.random.default_rng(0).random((1, 28, 28, 1)), params)
    assert y.shape == (1, 14, 14, 5) and y.dtype == np.float32


def test_return_all_and_float64():
    n = net([3, 3, 1], {"type": "conv", "name": "c", "filters": 1, "kernel": 2, "bias": False},
            {"type": "activation", "name": "act", "function": "leaky_relu"},
            {"type": "flatten", "name": "flat"})
    w = -np.ones((2, 2, 1, 1))
    out = archcalc.forward(n, image_1_to_9(), conv_params(w, name="c"), dtype="float64", return_all=True)
    assert list(out) == ["c", "act", "flat"]
    np.testing.assert_array_equal(out["c"][0, :, :, 0], [[-12, -16], [-24, -28]])  # not overwritten in place
    np.testing.assert_allclose(out["act"][0, :, :, 0], [[-1.2, -1.6], [-2.4, -2.8]])  # spec's default slope 0.1
    assert out["flat"].shape == (1, 4) and out["flat"].dtype == np.float64


def test_lrn_alpha_over_n_field():
    x = np.full((1, 1, 1, 1), 10.0)
    paper = net([1, 1, 1], {"type": "lrn"})
    torchlike = net([1, 1, 1], {"type": "lrn", "alpha_over_n": True})
    assert archcalc.forward(paper, x, {}, dtype="float64").item() == pytest.approx(10 / (2 + 1e-4 * 100) ** 0.75)
    assert archcalc.forward(torchlike, x, {}, dtype="float64").item() == pytest.approx(10 / (2 + 1e-4 / 5 * 100) ** 0.75)


def test_init_params_like_keras():
    n = net([8, 8, 3],
            {"type": "conv", "name": "c", "filters": 4, "kernel": 3, "bias": False},
            {"type": "conv", "name": "p", "filters": 2, "kernel": 1, "bias": "per_position"},
            {"type": "batchnorm", "name": "bn"},
            {"type": "dense", "name": "d", "units": 5})
    params = archcalc.init_params(n, seed=1)
    assert set(params) == {"c", "p", "bn", "d"}
    assert set(params["c"]) == {"weight"}
    assert params["p"]["bias"].shape == (6, 6, 2)
    limit = np.sqrt(6 / (9 * 3 + 9 * 4))
    assert np.abs(params["c"]["weight"]).max() <= limit and np.abs(params["c"]["weight"]).max() > 0.8 * limit
    assert params["d"]["weight"].shape == (72, 5) and not params["d"]["bias"].any()
    bn = params["bn"]
    assert (bn["gamma"] == 1).all() and (bn["beta"] == 0).all()
    assert (bn["moving_mean"] == 0).all() and (bn["moving_variance"] == 1).all()
    again = archcalc.init_params(n, seed=1)
    np.testing.assert_array_equal(again["d"]["weight"], params["d"]["weight"])
    assert all(a.dtype == np.float32 for e in params.values() for a in e.values())


def test_add_concat_graph_and_free_buffers():
    n = net([6, 6, 2],
            {"type": "conv", "name": "a", "filters": 3, "kernel": 3, "padding": "same", "activation": "relu"},
            {"type": "conv", "name": "b", "filters": 3, "kernel": 1, "inputs": "input"},
            {"type": "add", "name": "sum", "inputs": ["a", "b"]},
            {"type": "concat", "name": "cat", "inputs": ["sum", "a"]},
            {"type": "global_avgpool", "name": "gap"})
    p = archcalc.init_params(n, seed=3)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2))
    every = archcalc.forward(n, x, p, dtype="float64", return_all=True)
    np.testing.assert_allclose(every["sum"], every["a"] + every["b"])
    np.testing.assert_allclose(every["cat"][..., 3:], every["a"])
    y = archcalc.forward(n, x, p, dtype="float64")
    np.testing.assert_allclose(y, every["gap"])
    assert y.shape == (2, 6)


def test_wrong_input_shape_named():
    n = net([3, 3, 1], {"type": "maxpool", "kernel": 2, "stride": 1})
    with pytest.raises(ShapeError, match=r"input has shape \(3, 3, 1\).*\(N, 3, 3, 1\)"):
        archcalc.forward(n, np.ones((3, 3, 1)), {})


def test_params_checked_naming_layer_and_key():
    n = net([4, 4, 1], {"type": "conv", "name": "c1", "filters": 2, "kernel": 3})
    good = archcalc.init_params(n)
    bad = {"c1": {"weight": good["c1"]["weight"][..., :1], "bias": good["c1"]["bias"]}}
    with pytest.raises(ParamsError, match=r"layer 0 \(c1\), field 'weight': 'weight' has shape \[3, 3, 1, 1\], "
                                          r"the spec needs \[3, 3, 1, 2\]"):
        archcalc.forward(n, np.ones((1, 4, 4, 1)), bad)
    with pytest.raises(ParamsError, match="'bias' is missing"):
        archcalc.forward(n, np.ones((1, 4, 4, 1)), {"c1": {"weight": good["c1"]["weight"]}})
    with pytest.raises(ParamsError, match="unknown parameter 'gamma'"):
        archcalc.forward(n, np.ones((1, 4, 4, 1)), {"c1": {**good["c1"], "gamma": np.ones(2)}})
    with pytest.raises(ParamsError, match="'c9', which is not a layer"):
        archcalc.forward(n, np.ones((1, 4, 4, 1)), {**good, "c9": {}})


@pytest.mark.parametrize("fuse", [True, False])
def test_engine_shape_disagreement_fails_loudly(monkeypatch, fuse):
    from archcalc.engine import kernels as K

    monkeypatch.setattr(K, "flatten", lambda x: x)  # the kernel both passes (layer by layer, fused) call
    n = net([2, 2, 1], {"type": "flatten", "name": "flat"})
    with pytest.raises(EngineShapeError, match=r"layer 0 \(flat\).*engine produced \(2, 2, 1\).*says \(4,\)"):
        archcalc.forward(n, np.ones((1, 2, 2, 1)), {}, fuse=fuse)


def test_memory_estimate_counts_batch_dtype_params():
    n = archcalc.load_spec("specs/alexnet.yaml")
    one = estimate_memory(n, 1)
    eight = estimate_memory(n, 8, "float64")
    report = archcalc.analyze(n)
    # held at conv2: the input (the caller's), conv1's buffer (norm1's output reuses it), pool1's (too small for
    # conv2's output) and conv2's own; later layers all fit buffers on the arena's free list
    assert one.activations == (227 * 227 * 3 + 55 * 55 * 96 + 27 * 27 * 96 + 27 * 27 * 256) * 4
    assert eight.activations == one.activations * 16
    # float64 never runs the compiled kernels; a float32 pass that will load them carries numba's runtime
    assert eight.overhead == 64 * 2**20
    assert one.overhead == 64 * 2**20 + (128 * 2**20 if compiled.will_load(np.float32) else 0)
    assert one.params == report.totals.params * 4 and eight.params == report.totals.params * 12
    assert eight.scratch > one.scratch > 0
    assert sum(np.prod(s) for e in param_shapes(n).values() for s in e.values()) == report.totals.params


def test_import_archcalc_does_not_import_numpy():
    import subprocess
    import sys

    code = ("import sys, archcalc; from archcalc.cli import main; "
            "assert 'numpy' not in sys.modules, 'numpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
