"""Reading specs: safe YAML/JSON with limits, and pydantic errors turned into one-line messages.

YAML is read from the parser's event stream (libyaml when available), never
through a constructor that can run code.  The same pass enforces the limits a
real net never reaches: file size, nesting depth, and the size of the document
once aliases are expanded (a "billion laughs" document is refused, not expanded).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from .errors import ArchcalcError, LoadError, SpecError

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 8_000_000  # scalars + collections after alias expansion; 100,000 layers need about 2.5 M
MAX_ERRORS_SHOWN = 3
MAX_LAYERS = 200_000  # as blocks.MAX_LAYERS: what a spec may expand to
MAX_INT_BITS = 256  # about 77 digits: no value in a spec comes near (spec.MAX_VALUE is 10**15)


# --- YAML -----------------------------------------------------------------------

def _yaml_module():
    import yaml

    return yaml


def parse_yaml(text: str, file: str | None = None) -> Any:
    """YAML text -> plain data (dict/list/str/int/float/bool/None), with the limits above."""
    yaml = _yaml_module()
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    resolver = loader_cls("")
    plain_cache: dict[str, Any] = {}

    def scalar(ev) -> Any:
        if ev.tag in (None, "!") or ev.tag == "tag:yaml.org,2002:str":
            if ev.tag is None and ev.implicit[0]:
                hit = plain_cache.get(ev.value, _MISSING)
                if hit is _MISSING:
                    hit = _construct_scalar(yaml, resolver, ev.value, None)
                    if len(plain_cache) < 100_000:
                        plain_cache[ev.value] = hit
                return hit
            return ev.value
        if ev.tag not in _SAFE_TAGS:
            raise _err(f"the YAML tag {ev.tag} is not allowed in a spec (only plain data)", ev.start_mark, file)
        try:
            return _construct_scalar(yaml, resolver, ev.value, ev.tag)
        except (yaml.YAMLError, ValueError) as exc:
            raise _err(f"cannot read {ev.value!r} as {ev.tag}: {exc}", ev.start_mark, file) from None

    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    nodes = 0
    # stack entries: [container, anchor, nodes at start, pending key, is_mapping, merge list, start mark, keys seen]
    stack: list[list] = []
    root: Any = _MISSING
    docs = 0

    def attach(value: Any, mark) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        if not top[4]:
            top[0].append(value)
        elif top[3] is _MISSING:
            if isinstance(value, (dict, list)):
                raise _err("mapping keys must be plain values, not lists or mappings", mark, file)
            top[3] = value
        else:
            key = top[3]
            top[3] = _MISSING
            if key == "<<" and top[7] is not None:
                merges = value if isinstance(value, list) else [value]
                if not all(isinstance(m, dict) for m in merges):
                    raise _err("a merge key '<<' must be given a mapping or a list of mappings", mark, file)
                top[5].extend(merges)
                return
            if key in top[7]:
                raise _err(f"duplicate key '{key}' in one mapping", mark, file)
            top[7].add(key)
            top[0][key] = value

    try:
        for ev in yaml.parse(text, Loader=loader_cls):
            kind = type(ev).__name__
            if kind == "ScalarEvent":
                nodes += 1
                try:
                    value = scalar(ev)
                    if type(value) is int and value.bit_length() > MAX_INT_BITS:
                        raise ValueError
                except ValueError:  # also Python's refusal to read an int of more than 4,300 digits
                    raise _err(f"the number {ev.value[:20]}... is too large; no value in a spec comes near",
                               ev.start_mark, file) from None
                if ev.anchor:
                    anchors[ev.anchor] = (value, 1)
                attach(value, ev.start_mark)
            elif kind in ("MappingStartEvent", "SequenceStartEvent"):
                nodes += 1
                if len(stack) >= MAX_DEPTH:
                    raise _err(f"nesting deeper than {MAX_DEPTH} levels; a spec is never that deep", ev.start_mark, file)
                is_map = kind == "MappingStartEvent"
                if ev.tag not in (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
                    raise _err(f"the YAML tag {ev.tag} is not allowed in a spec (only plain data)", ev.start_mark, file)
                if ev.anchor:
                    open_anchors.add(ev.anchor)
                stack.append([{} if is_map else [], ev.anchor, nodes, _MISSING, is_map, [], ev.start_mark,
                              set() if is_map else None])
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                container, anchor, start, _key, is_map, merges, mark, _seen = stack.pop()
                if is_map and merges:
                    merged: dict = {}
                    for m in merges:
                        for k, v in m.items():
                            merged.setdefault(k, v)
                    for k, v in container.items():
                        merged[k] = v
                    container.clear()
                    container.update(merged)
                if anchor:
                    open_anchors.discard(anchor)
                    anchors[anchor] = (container, nodes - start + 1)
                attach(container, mark)
            elif kind == "AliasEvent":
                if ev.anchor in open_anchors:
                    raise _err(f"alias *{ev.anchor} refers to a node that contains it (a recursive alias)", ev.start_mark, file)
                if ev.anchor not in anchors:
                    raise _err(f"alias *{ev.anchor} is not defined above", ev.start_mark, file)
                value, size = anchors[ev.anchor]
                nodes += size
                if nodes > MAX_NODES:
                    raise _err(f"the document expands to more than {MAX_NODES:,} values once its aliases are "
                               "expanded; refusing it (a real net is far smaller)", ev.start_mark, file)
                attach(value, ev.start_mark)
            elif kind == "DocumentStartEvent":
                docs += 1
                if docs > 1:
                    raise _err("the file holds more than one YAML document; a spec is one document", ev.start_mark, file)
            if nodes > MAX_NODES:
                raise _err(f"the document has more than {MAX_NODES:,} values; refusing it", ev.start_mark, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _err(f"not valid YAML: {problem}", mark, file) from None
    return None if root is _MISSING else root


def _construct_scalar(yaml, resolver, value: str, tag: str | None) -> Any:
    node_tag = tag or resolver.resolve(yaml.ScalarNode, value, (True, False))
    if node_tag == "tag:yaml.org,2002:merge":
        return "<<"
    if tag is None and node_tag == "tag:yaml.org,2002:str" and _FLOAT_12.match(value):
        return float(value)  # YAML 1.2 reads 1e-4 as a number; PyYAML's 1.1 rules would keep the text
    if node_tag not in _SAFE_TAGS:  # an implicit timestamp, say: keep the text
        return value
    return resolver.construct_object(yaml.ScalarNode(node_tag, value), deep=True)


_SAFE_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:merge",
}


_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)$")


class _Missing:
    __slots__ = ()


_MISSING = _Missing()


def _line(mark) -> str | None:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None


def _err(message: str, mark, file: str | None) -> LoadError:
    where = _line(mark)
    return LoadError(f"{where}: {message}" if where else message, file=file)


# --- files ------------------------------------------------------------------------

def read_text(path: str | os.PathLike) -> str:
    """The file's text, or a LoadError that says why not."""
    p = Path(path)
    name = str(path)
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, say
        raise LoadError(f"cannot read the file: {getattr(exc, 'strerror', None) or exc}", file=name) from None
    if not exists:
        raise LoadError("no such file", file=name)
    if is_dir:
        raise LoadError("is a directory, not a spec file", file=name)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise LoadError(f"file is {size:,} bytes; specs larger than {MAX_BYTES:,} bytes are refused", file=name)
        raw = p.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (byte {exc.start}); is this a spec file?", file=name) from None


