"""The JSON Schema of the spec format people write: header fields, `vars`, `blocks`, `repeat`, `$name` and
`$expr` values, the `expect` shorthand and every layer kind (from its model in `archcalc.layers`).

`json_schema()` builds it; the package ships the same document as `archcalc/schema/archcalc.schema.json` (a test
keeps the two equal), so that an editor can check a spec as it is typed:

    # yaml-language-server: $schema=https://.../archcalc.schema.json     (first line of a spec)

The schema is what editors check; `archcalc check`/`show` still do the full validation (shapes that fit, names
that exist), which no schema can express.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..layers import REGISTRY
from ..layers.fields import MAX_AXES, MAX_VALUE

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "archcalc.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

_VARIABLE = {
    "description": "a variable ($k) or integer arithmetic over variables ($k * 2, ($c + 1) // 2), declared under "
                   "vars: or as a block parameter",
    "type": "string",
    "pattern": "^[\\s0-9A-Za-z_+\\-*/()]*\\$[A-Za-z_][\\s0-9$A-Za-z_+\\-*/()]*$",
}
_POSITIVE = {"type": "integer", "minimum": 1, "maximum": MAX_VALUE}
_SHAPE = {
    "description": "a shape, channels last, no batch axis: [227, 227, 3] or '227x227x3'",
    "oneOf": [
        {"type": "array", "items": _POSITIVE, "minItems": 1},
        {"type": "string", "pattern": "^[\\s\\[(]*[0-9]+(\\s*[x×,]\\s*[0-9]+)*[\\s\\])]*$"},
        _POSITIVE,
    ],
}
_NAMES = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
_HEADER_OVERRIDES: dict[str, dict[str, Any]] = {
    "input": {**_SHAPE, "description": "input shape without the batch axis, channels last: [H, W, C] ([N, C], "
                                       "[D, H, W, C]) or '227x227x3'"},
    "place": {"description": "competition result or venue, e.g. 'ILSVRC 2012, 1st'", "type": ["string", "number"]},
    "top5_error": {"description": "reported top-5 error, as text", "type": ["string", "number"]},
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file as written, before vars, blocks and repeat are expanded."""
    from . import network

    defs: dict[str, Any] = {"variable": _VARIABLE, "shape": _SHAPE}
    kinds = []
    for tag, kind in REGISTRY.items():
        schema = kind.model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[f"layer_{tag}"] = _layer(schema, kind.description)
        kinds.append({"$ref": f"#/$defs/layer_{tag}"})
    expect = defs["Expect"]
    fields = {k: _plain(v) for k, v in expect["properties"].items()}
    fields["shape"] = {"description": fields["shape"]["description"], "$ref": "#/$defs/shape"}
    defs["Expect"] = _with_variables({"description": " ".join(expect["description"].split()), "type": "object",
                                      "properties": fields, "additionalProperties": False})
    defs["shape"] = _with_variables(_SHAPE)
    item = {"description": "a layer, a block use ({block: NAME, args}) or a repeat ({repeat: N, layers or block})",
            "oneOf": kinds + [{"$ref": "#/$defs/block_use"}, {"$ref": "#/$defs/repeat"}]}
    defs["item"] = item
    defs["block_use"] = _block_use()
    defs["repeat"] = _repeat()
    defs["block"] = _block()
    header = network.NetworkHeader.model_json_schema(by_alias=True)
    properties = {}
    for key, prop in header["properties"].items():
        if key == "layers":
            continue
        properties[key] = _with_variables(_plain(_HEADER_OVERRIDES.get(key, prop)))
    properties["vars"] = {
        "description": "variables: {k: 192}; a field written $k takes the value (--set k=256 overrides it)",
        "type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}, "default": {}}
    properties["blocks"] = {
        "description": "named blocks of layers with parameters, used in layers as {block: NAME, args: {...}}",
        "type": "object", "additionalProperties": {"$ref": "#/$defs/block"}, "default": {}}
    properties["layers"] = {"description": "the layers in order; each reads the one above unless it names inputs",
                            "type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1}
    return {
        "$schema": DIALECT,
        "title": "archcalc spec",
        "description": "A convolutional net for archcalc: its input shape and its layers (channels last, no batch "
                       "axis). See the README's Spec format section.",
        "type": "object",
        "properties": properties,
        "required": ["input", "layers"],
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_text() -> str:
    """The schema as the shipped file holds it (two-space indent, a final newline)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _plain(prop: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's titles (the field names say it) and turn `anyOf [X, null]` into X: null is never written."""
    prop = {k: v for k, v in prop.items() if k != "title"}
    options = prop.get("anyOf")
    if options and any(o == {"type": "null"} for o in options):
        rest = [o for o in options if o != {"type": "null"}]
        prop.pop("anyOf")
        if len(rest) == 1:
            prop = {**rest[0], **prop}
        else:
            prop["anyOf"] = rest
    for key in ("anyOf", "oneOf"):
        if key in prop:
            prop[key] = [_plain(o) for o in prop[key]]
    if "items" in prop and isinstance(prop["items"], dict):
        prop["items"] = _plain(prop["items"])
    return prop


def _with_variables(schema: Any) -> Any:
    """Let every number, boolean and enum in `schema` be written as a $variable too."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("anyOf", "oneOf"):
        if key in out:
            out[key] = [_with_variables(o) for o in out[key]]
    if isinstance(out.get("items"), dict):
        out["items"] = _with_variables(out["items"])
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _with_variables(v) for k, v in out["properties"].items()}
    if "enum" in out or "const" in out or out.get("type") in ("integer", "number", "boolean"):
        meta = {k: out.pop(k) for k in ("description", "default") if k in out}
        return {**meta, "anyOf": [out, {"$ref": "#/$defs/variable"}]}
    return out


def _layer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    properties = {}
    for key, prop in schema["properties"].items():
        prop = _plain(prop)
        if key == "type":
            properties[key] = prop
            continue
        if key == "inputs":
            prop = {**_NAMES, "description": prop["description"]}
        elif key == "expect":
            prop = {"description": prop["description"], "anyOf": [{"$ref": "#/$defs/shape"},
                                                                  {"$ref": "#/$defs/Expect"}]}
        properties[key] = _with_variables(prop)
    return {"description": description, "type": "object", "properties": properties,
            "required": schema.get("required", ["type"]), "additionalProperties": False}


_USE_FIELDS = {
    "name": {"description": "the use's name: its layers are named NAME/LAYER", "type": "string"},
    "args": {"description": "values of the block's parameters", "type": "object", "default": {}},
    "inputs": {**_NAMES, "description": "what the block's `input` is (default: the layer above)"},
    "expect": {"description": "expected output of the last layer", "anyOf": [{"$ref": "#/$defs/shape"},
                                                                             {"$ref": "#/$defs/Expect"}]},
}


def _block_use() -> dict[str, Any]:
    return {"description": "a use of a block defined under blocks:", "type": "object",
            "properties": {"block": {"description": "the block's name", "type": "string"}, **_USE_FIELDS},
            "required": ["block"], "additionalProperties": False}


def _repeat() -> dict[str, Any]:
    count = {"description": "how many times", "anyOf": [_POSITIVE, {"$ref": "#/$defs/variable"}]}
    return {
        "description": "the same layers (or block) N times; iteration i is named NAME<i> (NAME.<i> after a digit)",
        "type": "object",
        "properties": {
            "repeat": count,
            "layers": {"description": "the body, repeated", "type": "array", "items": {"$ref": "#/$defs/item"},
                       "minItems": 1},
            "block": {"description": "or a block, used once per iteration", "type": "string"},
            "index": {"description": "a variable that holds the iteration number in the body, e.g. i",
                      "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "start": {"description": "number of the first iteration", "type": "integer", "default": 1},
            **_USE_FIELDS,
        },
        "required": ["repeat"], "additionalProperties": False,
    }


def _block() -> dict[str, Any]:
    param = {"oneOf": [{"type": "string", "description": "a required parameter"},
                       {"type": "object", "description": "{name: default}: an optional parameter",
                        "minProperties": 1, "maxProperties": 1}]}
    return {
        "description": "a block: parameters and a body of layers; `input` in its layers is what the use gives it",
        "type": "object",
        "properties": {
            "params": {"description": "parameters: [filters, {stride: 1}] (a name is required, {name: default} "
                                      "is optional) or a mapping of names to defaults",
                       "oneOf": [{"type": "array", "items": param}, {"type": "object"}], "default": []},
            "layers": {"description": "the body", "type": "array", "items": {"$ref": "#/$defs/item"},
                       "minItems": 1},
            "description": {"description": "free text", "type": "string"},
        },
        "required": ["layers"], "additionalProperties": False,
    }



if __name__ == "__main__":  # python -m archcalc.spec.schema: rewrite the shipped file after changing a layer kind
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
