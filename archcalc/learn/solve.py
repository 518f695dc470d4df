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
from ..errors import ArchcalcError, brief
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
    rounds: bool = False  # True: the output size is a fraction that the rounding (floor or ceil) makes whole

    @property
    def filter_shape(self) -> str:
        return "x".join([str(self.kernel) if self.kernel else "F"] * self.rank + [str(self.c_in)])

    @property
    def practical(self) -> bool:
        """What people use: an odd kernel up to 7, stride 1 or 2, SAME-style padding (F-1)/2 (or padding same)."""
        if self.stride not in (1, 2) or (self.kernel == 1 and self.stride > 1):  # 1x1/2 skips 3 pixels in 4
            return False
        if self.padding == "same":
            return True
        return self.kernel is not None and self.kernel % 2 == 1 and self.kernel <= 7 \
            and self.padding == (self.kernel - 1) // 2

    def text(self) -> str:
        pad = "SAME" if self.padding == "same" else str(self.padding)
        kernel = f"kernel {self.kernel}" if self.kernel else "any kernel F"
        return (f"{kernel}, stride {self.stride}, padding {pad}: filter {self.filter_shape}, "
                f"{self.filters} filter{'s' if self.filters != 1 else ''}"
                + (" (rounds: the division is not whole)" if self.rounds else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding,
                "filter_shape": self.filter_shape, "filters": self.filters, "rounds": self.rounds,
                "practical": self.practical}


def _strides(span: int, out: int, rounding: str) -> list[int]:
    """The strides S >= 1 whose rounded (span/S) + 1 is `out` (strict: only a whole division)."""
    if out == 1:
        return [1] if span == 0 else []
    if rounding == "strict":
        return [span // (out - 1)] if span % (out - 1) == 0 and span >= out - 1 else []
    if rounding == "floor":  # floor(span/S) == out-1  <=>  span/out < S <= span/(out-1)
        lo, hi = span // out + 1, span // (out - 1)
    else:  # ceil(span/S) == out-1  <=>  span/(out-1) <= S < span/(out-2)
        lo = -(-span // (out - 1))
        hi = span if out == 2 else -(-span // (out - 2)) - 1
    lo = max(lo, 1)
    return [s for s in range(lo, hi + 1)
            if (span // s if rounding == "floor" else -(-span // s)) == out - 1][:64]


def axis_solutions(n: int, out: int, kernel: int | None = None, stride: int | None = None,
                   padding: int | None = None, rounding: str = "strict") -> list[tuple[int, int, int]]:
    """Every (F, S, P) whose output size (N + 2P - F)/S + 1, rounded as `rounding` says (strict: whole only),
    is `out`; 0 <= P < F, F <= N + 2P; smallest F, then P, then S."""
    found = []
    kernels = [kernel] if kernel is not None else range(1, n + 1)
    for f in kernels:
        pads = [padding] if padding is not None else range(0, f)
        for p in pads:
            span = n + 2 * p - f
            if span < 0:
                continue
            for s in _strides(span, out, rounding):
                if stride is None or s == stride:
                    found.append((f, s, p))
            if out == 1 and span == 0 and stride is not None and (f, 1, p) in found:
                found[-1] = (f, stride, p)
    found.sort(key=lambda t: (t[0], t[2], t[1]))
    return found


def _rank(s: Solution) -> tuple:
    """Practical designs first (exact before rounded), then the smallest kernel, padding and stride."""
    return (not s.practical, s.rounds, s.kernel or 0, -1 if s.padding == "same" else s.padding, s.stride)


def solve(input_shape: tuple[int, ...], output_shape: tuple[int, ...], *, kernel: int | None = None,
          stride: int | None = None, padding: int | str | None = None, rounding: str = "strict") -> list[Solution]:
    """Every square-kernel conv (kernel, stride, symmetric padding, or SAME) mapping input to output,
    practical designs first (odd kernels up to 7, strides 1 and 2, padding (F-1)/2 or same).

    With rounding floor (PyTorch, Caffe's pools) or ceil, designs whose output size is a fraction that
    the rounding makes whole are included too, and marked (`rounds`).
    Raises SolveError, with the reason, when there is none.
    """
    if isinstance(padding, int) and padding < 0:
        raise SolveError(f"padding must be >= 0, valid or same, got {padding}", field="padding")
    if rounding not in ("strict", "floor", "ceil"):
        raise SolveError(f"rounding is strict, floor or ceil, got {rounding!r}", field="rounding")
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
    fixed_pad = None if padding in (None, "same") else int(padding)
    found: dict[tuple, Solution] = {}
    if padding != "same":
        modes = ["strict"] if rounding == "strict" else ["strict", rounding]
        for mode in modes:
            per_axis = [set(axis_solutions(n, o, kernel, stride, fixed_pad, mode))
                        for n, o in zip(spatial_in, spatial_out)]
            for f, s, p in set.intersection(*per_axis):
                found.setdefault((f, s, p), Solution(f, s, p, c_in, filters, rank, rounds=mode != "strict"))
    if padding in (None, "same"):
        for s in ([stride] if stride else range(1, max(spatial_in) + 1)):
            if all(arith.same_out_size(n, s) == o for n, o in zip(spatial_in, spatial_out)):
                found[(kernel, s, "same")] = Solution(kernel, s, "same", c_in, filters, rank)
    if not found:
        raise SolveError(_why_not(spatial_in, spatial_out, kernel, stride, padding))
    return sorted(found.values(), key=_rank)


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
    pool: int | None = None  # downsampling by a pool x pool pool of stride `pool` after the first convs

    @property
    def depth(self) -> int:
        return len(self.strides)

    def pattern(self) -> str:
        """'2 x stride 2, then 13 x stride 1' (with pools: '2 x (conv + 2x2 pool), then 13 x conv')."""
        runs: list[list[int]] = []
        for s in self.strides:
            if runs and runs[-1][0] == s:
                runs[-1][1] += 1
            else:
                runs.append([s, 1])
        if self.pool:
            return ", then ".join(f"{n} x (conv + {self.pool}x{self.pool} pool)" if s > 1 else f"{n} x conv"
                                  for s, n in runs)
        return ", then ".join(f"{n} x stride {s}" for s, n in runs)

    def text(self) -> str:
        return (f"{self.depth} conv layer{'s' if self.depth != 1 else ''} of {self.kernel}x{self.kernel} "
                f"({self.pattern()}): receptive field {self.receptive_field}, jump {self.jump}")

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "layers": self.depth, "strides": list(self.strides), "pool": self.pool,
                "receptive_field": self.receptive_field, "jump": self.jump}


def stack_rf(kernel: int, strides: tuple[int, ...], dilation: int = 1, pool: int | None = None) -> tuple[int, int]:
    """Receptive field and jump after a stack: size += (F-1)*jump, jump *= S, layer by layer (arith.rf_step).
    With `pool`, a layer of stride S > 1 is a stride-1 conv followed by a pool of window and stride S."""
    size, jump, start = 1, 1, Fraction(0)
    for s in strides:
        if pool and s > 1:
            size, jump, start = arith.rf_step(size, jump, start, kernel, 1, 0, dilation)
            size, jump, start = arith.rf_step(size, jump, start, s, s, 0)
        else:
            size, jump, start = arith.rf_step(size, jump, start, kernel, s, 0, dilation)
    return size, jump


def target_rf(target: int, kernel: int, stride: int = 2, max_downsamples: int | None = None,
              pool: int | None = None) -> list[Stack]:
    """The shallowest stacks of `kernel` convs reaching receptive field >= target, with 0, 1, 2, ...
    leading downsamplings of `stride` (or, with `pool`, conv + pool x pool pooling); strides compound: each
    one multiplies the growth of every later layer."""
    if target < 1:
        raise SolveError(f"a receptive field is at least 1 pixel, got {brief(target)}", field="target_rf")
    if kernel < 2:
        raise SolveError(f"kernel {kernel} never grows the receptive field; use a kernel of 2 or more",
                         field="kernel")
    if target > 10**6:
        raise SolveError(f"receptive field {target:,} is beyond any input size; give at most 1,000,000",
                         field="target_rf")
    if pool is not None and pool < 2:
        raise SolveError(f"--pool is a pooling window (and stride) of at least 2, got {pool}", field="pool")
    step = pool or stride
    stacks: list[Stack] = []
    limit = max_downsamples if max_downsamples is not None else 64
    for m in range(0, limit + 1):
        if step == 1 and m > 0:
            break
        depth = max(m, 1)
        size, jump = stack_rf(kernel, (step,) * m + (1,) * (depth - m), pool=pool)
        if size < target:  # each further stride-1 layer adds (kernel - 1) * jump: add just enough of them
            more = -(-(target - size) // ((kernel - 1) * jump))
            depth, size = depth + more, size + more * (kernel - 1) * jump
        strides = (step,) * m + (1,) * (depth - m)
        if not stacks or depth < stacks[-1].depth:
            stacks.append(Stack(kernel, strides, size, jump, pool))
        if depth == m or depth == 1:  # every layer is already strided: more strides cannot make it shallower
            break
    return stacks
