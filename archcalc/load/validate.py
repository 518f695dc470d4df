"""Step 5 of loading a spec: pydantic on named, wired plain data; its errors become SpecErrors naming layer and field.

This is the one validation path: `load_spec`, `check`, `calc`, `sweep` and every other caller go through it.
The net-level fields go through NetworkHeader and each layer through its own model (dispatched on `type`), so only
the schemas of the layer kinds a spec uses are ever built; the errors are those one discriminated-union validation
would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..errors import SpecError, brief, brief_text
from .exprs import substitute
from .limits import MAX_ERRORS_SHOWN

if TYPE_CHECKING:  # pragma: no cover
    from ..spec import Network


def validate(data: Mapping[str, Any]) -> "Network":
    """Plain data whose layers are named and wired (see names.assign_names) -> Network, or a SpecError."""
    from pydantic import ValidationError

    from ..spec import MODEL_BY_TYPE, Network, NetworkHeader

    errors: list[Any] = []
    header = None
    try:
        header = NetworkHeader.model_validate(data)
    except ValidationError as exc:
        errors += exc.errors(include_url=False)
    layers = data.get("layers")
    models = []
    if "layers" not in data:
        errors.append({"loc": ("layers",), "type": "missing", "msg": "Field required", "input": None})
    elif not isinstance(layers, list) or not layers:
        what = "empty" if layers is None or layers == [] else f"not a list: {brief(layers)}"
        errors.append({"loc": ("layers",), "type": "value_error", "input": layers,
                       "msg": f"Value error, a spec needs a list of at least one layer; `layers:` is {what}"})
    else:
        for i, item in enumerate(layers):
            kind = item.get("type") if isinstance(item, dict) else None
            if not isinstance(item, dict):
                errors.append({"loc": ("layers", i), "type": "model_type", "msg": "", "input": item})
            elif "type" not in item:
                errors.append({"loc": ("layers", i), "type": "union_tag_not_found", "msg": "", "input": item})
            elif not isinstance(kind, str) or kind not in MODEL_BY_TYPE:
                errors.append({"loc": ("layers", i), "type": "union_tag_invalid", "msg": "", "input": item,
                               "ctx": {"tag": kind}})
            else:
                try:
                    models.append(MODEL_BY_TYPE[kind].model_validate(item))
                except ValidationError as exc:
                    for err in exc.errors(include_url=False):
                        errors.append({**err, "loc": ("layers", i, kind, *err["loc"])})
    if errors:
        raise _translate(errors, data)
    fields = {name: getattr(header, name) for name in NetworkHeader.model_fields if name != "layers"}
    return Network.model_construct(**fields, layers=tuple(models))


def _translate(errors: list[dict], data: Mapping[str, Any]) -> SpecError:
    from ..spec import LAYER_TYPES, MODEL_BY_TYPE, Network

    layers = data.get("layers")
    names = [l.get("name") if isinstance(l, dict) else None for l in layers] if isinstance(layers, list) else []
    problems: list[SpecError] = []
    seen: set = set()
    for err in errors:
        loc = list(err["loc"])
        kind = err["type"]
        layer_index = layer_name = None
        model_fields = set(Network.model_fields) | {"input", "vars", "blocks"}  # vars, blocks: expanded before
        if loc[:1] == ["layers"] and len(loc) >= 2 and isinstance(loc[1], int):
            layer_index = loc[1]
            layer_name = names[layer_index] if layer_index < len(names) else None
            loc = loc[2:]
            if loc and loc[0] in MODEL_BY_TYPE:
                model_fields = set(MODEL_BY_TYPE[loc[0]].model_fields)
                loc = loc[1:]
        # drop pydantic's union-member labels ('int', 'tuple[int, ...]') from the location
        loc = [p for p in loc if isinstance(p, int) or not _is_type_label(p)]
        if layer_index is not None and loc[:1] == ["expect"] and len(loc) > 1:  # an unknown key of expect:
            from ..layers.base import Expect
            model_fields = set(Expect.model_fields)
        field = ".".join(brief_text(p) if isinstance(p, str) else str(p) for p in loc) or None
        if field == "input_shape":
            field = "input"
        msg = _message(err, kind, loc, field, layer_index, model_fields, LAYER_TYPES)
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            field = "type"
        key = (layer_index, field, msg)
        if key in seen:
            continue
        seen.add(key)
        problems.append(SpecError(msg, layer_index=layer_index, layer_name=layer_name, field=field))
    return problems[0].located(more=problems[1:MAX_ERRORS_SHOWN], hidden=max(0, len(problems) - MAX_ERRORS_SHOWN))


def _message(err: dict, kind: str, loc: list, field: str | None, layer_index: int | None, model_fields: set,
             layer_types: tuple) -> str:
    import difflib  # only for messages: not on the start-up path of a valid spec

    msg = err["msg"]
    given = err.get("input")
    if "Exceeds the limit" in msg and "integer string conversion" in msg:  # a validator printed a huge int
        return "a number of more than 4,300 digits; no value in a spec comes near (they are at most 10**15)"
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        match = difflib.get_close_matches(key, sorted(model_fields - {"type"}), n=1, cutoff=0.6)
        return (f"unknown field {brief(key)}" + (f" (did you mean '{match[0]}'?)" if match else "")
                + f"; valid fields: {', '.join(sorted(model_fields - {'type'}))}")
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag")
        match = difflib.get_close_matches(tag, layer_types, n=1, cutoff=0.5) if isinstance(tag, str) else []
        return (f"unknown layer type {brief(tag)}" + (f" (did you mean '{match[0]}'?)" if match else "")
                + f";\n  valid types: {', '.join(layer_types)}")  # its own line: 20 kinds fill one
    if kind == "union_tag_not_found":
        return f"missing field 'type'; valid types: {', '.join(layer_types)}"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        what = "layer" if layer_index is not None and not loc else (field or "spec")
        return f"each {what} must be a mapping of fields, got {brief(given)}"
    if isinstance(given, str) and given.lstrip().startswith("$"):
        try:
            substitute(given, {})  # no variables here: says what is wrong with the reference or expression
        except SpecError as exc:
            return exc.message
    if kind == "missing":
        return f"missing required field '{loc[-1] if loc else field}'"
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    if given is not None and not isinstance(given, dict):
        return f"{msg[0].lower()}{msg[1:]}, got {brief(given)}"
    return msg[0].lower() + msg[1:]


def _is_type_label(part: Any) -> bool:
    text = str(part)
    return text in ("int", "str", "bool", "float", "list", "tuple", "none") or "[" in text or text.startswith(("literal", "function-", "tuple", "union"))
