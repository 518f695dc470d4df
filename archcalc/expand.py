"""Spec-level conveniences that expand to plain data before validation.

`vars: {k: 192}` declares variables; a field written `$k` takes the value, and
`--set k=256` (or `set_vars`) overrides it.  A string such as `$k * 2` is
integer arithmetic (ints, + - * // and parentheses, parsed by blocks.eval_int,
never eval).  `blocks:` and `repeat:` are expanded by blocks.py.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .errors import SpecError

_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_EXPR = re.compile(r"^[\s0-9$A-Za-z_+\-*/()]+$")  # '$k * 2', '($c + 1) // 2': integer arithmetic, as in blocks


def expand_spec(data: dict[str, Any], *, set_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Substitute declared variables; refuse unknown ones with the place they are used."""
    declared = data.pop("vars", None)
    if declared is None:
        declared = {}
    if not isinstance(declared, dict) or not all(isinstance(k, str) and k.isidentifier() for k in declared):
        raise SpecError("vars must be a mapping of names to values, e.g. vars: {k: 192}", field="vars")
    values = dict(declared)
    for name, value in (set_vars or {}).items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise SpecError(f"cannot give '{name}' a value: the spec declares no variable '{name}' "
                            f"(declared: {known})", field="vars")
        values[name] = value
    if _uses_blocks(data):  # blocks: and repeat: -> plain layers (their bodies see vars too)
        from .blocks import expand_blocks  # only then: its imports cost start-up time on every `show`

        data = expand_blocks(data, values)
    if not values:
        return data  # an undeclared `$name` then fails validation, which names it (see io._translate)
    return _substitute(data, values, [])


def parse_value(raw: str) -> Any:
    """'256' -> 256, '0.5' -> 0.5, 'true' -> True, anything else stays text (how --set and --vary read values)."""
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw.lower() == "true" if raw.lower() in ("true", "false") else raw


def _uses_blocks(data: Mapping[str, Any]) -> bool:
    layers = data.get("layers")
    return "blocks" in data or (isinstance(layers, list)
                                and any(isinstance(l, dict) and ("block" in l or "repeat" in l) for l in layers))


def _substitute(data: Any, values: Mapping[str, Any], path: list) -> Any:
    if isinstance(data, str):
        m = _VAR.match(data)
        if not m:
            if "$" in data and _EXPR.match(data):
                return _arithmetic(data, values, path)
            return data
        if m.group(1) not in values:
            where = _where(path)
            known = ", ".join(sorted(values)) or "none"
            raise SpecError(f"unknown variable ${m.group(1)} (declared: {known}); declare it under vars:",
                            layer_index=where[0], field=where[1])
        return values[m.group(1)]
    if isinstance(data, dict):
        return {k: _substitute(v, values, path + [k]) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, values, path + [i]) for i, v in enumerate(data)]
    return data


def _arithmetic(text: str, values: Mapping[str, Any], path: list) -> int:
    from .blocks import eval_int

    where = _where(path)
    try:
        return eval_int(text, values)
    except KeyError as exc:
        known = ", ".join(sorted(values)) or "none"
        raise SpecError(f"unknown variable ${exc.args[0]} in {text!r} (declared: {known})",
                        layer_index=where[0], field=where[1]) from None
    except ValueError as exc:
        raise SpecError(f"cannot evaluate {text!r}: {exc}", layer_index=where[0], field=where[1]) from None


def _where(path: list) -> tuple[int | None, str | None]:
    if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
        return path[1], ".".join(str(p) for p in path[2:]) or None
    return None, ".".join(str(p) for p in path) or None
