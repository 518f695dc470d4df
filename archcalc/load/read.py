"""Step 1 of loading a spec: the file's bytes (bounded) -> plain data, through a safe YAML/JSON reader.

YAML is read from the parser's event stream (libyaml when available), never
through a constructor that can run code.  The same pass enforces the limits a
real net never reaches: file size, nesting depth, and the size of the document
once aliases are expanded (a "billion laughs" document is refused, not expanded).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
from typing import Any, Mapping

from ..errors import LoadError, brief, brief_text
from .limits import MAX_BYTES, MAX_DEPTH, MAX_INT_BITS, MAX_NODES


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
            raise _err(f"the YAML tag {brief_text(ev.tag)} is not allowed in a spec (only plain data)", ev.start_mark, file)
        try:
            return _construct_scalar(yaml, resolver, ev.value, ev.tag)
        except (yaml.YAMLError, ValueError) as exc:
            raise _err(f"cannot read {brief(ev.value)} as {brief(ev.tag)}: {exc}", ev.start_mark, file) from None

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
            if key is _MERGE:
                merges = value if isinstance(value, list) else [value]
                if not all(isinstance(m, dict) for m in merges):
                    raise _err("a merge key '<<' must be given a mapping or a list of mappings", mark, file)
                top[5].extend(merges)
                return
            if key in top[7]:
                raise _err(f"duplicate key {brief(key)} in one mapping", mark, file)
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
                except _Yaml11Number as exc:
                    raise _err(str(exc), ev.start_mark, file) from None
                except ValueError:  # also Python's refusal to read an int of more than 4,300 digits
                    raise _err(f"the number {brief(ev.value, 24)} is too large; no value in a spec comes near",
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
                    raise _err(f"the YAML tag {brief_text(ev.tag)} is not allowed in a spec (only plain data)", ev.start_mark, file)
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
                    raise _err(f"alias *{brief_text(ev.anchor)} refers to a node that contains it (a recursive alias)", ev.start_mark, file)
                if ev.anchor not in anchors:
                    raise _err(f"alias *{brief_text(ev.anchor)} is not defined above", ev.start_mark, file)
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
        raise yaml_syntax_error(exc, text, file) from None
    return None if root is _MISSING else root


def yaml_syntax_error(exc: Any, text: str, file: str | None) -> LoadError:
    """A YAML syntax error as a person would say it: the likely line (the parser often notices a line late),
    quoted, and the problem in plain words (missing colon, indentation, unclosed bracket or quote, tab)."""
    problem = str(getattr(exc, "problem", None) or exc)
    context = str(getattr(exc, "context", None) or "")
    pmark, cmark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    lines = text.splitlines()
    line = pmark.line if pmark is not None else (cmark.line if cmark is not None else None)

    def content(i: int) -> str:
        return lines[i] if 0 <= i < len(lines) else ""

    def previous_content(i: int) -> int:  # the nearest line at or before i that holds something
        while i > 0 and (not content(i).strip() or content(i).lstrip().startswith("#")):
            i -= 1
        return i

    if "\t" in problem or (line is not None and "\t" in content(line)[: (pmark.column + 1) if pmark else None]):
        message = "a tab character: YAML indents with spaces only; replace the tab with spaces"
    elif "maximum nesting depth" in problem:  # libyaml's own limit (PyYAML 6.0.4 on), far above ours
        message = f"nesting deeper than {MAX_DEPTH} levels; a spec is never that deep"
    elif "expected ':'" in problem:
        line = cmark.line if cmark is not None else previous_content((line or 0) - 1)
        message = "missing ':' after the key? a mapping entry is written `key: value`"
    elif "mapping values are not allowed" in problem:
        message = ("unexpected ':': is this line indented more than the key above it, or does a value contain "
                   "': ' (then put it in quotes)?")
    elif ("expected ',' or ']'" in problem or "expected ',' or '}'" in problem or "flow sequence" in context
          or "flow mapping" in context) and "end of stream" not in problem or "flow" in context:
        closing = "]" if "sequence" in context or "']'" in problem else "}"
        opening = "[" if closing == "]" else "{"
        line = cmark.line if cmark is not None else line
        message = f"the {opening} opened on this line is not closed with {closing}"
    elif "quoted scalar" in context:
        line = cmark.line if cmark is not None else line
        message = "the quote opened on this line is not closed"
    elif ("expected <block end>" in problem or "did not find expected key" in problem
          or "did not find expected '-'" in problem or "block" in context):
        message = "the indentation does not match the lines above: items of one list or mapping line up exactly"
    else:
        message = problem
    message = f"not valid YAML: {message}"
    if line is None:
        return LoadError(message, file=file)
    quoted = brief_text(content(line).rstrip().replace("\t", "→"), 80)
    return LoadError(f"line {line + 1}: {message}\n    {line + 1} | {quoted}", file=file)


def _construct_scalar(yaml, resolver, value: str, tag: str | None) -> Any:
    node_tag = tag or resolver.resolve(yaml.ScalarNode, value, (True, False))
    if node_tag == "tag:yaml.org,2002:merge":
        return _MERGE if tag is None else "<<"
    if tag is None and node_tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        _refuse_yaml11_number(value)
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


class _MergeKey:
    """A plain `<<` in key position (YAML's merge key); a quoted '<<' is an ordinary key."""

    __slots__ = ()


_MERGE = _MergeKey()


class _Yaml11Number(ValueError):
    """A number written in a form only YAML 1.1 reads (octal 017, base-60 1:30)."""
_OCTAL_11 = re.compile(r"^[-+]?0[0-7_]+$")


def _refuse_yaml11_number(value: str) -> None:
    """YAML 1.1 (PyYAML) reads `017` as octal 15 and `1:30` as base 60 (90); YAML 1.2 and JSON do not.  A spec that
    means one reading would be read the other way by other tools: refuse both and say how to write the number."""
    if ":" in value:
        raise _Yaml11Number(f"{brief(value, 24)} is a base-60 number in YAML 1.1 (1:30 means 90); write the number "
                         "itself (90), or quote it ('1:30') if it is text")
    if _OCTAL_11.match(value) and value.strip("+-0_"):
        means = f" ({value} means {int(value.replace('_', ''), 8)})" if len(value) <= 20 else ""
        raise _Yaml11Number(f"{brief(value, 24)} has a leading zero, which YAML 1.1 reads as octal{means}; write the "
                            "number without the leading zero, or quote it if it is text")


def _line(mark) -> str | None:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None


def _err(message: str, mark, file: str | None) -> LoadError:
    where = _line(mark)
    return LoadError(f"{where}: {message}" if where else message, file=file)


# --- files ------------------------------------------------------------------------

STDIN = "-"  # the string "-" reads standard input, under the same cap as a file
STDIN_NAME = "<stdin>"  # how messages name it
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path: str | os.PathLike, *, limit: int = MAX_BYTES, what: str = "specs") -> bytes:
    """At most `limit` bytes of a regular file (or of standard input for `-`), or a LoadError that says why not.

    Whatever `stat` says of the size, no more than `limit + 1` bytes are ever read.  Anything but a regular file
    (a FIFO, a device such as /dev/zero, a socket, a directory) is refused before it is opened, so nothing can hang
    on a pipe with no writer or read an endless device.
    """
    name = str(path)
    if is_stdin(path):
        return _bounded(sys.stdin.buffer, STDIN_NAME, limit, what)
    if not name:
        raise LoadError("no file name given (an empty name)")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise LoadError(f"is a symbolic link to {brief(os.readlink(name))}, which does not exist", file=name) from None
        raise LoadError("no such file", file=name) from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL in the name, ...
        raise LoadError(_os_problem(exc), file=name) from None
    _check_regular(info.st_mode, name)
    if info.st_size > limit:
        raise LoadError(f"file is {info.st_size:,} bytes; {what} larger than {limit:,} bytes are refused", file=name)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise LoadError(_os_problem(exc), file=name) from None
    with os.fdopen(fd, "rb") as f:
        _check_regular(os.fstat(f.fileno()).st_mode, name)  # replaced between stat and open: still refused
        try:
            return _bounded(f, name, limit, what)
        except OSError as exc:
            raise LoadError(_os_problem(exc), file=name) from None


