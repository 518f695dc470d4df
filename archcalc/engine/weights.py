"""Parameters on disk: one .npz with keys ``<layer name>.<weight|bias|gamma|beta|moving_mean|moving_variance>``.

Files are written atomically (a temporary file in the same directory, then a
rename), so a failure never leaves a half-written file behind.  Loading checks
every array against the spec and names the layer and key that does not fit.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import LoadError
from ..spec import Network
from .forward import ParamsError, check_params


def flatten_params(params: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """{layer: {key: array}} -> {"layer.key": array}."""
    return {f"{layer}.{key}": np.asarray(arr) for layer, entry in params.items() for key, arr in entry.items()}


def unflatten_params(flat: Mapping[str, np.ndarray], file: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{"layer.key": array} -> {layer: {key: array}}; the key is what follows the last dot."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in flat.items():
        layer, dot, key = name.rpartition(".")
        if not dot or not layer or not key:
            raise ParamsError(f"array '{name}' is not named <layer name>.<weight|bias|...>", file=file)
        out.setdefault(layer, {})[key] = arr
    return out


def save_params(path: str | os.PathLike, params: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write params to ``path`` (.npz, uncompressed) atomically."""
    path = Path(path)
    flat = flatten_params(params)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **flat)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def load_params(path: str | os.PathLike, network: Network | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Read a .npz written by ``save_params``; with a network, check every array against the spec."""
    file = str(path)
    try:
        data = np.load(file, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise LoadError("holds a single array (.npy); weights are a .npz archive such as `archcalc init` writes",
                            file=file)
        with data:
            flat = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise LoadError(f"weights file not found: {file}", file=None) from None
    except IsADirectoryError:
        raise LoadError(f"weights path is a directory, not a .npz file: {file}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise LoadError(f"cannot read weights (not a valid .npz file): {exc}", file=file) from None
    params = unflatten_params(flat, file)
    if network is not None:
        check_params(network, params, file=file)
    return params


def save_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """np.save to ``path`` atomically (no .npy suffix is added)."""
    path = Path(path)
    if not path.name or path.is_dir():
        raise LoadError(f"cannot write {path}: name a file to write, such as out.npy")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    except FileNotFoundError:
        raise LoadError(f"cannot write {path}: its directory does not exist") from None
    except OSError as exc:
        raise LoadError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise LoadError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path
