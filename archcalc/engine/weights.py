"""Parameters on disk: one .npz with keys ``<layer name>.<weight|bias|gamma|beta|moving_mean|moving_variance>``.

Files are written by output.files.write_file (atomic; never onto a symlink, FIFO
or device).  Loading refuses non-regular files, reads the .npy headers inside the
archive before any array (so a 4 KB file cannot claim 8 GiB), and checks every
array against the spec, naming the layer and key that does not fit.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
from pathlib import Path
from typing import IO, Any, Mapping

import numpy as np

from ..errors import ArchcalcError, LoadError, brief
from ..output.files import write_file
from ..spec import Network
from .forward import ParamsError, check_params


class MemoryBudgetError(ArchcalcError):
    """Loading or running would need more memory than the budget allows; ``needed`` is the estimate in bytes."""

    def __init__(self, message: str, *, needed: int = 0, **where: Any) -> None:
        super().__init__(message, **where)
        self.needed = needed


def flatten_params(params: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """{layer: {key: array}} -> {"layer.key": array}."""
    return {f"{layer}.{key}": np.asarray(arr) for layer, entry in params.items() for key, arr in entry.items()}


def unflatten_params(flat: Mapping[str, np.ndarray], file: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{"layer.key": array} -> {layer: {key: array}}; the key is what follows the last dot."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in flat.items():
        layer, dot, key = name.rpartition(".")
        if not dot or not layer or not key:
            raise ParamsError(f"array {brief(name)} is not named <layer name>.<weight|bias|...>", file=file)
        out.setdefault(layer, {})[key] = arr
    return out


def save_params(path: str | os.PathLike, params: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write params to ``path`` (.npz, uncompressed) with output.files.write_file (atomic, never over a non-file)."""
    flat = flatten_params(params)
    savez: Any = np.savez  # numpy's stub reads **flat as its allow_pickle
    return write_file(path, lambda fh: savez(fh, **flat), "weights file")


def load_params(path: str | os.PathLike, network: Network | None = None,
                max_bytes: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Read a .npz written by ``save_params``; with a network, check every array against the spec.

    Before any array is read: the path must be a regular file (a FIFO would hang), and the sizes the archive's
    members declare in their .npy headers must add up to at most ``max_bytes`` (when given).
    """
    file = str(path)
    regular_file(file, "weights")
    try:
        with open(file, "rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                raise LoadError("holds a single array (.npy); weights are a .npz archive such as `archcalc init` "
                                "writes", file=file)
        with zipfile.ZipFile(file) as archive:
            declared = sum(_member_bytes(archive, info, file) for info in archive.infolist())
        if max_bytes is not None and declared > max_bytes:
            raise MemoryBudgetError(f"the weights declare {_size(declared)} of arrays, more than the budget of "
                                    f"{_size(max_bytes)}; nothing was loaded", file=file, needed=declared)
        with np.load(file, allow_pickle=False) as data:
            flat = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise LoadError(f"cannot read weights (not a valid .npz file): {exc}", file=file) from None
    params = unflatten_params(flat, file)
    if network is not None:
        check_params(network, params, file=file)
    return params


def regular_file(file: str, what: str) -> None:
    """Refuse a missing path, a directory, a FIFO or a device before opening it (reading a FIFO blocks)."""
    try:
        st = os.stat(file)
    except FileNotFoundError:
        raise LoadError(f"{what} file not found: {file}") from None
    except OSError as exc:
        raise LoadError(f"cannot read {what} file {file}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise LoadError(f"{what} path is a directory, not a file: {file}")
    if not stat.S_ISREG(st.st_mode):
        raise LoadError(f"{what} path is not a regular file (a FIFO, device or socket): {file}")


def npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy stream declares, read from its header only (no data, no pickles)."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:  # read_magic accepts any version number; the loaders do not
        raise ValueError(f"unsupported .npy format version {version}")
    return tuple(shape), dtype


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes the array of an .npy header would take in memory (exact, however large)."""
    return math.prod(shape) * dtype.itemsize


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str) -> int:
    if not info.filename.endswith(".npy"):
        return info.file_size
    with archive.open(info) as fh:
        shape, dtype = npy_header(fh)
    if dtype.hasobject:
        raise LoadError(f"array '{info.filename[:-4]}' holds Python objects, not numbers", file=file)
    return declared_bytes(shape, dtype)


def _size(n: int) -> str:
    from ..output.format import human_bytes

    return human_bytes(n)


def save_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """np.save to ``path`` with output.files.write_file (no .npy suffix is added)."""
    return write_file(path, lambda fh: np.save(fh, array, allow_pickle=False), "output file")
