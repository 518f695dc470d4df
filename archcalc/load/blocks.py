"""Repeated structure as plain data: named `blocks:` with arguments, and `repeat:`.

A spec may define blocks once and use them many times; both expand to plain
layers before validation (`expand.expand_spec` calls `expand_blocks`), so
everything downstream sees an ordinary list of layers.  No code is executed:
a value is either `$name` (the argument as given) or a tiny integer expression
(`$filters * 4`, `($c + 1) // 2`) read with `ast` over a whitelist of nodes.

    blocks:
      bottleneck:
        params: [filters, {stride: 1}]        # a name is required; {name: default} is optional
        layers:
          - {type: conv, name: conv1, filters: $filters, kernel: 1}
          - {type: conv, name: conv2, filters: $filters, kernel: 3, stride: $stride, padding: 1}
          - {type: add, name: add, inputs: [conv2, input]}   # `input`: what the block was given
    layers:
      - {block: bottleneck, name: res2a, args: {filters: 64}}       # layers res2a/conv1, res2a/conv2, res2a/add
      - {repeat: 3, name: res3, block: bottleneck, args: {filters: 128}}   # res3.1/..., res3.2/..., res3.3/...
      - {repeat: 11, name: conv, start: 2, layers: [{type: conv, filters: 192, kernel: 3, padding: 1}]}  # conv2..conv12

Names: a layer in a block is named `<use>/<layer>`; iteration i of a repeat
named `r` is `r<i>` (`r.<i>` when `r` ends in a digit: res3 -> res3.1); a body
of one unnamed layer takes the use's own name.  References: inside a block,
`inputs` may name the block's own layers, `input` (the block's input: the layer
before the use, or the use's `inputs`) and nested uses (their last layer).  At
any level, naming a use or a repeat means its last layer; `expect` on a use or
repeat applies to that last layer.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import SpecError

MAX_LAYERS = 200_000
MAX_EXPR_CHARS = 200
MAX_INT = 10**15

USE_KEYS = frozenset({"block", "name", "args", "inputs", "expect"})
REPEAT_KEYS = frozenset({"repeat", "name", "index", "start", "layers", "block", "args", "inputs", "expect"})
BLOCK_KEYS = frozenset({"params", "layers", "description"})

_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_EXACT = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_ARITH_CHARS = re.compile(r"^[0-9+\-*/() \t]*$")
_REQUIRED = object()


# --- the safe integer evaluator ------------------------------------------------------------

def eval_int(text: str, env: Mapping[str, Any]) -> int:
    """'$filters * 4' with env {'filters': 64} -> 256.  Only ints, + - * // and parentheses; never eval()."""
    if len(text) > MAX_EXPR_CHARS:
        raise ValueError(f"expression longer than {MAX_EXPR_CHARS} characters")
    names: list[str] = []

    def slot(m: re.Match) -> str:
        names.append(m.group(1))
        return f" v{len(names) - 1} "

    rest = _REF.sub("", text)
    if not _ARITH_CHARS.match(rest):
        raise ValueError(f"{text!r} is not an integer expression: use $names, ints, + - * // and parentheses")
    source = _REF.sub(slot, text)
    for name in names:
        if name not in env:
            raise KeyError(name)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"{text!r} is not a well-formed expression") from None
    return _eval_node(tree.body, [env[n] for n in names], text)


def _eval_node(node: ast.AST, slots: list, text: str) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return _bounded(node.value, text)
    if isinstance(node, ast.Name) and node.id.startswith("v") and node.id[1:].isdigit():
        value = slots[int(node.id[1:])]
        if type(value) is not int:
            raise ValueError(f"{text!r}: arithmetic needs int values, got {value!r}")
        return _bounded(value, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_node(node.operand, slots, text)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Div):
            raise ValueError(f"{text!r}: use // for division (results are whole numbers)")
        if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
            raise ValueError(f"{text!r}: only + - * // and parentheses are allowed")
        a = _eval_node(node.left, slots, text)
        b = _eval_node(node.right, slots, text)
        if isinstance(node.op, ast.FloorDiv):
            if b == 0:
                raise ValueError(f"{text!r}: division by zero")
            return a // b
        return _bounded(a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b, text)
    raise ValueError(f"{text!r}: only ints, $names, + - * // and parentheses are allowed")


def _bounded(v: int, text: str) -> int:
    if abs(v) > MAX_INT:
        raise ValueError(f"{text!r}: value {v} is out of range (|v| <= 10**15)")
    return v


# --- definitions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    name: str
    params: dict[str, Any]  # name -> default, or _REQUIRED
    layers: list


