"""Every counting tool's total, reproduced term by term from the analysis (issue 12).

The figures are the tools' own printouts (torchinfo 1.8.0, fvcore 0.1.5, ptflops 0.7.5 both backends,
thop 0.1.1) on the one-module-per-layer PyTorch twins of the shipped specs, as quoted in issue 12 and
re-run in test_tools_torch.py; the ResNet-50 terms are the issue's decomposition.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc import conventions
from archcalc import analyze
from archcalc.conventions import (ACTIVATION_FUNCTIONS, CONVENTIONS, LAYER_KINDS, NAMES, by_convention, costing, get,
                                  layer_compute, ptflops_functional_extra, why_they_differ)
from archcalc.errors import ArchcalcError
from archcalc import load_spec
from archcalc.spec import LAYER_TYPES

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture(scope="module")
def reports():
    names = ("resnet18", "resnet50", "alexnet", "googlenet", "densenet121")
    return {name: analyze(load_spec(SPECS / f"{name}.yaml")) for name in names}


# --- the figures --------------------------------------------------------------------

TOOL_FIGURES = {  # (spec, convention): the tool's printed total
    ("resnet18", "torchinfo"): 1_814_083_944,
    ("resnet50", "torchinfo"): 4_089_238_376,
    ("resnet18", "fvcore"): 1_819_065_856,
    ("resnet50", "fvcore"): 4_111_512_576,
    ("resnet50", "ptflops-aten"): 4_089_185_256,
    ("resnet18", "ptflops"): 1_822_177_768,
    ("resnet50", "ptflops"): 4_121_925_096,
    ("alexnet", "ptflops"): 1_137_093_928,
    ("googlenet", "ptflops"): 1_592_051_080,
    # torchinfo matched before on the nets without batchnorm: MACs + bias adds
    ("alexnet", "torchinfo"): 1_135_915_368,
    ("googlenet", "torchinfo"): 1_585_899_032,
    # thop on the twin (test_tools_torch.py): no bias, 4 per batchnorm element, 50 per global-pool output
    # channel on 7x7 maps, 3 x 1000 - 1 for the softmax
    ("resnet50", "thop"): 4_133_745_591,
    ("resnet18", "thop"): 1_824_036_791,
    # DenseNet-121 (specs/densenet121.yaml): the tools on its twin; torchinfo, fvcore and ptflops-aten print the same
    # on torchvision's densenet121 (its ptflops differs: torchvision calls the last ReLU and pool functionally)
    ("densenet121", "torchinfo"): 2_834_246_312,
    ("densenet121", "fvcore"): 2_865_546_752,
    ("densenet121", "ptflops"): 2_882_720_488,
    ("densenet121", "ptflops-aten"): 2_834_162_664,
    ("densenet121", "thop"): 2_897_058_304,
}


@pytest.mark.parametrize(("spec", "name"), sorted(TOOL_FIGURES))
def test_each_tool_total_is_reproduced(reports, spec, name):
    assert by_convention(reports[spec])[name]["total"] == TOOL_FIGURES[spec, name]
    assert get(name).count(reports[spec]) == TOOL_FIGURES[spec, name]


def test_resnet50_terms(reports):
    table = by_convention(reports["resnet50"])
    macs = 4_089_184_256
    bn_elements = 11_113_984  # input elements of the 53 batchnorm layers
    relu = 9_608_704  # outputs of the 49 ReLUs
    assert table["macs"] == {"total": macs, "terms": {"macs": macs}}
    assert table["flops"] == {"total": 2 * macs, "terms": {"multiplies": macs, "adds": macs}}
    assert table["torchinfo"]["terms"] == {"macs": macs, "bias_adds": 1_000, "per_output": 0,
                                           "batchnorm_affine": 53_120, "layernorm_affine": 0, "scale_weights": 0,
                                           "embedding_weights": 0}  # 2 x 26,560 batchnorm channels
    assert table["fvcore"]["terms"] == {"macs": macs, "batchnorm": 2 * bn_elements, "layernorm": 0, "upsample": 0,
                                        "pooling": 100_352}  # 2048 x 7 x 7 into the global average pool
    assert table["ptflops"]["terms"] == {"macs": macs, "bias_adds": 1_000, "pooling": 802_816 + 100_352,
                                         "batchnorm": 2 * bn_elements, "layernorm": 0, "upsample": 0,
                                         "activations": relu}
    assert table["ptflops-aten"]["terms"] == {"macs": macs, "bias_adds": 1_000}
    assert table["thop"]["terms"] == {"macs": macs, "per_output": 0, "batchnorm": 4 * bn_elements, "layernorm": 0,
                                      "pooling": 0, "adaptive_pooling": 50 * 2048, "upsample": 0, "softmax": 2_999}
    for entry in table.values():
        assert sum(entry["terms"].values()) == entry["total"]


def test_ptflops_functional_double_count(reports):
    # torchvision's ResNet-50 prints 4,132,436,968 by default: the 49 F.relu and the two F.*pool* calls counted
    # again (10,511,872); the twin's softmax (not in torchvision) adds 1,000 more through F.softmax
    assert ptflops_functional_extra(reports["resnet50"]) == 9_608_704 + 903_168 + 1_000
    assert 4_121_925_096 + 9_608_704 + 903_168 == 4_132_436_968
    # AlexNet: the LRNs' x.mul(x), avg_pool3d over C + 4 padded planes, .mul(alpha) and .add(k) count too
    # (norm1 on 27x27x96 after pool1, norm2 on 13x13x256 after pool2)
    lrn = 3 * 27 * 27 * 96 + (96 + 4) * 27 * 27 + 3 * 13 * 13 * 256 + (256 + 4) * 13 * 13
    relu = 55 * 55 * 96 + 27 * 27 * 256 + 13 * 13 * (384 + 384 + 256) + 2 * 4096
    pools = 55 * 55 * 96 + 27 * 27 * 256 + 13 * 13 * 256
    assert ptflops_functional_extra(reports["alexnet"]) == lrn + relu + pools + 1_000


def test_layer_compute_sums_to_the_total(reports):
    report = reports["resnet50"]
    for name in NAMES:
        assert sum(layer_compute(row, name) for row in report.rows) == by_convention(report)[name]["total"]
    bn = next(r for r in report.rows if r.type == "batchnorm")  # after conv1: 112 x 112 x 64
    elements = 112 * 112 * 64
    assert bn.output_shape == (112, 112, 64)
    assert layer_compute(bn, "macs") == 0
    assert layer_compute(bn, "torchinfo") == 2 * 64
    assert layer_compute(bn, "fvcore") == 2 * elements
    assert layer_compute(bn, "thop") == 4 * elements


def test_costing_keeps_working_with_batch(reports):
    c = costing(reports["resnet50"], "fvcore", batch=8)
    assert c.compute == 8 * 4_111_512_576 and c.convention.name == "fvcore"
    assert costing(reports["resnet50"]).compute == 4_089_184_256  # the default is plain MACs
    assert conventions.DEFAULT == "macs"


def test_fvcore_means_the_real_fvcore_now(reports):
    assert get("fvcore").count(reports["resnet50"]) != get("macs").count(reports["resnet50"])
    with pytest.raises(ArchcalcError, match="unknown convention 'fcore'"):
        get("fcore")


def test_why_they_differ_names_the_terms(reports):
    line = why_they_differ(reports["resnet50"])
    assert "\n" not in line
    assert "4,089,184,256 MACs" in line
    assert "torchinfo adds" in line and "53,120" in line
    assert "fvcore adds 2 x 11,113,984 batchnorm elements, 100,352 2-D adaptive average pool inputs;" in line
    assert "+10,512,872" in line  # ptflops's functional double count on the twin
    assert "ptflops-aten adds" in line and "1,000" in line
    # AlexNet has no batchnorm: fvcore is the plain MACs there
    assert "fvcore counts the MACs only" in why_they_differ(reports["alexnet"])


# --- the tables cover every kind ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_every_layer_kind_has_an_entry(name):
    conv = CONVENTIONS[name]
    assert set(LAYER_TYPES) <= set(conv.kinds), set(LAYER_TYPES) - set(conv.kinds)
    assert set(conv.kinds) == set(LAYER_KINDS) and set(conv.activations) == set(ACTIVATION_FUNCTIONS)


def test_every_registered_layer_kind_has_a_rule():
    """A kind added to layers/ without a line in conventions.py would make every convention raise (a bug)."""
    assert set(LAYER_TYPES) <= set(LAYER_KINDS), sorted(set(LAYER_TYPES) - set(LAYER_KINDS))


def test_every_activation_function_has_an_entry():
    import importlib.util
    from typing import get_args

    for where in ("archcalc.layers.fields", "archcalc.spec"):  # after and before the layer registry (issue 9)
        activation = getattr(importlib.import_module(where), "Activation", None) if importlib.util.find_spec(
            where.rsplit(".", 1)[0]) else None
        if activation is not None:
            break
    assert activation is not None
    assert set(get_args(activation)) - {"linear"} <= set(ACTIVATION_FUNCTIONS)


# --- the issue-11 kinds: each tool's rule, from its source, on one small layer -------------------------

def _one_layer(layer: dict, input_shape=(8, 8, 4)):
    kind = layer["type"]
    if kind not in LAYER_TYPES:
        pytest.xfail(f"layer kind {kind} not in archcalc.spec.LAYER_TYPES yet (issue 11)")
    report = analyze(load_spec({"name": "one", "input": list(input_shape), "layers": [layer]}))
    return {name: entry["total"] for name, entry in by_convention(report).items()}


KIND_CASES = {
    # 8x8x4 -> 16x16x2, kernel 3, stride 2: 64 inputs x 4 x 2 x 9 = 4,608 MACs; 512 bias adds;
    # torchinfo and thop count the 72-element weight per OUTPUT position (256): 18,432
    "conv_transpose": ({"type": "conv_transpose", "filters": 2, "kernel": 3, "stride": 2, "padding": 1,
                        "output_padding": 1},
                       {"macs": 4_608, "flops": 9_216, "torchinfo": 18_432 + 512, "fvcore": 4_608,
                        "ptflops": 4_608 + 512, "ptflops-aten": 4_608 + 512, "thop": 18_432}),
    # 16x16x4 = 1,024 outputs
    "upsample": ({"type": "upsample", "scale": 2, "mode": "nearest"},
                 {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 1_024, "ptflops": 1_024, "ptflops-aten": 0,
                  "thop": 1_024}),
    "upsample_bilinear": ({"type": "upsample", "scale": 2, "mode": "bilinear"},
                          {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 4 * 1_024, "ptflops": 1_024,
                           "ptflops-aten": 0, "thop": 11 * 1_024}),
    # 256 elements, 4 channels: gamma and beta = 8
    "layernorm": ({"type": "layernorm"},
                  {"macs": 0, "flops": 0, "torchinfo": 8, "fvcore": 5 * 256, "ptflops": 256, "ptflops-aten": 0,
                   "thop": 4 * 256}),
    # 8x8 -> 2x2 windows of 16: thop (16 + 1) x 16 outputs; fvcore and ptflops the 256 inputs
    "adaptive_avgpool": ({"type": "adaptive_avgpool", "output": 2},
                         {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 256, "ptflops": 256, "ptflops-aten": 0,
                          "thop": 17 * 16}),
    "adaptive_maxpool": ({"type": "adaptive_maxpool", "output": 2},
                         {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 0, "ptflops": 256, "ptflops-aten": 0,
                          "thop": 0}),
    "scale": ({"type": "scale"},
              {"macs": 0, "flops": 0, "torchinfo": 4, "fvcore": 0, "ptflops": 0, "ptflops-aten": 0, "thop": 0}),
    "relu6": ({"type": "activation", "function": "relu6"},
              {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 0, "ptflops": 256, "ptflops-aten": 0, "thop": 0}),
    "gelu": ({"type": "activation", "function": "gelu"},
             {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 0, "ptflops": 256, "ptflops-aten": 0, "thop": 0}),
    "silu": ({"type": "activation", "function": "silu"},
             {"macs": 0, "flops": 0, "torchinfo": 0, "fvcore": 0, "ptflops": 0, "ptflops-aten": 0, "thop": 0}),
}


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_new_kind_rules(case):
    layer, expected = KIND_CASES[case]
    if layer["type"] == "activation" and layer["function"] not in ACTIVATION_FUNCTIONS:
        pytest.fail(f"no entry for {layer['function']}")
    try:
        got = _one_layer(layer)
    except ArchcalcError as exc:  # the kind exists but not (yet) this field or function
        pytest.xfail(f"{case}: {exc}")
    assert got == expected


def test_new_kinds_multiply_is_free_as_add():
    got = _one_layer({"type": "multiply", "inputs": ["input", "input"]}) if "multiply" in LAYER_TYPES else None
    if got is None:
        pytest.xfail("multiply not in LAYER_TYPES yet (issue 11)")
    assert set(got.values()) == {0}


def test_embedding_table_counts_once_in_torchinfo():
    if "embedding" not in LAYER_TYPES:
        pytest.xfail("embedding not in LAYER_TYPES yet (issue 11)")
    got = _one_layer({"type": "embedding", "vocab": 100, "dim": 8}, input_shape=(12,))
    assert got["torchinfo"] == 800 and got["fvcore"] == 0 and got["ptflops"] == 0 and got["thop"] == 0