def parse_text(text: str, file: str | None = None, *, json_first: bool = False) -> Any:
    """YAML or JSON text -> data.  JSON is tried first for .json files (faster, and its errors are clearer)."""
    if json_first:
        try:
            data = json.loads(text, parse_int=_json_int, object_pairs_hook=_json_object)
            if "\\u" in text:  # a lone surrogate escape ("\ud800") is not text: refuse it now, not when printing
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            return data
        except UnicodeEncodeError:
            raise LoadError("not valid JSON: a \\u escape gives a lone surrogate, which is not a character",
                            file=file) from None
        except LoadError as exc:
            raise exc.with_file(file) from None
        except RecursionError:
            raise LoadError("nesting deeper than Python can read; a spec is never that deep", file=file) from None
        except json.JSONDecodeError as exc:
            raise LoadError(f"line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}", file=file) from None
    return parse_yaml(text, file)


def _json_int(text: str) -> int:
    if len(text) > 78:  # MAX_INT_BITS; also keeps clear of Python's 4,300-digit limit
        raise LoadError(f"the number {text[:20]}... is too large; no value in a spec comes near")
    return int(text)


def _json_object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        for key, _ in pairs:
            if key in seen:
                raise LoadError(f"duplicate key '{key}' in one object")
            seen.add(key)
    return obj


def read_data(path: str | os.PathLike) -> Any:
    text = read_text(path)
    return parse_text(text, str(path), json_first=str(path).lower().endswith(".json"))


# --- validation ---------------------------------------------------------------------

def load_spec(source: str | os.PathLike | Mapping[str, Any], *, set_vars: Mapping[str, Any] | None = None):
    """A path to a YAML/JSON spec, or the spec as a mapping -> validated `Network`.

    Raises `SpecError` (one family, printed as one line per problem) for anything wrong.
    """
    from .expand import expand_spec
    from .graph import check_graph

    file = None
    if isinstance(source, Mapping):
        data: Any = source
    else:
        file = str(source)
        data = read_data(source)
    try:
        if not isinstance(data, Mapping):
            kind = "empty" if data is None else f"a {type(data).__name__}"
            raise SpecError(f"a spec must be a mapping with input and layers; this file is {kind}")
        data = expand_spec(dict(data), set_vars=set_vars)
        if isinstance(data.get("layers"), list) and len(data["layers"]) > MAX_LAYERS:
            raise SpecError(f"the spec has {len(data['layers']):,} layers; at most {MAX_LAYERS:,} are accepted",
                            field="layers")
        if file and not data.get("name"):
            data = {**data, "name": Path(file).stem}
        net = validate(data)
        net._file = file
        check_graph(net)
        return net
    except ArchcalcError as exc:
        raise exc.with_file(file) from None
    except RecursionError:
        raise SpecError("the spec is nested too deeply to read", file=file) from None


