"""Keras configs written by hand as model.to_json() writes them (Keras 2 and 3), and .keras archives made with
zipfile: the seeds' models import to their printed parameter counts."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import archcalc
from archcalc.errors import SpecError
from archcalc.interop import detect_format, import_model
from archcalc.interop.keras import LAYERS, import_keras


def k2_layer(cls: str, **config) -> dict:
    """A layer as Keras 2's to_json writes it."""
    return {"class_name": cls, "config": {"trainable": True, "dtype": "float32", **config}}


def k3_layer(cls: str, **config) -> dict:
    """A layer as Keras 3 writes it (module, dtype policy, build_config)."""
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    return {"module": "keras.layers", "class_name": cls, "config": {"trainable": True, "dtype": dtype, **config},
            "registered_name": None}


def conv2d(name, filters, **kw):
    return dict(name=name, filters=filters, kernel_size=[3, 3], strides=[1, 1], padding="same",
                data_format="channels_last", dilation_rate=[1, 1], groups=1, activation="relu", use_bias=True, **kw)


def seed004(layer=k2_layer) -> list[dict]:
    """Seed 004's CIFAR-10 Sequential model (KISTI lecture)."""
    return [
        layer("Conv2D", **conv2d("conv2d", 32)),
        layer("Conv2D", **conv2d("conv2d_1", 32)),
        layer("MaxPooling2D", name="max_pooling2d", pool_size=[2, 2], padding="valid", strides=[2, 2],
              data_format="channels_last"),
        layer("Dropout", name="dropout", rate=0.5, noise_shape=None, seed=None),
        layer("Flatten", name="flatten", data_format="channels_last"),
        layer("Dense", name="dense", units=128, activation="relu", use_bias=True),
        layer("Dense", name="dense_1", units=10, activation="softmax", use_bias=True),
    ]


def keras2_json(layers: list[dict], input_shape: list[int]) -> str:
    layers = [dict(layers[0], config={**layers[0]["config"], "batch_input_shape": [None, *input_shape]}),
              *layers[1:]]
    return json.dumps({"class_name": "Sequential", "config": {"name": "sequential", "layers": layers},
                       "keras_version": "2.4.0", "backend": "tensorflow"})


def keras3_config(layers: list[dict], input_shape: list[int]) -> dict:
    inp = {"module": "keras.layers", "class_name": "InputLayer",
           "config": {"batch_shape": [None, *input_shape], "dtype": "float32", "sparse": False, "name": "input_layer"},
           "registered_name": None}
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": [inp, *layers]},
            "registered_name": None}


def params_per_layer(spec: dict) -> list[int]:
    return [row.params for row in archcalc.analyze(archcalc.load_spec(spec)).rows]


def test_seed004_cifar10_keras2_json_imports_to_1060138_params():
    spec = archcalc.from_keras(keras2_json(seed004(), [32, 32, 3]))
    assert params_per_layer(spec) == [896, 9248, 0, 0, 0, 1048704, 1290]  # model.summary() in the seed
    report = archcalc.analyze(archcalc.load_spec(spec))
    assert report.totals.params == report.totals.trainable_params == 1_060_138
    assert report.rows[4].output_shape == (8192,)


def test_seed004_as_a_keras3_archive(tmp_path):
    path = tmp_path / "cifar10.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(keras3_config(seed004(k3_layer), [32, 32, 3])))
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
    assert detect_format(path) == "keras"
    spec = archcalc.from_keras(path)
    assert archcalc.analyze(archcalc.load_spec(spec)).totals.params == 1_060_138
    assert spec["source"].startswith("Imported from cifar10.keras (Keras Sequential")


