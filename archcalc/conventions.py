"""What each counting tool counts, as data; batch scaling and training memory, defined once.

Tools disagree on what they count.  Each `Convention` turns the analysis rows into
the number one tool prints, as a sum of named terms: for every layer kind a tuple of
`Term`s (what the tool counts for that kind), and for every activation function
another (what it counts for the activation, fused into conv/dense or on its own).
Every term is an exact int computed from a row: ``row.type``, ``row.input_shapes``,
``row.output_shape``, ``row.layer`` (the validated layer), ``row.macs``,
``row.bias_adds`` and ``row.params``.

- macs          multiply-accumulates of conv, conv_transpose and dense (the default)
- flops         2 x MACs (one multiply and one add each)
- torchinfo     torchinfo 1.8.0's "Total mult-adds"
- fvcore        fvcore 0.1.5's FlopCountAnalysis(...).total()
- ptflops       ptflops 0.7.5, pytorch backend, module hooks only
- ptflops-aten  ptflops 0.7.5, aten backend
- thop          thop 0.1.1 (post2209072238), profile()

Each tool is reproduced on the net's PyTorch twin written with one module per layer
(nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d(1) for a global
average pool, nn.Linear, nn.Softmax, nn.LocalResponseNorm, ...; add and multiply as the
operators `+` and `*`; a per-position bias as its own module with a parameter named
`bias`; layer norm as nn.LayerNorm on the channels-last map; the layer scale as a module
with parameters `weight` (and `bias`)).  The rules come from the tools' sources: torchinfo
`layer_info.py` (calculate_macs), fvcore `flop_count.py` and `jit_handles.py`, ptflops
`pytorch_ops.py` and `aten_ops.py`, thop `profile.py` and `vision/basic_hooks.py`.

`costing(report, convention, batch, training)` gives the compute and memory of a
forward pass (or a training step) for a batch, with the assumptions spelt out, and
`largest_batch` inverts it for `archcalc fit`.  Everything stays an exact int.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Iterable, Mapping

from .errors import ArchcalcError, brief

BYTES_PER_ELEMENT = 4

Row = Any  # an analysis LayerRow (duck-typed: conventions never import the analysis)


# --- quantities read off one row ---------------------------------------------------------

def _in_elements(row: Row) -> int:
    return prod(row.input_shapes[0])


def _out_elements(row: Row) -> int:
    return prod(row.output_shape)


def _channels(row: Row) -> int:
    return int(row.output_shape[-1])


def _macs(row: Row) -> int:
    return int(row.macs)


def _bias_adds(row: Row) -> int:
    return int(row.bias_adds)


def _module_bias_adds(row: Row) -> int:
    """Bias adds of a bias held by the conv module itself (a per-position bias is a module of its own)."""
    return int(row.bias_adds) if getattr(row.layer, "bias", False) is True else 0


def _trainable(row: Row) -> int:
    """torchinfo counts each parameter named weight or bias once per layer: gamma, beta, scale, embedding table."""
    return int(row.trainable_params)


def _per_axis(value: Any, rank: int) -> tuple[int, ...]:
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _weight_elements(row: Row) -> int:
    """prod(kernel) * C_in * filters / groups: the elements of a conv or conv_transpose weight."""
    layer, shape = row.layer, row.input_shapes[0]
    kernel = _per_axis(layer.kernel, len(shape) - 1)
    return prod(kernel) * shape[-1] * layer.filters // getattr(layer, "groups", 1)


def _per_output_excess(row: Row) -> int:
    """A transposed conv's weight counted once per OUTPUT position, beyond the MACs (once per input position)."""
    return _weight_elements(row) * prod(row.output_shape[:-1]) - int(row.macs)


def _softmax_thop(row: Row) -> int:
    """thop's nn.Softmax: per position, exp and divide per class and (classes - 1) adds."""
    c = _channels(row)
    return _out_elements(row) // c * (3 * c - 1)


