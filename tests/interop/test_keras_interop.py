"""With Keras 3 (on its torch backend: KERAS_BACKEND=torch): the seeds' models built in Keras, saved as .keras and
imported give Keras's parameter counts and its predict output; every shipped spec's exported Keras code gives
archcalc's forward pass."""

from __future__ import annotations

from .exported import load_module, random_params
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")
pytestmark = pytest.mark.keras

from keras import layers  # noqa: E402

import archcalc  # noqa: E402
from archcalc.engine.forward import random_input  # noqa: E402
from archcalc.engine.weights import load_params, save_params  # noqa: E402
from archcalc.interop import export_code, import_model  # noqa: E402

SPECS = sorted(Path(__file__).resolve().parents[2].joinpath("specs").glob("*.yaml"))


def cifar10_seed004():
    """Seed 004's model, as the lecture writes it."""
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(filters=32, kernel_size=(3, 3), padding="same", activation="relu"),
        layers.Conv2D(filters=32, kernel_size=(3, 3), padding="same", activation="relu"),
        layers.MaxPool2D(pool_size=(2, 2), strides=2, padding="valid"),
        layers.Dropout(0.5),
        layers.Flatten(),
        layers.Dense(units=128, activation="relu"),
        layers.Dense(units=10, activation="softmax"),
    ])


def mnist_simple_seed000():
    """Seed 000's "Simple CNN" (tf.nn.conv2d without bias, SAME max pools) in Keras."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", use_bias=False, activation="relu"),
        layers.MaxPool2D(2, strides=2, padding="same"),
        layers.Conv2D(64, 3, padding="same", use_bias=False, activation="relu"),
        layers.MaxPool2D(2, strides=2, padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ])


def mnist_deep_seed000():
    """Seed 000's "CNN_layers" model (tf.layers) in Keras."""
    stack = [keras.Input((28, 28, 1))]
    for filters in (32, 64, 128):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"),
                  layers.MaxPool2D(2, strides=2, padding="same"), layers.Dropout(0.3)]
    return keras.Sequential(stack + [layers.Flatten(), layers.Dense(625, activation="relu"), layers.Dropout(0.5),
                                     layers.Dense(10)])


def functional_mix():
    inputs = keras.Input((15, 15, 3))
    a = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    a = layers.BatchNormalization(name="stem_bn")(a)
    a = layers.LeakyReLU(negative_slope=0.2, name="stem_act")(a)
    b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(a)
    b = layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")(b)
    c = layers.Add(name="sum")([a, b])
    d = layers.Concatenate(name="cat")([c, a])
    d = layers.AveragePooling2D(3, strides=2, padding="valid", name="pool")(d)
    d = layers.GlobalAveragePooling2D(name="gap")(d)
    out = layers.Dense(5, activation="softmax", name="head")(d)
    return keras.Model(inputs, out, name="mix")


def randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        values = rng.standard_normal(w.shape).astype(np.float32) * 0.2
        weights.append(values)
    model.set_weights(weights)
    for layer in model.layers:  # positive variances
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta, mean, np.abs(var) + 0.5])
    return model


@pytest.mark.parametrize("build,params", [(cifar10_seed004, 1_060_138), (mnist_simple_seed000, 50_090),
                                          (mnist_deep_seed000, 1_379_557), (functional_mix, None)])
def test_saved_keras_models_import_with_their_weights(build, params, tmp_path):
    model = randomise(build())
    assert params is None or model.count_params() == params  # the seeds' printed counts
    model.save(tmp_path / "model.keras")
    import_model(tmp_path / "model.keras", tmp_path / "net.yaml", weights=tmp_path / "w.npz")
    net = archcalc.load_spec(tmp_path / "net.yaml")
    totals = archcalc.analyze(net).totals
    assert totals.params == model.count_params()
    assert totals.trainable_params == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    x = np.random.default_rng(1).standard_normal((3, *net.input_shape)).astype(np.float32)
    want = np.asarray(model.predict(x, verbose=0), np.float64)
    got = archcalc.forward(net, x, load_params(tmp_path / "w.npz", net), dtype="float64")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_exported_keras_code(spec, tmp_path):
    net = archcalc.load_spec(spec)
    module = load_module(export_code(net, "keras"), tmp_path, "exported_keras")
    model = module.build_model()
    report = archcalc.analyze(net)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == report.totals.trainable_params
    params = random_params(net)
    save_params(tmp_path / "w.npz", params)
    module.load_archcalc_weights(model, tmp_path / "w.npz")
    x = random_input(net, 2, 2)  # token ids for an embedding net
    want = archcalc.forward(net, x, params, dtype="float64")
    got = np.asarray(model.predict(x, verbose=0), np.float64)
    assert np.abs(got - want).max() <= 1e-4 * float(np.abs(want).max())