def mnist_simple() -> list[dict]:
    """Seed 000's "Simple CNN" (tf.nn.conv2d: no bias) written as Keras layers."""
    return [
        k2_layer("Conv2D", **{**conv2d("L1_conv", 32), "use_bias": False}),
        k2_layer("MaxPooling2D", name="L1_pool", pool_size=[2, 2], strides=[2, 2], padding="same"),
        k2_layer("Conv2D", **{**conv2d("L2_conv", 64), "use_bias": False}),
        k2_layer("MaxPooling2D", name="L2_pool", pool_size=[2, 2], strides=[2, 2], padding="same"),
        k2_layer("Flatten", name="flat"),
        k2_layer("Dense", name="logits", units=10, activation="linear", use_bias=True),
    ]


def mnist_deep() -> list[dict]:
    """Seed 000's "CNN_layers" model (tf.layers: conv2d with bias, max_pooling2d SAME, dropout)."""
    layers = []
    for i, filters in enumerate((32, 64, 128), start=1):
        layers += [k2_layer("Conv2D", **conv2d(f"conv{i}", filters)),
                   k2_layer("MaxPooling2D", name=f"pool{i}", pool_size=[2, 2], strides=[2, 2], padding="same"),
                   k2_layer("Dropout", name=f"dropout{i}", rate=0.3)]
    return layers + [k2_layer("Flatten", name="flat"),
                     k2_layer("Dense", name="dense4", units=625, activation="relu"),
                     k2_layer("Dropout", name="dropout4", rate=0.5),
                     k2_layer("Dense", name="logits", units=10, activation="linear")]


@pytest.mark.parametrize("layers,params,shapes", [
    (mnist_simple, 50_090, {"L2_pool": (7, 7, 64), "flat": (3136,)}),
    (mnist_deep, 1_379_557, {"pool3": (4, 4, 128), "flat": (2048,), "dense4": (625,)}),
])
def test_seed000_mnist_models(layers, params, shapes):
    report = archcalc.analyze(archcalc.load_spec(archcalc.from_keras(keras2_json(layers(), [28, 28, 1]))))
    assert report.totals.params == params
    for name, shape in shapes.items():
        assert report.row(name).output_shape == shape


def functional_keras3() -> dict:
    def tensor(name, shape):
        return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": "float32",
                                                             "keras_history": [name, 0, 0]}}

    def call(layer, *refs):
        args = [tensor(*r) for r in refs]
        return dict(layer, name=layer["config"]["name"],
                    inbound_nodes=[{"args": [args[0] if len(args) == 1 else args], "kwargs": {}}])

    inp = {"module": "keras.layers", "class_name": "InputLayer", "name": "img", "inbound_nodes": [],
           "config": {"batch_shape": [None, 16, 16, 3], "dtype": "float32", "name": "img"}}
    s = [None, 16, 16, 8]
    layers = [
        inp,
        call(k3_layer("Conv2D", **{**conv2d("a", 8), "activation": "linear", "use_bias": False}), ("img", [None, 16, 16, 3])),
        call(k3_layer("BatchNormalization", name="bn", axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True),
             ("a", s)),
        call(k3_layer("ReLU", name="relu", max_value=None, negative_slope=0.0, threshold=0.0), ("bn", s)),
        call(k3_layer("Conv2D", **conv2d("b", 8, )), ("img", [None, 16, 16, 3])),
        call(k3_layer("Add", name="add"), ("relu", s), ("b", s)),
        call(k3_layer("Concatenate", name="cat", axis=-1), ("add", s), ("b", s)),
        call(k3_layer("LeakyReLU", name="leaky", negative_slope=0.2), ("cat", [None, 16, 16, 16])),
        call(k3_layer("GlobalAveragePooling2D", name="gap", data_format="channels_last", keepdims=False),
             ("leaky", [None, 16, 16, 16])),
        call(k3_layer("Dense", name="out", units=4, activation="softmax", use_bias=True), ("gap", [None, 16])),
    ]
    return {"module": "keras", "class_name": "Functional",
            "config": {"name": "branchy", "layers": layers, "input_layers": [["img", 0, 0]],
                       "output_layers": [["out", 0, 0]]}}


