"""One small onnx.helper graph per operator and per padding/rounding case; each checked against ONNX's own
reference evaluator (helpers.check) and for the exact spec layer it becomes."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import check, layers, model, needs_kind, node, rand

import archcalc
from archcalc.errors import SpecError
from archcalc.interop.onnx import OPS, import_onnx


def conv_model(input_shape, w_shape, **attrs):
    return model([node("Conv", ["x", "W", "B"], name="/conv1/Conv", **attrs)], input_shape,
                 W=rand(*w_shape), B=rand(w_shape[0]))


def test_conv_7x7_stride2_pad3_on_224_floors_and_says_so():
    """PyTorch's ResNet stem: (224 + 6 - 7)/2 + 1 = 112.5, floored to 112 by ONNX and PyTorch."""
    m = conv_model((3, 224, 224), (8, 3, 7, 7), kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3])
    imported = check(m)
    assert layers(imported) == [{"type": "conv", "filters": 8, "kernel": 7, "stride": 2, "padding": 3,
                                 "rounding": "floor"}]
    assert imported.spec["layers"][0]["name"] == "conv1"
    assert archcalc.analyze(archcalc.load_spec(imported.spec)).output_shape == (112, 112, 8)


def test_conv_that_tiles_gets_no_rounding():
    m = conv_model((3, 32, 32), (4, 3, 3, 3), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    assert layers(check(m)) == [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}]


def test_conv_groups_dilation_asymmetric_pads():
    """Rows (15 + 0 + 2 - 5)/2 + 1 = 7 and columns (17 + 1 + 0 - 2)/1 + 1 = 17 tile: no rounding."""
    m = conv_model((4, 15, 17), (6, 2, 3, 2), kernel_shape=[3, 2], strides=[2, 1], dilations=[2, 1], group=2,
                   pads=[0, 1, 2, 0])
    assert layers(check(m)) == [{"type": "conv", "filters": 6, "kernel": [3, 2], "stride": [2, 1],
                                 "padding": [[0, 2], [1, 0]], "dilation": [2, 1],
                                 "groups": 2}]


def test_conv_without_bias_1d_and_3d():
    m1 = model([node("Conv", ["x", "W"], kernel_shape=[3])], (2, 10), W=rand(5, 2, 3))
    assert layers(check(m1)) == [{"type": "conv", "filters": 5, "kernel": 3, "bias": False}]
    m3 = model([node("Conv", ["x", "W"], kernel_shape=[2, 2, 2], strides=[2, 2, 2])], (1, 4, 4, 4),
               W=rand(3, 1, 2, 2, 2))
    assert layers(check(m3)) == [{"type": "conv", "filters": 3, "kernel": 2, "stride": 2, "bias": False}]


def test_auto_pad_same_upper_is_padding_same():
    m = conv_model((3, 11, 11), (2, 3, 6, 6), kernel_shape=[6, 6], strides=[4, 4], auto_pad="SAME_UPPER")
    imported = check(m)
    assert layers(imported) == [{"type": "conv", "filters": 2, "kernel": 6, "stride": 4, "padding": "same"}]
    assert archcalc.analyze(archcalc.load_spec(imported.spec)).output_shape == (3, 3, 2)


def test_auto_pad_same_lower_is_explicit_pairs_with_the_extra_pixel_before():
    m = conv_model((3, 11, 11), (2, 3, 6, 6), kernel_shape=[6, 6], strides=[4, 4], auto_pad="SAME_LOWER")
    assert layers(check(m)) == [{"type": "conv", "filters": 2, "kernel": 6, "stride": 4,
                                 "padding": [[2, 1], [2, 1]]}]


def test_auto_pad_valid():
    m = conv_model((3, 9, 9), (2, 3, 3, 3), kernel_shape=[3, 3], strides=[2, 2], auto_pad="VALID")
    assert layers(check(m)) == [{"type": "conv", "filters": 2, "kernel": 3, "stride": 2}]


