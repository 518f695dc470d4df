"""Hostile targets and inputs for what archcalc writes, reads as arrays and prints (issue 10 items 1, 5, 10, 13, 15).

Every case asserts the exit code, the message, and that nothing changed on disk: a refused write leaves
every entry of the folder (names, kinds, modes, contents, link targets) exactly as it was.
"""

from __future__ import annotations

import ast
import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.errors import ArchcalcError, InternalError, SpecError
from archcalc.output.files import WriteError, write_bytes, write_file
from archcalc.output.format import escape, escape_message

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "specs" / "lenet5.yaml")
ALPHAGO = str(ROOT / "specs" / "alphago_policy.yaml")
ESC, BEL = "\x1b", "\x07"


def invoke(args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], terminal_width=120, env=env)


def assert_refused(result, code: int = 2, says: str | None = None, max_lines: int = 3) -> None:
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"uncaught {type(exc).__name__}: {exc}"
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= max_lines, result.stderr
    if says:
        assert says in result.stderr, result.stderr
    assert ESC not in result.output and BEL not in result.output


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry of `folder`: kind and permission bits, and the content of files or the target of links."""
    out = {}
    for p in sorted(folder.iterdir()):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            detail: object = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            detail = p.read_bytes()
        else:
            detail = None
        out[p.name] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), detail)
    return out


# --- writes: init -o and run --save -----------------------------------------------------------------------

def _symlink(d: Path) -> Path:
    (d / "real.npz").write_bytes(b"precious")
    os.symlink(d / "real.npz", d / "t")
    return d / "t"


def _dangling_symlink(d: Path) -> Path:
    os.symlink(d / "nowhere", d / "t")
    return d / "t"


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "t")
    return d / "t"


def _directory(d: Path) -> Path:
    (d / "t").mkdir()
    (d / "t" / "inside").write_bytes(b"x")
    return d / "t"


def _device(d: Path) -> Path:
    """A private copy of /dev/null (needs root); the bug replaced such a node with a regular file."""
    try:
        os.mknod(d / "t", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    return d / "t"


TARGETS = {"symlink": (_symlink, "symbolic link"), "dangling-symlink": (_dangling_symlink, "symbolic link"),
           "fifo": (_fifo, "FIFO"), "directory": (_directory, "directory"), "device": (_device, "character device")}
WRITERS = {"init": lambda t: ["init", LENET, "-o", t], "run-save": lambda t: ["run", LENET, "--random", "--save", t]}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("kind", TARGETS)
def test_write_refuses_a_target_that_is_not_a_regular_file(tmp_path, writer, kind):
    make, says = TARGETS[kind]
    target = make(tmp_path)
    before = snapshot(tmp_path)
    assert_refused(invoke(WRITERS[writer](target)), says=says)
    assert snapshot(tmp_path) == before
    if kind == "directory":
        assert snapshot(target) == {"inside": (stat.S_IFREG, stat.S_IMODE(os.stat(target / "inside").st_mode), b"x")}


def test_write_refuses_device_node_in_the_library_too(tmp_path):
    target = _device(tmp_path)
    with pytest.raises(WriteError, match="character device"):
        write_bytes(target, b"data")
    assert stat.S_ISCHR(os.lstat(target).st_mode)


@pytest.mark.parametrize("writer", WRITERS)
def test_existing_file_keeps_its_permission_bits(tmp_path, writer):
    target = tmp_path / "out"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    result = invoke(WRITERS[writer](target))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert target.read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_bytes(tmp_path / "new", b"abc")
        result = invoke(["init", LENET, "-o", tmp_path / "w.npz"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "w.npz").st_mode) == mode


def test_failed_writer_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out"
    target.write_bytes(b"old")

    def half(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_file(target, half)
    assert snapshot(tmp_path) == {"out": (stat.S_IFREG, stat.S_IMODE(os.stat(target).st_mode), b"old")}


SLOW_WRITER = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from archcalc.output.files import write_file

    # Ctrl-C as in a terminal, even when the suite runs where SIGINT is ignored (a shell's background job passes
    # SIG_IGN to its children, and Python then installs no KeyboardInterrupt handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def slow(fh):
        fh.write(b"new half")
        fh.flush()
        Path(sys.argv[2]).write_text("ready")
        time.sleep(60)

    write_file(sys.argv[1], slow)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_write_removes_the_temp_file(tmp_path, sig):
    work = tmp_path / "work"
    work.mkdir()
    (work / "out").write_bytes(b"old")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(work / "out"), str(ready)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the writer never started"
        time.sleep(0.05)
    assert len(list(work.iterdir())) == 2  # the target and the temporary file
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert snapshot(work) == {"out": (stat.S_IFREG, stat.S_IMODE(os.stat(work / "out").st_mode), b"old")}


# --- reads: --input and --weights are checked before they are loaded --------------------------------------

def _npy_header_only(path: Path, shape: tuple[int, ...], dtype: str = "<f4") -> None:
    """A small .npy whose header claims `shape` (the data is absent)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    path.write_bytes(buf.getvalue() + b"\0" * 4000)


