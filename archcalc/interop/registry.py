"""Tables of converters keyed by an operator, a Keras class or a layer kind.

Each converter is one small function that registers itself with a decorator,
as onnx2torch's converter registry does; adding an operator adds a function
and nothing central grows.  A missing key is an error that lists what is there.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """{key: converter}; `register("Conv", "ConvInteger")` is a decorator."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.table: dict[str, F] = {}

    def register(self, *keys: str) -> Callable[[F], F]:
        def add(fn: F) -> F:
            for key in keys:
                if key in self.table:
                    raise RuntimeError(f"{self.what} {key!r} registered twice")
                self.table[key] = fn
            return fn

        return add

    def get(self, key: str) -> F | None:
        return self.table.get(key)

    def supported(self) -> str:
        """The keys, sorted, as one line for an error message."""
        return ", ".join(sorted(self.table))

    def __contains__(self, key: str) -> bool:
        return key in self.table