def test_maxpool_ceil_mode_is_rounding_ceil():
    """GoogLeNet's pools: 112 -> (112 - 3)/2 + 1 = 55.5, ceil_mode gives 56."""
    m = model([node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], (4, 112, 112))
    imported = check(m)
    assert layers(imported) == [{"type": "maxpool", "kernel": 3, "stride": 2, "rounding": "ceil"}]
    assert archcalc.analyze(archcalc.load_spec(imported.spec)).output_shape == (56, 56, 4)


def test_maxpool_with_padding_floor():
    m = model([node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], (4, 112, 112))
    assert layers(check(m)) == [{"type": "maxpool", "kernel": 3, "stride": 2, "padding": 1, "rounding": "floor"}]


def test_averagepool_pads_left_out_of_the_count():
    m = model([node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])], (2, 6, 6))
    assert layers(check(m)) == [{"type": "avgpool", "kernel": 3, "stride": 1, "padding": 1}]


@needs_kind("avgpool_count_include_pad")
def test_averagepool_count_include_pad():
    m = model([node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
                    count_include_pad=1)], (2, 6, 6))
    assert layers(check(m))[0]["count_include_pad"] is True


@pytest.mark.parametrize("op,kind", [("GlobalAveragePool", "global_avgpool"), ("GlobalMaxPool", "global_maxpool")])
def test_global_pools(op, kind):
    m = model([node(op, ["x"], "g"), node("Flatten", ["g"])], (5, 7, 7))
    assert layers(check(m)) == [{"type": kind}]


def test_gemm_transb_alpha_beta():
    m = model([node("Gemm", ["x", "W", "C"], transB=1, alpha=0.5, beta=2.0)], (6,), W=rand(4, 6), C=rand(4))
    imported = check(m)
    assert layers(imported) == [{"type": "dense", "units": 4}]
    assert imported.weights["gemm"]["weight"].shape == (6, 4)


def test_matmul_add_is_one_dense_layer_with_bias():
    m = model([node("MatMul", ["x", "W"], "m"), node("Add", ["m", "B"])], (6,), W=rand(6, 3), B=rand(3))
    imported = check(m)
    assert layers(imported) == [{"type": "dense", "units": 3}]
    assert set(imported.weights["matmul"]) == {"weight", "bias"}


def test_flatten_of_a_map_permutes_the_dense_rows_to_channels_last():
    """ONNX flattens C, H, W; archcalc H, W, C: the same output needs the dense rows reordered."""
    m = model([node("Conv", ["x", "W"], "c", kernel_shape=[3, 3]), node("Relu", ["c"], "r"),
               node("Flatten", ["r"], "f"), node("Gemm", ["f", "W2", "B2"], transB=1)], (2, 6, 5),
              W=rand(3, 2, 3, 3), W2=rand(4, 3 * 4 * 3), B2=rand(4))
    assert [layer["type"] for layer in layers(check(m))] == ["conv", "flatten", "dense"]


def test_reshape_to_a_vector_with_a_folded_shape_subgraph():
    """Reshape(x, Concat(Shape(x)[0:1], [-1])): the shape arithmetic is folded, the reshape is a flatten."""
    nodes = [node("Shape", ["x"], "s"), node("Gather", ["s", "zero"], "n", axis=0),
             node("Unsqueeze", ["n", "axes"], "n1"), node("Concat", ["n1", "minus1"], "target", axis=0),
             node("Reshape", ["x", "target"], "f"), node("Gemm", ["f", "W"], transB=1)]
    m = model(nodes, (2, 3, 3), zero=np.array(0, np.int64), axes=np.array([0], np.int64),
              minus1=np.array([-1], np.int64), W=rand(5, 18))
    assert [layer["type"] for layer in layers(check(m))] == ["flatten", "dense"]


