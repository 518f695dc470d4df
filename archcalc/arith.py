"""Pure integer arithmetic of sliding windows, one spatial axis at a time.

No framework objects and no numpy: plain ints in, plain ints (or exact
Fractions) out.  Names follow the formula: n input size, f kernel, s stride,
d dilation, pb/pa padding before/after.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod


def effective_kernel(f: int, d: int = 1) -> int:
    """Extent of a dilated kernel: D*(F-1) + 1."""
    return d * (f - 1) + 1


def exact_out_size(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> Fraction:
    """(N + P_before + P_after - D*(F-1) - 1)/S + 1, exactly (may be non-whole)."""
    return Fraction(n + pb + pa - effective_kernel(f, d), s) + 1


def floor_out_size(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> int:
    """floor((N + Pb + Pa - D*(F-1) - 1)/S) + 1: PyTorch's and Keras's default."""
    return (n + pb + pa - effective_kernel(f, d)) // s + 1


def ceil_out_size(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> int:
    """PyTorch ceil_mode: ceil(...) + 1, less one if the last window would start past the input and its leading padding."""
    out = -(-(n + pb + pa - effective_kernel(f, d)) // s) + 1
    if (out - 1) * s >= n + pb:
        out -= 1
    return out


def same_out_size(n: int, s: int) -> int:
    """TensorFlow SAME: ceil(N/S), whatever the kernel."""
    return -(-n // s)


def same_padding(n: int, f: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after): total = max((ceil(N/S)-1)*S + D*(F-1)+1 - N, 0), the odd pixel after."""
    total = max((same_out_size(n, s) - 1) * s + effective_kernel(f, d) - n, 0)
    before = total // 2
    return before, total - before


def out_size(n: int, f: int, s: int, pb: int, pa: int, d: int, rounding: str) -> int | None:
    """Output size under a rounding rule; None when `strict` and the windows do not tile the padded input."""
    if rounding == "floor":
        return floor_out_size(n, f, s, pb, pa, d)
    if rounding == "ceil":
        return ceil_out_size(n, f, s, pb, pa, d)
    exact = exact_out_size(n, f, s, pb, pa, d)
    return int(exact) if exact.denominator == 1 else None


def unread(n: int, f: int, s: int, pb: int, pa: int, d: int, out: int) -> int:
    """Cells at the end of the padded input that no window of `out` outputs reads (negative: cells past the end)."""
    return (n + pb + pa) - ((out - 1) * s + effective_kernel(f, d))


def fmt_fraction(x: Fraction) -> str:
    """2.33 for 7/3, 4 for 4/1: how the notes write a non-whole output size."""
    if x.denominator == 1:
        return str(x.numerator)
    return f"{float(x):.2f}".rstrip("0").rstrip(".")


def formula_text(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1, *, spaced: bool = False) -> str:
    """The output-size arithmetic with the numbers in: '(7 - 3)/3 + 1 = 2.33' or '(7 + 1 + 1 - 3) / 2 + 1 = 4'."""
    terms = [str(n)]
    if pb or spaced and (pb or pa):
        terms.append(f"+ {pb}")
    if pa or spaced and (pb or pa):
        terms.append(f"+ {pa}")
    kernel = str(f) if d == 1 else f"({d}*({f} - 1) + 1)"
    terms.append(f"- {kernel}")
    inner = " ".join(terms)
    div = " / " if spaced else "/"
    return f"({inner}){div}{s} + 1 = {fmt_fraction(exact_out_size(n, f, s, pb, pa, d))}"


def fitting_paddings(n: int, f: int, s: int, d: int = 1, limit: int = 3) -> list[tuple[int, int]]:
    """Symmetric paddings, smaller than the kernel, for which the windows tile the padded input: [(p, out), ...]."""
    return [(b, o) for b, a, o in fitting_pad_pairs(n, f, s, d, limit=limit * 2) if a == b][:limit]