def _adaptive_avg_thop(row: Row) -> int:
    """thop's nn.AdaptiveAvgPool: (prod(in/out per axis, as float64) + 1) per output element, truncated."""
    spatial_in, spatial_out = row.input_shapes[0][:-1], row.output_shape[:-1] or (1,) * (len(row.input_shapes[0]) - 1)
    kernel = 1.0
    for n, o in zip(spatial_in, spatial_out):
        kernel *= n / o
    return int((kernel + 1) * _out_elements(row))


def _lrn_ptflops_functional(row: Row) -> int:
    """F.local_response_norm's patched calls: x.mul(x), avg_pool3d over C + size - 1 padded planes, .mul(alpha), .add(k)."""
    c, positions = _channels(row), _out_elements(row) // _channels(row)
    return 3 * _out_elements(row) + (c + row.layer.size - 1) * positions


def _rank(row: Row) -> int:
    return len(row.input_shapes[0]) - 1


def _if_rank(rank: int, of: Callable[[Row], int]) -> Callable[[Row], int]:
    """fvcore handles some ops in 2-D only (aten::adaptive_avg_pool2d, aten::upsample_nearest2d): 0 elsewhere."""
    return lambda row: of(row) if _rank(row) == rank else 0


def _upsample(by_mode: Mapping[tuple[str, int], int]) -> Callable[[Row], int]:
    """Per output element, by (mode, spatial rank); modes or ranks not listed count 0."""
    return lambda row: by_mode.get((row.layer.mode, _rank(row)), 0) * _out_elements(row)


# --- terms and conventions -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Term:
    """One named part of a tool's total: `key` in JSON; `factor` x `of(row)` its value; `what` names `of`."""

    key: str
    what: str  # what `of` counts, plural: "batchnorm elements"
    of: Callable[[Row], int]
    factor: int = 1

    def value(self, row: Row) -> int:
        return self.factor * self.of(row)

    def words(self, base: int) -> str:
        """'2 x 11,113,984 batchnorm elements' or '1,000 bias adds'."""
        return f"{base:,} {self.what}" if self.factor == 1 else f"{self.factor} x {base:,} {self.what}"


Rules = Mapping[str, tuple[Term, ...]]


@dataclass(frozen=True, slots=True)
class Convention:
    name: str
    label: str  # the column heading: MACs, Mult-Adds, FLOPs
    counts: str  # what one unit is, for the README and `--format json`
    kinds: Rules  # layer type -> what the tool counts for it
    activations: Rules  # activation function -> what the tool counts for it (fused or standalone)
    note: str = ""  # where the tool counts something twice or ignores an operator

    @property
    def heading(self) -> str:
        """'MACs', 'FLOPs', 'Mult-Adds (torchinfo)', 'MACs (thop)'."""
        return self.label if self.name in ("macs", "flops") else f"{self.label} ({self.name})"

    def _row_terms(self, row: Row) -> tuple[Term, ...]:
        try:
            terms = self.kinds[row.type]
        except KeyError:
            raise NotImplementedError(f"convention {self.name} has no rule for layer kind {row.type!r} "
                                      "(this is a bug: every kind needs an entry in conventions.py)") from None
        function = _activation_of(row)
        return terms + self.activations[function] if function is not None else terms

    def row_terms(self, row: Row) -> dict[str, int]:
        """The convention's terms for one analysis row (only the terms that apply to its kind)."""
        out: dict[str, int] = {}
        for term in self._row_terms(row):
            out[term.key] = out.get(term.key, 0) + term.value(row)
        return out

    def count(self, item: Any) -> int:
        """The convention's number for a Report (sum over its rows) or for one LayerRow."""
        rows = getattr(item, "rows", None)
        return sum(self.terms(rows).values()) if rows is not None else sum(self.row_terms(item).values())

    def terms(self, rows: Iterable[Row]) -> dict[str, int]:
        """The convention's terms summed over `rows`, every term of the convention present (0 if unused)."""
        return {key: self.factors[key] * base for key, base in self.bases(rows).items()}

    def bases(self, rows: Iterable[Row]) -> dict[str, int]:
        """Per term, what it counts before its factor (the batchnorm elements, not 2 x them)."""
        out = {key: 0 for key in self.factors}
        for row in rows:
            for term in self._row_terms(row):
                out[term.key] += term.of(row)
        return out

    @property
    def factors(self) -> dict[str, int]:
        return {key: t.factor for key, t in self.term_by_key.items()}

    @property
    def term_by_key(self) -> dict[str, Term]:
        """key -> the first Term with that key, in table order (one key has one factor and meaning)."""
        out: dict[str, Term] = {}
        for table in (self.kinds, self.activations):
            for terms in table.values():
                for t in terms:
                    out.setdefault(t.key, t)
        return out