def test_dropout_and_identity():
    m = model([node("Identity", ["x"], "i"), node("Dropout", ["i", "ratio"], "d"), node("Relu", ["d"])], (4, 3, 3),
              ratio=np.array(0.25, np.float32))
    assert layers(check(m)) == [{"type": "dropout", "rate": 0.25}, {"type": "activation", "function": "relu"}]


def test_lrn_divides_alpha_by_size():
    m = model([node("LRN", ["x"], size=5, alpha=1e-4, beta=0.75, bias=2.0)], (7, 3, 3))
    assert layers(check(m)) == [{"type": "lrn", "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0,
                                 "alpha_over_n": True}]


def test_batchnorm():
    c = 4
    m = model([node("BatchNormalization", ["x", "g", "b", "mu", "var"], epsilon=1e-5)], (c, 3, 3),
              g=rand(c), b=rand(c), mu=rand(c), var=np.abs(rand(c)) + 0.5)
    imported = check(m)
    assert layers(imported) == [{"type": "batchnorm", "eps": 1e-5,
                                 "momentum": 0.9}]
    assert archcalc.analyze(archcalc.load_spec(imported.spec)).totals.trainable_params == 2 * c


@pytest.mark.parametrize("op,attrs,want", [
    ("Relu", {}, {"function": "relu"}),
    ("LeakyRelu", {"alpha": 0.2}, {"function": "leaky_relu", "alpha": 0.2}),
    ("LeakyRelu", {}, {"function": "leaky_relu", "alpha": 0.01}),
    ("Elu", {"alpha": 0.5}, {"function": "elu", "alpha": 0.5}),
    ("Sigmoid", {}, {"function": "sigmoid"}),
    ("Tanh", {}, {"function": "tanh"}),
    ("Softmax", {"axis": 1}, {"function": "softmax"}),
])
def test_activations(op, attrs, want):
    m = model([node(op, ["x"], **attrs)], (3, 4, 4))
    assert layers(check(m)) == [{"type": "activation", **want}]


def test_activation_fuses_into_the_conv_or_dense_before_it():
    m = model([node("Conv", ["x", "W"], "c", kernel_shape=[1, 1]), node("Relu", ["c"], "r"),
               node("GlobalAveragePool", ["r"], "g"), node("Flatten", ["g"], "f"),
               node("Gemm", ["f", "W2"], "d", transB=1), node("Softmax", ["d"])], (3, 4, 4),
              W=rand(5, 3, 1, 1), W2=rand(2, 5))
    assert layers(check(m)) == [{"type": "conv", "filters": 5, "kernel": 1, "bias": False, "activation": "relu"},
                                {"type": "global_avgpool"},
                                {"type": "dense", "units": 2, "bias": False, "activation": "softmax"}]


