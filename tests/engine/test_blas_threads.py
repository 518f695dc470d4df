"""The engine's own threads for BLAS work (issue 16): with BLAS pinned to one thread per call, the conv chunks,
Winograd chunks and large products run on the kernel pool.  Every split path against the plain twins, and the
pinning itself (threadpoolctl) set and restored."""

import os
import threading
import time

import numpy as np
import pytest

from archcalc.engine import kernels as K
from archcalc.engine import reference as R


@pytest.fixture
def pool_paths(monkeypatch):
    """The split paths taken for any size: BLAS counted as pinned, two workers, tiny thresholds and chunks."""
    monkeypatch.setitem(K._blas, "pinned", True)
    monkeypatch.setattr(K, "PARALLEL_MIN_OUT_BYTES", 0)
    monkeypatch.setattr(K, "SPLIT_MIN_MACS", 0)
    monkeypatch.setattr(K, "workers", lambda: 2)


def rand(*shape, seed=0):
    return np.random.default_rng(seed + len(shape)).standard_normal(shape)


@pytest.mark.parametrize("kernel, stride, pads, dilation, out", [
    ((1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), (9, 7)),     # 1x1: a plain product per block of rows
    ((3, 3), (2, 1), ((1, 1), (0, 2)), (1, 2), (5, 7)),     # im2col
    ((5, 2), (1, 3), ((2, 2), (1, 0)), (1, 1), (9, 3)),
])
@pytest.mark.parametrize("channels", [5, 1])  # one channel: tap-major columns
def test_gemm_blocks_on_the_pool(pool_paths, kernel, stride, pads, dilation, out, channels):
    x, w, b = rand(3, 9, 7, channels), rand(*kernel, channels, 6, seed=1), rand(6, seed=2)
    seen = []
    got = K.conv(x, w, b, stride, pads, dilation, out_spatial=out, algorithm="gemm",
                 epilogue=lambda block: seen.append(block.shape))
    np.testing.assert_allclose(got, R.conv(x, w, b, stride, pads, dilation, out_spatial=out), rtol=1e-10, atol=1e-10)
    assert len(seen) >= 2  # really split into blocks


