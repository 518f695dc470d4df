"""The limits a real net never reaches, and the one value budget that aliases, vars, blocks and repeat share.

A spec is refused, with a message, before it can cost much time or memory: at most `MAX_BYTES` read (whatever the
file system says of the file's size), `MAX_DEPTH` levels of nesting, `MAX_NODES` values once YAML aliases, variables,
block uses and repeats are expanded, and `MAX_LAYERS` layers.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 8_000_000  # scalars + collections after expansion; 100,000 layers need about 2.5 M
MAX_LAYERS = 200_000  # what a spec may be written as or expand to
MAX_INT_BITS = 256  # about 77 digits: no value in a spec comes near (spec.MAX_VALUE is 10**15)
MAX_EXPR_CHARS = 200
MAX_INT = 10**15  # as spec.MAX_VALUE: the bound of every intermediate value of an expression
MAX_ERRORS_SHOWN = 3


class Budget:
    """Counts values against `MAX_NODES` *before* they are copied, so an expansion that would be too large stops
    at once.  Sizes of shared (aliased) containers are remembered by identity: sizing one costs its first look only."""

    __slots__ = ("left", "limit", "_sizes")

    def __init__(self, limit: int = MAX_NODES) -> None:
        self.limit = limit
        self.left = limit
        self._sizes: dict[int, int] = {}

    def size(self, value: Any) -> int:
        """The number of values in `value` (scalars and containers), counting an alias every time it is used.
        Stops early (returning more than what is left) when the value alone would exceed the budget."""
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        hit = self._sizes.get(key)
        if hit is not None:
            return hit
        total = 1
        for item in value.values() if isinstance(value, dict) else value:
            total += self.size(item)
            if total > self.left:
                break
        self._sizes[key] = total
        return total

    def spend(self, n: int, where: str) -> None:
        self.left -= n
        if self.left < 0:
            raise SpecError(f"{where}: the spec expands to more than {self.limit:,} values once its aliases, "
                            "variables, blocks and repeats are expanded; refusing it (a real net is far smaller)")

    def charge(self, value: Any, where: str) -> None:
        """Count `value` (a container counted as many times as it will be copied)."""
        self.spend(self.size(value), where)
