"""Exercise files: questions with answers, graded against archcalc's own numbers.

    title: CNN basics
    exercises:
      - id: q1
        question: "11x11x1 sample, 3x3x1 filter, stride 2: activation map size?"
        input: [11, 11, 1]
        layers: [{type: conv, filters: 1, kernel: 3, stride: 2}]
        answer: {shape: [5, 5, 1]}

An exercise is one of three kinds:
- `input` + `layers`: a small net written inline (layers may carry `weights:` and `biases:`
  for an `output` answer, with `values:` the concrete input);
- `spec`: a spec file (relative to the exercise file), optionally with `set: {k: 128}`;
- `input` + `target`: "which layer maps this input to that shape?"; answered with
  `kernel`, `stride`, `padding` (and `filters`), right when that layer gives the target
  (under the exercise's `rounding`); `given: {kernel: 7}` fixes fields of the design.

Answer keys: shape, params, macs, fits, receptive_field, output (layers/spec) and
kernel, stride, padding, filters (target).  `check` grades, `key` lists the answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ArchcalcError, ShapeError

NET_KEYS = ("shape", "params", "macs", "fits", "receptive_field", "output")
TARGET_KEYS = ("kernel", "stride", "padding", "filters")
EXERCISE_FIELDS = {"id", "question", "input", "layers", "spec", "set", "values", "rounding", "target", "answer",
                   "layout", "tolerance", "given"}
ENGINE_FIELDS = ("weights", "biases", "gamma", "beta", "moving_mean", "moving_variance")  # for the forward pass, removed before validation


class ExerciseError(ArchcalcError):
    """The exercise file is malformed, or an answer is of the wrong kind."""


@dataclass(slots=True)
class Result:
    id: str
    question: str
    ok: bool | None  # None: not graded (--key); True: every part right
    given: dict[str, Any] | None
    expected: dict[str, Any]
    solution: str
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {"ok", "given", "expected"}
    design_fits: bool = False  # a target exercise answered with a design that fits (maybe not the key's)

    def to_dict(self, graded: bool = True) -> dict[str, Any]:
        if graded:
            return {"id": self.id, "ok": bool(self.ok), "given": self.given, "expected": self.expected,
                    "parts": self.parts, "solution": self.solution}
        return {"id": self.id, "question": self.question, "expected": self.expected, "solution": self.solution}


@dataclass(slots=True)
class Outcome:
    title: str
    results: list[Result] = field(default_factory=list)

    @property
    def correct(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def all_ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results],
                "score": {"correct": self.correct, "total": len(self.results)}}

    def key_dict(self) -> dict[str, Any]:
        return {"title": self.title, "key": [r.to_dict(graded=False) for r in self.results]}


# --- loading ------------------------------------------------------------------------------

def load_exercises(path: str | Path) -> tuple[str, list[dict[str, Any]], Path]:
    """Read and check the file's structure; returns (title, exercises, base directory)."""
    from ..load.read import read_data

    data = read_data(path)
    file = str(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("exercises"), list):
        raise ExerciseError("an exercise file is a mapping with an `exercises:` list (and an optional title)",
                            file=file)
    extra = set(data) - {"title", "exercises"}
    if extra:
        raise ExerciseError(f"unknown top-level key{'s' if len(extra) > 1 else ''} {', '.join(sorted(map(str, extra)))}; "
                            "expected title and exercises", file=file)
    if not data["exercises"]:
        raise ExerciseError("the exercises list is empty", file=file)
    seen: set[str] = set()
    for i, ex in enumerate(data["exercises"]):
        where = f"exercise {i + 1}"
        if not isinstance(ex, Mapping):
            raise ExerciseError(f"{where} must be a mapping with id, question and input/layers, spec or target",
                                file=file)
        ex_id = ex.get("id")
        if not isinstance(ex_id, (str, int)) or isinstance(ex_id, bool) or str(ex_id).strip() == "":
            raise ExerciseError(f"{where} needs an id (e.g. id: q{i + 1})", file=file)
        ex_id = str(ex_id)
        if ex_id in seen:
            raise ExerciseError(f"exercise {ex_id}: the id is used twice; ids must be unique", file=file)
        seen.add(ex_id)
        _check_structure(ex_id, ex, file)
    title = data.get("title") or Path(file).stem
    return str(title), list(data["exercises"]), Path(file).resolve().parent