def _activation_of(row: Row) -> str | None:
    layer = row.layer
    function = getattr(layer, "function", None) if row.type == "activation" else getattr(layer, "activation", None)
    if function in (None, "linear"):
        return None
    return "silu" if function == "swish" else str(function)


NONE: tuple[Term, ...] = ()
#: Layer kinds that no tool counts: reshapes, copies, joins (add and multiply are the operators + and *).
_FREE = ("flatten", "dropout", "add", "concat", "multiply", "pad", "crop", "slice", "channel_shuffle")
#: Every activation function archcalc knows (issue 11 adds the last five).
ACTIVATION_FUNCTIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax",
                        "relu6", "hardsigmoid", "hardswish", "silu", "gelu")
_POOLS = ("maxpool", "avgpool", "global_avgpool", "global_maxpool", "adaptive_avgpool", "adaptive_maxpool")
_WEIGHTED = ("conv", "conv_transpose", "dense")
LAYER_KINDS = (*_WEIGHTED, "batchnorm", "layernorm", "scale", "lrn", "embedding", "upsample", *_POOLS, "activation",
               *_FREE)


def _table(keys: Iterable[str], entries: Mapping[str, tuple[Term, ...]]) -> dict[str, tuple[Term, ...]]:
    """One entry per key: nothing counted unless given."""
    unknown = set(entries) - set(keys)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")  # a typo in the tables below
    return {key: tuple(entries.get(key, NONE)) for key in keys}


def _kinds(*groups: Mapping[str, tuple[Term, ...]], **entries: tuple[Term, ...]) -> dict[str, tuple[Term, ...]]:
    merged: dict[str, tuple[Term, ...]] = {}
    for group in (*groups, entries):
        merged.update(group)
    return _table(LAYER_KINDS, merged)


def _acts(**entries: tuple[Term, ...]) -> dict[str, tuple[Term, ...]]:
    return _table(ACTIVATION_FUNCTIONS, entries)


def _each(kinds: Iterable[str], *terms: Term) -> dict[str, tuple[Term, ...]]:
    return {kind: terms for kind in kinds}


MACS = Term("macs", "MACs", _macs)
BIAS = Term("bias_adds", "bias adds", _bias_adds)
MODULE_BIAS = Term("bias_adds", "bias adds", _module_bias_adds)  # a per-position bias is no module the tool knows


def _per_element(key: str, factor: int, what: str, of: Callable[[Row], int] = _in_elements) -> Term:
    return Term(key, what, of, factor)


# torchinfo 1.8.0, LayerInfo.calculate_macs: for every parameter named weight or bias, its elements times the
# output positions in a module whose class name contains "Conv", else times the batch (once per layer).
_TORCHINFO = Convention(
    "torchinfo", "Mult-Adds", "torchinfo 1.8.0's Mult-Adds: the MACs, one add per bias per output position, and "
    "every other parameter named weight or bias once per layer (batchnorm: 2 x channels)",
    _kinds(_each(_WEIGHTED, MACS, BIAS),
           batchnorm=(Term("batchnorm_affine", "batchnorm gammas and betas (once per layer)", _trainable),),
           layernorm=(Term("layernorm_affine", "layer-norm gammas and betas (once per layer)", _trainable),),
           scale=(Term("scale_weights", "layer-scale weights (once per layer)", _trainable),),
           embedding=(Term("embedding_weights", "embedding-table elements (once per layer)", _trainable),),
           conv_transpose=(MACS, BIAS, Term("per_output", "more for conv_transpose weights counted per output "
                                            "position", _per_output_excess))),
    _acts(),
    note="counts parameters, not operations: batchnorm is 2 x channels per layer whatever the map size; "
         "activations, pooling, LRN and upsampling count 0; a conv_transpose's weight once per output position",
)

