"""Cross-checks against PyTorch's CPU kernels; skipped when torch is not installed."""

import numpy as np
import pytest

from archcalc.engine import kernels as K

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def to_torch(x):
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return torch.from_numpy(np.moveaxis(x, -1, 1).copy())


def from_torch(t):
    return np.moveaxis(t.numpy(), 1, -1)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_like_torch(rank, groups):
    rng = np.random.default_rng(rank * 10 + groups)
    spatial = (9, 8, 7)[:rank]
    x = rng.standard_normal((2, *spatial, 4))
    w = rng.standard_normal((*(3, 2, 3)[:rank], 4 // groups, 6))
    b = rng.standard_normal(6)
    stride, dilation, pad = (2, 1, 2)[:rank], (1, 2, 1)[:rank], (1, 1, 0)[:rank]
    got = K.conv(x, w, b, stride, tuple((p, p) for p in pad), dilation, groups)
    wt = torch.from_numpy(np.moveaxis(w, (-1, -2), (0, 1)).copy())  # (out, in/g, *kernel)
    want = CONV[rank](to_torch(x), wt, torch.from_numpy(b), stride, pad, dilation, groups)
    np.testing.assert_allclose(got, from_torch(want), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pools_ceil_mode_like_torch(rank):
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((2, *(8, 7, 6)[:rank], 3))
    kernel, stride, pad = (3,) * rank, (2,) * rank, (1,) * rank
    tmax = MAXPOOL[rank](to_torch(x), kernel, stride, pad, ceil_mode=True)
    tavg = AVGPOOL[rank](to_torch(x), kernel, stride, pad, ceil_mode=True, count_include_pad=False)
    out = tuple(tmax.shape[2:])
    pads = tuple((p, p) for p in pad)
    np.testing.assert_allclose(K.maxpool(x, kernel, stride, pads, out_spatial=out), from_torch(tmax))
    np.testing.assert_allclose(K.avgpool(x, kernel, stride, pads, out_spatial=out), from_torch(tavg), rtol=1e-12)


def test_lrn_alpha_over_n_like_torch():
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 7)) * 10
    want = torch.nn.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0)(to_torch(x))
    got = K.lrn(x, 5, 2.0, 1e-3, 0.75, alpha_over_n=True)
    np.testing.assert_allclose(got, from_torch(want), rtol=1e-12)


def test_batchnorm_like_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 3, 4))
    g, b, m, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4), rng.random(4)
    want = F.batch_norm(to_torch(x), *(torch.from_numpy(a) for a in (m, v, g, b)), training=False, eps=1e-5)
    np.testing.assert_allclose(K.batchnorm(x, g, b, m, v, 1e-5), from_torch(want), rtol=1e-12, atol=1e-12)


def test_winograd_float32_like_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 30, 30, 64)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 64, 64)) / 24).astype(np.float32)
    got = K.conv(x, w, None, (1, 1), ((1, 1), (1, 1)), algorithm="winograd")
    want = from_torch(F.conv2d(to_torch(x), torch.from_numpy(w.transpose(3, 2, 0, 1).copy()), padding=1))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