def parse_blocks(raw: Any) -> dict[str, Block]:
    """`blocks:` mapping -> {name: Block}; every error names the block."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError("blocks must be a mapping of block names to {params, layers}", field="blocks")
    out = {}
    for name, body in raw.items():
        where = f"blocks.{name}"
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"block names must be non-empty strings, got {name!r}", field="blocks")
        if not isinstance(body, Mapping):
            raise SpecError(f"block '{name}' must be a mapping with params and layers", field=where)
        extra = set(body) - BLOCK_KEYS
        if extra:
            raise SpecError(f"block '{name}' has unknown key '{sorted(map(str, extra))[0]}'; a block has "
                            f"{', '.join(sorted(BLOCK_KEYS))}", field=where)
        layers = body.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SpecError(f"block '{name}' needs a non-empty list of layers", field=f"{where}.layers")
        out[name] = Block(name, _parse_params(name, body.get("params")), layers)
    return out


def _parse_params(block: str, raw: Any) -> dict[str, Any]:
    where = f"blocks.{block}.params"
    if raw is None:
        return {}
    items: list[tuple[Any, Any]] = []
    if isinstance(raw, Mapping):
        items = list(raw.items())
    elif isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, str):
                items.append((entry, _REQUIRED))
            elif isinstance(entry, Mapping) and len(entry) == 1:
                items.extend(entry.items())
            else:
                raise SpecError(f"block '{block}': each parameter is a name or {{name: default}}, got {entry!r}",
                                field=where)
    else:
        raise SpecError(f"block '{block}': params is a list (e.g. [filters, {{stride: 1}}]) or a mapping of "
                        f"defaults, got {raw!r}", field=where)
    params: dict[str, Any] = {}
    for name, default in items:
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"block '{block}': parameter names must be identifiers, got {name!r}", field=where)
        if name in params:
            raise SpecError(f"block '{block}': parameter '{name}' is declared twice", field=where)
        params[name] = default
    return params


# --- expansion ------------------------------------------------------------------------------

def uses_blocks(data: Mapping[str, Any]) -> bool:
    layers = data.get("layers")
    return "blocks" in data or (isinstance(layers, list)
                                and any(isinstance(l, Mapping) and ("block" in l or "repeat" in l) for l in layers))


def expand_blocks(data: dict[str, Any], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Replace block uses and repeats in `data["layers"]` by plain layers with explicit names and inputs.

    `values` are the spec's variables (vars: and --set), visible in every block body.
    A spec without `blocks:` or any use is returned unchanged.
    """
    if not uses_blocks(data):
        return data
    data = dict(data)
    blocks = parse_blocks(data.pop("blocks", None))
    layers = data.get("layers")
    if not isinstance(layers, list):
        return data  # validation reports the missing or malformed layers
    expander = _Expander(blocks, dict(values or {}))
    out, _ = expander.scope(layers, prefix="", inputs=["input"], env=dict(values or {}), top=True, stack=())
    return {**data, "layers": out}


