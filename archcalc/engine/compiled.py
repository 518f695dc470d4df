"""Optional compiled kernels (numba) for the float32 loops numpy cannot fuse: ``pip install 'archcalc[fast]'``.

Two things hold the numpy engine back on the mobile nets, and neither is a matter of more numpy calls:

* a depthwise convolution has a handful of multiply-adds per output cell; numpy has no fused multiply-add and
  no loop over a window of taps, so ``kernels._conv_depthwise`` streams each block once per tap through one
  ``einsum``, which also holds the GIL (one core);
* numpy's float32 exp is a scalar loop here (1.5 ns a value), and its tanh 2.6 ns, so silu, sigmoid, gelu and tanh
  cost more than the matrix products in front of them.

With numba installed, float32 runs these through ``archcalc.engine._jit``: the depthwise kernel reads the
unpadded input, adds the bias and applies the activation to each output row while it is in cache, and the
activations use a vectorised exp.  Each kernel releases the GIL and works on one block, and the engine's pool
(``kernels.run_blocks``) spreads the blocks, so no numba threading layer is involved and the kernels may be
entered from any number of threads.

Nothing here is required.  Without numba, with ``ARCHCALC_JIT=0`` in the environment, with
``compiled.ENABLED = False``, or for float64, every kernel takes its numpy path; the tests hold both paths to the
same plain twins in ``archcalc.engine.reference``.  numba is imported by the first kernel that asks, never by
``archcalc show`` or the calculators.  The compiled code is cached on disk (numba's ``cache=True``), so a process
pays the compile (a few seconds for all of them) once per install.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

#: False sends every kernel down its numpy path in this process (the tests switch it).
ENABLED = os.environ.get("ARCHCALC_JIT", "1").strip().lower() not in ("0", "false", "no", "off")

#: Activations the compiled kernels apply (to float32), by name.
CODES = {"relu": 1, "relu6": 2, "sigmoid": 3, "silu": 4, "hardsigmoid": 5, "hardswish": 6, "gelu": 7, "tanh": 9}
_GELU_TANH = 8

_state: dict[str, Any] = {}
_lock = threading.Lock()


def _module() -> Any:
    """``archcalc.engine._jit``, or None when numba is missing or broken (then the numpy paths run)."""
    if "jit" not in _state:
        with _lock:
            if "jit" not in _state:
                try:
                    from archcalc.engine import _jit
                except Exception:  # not installed, or an install that does not import (numpy too new for it)
                    _jit = None  # type: ignore[assignment]
                _state["jit"] = _jit
    return _state["jit"]


def available(dtype: Any = np.float32) -> bool:
    """Whether compiled kernels run for arrays of ``dtype`` here (float32 only)."""
    return ENABLED and np.dtype(dtype) == np.float32 and _module() is not None


def code(function: str | None, alpha: Any = None) -> int | None:
    """The kernels' code for an activation (0 for none), or None when they do not have it."""
    if function is None:
        return 0
    if function == "relu" and alpha not in (None, 0, 0.0):
        return None
    if function == "gelu":
        return {None: CODES["gelu"], "none": CODES["gelu"], "tanh": _GELU_TANH}.get(alpha)
    return CODES.get(function)


def activate_rows(rows: np.ndarray, activation: int) -> None:
    """The activation (a code from ``code``), in place, on a 2-D float32 array (rows may be strided, each row
    contiguous)."""
    _module().activate_rows(rows, activation)


def depthwise_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray, rows: tuple[int, int],
                   stride: tuple[int, int], pads_before: tuple[int, int], dilation: tuple[int, int],
                   activation: int) -> None:
    """out[n, oh] = act(b + sum_{kh, kw} x[n, oh*s_h + kh*d_h - p_h, ow*s_w + kw*d_w - p_w] * w[kh, kw]) for the
    output rows j0 <= n * O_h + oh < j1 (``rows``), channel by channel; taps outside the input read zero.  ``x``
    (N, H, W, C), ``out`` (N, O_h, O_w, C), ``w`` (K_h, K_w, C) and ``b`` (C,) are C-contiguous float32;
    ``activation`` a code from ``code``."""
    _module().depthwise_rows(x, w, b, out, rows[0], rows[1], stride[0], stride[1], pads_before[0], pads_before[1],
                             dilation[0], dilation[1], activation)