def _check_structure(ex_id: str, ex: Mapping[str, Any], file: str) -> None:
    def err(msg: str, fld: str | None = None) -> ExerciseError:
        return ExerciseError(f"exercise {ex_id}: {msg}", file=file, field=fld)

    unknown = set(ex) - EXERCISE_FIELDS
    if unknown:
        raise err(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(sorted(map(str, unknown)))}; "
                  f"allowed: {', '.join(sorted(EXERCISE_FIELDS))}")
    kinds = [k for k in ("layers", "spec", "target") if k in ex]
    if len(kinds) != 1:
        raise err("give exactly one of layers: (with input:), spec: (a spec file) or target: (with input:)"
                  + (f"; found {', '.join(kinds)}" if kinds else ""))
    kind = kinds[0]
    if kind in ("layers", "target") and "input" not in ex:
        raise err(f"{kind}: needs an input: shape such as [11, 11, 1]", "input")
    if kind == "spec" and ("input" in ex or not isinstance(ex["spec"], str)):
        raise err("spec: names a spec file (a string), and the spec brings its own input", "spec")
    if kind == "layers" and (not isinstance(ex["layers"], list) or not ex["layers"]):
        raise err("layers: must be a non-empty list of layers", "layers")
    if "given" in ex:
        given = ex["given"]
        if kind != "target" or not isinstance(given, Mapping) or not given:
            raise err("given: fixes fields of a design (e.g. given: {kernel: 7}) and goes with target:", "given")
        for key, value in given.items():
            if key not in TARGET_KEYS:
                raise err(f"given key {key!r} is not a design field; use {', '.join(TARGET_KEYS)}", f"given.{key}")
            _check_kind(ex_id, key, value, file)
    if ex.get("rounding", "strict") not in ("strict", "floor", "ceil"):
        raise err(f"rounding is strict, floor or ceil, got {ex['rounding']!r}", "rounding")
    if "set" in ex and (kind != "spec" or not isinstance(ex["set"], Mapping)):
        raise err("set: is a mapping of spec variables (e.g. set: {k: 128}) and goes with spec:", "set")
    if "question" in ex and not isinstance(ex["question"], str):
        raise err("question must be text", "question")
    tol = ex.get("tolerance", 0)
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):  # also refuses nan
        raise err(f"tolerance is a number >= 0 such as 1e-6, got {tol!r}", "tolerance")
    if ex.get("layout", "hwc") not in ("hwc", "chw"):
        raise err(f"layout is hwc (channels last, the default) or chw (one map per channel), got {ex['layout']!r}",
                  "layout")
    answer = ex.get("answer")
    if answer is None:
        return
    if not isinstance(answer, Mapping) or not answer:
        raise err("answer must be a mapping such as {shape: [5, 5, 1]}", "answer")
    allowed = TARGET_KEYS if kind == "target" else NET_KEYS
    for key, value in answer.items():
        if key not in allowed:
            other = "a target exercise takes" if kind == "target" else "this exercise takes"
            raise err(f"answer key {key!r} is not one archcalc grades; {other} {', '.join(allowed)}", f"answer.{key}")
        _check_kind(ex_id, key, value, file)
    if "output" in answer and "values" not in ex:
        raise err("an output answer needs the concrete input under values:", "values")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_kind(ex_id: str, key: str, value: Any, file: str) -> None:
    """Refuse answers of the wrong kind with the exercise id and what was expected."""
    def bad(expected: str) -> ExerciseError:
        return ExerciseError(f"exercise {ex_id}: answer {key} must be {expected}, got {value!r}", file=file,
                             field=f"answer.{key}")

    if key == "shape":
        from ..spec import parse_shape
        try:
            parse_shape(value, "shape")
        except ValueError:
            raise bad("a shape like [5, 5, 1] or '5x5x1'") from None
    elif key in ("params", "macs", "filters", "kernel", "stride"):
        if not _is_int(value) or value < (1 if key in ("filters", "kernel", "stride") else 0):
            raise bad("a whole number" + (" of at least 1" if key in ("filters", "kernel", "stride") else ""))
    elif key == "fits":
        if not isinstance(value, bool):
            raise bad("true or false")
    elif key == "receptive_field":
        if not ((_is_int(value) and value >= 1) or (isinstance(value, list) and value
                                                     and all(_is_int(v) and v >= 1 for v in value))):
            raise bad("a size in pixels (e.g. 5) or one per axis ([5, 5])")
    elif key == "padding":
        if not ((_is_int(value) and value >= 0) or value in ("same", "valid")):
            raise bad("a whole number of pixels, 'same' or 'valid'")
    elif key == "output":
        if not _numeric_nested(value) or _rows_differ(value):
            raise bad("a (nested) list of numbers such as [[59]], every row as long as the others")


