"""The shipped nets agree with the same nets built in PyTorch (weights copied HWIO -> OIHW); skipped without torch."""

import numpy as np
import pytest

import archcalc

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from archcalc.engine import torch_twin  # noqa: E402

NETS = ["alexnet", "lenet5", "mnist_deep", "mnist_simple", "cifar10_keras", "alphago_policy", "zfnet",
        "resnet18", "googlenet", "textcnn_kim"]


def random_params(net, seed):
    """Glorot weights plus random biases and batchnorm statistics, so every parameter matters."""
    rng = np.random.default_rng(seed)
    params = archcalc.init_params(net, seed)
    for entry in params.values():
        for key, arr in entry.items():
            if key in ("bias", "beta", "moving_mean"):
                entry[key] = (rng.standard_normal(arr.shape) * 0.1).astype(np.float32)
            elif key in ("gamma", "moving_variance"):
                entry[key] = (rng.random(arr.shape) + 0.5).astype(np.float32)
    return params


@pytest.mark.parametrize("name", NETS)
def test_net_matches_torch(name):
    net = archcalc.load_spec(f"specs/{name}.yaml")
    params = random_params(net, 1)
    x = np.random.default_rng(0).standard_normal((2, *net.input_shape), dtype=np.float32)
    ours = archcalc.forward(net, x, params, return_all=True)
    twin = torch_twin.build(net, params)
    with torch.inference_mode():
        theirs = torch_twin.from_torch(twin(torch_twin.to_torch(x)))
    y = ours[net.layers[-1].name]
    assert y.shape == theirs.shape
    err = np.abs(y - theirs).max() / np.abs(theirs).max()
    assert err < 1e-4, f"{name}: max |diff| / max |y| = {err:.2e}"


def test_lrn_alpha_over_n_matches_torch_default():
    net = archcalc.load_spec({"input": [3, 3, 7], "layers": [{"type": "lrn", "size": 5, "alpha": 1e-2,
                                                               "alpha_over_n": True}]})
    x = np.random.default_rng(0).standard_normal((1, 3, 3, 7)) * 10
    want = torch.nn.LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0)(torch.from_numpy(np.moveaxis(x, -1, 1).copy()))
    np.testing.assert_allclose(archcalc.forward(net, x, {}, dtype="float64"), torch_twin.from_torch(want), rtol=1e-12)
