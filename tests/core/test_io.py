"""Hostile and odd files: safe loading, limits, and the YAML features a spec may use."""

import pytest

import archcalc
from archcalc.errors import LoadError, SpecError
from archcalc.load.limits import MAX_DEPTH
from archcalc.load.read import parse_yaml

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
)


def test_billion_laughs_is_refused_not_expanded():
    with pytest.raises(LoadError, match="aliases are expanded"):
        parse_yaml(LAUGHS, "laughs.yaml")


def test_recursive_alias_is_refused():
    with pytest.raises(LoadError, match="recursive alias"):
        parse_yaml("a: &a [*a]\n")


def test_deep_nesting_is_refused_without_crashing():
    # libyaml's own composer overflows the C stack on this; the event reader must not
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(LoadError, match=f"deeper than {MAX_DEPTH}"):
        parse_yaml(text)


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo pwned']",
    "a: !!python/name:os.system x",
    "a: !!binary aGVsbG8=",
    "a: !custom {x: 1}",
])
def test_tags_that_construct_objects_are_refused(text):
    with pytest.raises(LoadError, match="not allowed"):
        parse_yaml(text)


def test_plain_data_types():
    data = parse_yaml("a: 1\nb: 1.5\nc: true\nd: null\ne: '3'\nf: [1, 2]\ng: 0x10\nh: 1e-4\ni: ~\nj: yes\n")
    assert data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "3", "f": [1, 2], "g": 16, "h": 1e-4, "i": None, "j": True}


def test_anchors_aliases_and_merge_keys_work_for_real_specs():
    text = """
input: [32, 32, 3]
defaults: &c3 {type: conv, kernel: 3, padding: 1, activation: relu}
layers:
  - {<<: *c3, filters: 16}
  - {<<: *c3, filters: 32, padding: 0}
  - *c3x
"""
    with pytest.raises(LoadError, match=r"\*c3x is not defined"):
        parse_yaml(text)
    data = parse_yaml(text.replace("  - *c3x\n", ""))
    assert data["layers"][0] == {"type": "conv", "kernel": 3, "padding": 1, "activation": "relu", "filters": 16}
    assert data["layers"][1]["padding"] == 0


def test_duplicate_keys_are_an_error():
    with pytest.raises(LoadError, match="duplicate key 'stride'"):
        parse_yaml("{type: conv, stride: 1, stride: 2}")


def test_more_than_one_document_is_an_error():
    with pytest.raises(LoadError, match="more than one YAML document"):
        parse_yaml("a: 1\n---\nb: 2\n")


def test_load_spec_from_a_mapping_and_from_json(tmp_path):
    spec = {"name": "tiny", "input": [4, 4, 1], "layers": [{"type": "flatten"}]}
    assert archcalc.load_spec(spec).input_shape == (4, 4, 1)
    path = tmp_path / "tiny.json"
    path.write_text('{"input": "4x4x1", "layers": [{"type": "dense", "units": 3}]}')
    net = archcalc.load_spec(path)
    assert net.name == "tiny" and net.input_shape == (4, 4, 1)
    assert archcalc.analyze(net).totals.params == 51


def test_errors_through_the_api_carry_file_layer_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("input: [8, 8, 3]\nlayers:\n  - {type: conv, name: c, filters: 3, kernel: 3, groups: 2}\n")
    net = archcalc.load_spec(path)
    with pytest.raises(SpecError) as e:
        archcalc.analyze(net)
    err = e.value
    assert (err.file, err.layer_index, err.layer_name, err.field) == (str(path), 0, "c", "groups")


def test_a_spec_of_100000_layers_is_accepted():
    layers = [{"type": "conv", "filters": 2, "kernel": 1}, {"type": "activation", "function": "relu"}] * 50_000
    net = archcalc.load_spec({"input": [4, 4, 2], "layers": layers})
    r = archcalc.analyze(net)
    assert len(r.rows) == 100_000
    assert r.totals.params == 50_000 * 6