# fvcore 0.1.5, _DEFAULT_SUPPORTED_OPS (traced aten ops); everything else counts 0 with a warning.
_FVCORE = Convention(
    "fvcore", "MACs", "fvcore 0.1.5's FlopCountAnalysis total: the MACs of conv, conv_transpose and dense (its "
    "\"flop\" is a MAC), 2 per batchnorm element, 5 per layer-norm element, 1 per input element of a 2-D adaptive "
    "or global average pool, 1 or 4 per output element of a 2-D nearest or bilinear upsample",
    _kinds(_each(_WEIGHTED, MACS),
           _each(("global_avgpool", "adaptive_avgpool"),
                 Term("pooling", "2-D adaptive average pool inputs", _if_rank(2, _in_elements))),
           batchnorm=(_per_element("batchnorm", 2, "batchnorm elements"),),
           layernorm=(_per_element("layernorm", 5, "layer-norm elements"),),
           upsample=(Term("upsample", "for 2-D upsampling (1 per nearest, 4 per bilinear output)",
                          _upsample({("nearest", 2): 1, ("bilinear", 2): 4})),)),
    _acts(),
    note="ignores bias adds, activations, max and plain average pooling, LRN, and 1-D/3-D adaptive pools and "
         "upsampling (unsupported ops count 0)",
)

# ptflops 0.7.5, pytorch backend: MODULES_MAPPING hooks (get_model_complexity_info(...,
# backend_specific_config={'count_functional': False})).
_PT_ACT = Term("activations", "ReLU/LeakyReLU/ELU/ReLU6/GELU outputs", _out_elements)
_PTFLOPS = Convention(
    "ptflops", "MACs", "ptflops 0.7.5 (pytorch backend, module hooks): the MACs, bias adds, 2 per batchnorm element, "
    "1 per layer-norm element, 1 per output of ReLU/LeakyReLU/ELU/ReLU6/GELU, 1 per pooling input, 1 per upsample "
    "output",
    _kinds(_each(_WEIGHTED, MACS, MODULE_BIAS), _each(_POOLS, Term("pooling", "pooling inputs", _in_elements)),
           batchnorm=(_per_element("batchnorm", 2, "batchnorm elements"),),
           layernorm=(_per_element("layernorm", 1, "layer-norm elements (nn.LayerNorm has no `affine`)"),),
           upsample=(Term("upsample", "upsample outputs", _out_elements),)),
    _acts(relu=(_PT_ACT,), leaky_relu=(_PT_ACT,), elu=(_PT_ACT,), relu6=(_PT_ACT,), gelu=(_PT_ACT,)),
    note="module hooks only; its default also patches F.relu, F.elu, F.gelu, F.silu, F.softmax, the F.*pool* "
         "functions, F.interpolate and Tensor.mul/add, so modules that call them count twice "
         "(`ptflops_functional_extra`); sigmoid, tanh, softmax, SiLU and hard-swish modules and LRN count 0",
)

# ptflops 0.7.5, aten backend: ATEN_OPS_MAPPING (aten.convolution, aten.addmm, aten.mm, ...).
_PTFLOPS_ATEN = Convention(
    "ptflops-aten", "MACs", "ptflops 0.7.5 (aten backend): the MACs of conv, conv_transpose and dense plus one add "
    "per bias per output position; nothing else",
    _kinds(_each(_WEIGHTED, MACS, MODULE_BIAS)),
    _acts(),
    note="counts only aten convolutions and matrix products: batchnorm, activations, pooling and norms count 0",
)

