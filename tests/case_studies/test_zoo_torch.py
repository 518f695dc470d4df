"""The second zoo against PyTorch (skipped without torch).

1. Each hand-written twin (torch_zoo.py) has the parameters, batchnorm statistics, MACs and output
   shape of torchvision's builder of the same name (weights=None, nothing downloaded), counted the
   same way on both: the twins are the nets torchvision ships, not just nets of the same size.
2. The twins' counts are the constants test_zoo.py asserts on the specs.
3. archcalc's engine, run on the spec with random weights, agrees with the twin carrying the same
   weights (copied layer by layer in order, HWIO -> OIHW) to 1e-4 relative.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import archcalc  # noqa: E402

from . import torch_zoo  # noqa: E402
from .test_zoo import ZOO, spec_path, zoo_params  # noqa: E402

pytestmark = pytest.mark.torch


@functools.cache
def _counted(name):
    build, shape = torch_zoo.BUILDERS[name]
    torch.manual_seed(0)
    return torch_zoo.count(build(), shape)


@pytest.mark.parametrize("name", sorted(torch_zoo.TORCHVISION))
def test_twin_is_torchvisions_net(name):
    torchvision = pytest.importorskip("torchvision")
    theirs = getattr(torchvision.models, name)(weights=None, **torch_zoo.TORCHVISION[name])
    assert _counted(name) == torch_zoo.count(theirs, torch_zoo.BUILDERS[name][1])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_twin_counts_are_the_zoo_numbers(name):
    trainable, non_trainable, macs, output = ZOO[name]
    counted = _counted(name)
    assert (counted["params"], counted["non_trainable"], counted["macs"]) == (trainable, non_trainable, macs)
    channels_first = (output[-1], *output[:-1])  # the twin's (C, H, W) for archcalc's (H, W, C)
    assert counted["output"] == channels_first


def random_params(net, seed):
    """Glorot weights, then random biases, norm and scale factors and batchnorm statistics, so every one matters."""
    rng = np.random.default_rng(seed)
    small = lambda a: rng.standard_normal(a.shape) * 0.1  # noqa: E731
    near_one = lambda a: rng.random(a.shape) + 0.5  # noqa: E731
    draw = {"bias": small, "beta": small, "moving_mean": small, "gamma": near_one, "moving_variance": near_one}
    return {layer: {key: (draw[key](arr) if key in draw else arr).astype(np.float32) for key, arr in entry.items()}
            for layer, entry in archcalc.init_params(net, seed).items()}


def _torch_layout(arr: np.ndarray, module, key: str) -> np.ndarray:
    """archcalc's array for ``key`` in the layout of the twin module's parameter."""
    if key != "weight" or isinstance(module, torch.nn.Embedding):
        return arr
    if isinstance(module, torch.nn.modules.conv._ConvTransposeNd):
        return np.moveaxis(arr, (-1, -2), (0, 1))  # (*k, F/G, C_in) -> (C_in, F/G, *k)
    if arr.ndim == 2:
        return arr.T  # dense (inputs, units) -> (units, inputs)
    return np.moveaxis(arr, (-1, -2), (0, 1))  # conv (*k, C_in/G, F) -> (F, C_in/G, *k)


TORCH_NAMES = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
               "moving_mean": "running_mean", "moving_variance": "running_var"}


def load_into_twin(model, params) -> None:
    """Copy archcalc's weights into the twin: the i-th layer with parameters into the i-th module holding some."""
    holders = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    assert len(holders) == len(params), f"{len(holders)} twin modules with parameters, {len(params)} spec layers"
    with torch.no_grad():
        for module, (layer, entry) in zip(holders, params.items()):
            for key, arr in entry.items():
                name = "gamma" if isinstance(module, torch_zoo.LayerScale) else TORCH_NAMES[key]
                target = getattr(module, name)
                value = _torch_layout(np.asarray(arr), module, key)
                assert value.size == target.numel(), f"{layer}.{key}: {value.shape} vs {tuple(target.shape)}"
                target.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).reshape(target.shape))


@pytest.mark.parametrize("name", zoo_params(sorted(ZOO)))
def test_engine_matches_twin(name):
    net = archcalc.load_spec(spec_path(name))
    params = random_params(net, 1)
    rng = np.random.default_rng(0)
    build, shape = torch_zoo.BUILDERS[name]
    if name == "textcnn_kim_rand":
        x = rng.integers(0, torch_zoo.MR_VOCABULARY, (2, *shape[1:]))
        xt = torch.from_numpy(x)
    else:
        x = rng.standard_normal((1, *net.input_shape), dtype=np.float32)
        xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    twin = build().eval()
    load_into_twin(twin, params)
    with torch.inference_mode():
        theirs = twin(xt)
    if name == "textcnn_kim_rand":
        theirs = torch.softmax(theirs, -1)  # the spec's last dense layer carries the softmax
    theirs = np.moveaxis(theirs.numpy(), 1, -1)
    ours = np.asarray(archcalc.forward(net, x, params))
    assert ours.shape == theirs.shape
    err = np.abs(ours - theirs).max() / np.abs(theirs).max()
    assert err < 1e-4, f"{name}: max |diff| / max |y| = {err:.2e}"
