"""OpenBLAS's idle spin, set before numpy loads it (imported first by ``archcalc/__init__``).

OpenBLAS (numpy's BLAS) keeps its idle threads spinning for 2^OPENBLAS_THREAD_TIMEOUT cycles after each threaded
product (2^28 by default, about 0.1 s), holding the other core just when the engine's own threads want it
(``engine.kernels.pinned_layer``).  2^20 cycles (about 0.3 ms) keeps them spinning between the products of one
layer and lets them sleep after it.  OpenBLAS reads the variable when numpy loads it, so it is set here only when
numpy is not loaded yet, and a value the user gave is kept.
"""

from __future__ import annotations

import os
import sys

#: Whether OPENBLAS_THREAD_TIMEOUT, as the environment has it now, is what OpenBLAS runs with: numpy was loaded
#: after this module, or the variable was already set (by the user, before numpy loaded, as far as can be known).
APPLIES = "numpy" not in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
