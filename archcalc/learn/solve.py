"""Solving for hyperparameters: which (kernel, stride, padding) map one shape to another, and
which conv stacks reach a receptive field.

Per axis the output size is (N + 2P - F) / S + 1, so for a kernel F and padding P the
stride is fixed: S = (N + 2P - F) / (O - 1).  The search therefore runs over F <= N
(or the padded input when the kernel is fixed) and 0 <= P < F, a few thousand
candidates even for a 227-pixel input: bounded and instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .. import arith
from ..errors import ArchcalcError
from ..output.format import shape_text as _t


class SolveError(ArchcalcError):
    """No layer maps the input to the output, or the question is malformed."""


MAX_CANDIDATES = 2_000_000  # (kernel, padding) pairs tried per axis: an unconstrained 1,414-pixel input, about 2 s


@dataclass(frozen=True, slots=True)
class Solution:
    kernel: int | None  # None: any kernel (SAME padding)
    stride: int
    padding: int | str  # symmetric padding, or "same"
    c_in: int
    filters: int
    rank: int

    @property
    def filter_shape(self) -> str:
        return "x".join([str(self.kernel) if self.kernel else "F"] * self.rank + [str(self.c_in)])

    def text(self) -> str:
        pad = "SAME" if self.padding == "same" else str(self.padding)
        kernel = f"kernel {self.kernel}" if self.kernel else "any kernel F"
        return (f"{kernel}, stride {self.stride}, padding {pad}: filter {self.filter_shape}, "
                f"{self.filters} filter{'s' if self.filters != 1 else ''}")

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding,
                "filter_shape": self.filter_shape, "filters": self.filters}


def axis_solutions(n: int, out: int, kernel: int | None = None, stride: int | None = None,
                   padding: int | None = None) -> list[tuple[int, int, int]]:
    """Every (F, S, P) with (N + 2P - F)/S + 1 == out exactly, 0 <= P < F, F <= N + 2P; smallest F, then P, then S."""
    found = []
    kernels = [kernel] if kernel is not None else range(1, n + 1)
    for f in kernels:
        pads = [padding] if padding is not None else range(0, f)
        for p in pads:
            span = n + 2 * p - f
            if span < 0:
                continue
            if out == 1:
                if span == 0:
                    found.append((f, stride or 1, p))
                continue
            if span % (out - 1):
                continue
            s = span // (out - 1)
            if s < 1 or (stride is not None and s != stride):
                continue
            found.append((f, s, p))
    found.sort(key=lambda t: (t[0], t[2], t[1]))
    return found


def solve(input_shape: tuple[int, ...], output_shape: tuple[int, ...], *, kernel: int | None = None,
          stride: int | None = None, padding: int | str | None = None) -> list[Solution]:
    """Every square-kernel conv (kernel, stride, symmetric padding, or SAME) mapping input to output.

    Raises SolveError, with the reason, when there is none.
    """
    if len(input_shape) != len(output_shape):
        raise SolveError(f"input {_t(input_shape)} and output {_t(output_shape)} have different numbers of axes; "
                         "give both as HxWxC (channels last)", field="output")
    if len(input_shape) < 2:
        raise SolveError(f"input {_t(input_shape)} has no spatial axes; give it as HxWxC", field="input")
    spatial_in, c_in = input_shape[:-1], input_shape[-1]
    spatial_out, filters = output_shape[:-1], output_shape[-1]
    rank = len(spatial_in)
    n_max = max(spatial_in)
    tries = (1 if kernel else n_max) * (1 if padding not in (None, "same") else (kernel or n_max))
    if max(tries, n_max if padding in (None, "same") and not stride else 0) > MAX_CANDIDATES:
        what = f"input {_t(spatial_in)}" + (f" with kernel {kernel}" if kernel else "")
        raise SolveError(f"{what} gives too many candidates to try ({tries:,} kernel and padding pairs per axis, "
                         f"at most {MAX_CANDIDATES:,}); fix --kernel and --padding, or ask about smaller sizes",
                         field="kernel" if kernel else "input")
    same = padding == "same"
    fixed_pad = None if padding in (None, "same") else int(padding)
    found: list[Solution] = []
    if not same:
        per_axis = [set(axis_solutions(n, o, kernel, stride, fixed_pad)) for n, o in zip(spatial_in, spatial_out)]
        common = set.intersection(*per_axis)
        found = [Solution(f, s, p, c_in, filters, rank) for f, s, p in sorted(common, key=lambda t: (t[0], t[2], t[1]))]
    if padding in (None, "same"):
        for s in ([stride] if stride else range(1, max(spatial_in) + 1)):
            if all(arith.same_out_size(n, s) == o for n, o in zip(spatial_in, spatial_out)):
                found.append(Solution(kernel, s, "same", c_in, filters, rank))
    if not found:
        raise SolveError(_why_not(spatial_in, spatial_out, kernel, stride, padding))
    return found


def _why_not(spatial_in, spatial_out, kernel, stride, padding) -> str:
    fixed = ", ".join(f"{k} {v}" for k, v in (("kernel", kernel), ("stride", stride), ("padding", padding))
                      if v is not None)
    head = f"no conv maps {_t(spatial_in)} to {_t(spatial_out)}" + (f" with {fixed}" if fixed else "")
    for n, o in zip(spatial_in, spatial_out):
        if o > n and padding in (0, "valid"):
            alt = axis_solutions(n, o)
            eg = f"; e.g. kernel {alt[0][0]}, stride {alt[0][1]}, padding {alt[0][2]} gives {o}" if alt else ""
            return (f"{head}: the output {o} is larger than the input {n}, and a window layer without padding "
                    f"only shrinks its input ((N - F)/S + 1 <= N); it needs padding{eg}")
        if o > n and stride not in (None, 1):
            return f"{head}: the output {o} is larger than the input {n}; only stride 1 can grow it (with padding)"
        if kernel is not None and o > 1 and stride is None and padding is None and kernel > n + 2 * (kernel - 1):
            return f"{head}: kernel {kernel} is larger than the input {n} even with padding {kernel - 1}"
    per_axis = [axis_solutions(n, o, kernel, stride, padding if isinstance(padding, int) else None)
                for n, o in zip(spatial_in, spatial_out)]
    if all(per_axis) and len(per_axis) > 1:
        names = ("rows", "columns", "depth")
        parts = [f"{names[i] if i < 3 else 'axis ' + str(i)}: kernel {a[0][0]}, stride {a[0][1]}, padding {a[0][2]}"
                 for i, a in enumerate(per_axis)]
        return f"{head} with one square kernel; per axis it works with different settings ({'; '.join(parts)})"
    return f"{head}: no kernel, stride and padding give exactly {_t(spatial_out)}"


# --- receptive field targets ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stack:
    kernel: int
    strides: tuple[int, ...]
    receptive_field: int
    jump: int

    @property
    def depth(self) -> int:
        return len(self.strides)

    def pattern(self) -> str:
        """'2 x stride 2, then 13 x stride 1'."""
        runs: list[list[int]] = []
        for s in self.strides:
            if runs and runs[-1][0] == s:
                runs[-1][1] += 1
            else:
                runs.append([s, 1])
        return ", then ".join(f"{n} x stride {s}" for s, n in runs)

    def text(self) -> str:
        return (f"{self.depth} conv layer{'s' if self.depth != 1 else ''} of {self.kernel}x{self.kernel} "
                f"({self.pattern()}): receptive field {self.receptive_field}, jump {self.jump}")

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "layers": self.depth, "strides": list(self.strides),
                "receptive_field": self.receptive_field, "jump": self.jump}


def stack_rf(kernel: int, strides: tuple[int, ...], dilation: int = 1) -> tuple[int, int]:
    """Receptive field and jump after a stack: size += (F-1)*jump, jump *= S, layer by layer (arith.rf_step)."""
    size, jump, start = 1, 1, Fraction(0)
    for s in strides:
        size, jump, start = arith.rf_step(size, jump, start, kernel, s, 0, dilation)
    return size, jump


def target_rf(target: int, kernel: int, stride: int = 2, max_downsamples: int | None = None) -> list[Stack]:
    """The shallowest stacks of `kernel` convs reaching receptive field >= target, with 0, 1, 2, ...
    leading layers of stride `stride` (strides compound: each one multiplies the growth of every later layer)."""
    if target < 1:
        raise SolveError(f"a receptive field is at least 1 pixel, got {target}", field="target_rf")
    if kernel < 2:
        raise SolveError(f"kernel {kernel} never grows the receptive field; use a kernel of 2 or more",
                         field="kernel")
    if target > 10**6:
        raise SolveError(f"receptive field {target:,} is beyond any input size; give at most 1,000,000",
                         field="target_rf")
    stacks: list[Stack] = []
    limit = max_downsamples if max_downsamples is not None else 64
    for m in range(0, limit + 1):
        if stride == 1 and m > 0:
            break
        depth = max(m, 1)
        size, jump = stack_rf(kernel, (stride,) * m + (1,) * (depth - m))
        if size < target:  # each further stride-1 layer adds (kernel - 1) * jump: add just enough of them
            more = -(-(target - size) // ((kernel - 1) * jump))
            depth, size = depth + more, size + more * (kernel - 1) * jump
        strides = (stride,) * m + (1,) * (depth - m)
        if not stacks or depth < stacks[-1].depth:
            stacks.append(Stack(kernel, strides, size, jump))
        if depth == m or depth == 1:  # every layer is already strided: more strides cannot make it shallower
            break
    return stacks