def test_input_header_claiming_gigabytes_is_refused_before_loading(tmp_path):
    _npy_header_only(tmp_path / "x.npy", (10**6, 32, 32, 1))  # 4 KB on disk, 3.8 GiB declared
    assert_refused(invoke(["run", LENET, "--input", tmp_path / "x.npy"]), says="the input declares 3.81 GiB")


def test_input_within_header_but_over_max_memory(tmp_path):
    # 128 MiB declared (only the header is written); LeNet itself needs 64.4 MiB with the interpreter's allowance
    with open(tmp_path / "x.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (32768, 32, 32, 1)})
        fh.write(b"\0" * 1024)
    assert_refused(invoke(["run", LENET, "--input", tmp_path / "x.npy", "--max-memory", "66MiB"]),
                   says="the input declares 128.00 MiB, more than the budget of 66.00 MiB")


def test_weights_member_claiming_8_gib_is_refused_before_loading(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (2**31,)})
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as z:
        z.writestr("c1.weight.npy", buf.getvalue() + b"\0" * 1024)
    assert_refused(invoke(["run", LENET, "--random", "--weights", tmp_path / "w.npz"]),
                   says="the weights declare 8.00 GiB of arrays, more than the budget of 2.00 GiB")


def test_weights_object_member_is_refused_without_unpickling(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as z:
        z.writestr("c1.weight.npy", buf.getvalue())
    assert_refused(invoke(["run", LENET, "--random", "--weights", tmp_path / "w.npz"]), says="Python objects")


def _run_cli(args, timeout=60):
    return subprocess.run([sys.executable, "-m", "archcalc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("option", ["--input", "--weights"])
def test_fifo_input_or_weights_refused_without_hanging(tmp_path, option):
    os.mkfifo(tmp_path / "p")
    args = ["run", LENET, option, tmp_path / "p"] + (["--random"] if option == "--weights" else [])
    done = _run_cli(args, timeout=60)  # a hang is a TimeoutExpired failure
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("option", ["--input", "--weights"])
def test_dev_zero_refused_and_not_called_pickled(option):
    args = ["run", LENET, option, "/dev/zero"] + (["--random"] if option == "--weights" else [])
    result = invoke(args)
    assert_refused(result, says="not a regular file")
    assert "pickle" not in result.output


# --- escaping: what users wrote reaches the terminal only as visible text ---------------------------------

@pytest.mark.parametrize("text, shown", [
    ("plain name", "plain name"), ("réseau 网络", "réseau 网络"), (f"a{ESC}[31mb", "a\\x1b[31mb"),
    (f"bell{BEL}", "bell\\x07"), ("rtl\u202eoverride", "rtl\\u202eoverride"), ("zero\u200bwidth", "zero\\u200bwidth"),
    ("csi\x9b2J", "csi\\x9b2J"), ("del\x7f", "del\\x7f"), ("two\nlines", "two\\nlines"),
])
def test_escape(text, shown):
    assert escape(text) == shown


def test_escape_message_keeps_line_breaks():
    assert escape_message(f"error: {ESC}x\n  hint: y{BEL}") == "error: \\x1bx\n  hint: y\\x07"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


EXERCISE = """\
title: "T\\e[31mitle\\a\\u202e"
exercises:
  - id: q1
    question: "What \\e]0;pwned\\a is it?\\u200b"
    input: [11, 11, 1]
    layers: [{type: conv, filters: 1, kernel: 3, stride: 2}]
    answer: {shape: [9, 9, 1]}
"""


@pytest.mark.parametrize("args, code", [([], 1), (["--key"], 0), (["--format", "json"], 1)])
def test_exercise_title_and_question_escaped(tmp_path, args, code):
    result = invoke(["check", _write(tmp_path, "ex.yaml", EXERCISE)] + args)
    assert result.exit_code == code, result.output
    assert ESC not in result.output and BEL not in result.output and "\u202e" not in result.output
    if "--format" not in args:
        assert "T\\x1b[31mitle\\x07\\u202e" in result.output
    if "--key" in args:
        assert "q1: What \\x1b]0;pwned\\x07 is it?\\u200b\n" in result.output


@pytest.mark.parametrize("name, spec, args, says", [
    ("type", "input: [8, 8, 1]\nlayers: [{type: \"co\\e[2Jnv\", filters: 2, kernel: 3}]\n", [], "co\\x1b[2Jnv"),
    ("inputs", "input: [8, 8, 1]\nlayers: [{type: conv, filters: 2, kernel: 3, inputs: [\"x\\a\"]}]\n", [], "x\\x07"),
    ("expression", "vars: {a: 1}\ninput: [8, 8, 1]\nlayers: [{type: conv, filters: \"$a\\e\", kernel: 3}]\n", [],
     "\\x1b"),
    ("block", "input: [8, 8, 1]\nlayers: [{block: \"b\\e[1m\"}]\n", [], "\\x1b[1m"),
    ("set-name", "vars: {k: 1}\ninput: [8, 8, 1]\nlayers: [{type: conv, filters: $k, kernel: 3}]\n",
     ["--set", f"{ESC}]0;x{BEL}=1"], "\\x1b]0;x\\x07"),
])
def test_error_messages_escape_what_the_user_wrote(tmp_path, name, spec, args, says):
    assert_refused(invoke(["show", _write(tmp_path, "s.yaml", spec)] + args), says=says)


def test_file_name_escaped(tmp_path):
    assert_refused(invoke(["show", tmp_path / f"{ESC}[31mx.yaml"]), says="\\x1b[31mx.yaml")


def test_vary_name_escaped_and_never_called_set():
    result = invoke(["sweep", ALPHAGO, "--vary", f"n{ESC}[1m=1,2"])
    assert_refused(result, says="n\\x1b[1m")
    assert "--set" not in result.output


def test_click_usage_errors_escaped():
    assert_refused(invoke(["show", LENET, "--format", f"{ESC}[1m"]), says="'\\x1b[1m' is not one of", max_lines=4)


# --- exit codes: 1 a check failed, 2 the user's mistake, 3 our bug ------------------------------------------

def _crash(*args, **kwargs):
    raise RuntimeError("something inside archcalc broke")


def test_unexpected_exception_exits_3_with_one_line(monkeypatch):
    import archcalc.analysis

    monkeypatch.setattr(archcalc.analysis, "analyze", _crash)
    result = invoke(["show", LENET])
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "RuntimeError: something inside archcalc broke" in lines[0] and "bug in archcalc" in lines[0]
    assert "--debug" in lines[0] and "ARCHCALC_DEBUG=1" in lines[0]


@pytest.mark.parametrize("args, env", [(["--debug"], None), ([], {"ARCHCALC_DEBUG": "1"})])
def test_debug_prints_the_traceback_and_still_exits_3(monkeypatch, args, env):
    import archcalc.analysis

    monkeypatch.setattr(archcalc.analysis, "analyze", _crash)
    result = invoke(args + ["show", LENET], env=env)
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "_crash" in result.stderr and "bug in archcalc" in result.stderr


class _Internal(ArchcalcError):
    exit_code = 3


class _Unprintable(Exception):
    def __str__(self):
        raise ValueError("no text")


@pytest.mark.parametrize("exc, code, says", [
    (_Internal("the engine disagrees with the calculator"), 3, "the engine disagrees"),
    (InternalError("the engine's shape differs from the calculator's"), 3, "bug in archcalc"),
    (InternalError("the engine's shape differs from the calculator's"), 3, "ARCHCALC_DEBUG=1"),
    (SpecError("a user's mistake"), 2, "error: a user's mistake"),
    (_Unprintable(), 3, "_Unprintable"),
    (MemoryError(), 3, "MemoryError"),
])
def test_exit_code_of_whatever_arrives(monkeypatch, exc, code, says):
    import archcalc.analysis

    def raise_it(*a, **k):
        raise exc

    monkeypatch.setattr(archcalc.analysis, "analyze", raise_it)
    result = invoke(["show", LENET])
    assert result.exit_code == code and says in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_exits_130_not_1(monkeypatch):
    import archcalc.analysis

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(archcalc.analysis, "analyze", interrupted)
    result = invoke(["show", LENET])
    assert result.exit_code == 130 and result.stderr == "interrupted\n"


def test_crash_in_a_real_process_exits_3():
    code = ("import sys, archcalc.analysis\n"
            "def boom(*a, **k): raise KeyError('x')\n"
            "archcalc.analysis.analyze = boom\n"
            "from archcalc.cli import main\n"
            "sys.argv = ['archcalc', 'show', 'specs/lenet5.yaml']\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 3 and "bug in archcalc" in done.stderr and "Traceback" not in done.stderr


# --- CLI wording (issue 10 item 15) -----------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["-1", "-7", "x"])
def test_solve_refuses_negative_padding(padding):
    assert_refused(invoke(["solve", "--input", "7x7x3", "--output", "5x5x1", "--padding", padding]),
                   says="--padding must be an int >= 0, valid or same")


@pytest.mark.parametrize("args, says", [
    (["--vary", "nope=1,2"], "no variable 'nope'"),
    (["--vary", "k=1", "--set", "k=2"], "both --set and --vary"),
    (["--vary", "k=1", "--vary", "k=2"], "--vary k is given twice"),
])
def test_vary_errors_name_vary(args, says):
    result = invoke(["sweep", ALPHAGO] + args)
    assert_refused(result, says=says)
    assert "--set k=" not in result.output and "--set nope" not in result.output


# --- the layering rules the output package relies on -------------------------------------------------------

def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_table_imports_rich_and_only_the_cli_imports_click():
    package = ROOT / "archcalc"
    rich = {p.relative_to(package).as_posix() for p in package.rglob("*.py") if "rich" in _imports(p)}
    click = {p.relative_to(package).parts[0] for p in package.rglob("*.py") if "click" in _imports(p)}
    assert rich == {"output/table.py"}
    assert click == {"cli"}


def test_help_imports_no_heavy_module():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom archcalc.cli import main\n"
            "assert CliRunner().invoke(main, ['run', '--help']).exit_code == 0\n"
            "print(sorted(m for m in ('rich', 'numpy', 'pydantic', 'yaml') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
