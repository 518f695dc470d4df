"""What every kind's tests check the same way: the engine's output shapes against the calculator's, the fast
kernels against their plain twins, and the weights through a .npz and back."""

from __future__ import annotations

import numpy as np

import archcalc
from archcalc.engine import reference
from archcalc.engine.weights import load_params, save_params


def net(input_shape, *layers, **top):
    return archcalc.load_spec({"input": list(input_shape), "layers": list(layers), **top})


def engine_agrees(network, seed=0, batch=2):
    """Run the engine on random input and weights: every output has the calculator's shape, and equals the
    reference twins' (float64).  Returns the engine's outputs by layer name."""
    report = archcalc.analyze(network)
    params = archcalc.init_params(network, seed=seed)
    rng = np.random.default_rng(seed)
    for entry in params.values():  # away from the identity, so a swapped gamma/beta shows
        for key, value in entry.items():
            if key in ("gamma", "beta"):
                value += rng.standard_normal(value.shape).astype(value.dtype)
    x = rng.standard_normal((batch, *network.input_shape))
    got = archcalc.forward(network, x, params, dtype="float64", return_all=True)
    want = reference.forward(report, x, params)
    for row in report.rows:
        assert got[row.name].shape == (batch, *row.output_shape), row.name
        np.testing.assert_allclose(got[row.name], want[row.name], rtol=1e-9, atol=1e-12, err_msg=row.name)
    return got


def weights_round_trip(network, tmp_path, seed=3):
    """init -> .npz -> load (checked against the spec): the same arrays, and the same forward pass."""
    params = archcalc.init_params(network, seed=seed)
    path = save_params(tmp_path / "w.npz", params)
    back = load_params(path, network)
    assert {k: set(v) for k, v in back.items()} == {k: set(v) for k, v in params.items()}
    for name, entry in params.items():
        for key, value in entry.items():
            np.testing.assert_array_equal(back[name][key], value)
    x = np.random.default_rng(seed).standard_normal((1, *network.input_shape))
    np.testing.assert_array_equal(archcalc.forward(network, x, back), archcalc.forward(network, x, params))
    return back