# thop 0.1.1.post2209072238, register_hooks (vision/basic_hooks.py, vision/calc_func.py).
_THOP_ADAPTIVE = Term("adaptive_pooling", "for adaptive average pools ((window + 1) per output)", _adaptive_avg_thop)
_THOP = Convention(
    "thop", "MACs", "thop 0.1.1's profile(): the MACs (no bias adds), 4 per batchnorm or layer-norm element, 1 per "
    "average-pool output, (window + 1) per adaptive-average-pool output, 3 x classes - 1 per softmax position, "
    "upsample 1 (nearest) or 11 (bilinear) per output",
    _kinds(_each(("conv", "dense"), MACS), _each(("global_avgpool", "adaptive_avgpool"), _THOP_ADAPTIVE),
           conv_transpose=(MACS, Term("per_output", "more for conv_transpose counted per output element",
                                      _per_output_excess)),
           batchnorm=(_per_element("batchnorm", 4, "batchnorm elements"),),
           layernorm=(_per_element("layernorm", 4, "layer-norm elements"),),
           avgpool=(Term("pooling", "average-pool outputs", _out_elements),),
           upsample=(Term("upsample", "for upsampling (1 per nearest, 11 per bilinear, 5 per 1-D linear output)",
                          _upsample({("nearest", 1): 1, ("nearest", 2): 1, ("nearest", 3): 1,
                                     ("bilinear", 1): 5, ("bilinear", 2): 11})),)),
    _acts(softmax=(Term("softmax", "for softmax (3 x classes - 1 per position)", _softmax_thop),)),
    note="ignores bias adds, every activation but softmax, max pooling and LRN; batchnorm counts 4 per element "
         "(twice ptflops's 2); a conv_transpose per output element; a trilinear upsample 0",
)

_MACS = Convention("macs", "MACs", "multiply-accumulates of conv, conv_transpose and dense layers; bias adds, "
                   "activations, pooling and normalisation excluded",
                   _kinds(_each(_WEIGHTED, MACS)), _acts())
_FLOPS = Convention("flops", "FLOPs", "2 x MACs: one multiply and one add per multiply-accumulate",
                    _kinds(_each(_WEIGHTED, Term("multiplies", "multiplies", _macs), Term("adds", "adds", _macs))),
                    _acts())

CONVENTIONS: dict[str, Convention] = {c.name: c for c in (_MACS, _FLOPS, _TORCHINFO, _FVCORE, _PTFLOPS,
                                                          _PTFLOPS_ATEN, _THOP)}
NAMES: tuple[str, ...] = tuple(CONVENTIONS)
DEFAULT = "macs"
#: `--convention all` (show, compare, sweep): every convention side by side
ALL = "all"

# ptflops's default (count_functional=True) also counts the functional calls the modules make: this is what it adds
# on the one-module-per-layer twin.  Not a property of the architecture: the same net written with F.relu calls
# instead of nn.ReLU modules counts the activations once, written with nn.ReLU modules twice.
_PT_FN_ACT = Term("activations", "F.relu/F.elu/F.gelu/F.silu/F.softmax elements", _out_elements)
PTFLOPS_FUNCTIONAL = Convention(
    "ptflops-functional", "MACs", "what ptflops 0.7.5's patched functionals add on top of its module hooks",
    _kinds(_each(_POOLS, Term("pooling", "F.*pool* inputs", _in_elements)),
           lrn=(Term("lrn", "for LRN's x.mul(x), avg_pool3d, .mul(alpha), .add(k)", _lrn_ptflops_functional),),
           upsample=(Term("upsample", "F.interpolate outputs", _out_elements),)),
    _acts(relu=(_PT_FN_ACT,), elu=(_PT_FN_ACT,), gelu=(_PT_FN_ACT,), silu=(_PT_FN_ACT,), softmax=(_PT_FN_ACT,)),
)

#: Copies of the parameters a training step keeps besides the weights: (gradients, optimiser state).
TRAINING: dict[str, tuple[int, int, str]] = {
    "sgd": (1, 1, "SGD with momentum: one gradient and one momentum buffer per parameter"),
    "adam": (1, 2, "Adam: one gradient and two moment estimates (m, v) per parameter"),
}


def get(name: str | None) -> Convention:
    """'torchinfo' -> its Convention; None -> the default (macs)."""
    if name is None:
        return CONVENTIONS[DEFAULT]
    try:
        return CONVENTIONS[name.lower()]
    except KeyError:
        raise ArchcalcError(f"unknown convention {brief(name)}; choose one of {', '.join(NAMES)}",
                            field="convention") from None


