"""schema: the JSON Schema of the spec format (for editors and validators)."""

from __future__ import annotations

COMMANDS: tuple[object, ...] = ()  # `archcalc schema` arrives with archcalc.spec.schema.json_schema() (issue 9 item 4)
