"""Counting conventions, batch scaling and training memory, defined once.

Tools disagree on what they count.  A `Convention` names one way of turning a
layer's (or the totals') exact MACs and bias adds into the number a tool prints:

- fvcore    multiply-accumulates of conv and dense; bias adds excluded (the default)
- torchinfo its "Mult-Adds": MACs plus one per bias per output position
- flops     2 x MACs (one multiply and one add each)

`costing(report, convention, batch, training)` gives the compute and memory of a
forward pass (or a training step) for a batch, with the assumptions spelt out, and
`largest_batch` inverts it for `archcalc fit`.  Everything stays an exact int.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ArchcalcError

BYTES_PER_ELEMENT = 4


@dataclass(frozen=True, slots=True)
class Convention:
    name: str
    label: str  # the column heading: MACs, Mult-Adds, FLOPs
    counts: str  # what one unit is, for the README and `--format json`
    _count: Callable[[int, int], int]

    def count(self, item: Any) -> int:
        """The convention's number for a LayerRow or Totals (anything with .macs and .bias_adds)."""
        return self._count(item.macs, item.bias_adds)

    def count_numbers(self, macs: int, bias_adds: int) -> int:
        return self._count(macs, bias_adds)


CONVENTIONS: dict[str, Convention] = {
    "fvcore": Convention("fvcore", "MACs",
                         "multiply-accumulates of conv and dense layers; bias adds, activations, pooling and "
                         "normalisation excluded (fvcore, ptflops)",
                         lambda macs, bias_adds: macs),
    "torchinfo": Convention("torchinfo", "Mult-Adds",
                            "torchinfo's Mult-Adds: the MACs plus one add per bias per output position",
                            lambda macs, bias_adds: macs + bias_adds),
    "flops": Convention("flops", "FLOPs", "2 x MACs: one multiply and one add per multiply-accumulate",
                        lambda macs, bias_adds: 2 * macs),
}
NAMES: tuple[str, ...] = tuple(CONVENTIONS)
DEFAULT = "fvcore"

#: Copies of the parameters a training step keeps besides the weights: (gradients, optimiser state).
TRAINING: dict[str, tuple[int, int, str]] = {
    "sgd": (1, 1, "SGD with momentum: one gradient and one momentum buffer per parameter"),
    "adam": (1, 2, "Adam: one gradient and two moment estimates (m, v) per parameter"),
}


def get(name: str | None) -> Convention:
    """'torchinfo' -> its Convention; None -> the default (fvcore)."""
    if name is None:
        return CONVENTIONS[DEFAULT]
    try:
        return CONVENTIONS[name.lower()]
    except KeyError:
        raise ArchcalcError(f"unknown convention {name!r}; choose one of {', '.join(NAMES)}",
                            field="convention") from None


class BudgetError(ArchcalcError):
    """A memory budget that cannot be parsed or met."""


# --- sizes -------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,  # 8G = 8GiB, as docker and ulimit read it
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*([A-Za-z]*)\s*$")  # 30 digits: beyond any memory