def is_stdin(path: object) -> bool:
    """Only the string "-" means standard input; a Path("-") (an exercise's `spec: -`, say) is a file named "-"."""
    return isinstance(path, str) and path == STDIN


def _check_regular(mode: int, name: str) -> None:
    if stat.S_ISDIR(mode):
        raise LoadError("is a directory, not a file", file=name)
    if not stat.S_ISREG(mode):
        kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
        raise LoadError(f"is {kind}, not a regular file; archcalc reads regular files, or standard input given as -",
                        file=name)


def _bounded(stream: Any, name: str, limit: int, what: str) -> bytes:
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise LoadError(f"more than {limit:,} bytes; {what} larger than that are refused", file=name)
    return raw


def _os_problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "is a symbolic link loop (the links point at each other), not a file"
    return f"cannot read the file: {getattr(exc, 'strerror', None) or exc}"


def read_text(path: str | os.PathLike) -> str:
    """The spec file's text (UTF-8, with or without a byte-order mark), or a LoadError that says why not."""
    raw = read_bytes(path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        name = STDIN_NAME if is_stdin(path) else str(path)
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
        raise LoadError(f"the number {brief(text, 24)} is too large; no value in a spec comes near")
    return int(text)


def _json_object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        for key, _ in pairs:
            if key in seen:
                raise LoadError(f"duplicate key {brief(key)} in one object")
            seen.add(key)
    return obj


def read_data(path: str | os.PathLike) -> Any:
    """A YAML or JSON file (or `-` for standard input) -> plain data."""
    text = read_text(path)
    name = STDIN_NAME if is_stdin(path) else str(path)
    return parse_text(text, name, json_first=name.lower().endswith(".json"))