def layer_compute(row: Row, convention: str | Convention | None = None) -> int:
    """One layer's compute under a convention (the per-layer column of `show --convention NAME`)."""
    conv = convention if isinstance(convention, Convention) else get(convention)
    return sum(conv.row_terms(row).values())


def by_convention(report: Any, batch: int = 1) -> dict[str, dict[str, Any]]:
    """{name: {"total": int, "terms": {term: int}}} for every convention, times the batch; the terms sum to the
    total."""
    out: dict[str, dict[str, Any]] = {}
    for name, conv in CONVENTIONS.items():
        terms = {key: value * batch for key, value in conv.terms(report.rows).items()}
        out[name] = {"total": sum(terms.values()), "terms": terms}
    return out


def layer_column(report: Any, shown_rows: list[Row], convention: str | Convention | None = None) -> list[int]:
    """Per shown row, its compute under the convention; `shown_rows` may be `report`'s rows collapsed by depth
    (a merged row covers the report's rows from its index up to the next shown row's)."""
    conv = convention if isinstance(convention, Convention) else get(convention)
    per_index = {row.index: layer_compute(row, conv) for row in report.rows}
    ends = [row.index for row in shown_rows[1:]] + [max(per_index) + 1]
    return [sum(per_index.get(i, 0) for i in range(row.index, end)) for row, end in zip(shown_rows, ends)]


def terms_text(report: Any, convention: str | Convention) -> str:
    """'4,089,184,256 MACs + 2 x 11,113,984 batchnorm elements + ...': a convention's total in words."""
    return " + ".join(_term_words(report, convention)) or "0"


def _term_words(report: Any, convention: str | Convention, skip: str = "") -> list[str]:
    conv = convention if isinstance(convention, Convention) else get(convention)
    terms = conv.term_by_key
    return [terms[k].words(base) for k, base in conv.bases(report.rows).items() if base and k != skip]


def ptflops_functional_extra(report: Any) -> int:
    """What ptflops's default count_functional=True adds to its module-hook total on the one-module-per-layer twin."""
    return PTFLOPS_FUNCTIONAL.count(report)


def why_they_differ(report: Any) -> str:
    """One line in words: what each tool adds to the plain MACs on this net, e.g. 'fvcore adds 2 x 11,113,984
    batchnorm elements'."""
    macs = CONVENTIONS["macs"].count(report)
    parts = []
    for name in NAMES[2:]:
        extra = _term_words(report, name, skip="macs")
        parts.append(f"{name} adds " + ", ".join(extra) if extra else f"{name} counts the MACs only")
    line = f"All start from the {macs:,} MACs (flops doubles them); " + "; ".join(parts) + "."
    functional = ptflops_functional_extra(report)
    if functional:
        line += (f" ptflops's default printout also counts the functional calls inside nn.ReLU, pooling and similar "
                 f"modules again (+{functional:,}), which depends on how the model's code is written.")
    return line


class BudgetError(ArchcalcError):
    """A memory budget that cannot be parsed or met."""


# --- sizes -------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,  # 8G = 8GiB, as docker and ulimit read it
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*([A-Za-z]*)\s*$")  # 30 digits: beyond any memory


