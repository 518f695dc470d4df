"""Step 2 of loading a spec: variables.

`vars: {k: 192}` declares variables; a field written `$k` takes the value, and `--set k=256` (or `set_vars`)
overrides it.  A string such as `$k * 2` is integer arithmetic (see exprs.py).  Block bodies and repeats see the
variables too; blocks.py substitutes inside them, this module everywhere else.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import SpecError, brief, listing
from .exprs import substitute
from .limits import Budget
from .names import assign_names


def declared_values(data: dict[str, Any], set_vars: Any = None) -> dict[str, Any]:
    """Pop `vars:` from `data`; -> the variables' values, `set_vars` overriding.  Unknown overrides are refused."""
    if set_vars is not None and not isinstance(set_vars, Mapping):
        raise TypeError(f"set_vars must be a mapping of variable names to values, such as {{'k': 256}}, "
                        f"not {type(set_vars).__name__}")
    declared = data.pop("vars", None)
    if declared is None:
        declared = {}
    if not isinstance(declared, dict) or not all(isinstance(k, str) and k.isidentifier() for k in declared):
        raise SpecError(f"vars must be a mapping of names to values, e.g. vars: {{k: 192}}, got {brief(declared)}",
                        field="vars")
    values = dict(declared)
    for name, value in (set_vars or {}).items():
        if name not in declared:
            known = listing(sorted(declared)) or "none"
            raise SpecError(f"the spec declares no variable {brief(name)} to set (declared: {known})", field="vars")
        values[name] = value
    return values


def substitute_vars(data: dict[str, Any], values: Mapping[str, Any], budget: Budget, *,
                    layers_done: bool = False) -> dict[str, Any]:
    """`data` with `$name` and expressions replaced by the variables' values (the layers too unless `layers_done`).

    An error in a layer names the layer (its index and name) and the field.
    """
    out = {}
    for key, value in data.items():
        if key != "layers":
            out[key] = substitute(value, values, budget, path=(key,))
        elif layers_done or not isinstance(value, list):
            out[key] = value
        else:
            out[key] = _layers(value, values, budget)
    return out


def _layers(layers: list, values: Mapping[str, Any], budget: Budget) -> list:
    out = []
    for i, layer in enumerate(layers):
        try:
            out.append(substitute(layer, values, budget))
        except SpecError as exc:
            named = assign_names(layers)[i]  # the name the layer will have, for the message
            raise exc.in_layer(i, named.get("name") if isinstance(named, Mapping) else None) from None
    return out


def parse_value(raw: str) -> Any:
    """'256' -> 256, '0.5' -> 0.5, 'true' -> True, anything else stays text (how --set and --vary read values)."""
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw.lower() == "true" if raw.lower() in ("true", "false") else raw
