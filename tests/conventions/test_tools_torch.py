"""The counting tools themselves, run on the one-module-per-layer PyTorch twin of every shipped spec.

Installs nothing: each of torchinfo, fvcore, ptflops (pytorch and aten backends) and thop is run
when importable, and its printed total must equal archcalc's convention of the same name.
ptflops's default printout (functional calls counted again) must equal its module-hook total plus
`ptflops_functional_extra`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from archcalc.analysis import analyze  # noqa: E402
from archcalc.conventions import by_convention, ptflops_functional_extra  # noqa: E402
from archcalc.errors import ArchcalcError  # noqa: E402
from archcalc.io import load_spec  # noqa: E402
from archcalc.spec import LAYER_TYPES  # noqa: E402

from .module_twin import build, tool_counts  # noqa: E402
from .test_conventions import KIND_CASES  # noqa: E402

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_tool_matches_archcalc(path):
    report = analyze(load_spec(path))
    try:
        twin = build(report)
    except NotImplementedError as exc:
        pytest.skip(f"no module twin: {exc}")
    theirs = tool_counts(twin)
    if not theirs:
        pytest.skip("none of torchinfo, fvcore, ptflops, thop is installed")
    ours = {name: entry["total"] for name, entry in by_convention(report).items()}
    default = theirs.pop("ptflops-default", None)
    assert theirs == {name: ours[name] for name in theirs}
    if default is not None:
        assert default == ours["ptflops"] + ptflops_functional_extra(report)


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_new_kinds_against_the_tools(case):
    layer, expected = KIND_CASES[case]
    if layer["type"] not in LAYER_TYPES:
        pytest.xfail(f"layer kind {layer['type']} not in archcalc.spec.LAYER_TYPES yet (issue 11)")
    try:
        report = analyze(load_spec({"name": "one", "input": [8, 8, 4], "layers": [layer]}))
    except ArchcalcError as exc:
        pytest.xfail(f"{case}: {exc}")
    theirs = tool_counts(build(report))
    default = theirs.pop("ptflops-default", None)
    assert theirs == {name: expected[name] for name in theirs}
    if default is not None:
        assert default == expected["ptflops"] + ptflops_functional_extra(report)