def parse_size(text: str | int, field: str = "memory") -> int:
    """'8GiB' or '8G' -> 8589934592, '2GB' -> 2000000000, '512MiB', '1.5GiB', '1000' (bytes); exact integers."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    m = _SIZE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise BudgetError(f"cannot read the memory size {str(text)[:40]!r}; write e.g. 8GiB or 512MiB (binary, 2**30) or "
                           "2GB (decimal, 10**9)", field=field)
    number = m.group(1)
    whole, _, frac = number.partition(".")
    scale = _UNITS[unit]
    value = int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    if value <= 0:
        raise BudgetError(f"memory size must be positive, got {text!r}", field=field)
    return value


# --- costing -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Costing:
    """Compute and memory of one forward pass (or training step) over a batch, float32."""

    convention: Convention
    batch: int
    training: str | None
    compute: int  # the convention's count, times the batch
    param_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    input_bytes: int  # times the batch
    activation_bytes: int  # times the batch

    @property
    def fixed_bytes(self) -> int:
        """Memory that does not grow with the batch."""
        return self.param_bytes + self.gradient_bytes + self.optimizer_bytes

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.input_bytes + self.activation_bytes

    @property
    def assumptions(self) -> list[str]:
        out = [f"compute: {self.convention.label} ({self.convention.name}: {self.convention.counts}) x batch {self.batch}",
               f"memory: float32 (4 bytes per element); input and every layer's output kept for batch {self.batch}"]
        if self.training:
            out.append(f"training ({TRAINING[self.training][2]}); activations are all kept for the backward pass; "
                       "activation gradients, framework workspace and fragmentation are not counted")
        else:
            out.append("inference: weights once, no gradients or optimiser state")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "convention": self.convention.name,
            "label": self.convention.label,
            "counts": self.convention.counts,
            "batch": self.batch,
            "training": self.training,
            "compute": self.compute,
            "memory": {
                "param_bytes": self.param_bytes,
                "gradient_bytes": self.gradient_bytes,
                "optimizer_bytes": self.optimizer_bytes,
                "input_bytes": self.input_bytes,
                "activation_bytes": self.activation_bytes,
                "total_bytes": self.total_bytes,
            },
            "assumptions": self.assumptions,
        }


def costing(report, convention: str | Convention | None = None, batch: int = 1, training: str | None = None) -> Costing:
    """The compute and memory of `report`'s net for a batch, under a counting convention and optional training."""
    conv = convention if isinstance(convention, Convention) else get(convention)
    if batch < 1:
        raise ArchcalcError(f"batch must be at least 1, got {batch}", field="batch")
    if training is not None and training not in TRAINING:
        raise ArchcalcError(f"unknown optimiser {training!r}; choose one of {', '.join(TRAINING)}", field="training")
    t = report.totals
    grads, state = TRAINING[training][:2] if training else (0, 0)
    return Costing(conv, batch, training, conv.count(t) * batch, t.param_bytes, grads * t.param_bytes,
                   state * t.param_bytes, t.input_bytes * batch, t.activation_bytes * batch)


def largest_batch(report, memory: int, training: str | None = None) -> tuple[int, Costing]:
    """The largest batch whose memory estimate fits in `memory` bytes, and its costing."""
    one = costing(report, batch=1, training=training)
    per_sample = one.input_bytes + one.activation_bytes
    room = memory - one.fixed_bytes
    if room < per_sample:
        need = one.fixed_bytes + per_sample
        raise BudgetError(f"even batch 1 needs {need:,} bytes ({_gib(need)}) but the budget is {memory:,} bytes "
                           f"({_gib(memory)}); weights{' + gradients + optimiser state' if training else ''} "
                           f"take {one.fixed_bytes:,}", field="memory")
    batch = room // per_sample
    return batch, costing(report, batch=batch, training=training)


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def costing_lines(c: Costing, *, markdown: bool = False) -> list[str]:
    """The costing as a few labelled lines (humanised by output.format), then the assumptions."""
    from .output.format import human_bytes, human_count

    mem = [("parameters", c.param_bytes)]
    if c.training:
        mem += [("gradients", c.gradient_bytes), ("optimiser state", c.optimizer_bytes)]
    mem += [("input", c.input_bytes), ("activations", c.activation_bytes)]
    rows = [(f"{c.convention.label} ({c.convention.name}), batch {c.batch}", human_count(c.compute))]
    rows += [(f"memory: {name}", human_bytes(n)) for name, n in mem]
    rows.append(("memory: total" + (f" (training, {c.training})" if c.training else " (inference)"),
                 f"{human_bytes(c.total_bytes)} ({c.total_bytes:,} bytes)"))
    if markdown:
        return [""] + [f"- **{k}**: {v}" for k, v in rows] + [f"- assumes {a}" for a in c.assumptions]
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows] + [f"assumes {a}" for a in c.assumptions]
