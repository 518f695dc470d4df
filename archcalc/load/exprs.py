"""`$name` values and tiny integer expressions, for vars and for block parameters alike.

A string is a reference when it is `$name`, and an expression when it starts with `$` or is made of ints, `$names`,
`+ - * //` and parentheses (`$filters * 4`, `($c + 1) // 2`).  Expressions are read with `ast` over a whitelist of
nodes, never `eval`, and every intermediate value stays within 10**15.  Anything else that starts with `$` is refused
with what is wrong in it (a character that is not allowed, an attribute, a name that is not declared).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..errors import SpecError, brief, brief_text, listing
from .limits import MAX_EXPR_CHARS, MAX_INT, Budget

_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_EXACT = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_ARITH_CHARS = re.compile(r"[0-9+\-*/() \t]")
_EXPR = re.compile(r"^[ \t0-9$A-Za-z_+\-*/()]+$")  # what may be an expression even without a leading `$`


def is_expression(text: str) -> bool:
    """Whether a string in a spec is read as `$name` or an integer expression (else it is plain text)."""
    return "$" in text and (text.lstrip().startswith("$") or bool(_EXPR.match(text)))


def eval_int(text: str, env: Mapping[str, Any]) -> int:
    """'$filters * 4' with env {'filters': 64} -> 256.  Only ints, + - * // and parentheses; never eval().

    Raises KeyError(name) for a `$name` not in env, ValueError saying what is wrong for anything else.
    """
    if len(text) > MAX_EXPR_CHARS:
        raise ValueError(f"the expression is longer than {MAX_EXPR_CHARS} characters")
    names: list[str] = []

    def slot(m: re.Match) -> str:
        names.append(m.group(1))
        return f" v{len(names) - 1} "

    rest = _REF.sub("", text)
    bad = next((c for c in rest if not _ARITH_CHARS.match(c)), None)
    if bad is not None:
        raise ValueError(f"it is not an integer expression: {_describe(bad, text)}; use $names, ints (digits 0-9), "
                         "+ - * // and parentheses")
    import ast  # only when a spec has an expression: start-up time of every `show`

    source = _REF.sub(slot, text)
    for name in names:
        if name not in env:
            raise KeyError(name)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise ValueError("it is not a well-formed expression") from None
    return _eval_node(tree.body, [env[n] for n in names], text)


def _describe(char: str, text: str) -> str:
    import unicodedata

    if char == "." and re.search(r"\$[A-Za-z_][A-Za-z0-9_]*\.", text):
        return "'.' after a name: attributes are not allowed"
    if char == "$":
        return "'$' must be followed by a name (a letter or _, then letters, digits or _)"
    if char.isdigit():
        return f"{char!r} ({unicodedata.name(char, 'a digit')}) is not one of the digits 0-9"
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    return f"{brief(char)} ({name}) is not allowed"


def _eval_node(node: Any, slots: list, text: str) -> int:
    import ast

    if isinstance(node, ast.Constant) and type(node.value) is int:
        return _bounded(node.value, text)
    if isinstance(node, ast.Name) and node.id.startswith("v") and node.id[1:].isdigit():
        value = slots[int(node.id[1:])]
        if type(value) is not int:
            raise ValueError(f"arithmetic needs int values, got {brief(value)}")
        return _bounded(value, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_node(node.operand, slots, text)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Div):
            raise ValueError("use // for division (results are whole numbers)")
        if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
            raise ValueError("only + - * // and parentheses are allowed")
        a = _eval_node(node.left, slots, text)
        b = _eval_node(node.right, slots, text)
        if isinstance(node.op, ast.FloorDiv):
            if b == 0:
                raise ValueError("division by zero")
            return a // b
        return _bounded(a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b, text)
    raise ValueError("only ints, $names, + - * // and parentheses are allowed")


def _bounded(v: int, text: str) -> int:
    if abs(v) > MAX_INT:
        raise ValueError("a value is out of range (|v| <= 10**15)")
    return v


def substitute(value: Any, env: Mapping[str, Any], budget: Budget | None = None, *, what: str = "variable",
               path: tuple = ()) -> Any:
    """`value` with every `$name` and expression in it replaced from `env`; `value` itself is never changed.

    Parts without a `$` are shared, not copied, and a part that appears many times (a YAML alias) is looked at once,
    so this costs the size of the text as written, not of its expansion.  A `$name` whose value is a list or mapping
    is counted against `budget` before it is placed.  Errors are a SpecError whose `field` is the path inside `value`
    where the problem is (callers add the layer).
    """
    return _Substitution(env, budget, what).run(value, path)


class _Substitution:
    __slots__ = ("env", "budget", "what", "done", "added")

    def __init__(self, env: Mapping[str, Any], budget: Budget | None, what: str) -> None:
        self.env = env
        self.budget = budget
        self.what = what
        self.done: dict[int, tuple[Any, Any, int]] = {}  # id(container) -> (container, result, values it added)
        self.added = 0  # values placed by `$name` so far (each counted against the budget)

    def run(self, value: Any, path: tuple) -> Any:
        if isinstance(value, str):
            return self.text(value, path) if "$" in value and is_expression(value) else value
        if not isinstance(value, (list, tuple, dict)):
            if isinstance(value, (int, float)) or not isinstance(value, Mapping):
                return value
        hit = self.done.get(id(value))
        if hit is not None:  # an alias: its values are placed again, so they count again
            if hit[2]:
                self.charge(hit[2], "an alias", path)
            return hit[1]
        before = self.added
        if isinstance(value, (list, tuple)):
            items = [self.run(v, path + (i,)) for i, v in enumerate(value)]
            same = all(a is b for a, b in zip(items, value))
            result: Any = value if same and isinstance(value, list) else items
        else:
            pairs = {key: self.run(v, path + (key,)) for key, v in value.items()}
            result = value if isinstance(value, dict) and all(pairs[k] is v for k, v in value.items()) else pairs
        self.done[id(value)] = (value, result, self.added - before)
        return result

    def charge(self, n: int, where: str, path: tuple) -> None:
        if self.budget is not None:
            try:
                self.budget.spend(n, where)
            except SpecError as exc:
                raise exc.located(field=_dotted(path)) from None
        self.added += n

    def text(self, value: str, path: tuple) -> Any:
        exact = _EXACT.match(value)
        try:
            if exact:
                found = self.env[exact.group(1)]
                if self.budget is not None and isinstance(found, (dict, list)):
                    self.charge(self.budget.size(found), f"${exact.group(1)}", path)
                return found
            return eval_int(value, self.env)
        except KeyError as exc:
            known = listing(sorted(self.env)) or "none; declare variables under vars:"
            inside = "" if exact else f" in {brief(value)}"
            raise SpecError(f"unknown {self.what} ${brief_text(exc.args[0], 40)}{inside} (known here: {known})",
                            field=_dotted(path)) from None
        except ValueError as exc:
            raise SpecError(f"cannot evaluate {brief(value)}: {exc}", field=_dotted(path)) from None


def _dotted(path: tuple) -> str | None:
    return ".".join(str(p) for p in path) or None