@pytest.mark.parametrize("algorithm", ["winograd", "winograd2"])
def test_winograd_chunks_on_the_pool(pool_paths, algorithm):
    x, w = rand(3, 11, 9, 4), rand(3, 3, 4, 5, seed=1)
    pads = ((1, 1), (1, 1))
    got = K.conv(x, w, None, (1, 1), pads, algorithm=algorithm)
    np.testing.assert_allclose(got, R.conv(x, w, None, (1, 1), pads), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rows, inner, cols", [(40, 7, 9), (3, 11, 13), (1, 5, 2)])
def test_matmul_split_by_rows_or_columns(pool_paths, rows, inner, cols):
    a, b = rand(rows, inner), rand(inner, cols, seed=1)
    np.testing.assert_allclose(K.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
    out = np.empty((rows, cols))
    assert K.matmul(a, b, out=out) is out


def test_conv_transpose_product_on_the_pool(pool_paths):
    x, w, b = rand(2, 5, 4, 3), rand(3, 2, 4, 3, seed=1), rand(4, seed=2)
    args = ((2, 1), ((1, 0), (0, 1)))
    np.testing.assert_allclose(K.conv_transpose(x, w, b, *args), R.conv_transpose(x, w, b, *args), atol=1e-10)


def test_run_blocks_runs_each_block_once_on_the_caller_and_a_helper(pool_paths):
    """The calling thread works through the blocks alongside the crew (it does not just wait), each block once."""
    seen: list[tuple[int, str]] = []

    def work(i):
        time.sleep(0.002)  # releases the GIL, as the kernels do
        seen.append((i, threading.current_thread().name))

    K.run_blocks(work, list(range(40)), 2**30)
    assert sorted(i for i, _ in seen) == list(range(40))
    names = {name for _, name in seen}
    assert threading.current_thread().name in names
    assert any(name.startswith(K._POOL_PREFIX) for name in names)
    assert not K.in_blocks()


def test_run_blocks_raises_a_blocks_error_after_the_others_finish(pool_paths):
    running, started = set(), []

    def work(i):
        running.add(i)
        started.append(i)
        time.sleep(0.003)
        running.discard(i)
        if i == 2:
            raise ZeroDivisionError(f"block {i}")

    with pytest.raises(ZeroDivisionError, match="block 2"):
        K.run_blocks(work, list(range(30)), 2**30)
    assert not running  # nothing still writing when the caller sees the error
    assert len(started) < 30  # the blocks after the error are skipped
    assert not K.in_blocks()
    K.run_blocks(lambda i: None, [0, 1], 2**30)  # the crew still serves


def held_by_the_helper(running: set, release: threading.Event, helped: list):
    """A block function whose blocks on a helper thread wait for ``release`` (the caller's blocks take 5 ms, so the
    helper wakes and takes one meanwhile); ``running`` holds the blocks still writing, ``helped`` the helper's."""
    def work(i):
        running.add(i)
        if threading.current_thread().name.startswith(K._POOL_PREFIX):
            helped.append(i)
            release.wait(2)  # held until the caller has been interrupted
            time.sleep(0.01)
        else:
            time.sleep(0.005)  # the helper wakes and takes a block meanwhile
        running.discard(i)
    return work


def test_run_blocks_interrupted_while_waiting_lets_the_taken_blocks_finish(pool_paths, monkeypatch):
    """Ctrl-C in the caller while a helper still runs a block: no block is left writing, and the interrupt is
    raised once they are done."""
    running, release, helped = set(), threading.Event(), []
    work = held_by_the_helper(running, release, helped)

    class Interrupted:
        """The job's done-lock, whose first wait raises KeyboardInterrupt (then releases the helper's block)."""

        def __init__(self, lock):
            self.lock, self.first = lock, True

        def acquire(self, *args, **kwargs):
            if self.first:
                self.first = False
                release.set()
                raise KeyboardInterrupt
            return self.lock.acquire(*args, **kwargs)

        def release(self):
            self.lock.release()

    real_init = K._Job.__init__

    def init(self, fn, blocks):
        real_init(self, fn, blocks)
        self._done = Interrupted(self._done)

    monkeypatch.setattr(K._Job, "__init__", init)
    with pytest.raises(KeyboardInterrupt):
        K.run_blocks(work, list(range(4)), 2**30)
    assert helped and not running


def test_run_blocks_interrupted_while_polling_lets_the_taken_blocks_finish(pool_paths, monkeypatch):
    """Ctrl-C while the caller polls for the helpers' blocks (``WAIT_SPIN_SECONDS``): as while it sleeps on the
    lock, no block is left writing and the interrupt is raised once they are done."""
    running, release, helped, polls = set(), threading.Event(), [], []
    work = held_by_the_helper(running, release, helped)

    def pause(n):
        polls.append(n)
        if len(polls) == 3:
            release.set()
            raise KeyboardInterrupt

    monkeypatch.setattr(K, "WAIT_SPIN_SECONDS", 10.0)
    monkeypatch.setattr(K.narrow, "pause", lambda: pause)
    with pytest.raises(KeyboardInterrupt):
        K.run_blocks(work, list(range(4)), 2**30)
    assert len(polls) == 3 and helped and not running


@pytest.mark.parametrize("spin", [0.0, 10.0, 1e-6])  # sleep at once; poll until done; poll, then sleep
def test_run_blocks_waits_for_every_block_polling_or_not(pool_paths, monkeypatch, spin):
    monkeypatch.setattr(K, "WAIT_SPIN_SECONDS", spin)
    done: list[int] = []

    def work(i):
        time.sleep(0.004 if threading.current_thread().name.startswith(K._POOL_PREFIX) else 0.0005)
        done.append(i)

    for _ in range(3):
        done.clear()
        K.run_blocks(work, list(range(6)), 2**30)
        assert sorted(done) == list(range(6))  # the caller returns only after the helper's last block


def test_pause_kernel_runs_and_releases_the_gil():
    pause = K.narrow.pause()
    if pause is None:
        pytest.skip("no llvmlite, or not an x86-64 CPU")
    pause(0)
    pause(-3)
    ticks = []
    helper = threading.Thread(target=lambda: [ticks.append(time.perf_counter()) or time.sleep(0) for _ in range(50)])
    start = time.perf_counter()
    helper.start()
    pause(2_000_000)  # tens of ms: the helper runs meanwhile, so the GIL was free
    end = time.perf_counter()
    helper.join()
    assert end - start > 0.005 and len(ticks) == 50 and ticks[-1] < end


def test_run_blocks_inside_a_block_runs_in_that_thread(pool_paths):
    inner: list[tuple[str, str]] = []

    def outer(i):
        here = threading.current_thread().name
        K.run_blocks(lambda j: inner.append((here, threading.current_thread().name)), [0, 1, 2], 2**30)
        time.sleep(0.001)

    K.run_blocks(outer, list(range(8)), 2**30)
    assert len(inner) == 24 and all(a == b for a, b in inner)


def test_one_blas_thread_pins_and_restores(monkeypatch):
    monkeypatch.setattr(K, "BLAS_MODE", "pin")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("no BLAS library threadpoolctl can control")
    before = [lib.num_threads for lib in blas.lib_controllers]
    with K.one_blas_thread():
        inside = [lib.get_num_threads() for lib in blas.lib_controllers]
        assert K.blas_pinned() == (K.workers() > 1)
        with K.one_blas_thread():  # re-entrant
            assert K.blas_pinned() == (K.workers() > 1)
        assert K.blas_pinned() == (K.workers() > 1)
    assert not K.blas_pinned()
    assert [lib.get_num_threads() for lib in blas.lib_controllers] == before
    if K.workers() > 1:
        assert inside == [1] * len(inside)


@pytest.mark.parametrize("function, alpha", [("gelu", "none"), ("silu", None), ("hardswish", None), ("elu", 1.0)])
def test_heavy_activations_in_chunks_and_on_strided_views(pool_paths, monkeypatch, function, alpha):
    """Chunked over the pool (rows of a 2-D view), and sub-array by sub-array where no 2-D view exists."""
    monkeypatch.setattr(K, "ACTIVATION_CHUNK", 7)
    x = rand(4, 6, 5, 9).astype(np.float32)
    want = R.activate(x.astype(np.float64), function, alpha)
    np.testing.assert_allclose(K.activate(x.copy(), function, alpha), want, rtol=1e-5, atol=1e-6)
    strided = np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)  # x, with no (-1, C) view
    assert K._as_rows(strided) is None
    got = K.activate(strided, function, alpha)
    assert got is strided
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_blas_threads_mode_leaves_blas_alone(monkeypatch):
    monkeypatch.setattr(K, "BLAS_MODE", "threads")
    with K.one_blas_thread():
        assert not K.blas_pinned()


def fake_proc(monkeypatch, stat: list[int], own: tuple[int, int]):
    """/proc/stat's cpu line (user nice system idle iowait irq softirq steal) and this process's utime, stime."""
    import io

    files = {"/proc/stat": ("cpu  " + " ".join(map(str, stat)) + " 0 0\ncpu0 1 2 3\n").encode(),
             "/proc/self/stat": f"42 (py (x)) R 1 1 1 0 -1 0 0 0 0 0 {own[0]} {own[1]} 0 0".encode()}
    monkeypatch.setattr(K, "open", lambda path, mode="r": io.BytesIO(files[path]), raising=False)


def test_busy_elsewhere_counts_only_the_other_processes(monkeypatch):
    """Busy = other processes' CPU time (all busy ticks, steal included, less this process's) over the elapsed
    ticks of all cores, against BUSY_CORES; the first look uses the load average."""
    monkeypatch.setattr(K, "_blas", {"pinned": False})
    monkeypatch.setattr(K, "BUSY_SAMPLE_SECONDS", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    fake_proc(monkeypatch, [100, 0, 0, 100, 0, 0, 0, 0], (50, 0))
    assert K.busy_elsewhere() is False  # first look: load 0.2
    # 200 more ticks over 2 cores (1 s): 150 busy, of which 140 ours -> others 10 ticks = 0.1 core
    fake_proc(monkeypatch, [250, 0, 0, 150, 0, 0, 0, 0], (190, 0))
    assert K.busy_elsewhere() is False
    # next 180 ticks: 170 busy (30 of them steal), 60 ours -> others 110 ticks = 1.2 cores
    fake_proc(monkeypatch, [350, 0, 40, 160, 0, 0, 0, 30], (250, 0))
    assert K.busy_elsewhere() is True
    monkeypatch.setattr(K, "open", lambda *a, **k: (_ for _ in ()).throw(OSError("no /proc")), raising=False)
    monkeypatch.setattr(K, "_blas", {"pinned": False})
    assert K.busy_elsewhere() is False  # no /proc: BLAS keeps its threads


@pytest.mark.parametrize("short, mode, want", [(True, "auto", True), (False, "auto", False), (True, "threads", False)])
def test_pinned_layer_spreads_only_when_blas_threads_sleep_soon(monkeypatch, short, mode, want):
    """A layer's own BLAS blocks (the compiled Winograd chunks) pin BLAS for the layer and spread over the pool when
    OpenBLAS's idle threads stop spinning soon; pinned inside a pinned pass; BLAS restored after."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers or K.workers() < 2:
        pytest.skip("no BLAS library threadpoolctl can control, or one core")
    monkeypatch.setitem(K._blas, "short_spin", short)
    monkeypatch.setattr(K, "BLAS_MODE", mode)
    before = [lib.get_num_threads() for lib in blas.lib_controllers]
    with K.pinned_layer() as spread:
        assert spread is want and K.blas_pinned() is want
        if want:
            assert [lib.get_num_threads() for lib in blas.lib_controllers] == [1] * len(before)
    assert not K.blas_pinned() and [lib.get_num_threads() for lib in blas.lib_controllers] == before
    monkeypatch.setattr(K, "BLAS_MODE", "pin")
    with K.one_blas_thread(), K.pinned_layer() as spread:
        assert spread is True


@pytest.mark.parametrize("env, numpy_first, want", [
    ({}, False, "20"), ({"OPENBLAS_THREAD_TIMEOUT": "6"}, False, "6"), ({}, True, None)])
def test_importing_archcalc_first_shortens_openblas_spin(env, numpy_first, want):
    """archcalc sets OPENBLAS_THREAD_TIMEOUT=20 when numpy is not loaded yet (OpenBLAS reads it then), keeps a value
    the user gave, and leaves it alone once numpy is loaded; the kernels know whether it applies."""
    import subprocess
    import sys

    code = ("import os\n" + ("import numpy\n" if numpy_first else "") +
            "import archcalc\nfrom archcalc.engine import kernels\n"
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), kernels.blas_spin_short())\n")
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**environ, **env},
                          check=True)
    value, short = done.stdout.split()
    assert value == str(want) and short == str(want is not None and int(want) <= K.SHORT_BLAS_SPIN)
