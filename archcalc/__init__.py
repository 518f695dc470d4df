"""archcalc: exact shapes, parameters, MACs, memory and receptive fields of convolutional nets.

    >>> import archcalc
    >>> net = archcalc.load_spec("specs/alexnet.yaml")
    >>> report = archcalc.analyze(net)
    >>> report.totals.params
    62378344

Heavy modules (numpy for the forward pass) are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["load_spec", "analyze", "ArchcalcError", "SpecError", "__version__"]

from .errors import ArchcalcError, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Report
    from .spec import Network


def load_spec(source: Any, *, set_vars: Any = None) -> "Network":
    """A spec file (YAML/JSON) or a mapping -> validated Network (its `input_shape` has no batch axis)."""
    from .io import load_spec as _load

    return _load(source, set_vars=set_vars)


def analyze(network: Any) -> "Report":
    """Per-layer rows and totals for a Network (a path or mapping is loaded first)."""
    from .analysis import analyze as _analyze
    from .spec import Network

    if not isinstance(network, Network):
        network = load_spec(network)
    return _analyze(network)
