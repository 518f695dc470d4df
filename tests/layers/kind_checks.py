"""The checks every structural kind of issue 11 gets: the output size formula against the shape the engine
actually produces, the fast kernel against its plain reference twin, the weights through a .npz and back, and
(with torch) the PyTorch twin."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import archcalc
from archcalc.engine import reference
from archcalc.engine.weights import load_params, save_params


def net_of(layer: dict[str, Any], input_shape: Any, extra: list | None = None):
    """A net of `extra` layers (if any) and then `layer`, on `input_shape`."""
    return archcalc.load_spec({"name": "kind", "input": list(input_shape), "rounding": "floor",
                               "layers": [*(extra or []), {"name": "x", **layer}]})


def random_input(net, batch: int = 2, seed: int = 0) -> np.ndarray:
    from archcalc.engine.forward import random_input as draw

    x = draw(net, batch, seed)
    return x if x.dtype.kind in "iu" else x.astype(np.float64)


def check_engine(net, x: np.ndarray | None = None, params=None) -> dict[str, np.ndarray]:
    """Every layer's engine output has the calculator's shape and equals the reference twin's (float64)."""
    report = archcalc.analyze(net)
    x = random_input(net) if x is None else x
    params = archcalc.init_params(net, seed=3) if params is None else params
    for entry in params.values():  # biases away from zero so that they are checked too
        for key, arr in entry.items():
            if key != "weight":
                arr += np.float32(0.25)
    got = archcalc.forward(net, x, params, dtype="float64", return_all=True)
    want = reference.forward(report, x, params)
    for row in report.rows:
        assert got[row.name].shape == (x.shape[0], *row.output_shape), row.name
        np.testing.assert_allclose(got[row.name], want[row.name], rtol=1e-9, atol=1e-12, err_msg=row.name)
    return got


def check_npz_round_trip(net, tmp_path) -> None:
    """init -> .npz -> load gives the same arrays and the same forward pass."""
    params = archcalc.init_params(net, seed=7)
    path = save_params(tmp_path / "w.npz", params)
    back = load_params(path, net)
    assert params.keys() == back.keys()
    for name, entry in params.items():
        assert entry.keys() == back[name].keys()
        for key in entry:
            np.testing.assert_array_equal(entry[key], back[name][key])
    x = random_input(net, 1)
    np.testing.assert_array_equal(archcalc.forward(net, x, params), archcalc.forward(net, x, back))


def check_torch(net, rtol: float = 1e-4) -> None:
    """The engine against the PyTorch twin (torch_twin.build) on the same weights."""
    torch = pytest.importorskip("torch")
    from archcalc.engine import torch_twin

    params = archcalc.init_params(net, seed=5)
    x = random_input(net)
    ours = archcalc.forward(net, x, params, dtype="float32")
    with torch.inference_mode():
        theirs = torch_twin.from_torch(torch_twin.build(net, params)(torch_twin.to_torch(x)))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * max(1.0, float(np.abs(theirs).max())))
