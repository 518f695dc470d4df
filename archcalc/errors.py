"""One exception family for everything archcalc reports on purpose.

`ArchcalcError` (exit code 2) is a problem with the user's input: the spec, a file, an option.  It carries where it
happened (file, layer index and name, the block use the layer came from, field) so the CLI prints one line that
points at the problem.  `InternalError` (exit code 3) is an inconsistency inside archcalc, such as the engine's shape
disagreeing with the calculator's: a bug, never dressed as the user's mistake.

Errors are values: nothing changes an error once it is raised.  To add a place to an error that was raised without
one, build a located copy (`exc.located(layer_index=3, layer_name="conv1")`, `exc.with_file(path)`) and raise that.
`str()` of an error has no side effects and never raises.  Every value echoed in a message goes through `brief`, so
a megabyte of input never becomes a megabyte of message.
"""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

E = TypeVar("E", bound="ArchcalcException")

BRIEF_CHARS = 80  # an echoed value longer than this is cut, with "…" and its length


def brief(value: Any, limit: int = BRIEF_CHARS) -> str:
    """`repr`-like text of a value from the user's input, at most about `limit` characters.

    'abc' -> "'abc'"; a 1 MB string -> "'aaaa…' (1,048,576 characters)"; a long list -> "[1, 1, …] (10,000 entries)".
    Only as much of the value is looked at as is printed, so this is cheap on any input.
    """
    if isinstance(value, str):
        text = repr(value[:limit])
        if len(value) <= limit and len(text) <= limit:
            return text
        return f"{text[:limit - 1]}…{text[0]} ({len(value):,} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    text = _bounded_repr(value, limit + 1)
    if len(text) <= limit:
        return text
    try:
        size = f" ({len(value):,} entries)"
    except Exception:  # noqa: BLE001 - a value without a length: say nothing about its size
        size = ""
    return f"{text[:limit - 1]}…{size}"


def brief_text(text: Any, limit: int = BRIEF_CHARS) -> str:
    """A name or other text as it is when it is short printable text; else in quotes, as `brief` gives it."""
    if isinstance(text, str) and text.isprintable() and len(text) <= limit:
        return text
    return brief(text, limit)


def listing(names: Any, most: int = 12) -> str:
    """'a, b, c', each name shortened, and '… (and 40 more)' past `most` names."""
    names = list(names)
    shown = ", ".join(brief_text(n, 40) for n in names[:most])
    return shown + (f", … (and {len(names) - most:,} more)" if len(names) > most else "")


def _bounded_repr(value: Any, limit: int, depth: int = 0) -> str:
    """repr(value), stopping once about `limit` characters are written (never the full repr of a huge value)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)
                                  and value.bit_length() > 3 * limit):
        return brief(value, max(limit, 8))
    if depth > 20:
        return "…"
    if isinstance(value, (list, tuple, dict)):
        brackets = {dict: "{}", tuple: "()"}.get(type(value), "[]")
        opening, closing = brackets[0], brackets[1]
        parts = [opening]
        used = 1
        items = value.items() if isinstance(value, dict) else value
        for i, item in enumerate(items):
            if used > limit:
                break
            if isinstance(value, dict):
                piece = f"{_bounded_repr(item[0], limit - used, depth + 1)}: {_bounded_repr(item[1], limit - used, depth + 1)}"
            else:
                piece = _bounded_repr(item, limit - used, depth + 1)
            piece = (", " if i else "") + piece
            parts.append(piece)
            used += len(piece)
        if isinstance(value, tuple) and len(value) == 1:
            parts.append(",")
        parts.append(closing)
        return "".join(parts)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a user object whose repr fails must not break the message
        text = f"<{type(value).__name__}>"
    return text[: limit + 1]


MAX_MESSAGE_CHARS = 500


def _clip(message: str) -> str:
    """A safety net under `brief`: a message line that still echoes a long value keeps its start and its end."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    lines = [line if len(line) <= MAX_MESSAGE_CHARS else
             f"{line[:MAX_MESSAGE_CHARS - 140]}… ({len(line):,} characters in all) …{line[-60:]}"
             for line in message.splitlines()]
    return "\n".join(lines)