class _Expander:
    def __init__(self, blocks: dict[str, Block], variables: dict[str, Any]) -> None:
        self.blocks = blocks
        self.vars = variables
        self.count = 0

    # one list of layers sharing a namespace: the spec's layers, a block body, a repeat body
    def scope(self, items: Any, *, prefix: str, inputs: list[str], env: dict, top: bool, stack: tuple,
              context: str = "") -> tuple[list, str]:
        """-> (plain layers, full name of the last one)."""
        if not isinstance(items, list) or not items:
            raise SpecError(f"{context}: needs a non-empty list of layers", field="layers")
        explicit = {it["name"] for it in items if isinstance(it, Mapping) and isinstance(it.get("name"), str)}
        taken = set(explicit)
        counters: dict[str, int] = {}
        local: dict[str, str] = {}  # local name -> full name of its output
        scopes: set[str] = set()  # local names that are uses or iterations (refs may go inside: use/layer)
        solo = prefix[:-1] if (not top and len(items) == 1 and isinstance(items[0], Mapping)
                               and _kind(items[0]) == "layer" and items[0].get("name") is None) else None
        out: list = []
        previous = list(inputs)

        def auto(base: str) -> str:
            base = base if base.isidentifier() else "layer"
            n = counters.get(base, 0)
            while True:
                n += 1
                name = f"{base}{n}"
                if name not in taken:
                    counters[base] = n
                    taken.add(name)
                    return name

        def resolve(refs: Any, who: str, k: int) -> list:
            if isinstance(refs, str):
                refs = [refs]
            if not isinstance(refs, list) or not refs:
                return refs  # let validation name the problem
            resolved = []
            for ref in refs:
                if not isinstance(ref, str):
                    resolved.append(ref)
                elif ref == "input":
                    resolved.extend(inputs)
                elif ref in local:
                    resolved.append(local[ref])
                elif "/" in ref and ref.split("/", 1)[0] in scopes:
                    resolved.append(prefix + ref)
                elif top:
                    resolved.append(ref)  # check_graph names a dangling or later reference
                elif ref in explicit:
                    raise self._error(f"{context}, layer '{who}': inputs names '{ref}', which comes later in the "
                                      "block; a layer may only take inputs from layers above it", k, who, "inputs")
                else:
                    known = sorted(local) + ["input"]
                    match = difflib.get_close_matches(ref, known, n=1)
                    hint = f" (did you mean '{match[0]}'?)" if match else ""
                    raise self._error(f"{context}, layer '{who}': inputs names '{ref}', which is neither a layer "
                                      f"of the block nor 'input'{hint}; known here: {', '.join(known)}", k, who, "inputs")
            return resolved

        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                if top:
                    out.append(item)  # validation says a layer must be a mapping
                    continue
                raise SpecError(f"{context}: each layer must be a mapping of fields, got {item!r}", field="layers")
            kind = _kind(item)
            if kind == "layer":
                layer = dict(item) if top else self.subst(item, env, f"{context}, layer {k}")
                name = layer.get("name")
                if name is None:
                    name = auto(layer.get("type") if isinstance(layer.get("type"), str) else "layer")
                full = solo if solo is not None else (prefix + name if isinstance(name, str) else name)
                refs = layer.get("inputs")
                layer["inputs"] = previous if refs is None else resolve(refs, str(name), k)
                layer = {"name": full, **{key: v for key, v in layer.items() if key != "name"}}
                out.append(layer)
                self._count(context or "layers")
                if isinstance(name, str):
                    local[name] = full
                    previous = [full]
                continue
            head = {key: v for key, v in item.items() if key not in ("layers", "args")}
            head = self.subst(head, env, f"{context or 'layers'}[{k}]")
            default = head.get("block") if isinstance(head.get("block"), str) else "repeat"
            name = head.get("name")
            if name is None:
                name = auto(default)
            if not isinstance(name, str) or not name.strip():
                raise self._error(f"the name of a {kind} must be a non-empty string, got {name!r}", k, None, "name")
            ins = previous if head.get("inputs") is None else resolve(head["inputs"], name, k)
            what = "use" if kind == "block" else "repeat"
            where = f"{context + ', ' if context else ''}{what} '{prefix}{name}'"
            if not isinstance(ins, list) or not all(isinstance(i, str) for i in ins):
                raise self._error(f"{where}: inputs must be a layer name or a list of names, got {head['inputs']!r}",
                                  k, name, "inputs")
            if kind == "block":
                _check_keys(item, USE_KEYS, "a block use", name, self, k)
                args = self.subst(item.get("args", {}), env, where)
                layers, last = self.use(head["block"], args, name, prefix, ins, stack, k, where)
                iter_names: list[tuple[str, str]] = []
            else:
                _check_keys(item, REPEAT_KEYS, "a repeat", name, self, k)
                layers, last, iter_names = self.repeat(item, head, name, prefix, ins, env, stack, k, where)
            if "expect" in head and layers:
                layers[-1] = {**layers[-1], "expect": head["expect"]}
            out.extend(layers)
            local[name] = last
            scopes.add(name)
            for iname, ilast in iter_names:
                local.setdefault(iname, ilast)
                scopes.add(iname)
            previous = [last]
        last_name = out[-1]["name"] if out and isinstance(out[-1], Mapping) else None
        return out, last_name  # type: ignore[return-value]

    def use(self, block_name: Any, args: Any, name: str, prefix: str, inputs: list, stack: tuple, k: int,
            where: str) -> tuple[list, str]:
        if not isinstance(block_name, str) or block_name not in self.blocks:
            known = ", ".join(sorted(self.blocks)) or "none (define them under blocks:)"
            match = difflib.get_close_matches(str(block_name), list(self.blocks), n=1)
            hint = f" (did you mean '{match[0]}'?)" if match else ""
            raise self._error(f"{where}: unknown block '{block_name}'{hint}; defined blocks: {known}", k, name, "block")
        if block_name in stack:
            chain = " -> ".join(list(stack[stack.index(block_name):]) + [block_name])
            raise self._error(f"{where}: block '{block_name}' uses itself ({chain}); blocks may not recurse",
                              k, name, "block")
        block = self.blocks[block_name]
        if not isinstance(args, Mapping):
            raise self._error(f"{where}: args must be a mapping of parameter names to values, got {args!r}",
                              k, name, "args")
        for arg in args:
            if arg not in block.params:
                params = ", ".join(block.params) or "none"
                match = difflib.get_close_matches(str(arg), list(block.params), n=1)
                hint = f" (did you mean '{match[0]}'?)" if match else ""
                raise self._error(f"{where}: block '{block_name}' has no parameter '{arg}'{hint}; its parameters: "
                                  f"{params}", k, name, f"args.{arg}")
        env = dict(self.vars)
        for param, default in block.params.items():
            if param in args:
                env[param] = args[param]
            elif default is _REQUIRED:
                raise self._error(f"{where}: missing argument '{param}' of block '{block_name}' (its parameters: "
                                  f"{', '.join(block.params)})", k, name, "args")
            else:
                env[param] = default
        return self.scope(block.layers, prefix=f"{prefix}{name}/", inputs=inputs, env=env, top=False,
                          stack=stack + (block_name,), context=f"block '{block_name}' (used as '{prefix}{name}')")

    def repeat(self, item: Mapping, head: dict, name: str, prefix: str, inputs: list, env: dict, stack: tuple,
               k: int, where: str) -> tuple[list, str, list]:
        times, start, index = head.get("repeat"), head.get("start", 1), head.get("index")
        if type(times) is not int or times < 1:
            raise self._error(f"{where}: repeat must be a positive int (how many times), got {times!r}", k, name,
                              "repeat")
        if type(start) is not int:
            raise self._error(f"{where}: start must be an int, got {start!r}", k, name, "start")
        if index is not None and (not isinstance(index, str) or not index.isidentifier()):
            raise self._error(f"{where}: index must be a variable name such as i, got {index!r}", k, name, "index")
        inline, block = item.get("layers"), head.get("block")
        if (inline is None) == (block is None):
            raise self._error(f"{where}: a repeat needs either layers: [...] or block: NAME (one of them)", k, name,
                              "repeat")
        out: list = []
        iter_names = []
        last = inputs[-1] if inputs else "input"
        sep = "." if name[-1].isdigit() else ""
        for i in range(start, start + times):
            iname = f"{name}{sep}{i}"
            env_i = {**env, index: i} if index else env
            ins = inputs if i == start else [last]
            if inline is not None:
                layers, last = self.scope(inline, prefix=f"{prefix}{iname}/", inputs=ins, env=env_i, top=False,
                                          stack=stack, context=f"repeat '{prefix}{iname}'")
            else:
                args = self.subst(item.get("args", {}), env_i, where)
                layers, last = self.use(block, args, iname, prefix, ins, stack, k, where)
            out.extend(layers)
            iter_names.append((iname, last))
        return out, last, iter_names

    def subst(self, value: Any, env: Mapping[str, Any], where: str) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            m = _EXACT.match(value)
            try:
                if m:
                    return env[m.group(1)]
                return eval_int(value, env)
            except KeyError as exc:
                known = ", ".join(sorted(env)) or "none"
                raise SpecError(f"{where}: unknown name ${exc.args[0]} (known here: {known})", field="args") from None
            except ValueError as exc:
                raise SpecError(f"{where}: {exc}", field="args") from None
        if isinstance(value, Mapping):
            return {key: self.subst(v, env, where) for key, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.subst(v, env, where) for v in value]
        return value

    def _count(self, where: str) -> None:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise SpecError(f"the expansion gives more than {MAX_LAYERS:,} layers (reached in {where}); "
                            "check the repeat counts", field="layers")

    @staticmethod
    def _error(message: str, k: int, name: str | None, field: str) -> SpecError:
        return SpecError(message, field=field)