def test_functional_keras3_graph():
    spec = archcalc.from_keras(functional_keras3())
    got = [(layer["type"], layer["name"], layer.get("inputs")) for layer in spec["layers"]]
    assert got == [("conv", "a", None), ("batchnorm", "bn", None), ("activation", "relu", None),
                   ("conv", "b", "input"), ("add", "add", ["relu", "b"]), ("concat", "cat", ["add", "b"]),
                   ("activation", "leaky", None), ("global_avgpool", "gap", None), ("dense", "out", None)]
    assert spec["layers"][6]["alpha"] == 0.2
    report = archcalc.analyze(archcalc.load_spec(spec))
    assert report.totals.trainable_params == 3 * 3 * 3 * 8 + 2 * 8 + 3 * 3 * 3 * 8 + 8 + 16 * 4 + 4


def test_functional_keras2_inbound_nodes():
    config = {"class_name": "Model", "keras_version": "2.13.1", "config": {
        "name": "m", "input_layers": [["in", 0, 0]], "output_layers": [["sum", 0, 0]],
        "layers": [
            {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 8, 8, 2], "name": "in"}},
            {"class_name": "Conv2D", "name": "c1", "config": conv2d("c1", 2), "inbound_nodes": [[["in", 0, 0, {}]]]},
            {"class_name": "Add", "name": "sum", "config": {"name": "sum"},
             "inbound_nodes": [[["c1", 0, 0, {}], ["in", 0, 0, {}]]]}]}}
    spec = archcalc.from_keras(config)
    assert spec["layers"][1] == {"type": "add", "name": "sum", "inputs": ["c1", "input"]}


def test_depthwise_and_separable_convs():
    layers = [k2_layer("DepthwiseConv2D", name="dw", kernel_size=[3, 3], strides=[2, 2], padding="valid",
                       depth_multiplier=2, use_bias=True, activation="linear"),
              k2_layer("SeparableConv2D", name="sep", filters=5, kernel_size=[3, 3], padding="same",
                       depth_multiplier=1, use_bias=True, activation="relu")]
    spec = archcalc.from_keras(keras2_json(layers, [9, 9, 3]))
    assert [{k: v for k, v in layer.items() if k != "inputs"} for layer in spec["layers"]] == [
        {"type": "conv", "name": "dw", "filters": 6, "kernel": 3, "stride": 2, "groups": 3},
        {"type": "conv", "name": "sep_depthwise", "filters": 6, "kernel": 3, "padding": "same", "groups": 6,
         "bias": False},
        {"type": "conv", "name": "sep", "filters": 5, "kernel": 1, "activation": "relu"}]
    # Keras's own counts: depthwise 3*3*3*2 + 6 = 60; separable 3*3*6 + 6*5 + 5 = 89
    assert params_per_layer(spec) == [60, 54, 35]


def test_valid_pooling_that_does_not_tile_floors():
    layers = [k2_layer("MaxPooling2D", name="pool", pool_size=[3, 3], strides=[2, 2], padding="valid")]
    spec = archcalc.from_keras(keras2_json(layers, [8, 8, 1]))
    assert spec["layers"][0] == {"type": "maxpool", "name": "pool", "kernel": 3, "stride": 2, "rounding": "floor"}


def test_dense_on_a_map_is_refused_not_silently_flattened():
    layers = [k2_layer("Dense", name="d", units=3)]
    with pytest.raises(SpecError, match="Keras layer 'd'.*last axis only"):
        archcalc.from_keras(keras2_json(layers, [4, 4, 2]))


def test_unknown_layer_class_names_the_layer_and_the_supported_list():
    layers = [k2_layer("Lambda", name="mystery", function="...")]
    with pytest.raises(SpecError) as info:
        archcalc.from_keras(keras2_json(layers, [4, 4, 2]))
    assert "Keras layer 'mystery' (Lambda) cannot be mapped" in str(info.value)
    assert "Conv2D" in str(info.value) and "BatchNormalization" in str(info.value)


def test_keras2_hard_sigmoid_is_not_archcalcs():
    layers = [k2_layer("Activation", name="h", activation="hard_sigmoid")]
    with pytest.raises(SpecError, match="0.2x"):
        archcalc.from_keras(keras2_json(layers, [4, 4, 2]))