class ArchcalcException(Exception):
    """What every archcalc error shares: the place (file, layer, field) and how it prints.  Not raised itself."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer_index: int | None = None,
        layer_name: Any = None,
        field: str | None = None,
        hint: str | None = None,
        origin: str | None = None,
        more: Sequence["ArchcalcException"] = (),
        hidden: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.layer_index = layer_index
        self.layer_name = layer_name  # as the spec wrote it: may be any value when the spec is malformed
        self.field = field
        self.hint = hint
        self.origin = origin  # the block use or repeat a layer was expanded from, e.g. "block 'b' (use 'res2a')"
        self.more: tuple[ArchcalcException, ...] = tuple(more)
        self.hidden = hidden

    # --- located copies: the raised error is never changed ---------------------------------------------------

    def located(self: E, **changes: Any) -> E:
        """A copy of this error with the given fields (file, layer_index, layer_name, field, hint, origin) replaced."""
        unknown = set(changes) - {"file", "layer_index", "layer_name", "field", "hint", "origin", "more", "hidden"}
        if unknown:
            raise TypeError(f"located() got unknown fields: {', '.join(sorted(unknown))}")
        import copy

        other = copy.copy(self)
        other.__dict__.update(changes)
        if "more" in changes:
            other.more = tuple(changes["more"])
        other.__traceback__ = None
        return other

    def with_file(self: E, file: Any) -> E:
        """This error if it already names a file (or `file` is empty), else a copy that names `file`."""
        if not file or self.file:
            return self
        return self.located(file=str(file))

    def in_layer(self: E, index: int | None, name: Any, origin: str | None = None) -> E:
        """This error if it already names a layer, else a copy placed at layer `index` (`name`)."""
        if self.layer_index is not None:
            return self if origin is None or self.origin else self.located(origin=origin)
        return self.located(layer_index=index, layer_name=name, origin=self.origin or origin)

    # --- text ---------------------------------------------------------------------------------------------

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(brief_text(self.file, 200))
        if self.layer_index is not None or self.layer_name is not None:
            layer = "layer"
            if self.layer_index is not None:
                layer += f" {self.layer_index}"
            if self.layer_name is not None:
                name = brief_text(self.layer_name)
                layer += f" ({name})" if self.layer_index is not None else f" {name}"
            if self.origin:
                layer += f" from {self.origin}"
            parts.append(layer)
        if self.field:
            parts.append(f"field '{brief_text(self.field)}'")
        return ", ".join(parts)

    def _text(self) -> str:
        where = self.where()
        message = _clip(str(self.message))
        text = f"{where}: {message}" if where else message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        for other in self.more:
            text += "\n" + str(other.with_file(self.file))
        if self.hidden:
            text += f"\n(and {self.hidden} more problem{'s' if self.hidden > 1 else ''})"
        return text

    def __str__(self) -> str:
        try:
            return self._text()
        except Exception:  # noqa: BLE001 - printing an error must never raise; say what we have
            return f"{type(self).__name__}: {self.message!s}"


class ArchcalcError(ArchcalcException):
    """A problem with the user's input, never a bug of ours: exit code 2."""

    exit_code = 2


class SpecError(ArchcalcError):
    """The spec is malformed, inconsistent, or describes layers that do not fit together."""


class LoadError(SpecError):
    """The file cannot be read or parsed (missing, not YAML/JSON, too large, hostile)."""


class ShapeError(SpecError):
    """A layer's settings do not fit the shape that reaches it."""


BUG_NOTE = "this is a bug in archcalc, please report it"


class InternalError(ArchcalcException):
    """archcalc disagrees with itself (say, the engine's output shape differs from the calculator's): exit code 3.

    Its message says it is a bug.  It is deliberately not an `ArchcalcError`, so no `except ArchcalcError` that
    handles the user's mistakes can swallow it.
    """

    exit_code = 3

    def _text(self) -> str:
        return f"internal error ({BUG_NOTE}): {super()._text()}"