def fitting_pad_pairs(n: int, f: int, s: int, d: int = 1, limit: int = 3) -> list[tuple[int, int, int]]:
    """(before, after, out) with the extra pixel after, as TensorFlow puts it; smallest total first, each side < kernel."""
    eff = effective_kernel(f, d)
    found = []
    for total in range(0, 2 * (eff - 1) + 1):
        span = n + total - eff
        if span >= 0 and span % s == 0:
            found.append((total // 2, total - total // 2, span // s + 1))
            if len(found) >= limit:
                break
    return found


def fitting_strides(n: int, f: int, pb: int = 0, pa: int = 0, d: int = 1, near: int = 1, limit: int = 3) -> list[tuple[int, int]]:
    """Strides that tile the padded input, nearest to `near` first: [(s, out), ...]."""
    span = n + pb + pa - effective_kernel(f, d)
    if span < 0:
        return []
    if span == 0:
        return [(near, 1)]
    strides = [s for s in range(1, span + 1) if span % s == 0]
    strides.sort(key=lambda s: (abs(s - near), s))
    return [(s, span // s + 1) for s in strides[:limit]]


def fit_options(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> list[str]:
    """The nearest settings that make a non-whole output size whole, the same list for `calc`, `explain` and the
    error `show` gives: symmetric paddings (or the fewest extra pixels after), padding same, nearby strides."""
    eff = effective_kernel(f, d)
    parts = []
    pads = [(p, o) for p, o in fitting_paddings(n, f, s, d) if p < eff and (p, p) != (pb, pa)]
    if not pads:
        for t in range(1, s):
            b, a = pb + t // 2, pa + t - t // 2
            if (n + b + a - eff) % s == 0:
                parts.append(f"padding {b} before and {a} after gives {(n + b + a - eff) // s + 1}")
                break
    if pads:
        parts.append(", ".join(f"padding {p} gives {o}" for p, o in pads))
    if d == 1:
        parts.append(f"padding same gives {same_out_size(n, s)}")
    strides = sorted((st, o) for st, o in fitting_strides(n, f, pb, pa, d, near=s, limit=4) if st != s and st <= eff)
    if strides:
        parts.append(", ".join(f"stride {st} gives {o}" for st, o in strides))
    return parts


def fit_suggestion(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1) -> str:
    """A hint listing the paddings and strides that would make a non-whole output size whole."""
    return "; ".join(fit_options(n, f, s, pb, pa, d) + ["or set rounding: floor (PyTorch/Keras) or ceil"])


def conv_params(kernel: tuple[int, ...], c_in: int, filters: int, groups: int = 1, bias: int = 0) -> int:
    """prod(kernel) * C_in/groups * filters weights, plus `bias` biases."""
    return prod(kernel) * (c_in // groups) * filters + bias


def conv_macs(out_spatial: tuple[int, ...], kernel: tuple[int, ...], c_in: int, filters: int, groups: int = 1) -> int:
    """prod(output spatial) * filters * prod(kernel) * C_in/groups multiply-accumulates."""
    return prod(out_spatial) * filters * prod(kernel) * (c_in // groups)


def rf_step(size: int, jump: int, start: Fraction, f: int, s: int, pb: int, d: int = 1) -> tuple[int, int, Fraction]:
    """Receptive field after a window: size + (D*(F-1))*jump, jump*S, start + ((D*(F-1))/2 - Pb)*jump."""
    k = effective_kernel(f, d) - 1
    return size + k * jump, jump * s, start + (Fraction(k, 2) - pb) * jump


# ----------------------------------------------------------------------------
# modern kinds (issue 11)


def conv_transpose_out_size(n: int, f: int, s: int, pb: int = 0, pa: int = 0, d: int = 1,
                            output_padding: int = 0) -> int:
    """(N - 1)*S - P_before - P_after + D*(F - 1) + output_padding + 1 (PyTorch's ConvTranspose)."""
    return (n - 1) * s - pb - pa + effective_kernel(f, d) + output_padding


def conv_transpose_same_out_size(n: int, s: int) -> int:
    """Keras's Conv2DTranspose with padding='same': N*S, whatever the kernel."""
    return n * s


def conv_transpose_same_padding(f: int, s: int, d: int = 1) -> tuple[int, int, int]:
    """(P_before, P_after, output_padding) that give N*S: total padding max(D*(F-1)+1 - S, 0), the odd
    cell after (TensorFlow's SAME of the matching forward conv); a kernel shorter than the stride
    instead needs S - (D*(F-1)+1) extra cells after the last, which get only the bias."""
    eff = effective_kernel(f, d)
    total = max(eff - s, 0)
    return total // 2, total - total // 2, max(s - eff, 0)


def conv_transpose_params(kernel: tuple[int, ...], c_in: int, filters: int, groups: int = 1, bias: bool = True) -> int:
    """prod(kernel) * C_in * filters/groups weights, plus filters biases."""
    return prod(kernel) * c_in * (filters // groups) + (filters if bias else 0)


def conv_transpose_macs(in_spatial: tuple[int, ...], kernel: tuple[int, ...], c_in: int, filters: int,
                        groups: int = 1) -> int:
    """prod(input spatial) * C_in * filters/groups * prod(kernel): each input cell meets its group's filters (fvcore)."""
    return prod(in_spatial) * c_in * (filters // groups) * prod(kernel)


def rf_step_transpose(size: Fraction, jump: Fraction, start: Fraction, f: int, s: int, pb: int,
                      d: int = 1) -> tuple[Fraction, Fraction, Fraction]:
    """Receptive field after a transposed window: jump' = jump/S, size + D*(F-1)*jump', start + (Pb - D*(F-1)/2)*jump'.

    Output o gathers inputs i = (o + Pb - u*D)/S for the taps u that land on a whole i,
    so its centre is at input index (o + Pb - D*(F-1)/2)/S: an affine grid of step 1/S.
    The size is the continuous extent of the taps (D*(F-1)/S input steps wide); it may be
    a fraction, as the jump may.
    """
    k = effective_kernel(f, d) - 1
    jump_out = Fraction(jump) / s
    return Fraction(size) + k * jump_out, jump_out, Fraction(start) + (pb - Fraction(k, 2)) * jump_out


def upsample_out_size(n: int, scale: int) -> int:
    """N * scale."""
    return n * scale


def pad_out_size(n: int, pb: int, pa: int) -> int:
    """N + P_before + P_after."""
    return n + pb + pa


def crop_out_size(n: int, cb: int, ca: int) -> int:
    """N - C_before - C_after (must stay >= 1)."""
    return n - cb - ca


def centre_crop(n: int, target: int) -> tuple[int, int]:
    """(before, after) that centre-crop N to `target`: before = (N - target)//2, the odd cell after (U-Net)."""
    diff = n - target
    return diff // 2, diff - diff // 2


def adaptive_window(i: int, n: int, out: int) -> tuple[int, int]:
    """PyTorch's adaptive pooling window of output i: [floor(i*N/out), ceil((i+1)*N/out))."""
    return (i * n) // out, -(-(i + 1) * n // out)


def adaptive_as_window(n: int, out: int) -> tuple[int, int] | None:
    """(kernel, stride) of an ordinary pooling with the same windows, N/out each, when out divides N; else None."""
    return (n // out, n // out) if n % out == 0 else None


def adaptive_max_window(n: int, out: int) -> int:
    """Longest adaptive window: ceil(N/out), plus one when the windows overlap unevenly."""
    return max(stop - start for start, stop in (adaptive_window(i, n, out) for i in range(out)))