def test_add_and_concat_join_branches():
    nodes = [node("Conv", ["x", "W1"], "a", name="/a/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             node("Conv", ["x", "W2"], "b", name="/b/Conv", kernel_shape=[1, 1]),
             node("Add", ["a", "b"], "s", name="/add/Add"), node("Concat", ["s", "a"], axis=1, name="/cat/Concat")]
    imported = check(model(nodes, (3, 5, 5), W1=rand(4, 3, 3, 3), W2=rand(4, 3, 1, 1)))
    assert [(layer["type"], layer.get("inputs")) for layer in imported.spec["layers"]] == [
        ("conv", None), ("conv", "input"), ("add", ["a", "b"]), ("concat", ["add", "a"])]


def test_pad_before_conv_and_maxpool_is_taken_into_their_padding():
    """PyTorch's F.pad + conv (asymmetric SAME) and -inf pad + max pool become the layers' own padding."""
    nodes = [node("Pad", ["x", "p"], "xp"), node("Conv", ["xp", "W"], "c", kernel_shape=[3, 3], strides=[2, 2]),
             node("Pad", ["c", "p", "ninf"], "cp"), node("MaxPool", ["cp"], kernel_shape=[3, 3], strides=[2, 2])]
    pads = np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)
    m = model(nodes, (2, 8, 8), p=pads, W=rand(3, 2, 3, 3), ninf=np.array(-np.inf, np.float32))
    assert layers(check(m)) == [
        {"type": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": [[0, 1], [0, 1]], "bias": False},
        {"type": "maxpool", "kernel": 3, "stride": 2, "padding": [[0, 1], [0, 1]]}]


def test_conv_1x1_on_a_pooled_vector_is_dense():
    """Squeeze-and-excitation's 1x1 convs on the (C, 1, 1) output of a global pool."""
    m = model([node("GlobalAveragePool", ["x"], "g"), node("Conv", ["g", "W", "B"], "c", kernel_shape=[1, 1]),
               node("Flatten", ["c"])], (6, 4, 4), W=rand(3, 6, 1, 1), B=rand(3))
    assert layers(check(m)) == [{"type": "global_avgpool"}, {"type": "dense", "units": 3}]


def test_unsupported_operator_names_node_op_and_supported_list(tmp_path):
    from archcalc.interop import import_model

    m = model([node("Relu", ["x"], "r"), node("Sin", ["r"], name="/head/Sin")], (3, 4, 4))
    with pytest.raises(SpecError) as info:
        import_onnx(m)
    text = str(info.value)
    assert "node '/head/Sin' (Sin)" in text and "operator Sin cannot be mapped" in text
    assert "supported: " in text and "Conv" in text and "MaxPool" in text
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(SpecError):
        import_model(path, tmp_path / "out.yaml", weights=tmp_path / "w.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_add_of_a_constant_that_is_no_bias_is_refused():
    m = model([node("Relu", ["x"], "r"), node("Add", ["r", "c"])], (3, 4, 4), c=rand(3, 1, 1))
    with pytest.raises(SpecError, match="adds a constant"):
        import_onnx(m)


def test_registry_covers_the_issue_operators():
    wanted = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Gemm",
              "MatMul", "Relu", "Clip", "LeakyRelu", "Elu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softmax",
              "Gelu", "BatchNormalization", "LRN", "LayerNormalization", "Add", "Mul", "Concat", "Split", "Slice",
              "Reshape", "Transpose", "Flatten", "Dropout", "Identity", "Pad", "Resize", "Upsample"}
    assert wanted <= set(OPS.table)


def test_from_onnx_reads_a_file_and_the_spec_loads(tmp_path):
    m = conv_model((3, 16, 16), (4, 3, 3, 3), kernel_shape=[3, 3])
    path = tmp_path / "net.onnx"
    path.write_bytes(m.SerializeToString())
    spec = archcalc.from_onnx(path)
    assert spec["source"].startswith("Imported from net.onnx (ONNX opset 17")
    assert archcalc.analyze(archcalc.load_spec(spec)).totals.params == 4 * 27 + 4


# --- the issue-11 kinds: each is one more converter; they pass once archcalc has the kind ----------------------

@needs_kind("relu6")
def test_clip_0_6_is_relu6():
    m = model([node("Clip", ["x", "lo", "hi"])], (3, 4, 4), lo=np.array(0, np.float32), hi=np.array(6, np.float32))
    assert layers(check(m)) == [{"type": "activation", "function": "relu6"}]


@needs_kind("hardsigmoid")
def test_hardsigmoid_pytorch():
    m = model([node("HardSigmoid", ["x"], alpha=1 / 6, beta=0.5)], (3, 4, 4))
    assert layers(check(m)) == [{"type": "activation", "function": "hardsigmoid"}]


@needs_kind("hardswish")
def test_hardswish():
    m = model([node("HardSwish", ["x"])], (3, 4, 4))
    assert layers(check(m)) == [{"type": "activation", "function": "hardswish"}]


@needs_kind("gelu")
def test_gelu():
    m = model([node("Gelu", ["x"])], (3, 4, 4), opset=20)
    assert layers(check(m)) == [{"type": "activation", "function": "gelu"}]


@needs_kind("multiply")
def test_mul_of_two_branches_is_multiply():
    m = model([node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"])], (3, 4, 4))
    assert layers(check(m))[-1] == {"type": "multiply"}


@needs_kind("conv_transpose")
def test_conv_transpose():
    m = model([node("ConvTranspose", ["x", "W", "B"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                    output_padding=[1, 1])], (4, 5, 5), W=rand(4, 3, 3, 3), B=rand(3))
    assert layers(check(m)) == [{"type": "conv_transpose", "filters": 3, "kernel": 3, "stride": 2, "padding": 1,
                                 "output_padding": 1}]


@needs_kind("upsample")
def test_resize_nearest():
    m = model([node("Resize", ["x", "", "scales"], mode="nearest", coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor")], (3, 4, 4), scales=np.array([1, 1, 2, 2], np.float32))
    assert layers(check(m)) == [{"type": "upsample", "scale": 2, "mode": "nearest"}]


@needs_kind("slice")
def test_split_on_channels_is_two_slices():
    m = model([node("Split", ["x", "sizes"], ["a", "b"], axis=1), node("Add", ["a", "b"])], (4, 3, 3),
              sizes=np.array([2, 2], np.int64))
    assert [layer["type"] for layer in layers(check(m))] == ["slice", "slice", "add"]


@needs_kind("channel_shuffle")
def test_reshape_transpose_reshape_is_channel_shuffle():
    nodes = [node("Reshape", ["x", "s1"], "r1"), node("Transpose", ["r1"], "t", perm=[0, 2, 1, 3, 4]),
             node("Reshape", ["t", "s2"])]
    m = model(nodes, (6, 3, 3), batch=1, s1=np.array([1, 2, 3, 3, 3], np.int64), s2=np.array([1, 6, 3, 3], np.int64))
    assert layers(check(m)) == [{"type": "channel_shuffle", "groups": 2}]


@needs_kind("pad")
def test_pad_before_an_add_is_a_pad_layer():
    m = model([node("Pad", ["x", "p"], "xp"), node("Relu", ["xp"])], (2, 3, 3),
              p=np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    assert layers(check(m))[0] == {"type": "pad", "padding": [[1, 1], [1, 1]]}


@needs_kind("layernorm")
def test_layernorm_over_channels_last():
    nodes = [node("Transpose", ["x"], "t", perm=[0, 2, 3, 1]),
             node("LayerNormalization", ["t", "g", "b"], "n", axis=-1, epsilon=1e-6),
             node("Transpose", ["n"], perm=[0, 3, 1, 2])]
    m = model(nodes, (4, 3, 3), g=rand(4), b=rand(4))
    assert layers(check(m)) == [{"type": "layernorm", "eps": 1e-6}]


def test_shapes_behind_computed_pads_are_inferred_node_by_node():
    """A Pad whose pads are computed (Concat of constants): ONNX's whole-graph inference loses the shapes after it;
    the importer infers them node by node once the pads are folded (PyTorch's F.pad + max_pool2d exports so)."""
    nodes = [node("Concat", ["zeros", "ones"], "p", axis=0), node("Pad", ["x", "p", "ninf"], "xp"),
             node("MaxPool", ["xp"], "m", kernel_shape=[2, 2], strides=[2, 2]), node("Relu", ["m"])]
    m = model(nodes, (2, 7, 7), zeros=np.zeros(6, np.int64), ones=np.array([1, 1], np.int64),
              ninf=np.array(-np.inf, np.float32))
    assert layers(check(m)) == [{"type": "maxpool", "kernel": 2, "stride": 2, "padding": [[0, 1], [0, 1]]},
                                {"type": "activation", "function": "relu"}]