def _rows_differ(value: Any) -> bool:
    """[[1, 2], [3]] -> True: a nested list that is not a rectangular array."""
    if not isinstance(value, list) or not value:
        return False
    shapes = {_nested_shape(v) for v in value}
    return len(shapes) > 1 or None in shapes


def _nested_shape(value: Any) -> tuple | None:
    if not isinstance(value, list):
        return ()
    inner = {_nested_shape(v) for v in value}
    first = next(iter(inner), None)
    return (len(value), *first) if len(inner) == 1 and first is not None else None


def _numeric_nested(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numeric_nested(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- computing the answers ----------------------------------------------------------------

@dataclass(slots=True)
class Computed:
    expected: dict[str, Any]
    solution: str
    report: Any = None  # the analysed net (layers/spec exercises), for the working of a wrong answer
    weights: list[dict[str, Any]] = field(default_factory=list)


def spec_path(ex: Mapping[str, Any], base: Path, file: str, root: Path | None) -> Path:
    """The exercise's `spec:` file, confined to `root` (default: the current directory), symlinks resolved.

    An exercise file is often someone else's: its `spec:` may not reach outside the folder the grader chose
    (`archcalc check --spec-root DIR`)."""
    ex_id = str(ex["id"])
    root = (root or Path.cwd()).resolve()
    path = Path(ex["spec"])
    path = path if path.is_absolute() else base / path
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        resolved = path
    if not resolved.is_relative_to(root):
        from ..errors import brief_text
        raise ExerciseError(f"exercise {ex_id}: spec {brief_text(str(ex['spec']), 80)} is outside the spec root "
                            f"{root}; archcalc check --spec-root DIR allows another folder", file=file, field="spec")
    return path


def _load_confined_spec(path: Path, set_vars: Mapping[str, Any]) -> Any:
    """load_spec for a file named by an exercise; a file that does not read as a spec is refused without echoing
    any of its keys or values (it may be anything: a password file, a key)."""
    from ..load import load_spec
    from ..load.read import parse_text, read_text

    text = read_text(path)  # file-level errors (missing, a directory, too large) name the file only
    try:
        data = parse_text(text, str(path), json_first=str(path).lower().endswith(".json"))
    except ArchcalcError:
        data = None
    if not isinstance(data, Mapping) or "layers" not in data or "input" not in data:
        raise ExerciseError(f"{path.name} is not a spec (a YAML or JSON mapping with input: and layers:); "
                            f"archcalc show {path.name} says more", file=str(path))
    return load_spec(path, set_vars=set_vars)


def compute(ex: Mapping[str, Any], base: Path, file: str, keys: tuple[str, ...],
            spec_root: Path | None = None) -> Computed:
    """The correct answers for `keys` of one exercise, and the working."""
    ex_id = str(ex["id"])
    if "target" in ex:
        return _compute_target(ex, ex_id, file)
    from ..analysis import analyze
    from .explain import explain
    from ..load import load_spec

    weights: list[dict[str, Any]] = []
    try:
        if "spec" in ex:
            net = _load_confined_spec(spec_path(ex, base, file, spec_root), dict(ex.get("set") or {}))
        else:
            layers = []
            for layer in ex["layers"]:
                if isinstance(layer, Mapping):
                    weights.append({k: layer[k] for k in ENGINE_FIELDS if k in layer})
                    layer = {k: v for k, v in layer.items() if k not in ENGINE_FIELDS}
                else:
                    weights.append({})
                layers.append(layer)
            data: dict[str, Any] = {"name": ex_id, "input": ex["input"], "layers": layers}
            if "rounding" in ex:
                data["rounding"] = ex["rounding"]
            net = load_spec(data)
    except ExerciseError as exc:
        if exc.field == "spec":
            raise
        raise ExerciseError(f"exercise {ex_id}: {exc}", file=file) from None
    except ArchcalcError as exc:
        raise ExerciseError(f"exercise {ex_id}: {exc}", file=file) from None
    try:
        report = analyze(net)
    except ShapeError as exc:
        expected = {k: (False if k == "fits" else None) for k in keys}
        return Computed(expected, _not_fitting_working(net, exc))
    except ArchcalcError as exc:
        raise ExerciseError(f"exercise {ex_id}: {exc}", file=file) from None
    fits = all(a.whole or a.rounding == "same" for r in report.rows for a in r.axes)
    rf = next((r.receptive_field for r in reversed(report.rows) if r.receptive_field is not None), None)
    values: dict[str, Any] = {
        "shape": list(report.output_shape),
        "params": report.totals.params,
        "macs": report.totals.macs,
        "fits": fits,
        "receptive_field": list(rf.size) if rf else None,
    }
    expected = {k: values[k] for k in keys if k != "output"}
    lines = []
    if "spec" in ex:
        lines += [f"{r.name}: output {'x'.join(map(str, r.output_shape))}, params {r.params:,}, MACs {r.macs:,}"
                  for r in report.rows]
        lines.append(f"total: params {report.totals.params:,}, MACs {report.totals.macs:,}")
        solution = "\n".join(lines)
    else:
        solution = "".join(w.text() for w in explain(report))
        if len(report.rows) > 1:
            solution += f"total: params {report.totals.params:,}, MACs {report.totals.macs:,}\n"
    if "output" in keys:
        if "values" not in ex:
            raise ExerciseError(f"exercise {ex_id}: an output answer needs the concrete input under values:",
                                file=file, field="values")
        out = forward_output(report, ex["values"], weights, ex_id=ex_id, file=file)
        if ex.get("layout") == "chw" and len(report.output_shape) > 1:
            import numpy as np
            out = np.moveaxis(np.asarray(out), -1, 0).tolist()
        expected["output"] = out
        solution += f"output: {out}\n"
    return Computed(expected, solution.rstrip("\n"), report, weights)


def _not_fitting_working(net, exc: ShapeError) -> str:
    """The calc-style working (what frameworks would give, what would fit) for layers that do not fit."""
    from ..analysis import analyze
    from .explain import working
    from ..spec import Network

    try:
        floored = Network.model_validate({**net.to_data(), "rounding": "floor"})
        return "".join(working(r, strict=True).text() for r in analyze(floored).rows).rstrip("\n")
    except ArchcalcError:
        return "the layers do not fit: " + str(exc).replace("\n", " ")


def _design(ex: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """The student's design: the exercise's `given` fields, then the answer's."""
    return {**dict(ex.get("given") or {}), **dict(answer)}


def _compute_target(ex: Mapping[str, Any], ex_id: str, file: str) -> Computed:
    from .solve import SolveError, solve
    from ..spec import parse_shape

    given = dict(ex.get("given") or {})
    rounding = str(ex.get("rounding", "strict"))
    try:
        src = parse_shape(ex["input"], "input")
        dst = parse_shape(ex["target"], "target")
        pad = given.get("padding")
        solutions = solve(src, dst, kernel=given.get("kernel"), stride=given.get("stride"),
                          padding=0 if pad == "valid" else pad, rounding=rounding)
    except ValueError as exc:
        raise ExerciseError(f"exercise {ex_id}: {exc}", file=file) from None
    except SolveError as exc:
        if exc.field:  # the question itself is malformed (axes that do not match, sizes too large to search)
            raise ExerciseError(f"exercise {ex_id}: {exc.message}", file=file, field="target") from None
        return Computed({"solutions": []}, f"impossible: {exc.message}")
    if "filters" in given and given["filters"] != dst[-1]:
        return Computed({"solutions": []}, f"impossible: {given['filters']} filters give {given['filters']} "
                                           f"channels, the target has {dst[-1]}")
    first = next((s for s in solutions if s.kernel is not None), solutions[0])
    kernel = first.kernel if first.kernel is not None else given.get("kernel", 3)
    expected = {"kernel": kernel, "stride": first.stride, "padding": first.padding, "filters": first.filters}
    shown = solutions[:8]
    text = "designs that fit" + (f" (output sizes rounded {rounding})" if rounding != "strict" else "") + ":\n"
    text += "\n".join("  " + s.text() for s in shown)
    more = len(solutions) - len(shown)
    if more > 0:
        text += (f"\n  and {more} more: archcalc solve --input {'x'.join(map(str, src))} "
                 f"--output {'x'.join(map(str, dst))}" + (f" --rounding {rounding}" if rounding != "strict" else ""))
    return Computed(expected, text)


def _design_working(ex: Mapping[str, Any], design: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the student's design maps the input to the target (under the exercise's rounding), and the
    working of that design, axis by axis: (224 + 3 + 3 - 7) / 2 + 1 = 112.5: not whole."""
    from .. import arith
    from ..spec import parse_shape

    src = parse_shape(ex["input"], "input")
    target = parse_shape(ex["target"], "target")
    rounding = str(ex.get("rounding", "strict"))
    if "kernel" not in design:
        return False, "your answer gives no kernel"
    f, s = int(design["kernel"]), int(design.get("stride", 1))
    pad = design.get("padding", 0)
    filters = design.get("filters", target[-1])
    pad_text = "same" if pad == "same" else str(0 if pad == "valid" else pad)
    lines = [f"your design: kernel {f}, stride {s}, padding {pad_text}, {filters} filter{'s' if filters != 1 else ''}"]
    ok = len(src) == len(target)
    names = ("rows", "columns", "depth")
    for i, (n, o) in enumerate(zip(src[:-1], target[:-1])):
        axis = names[i] if i < 3 and len(src) > 2 else ("length" if len(src) == 2 else f"axis {i}")
        out: int | None
        if pad == "same":
            out = arith.same_out_size(n, s)
            lines.append(f"  {axis}: padding same gives ceil({n} / {s}) = {out}")
        else:
            p = 0 if pad == "valid" else int(pad)
            exact = arith.exact_out_size(n, f, s, p, p)
            text = f"  {axis}: {arith.formula_text(n, f, s, p, p, spaced=True)}"
            if n + 2 * p < f:
                out, text = None, text + f": the kernel {f} is larger than the padded input {n + 2 * p}"
            elif exact.denominator == 1:
                out = int(exact)
            elif rounding in ("floor", "ceil"):
                out = arith.out_size(n, f, s, p, p, 1, rounding)
                text += f", rounded {rounding} (the exercise's rounding): {out}"
            else:
                out, text = None, text + ": not whole, so it does not fit"
            lines.append(text)
        if out != o:
            ok = False
            if out is not None:
                lines[-1] += f", but the target is {o}"
    if filters != target[-1]:
        ok = False
        lines.append(f"  channels: {filters} filters give {filters} channels, the target has {target[-1]}")
    return ok, "\n".join(lines)


def forward_output(report, values: Any, weights: list[dict[str, Any]], *, ex_id: str = "?", file: str | None = None,
                   trace: bool = False):
    """The net's output for one concrete input, as nested lists (whole numbers as ints).

    Runs `archcalc.forward` in float64 (exact on the notes' integer examples) with the exercise's
    weights laid out as the engine wants them: HWIO conv kernels (or just the kernel for one channel and
    one filter), (inputs, units) dense weights, `biases` (zeros when omitted), batchnorm's `gamma`,
    `beta`, `moving_mean`, `moving_variance` (identity when omitted).
    """
    import numpy as np

    from ..engine.forward import forward, param_shapes

    def err(msg: str) -> ExerciseError:
        return ExerciseError(f"exercise {ex_id}: {msg}", file=file)

    def array(value: Any, what: str, shape: tuple | None = None) -> Any:
        try:
            a = np.asarray(value, dtype=np.float64)
            return a if shape is None else a.reshape(shape)
        except (ValueError, TypeError):
            text = repr(value)
            text = text if len(text) <= 60 else text[:57] + "..."
            shaped = f" of shape {list(shape)}" if shape is not None else ""
            raise err(f"{what} must be a (nested) list of numbers{shaped}, every row as long as the others; "
                      f"got {text}") from None

    in_shape = report.input_shape
    x = array(values, "values")
    if x.shape != in_shape:
        if in_shape[-1] == 1 and x.shape == in_shape[:-1]:
            x = x[..., None]
        else:
            raise err(f"values has shape {list(x.shape)}, but the input is {list(in_shape)}")
    given_by_name = {row.name: given for row, given in zip(report.rows, weights)}
    params: dict[str, dict[str, Any]] = {}
    for name, shapes in param_shapes(report.network, report).items():
        given = given_by_name.get(name) or {}
        entry: dict[str, Any] = {}
        for key, shape in shapes.items():
            if key == "weight":
                if "weights" not in given:
                    raise err(f"layer {name} needs weights: (HWIO for conv, inputs x units for dense) to compute "
                              "an output")
                w = array(given["weights"], f"layer {name}: weights")
                if w.shape != shape and w.size == int(np.prod(shape)) and shape[-2:] == (1, 1):
                    w = w.reshape(shape)  # one channel, one filter: the kernel alone
                if w.shape != shape:
                    layout = " (HWIO)" if len(shape) > 2 else " (inputs x units)"
                    raise err(f"layer {name}: weights have shape {list(w.shape)}, expected {list(shape)}{layout}")
                entry[key] = w
            elif key == "bias":
                b = array(given.get("biases", np.zeros(shape)), f"layer {name}: biases")
                if b.shape != shape and b.size == int(np.prod(shape)):
                    b = b.reshape(shape)
                if b.shape != shape:
                    raise err(f"layer {name}: biases have shape {list(b.shape)}, expected {list(shape)}")
                entry[key] = b
            else:  # batchnorm
                default = np.ones(shape) if key in ("gamma", "moving_variance") else np.zeros(shape)
                entry[key] = array(given.get(key, default), f"layer {name}: {key}", shape)
        params[name] = entry
    for row, given in zip(report.rows, weights):
        if "biases" in given and row.name in params and "bias" not in params[row.name]:
            raise err(f"layer {row.name} has biases: but bias: false")
    if trace:  # every layer's output, the input and the weights: for the working of a wrong output
        outputs = forward(report.network, x[None], params, dtype="float64", report=report, return_all=True)
        return {name: y[0] for name, y in outputs.items()}, x, params
    out = forward(report.network, x[None], params, dtype="float64", report=report)[0]
    if out.ndim > 1 and out.shape[-1] == 1:
        out = out[..., 0]
    return _plain(out.tolist())


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- grading ------------------------------------------------------------------------------

def _answer_keys(ex: Mapping[str, Any]) -> tuple[str, ...]:
    answer = ex.get("answer")
    if isinstance(answer, Mapping) and answer:
        return tuple(answer)
    if "target" in ex:
        return TARGET_KEYS
    keys = ("shape", "params", "macs") if "spec" in ex else ("shape", "params", "macs", "fits", "receptive_field")
    return keys + (("output",) if "values" in ex else ())


def _same(key: str, given: Any, expected: Any, ex: Mapping[str, Any]) -> bool:
    if expected is None:
        return False
    if key == "shape":
        from ..spec import parse_shape
        return list(parse_shape(given)) == list(expected)
    if key == "receptive_field":
        return (list(given) if isinstance(given, list) else [given] * len(expected)) == list(expected)
    if key == "output":
        import numpy as np
        g, e = np.asarray(given, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if g.shape != e.shape:
            return False
        tol = float(ex.get("tolerance", 0) or 0)
        return bool(np.all(np.abs(g - e) <= tol)) if tol else bool(np.array_equal(g, e))
    return given == expected


def grade(path: str | Path, *, key_only: bool = False, spec_root: str | Path | None = None) -> Outcome:
    """Grade every exercise of the file (or, with key_only, compute the answer key).  `spec:` files must lie
    under `spec_root` (default: the current directory)."""
    root = Path(spec_root) if spec_root is not None else None
    title, exercises, base = load_exercises(path)
    file = str(path)
    outcome = Outcome(title)
    for ex in exercises:
        ex_id = str(ex["id"])
        question = ex.get("question", "")
        keys = _answer_keys(ex)
        computed = compute(ex, base, file, keys, root)
        answer = ex.get("answer")
        if key_only:
            outcome.results.append(Result(ex_id, question, None, None, computed.expected, computed.solution))
            continue
        if not answer:
            outcome.results.append(Result(ex_id, question, False, None, computed.expected,
                                          "no answer given\n" + computed.solution))
            continue
        given = {k: answer[k] for k in keys}
        if "target" in ex:
            outcome.results.append(_grade_design(ex, ex_id, question, answer, given, computed))
            continue
        parts = {k: {"ok": _same(k, given[k], computed.expected.get(k), ex), "given": given[k],
                     "expected": computed.expected.get(k)} for k in keys}
        ok = all(p["ok"] for p in parts.values())
        solution = computed.solution if ok else _aimed_working(ex, computed, parts)
        outcome.results.append(Result(ex_id, question, ok, given, computed.expected, solution, parts))
    return outcome


def _grade_design(ex: Mapping[str, Any], ex_id: str, question: str, answer: Mapping[str, Any],
                  given: dict[str, Any], computed: Computed) -> Result:
    """A design is right when it maps the input to the target, whether or not it is the key's design."""
    fits, working = _design_working(ex, _design(ex, answer))
    expected = computed.expected
    parts = {k: {"ok": fits or given[k] == expected.get(k), "given": given[k], "expected": expected.get(k)}
             for k in given}
    if fits:
        solution = working + "\nyour design fits"
    else:
        solution = working + "\n" + computed.solution
    return Result(ex_id, question, fits, given, expected, solution, parts, design_fits=fits)


def _aimed_working(ex: Mapping[str, Any], computed: Computed, parts: Mapping[str, Mapping[str, Any]]) -> str:
    """The working for the wrong parts only: the layer arithmetic for a wrong shape, params, MACs or fit,
    the recurrence for a wrong receptive field, the values layer by layer for a wrong output."""
    wrong = [k for k, p in parts.items() if not p["ok"]]
    sections: list[str] = []
    if "shape" in wrong:
        note = shape_note(parts["shape"]["given"], parts["shape"]["expected"] or [])
        if note:
            sections.append(note)
    if set(wrong) & {"shape", "params", "macs", "fits"} or computed.report is None:
        sections.append(computed.solution)
    if "receptive_field" in wrong and computed.report is not None:
        sections.append(rf_working(computed.report))
    if "output" in wrong and computed.report is not None:
        outputs, x, params = forward_output(computed.report, ex["values"], computed.weights, ex_id=str(ex["id"]),
                                            trace=True)
        sections.append(output_working(computed.report, outputs, x, params, parts["output"]["given"],
                                       parts["output"]["expected"], str(ex.get("layout", "hwc"))))
    return "\n".join(sections)


def answer_text(value: Mapping[str, Any] | None) -> str:
    """{'shape': [5, 5, 1], 'params': 10} -> 'shape 5x5x1, params 10'."""
    if value is None:
        return "-"
    parts = []
    for k, v in value.items():
        if v is None:
            parts.append(f"{k}: does not fit")
        elif k == "fits":
            parts.append("fits" if v else "does not fit")
        elif k == "shape" and isinstance(v, list):
            parts.append(f"shape {'x'.join(map(str, v))}")
        elif k == "shape":
            parts.append(f"shape {v}")
        elif k in ("params", "macs") and _is_int(v):
            parts.append(f"{k} {v:,}")
        elif k == "receptive_field" and isinstance(v, list):
            parts.append(f"receptive field {'x'.join(map(str, v))}")
        elif k == "solutions":
            parts.append("no solution")
        else:
            parts.append(f"{k.replace('_', ' ')} {v}")
    return ", ".join(parts)


# --- working aimed at the mistake ---------------------------------------------------------

def _num(v: Any) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:.6g}"


def _values_text(a: Any, limit: int = 64) -> str:
    """A small array as nested lists (one channel: the channel axis dropped), a large one as its shape."""
    import numpy as np

    a = np.asarray(a)
    if a.ndim > 1 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.size > limit:
        return f"({'x'.join(map(str, a.shape))} values)"
    return str(_plain(a.tolist()))


def _layer_label(row: Any) -> str:
    fn = getattr(row.layer, "function", None)
    return f"{row.name} ({row.type}{', ' + str(fn) if fn else ''})"


def output_working(report: Any, outputs: Mapping[str, Any], x: Any, params: Mapping[str, Any],
                   given: Any, expected: Any, layout: str = "hwc") -> str:
    """For a wrong `output`: every layer's values (before and after each activation), then the weighted
    sum behind the first wrong cell and the layers after it."""
    import numpy as np

    lines = [f"input: {_values_text(x)}"]
    prev: dict[str, Any] = {"input": x}
    for row in report.rows:
        y = outputs[row.name]
        if row.type == "activation" and len(row.inputs) == 1:
            before = prev.get(row.inputs[0], x)
            lines.append(f"{_layer_label(row)}: before {_values_text(before)} -> after {_values_text(y)}")
        else:
            lines.append(f"{_layer_label(row)}: {_values_text(y)}")
        prev[row.name] = y
    g, e = np.asarray(given, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if g.shape != e.shape:
        lines.append(f"your output has shape {list(g.shape)}, the net's has {list(e.shape)}")
        return "\n".join(lines)
    wrong = np.argwhere(g != e)
    if not len(wrong) or layout == "chw":
        return "\n".join(lines)
    cell = tuple(int(i) for i in wrong[0])
    final = outputs[report.rows[-1].name]
    full = cell if len(cell) == final.ndim else cell + (0,)
    lines.append(f"the first wrong cell {list(cell)}: you gave {_num(g[cell])}, the net gives {_num(e[cell])}")
    chain = []  # the last weighted layer and the shape-preserving layers after it
    for row in reversed(report.rows):
        chain.append(row)
        if row.type in ("conv", "dense") or len(row.inputs) != 1 or row.output_shape != row.input_shapes[0]:
            break
    head = chain[-1]
    if head.type in ("conv", "dense") and head.name in params:
        src = prev.get(head.inputs[0], x) if head.inputs else x
        lines.append("  " + _weighted_sum(head, src, params[head.name], full))
    for row in reversed(chain[:-1]):
        before = prev[row.inputs[0]][full]
        after = outputs[row.name][full]
        fn = getattr(row.layer, "function", row.type)
        lines.append(f"  {row.name}: {fn}({_num(before)}) = {_num(after)}")
    return "\n".join(lines)


def _weighted_sum(row: Any, src: Any, p: Mapping[str, Any], cell: tuple[int, ...]) -> str:
    """'conv1 at [1, 1]: 1*(-1) + 0*2 + 0*1 + 1*(-3) = -4': the one weighted sum behind an output cell."""
    import itertools

    if "weight" not in p:
        return f"{row.name} at {list(cell)}: no weights"
    w, b = p["weight"], p.get("bias")
    terms: list[str] = []
    total = 0.0
    if row.type == "dense":
        o = cell[-1]
        flat = src.reshape(-1)
        for i in range(flat.shape[0]):
            terms.append(f"{_paren(flat[i])}*{_paren(w[i, o])}")
            total += float(flat[i]) * float(w[i, o])
    else:
        if getattr(row.layer, "groups", 1) not in (1, None):
            return f"{row.name} at {list(cell)}: a grouped conv (see archcalc explain)"
        o = cell[-1]
        pos = cell[:-1]
        for offs in itertools.product(*(range(a.f) for a in row.axes)):
            idx = tuple(p_ * a.s - a.pb + u * a.d for p_, a, u in zip(pos, row.axes, offs))
            inside = all(0 <= i < n for i, n in zip(idx, src.shape[:-1]))
            for c in range(src.shape[-1]):
                wv = w[offs + (c, o)]
                xv = src[idx + (c,)] if inside else 0.0
                terms.append(f"{_paren(xv)}*{_paren(wv)}" + ("" if inside else " (padding)"))
                total += float(xv) * float(wv)
    if b is not None:
        terms.append(_paren(b[cell[-1]]) + " (bias)")
        total += float(b[cell[-1]])
    shown = terms if len(terms) <= 18 else terms[:16] + [f"... ({len(terms) - 16} more terms)"]
    return f"{row.name} at {list(cell[:-1] if row.type != 'dense' else cell)}: weighted sum " \
           f"{' + '.join(shown)} = {_num(total)}"


def _paren(v: Any) -> str:
    t = _num(v)
    return f"({t})" if t.startswith("-") else t


def rf_working(report: Any) -> str:
    """For a wrong `receptive_field`: the recurrence size_l = size_{l-1} + (F-1)*jump_{l-1}, jump_l =
    jump_{l-1}*S, one line per layer, then the field at the last conv and at the last spatial layer."""
    lines = ["size_l = size_{l-1} + (F_l - 1) * jump_{l-1},  jump_l = jump_{l-1} * S_l  (starting at 1, 1)"]
    known: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    for row in report.rows:
        rf = row.receptive_field
        if rf is None:
            continue
        srcs = [known[i] for i in row.inputs if i in known]
        size0, jump0 = srcs[0] if srcs else ((1,) * len(rf.size), (1,) * len(rf.jump))
        known[row.name] = (tuple(rf.size), tuple(rf.jump))
        if row.axes and len(row.axes) == len(size0):
            parts = []
            for a, s0, j0 in zip(row.axes, size0, jump0):
                eff = a.d * (a.f - 1) + 1
                k = f"{a.f}" if a.d == 1 else f"{eff} (dilated)"
                parts.append(f"{s0} + ({k} - 1)*{j0} = {s0 + (eff - 1) * j0}, jump {j0}*{a.s} = {j0 * a.s}")
            text = parts[0] if len(set(parts)) == 1 else "; ".join(parts)
            lines.append(f"  {row.name}: {text}")
        elif len(srcs) > 1 and tuple(rf.size) != size0:
            lines.append(f"  {row.name}: the largest of its inputs, {'x'.join(map(str, rf.size))}")
    lines.append(rf_endings(report))
    return "\n".join(lines)


def rf_endings(report: Any) -> str:
    """'receptive field at the last conv (conv3): 32x32; at the last spatial layer (pool3): 36x36'."""
    from .compare import rf_ends

    conv, spatial = rf_ends(report)
    parts = []
    if conv is not None:
        parts.append(f"at the last conv ({conv[0]}): {'x'.join(map(str, conv[1]))}")
    if spatial is not None and (conv is None or spatial[0] != conv[0]):
        parts.append(f"at the last spatial layer ({spatial[0]}): {'x'.join(map(str, spatial[1]))}")
    return "receptive field " + "; ".join(parts) if parts else "no spatial layers: no receptive field"


def shape_note(given: Any, expected: Any) -> str | None:
    """[7, 7] against 7x7x1: the channel axis is missing."""
    from ..spec import parse_shape

    try:
        g = list(parse_shape(given))
    except ValueError:
        return None
    if len(g) == len(expected) - 1 and g == list(expected[:-1]):
        return (f"your shape {'x'.join(map(str, g))} has no channel axis: the output is "
                f"{'x'.join(map(str, expected))}, with {expected[-1]} channel{'s' if expected[-1] != 1 else ''} last")
    return None
