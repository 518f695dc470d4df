"""The published JSON Schema: the shipped file is what `json_schema()` builds, every shipped spec and README example
validates against it, and malformed specs do not."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from archcalc.layers import LAYER_TYPES
from archcalc.spec.schema import SCHEMA_FILE, json_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def errors(data):
    return list(VALIDATOR.iter_errors(data))


def test_the_shipped_file_is_the_schema():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == SCHEMA


def test_archcalc_schema_prints_the_shipped_file():
    from click.testing import CliRunner

    from archcalc.cli import main

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_spec_validates(path):
    assert errors(yaml.safe_load(path.read_text())) == []


def readme_yaml_examples():
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    return [yaml.safe_load(b) for b in blocks if "layers:" in b and "exercises:" not in b]


def test_the_readme_examples_validate():
    examples = readme_yaml_examples()
    assert len(examples) >= 2
    for data in examples:
        assert errors(data) == []


@pytest.mark.parametrize("layer, field", [
    ({"type": "conv", "filters": 8, "kernel": "three"}, "kernel"),
    ({"type": "conv", "filters": 8, "kernel": 3, "padding": {"x": 1}}, "padding"),
    ({"type": "conv", "filters": 0, "kernel": 3}, "filters"),
    ({"type": "conv", "filters": 8, "kernel": [3, 3, 3, 3]}, "kernel"),
    ({"type": "maxpool", "kernel": 2, "strides": 2}, "strides"),
    ({"type": "activation", "function": "swishy"}, "function"),
    ({"type": "dense"}, "units"),
    ({"type": "convolution", "filters": 8, "kernel": 3}, "type"),
    ({"block": "b", "repeat": "three"}, "repeat"),
])
def test_malformed_layers_do_not_validate(layer, field):
    assert errors({"input": [8, 8, 3], "layers": [layer]}), field


def test_variables_and_expressions_are_allowed_where_values_go():
    data = {"input": [8, 8, 3], "vars": {"k": 3}, "layers": [
        {"type": "conv", "filters": "$k * 2", "kernel": "$k", "stride": ["$k", 1], "padding": "same",
         "activation": "$act", "expect": "8x8x6"}]}
    assert errors(data) == []
    assert errors({**data, "layers": [{"type": "conv", "filters": "k * 2", "kernel": 3}]})


@pytest.mark.parametrize("tag", LAYER_TYPES)
def test_every_field_has_a_description_a_type_and_its_default(tag):
    layer = SCHEMA["$defs"][f"layer_{tag}"]
    assert layer["description"]
    required = set(layer["required"])
    for name, prop in layer["properties"].items():
        assert prop.get("description"), f"{tag}.{name}"
        assert {"type", "anyOf", "oneOf", "$ref", "const"} & set(prop), f"{tag}.{name} has no type"
        if name not in required and name not in ("name", "inputs", "expect"):
            assert "default" in prop, f"{tag}.{name} has no default"
