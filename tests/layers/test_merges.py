"""add and concat: residual graphs, receptive fields over paths, shapes that must agree."""

import pytest

import archcalc
from archcalc.errors import SpecError


def analyze(input_shape, *layers, **top):
    return archcalc.analyze(archcalc.load_spec({"input": input_shape, "layers": list(layers), **top}))



def test_residual_graph_and_receptive_field_over_paths():
    r = analyze([8, 8, 4],
                {"type": "conv", "name": "a", "filters": 4, "kernel": 3, "padding": 1},
                {"type": "conv", "name": "b", "filters": 4, "kernel": 3, "padding": 1},
                {"type": "add", "name": "sum", "inputs": ["a", "b"]},
                {"type": "add", "name": "skip", "inputs": ["input", "sum"]})
    assert r.row("sum").output_shape == (8, 8, 4)
    assert r.row("sum").receptive_field.size == (5, 5)   # the longer path a -> b
    assert r.row("skip").receptive_field.size == (5, 5)
    assert r.row("b").inputs == ("a",)


def test_concat_channels_and_other_axes():
    branches = [{"type": "conv", "name": f"b{k}", "filters": 8 * k, "kernel": k, "padding": "same", "inputs": "input"}
                for k in (1, 3, 5)]
    r = analyze([28, 28, 192], *branches, {"type": "concat", "name": "cat", "inputs": ["b1", "b3", "b5"]})
    assert r.row("cat").output_shape == (28, 28, 8 + 24 + 40)
    assert r.row("cat").receptive_field.size == (5, 5)
    r = analyze([4, 6, 2], {"type": "flatten", "name": "f1", "inputs": "input"},
                {"type": "flatten", "name": "f2", "inputs": "input"}, {"type": "concat", "inputs": ["f1", "f2"], "axis": 0})
    assert r.rows[-1].output_shape == (96,)


def test_concat_of_unequal_spatial_sizes_is_refused():
    with pytest.raises(SpecError) as e:
        analyze([8, 8, 3], {"type": "conv", "name": "a", "filters": 4, "kernel": 3},
                 {"type": "conv", "name": "b", "filters": 4, "kernel": 1, "inputs": "input"},
                 {"type": "concat", "name": "cat", "inputs": ["a", "b"]})
    assert "layer 2 (cat)" in str(e.value) and "6x6x4" in str(e.value) and "8x8x4" in str(e.value)


def test_add_and_concat_need_two_inputs():
    with pytest.raises(SpecError, match="add joins two or more layers"):
        analyze([8, 8, 3], {"type": "conv", "filters": 3, "kernel": 1}, {"type": "add"})


def test_one_input_layers_refuse_two():
    with pytest.raises(SpecError, match="conv takes exactly one input"):
        analyze([8, 8, 3], {"type": "conv", "name": "a", "filters": 3, "kernel": 1},
                {"type": "conv", "filters": 3, "kernel": 1, "inputs": ["a", "input"]})
