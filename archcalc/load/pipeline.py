"""Loading a spec, one way through: read -> vars -> blocks/repeat -> names -> validate -> graph checks.

    read       read.py      bounded, safe YAML/JSON -> plain data
    vars       vars.py      `vars:` and set_vars; `$name` and expressions outside blocks
    blocks     blocks.py    `blocks:` and `repeat:` -> plain layers, with the use each came from
    names      names.py     default names and inputs
    validate   validate.py  pydantic -> Network, or SpecError naming layer and field
    graph      ..graph      unique names, inputs name layers above

Each step only imports the steps below it; nothing here imports this module.  Every error leaving `load_spec` names
the file, and an error in a layer that a block use or repeat produced also names that use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import ArchcalcError, SpecError
from .limits import MAX_LAYERS, Budget
from .names import assign_names
from .read import STDIN_NAME, is_stdin, read_data
from .vars import declared_values, substitute_vars

if TYPE_CHECKING:  # pragma: no cover
    from ..spec import Network

def load_spec(source: str | os.PathLike[str] | Mapping[str, Any], *, set_vars: Mapping[str, Any] | None = None
              ) -> "Network":
    """A path to a YAML/JSON spec (`-` for standard input), or the spec as a mapping -> validated `Network`.

    Raises `SpecError` (printed as one line per problem, at most a few) for anything wrong with the spec, and
    `TypeError` when `source` or `set_vars` is not of a type this function takes.
    """
    from ..analysis.graph import check_graph
    from .validate import validate

    file, data = _read(source)
    origins: list[str | None] = []
    try:
        data, origins = prepare(data, file, set_vars)
        if file and not data.get("name"):  # a net is called after its file
            data["name"] = "stdin" if file == STDIN_NAME else Path(file).stem
        net = validate(data)
        net._file = file
        check_graph(net)
        return net
    except ArchcalcError as exc:
        raise _placed(exc, file, origins) from None
    except RecursionError:
        raise SpecError("the spec is nested too deeply to read", file=file) from None


def expanded_data(source: str | os.PathLike[str] | Mapping[str, Any], *,
                  set_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The spec with vars, blocks and repeats expanded and every layer named and wired: plain data that `load_spec`
    reads back into the same net (what `archcalc show --expand` prints)."""
    file, data = _read(source)
    try:
        return prepare(data, file, set_vars)[0]
    except ArchcalcError as exc:
        raise exc.with_file(file) from None


def prepare(data: Any, file: str | None, set_vars: Any = None) -> tuple[dict[str, Any], list[str | None]]:
    """Plain data as read -> (data with vars, blocks and repeats expanded and layers named, per-layer origins)."""
    from .blocks import expand_blocks, uses_blocks  # only for specs that use them: start-up time of `show`

    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"a spec must be a mapping with input and layers; this {'file' if file else 'value'} is {kind}")
    if "exercises" in data and "layers" not in data:
        raise SpecError("this is an exercise file, not a spec: grade it with archcalc check"
                        + (f" {file}" if file and file != STDIN_NAME else ""))
    data = dict(data)
    budget = Budget()
    if data.get("vars") or uses_blocks(data):  # the document (aliases expanded) counts first: one budget for all
        budget.charge(data, "the spec")
    values = declared_values(data, set_vars)
    origins: list[str | None] = []
    if uses_blocks(data):
        data, origins = expand_blocks(data, values, budget)
        data = substitute_vars(data, values, budget, layers_done=True)
    elif values:
        data = substitute_vars(data, values, budget)
    layers = data.get("layers")
    if isinstance(layers, tuple):  # from the Python API
        layers = list(layers)
    if isinstance(layers, list):
        if len(layers) > MAX_LAYERS:
            raise SpecError(f"the spec has {len(layers):,} layers; at most {MAX_LAYERS:,} are accepted", field="layers")
        data["layers"] = assign_names(layers)
    return data, origins


def _read(source: Any) -> tuple[str | None, Any]:
    if isinstance(source, Mapping):
        return None, source
    if isinstance(source, (str, os.PathLike)):
        return STDIN_NAME if is_stdin(source) else str(source), read_data(source)
    raise TypeError(f"a spec is a file path or a mapping, not {type(source).__name__}")


def _placed(exc: ArchcalcError, file: str | None, origins: list[str | None]) -> ArchcalcError:
    """`exc` naming the file, and, for a layer a block use or repeat produced, that use (and so its `more`)."""
    def one(e: ArchcalcError) -> ArchcalcError:
        i = e.layer_index
        if i is not None and 0 <= i < len(origins) and origins[i] and not e.origin:
            e = e.located(origin=origins[i])
        return e.with_file(file)

    placed = one(exc)
    if exc.more:
        placed = placed.located(more=[one(m) for m in exc.more])  # type: ignore[arg-type]
    return placed