def test_registry_covers_the_issue_layers():
    wanted = {"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D",
              "AveragePooling2D", "GlobalAveragePooling2D", "Dense", "Flatten", "Dropout", "BatchNormalization",
              "Activation", "ReLU", "LeakyReLU", "Add", "Multiply", "Concatenate", "ZeroPadding2D", "Cropping2D",
              "UpSampling2D", "Embedding", "LayerNormalization"}
    assert wanted <= set(LAYERS.table)


def _archive_with_weights(path, layers, input_shape, arrays: dict[str, list[np.ndarray]]) -> None:
    h5py = pytest.importorskip("h5py")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        for group, values in arrays.items():
            for i, value in enumerate(values):
                h5[f"layers/{group}/vars/{i}"] = value
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(keras3_config(layers, input_shape)))
        zf.writestr("model.weights.h5", buf.getvalue())


def test_keras_archive_weights_become_an_npz_that_runs(tmp_path):
    """Weights are found under Keras's own names (layers/<snake_case class>[_n]/vars/i), whatever the layer names."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((3, 3, 2, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    w2, b2 = rng.standard_normal((64, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    layers = [k3_layer("Conv2D", **conv2d("first", 4)), k3_layer("Flatten", name="flat"),
              k3_layer("Dense", name="head", units=3, activation="linear", use_bias=True)]
    model = tmp_path / "model.bin"  # the format is found by content, not by the name
    _archive_with_weights(model, layers, [4, 4, 2], {"conv2d": [w1, b1], "dense": [w2, b2]})
    out, weights = tmp_path / "net.yaml", tmp_path / "w.npz"
    import_model(model, out, weights=weights)
    text = out.read_text()
    assert "  - {type: conv, name: first, filters: 4, kernel: 3, padding: same, activation: relu}\n" in text
    net = archcalc.load_spec(out)
    from archcalc.engine.weights import load_params

    params = load_params(weights, net)
    x = rng.standard_normal((2, 4, 4, 2)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.maximum(np.einsum("nhwijc,ijcf->nhwf", np.lib.stride_tricks.sliding_window_view(
        padded, (3, 3), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3), w1) + b1, 0)
    want = conv.reshape(2, -1) @ w2 + b2
    np.testing.assert_allclose(archcalc.forward(net, x, params, dtype="float64"), want, rtol=1e-5, atol=1e-5)


def test_json_config_has_no_weights_to_write(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(keras2_json(seed004(), [32, 32, 3]))
    with pytest.raises(SpecError, match="holds no weights"):
        import_model(path, tmp_path / "out.yaml", weights=tmp_path / "w.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_yaml_is_one_flow_line_per_layer_and_loads_back(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(keras2_json(seed004(), [32, 32, 3]))
    out = tmp_path / "cifar.yaml"
    import_model(path, out)
    lines = out.read_text().splitlines()
    start = lines.index("layers:")
    assert lines[start + 1:] == [
        "  - {type: conv, name: conv2d, filters: 32, kernel: 3, padding: same, activation: relu}",
        "  - {type: conv, name: conv2d_1, filters: 32, kernel: 3, padding: same, activation: relu}",
        "  - {type: maxpool, name: max_pooling2d, kernel: 2, stride: 2}",
        "  - {type: dropout, name: dropout, rate: 0.5}",
        "  - {type: flatten, name: flatten}",
        "  - {type: dense, name: dense, units: 128, activation: relu}",
        "  - {type: dense, name: dense_1, units: 10, activation: softmax}"]
    assert lines[0] == "name: sequential"
    assert lines[1] == "source: Imported from model.json (Keras Sequential, Keras 2.4.0) by archcalc import"
    assert archcalc.analyze(archcalc.load_spec(out)).totals.params == 1_060_138


def test_not_a_model(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(SpecError, match="neither an ONNX model"):
        detect_format(path)