def validate(data: Mapping[str, Any]):
    """Run pydantic on plain data; turn its errors into SpecError naming layer and field.

    The net-level fields go through NetworkHeader and each layer through its own model (dispatched on `type`),
    so only the schemas of the layer kinds a spec uses are ever built; the errors are the same as one
    discriminated-union validation would give.
    """
    import gc

    from pydantic import ValidationError

    from .spec import MODEL_BY_TYPE, Network, NetworkHeader, assign_names

    enabled = gc.isenabled()
    gc.disable()  # thousands of small frozen models: the cyclic collector only costs time here
    try:
        errors: list[dict] = []
        header = None
        try:
            header = NetworkHeader.model_validate(data)
        except ValidationError as exc:
            errors += exc.errors(include_url=False)
        layers = data.get("layers") if isinstance(data, Mapping) else None
        models = []
        if isinstance(data, Mapping) and "layers" not in data:
            errors.append({"loc": ("layers",), "type": "missing", "msg": "Field required", "input": None})
        elif layers is not None and not isinstance(layers, list):
            errors.append({"loc": ("layers",), "type": "value_error", "input": layers,
                           "msg": f"Value error, layers must be a list of layer mappings, got {_short(layers)}"})
        elif isinstance(layers, list) and not layers:
            errors.append({"loc": ("layers",), "type": "value_error", "input": layers,
                           "msg": "Value error, a net needs at least one layer"})
        elif isinstance(layers, list):
            for i, item in enumerate(assign_names(layers)):
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
    finally:
        if enabled:
            gc.enable()


def _layer_names(data: Mapping[str, Any]) -> list:
    from .spec import assign_names

    layers = data.get("layers")
    if not isinstance(layers, list):
        return []
    return [l.get("name") if isinstance(l, dict) else None for l in assign_names(layers)]


def _translate(errors: list[dict], data: Mapping[str, Any]) -> SpecError:
    import difflib

    from .spec import LAYER_TYPES, MODEL_BY_TYPE, Network

    names = _layer_names(data)
    problems: list[SpecError] = []
    seen: set = set()
    for err in errors:
        loc = list(err["loc"])
        kind = err["type"]
        layer_index = layer_name = None
        model_fields = set(Network.model_fields) | {"input"}
        if loc[:1] == ["layers"] and len(loc) >= 2 and isinstance(loc[1], int):
            layer_index = loc[1]
            layer_name = names[layer_index] if layer_index < len(names) else None
            loc = loc[2:]
            if loc and loc[0] in MODEL_BY_TYPE:
                model_fields = set(MODEL_BY_TYPE[loc[0]].model_fields)
                loc = loc[1:]
        # drop pydantic's union-member labels ('int', 'tuple[int, ...]') from the location
        loc = [p for p in loc if isinstance(p, int) or not _is_type_label(p)]
        field = ".".join(str(p) for p in loc) or None
        if field == "input_shape":
            field = "input"
        msg = err["msg"]
        given = err.get("input")
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            match = difflib.get_close_matches(key, sorted(model_fields - {"type"}), n=1, cutoff=0.6)
            msg = f"unknown field '{key}'" + (f" (did you mean '{match[0]}'?)" if match else "")
            msg += f"; valid fields: {', '.join(sorted(model_fields - {'type'}))}"
        elif kind == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            match = difflib.get_close_matches(str(tag), LAYER_TYPES, n=1, cutoff=0.5)
            msg = f"unknown layer type '{tag}'" + (f" (did you mean '{match[0]}'?)" if match else "")
            msg += f"; valid types: {', '.join(LAYER_TYPES)}"
            field = "type"
        elif kind == "union_tag_not_found":
            msg = f"missing field 'type'; valid types: {', '.join(LAYER_TYPES)}"
            field = "type"
        elif kind in ("model_attributes_type", "model_type", "dict_type"):
            what = "layer" if layer_index is not None and not loc else (field or "spec")
            msg = f"each {what} must be a mapping of fields, got {_short(given)}"
        elif isinstance(given, str) and given.startswith("$"):
            msg = f"unknown variable {given}: the spec declares no such name under vars:"
        elif kind == "missing":
            msg = f"missing required field '{loc[-1] if loc else field}'"
        else:
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            elif given is not None and not isinstance(given, (dict, list)):
                msg = f"{msg[0].lower()}{msg[1:]}, got {_short(given)}"
            else:
                msg = msg[0].lower() + msg[1:]
        key = (layer_index, field, msg)
        if key in seen:
            continue
        seen.add(key)
        problems.append(SpecError(msg, layer_index=layer_index, layer_name=layer_name, field=field))
    first = problems[0]
    first.more = problems[1:MAX_ERRORS_SHOWN]
    first.hidden = max(0, len(problems) - MAX_ERRORS_SHOWN)
    return first


def _is_type_label(part: Any) -> bool:
    text = str(part)
    return text in ("int", "str", "bool", "float", "list", "tuple", "none") or "[" in text or text.startswith(("literal", "function-", "tuple", "union"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
