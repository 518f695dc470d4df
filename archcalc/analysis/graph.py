"""The layer graph: names are unique, every `inputs` entry names a layer above.

Because a layer may only name layers that come before it (or `input`), the
order of the spec is a topological order and no spec can form a cycle; this
module checks that promise and reports the first place it is broken.
"""

from __future__ import annotations

from ..errors import SpecError, brief
from ..spec import RESERVED_NAMES, Network


def check_graph(net: Network) -> dict[str, int]:
    """Validate names and `inputs`; return {layer name: index}."""
    index: dict[str, int] = {}
    for i, layer in enumerate(net.layers):
        name = layer.name
        if name in RESERVED_NAMES:
            raise SpecError(f"the name {brief(name)} is reserved for the network's input; choose another",
                            layer_index=i, layer_name=name, field="name")
        if name in index:
            raise SpecError(f"duplicate name {brief(name)}: layer {index[name]} already has it; names must be unique",
                            layer_index=i, layer_name=name, field="name")
        index[name] = i
    for i, layer in enumerate(net.layers):
        for ref in layer.inputs:
            if ref == "input":
                continue
            j = index.get(ref)
            if j is None:
                raise SpecError(f"inputs names {brief(ref)}, but no layer has that name{_close(ref, index)}",
                                layer_index=i, layer_name=layer.name, field="inputs")
            if j == i:
                raise SpecError(f"inputs names the layer itself ({brief(ref)}): that would be a cycle",
                                layer_index=i, layer_name=layer.name, field="inputs")
            if j > i:
                raise SpecError(f"inputs names {brief(ref)}, which comes later (layer {j}); a layer may only take "
                                "inputs from layers above it, so a spec cannot form a cycle",
                                layer_index=i, layer_name=layer.name, field="inputs")
    return index


def unused_outputs(net: Network) -> list[str]:
    """Layers other than the last whose output no layer reads."""
    used = {ref for layer in net.layers for ref in layer.inputs}
    return [layer.name for layer in net.layers[:-1] if layer.name not in used]


def _close(name: str, names) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""
