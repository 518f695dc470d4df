"""SVG drawings of every shipped spec: valid XML, every (collapsed) layer drawn, layout properties on real nets."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings, strategies as st

import archcalc
from archcalc.analysis.collapse import collapse
from archcalc.errors import ArchcalcError
from archcalc.output.layout import layered_layout
from archcalc.output.svg import DrawError, MissingExtra, chain_break, draw_svg, graph_model, svg_to_png

from .conftest import SPECS, report_of
from .test_layout import check_tb

NS = "{http://www.w3.org/2000/svg}"
CHAINS = {"alexnet", "alphago_policy", "cifar10_keras", "lenet5", "mnist_deep", "mnist_simple", "vgg16", "zfnet"}


def drawn_layers(svg: str, cls: str = "node") -> list[str]:
    root = ET.fromstring(svg)
    return [g.get("data-layer") for g in root.iter(f"{NS}g") if g.get("class") == cls]


@pytest.mark.parametrize("depth", [None, 1, 2])
@pytest.mark.parametrize("direction", ["tb", "lr"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_graph_svg_parses_and_draws_every_layer(spec, direction, depth):
    report = report_of(spec)
    svg = draw_svg(report, direction=direction, depth=depth)
    rows = collapse(report, depth).rows if depth else report.rows
    assert drawn_layers(svg) == ["input"] + [r.name for r in rows]
    edges = [g for g in ET.fromstring(svg).iter(f"{NS}g") if g.get("class") == "edge"]
    assert len(edges) == sum(len(r.inputs) for r in rows)
    # no shape label covers another (two edges into one add or concat: the second goes the other side of its curve)
    boxes = [(float(r.get("x")), float(r.get("y")), float(r.get("x")) + float(r.get("width")),
              float(r.get("y")) + float(r.get("height"))) for r in (e.find(f"{NS}rect") for e in edges)]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[:i]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_blocks_style_draws_chains_and_refuses_graphs(spec):
    report = report_of(spec)
    if spec.stem in CHAINS:
        svg = draw_svg(report, style="blocks")
        text = " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{NS}text"))
        for row in report.rows:
            assert row.name in text.split()
    else:
        with pytest.raises(DrawError, match="graph style") as info:
            draw_svg(report, style="blocks")
        assert isinstance(info.value, ArchcalcError)  # exit 2, one line


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_layout_of_every_spec_has_no_overlaps_and_edges_go_down(spec):
    nodes, edges = graph_model(report_of(spec))
    sizes = {n.key: (100 + 3 * len(n.name), 60) for n in nodes}
    pairs = [(e.source, e.target) for e in edges]
    check_tb(sizes, pairs, layered_layout(sizes, pairs))


def test_googlenet_breaks_the_chain_at_its_first_branch():
    row = chain_break(report_of(SPECS[[p.stem for p in SPECS].index("googlenet")]))
    assert (row.index, row.name, row.inputs) == (8, "inception_3a/3x3_reduce", ("pool2",))


def test_alexnet_nodes_and_edges_carry_the_numbers():
    svg = draw_svg(archcalc.analyze("specs/alexnet.yaml"))
    root = ET.fromstring(svg)
    conv1 = next(g for g in root.iter(f"{NS}g") if g.get("data-layer") == "conv1")
    assert conv1.get("data-kind") == "conv"
    assert [t.text for t in conv1.iter(f"{NS}text")] == ["conv1", "conv 11x11 /4x4", "55x55x96", "34,944 params"]
    labels = [t.text for g in root.iter(f"{NS}g") if g.get("class") == "edge" for t in g.iter(f"{NS}text")]
    assert labels[:3] == ["227x227x3", "55x55x96", "27x27x96"]  # the tensor each arrow carries


def test_resnet_skip_is_routed_around_the_block_it_skips():
    report = report_of(SPECS[[p.stem for p in SPECS].index("resnet50")])
    nodes, edges = graph_model(report)
    key = {n.name: n.key for n in nodes}
    sizes = {n.key: (120, 60) for n in nodes}
    layout = layered_layout(sizes, [(e.source, e.target) for e in edges])
    skip = next(pts for s, t, pts in layout.routes if (s, t) == (key["res2.1/relu"], key["res2.2/add"]))
    inner = [key[f"res2.2/{n}"] for n in ("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3")]
    assert len(skip) > 4
    for x, _ in skip[1:-1]:
        for k in inner:
            assert not layout.boxes[k].left < x < layout.boxes[k].right


def test_user_strings_are_escaped():
    spec = {"name": 'Net <&> "quoted"', "input": [8, 8, 1],
            "layers": [{"type": "conv", "name": "c<1>&", "filters": 2, "kernel": 3},
                       {"type": "flatten"}, {"type": "dense", "units": 2}]}
    report = archcalc.analyze(spec)
    for style in ("graph", "blocks"):
        svg = draw_svg(report, style=style)
        root = ET.fromstring(svg)
        assert "c<1>&" in [t.text for t in root.iter(f"{NS}text")]
        assert '"quoted"' in root.find(f"{NS}title").text


def test_bad_options_are_user_errors():
    report = archcalc.analyze("specs/lenet5.yaml")
    for kwargs, match in (({"style": "boxes"}, "style"), ({"direction": "up"}, "direction"), ({"depth": 0}, "depth")):
        with pytest.raises(DrawError, match=match):
            draw_svg(report, **kwargs)


def test_png_through_cairosvg_or_a_one_line_message(monkeypatch):
    svg = draw_svg(archcalc.analyze("specs/lenet5.yaml"))
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        png = svg_to_png(svg)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "cairosvg", None)
    with pytest.raises(MissingExtra, match=r"archcalc\[image\]") as info:
        svg_to_png(svg)
    assert "\n" not in str(info.value)


@st.composite
def dag_specs(draw):
    """Random graph nets that analyse: same-padding convs and pools, adds of equal shapes, concats."""
    layers, channels = [], {"input": 3}
    for i in range(draw(st.integers(1, 14))):
        names = list(channels)
        kind = draw(st.sampled_from(["conv", "conv", "maxpool", "add", "concat"]))
        name = f"l{i}"
        if kind in ("conv", "maxpool"):
            src = draw(st.sampled_from(names))
            if kind == "conv":
                layers.append({"type": "conv", "name": name, "inputs": src, "filters": 4, "kernel": 3, "padding": "same"})
                channels[name] = 4
            else:
                layers.append({"type": "maxpool", "name": name, "inputs": src, "kernel": 3, "stride": 1,
                               "padding": "same"})
                channels[name] = channels[src]
            continue
        if kind == "add":
            c = draw(st.sampled_from(sorted(set(channels.values()))))
            pool = [n for n in names if channels[n] == c]
        else:
            pool = names
        if len(pool) < 2:
            continue
        picked = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=3, unique=True))
        layers.append({"type": kind, "name": name, "inputs": picked})
        channels[name] = c if kind == "add" else sum(channels[p] for p in picked)
    if not layers:
        layers.append({"type": "conv", "name": "only", "filters": 2, "kernel": 1})
    return {"name": "random", "input": [6, 6, 3], "layers": layers}


@settings(max_examples=40, deadline=None)
@given(dag_specs(), st.sampled_from(["tb", "lr"]))
def test_random_graph_specs_draw(spec, direction):
    report = archcalc.analyze(spec)
    svg = draw_svg(report, direction=direction)
    assert drawn_layers(svg) == ["input"] + [r.name for r in report.rows]
    nodes, edges = graph_model(report)
    sizes = {n.key: (90, 50) for n in nodes}
    pairs = [(e.source, e.target) for e in edges]
    check_tb(sizes, pairs, layered_layout(sizes, pairs))
