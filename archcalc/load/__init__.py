"""Loading a spec: read (bounded, safe YAML/JSON) -> vars -> blocks/repeat -> names -> validate -> graph checks.

`load_spec` and `expanded_data` are in pipeline.py; each step is one module (see pipeline.py's docstring).
"""

from __future__ import annotations

from .pipeline import expanded_data, load_spec

__all__ = ["load_spec", "expanded_data"]
