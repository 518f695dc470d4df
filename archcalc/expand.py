"""Spec-level conveniences that expand to plain data before validation.

`vars: {k: 192}` declares variables; a field written `$k` takes the value, and
`--set k=256` (or `set_vars`) overrides it.  No code is executed: a value is
replaced only when it is exactly `$name`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .errors import SpecError

_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


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
            raise SpecError(f"--set {name}=...: the spec declares no variable '{name}' (declared: {known})", field="vars")
        values[name] = value
    from .blocks import expand_blocks  # blocks: and repeat: -> plain layers (their bodies see vars too)

    data = expand_blocks(data, values)
    if not values:
        return data  # an undeclared `$name` then fails validation, which names it (see io._translate)
    return _substitute(data, values, [])


def _substitute(data: Any, values: Mapping[str, Any], path: list) -> Any:
    if isinstance(data, str):
        m = _VAR.match(data)
        if not m:
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


def _where(path: list) -> tuple[int | None, str | None]:
    if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
        return path[1], ".".join(str(p) for p in path[2:]) or None
    return None, ".".join(str(p) for p in path) or None