def parse_size(text: str | int, field: str = "memory") -> int:
    """'8GiB' or '8G' -> 8589934592, '2GB' -> 2000000000, '512MiB', '1.5GiB', '1000' (bytes); exact integers."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    m = _SIZE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise BudgetError(f"cannot read the memory size {brief(text, 40)}; write e.g. 8GiB or 512MiB (binary, 2**30) or "
                           "2GB (decimal, 10**9)", field=field)
    number = m.group(1)
    whole, _, frac = number.partition(".")
    scale = _UNITS[unit]
    value = int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    if value <= 0:
        raise BudgetError(f"memory size must be positive, got {brief(text)}", field=field)
    return value


# --- costing -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Costing:
    """Compute and memory of one forward pass (or training step) over a batch, float32."""

    convention: Convention
    batch: int
    training: str | None
    compute: int  # the convention's count, times the batch
    param_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    input_bytes: int  # times the batch
    activation_bytes: int  # times the batch

    @property
    def fixed_bytes(self) -> int:
        """Memory that does not grow with the batch."""
        return self.param_bytes + self.gradient_bytes + self.optimizer_bytes

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.input_bytes + self.activation_bytes

    @property
    def assumptions(self) -> list[str]:
        out = [f"compute: {self.convention.heading}: {self.convention.counts}; x batch {self.batch}",
               f"memory: float32 (4 bytes per element); input and every layer's output kept for batch {self.batch}"]
        if self.training:
            out.append(f"training ({TRAINING[self.training][2]}); activations are all kept for the backward pass; "
                       "activation gradients, framework workspace and fragmentation are not counted")
        else:
            out.append("inference: weights once, no gradients or optimiser state")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "convention": self.convention.name,
            "label": self.convention.label,
            "counts": self.convention.counts,
            "batch": self.batch,
            "training": self.training,
            "compute": self.compute,
            "memory": {
                "param_bytes": self.param_bytes,
                "gradient_bytes": self.gradient_bytes,
                "optimizer_bytes": self.optimizer_bytes,
                "input_bytes": self.input_bytes,
                "activation_bytes": self.activation_bytes,
                "total_bytes": self.total_bytes,
            },
            "assumptions": self.assumptions,
        }


def costing(report, convention: str | Convention | None = None, batch: int = 1, training: str | None = None) -> Costing:
    """The compute and memory of `report`'s net for a batch, under a counting convention and optional training."""
    conv = convention if isinstance(convention, Convention) else get(convention)
    if batch < 1:
        raise ArchcalcError(f"batch must be at least 1, got {batch}", field="batch")
    if training is not None and training not in TRAINING:
        raise ArchcalcError(f"unknown optimiser {brief(training)}; choose one of {', '.join(TRAINING)}", field="training")
    t = report.totals
    grads, state = TRAINING[training][:2] if training else (0, 0)
    return Costing(conv, batch, training, conv.count(report) * batch, t.param_bytes, grads * t.param_bytes,
                   state * t.param_bytes, t.input_bytes * batch, t.activation_bytes * batch)


def largest_batch(report, memory: int, training: str | None = None) -> tuple[int, Costing]:
    """The largest batch whose memory estimate fits in `memory` bytes, and its costing."""
    one = costing(report, batch=1, training=training)
    per_sample = one.input_bytes + one.activation_bytes
    room = memory - one.fixed_bytes
    if room < per_sample:
        need = one.fixed_bytes + per_sample
        raise BudgetError(f"even batch 1 needs {need:,} bytes ({_gib(need)}) but the budget is {memory:,} bytes "
                           f"({_gib(memory)}); weights{' + gradients + optimiser state' if training else ''} "
                           f"take {one.fixed_bytes:,}", field="memory")
    batch = room // per_sample
    return batch, costing(report, batch=batch, training=training)


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def costing_lines(c: Costing, *, markdown: bool = False) -> list[str]:
    """The costing as a few labelled lines (humanised by output.format), then the assumptions."""
    from .output.format import human_bytes, human_count

    mem = [("parameters", c.param_bytes)]
    if c.training:
        mem += [("gradients", c.gradient_bytes), ("optimiser state", c.optimizer_bytes)]
    mem += [("input", c.input_bytes), ("activations", c.activation_bytes)]
    rows = [(f"{c.convention.heading}, batch {c.batch}", human_count(c.compute))]
    rows += [(f"memory: {name}", human_bytes(n)) for name, n in mem]
    rows.append(("memory: total" + (f" (training, {c.training})" if c.training else " (inference)"),
                 f"{human_bytes(c.total_bytes)} ({c.total_bytes:,} bytes)"))
    if markdown:
        return [""] + [f"- **{k}**: {v}" for k, v in rows] + [f"- assumes {a}" for a in c.assumptions]
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows] + [f"assumes {a}" for a in c.assumptions]
