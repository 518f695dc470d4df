"""Numbers, shapes and sizes formatted once, and user-supplied strings escaped once.

Everything upstream stays exact ints; this is the only place they become text
such as ``62,378,344`` or ``62.4 M``.  ``escape`` is the one place a string that
came from a user (a spec, an exercise file, a command line, a file name) is made
safe for a terminal: control characters (ESC, BEL, ...), bidirectional overrides
and zero-width characters are shown as ``\\x1b``, ``\\u202e``, never sent raw.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence


# --- user-supplied strings -------------------------------------------------------------

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: Any, *, keep_newlines: bool = False) -> str:
    """``text`` with every non-printable character (C0/C1 controls, DEL, bidi overrides, zero-width, ...)
    written as a Python-style escape, so it can reach a terminal only as visible text.

    ``keep_newlines`` keeps ``\\n`` (multi-line messages); table cells escape it too.
    """
    text = str(text)
    if text.isprintable():
        return text
    if keep_newlines:
        return "\n".join(escape(line) for line in text.split("\n"))
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def escape_message(text: Any) -> str:
    """A message for stderr or stdout: escaped, line breaks kept."""
    return escape(text, keep_newlines=True)


# --- numbers ---------------------------------------------------------------------------

def grouped(n: int) -> str:
    """62378344 -> '62,378,344'."""
    return f"{n:,}"


def si(n: int | float) -> str:
    """62378344 -> '62.4 M', 1135256096 -> '1.14 G', 896 -> '896'."""
    for div, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def human_count(n: int) -> str:
    """'62,378,344 (62.4 M)'; small numbers stay as they are."""
    return grouped(n) if abs(n) < 1000 else f"{grouped(n)} ({si(n)})"


def human_bytes(n: int) -> str:
    """Binary units, two decimals: 1.23 MiB."""
    for div, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def short_bytes(n: int) -> str:
    """Binary units, 3 significant digits: '586 MiB', '52.8 MiB'."""
    for div, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n} B"


def stat(x: float) -> str:
    """A float statistic (min, mean, max, score) in 4 significant digits."""
    return f"{x:.4g}"


# --- shapes and receptive fields -------------------------------------------------------

def shape_text(shape: Sequence[Any]) -> str:
    """(55, 55, 96) -> '55x55x96'; an exact fraction (a receptive field after a transposed convolution) as a
    decimal, 3/2 -> 1.5, 1/3 -> 0.333."""
    return "x".join(str(s) if isinstance(s, int) else f"{float(s):.3f}".rstrip("0").rstrip(".") for s in shape)


def input_text(shape: Sequence[int]) -> str:
    """How the input is read: '224x224x3', or for two numbers '28 positions x 28 channels (1-D)'."""
    if len(shape) == 2:
        return f"{shape[0]} {'position' if shape[0] == 1 else 'positions'} x {shape[1]} " \
               f"{'channel' if shape[1] == 1 else 'channels'} (1-D)"
    return shape_text(shape)


def rf_text(rf: Any) -> str:
    """A receptive field's size as '11x11', or '-' where there is none."""
    return "-" if rf is None else shape_text(rf.size)


def rf_short(size: Sequence[int] | None) -> str:
    """(212, 212) -> '212'; unequal axes stay '5x7'; none -> '-'."""
    if not size:
        return "-"
    return str(size[0]) if len(set(size)) == 1 else shape_text(size)


def expect_text(row: Any, detail: bool = True) -> str:
    """'', 'ok', 'MISMATCH' or 'MISMATCH shape: expected 5x5, got 6x6; params: ...'."""
    if row.expect is None:
        return ""
    if row.expect.ok:
        return "ok"
    if not detail:
        return "MISMATCH"
    parts = []
    for field, expected, actual in row.expect.mismatches:
        if field == "shape":
            parts.append(f"shape: expected {shape_text(expected)}, got {shape_text(actual)}")
        elif field == "receptive_field":
            got = "none (not a spatial layer)" if actual is None else "x".join(map(str, actual))
            parts.append(f"receptive field: expected {'x'.join(map(str, expected))}, got {got}")
        else:
            parts.append(f"{field}: expected {grouped(expected)}, got {grouped(actual)}")
    return "MISMATCH " + "; ".join(parts)


def plural(n: int, word: str) -> str:
    """plural(1, 'way') -> 'way', plural(2, 'way') -> 'ways'."""
    return word if n == 1 else word + "s"


# --- report parts shared by the table and the text formats ------------------------------

def is_graph(report: Any) -> bool:
    """True when some layer does not simply read the one before it (then an Inputs column is shown)."""
    previous = "input"
    for row in report.rows:
        if row.inputs != (previous,):
            return True
        previous = row.name
    return False


def totals_lines(report: Any) -> list[tuple[str, str]]:
    """(label, value) pairs printed under the per-layer table."""
    t = report.totals
    return [
        ("Total params", human_count(t.params)),
        ("Trainable params", human_count(t.trainable_params)),
        ("Non-trainable params", human_count(t.non_trainable_params)),
        ("MACs", human_count(t.macs)),
        ("FLOPs (2 x MACs)", human_count(t.flops)),
        ("Input memory", human_bytes(t.input_bytes)),
        ("Activation memory", f"{human_bytes(t.activation_bytes)} (every layer's output, batch 1, float32)"),
        ("Parameter memory", human_bytes(t.param_bytes)),
        ("Total memory", human_bytes(t.total_bytes)),
    ]


def all_warnings(report: Any) -> list[str]:
    """The layers' warnings, then the report's."""
    return [w for r in report.rows for w in r.warnings] + list(report.warnings)


def compute_label(rows: Sequence[Any]) -> str:
    """'MACs', or e.g. 'Mult-Adds (torchinfo) x8' when a convention or batch was chosen (compare rows)."""
    if not rows:
        return "MACs"
    s = rows[0]
    label = s.compute_label if s.convention == "macs" else f"{s.compute_label} ({s.convention})"
    return label + (f" x{s.batch}" if s.batch != 1 else "")


def compute_columns(rows: Sequence[Any], heading: str, value: Callable[[Any], int],
                    suffix: str = "") -> list[tuple[str, Callable[[Any], int]]]:
    """The compute columns of compare or sweep rows as (heading, row -> int): the one given, or with
    `--convention all` (rows carry `by_convention`) one per convention, headed by its name and `suffix`."""
    every = rows[0].by_convention if rows else None
    if every is None:
        return [(heading, value)]
    return [(name + suffix, _total_of(name)) for name in every]


def _total_of(name: str) -> Callable[[Any], int]:
    def total(row: Any) -> int:
        return int(row.by_convention[name]["total"])

    return total


def compare_compute_columns(rows: Sequence[Any]) -> list[tuple[str, Callable[[Any], int]]]:
    """compare's compute column(s): compute_label's, or one per convention ('torchinfo x8') with `all`."""
    suffix = f" x{rows[0].batch}" if rows and rows[0].batch != 1 else ""
    return compute_columns(rows, compute_label(rows), lambda s: s.compute, suffix)


COMPARE_NOTE = ("Params: trainable (the papers' figure). Depth: conv and dense layers on the longest path. "
                "Memory: input + every layer's output (times the batch) + parameters, float32. "
                "RF: receptive field where the spatial layers end; RF conv: at the last conv layer.")
