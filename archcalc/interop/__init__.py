"""Meeting users where their nets live: ONNX and Keras models in, PyTorch and Keras code out.

Importers (`onnx`, `keras`) and exporters (`export.pytorch`, `export.keras`)
are tables keyed by operator, Keras class and archcalc layer kind (see
`registry.Registry`); each entry is one small function.  The functions here are
what the command line calls:

    archcalc import MODEL -o SPEC.yaml [--weights W.npz]
    archcalc export SPEC --to pytorch|keras -o net.py
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from ..errors import SpecError, brief
from .builder import ImportError_, Imported, dump_yaml, read_head

__all__ = ["detect_format", "import_any", "import_model", "import_summary", "export_code", "export_spec", "EXPORTERS"]

EXPORTERS = ("pytorch", "keras")


def detect_format(source: Any) -> str:
    """'onnx' or 'keras', by content: a zip with config.json is a .keras file, JSON with class_name and config is
    Keras's model.to_json(), a protobuf ModelProto is ONNX."""
    if isinstance(source, dict):
        return "keras"
    if type(source).__name__ == "ModelProto":
        return "onnx"
    path = Path(os.fspath(source))
    head = read_head(path)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                if "config.json" in zf.namelist():
                    return "keras"
        except zipfile.BadZipFile:
            pass
        raise ImportError_(f"{path} is a zip archive but not a .keras file (no config.json)")
    if head.lstrip()[:1] == b"{":
        return "keras"
    if head[:1] in (b"\x08", b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x3a", b"\x42"):  # protobuf field tags
        return "onnx"
    raise ImportError_(f"{path} is neither an ONNX model, a .keras archive nor Keras JSON")


def import_any(source: Any) -> Imported:
    """The spec and weights of a model file (format chosen by content)."""
    if detect_format(source) == "onnx":
        from .onnx import import_onnx

        return import_onnx(source)
    from .keras import import_keras

    return import_keras(source)


def import_model(path: str | os.PathLike, output: str | os.PathLike, weights: str | os.PathLike | None = None,
                 ) -> Imported:
    """Import a model file into the spec YAML at `output` (and its weights as an archcalc .npz at `weights`).

    Nothing is written unless the whole model imports and validates; each file is written safely
    (archcalc.output.files: atomic, never over a link, FIFO or device), and both targets are checked first."""
    from ..output.files import check_target, write_text

    check_target(output, "spec")
    if weights is not None:
        check_target(weights, "weights file")
    imported = import_any(path)
    if weights is not None and not imported.weights and _has_params(imported.spec):
        raise ImportError_(f"{path} holds no weights (a Keras JSON config has none; use the .keras file)")
    text = dump_yaml(imported.spec)
    if weights is not None:
        from ..engine.weights import save_params

        save_params(weights, imported.weights)
    write_text(output, text, "spec")
    return imported


def import_summary(path: str | os.PathLike, output: str | os.PathLike, imported: Imported,
                   weights: str | os.PathLike | None = None) -> str:
    """What `archcalc import` prints: 'resnet18.onnx -> resnet18.yaml: 68 layers, 11,699,112 params, ...'."""
    from ..analysis import analyze
    from ..load import load_spec

    totals = analyze(load_spec(imported.spec)).totals
    text = (f"{Path(path).name} -> {output}: {len(imported.spec['layers'])} layers, {totals.params:,} params "
            f"({totals.trainable_params:,} trainable), {totals.macs:,} MACs")
    return text + (f"; weights -> {weights}" if weights is not None else "")


def _has_params(spec: dict) -> bool:
    from ..analysis import analyze
    from ..load import load_spec

    return analyze(load_spec(spec)).totals.params > 0


def export_code(network: Any, to: str) -> str:
    """The Python module (text) of a Network in `to` ('pytorch' or 'keras')."""
    if to == "pytorch":
        from .export.pytorch import export
    elif to == "keras":
        from .export.keras import export
    else:
        raise SpecError(f"cannot export to {brief(to)}; choose one of {', '.join(EXPORTERS)}", field="to")
    return export(network)


def export_spec(spec_path: str | os.PathLike, to: str, output: str | os.PathLike) -> str:
    """Write the spec as a PyTorch or Keras module at `output` (safely, as every archcalc file); returns the code."""
    from ..load import load_spec
    from ..output.files import check_target, write_text

    check_target(output, "Python module")
    code = export_code(load_spec(spec_path), to)
    write_text(output, code, "Python module")
    return code
