"""What every importer builds: an archcalc spec (plain data), its weights, and the check that both are right.

An importer adds layers one by one with the shape the source model says each
produces; `finish` validates the spec with `archcalc.load_spec`, analyses it
and compares every layer's shape with the source's, so an importer cannot
silently produce a different net.  `dump_yaml` writes the readable form: the
net's fields, then one flow-style line per layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import SpecError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/]+")


class ImportError_(SpecError):
    """A model that cannot be imported exactly (an operator or a setting archcalc has no layer for)."""


def sanitize_name(text: str) -> str:
    """'/layer1/layer1.0/conv1/Conv' -> 'layer1/layer1.0/conv1/Conv'; anything but letters, digits, _ . - / -> _."""
    name = _UNSAFE.sub("_", text).strip("_/.")
    return name or "layer"


@lru_cache(maxsize=None)
def spec_accepts(layer_text: str) -> bool:
    """True when this archcalc validates a layer like `layer_text` (a repr of a dict): feature detection of the
    layer kinds and fields that arrive with later versions (conv_transpose, relu6, count_include_pad, ...)."""
    import ast

    from ..load import load_spec

    layer = ast.literal_eval(layer_text)
    try:
        load_spec({"input": [8, 8, 4], "layers": [layer]})
    except SpecError:
        return False
    return True


def require(layer: dict, origin: str) -> None:
    """Refuse, naming the model's node, a layer kind or setting this archcalc does not have yet."""
    if not spec_accepts(repr(layer)):
        what = layer.get("function") or layer["type"]
        raise ImportError_(f"{origin}: needs archcalc's '{what}' layer ({_short(layer)}), which this version of "
                           "archcalc does not have")


def _short(layer: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in layer.items()) + "}"


@dataclass
class Imported:
    """An imported model: the spec mapping and its weights ({layer: {key: array}}, channels-last layouts)."""

    spec: dict[str, Any]
    weights: dict[str, dict[str, Any]]


@dataclass
class SpecBuilder:
    """Layers (plain dicts) in order, their weights, and the shape the source model says each one produces."""

    name: str
    source: str
    input_shape: tuple[int, ...]
    layers: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, dict[str, Any]] = field(default_factory=dict)
    expected: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=lambda: {"input"})

    def unique(self, wanted: str) -> str:
        base = sanitize_name(wanted)
        name, n = base, 1
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name

    def add(self, layer: dict[str, Any], *, name: str, inputs: list[str], origin: str,
            shape: tuple[int, ...] | None = None, weights: dict[str, Any] | None = None) -> str:
        """Append a layer named (uniquely) after `name`; returns the name given."""
        require(layer, origin)
        given = self.unique(name)
        previous = self.layers[-1]["name"] if self.layers else "input"
        entry: dict[str, Any] = {"type": layer["type"], "name": given}
        if list(inputs) != [previous]:
            entry["inputs"] = inputs[0] if len(inputs) == 1 else list(inputs)
        entry.update((k, v) for k, v in layer.items() if k != "type")
        self.layers.append(entry)
        if weights:
            self.weights[given] = weights
        if shape is not None:
            self.expected[given] = (tuple(shape), origin)
        return given

    def layer(self, name: str) -> dict[str, Any]:
        for entry in reversed(self.layers):
            if entry["name"] == name:
                return entry
        raise KeyError(name)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "input": list(self.input_shape), "layers": self.layers}

    def finish(self, output: str) -> Imported:
        """Validate and analyse the spec, compare every shape with the source's, check the weights; `output` is the
        layer that must come last (archcalc's net output)."""
        from ..analysis import analyze
        from ..load import load_spec
        from ..engine.forward import check_params

        if not self.layers:
            raise ImportError_("the model has no layers archcalc counts (its output is its input)")
        if self.layers[-1]["name"] != output:
            raise ImportError_(f"the model's output is layer '{output}', which is not its last layer; archcalc's "
                               f"output is the last layer ('{self.layers[-1]['name']}')")
        spec = self.spec()
        net = load_spec(spec)
        report = analyze(net)
        for row in report.rows:
            want = self.expected.get(row.name)
            if want is not None and tuple(row.output_shape) != want[0]:
                raise ImportError_(f"{want[1]}: the model says it produces {list(want[0])} (channels last) but the "
                                   f"imported layer '{row.name}' produces {list(row.output_shape)}; this is a bug "
                                   "of the importer or an operator setting it does not handle")
        if self.weights:  # a Keras JSON config has none
            check_params(net, self.weights, report)
        return Imported(spec, self.weights)


def dump_yaml(spec: dict[str, Any]) -> str:
    """The spec as YAML: net fields first, then `layers:` with one flow-style line per layer."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    def one(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**9, allow_unicode=True)
        return text.removesuffix("\n...\n").rstrip("\n")

    lines = []
    for key, value in spec.items():
        if key == "layers":
            continue
        if isinstance(value, (list, tuple)):
            lines.append(f"{key}: {one(list(value))}")
        else:
            lines.append(yaml.safe_dump({key: value}, sort_keys=False, width=100, allow_unicode=True).rstrip("\n"))
    lines.append("layers:")
    lines += [f"  - {one(_plain(layer))}" for layer in spec["layers"]]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return value


def per_axis(values: tuple[int, ...] | list[int]) -> int | list[int]:
    """(3, 3) -> 3, (1, 7) -> [1, 7]: as a person writes per-axis fields."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def optional_axes(layer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Add each per-axis field (stride, dilation) whose values are not all 1, the default."""
    for key, values in fields.items():
        if any(v != 1 for v in values):
            layer[key] = per_axis(values)
    return layer


def read_head(path: Any, size: int = 64) -> bytes:
    """The first bytes of a model file (its format is found by content), or an error naming the file."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror or exc}") from None


def window_fields(spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                  dilation: tuple[int, ...], pairs: tuple[tuple[int, int], ...], ceil: bool, origin: str,
                  default_padding: Any = 0) -> dict[str, Any]:
    """`padding` (omitted when it is the default) and `rounding` (only where the windows do not tile the padded
    input: floor as PyTorch and Keras do silently, ceil for ceil_mode) for explicit (before, after) pads."""
    fields: dict[str, Any] = {}
    if any(b or a for b, a in pairs):
        fields["padding"] = per_axis([b for b, _ in pairs]) if all(b == a for b, a in pairs) else \
            [[int(b), int(a)] for b, a in pairs]
    elif default_padding != 0:
        fields["padding"] = 0
    for n, f, s, d, (b, a) in zip(spatial, kernel, stride, dilation, pairs):
        span = n + b + a - (d * (f - 1) + 1)
        if span < 0:
            raise ImportError_(f"{origin}: kernel {f} (dilation {d}) is larger than the padded input {n + b + a}")
        if span % s:
            fields["rounding"] = "ceil" if ceil else "floor"
    return fields