def _kind(item: Mapping) -> str:
    if "repeat" in item:
        return "repeat"
    if "block" in item:
        if "type" in item:
            raise SpecError(f"a layer has both type and block ({item.get('type')!r}, {item.get('block')!r}); "
                            "a block use has no type", field="block")
        return "block"
    return "layer"


def _check_keys(item: Mapping, allowed: frozenset, what: str, name: str, expander: _Expander, k: int) -> None:
    extra = [str(key) for key in item if key not in allowed]
    if extra:
        match = difflib.get_close_matches(extra[0], sorted(allowed), n=1)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        raise SpecError(f"{what} '{name}' has unknown key '{extra[0]}'{hint}; valid keys: {', '.join(sorted(allowed))}",
                        field=extra[0])


def expanded_data(source: Any, *, set_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A spec file (or mapping) with vars, blocks and repeats expanded and every layer named and wired: plain data
    that `load_spec` reads back into the same net (what `archcalc show --expand` prints)."""
    from .expand import expand_spec
    from .io import read_data
    from .spec import assign_names

    file = None
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        file = str(source)
        data = read_data(source)
    if not isinstance(data, Mapping):
        raise SpecError("a spec must be a mapping with input and layers", file=file)
    try:
        data = expand_spec(dict(data), set_vars=set_vars)
    except SpecError as exc:
        raise exc.with_file(file) from None
    layers = data.get("layers")
    if isinstance(layers, list):
        data = {**data, "layers": [{**l, "inputs": list(l["inputs"])} if isinstance(l, dict) else l
                                   for l in assign_names(layers)]}
    return data
