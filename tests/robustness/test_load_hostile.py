"""Hostile specs against the load pipeline (issue 10 items 2, 3, 4, 8, 12, 15, 16; issue 9 item 7).

Each case runs the CLI (in-process with click's CliRunner, or as a subprocess under a timeout where a regression
would hang or eat memory) and asserts the exit code, the message, and that nothing in its directory changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.errors import ArchcalcError, InternalError, LoadError, SpecError, brief
from archcalc.load.limits import MAX_BYTES, MAX_NODES

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "specs" / "lenet5.yaml"
HEAD = "input: [8, 8, 3]\n"


def snapshot(directory: Path) -> dict[str, tuple]:
    """Every entry under `directory`: kind, mode, size and content hash (regular files)."""
    out = {}
    for p in sorted(directory.rglob("*")):
        st = os.lstat(p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(directory))] = (st.st_mode, st.st_size, digest)
    return out


def refused(result, says: str | list[str], code: int = 2, max_width: int = 400) -> str:
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"uncaught {type(exc).__name__}: {exc}"
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stderr}"
    err = result.stderr
    assert "Traceback" not in err + result.stdout
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 6 and max(map(len, lines)) <= max_width, err
    for phrase in [says] if isinstance(says, str) else says:
        assert phrase in err, err
    return err


def show(tmp_path: Path, text: str, *args: str, name: str = "s.yaml", says, code: int = 2, max_width: int = 400):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["show", str(path), *args])
    err = refused(result, says, code, max_width)
    assert snapshot(tmp_path) == before
    return err


# --- item 2: a spec needs at least one layer ------------------------------------------------------------

@pytest.mark.parametrize("layers", ["layers:\n", "layers: []\n", "layers: ~\n", "layers: null\n"])
def test_no_layers_is_refused(tmp_path, layers):
    show(tmp_path, HEAD + layers, says=["field 'layers'", "at least one layer", "is empty"])


def test_no_layers_after_expansion_of_vars_is_refused(tmp_path):
    show(tmp_path, "vars: {k: 2}\n" + HEAD + "layers: []\n", says="at least one layer")


@pytest.mark.parametrize("command", [["show"], ["fit", "--memory", "1GiB"], ["check"]])
def test_every_command_refuses_an_empty_net(tmp_path, command):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "layers:\n")
    before = snapshot(tmp_path)
    args = [command[0], str(path), *command[1:]]
    if command == ["check"]:
        (tmp_path / "ex.yaml").write_text(f"exercises:\n  - {{id: q1, spec: {path.name}, answer: {{params: 1}}}}\n")
        before = snapshot(tmp_path)
        args = ["check", str(tmp_path / "ex.yaml")]
        old = os.getcwd()
        os.chdir(tmp_path)
        try:
            result = CliRunner().invoke(main, args)
        finally:
            os.chdir(old)
    else:
        result = CliRunner().invoke(main, args)
    refused(result, "at least one layer")
    assert snapshot(tmp_path) == before


def test_init_of_an_empty_net_keeps_the_old_weights(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(HEAD + "layers:\n")
    weights = tmp_path / "old.npz"
    weights.write_bytes(b"PK\x03\x04" + b"x" * 249_000)  # stands for a real weights file: must not be replaced
    before = snapshot(tmp_path)
    refused(CliRunner().invoke(main, ["init", str(spec), "-o", str(weights)]), "at least one layer")
    assert snapshot(tmp_path) == before


def test_api_refuses_no_layers():
    for layers in (None, [], ()):
        with pytest.raises(SpecError, match="at least one layer"):
            archcalc.load_spec({"input": [8, 8, 3], "layers": layers})


# --- item 3: bounded reads, special files, stdin, symlinks ---------------------------------------------

def run_cli(args: list[str], stdin: bytes | None = None, timeout: float = 30):
    """The real `archcalc` in a subprocess (a regression here would hang or eat memory, not just fail)."""
    return subprocess.run([sys.executable, "-m", "archcalc", *args], input=stdin, capture_output=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("device,kind", [("/dev/zero", "character device"), ("/dev/urandom", "character device"),
                                         ("/dev/null", "character device")])
def test_devices_are_refused_before_reading(device, kind):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    start = time.perf_counter()
    proc = run_cli(["show", device])
    assert proc.returncode == 2, proc.stderr
    assert f"{device}: is a {kind}, not a regular file".encode() in proc.stderr
    assert b"Traceback" not in proc.stderr and time.perf_counter() - start < 20


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", [["show"], ["check"], ["sweep", "--vary", "k=1"], ["compare", str(LENET)]])
def test_a_fifo_with_no_writer_is_refused_not_waited_on(tmp_path, command):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    before = snapshot(tmp_path)
    proc = run_cli([command[0], str(fifo), *command[1:]], timeout=20)
    assert proc.returncode == 2, proc.stderr
    assert b"is a named pipe (FIFO), not a regular file" in proc.stderr
    assert snapshot(tmp_path) == before


def test_stdin_is_read_with_a_dash():
    proc = run_cli(["show", "-", "--format", "json"], stdin=b"input: [4]\nlayers: [{type: dense, units: 3}]\n")
    assert proc.returncode == 0, proc.stderr
    assert b'"params": 15' in proc.stdout


def test_stdin_over_the_cap_is_refused_without_reading_it_all():
    proc = run_cli(["show", "-"], stdin=b" " * (MAX_BYTES + 10))
    assert proc.returncode == 2
    assert f"<stdin>: more than {MAX_BYTES:,} bytes".encode() in proc.stderr


def test_stdin_errors_name_stdin():
    proc = run_cli(["show", "-"], stdin=b"input: [4]\nlayers: [{type: dense, units: 0}]\n")
    assert proc.returncode == 2 and b"<stdin>, layer 0 (dense1), field 'units'" in proc.stderr


def test_a_file_that_grows_past_the_cap_after_stat_is_cut_at_the_cap(tmp_path, monkeypatch):
    from archcalc.load import read

    path = tmp_path / "s.yaml"
    path.write_bytes(b"#" * 200)
    with pytest.raises(LoadError, match="file is 200 bytes; specs larger than 100 bytes are refused"):
        read.read_bytes(path, limit=100)  # stat says 200 > 100: refused before reading
    real = os.lstat(path)
    monkeypatch.setattr(read.os, "stat", lambda p, *a, **k: _Stat(real))  # stat says 0 bytes, as for /proc files
    with pytest.raises(LoadError, match="more than 100 bytes"):
        read.read_bytes(path, limit=100)


class _Stat:
    """An os.stat_result that claims a regular file of size 0 (as /proc files and pipes do)."""

    def __init__(self, real):
        self.st_mode = real.st_mode
        self.st_size = 0


def test_a_symlink_loop_is_named_as_such(tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    before = snapshot(tmp_path)
    err = refused(CliRunner().invoke(main, ["show", str(tmp_path / "a.yaml")]), "symbolic link loop")
    assert "no such file" not in err
    assert snapshot(tmp_path) == before


def test_a_dangling_symlink_says_where_it_points(tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "gone.yaml")
    refused(CliRunner().invoke(main, ["show", str(tmp_path / "a.yaml")]), ["symbolic link to", "gone.yaml",
                                                                           "does not exist"])


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "a.yaml").symlink_to(LENET)
    assert CliRunner().invoke(main, ["show", str(tmp_path / "a.yaml")]).exit_code == 0


def test_a_directory_and_a_missing_file(tmp_path):
    refused(CliRunner().invoke(main, ["show", str(tmp_path)]), "is a directory")
    refused(CliRunner().invoke(main, ["show", str(tmp_path / "nope.yaml")]), "no such file")
    refused(CliRunner().invoke(main, ["show", ""]), "no file name given")


# --- item 4: the value budget through vars, blocks and repeat ---------------------------------------------

ANCHORS = "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 6))
BOMB_HEAD = "vars:\n  a0: &a0 [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n" + ANCHORS  # a5 is 10**6 values, 10 KB of anchors


@pytest.mark.parametrize("layers", [
    "  - {repeat: 1000, block: b, args: {x: *a5}}\n",  # the issue's case: args copied on every iteration
    "  - {repeat: 1000, layers: [{type: dense, units: 2, name: n, expect: {shape: *a5}}]}\n",  # an inline body
    "  - {repeat: 10, layers: [{repeat: 100, block: b, args: {x: *a5}}]}\n",  # nested repeats
    "  - {block: c}\n",  # a block whose body holds the big value, used through a repeat inside it
], ids=["repeat-block-args", "repeat-inline", "nested-repeats", "block-with-repeat"])
def test_expansion_is_counted_before_copying(tmp_path, layers):
    text = (BOMB_HEAD + "blocks:\n  b: {params: [x], layers: [{type: dense, units: 2}]}\n"
            + "  c: {layers: [{repeat: 1000, layers: [{type: dense, units: 2, expect: {shape: *a5}}]}]}\n"
            + "input: [4]\nlayers:\n" + layers)
    assert len(text.encode()) < 1000
    start = time.perf_counter()
    show(tmp_path, text, says=f"more than {MAX_NODES:,} values")
    assert time.perf_counter() - start < 5


def test_a_var_holding_a_big_value_used_many_times_is_counted(tmp_path):
    text = BOMB_HEAD + "input: [4]\nlayers:\n" + "".join(
        f"  - {{type: dense, units: 2, name: l{i}, expect: {{shape: $a5}}}}\n" for i in range(9))
    start = time.perf_counter()
    show(tmp_path, text, says=[f"more than {MAX_NODES:,} values", "layer 6 (l6), field 'expect.shape'"])  # 1.23 M in vars + 6 x 1.11 M
    assert time.perf_counter() - start < 5


def test_a_repeat_within_the_budget_still_expands():
    blocks = {"b": {"params": ["x"], "layers": [{"type": "dense", "units": 2}]}}
    net = archcalc.load_spec({"blocks": blocks, "input": [4], "vars": {"big": list(range(1000))},
                              "layers": [{"repeat": 500, "block": "b", "args": {"x": "$big"}}]})
    assert len(net.layers) == 500


def test_the_budget_message_names_the_repeat_and_its_layer(tmp_path):
    text = BOMB_HEAD + "blocks:\n  b: {params: [x], layers: [{type: dense, units: 2}]}\ninput: [4]\nlayers:\n" \
        "  - {type: dense, units: 2, name: first}\n  - {repeat: 1000, name: r, block: b, args: {x: *a5}}\n"
    show(tmp_path, text, says=["layer 1 (r)", "repeat 'r'", "values"])


# --- item 8: messages echo at most ~80 characters of a value ---------------------------------------------

@pytest.mark.parametrize("layer,says", [
    ("{type: " + "x" * 1_000_000 + "}", ["unknown layer type 'xxxx", "(1,000,000 characters)"]),
    ("{type: conv, filters: 2, kernel: 3, " + "k" * 1000 + ": 1}", ["unknown field 'kkkk", "(1,000 characters)"]),
    ("{type: dense, units: '" + "9" * 100_000 + "'}", ["field 'units'", "(100,000 characters)"]),
    ("{type: conv, filters: 2, kernel: [" + ", ".join(["1"] * 200_000) + ", 0]}", ["field 'kernel'"]),
    ("{type: dense, units: 2, inputs: [" + "y" * 10_000 + "]}", ["field 'inputs'", "characters"]),
    ("{block: " + "z" * 10_000 + "}", ["unknown block 'zzz", "(10,000 characters)"]),
    ("{type: dense, units: \"$" + "v" * 10_000 + "\"}", ["field 'units'", "characters"]),
], ids=["type", "field-name", "units-text", "kernel-list", "inputs-name", "block-name", "variable-name"])
def test_long_values_are_shortened_in_messages(tmp_path, layer, says):
    show(tmp_path, HEAD + "layers:\n  - " + layer + "\n", says=says, max_width=600)


def test_brief():
    assert brief("abc") == "'abc'"
    assert brief("a" * 1000) == "'" + "a" * 78 + "…' (1,000 characters)"
    assert brief(list(range(10**6))).endswith("… (1,000,000 entries)") and len(brief(list(range(10**6)))) < 110
    assert brief(10**5000) == "an integer of about 5,001 digits"
    assert brief(-(10**20)) == "-100000000000000000000"
    assert brief("\x1b[31m") == "'\\x1b[31m'"
    assert brief((1,)) == "(1,)"
    assert brief({"a": "b" * 500}).startswith("{'a': 'bbbb") and len(brief({"a": "b" * 500})) < 110


# --- item 12 and issue 9 item 7: error values -------------------------------------------------------------

@pytest.mark.parametrize("name,shown", [("7", "layer 0 (7)"), ("1.5", "layer 0 (1.5)"), ("yes", "layer 0 (True)"),
                                        ("[a, b]", "layer 0 (['a', 'b'])"), ("{a: 1}", "layer 0 ({'a': 1})"),
                                        ("'" + "n" * 500 + "'", "(500 characters)")])
def test_a_non_string_layer_name_is_reported_not_crashed_on(tmp_path, name, shown):
    show(tmp_path, HEAD + f"layers:\n  - {{type: dense, units: 0, name: {name}}}\n", says=[shown, "field 'units'"],
         max_width=600)


@pytest.mark.parametrize("name", [7, 1.5, True, ["a", "b"], {"a": 1}, b"x", None, object(), 10**5000],
                         ids=["int", "float", "bool", "list", "dict", "bytes", "none", "object", "huge-int"])
def test_str_of_an_error_never_raises(name):
    with pytest.raises(SpecError) as info:
        archcalc.load_spec({"input": [8, 8, 3], "layers": [{"type": "dense", "units": 0, "name": name}]})
    text = str(info.value)
    assert "field 'units'" in text and len(text) < 600
    for odd in (name, object(), 10**5000, "x" * 10**6):
        assert str(SpecError("m", layer_name=odd, field=odd if isinstance(odd, str) else None, layer_index=1))


def test_errors_are_not_changed_by_locating_or_printing():
    inner = SpecError("bad", field="units")
    parent = SpecError("first", more=[inner], file="a.yaml")
    located = inner.located(layer_index=3, layer_name="c")
    assert (inner.layer_index, inner.layer_name) == (None, None)
    assert str(located) == "layer 3 (c), field 'units': bad"
    assert str(parent) == "a.yaml: first\na.yaml, field 'units': bad"
    assert inner.file is None  # printing the parent named the file in the text only
    assert located.with_file("b.yaml").file == "b.yaml" and located.file is None
    assert isinstance(located, SpecError) and located is not inner


def test_the_error_family():
    assert issubclass(LoadError, SpecError) and issubclass(SpecError, ArchcalcError)
    assert ArchcalcError.exit_code == 2 and InternalError.exit_code == 3
    assert not issubclass(InternalError, ArchcalcError)  # `except ArchcalcError` never swallows a bug
    text = str(InternalError("engine output (2, 3) differs from the calculator's (2, 4)", layer_index=1,
                             layer_name="conv1"))
    assert text.startswith("internal error (this is a bug in archcalc, please report it): layer 1 (conv1): ")


# --- errors from blocks name the expanded layer and the use -------------------------------------------------

BLOCKS = "blocks:\n  b:\n    params: [f]\n    layers:\n      - {type: dense, name: d, units: $f}\n" \
         "      - {type: dense, name: e, units: $f, bogus: 1}\n"


@pytest.mark.parametrize("layers,says", [
    ("  - {type: dense, units: 2}\n  - {block: b, name: u, args: {f: 3}}\n",
     ["layer 2 (u/e) from block 'b' (used as 'u'), field 'bogus'", "unknown field 'bogus'"]),
    ("  - {type: dense, units: 2}\n  - {repeat: 2, name: r, block: b, args: {f: 3}}\n",
     ["layer 2 (r1/e) from block 'b' (used as 'r1'), field 'bogus'"]),
    ("  - {repeat: 2, name: r, layers: [{type: dense, units: 2}, {type: dense, units: -1}]}\n",
     ["layer 1 (r1/dense2) from repeat 'r1', field 'units'"]),
    ("  - {type: dense, units: 2}\n  - {block: b, name: u, args: {f: \"$g * 2\"}}\n",
     ["layer 1 (u), field 'args.f'", "unknown variable $g"]),
    ("  - {block: b, name: u, args: {f: \"$zz\"}}\n", ["layer 0 (u), field 'args.f'"]),
])
def test_block_errors_name_the_expanded_layer_and_the_use(tmp_path, layers, says):
    show(tmp_path, BLOCKS + HEAD + "layers:\n" + layers, says=says)


def test_an_expression_error_inside_a_block_names_the_layer_it_becomes(tmp_path):
    text = ("blocks:\n  b:\n    params: [f]\n    layers:\n      - {type: dense, name: d, units: 2}\n"
            "      - {type: dense, name: e, units: \"$f.real\"}\n" + HEAD
            + "layers:\n  - {type: dense, units: 2}\n  - {block: b, name: u, args: {f: 3}}\n")
    show(tmp_path, text, says=["layer 2 (u/e) from block 'b' (used as 'u'), field 'units'", "attributes are not allowed"])


# --- item 15: variables, merge keys, YAML 1.1 numbers -----------------------------------------------------

@pytest.mark.parametrize("expr,says", [
    ("$a.__class__", "'.' after a name: attributes are not allowed"),
    ("$a + ٣", "'٣' (ARABIC-INDIC DIGIT THREE) is not one of the digits 0-9"),
    ("$a + ３", "FULLWIDTH DIGIT THREE"),
    ("$a[0]", "'[' (LEFT SQUARE BRACKET) is not allowed"),
    ("$a; 1", "';' (SEMICOLON) is not allowed"),
    ("$ a", "'$' must be followed by a name"),
    ("$1", "'$' must be followed by a name"),
    ("$a ** 2", "only + - * // and parentheses"),
    ("$b", "unknown variable $b (known here: a)"),
    ("$a + $b", "unknown variable $b in '$a + $b'"),
])
def test_variable_expressions_say_what_is_wrong(tmp_path, expr, says):
    err = show(tmp_path, "vars: {a: 2}\n" + HEAD + f"layers:\n  - {{type: dense, units: \"{expr}\"}}\n",
               says=["layer 0 (dense1), field 'units'", says])
    if not expr.startswith("$b") and "$b" not in expr:
        assert "unknown variable" not in err


def test_an_expression_without_vars_says_what_is_wrong(tmp_path):
    show(tmp_path, HEAD + "layers:\n  - {type: dense, units: \"$a.__class__\"}\n", says="attributes are not allowed")


def test_a_quoted_merge_key_is_a_plain_key(tmp_path):
    base = "base: &b {type: dense, units: 2}\n"
    from archcalc.load.read import parse_yaml

    assert parse_yaml(base + "x: {'<<': *b}\n")["x"] == {"<<": {"type": "dense", "units": 2}}
    assert parse_yaml(base + 'x: {"<<": *b}\n')["x"] == {"<<": {"type": "dense", "units": 2}}
    assert parse_yaml(base + "x: {<<: *b, units: 3}\n")["x"] == {"type": "dense", "units": 3}
    assert parse_yaml(base + "x: {!!str <<: *b}\n")["x"] == {"<<": {"type": "dense", "units": 2}}
    show(tmp_path, HEAD + base + "layers: [{'<<': *b}]\n", says="missing field 'type'")


@pytest.mark.parametrize("value,says", [
    ("017", ["'017' has a leading zero", "octal (017 means 15)", "without the leading zero"]),
    ("-017", ["octal (-017 means -15)"]),
    ("0_17", ["leading zero"]),
    ("1:30", ["'1:30' is a base-60 number", "1:30 means 90", "write the number itself (90)", "quote it"]),
    ("1:30.5", ["base-60"]),
    ("-1:00:00", ["base-60"]),
])
def test_yaml_11_numbers_are_refused_with_how_to_write_them(tmp_path, value, says):
    show(tmp_path, HEAD + f"layers:\n  - {{type: dense, units: {value}}}\n", says=["line 3"] + says)


@pytest.mark.parametrize("value,expected", [("0", 0), ("17", 17), ("0x11", 17), ("'017'", "017"), ("'1:30'", "1:30"),
                                            ("017.5", 17.5), ("1e3", 1000.0), ("-0", 0)])
def test_numbers_that_read_the_same_everywhere_are_kept(value, expected):
    from archcalc.load.read import parse_yaml

    assert parse_yaml(f"a: {value}\n") == {"a": expected}


def test_json_is_not_affected_by_yaml_11_rules(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"input": [4], "name": "1:30", "layers": [{"type": "dense", "units": 17}]}')
    assert archcalc.load_spec(path).layers[0].units == 17


# --- item 16: the Python API raises SpecError or a clear TypeError ----------------------------------------

GOOD = {"input": [8, 8, 3], "layers": [{"type": "dense", "units": 2}]}


@pytest.mark.parametrize("data,says", [
    ({"input": [10**5000, 3], "layers": [{"type": "dense", "units": 2}]}, "at most 10**15, got an integer of about 5,001 digits"),
    ({"input": [8, 8, 3], "layers": [{"type": "conv", "filters": 2, "kernel": 10**5000}]}, "at most 10**15, got an integer of about 5,001 digits"),
    ({"input": [8, 8, 3], "layers": [{"type": "dense", "units": 10**5000}]}, "an integer of about 5,001 digits"),
    ({**GOOD, "year": 10**5000}, "an integer of about 5,001 digits"),
    ({"vars": {"a": 10**5000}, **GOOD, "layers": [{"type": "dense", "units": "$a * 2"}]}, "out of range"),
    ({**GOOD, "vars": [1, 2]}, "field 'vars'"),
    ({**GOOD, "layers": [{"type": "dense", "units": 2, 7: 1}]}, "keys should be strings"),
    ({**GOOD, "layers": [{"type": "dense", "units": object()}]}, "field 'units'"),
    ({**GOOD, "layers": 5}, "field 'layers'"),
    ({**GOOD, "layers": [5]}, "layer 0"),
], ids=["input-huge", "kernel-huge", "units-huge", "year-huge", "var-huge", "vars-list", "key-int", "value-object",
        "layers-int", "layer-int"])
def test_api_raises_spec_error(data, says):
    with pytest.raises(SpecError) as info:
        archcalc.load_spec(data)
    assert says in str(info.value) and len(str(info.value)) < 600


@pytest.mark.parametrize("call,says", [
    (lambda: archcalc.load_spec(GOOD, set_vars=["k"]), "set_vars must be a mapping"),
    (lambda: archcalc.load_spec(GOOD, set_vars="k=1"), "set_vars must be a mapping"),
    (lambda: archcalc.load_spec(5), "a spec is a file path or a mapping, not int"),
    (lambda: archcalc.load_spec(None), "not NoneType"),
    (lambda: archcalc.load_spec(b"s.yaml"), "not bytes"),
    (lambda: archcalc.load_spec([GOOD]), "not list"),
    (lambda: archcalc.analyze(3.5), "not float"),
])
def test_api_raises_type_error_for_a_wrong_python_type(call, says):
    with pytest.raises(TypeError, match=says):
        call()


def test_api_set_vars_with_an_unknown_name():
    with pytest.raises(SpecError, match="declares no variable 5 to set"):
        archcalc.load_spec({**GOOD, "vars": {"k": 1}}, set_vars={5: 1})


def test_api_tuple_layers_are_layers():
    assert archcalc.load_spec({**GOOD, "layers": tuple(GOOD["layers"])}).layers[0].units == 2


@pytest.mark.parametrize("text,says", [
    ("blocks:\n  " + "B" * 1000 + ": {params: 5, layers: [{type: dense, units: 2}]}\n" + HEAD + "layers:\n  - {block: x}\n",
     ["field 'blocks.'BBBB", "(1,000 characters)", "params is a list"]),
    ("blocks:\n" + "".join(f"  b{i}: {{layers: [{{type: dense, units: 2}}]}}\n" for i in range(500)) + HEAD
     + "layers:\n  - {block: nope}\n", ["unknown block 'nope'", "(and 488 more)"]),
    ("vars:\n" + "".join(f"  v{i}: 1\n" for i in range(500)) + HEAD + "layers:\n  - {type: dense, units: $nope}\n",
     ["unknown variable $nope", "(and 488 more)"]),
], ids=["long-block-name", "many-blocks", "many-vars"])
def test_long_names_and_long_lists_are_shortened(tmp_path, text, says):
    show(tmp_path, text, says=says)


def test_the_document_and_its_expansion_share_one_budget(tmp_path):
    # 7.9 million values through aliases: under the alias limit alone, over it once a repeat adds 2.2 million more
    big = "  big: [*a5, *a5, *a5, *a5, *a5]\n"
    text = (BOMB_HEAD + big + "blocks:\n  b: {params: [x], layers: [{type: dense, units: 2}]}\ninput: [4]\nlayers:\n"
            "  - {repeat: 2, block: b, args: {x: *a5}}\n")
    start = time.perf_counter()
    show(tmp_path, text, says=f"more than {MAX_NODES:,} values")
    path = tmp_path / "t.yaml"
    path.write_text(text.replace(big, ""))
    result = CliRunner().invoke(main, ["show", str(path), "--format", "json"])
    assert result.exit_code == 0 and '"params": 10' in result.stdout
    assert time.perf_counter() - start < 10


def test_an_aliased_layer_that_places_a_big_variable_counts_every_time(tmp_path):
    text = BOMB_HEAD + "input: [4]\nlayers:\n  - &L {type: dense, units: 2, expect: {shape: $a5}}\n" + "  - *L\n" * 20
    start = time.perf_counter()
    show(tmp_path, text, says=[f"more than {MAX_NODES:,} values", "field 'expect.shape'"])
    assert time.perf_counter() - start < 5


def test_only_the_string_dash_is_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError, match="no such file"):
        archcalc.load_spec(Path("-"))  # an exercise's `spec: -` joined to its folder: a file named "-", never stdin
    (tmp_path / "-").write_text("input: [4]\nlayers: [{type: dense, units: 3}]\n")
    assert archcalc.load_spec(Path("-")).layers[0].units == 3
