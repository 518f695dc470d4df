"""What the rules share: the window arithmetic of every spatial axis and the receptive field through it.

Plain values (frozen slotted dataclasses) and pure integer arithmetic from `archcalc.arith`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

from .. import arith
from ..errors import ShapeError
from ..output.format import shape_text

__all__ = ["AXIS_NAMES", "axis_names", "shape_text", "ReceptiveField", "AxisCalc", "spatial_input", "windows",
           "rf_through", "merged_rf"]

AXIS_NAMES = {1: ("position",), 2: ("row", "column"), 3: ("plane", "row", "column")}


def axis_names(rank: int) -> tuple[str, ...]:
    return AXIS_NAMES.get(rank, tuple(f"axis {i}" for i in range(rank)))


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """Per spatial axis: size of the input window a unit sees, jump (cumulative stride), start (centre of unit 0).

    start2 is twice the start: starts are whole or half pixels, kept exact as ints.
    """

    size: tuple[int, ...]
    jump: tuple[int, ...]
    start2: tuple[int, ...]

    @property
    def start(self) -> tuple[int | float, ...]:
        return tuple(s // 2 if s % 2 == 0 else s / 2 for s in self.start2)

    def to_dict(self) -> dict[str, list[Any]]:
        return {"size": list(self.size), "jump": list(self.jump), "start": list(self.start)}


@dataclass(frozen=True, slots=True)
class AxisCalc:
    """The window arithmetic of one spatial axis, kept for `explain` and warnings; rounding is strict|floor|ceil|same."""

    n: int
    f: int
    s: int
    pb: int
    pa: int
    d: int
    out: int
    rounding: str

    @property
    def whole(self) -> bool:
        return (self.n + self.pb + self.pa - arith.effective_kernel(self.f, self.d)) % self.s == 0

    @property
    def exact(self) -> Fraction:
        return arith.exact_out_size(self.n, self.f, self.s, self.pb, self.pa, self.d)

    def formula(self, spaced: bool = False) -> str:
        return arith.formula_text(self.n, self.f, self.s, self.pb, self.pa, self.d, spaced=spaced)


def spatial_input(kind: str, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(spatial axes, channels) of a map, or a ShapeError when a dense or flatten layer above removed them."""
    if len(shape) < 2:
        raise ShapeError(f"{kind} needs an input with spatial axes and channels, got shape [{shape_text(shape)}] "
                         "(a dense or flatten layer above removed them)", field="inputs")
    return shape[:-1], shape[-1]


def windows(name: str, spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], padding: Any, rounding: str) -> tuple[tuple[AxisCalc, ...], tuple[str, ...]]:
    """The sliding window on every axis (output size and paddings), with any rounding warning."""
    axes = []
    for i, n in enumerate(spatial):
        f, s, d = kernel[i], stride[i], dilation[i]
        eff = arith.effective_kernel(f, d)
        if padding == "same":
            pb, pa = arith.same_padding(n, f, s, d)
            axes.append(AxisCalc(n, f, s, pb, pa, d, arith.same_out_size(n, s), "same"))
            continue
        pb, pa = padding[i]
        if n + pb + pa < eff:
            dil = f" (dilated to {eff})" if d > 1 else ""
            raise ShapeError(f"kernel {f}{dil} is larger than the padded input {n + pb + pa} ({n} + {pb} + {pa}) "
                             f"on spatial axis {i}", field="kernel",
                             hint="use a smaller kernel, more padding, or padding: same")
        span = n + pb + pa - eff
        if span % s == 0:
            axes.append(AxisCalc(n, f, s, pb, pa, d, span // s + 1, rounding))
            continue
        out = arith.out_size(n, f, s, pb, pa, d, rounding)
        if out is None:
            raise ShapeError(f"output size {arith.formula_text(n, f, s, pb, pa, d)} is not a whole number on "
                             f"spatial axis {i} (input {n}, kernel {f}, stride {s}, padding {pb}+{pa})",
                             field="stride", hint=arith.fit_suggestion(n, f, s, pb, pa, d))
        axes.append(AxisCalc(n, f, s, pb, pa, d, out, rounding))
    return tuple(axes), _rounding_warnings(name, axes)


def _rounding_warnings(name: str, axes: Sequence[AxisCalc]) -> tuple[str, ...]:
    """'conv1: 224 -> 112.5 floored to 112, the last row and column of the padded input are never read'."""
    names = axis_names(len(axes))
    groups: dict[tuple[int, str, str, int, int], list[str]] = {}
    for i, a in enumerate(axes):
        if a.rounding in ("same", "strict") or a.whole:
            continue
        left = arith.unread(a.n, a.f, a.s, a.pb, a.pa, a.d, a.out)
        verb = "floored" if a.rounding == "floor" else "ceiled"
        groups.setdefault((a.n, arith.fmt_fraction(a.exact), verb, a.out, left), []).append(names[i])
    out = []
    for (n, exact, verb, o, left), axis_names_ in groups.items():
        joined = " and ".join(axis_names_)
        if left > 0:
            what = f"the last {joined}" if left == 1 else f"the last {left} {' and '.join(x + 's' for x in axis_names_)}"
            tail = f"{what} of the padded input {'are' if len(axis_names_) > 1 or left > 1 else 'is'} never read"
        elif left < 0:
            plural = " and ".join(x + "s" for x in axis_names_)
            tail = f"the last window runs {-left} past the padded input along the {plural} (read as padding)"
        else:
            tail = "the windows end exactly at the padded input's edge"
        out.append(f"{name}: {n} -> {exact} {verb} to {o}, {tail}")
    return tuple(out)


def rf_through(rf: ReceptiveField | None, axes: Sequence[AxisCalc]) -> ReceptiveField | None:
    """The receptive field after a window layer: size + D*(F-1)*jump, jump*S, start + (D*(F-1)/2 - Pb)*jump."""
    if rf is None:
        return None
    sizes, jumps, starts = [], [], []
    for a, size, jump, start2 in zip(axes, rf.size, rf.jump, rf.start2):
        k = arith.effective_kernel(a.f, a.d) - 1
        sizes.append(size + k * jump)
        jumps.append(jump * a.s)
        starts.append(start2 + (k - 2 * a.pb) * jump)
    return ReceptiveField(tuple(sizes), tuple(jumps), tuple(starts))


def merged_rf(rfs: Sequence[ReceptiveField | None]) -> ReceptiveField | None:
    """Along a graph: per axis, the largest field over the paths (jump and start of that path)."""
    present = [r for r in rfs if r is not None]
    if not present:
        return None
    rank = len(present[0].size)
    if any(len(r.size) != rank for r in present):
        return None
    best = [max(present, key=lambda r: r.size[i]) for i in range(rank)]
    return ReceptiveField(tuple(best[i].size[i] for i in range(rank)), tuple(best[i].jump[i] for i in range(rank)),
                          tuple(best[i].start2[i] for i in range(rank)))
