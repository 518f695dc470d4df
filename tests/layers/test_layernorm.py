"""layernorm: over the channels at each position (ConvNeXt's LayerNorm2d), params 2C trainable."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.errors import SpecError

from .kindcheck import engine_agrees, net, weights_round_trip


def test_convnext_stem_norm_counts():
    # torchvision convnext_tiny: features[0][1] = LayerNorm2d(96): weight and bias, 96 each
    r = archcalc.analyze(net([56, 56, 96], {"type": "layernorm", "name": "n"}))
    row = r.rows[0]
    assert (row.output_shape, row.params, row.trainable_params, row.macs) == ((56, 56, 96), 192, 192, 0)
    assert row.layer.eps == 1e-6


def test_each_position_has_mean_0_and_variance_1_with_unit_gamma():
    network = net([3, 4, 5], {"type": "layernorm", "name": "n", "eps": 1e-12})
    params = archcalc.init_params(network)
    assert params["n"]["gamma"].tolist() == [1.0] * 5 and params["n"]["beta"].tolist() == [0.0] * 5
    y = archcalc.forward(network, np.random.default_rng(0).standard_normal((2, 3, 4, 5)) * 7 + 3, params,
                         dtype="float64")
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-9)


def test_after_global_pool_on_a_vector():
    r = archcalc.analyze(net([7, 7, 768], {"type": "global_avgpool"}, {"type": "layernorm"}))
    assert r.rows[-1].output_shape == (768,) and r.rows[-1].params == 1536


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), eps=st.sampled_from([1e-6, 1e-3, 1.0]))
def test_engine_shape_and_twin(shape, eps):
    engine_agrees(net(shape, {"type": "layernorm", "eps": eps}))


def test_weights_round_trip(tmp_path):
    back = weights_round_trip(net([4, 4, 6], {"type": "layernorm", "name": "n"}), tmp_path)
    assert {k: v.shape for k, v in back["n"].items()} == {"gamma": (6,), "beta": (6,)}


@pytest.mark.parametrize("eps", [0, -1e-6, float("nan")])
def test_bad_eps(eps):
    with pytest.raises(SpecError, match="eps"):
        net([4, 4, 6], {"type": "layernorm", "eps": eps})


def test_explain_lines():
    from archcalc.learn.explain import working

    r = archcalc.analyze(net([56, 56, 96], {"type": "layernorm", "name": "n"}))
    text = working(r.rows[0]).text()
    assert "over the 96 channels of each position" in text and "2 * 96 = 192" in text
