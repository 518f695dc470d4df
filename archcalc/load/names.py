"""Step 4 of loading a spec: every layer gets a name and its inputs, written here once.

A layer without a name is called after its type and a running count (`conv1`, `conv2`, skipping names the spec
already uses); a layer without `inputs` takes the layer before it (the first takes `input`).
"""

from __future__ import annotations

from typing import Any


def next_name(base: str, counters: dict[str, int], taken: set) -> str:
    """`base` + the next count not in `taken` (`conv3`); records it in `counters` and `taken`."""
    base = base if base.isidentifier() else "layer"
    n = counters.get(base, 0)
    while True:
        n += 1
        name = f"{base}{n}"
        if name not in taken:
            counters[base] = n
            taken.add(name)
            return name


def assign_names(layers: list) -> list:
    """Give every layer mapping a name and default inputs (the previous layer); other items are left as they are."""
    taken = {l["name"] for l in layers if isinstance(l, dict) and isinstance(l.get("name"), str)}
    counters: dict[str, int] = {}
    out: list[Any] = []
    previous = "input"
    for layer in layers:
        if not isinstance(layer, dict):
            out.append(layer)
            continue
        name = layer.get("name")
        if name is None or layer.get("inputs") is None:
            layer = dict(layer)
        if name is None:
            kind = layer.get("type")
            name = layer["name"] = next_name(kind if isinstance(kind, str) else "layer", counters, taken)
        if layer.get("inputs") is None:
            layer["inputs"] = [previous]
        if isinstance(name, str):
            previous = name
        out.append(layer)
    return out
