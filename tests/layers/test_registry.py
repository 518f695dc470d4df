"""Every layer kind is complete: each table keyed by the `type` tag has it, and each kind's engine kernel agrees
with its plain reference twin on random layers of that kind."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.engine import reference, torch_twin
from archcalc.engine.forward import KERNELS
from archcalc.errors import ShapeError
from archcalc.layers import LAYER_TYPES, REGISTRY
from archcalc.spec import MODEL_BY_TYPE
from archcalc.testing.strategies import LAYERS

TABLES = {
    "engine.forward.KERNELS": KERNELS,
    "engine.reference.TWINS": reference.TWINS,
    "engine.torch_twin.TWINS": torch_twin.TWINS,
    "testing.strategies.LAYERS": LAYERS,
    "spec.MODEL_BY_TYPE": MODEL_BY_TYPE,
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_has_every_kind(table):
    keys = set(TABLES[table])
    assert set(LAYER_TYPES) - keys == set(), f"{table} lacks these kinds"
    assert keys - set(LAYER_TYPES) == set(), f"{table} has kinds the registry does not"


def test_activation_tables_agree():
    from typing import get_args

    from archcalc.engine import kernels
    from archcalc.layers.fields import Activation

    names = set(get_args(Activation))
    assert set(kernels.ACTIVATE) == set(reference.ACTIVATIONS) == set(torch_twin.ACTIVATIONS) == names


@pytest.mark.parametrize("tag", LAYER_TYPES)
def test_each_kind_is_described(tag):
    kind = REGISTRY[tag]
    assert kind.type == tag
    assert kind.description, f"{kind.model.__name__} has no docstring (the schema's description)"
    for name, field in kind.model.model_fields.items():
        assert field.description, f"{tag}.{name} has no description"


def _net(layer):
    layers = [{"type": "activation", "function": "linear", "name": "a"},
              {"type": "activation", "function": "tanh", "name": "b", "inputs": "input"}]
    if REGISTRY[layer["type"]].merges:
        return {"input": [5, 6, 3], "rounding": "floor", "layers": layers + [{**layer, "name": "x"}]}
    return {"input": [5, 6, 3], "rounding": "floor", "layers": [{**layer, "name": "x"}]}


@pytest.mark.parametrize("tag", LAYER_TYPES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_kernel_matches_reference_twin(tag, data):
    """The fast kernel of each kind against its plain twin, on a random layer of that kind (float64)."""
    net = archcalc.load_spec(_net(data.draw(LAYERS[tag](), label="layer")))
    try:
        report = archcalc.analyze(net)
    except ShapeError:
        assume(False)
    params = archcalc.init_params(net, seed=data.draw(st.integers(0, 99), label="seed"))
    for name, entry in params.items():  # batchnorm: statistics away from the identity
        if "moving_variance" in entry:
            entry["moving_variance"] += 0.5
            entry["moving_mean"] += 0.25
    x = np.random.default_rng(0).standard_normal((2, *net.input_shape))
    got = archcalc.forward(net, x, params, dtype="float64", return_all=True)
    want = reference.forward(report, x, params)
    for row in report.rows:
        np.testing.assert_allclose(got[row.name], want[row.name], rtol=1e-9, atol=1e-12, err_msg=row.name)
