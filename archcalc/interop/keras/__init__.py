"""Keras models -> archcalc specs (and weights): `from_keras(path_or_config)`.

Reads a `.keras` file (a zip archive: its `config.json` with the standard
library, its `model.weights.h5` with h5py, `pip install 'archcalc[keras]'`) or
the JSON of `model.to_json()` (Keras 2 or 3), Sequential or functional.  No
TensorFlow or Keras is needed.  Keras is channels-last like archcalc, so shapes
and weights keep their layouts; each Keras class has one converter in
`layers.LAYERS`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from ..builder import ImportError_, Imported, SpecBuilder, read_head
from .layers import LAYERS, Context, snake_case

__all__ = ["from_keras", "import_keras", "LAYERS"]

H5_INSTALL = "reading the weights of a .keras file needs h5py: pip install 'archcalc[keras]'"
MAX_CONFIG_BYTES = 64 * 2**20


def read_keras(source: Any) -> tuple[dict, bytes | None, str]:
    """(config, weights .h5 bytes or None, file name) from a path, a JSON string or a config mapping."""
    if isinstance(source, dict):
        return source, None, "a Keras config"
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return _json(source, "the Keras JSON"), None, "a Keras JSON string"
    path = Path(os.fspath(source))
    if read_head(path, 4).startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if "config.json" not in names:
                    raise ImportError_(f"{path} is a zip archive without config.json, not a .keras file")
                if zf.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                    raise ImportError_(f"{path}: config.json is larger than 64 MiB")
                config = _json(zf.read("config.json").decode("utf-8"), f"{path.name}/config.json")
                weights = zf.read("model.weights.h5") if "model.weights.h5" in names else None
        except zipfile.BadZipFile as exc:
            raise ImportError_(f"{path} is not a readable zip archive: {exc}") from None
        return config, weights, path.name
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ImportError_(f"{path}: larger than 64 MiB, too large for a Keras JSON config")
    return _json(path.read_text(encoding="utf-8", errors="replace"), path.name), None, path.name


def _json(text: str, what: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImportError_(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "class_name" not in data or "config" not in data:
        raise ImportError_(f"{what} is not a Keras model config (no class_name and config)")
    return data


def _inbound(layer: dict) -> list[str]:
    """The names of the layers whose outputs a functional layer takes (Keras 2 and 3 formats)."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise ImportError_(f"Keras layer '{layer.get('name')}' is called {len(nodes)} times (a shared layer); "
                           "archcalc layers have one use each")
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
        refs: list[str] = []

        def walk(item: Any) -> None:
            if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
                refs.append(item["config"]["keras_history"][0])
            elif isinstance(item, (list, tuple)):
                for sub in item:
                    walk(sub)

        walk(node.get("args", []))
        return refs
    return [entry[0] for entry in node]  # Keras 2: [[name, node index, tensor index, kwargs], ...]


def _layers(config: dict) -> tuple[list[dict], list[list[str]], str | None]:
    """(layer entries, the inputs of each, the output layer's name)."""
    kind = config["class_name"]
    body = config["config"]
    layers = body.get("layers") if isinstance(body, dict) else None
    if not isinstance(layers, list) or not layers:
        raise ImportError_(f"the Keras {kind} config has no layers")
    if kind == "Sequential":
        inputs, previous = [], "input"
        for entry in layers:
            inputs.append([previous])
            previous = entry["config"].get("name", entry["class_name"])
        return layers, inputs, None
    if kind not in ("Functional", "Model"):
        raise ImportError_(f"Keras model class {kind}; archcalc imports Sequential and functional models")
    outputs = body.get("output_layers")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], str):
        outputs = [outputs]
    if not outputs or len(outputs) != 1:
        raise ImportError_("the Keras model has several outputs; archcalc imports nets with one output")
    return layers, [_inbound(entry) for entry in layers], outputs[0][0]


def _input_shape(entry: dict) -> tuple[int, ...] | None:
    cfg = entry.get("config", {})
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None and entry.get("build_config"):
        shape = entry["build_config"].get("input_shape")
    if shape is None:
        return None
    if any(not isinstance(d, int) for d in shape[1:]):
        raise ImportError_(f"Keras layer '{cfg.get('name')}': input shape {shape} has unknown sizes; archcalc needs "
                           "a fixed input size")
    return tuple(shape[1:])


def _h5_weights(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        import h5py  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise ImportError_(H5_INSTALL) from None
    return h5py.File(io.BytesIO(data), "r")


def import_keras(source: Any, with_weights: bool = True) -> Imported:
    """The spec and weights (from a .keras file's model.weights.h5; none for bare JSON) of a Keras model."""
    config, weights_h5, file_name = read_keras(source)
    layers, inputs, output = _layers(config)
    first = layers[0]
    shape = _input_shape(first)
    if shape is None and isinstance(config["config"].get("build_input_shape"), list):
        shape = tuple(config["config"]["build_input_shape"][1:])
    if shape is None:
        raise ImportError_("the Keras model does not say its input shape (build it, or give the first layer "
                           "input_shape)")
    body = config["config"]
    version = config.get("keras_version") or ("3" if "module" in config else "2")
    source_text = f"Imported from {file_name} (Keras {config['class_name']}, Keras {version}) by archcalc import"
    builder = SpecBuilder(str(body.get("name") or "keras_model"), source_text, shape)
    ctx = Context(builder, keras3=str(version).startswith("3"), weights=_h5_weights(weights_h5) if with_weights
                  else None)
    counts: dict[str, int] = {}
    for entry, refs in zip(layers, inputs):
        base = snake_case(entry["class_name"])
        n = counts.get(base, 0)
        counts[base] = n + 1
        ctx.h5_name = base if n == 0 else f"{base}_{n}"
        name = entry["config"].get("name", base)
        if entry["class_name"] == "InputLayer":
            ctx.names[name] = "input"
            continue
        if config["class_name"] != "Sequential" and not refs:
            raise ImportError_(f"Keras layer '{name}' has no inputs")
        fn = LAYERS.get(entry["class_name"])
        if fn is None:
            raise ImportError_(f"Keras layer '{name}' ({entry['class_name']}) cannot be mapped to archcalc layers; "
                               f"supported: {LAYERS.supported()}")
        refs = [ctx.names.get(r, r) for r in refs]
        ctx.names[name] = fn(ctx, name, entry["config"], refs)
    last = ctx.names[output] if output else builder.layers[-1]["name"] if builder.layers else "input"
    if ctx.weights is not None:
        ctx.weights.close()
    return builder.finish(last)


def from_keras(source: Any) -> dict:
    """A spec mapping (what `archcalc.load_spec` accepts) for a Keras model: a .keras file, a model.to_json() file
    or string, or its parsed mapping."""
    return import_keras(source, with_weights=False).spec
