"""Every shipped spec runs forward at batch 2, and every layer's shape is the calculator's."""

from pathlib import Path

import numpy as np
import pytest

import archcalc

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_runs_at_batch_2(path):
    net = archcalc.load_spec(path)
    report = archcalc.analyze(net)
    params = archcalc.init_params(net, seed=0)
    x = np.random.default_rng(0).standard_normal((2, *net.input_shape), dtype=np.float32)
    seen = {}

    from archcalc.engine.forward import forward

    y = forward(net, x, params, on_layer=lambda row, out: seen.__setitem__(row.name, out.shape), report=report)
    assert seen == {row.name: (2, *row.output_shape) for row in report.rows}
    assert y.shape == (2, *report.output_shape) and y.dtype == np.float32
    assert np.isfinite(y).all()


def test_spec_list_is_not_empty():
    assert len(SPECS) >= 6
