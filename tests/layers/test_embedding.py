"""embedding: [L] integer token ids -> [L, dim], vocab * dim params (Kim 2014's CNN-rand)."""

import numpy as np
import pytest

import archcalc
from archcalc.errors import ShapeError

from .kind_checks import check_engine, check_npz_round_trip, check_torch, net_of

KIM = {"name": "kim", "input": [56], "layers": [
    {"type": "embedding", "vocab": 18765, "dim": 300, "name": "emb"},
    {"type": "conv", "filters": 100, "kernel": 3, "activation": "relu", "name": "conv"}]}


def test_kim_cnn_rand_embedding():
    """MR's vocabulary of 18,765 words, 300-d vectors: 5,629,500 params, then width-3 convs over 56 tokens."""
    rows = archcalc.analyze(archcalc.load_spec(KIM)).rows
    assert (rows[0].output_shape, rows[0].params, rows[0].macs) == ((56, 300), 5_629_500, 0)
    assert rows[1].output_shape == (54, 100) and rows[1].params == 3 * 300 * 100 + 100
    assert rows[0].receptive_field.size == (1,) and rows[1].receptive_field.size == (3,)


def test_lookup_keeps_integer_ids():
    net = net_of({"type": "embedding", "vocab": 4, "dim": 2}, [3])
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = archcalc.forward(net, np.array([[3, 0, 3]]), {"x": {"weight": table}})
    assert y.tolist() == [[[6, 7], [0, 1], [6, 7]]]
    big = 2**53 + 1  # an id a float64 cast would change
    net = net_of({"type": "embedding", "vocab": 2, "dim": 1}, [1])
    with pytest.raises(ShapeError, match=r"token ids in \[0, 2\)"):
        archcalc.forward(net, np.array([[big]]), {"x": {"weight": np.zeros((2, 1), np.float32)}})


@pytest.mark.parametrize("x, words", [
    (np.zeros((1, 3)), "embedding input must be integer token ids, got float64"),
    (np.array([[0, 1, 5]]), "token ids in [0, 4)"),
    (np.array([[0, -1, 2]]), "token ids in [0, 4)"),
])
def test_bad_ids(x, words):
    net = net_of({"type": "embedding", "vocab": 4, "dim": 2}, [3])
    with pytest.raises(ShapeError) as exc:
        archcalc.forward(net, x, archcalc.init_params(net))
    assert words in str(exc.value)


def test_needs_a_one_axis_input():
    with pytest.raises(ShapeError, match=r"embedding needs a 1-D input of token ids \[L\], got \[56, 300\]"):
        archcalc.analyze(net_of({"type": "embedding", "vocab": 4, "dim": 2}, [56, 300]))


def test_engine_twin_and_round_trip(tmp_path):
    net = archcalc.load_spec({**KIM, "layers": [{**KIM["layers"][0], "vocab": 50, "dim": 8},
                                                {**KIM["layers"][1], "filters": 4}]})
    check_engine(net)
    check_npz_round_trip(net, tmp_path)


def test_run_random_draws_ids(tmp_path):
    from archcalc.engine.forward import random_input

    x = random_input(archcalc.load_spec(KIM), 3, 0)
    assert x.dtype.kind == "i" and x.shape == (3, 56) and 0 <= x.min() and x.max() < 18765


@pytest.mark.torch
def test_torch_twin():
    check_torch(archcalc.load_spec({**KIM, "layers": [{**KIM["layers"][0], "vocab": 50, "dim": 8},
                                                      {**KIM["layers"][1], "filters": 4}]}))
