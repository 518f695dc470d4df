"""Repeated structure as plain data: named `blocks:` with arguments, and `repeat:`.

A spec may define blocks once and use them many times; both expand to plain
layers before validation (step 3 of loading, after vars), so
everything downstream sees an ordinary list of layers.  No code is executed:
a value is either `$name` (the argument as given) or a tiny integer expression
(`$filters * 4`, `($c + 1) // 2`; see exprs.py).  Every value that a use or an
iteration copies is counted against the spec's value budget (limits.Budget)
before it is copied.

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

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import SpecError, brief, brief_text, listing
from .exprs import substitute
from .limits import MAX_LAYERS, Budget
from .names import next_name

USE_KEYS = frozenset({"block", "name", "args", "inputs", "expect"})
REPEAT_KEYS = frozenset({"repeat", "name", "index", "start", "layers", "block", "args", "inputs", "expect"})
BLOCK_KEYS = frozenset({"params", "layers", "description"})

_REQUIRED = object()


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
        where = f"blocks.{brief_text(name, 40)}"
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"block names must be non-empty strings, got {brief(name)}", field="blocks")
        if not isinstance(body, Mapping):
            raise SpecError(f"block {brief(name)} must be a mapping with params and layers", field=where)
        extra = set(body) - BLOCK_KEYS
        if extra:
            raise SpecError(f"block {brief(name)} has unknown key {brief(sorted(map(str, extra))[0])}; a block has "
                            f"{', '.join(sorted(BLOCK_KEYS))}", field=where)
        layers = body.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SpecError(f"block {brief(name)} needs a non-empty list of layers", field=f"{where}.layers")
        out[name] = Block(name, _parse_params(name, body.get("params")), layers)
    return out


def _parse_params(block: str, raw: Any) -> dict[str, Any]:
    where = f"blocks.{brief_text(block, 40)}.params"
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
                raise SpecError(f"block {brief(block)}: each parameter is a name or {{name: default}}, got {brief(entry)}",
                                field=where)
    else:
        raise SpecError(f"block {brief(block)}: params is a list (e.g. [filters, {{stride: 1}}]) or a mapping of "
                        f"defaults, got {brief(raw)}", field=where)
    params: dict[str, Any] = {}
    for name, default in items:
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"block {brief(block)}: parameter names must be identifiers, got {brief(name)}", field=where)
        if name in params:
            raise SpecError(f"block {brief(block)}: parameter {brief(name)} is declared twice", field=where)
        params[name] = default
    return params


# --- expansion ------------------------------------------------------------------------------

def uses_blocks(data: Mapping[str, Any]) -> bool:
    layers = data.get("layers")
    return "blocks" in data or (isinstance(layers, list)
                                and any(isinstance(l, Mapping) and ("block" in l or "repeat" in l) for l in layers))


def expand_blocks(data: dict[str, Any], values: Mapping[str, Any] | None = None,
                  budget: Budget | None = None) -> tuple[dict[str, Any], list[str | None]]:
    """Replace block uses and repeats in `data["layers"]` by plain layers with explicit names and inputs.

    `values` are the spec's variables (vars: and set_vars), visible in every block body; they are substituted in
    every layer.  -> (the new data, for each layer the use or repeat it came from, None for a layer written out).
    """
    data = dict(data)
    blocks = parse_blocks(data.pop("blocks", None))
    layers = data.get("layers")
    if not isinstance(layers, list):
        return data, []  # validation reports the missing or malformed layers
    expander = _Expander(blocks, dict(values or {}), budget or Budget())
    out, _ = expander.scope(layers, prefix="", inputs=["input"], env=dict(values or {}), top=True, stack=())
    return {**data, "layers": out}, expander.origins


class _Expander:
    def __init__(self, blocks: dict[str, Block], variables: dict[str, Any], budget: Budget) -> None:
        self.blocks = blocks
        self.vars = variables
        self.budget = budget
        self.origins: list[str | None] = []  # for each layer produced so far: the use or repeat it came from

    # one list of layers sharing a namespace: the spec's layers, a block body, a repeat body
    def scope(self, items: Any, *, prefix: str, inputs: list[str], env: dict, top: bool, stack: tuple,
              context: str = "", charged: bool = False) -> tuple[list, str]:
        """-> (plain layers, full name of the last one).  `charged`: the items' own values are already counted
        against the budget (a repeat counts all its iterations before the first)."""
        if not isinstance(items, list) or not items:
            raise SpecError(f"{context}: needs a non-empty list of layers, got {brief(items)}", field="layers")
        explicit = {it["name"] for it in items if isinstance(it, Mapping) and isinstance(it.get("name"), str)}
        taken = set(explicit)
        counters: dict[str, int] = {}
        local: dict[str, str] = {}  # local name -> full name of its output
        scopes: set[str] = set()  # local names that are uses or iterations (refs may go inside: use/layer)
        solo = prefix[:-1] if (not top and len(items) == 1 and isinstance(items[0], Mapping)
                               and _kind(items[0]) == "layer" and items[0].get("name") is None) else None
        out: list = []
        previous = list(inputs)
        origin = context or None

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
                    resolved.append(ref)  # the graph check names a dangling or later reference
                elif ref in explicit:
                    raise self.fail(f"{context}, layer {brief(who)}: inputs names {brief(ref)}, which comes later in the "
                                    "block; a layer may only take inputs from layers above it", prefix + who, "inputs",
                                    origin)
                else:
                    known = sorted(local) + ["input"]
                    match = difflib.get_close_matches(ref, known, n=1)
                    hint = f" (did you mean '{match[0]}'?)" if match else ""
                    raise self.fail(f"{context}, layer {brief(who)}: inputs names {brief(ref)}, which is neither a layer "
                                    f"of the block nor 'input'{hint}; known here: {listing(known)}", prefix + who,
                                    "inputs", origin)
            return resolved

        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                if top:
                    out.append(item)  # validation says a layer must be a mapping
                    self.origins.append(None)
                    continue
                raise SpecError(f"{context}: each layer must be a mapping of fields, got {brief(item)}", field="layers")
            kind = _kind(item)
            if kind == "layer":
                raw_name = item.get("name")
                full_raw = solo if solo is not None else prefix + raw_name if isinstance(raw_name, str) else raw_name
                layer = dict(self.subst(item, env, top, full_raw, origin, charge=not (top or charged)))
                name = layer.get("name")
                if name is None:
                    kind_name = layer.get("type")
                    name = next_name(kind_name if isinstance(kind_name, str) else "layer", counters, taken)
                full = solo if solo is not None else (prefix + name if isinstance(name, str) else name)
                refs = layer.get("inputs")
                layer["inputs"] = previous if refs is None else resolve(refs, str(name), k)
                layer = {"name": full, **{key: v for key, v in layer.items() if key != "name"}}
                out.append(layer)
                self.origins.append(origin)
                if len(self.origins) > MAX_LAYERS:
                    raise SpecError(f"the expansion gives more than {MAX_LAYERS:,} layers (reached in "
                                    f"{context or 'layers'}); check the repeat counts", field="layers")
                if isinstance(name, str):
                    local[name] = full
                    previous = [full]
                continue
            raw = item.get("name")
            head = {key: v for key, v in item.items() if key not in ("layers", "args")}
            head = dict(self.subst(head, env, top, prefix + raw if isinstance(raw, str) else raw, origin))
            used = head.get("block")
            default = used if isinstance(used, str) else "repeat"
            name = head.get("name")
            if name is None:
                name = next_name(default, counters, taken)
            if not isinstance(name, str) or not name.strip():
                raise self.fail(f"the name of a {kind} must be a non-empty string, got {brief(name)}", name, "name",
                                origin)
            ins = previous if head.get("inputs") is None else resolve(head["inputs"], name, k)
            what = "use" if kind == "block" else "repeat"
            where = f"{context + ', ' if context else ''}{what} {brief(prefix + name)}"
            if not isinstance(ins, list) or not all(isinstance(i, str) for i in ins):
                raise self.fail(f"{where}: inputs must be a layer name or a list of names, got "
                                f"{brief(head['inputs'])}", prefix + name, "inputs", origin)
            _check_keys(item, USE_KEYS if kind == "block" else REPEAT_KEYS, f"a {'block use' if kind == 'block' else 'repeat'}",
                        name)
            if kind == "block":
                args = self.subst(item.get("args", {}), env, top, prefix + name, origin, charge=not charged,
                                  path=("args",))
                layers, last = self.use(head["block"], args, name, prefix, ins, stack, where, origin)
                iter_names: list[tuple[str, str]] = []
            else:
                layers, last, iter_names = self.repeat(item, head, name, prefix, ins, env, stack, where, origin)
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

    def use(self, block_name: Any, args: Any, name: str, prefix: str, inputs: list, stack: tuple, where: str,
            origin: str | None, charged: bool = False) -> tuple[list, str]:
        full = prefix + name
        if not isinstance(block_name, str) or block_name not in self.blocks:
            known = listing(sorted(self.blocks)) or "none (define them under blocks:)"
            match = difflib.get_close_matches(str(block_name), list(self.blocks), n=1)
            hint = f" (did you mean '{match[0]}'?)" if match else ""
            raise self.fail(f"{where}: unknown block {brief(block_name)}{hint}; defined blocks: {known}", full,
                            "block", origin)
        if block_name in stack:
            chain = " -> ".join(list(stack[stack.index(block_name):]) + [block_name])
            raise self.fail(f"{where}: block {brief(block_name)} uses itself ({brief_text(chain, 200)}); blocks may not recurse",
                            full, "block", origin)
        block = self.blocks[block_name]
        if not isinstance(args, Mapping):
            raise self.fail(f"{where}: args must be a mapping of parameter names to values, got {brief(args)}",
                            full, "args", origin)
        for arg in args:
            if arg not in block.params:
                params = listing(block.params) or "none"
                match = difflib.get_close_matches(str(arg), list(block.params), n=1)
                hint = f" (did you mean '{match[0]}'?)" if match else ""
                raise self.fail(f"{where}: block {brief(block_name)} has no parameter {brief(arg)}{hint}; its "
                                f"parameters: {params}", full, f"args.{brief_text(arg)}", origin)
        env = dict(self.vars)
        for param, default in block.params.items():
            if param in args:
                env[param] = args[param]
            elif default is _REQUIRED:
                raise self.fail(f"{where}: missing argument {brief(param)} of block {brief(block_name)} (its parameters: "
                                f"{listing(block.params)})", full, "args", origin)
            else:
                env[param] = default
        return self.scope(block.layers, prefix=f"{full}/", inputs=inputs, env=env, top=False,
                          stack=stack + (block_name,), context=f"block {brief(block_name, 40)} (used as {brief(full, 60)})",
                          charged=charged)

    def repeat(self, item: Mapping, head: dict, name: str, prefix: str, inputs: list, env: dict, stack: tuple,
               where: str, origin: str | None) -> tuple[list, str, list]:
        full = prefix + name
        times, start, index = head.get("repeat"), head.get("start", 1), head.get("index")
        if type(times) is not int or times < 1:
            raise self.fail(f"{where}: repeat must be a positive int (how many times), got {brief(times)}", full,
                            "repeat", origin)
        if type(start) is not int:
            raise self.fail(f"{where}: start must be an int, got {brief(start)}", full, "start", origin)
        if index is not None and (not isinstance(index, str) or not index.isidentifier()):
            raise self.fail(f"{where}: index must be a variable name such as i, got {brief(index)}", full, "index",
                            origin)
        inline, block = item.get("layers"), head.get("block")
        if (inline is None) == (block is None):
            raise self.fail(f"{where}: a repeat needs either layers: [...] or block: NAME (one of them)", full,
                            "repeat", origin)
        if times > MAX_LAYERS:
            raise self.fail(f"{where}: the expansion gives more than {MAX_LAYERS:,} layers (repeat {times:,}); check "
                            "the repeat counts", full, "repeat", origin)
        body = inline if inline is not None else getattr(self.blocks.get(block), "layers", []) \
            if isinstance(block, str) else []
        per_iteration = self.budget.size(item.get("args", {})) + self.budget.size(body)
        try:
            self.budget.spend(times * per_iteration, where)  # every iteration, before the first is copied
        except SpecError as exc:
            raise exc.in_layer(len(self.origins), full, origin) from None
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
                                          stack=stack, context=f"repeat {brief(prefix + iname, 60)}", charged=True)
            else:
                args = self.subst(item.get("args", {}), env_i, False, prefix + iname, origin, charge=False,
                                  path=("args",))
                layers, last = self.use(block, args, iname, prefix, ins, stack, where, origin, charged=True)
            out.extend(layers)
            iter_names.append((iname, last))
        return out, last, iter_names

    def subst(self, value: Any, env: Mapping[str, Any], top: bool, name: Any, origin: str | None, *,
              charge: bool = True, path: tuple = ()) -> Any:
        """`value` with `$names` and expressions replaced, counted against the budget before it is copied; an
        error names the layer this value becomes (its index in the expanded net, its name, where it came from)."""
        try:
            if charge:
                self.budget.charge(value, origin or "layers")
            return substitute(value, env, self.budget, what="variable" if top else "name", path=path)
        except SpecError as exc:
            raise exc.in_layer(len(self.origins), name, origin) from None

    def fail(self, message: str, name: Any, field: str, origin: str | None) -> SpecError:
        """An error about the use, repeat or layer that would be the next layer of the expanded net."""
        return SpecError(message, layer_index=len(self.origins), layer_name=name, field=field, origin=origin)


def _kind(item: Mapping) -> str:
    if "repeat" in item:
        return "repeat"
    if "block" in item:
        if "type" in item:
            raise SpecError(f"a layer has both type and block ({brief(item.get('type'))}, {brief(item.get('block'))}); "
                            "a block use has no type", field="block")
        return "block"
    return "layer"


def _check_keys(item: Mapping, allowed: frozenset, what: str, name: str) -> None:
    extra = [str(key) for key in item if key not in allowed]
    if extra:
        match = difflib.get_close_matches(extra[0], sorted(allowed), n=1)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        raise SpecError(f"{what} {brief(name)} has unknown key {brief(extra[0])}{hint}; valid keys: "
                        f"{', '.join(sorted(allowed))}", field=brief_text(extra[0]))
