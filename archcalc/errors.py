"""One exception family for everything a user can get wrong.

Every error carries where it happened (file, layer index and name, field) so the
CLI can print one line that points at the problem, and exit 2.
"""

from __future__ import annotations


class ArchcalcError(Exception):
    """Base class: a problem with the user's input, never a bug of ours."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer_index: int | None = None,
        layer_name: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.layer_index = layer_index
        self.layer_name = layer_name
        self.field = field
        self.hint = hint
        self.more: list[ArchcalcError] = []
        self.hidden = 0

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.layer_index is not None or self.layer_name:
            layer = "layer"
            if self.layer_index is not None:
                layer += f" {self.layer_index}"
            if self.layer_name:
                name = self.layer_name
                if not name.isprintable():  # a name with control characters is refused; print it escaped
                    name = repr(name)[1:-1]
                layer += f" ({name})" if self.layer_index is not None else f" {name}"
            parts.append(layer)
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        for other in self.more:
            other.with_file(self.file)
            text += "\n" + str(other)
        if self.hidden:
            text += f"\n(and {self.hidden} more problem{'s' if self.hidden > 1 else ''})"
        return text

    def with_file(self, file: str | None) -> "ArchcalcError":
        if file and not self.file:
            self.file = file
        return self


class SpecError(ArchcalcError):
    """The spec is malformed, inconsistent, or describes layers that do not fit together."""


class LoadError(SpecError):
    """The file cannot be read or parsed (missing, not YAML/JSON, too large, hostile)."""


class ShapeError(SpecError):
    """A layer's settings do not fit the shape that reaches it."""
