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
  `kernel`, `stride`, `padding` (and `filters`), right when that layer gives the target.

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
                   "layout", "tolerance"}
ENGINE_FIELDS = ("weights", "biases", "gamma", "beta", "moving_mean", "moving_variance")  # for the forward pass, removed before validation


class ExerciseError(ArchcalcError):
    """The exercise file is malformed, or an answer is of the wrong kind."""


@dataclass(slots=True)
class Result:
    id: str
    question: str
    ok: bool | None  # None: not graded (--key)
    given: dict[str, Any] | None
    expected: dict[str, Any]
    solution: str

    def to_dict(self, graded: bool = True) -> dict[str, Any]:
        if graded:
            return {"id": self.id, "ok": bool(self.ok), "given": self.given, "expected": self.expected,
                    "solution": self.solution}
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


def compute(ex: Mapping[str, Any], base: Path, file: str, keys: tuple[str, ...]) -> Computed:
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
            path = Path(ex["spec"])
            path = path if path.is_absolute() else base / path
            net = load_spec(path, set_vars=dict(ex.get("set") or {}))
        else:
            layers = []
            for layer in ex["layers"]:
                if isinstance(layer, Mapping):
                    weights.append({k: layer[k] for k in ENGINE_FIELDS if k in layer})
                    layer = {k: v for k, v in layer.items() if k not in ENGINE_FIELDS}
                else:
                    weights.append({})
                layers.append(layer)
            data = {"name": ex_id, "input": ex["input"], "layers": layers}
            if "rounding" in ex:
                data["rounding"] = ex["rounding"]
            net = load_spec(data)
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
    return Computed(expected, solution.rstrip("\n"))


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


def _compute_target(ex: Mapping[str, Any], ex_id: str, file: str) -> Computed:
    from .solve import SolveError, solve
    from ..spec import parse_shape

    try:
        src = parse_shape(ex["input"], "input")
        dst = parse_shape(ex["target"], "target")
        solutions = solve(src, dst)
    except ValueError as exc:
        raise ExerciseError(f"exercise {ex_id}: {exc}", file=file) from None
    except SolveError as exc:
        if exc.field:  # the question itself is malformed (axes that do not match, sizes too large to search)
            raise ExerciseError(f"exercise {ex_id}: {exc.message}", file=file, field="target") from None
        return Computed({"solutions": []}, f"impossible: {exc.message}")
    first = next(s for s in solutions if s.kernel is not None) if any(s.kernel for s in solutions) else solutions[0]
    expected = {"kernel": first.kernel, "stride": first.stride, "padding": first.padding, "filters": first.filters}
    text = "\n".join(s.text() for s in solutions[:8])
    more = len(solutions) - 8
    if more > 0:
        text += f"\n... and {more} more (archcalc solve --input ... --output ...)"
    return Computed(expected, text)


def _target_ok(ex: Mapping[str, Any], answer: Mapping[str, Any]) -> bool:
    """A target answer is right when its layer maps the input exactly to the target shape."""
    from ..analysis import analyze
    from ..load import load_spec
    from ..spec import parse_shape

    if "kernel" not in answer:
        return False
    target = parse_shape(ex["target"], "target")
    layer = {"type": "conv", "kernel": answer["kernel"], "stride": answer.get("stride", 1),
             "padding": answer.get("padding", 0), "filters": answer.get("filters", target[-1])}
    try:
        report = analyze(load_spec({"input": ex["input"], "layers": [layer]}))
    except ArchcalcError:
        return False
    return report.output_shape == target


def forward_output(report, values: Any, weights: list[dict[str, Any]], *, ex_id: str = "?", file: str | None = None):
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


def grade(path: str | Path, *, key_only: bool = False) -> Outcome:
    """Grade every exercise of the file (or, with key_only, compute the answer key)."""
    title, exercises, base = load_exercises(path)
    file = str(path)
    outcome = Outcome(title)
    for ex in exercises:
        ex_id = str(ex["id"])
        question = ex.get("question", "")
        keys = _answer_keys(ex)
        computed = compute(ex, base, file, keys)
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
            ok = _target_ok(ex, answer)
        else:
            ok = all(_same(k, given[k], computed.expected.get(k), ex) for k in keys)
        outcome.results.append(Result(ex_id, question, ok, given, computed.expected, computed.solution))
    return outcome


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
