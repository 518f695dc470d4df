"""channel_shuffle: ShuffleNet's (groups, C/groups) transpose."""

import numpy as np
import pytest

import archcalc
from archcalc.errors import ShapeError

from .kind_checks import check_engine, check_torch, net_of


def test_six_channels_two_groups():
    """Zhang et al.'s Fig. 1: channels (g0: 0 1 2, g1: 3 4 5) interleave to 0 3 1 4 2 5."""
    net = net_of({"type": "channel_shuffle", "groups": 2}, [1, 1, 6])
    y = archcalc.forward(net, np.arange(6, dtype=np.float64).reshape(1, 1, 1, 6), {}, dtype="float64")
    assert y.ravel().tolist() == [0, 3, 1, 4, 2, 5]
    r = archcalc.analyze(net).rows[-1]
    assert (r.output_shape, r.params, r.macs) == ((1, 1, 6), 0, 0)


def test_channels_must_divide():
    with pytest.raises(ShapeError, match="channel_shuffle: 116 channels do not divide by groups 3"):
        archcalc.analyze(net_of({"type": "channel_shuffle", "groups": 3}, [4, 4, 116]))


@pytest.mark.parametrize("groups, shape", [(1, [3, 4, 5]), (3, [2, 6]), (4, [2, 3, 2, 8])])
def test_engine_and_twin(groups, shape):
    check_engine(net_of({"type": "channel_shuffle", "groups": groups}, shape))


@pytest.mark.torch
def test_torch_twin():
    check_torch(net_of({"type": "channel_shuffle", "groups": 2}, [3, 4, 6]))
