"""Architecture diagrams as plain SVG text: the layer graph, or the lecture-slide boxes of a chain.

`draw_svg(report, style="graph")` lays the (optionally collapsed) layer graph out with the layered
layout of layout.py: one node per layer with its name, type, output shape and parameters, coloured by
kind, and one arrow per input, labelled with the tensor shape.  `style="blocks"` draws a chain as boxes
whose height and width follow the spatial size of each output and whose depth follows its channels
(log scale), the kernel drawn as a small square on the box it reads.

The SVG uses only rectangles, polygons, paths and text with presentation attributes, so browsers,
Inkscape, GitHub and cairosvg render it alike; every user string is XML-escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any, Hashable, Sequence

from ..errors import ArchcalcError, brief
from .layout import Box, Layout, layered_layout, transpose

STYLES = ("graph", "blocks")
DIRECTIONS = ("tb", "lr")
FONT = "'Helvetica Neue', Helvetica, Arial, 'DejaVu Sans', 'Liberation Sans', sans-serif"
CHAR = 0.6  # average glyph width in em, generous for sans-serif digits and lower case

#: fill and stroke per kind of layer; the first entry whose test matches a type names its colour
KINDS: list[tuple[str, str, str]] = [  # (kind, fill, stroke)
    ("input", "#eceff1", "#546e7a"),
    ("conv", "#dbeafe", "#2563eb"),
    ("pool", "#dcfce7", "#16a34a"),
    ("dense", "#ffedd5", "#ea580c"),
    ("merge", "#f3e8ff", "#9333ea"),
    ("norm", "#fef9c3", "#ca8a04"),
    ("block", "#e0f2fe", "#0369a1"),
    ("other", "#f5f5f5", "#737373"),
]
_KIND_COLOURS = {k: (fill, stroke) for k, fill, stroke in KINDS}
MERGE_TYPES = frozenset({"add", "concat", "multiply", "subtract", "maximum", "minimum", "average"})


class DrawError(ArchcalcError):
    """A drawing that cannot be made the way it was asked (wrong style for the net, unknown option)."""


class MissingExtra(ArchcalcError):
    """An optional package (Pillow, cairosvg) this output needs is not installed."""


def kind_of(layer_type: str, n_inputs: int = 1) -> str:
    """'conv' | 'pool' | 'dense' | 'merge' | 'norm' | 'block' | 'input' | 'other', for the colour of a node."""
    t = layer_type.lower()
    if t == "input":
        return "input"
    if t.endswith(" layers"):
        return "block"
    if t in MERGE_TYPES or n_inputs > 1:
        return "merge"
    if "pool" in t:
        return "pool"
    if "conv" in t:
        return "conv"
    if t in ("dense", "linear", "embedding"):
        return "dense"
    if "norm" in t or t == "lrn":
        return "norm"
    return "other"


def fmt() -> Any:
    """The one module that formats numbers, shapes and sizes (output/format.py)."""
    from . import format as module

    return module


def shape_text(shape: Sequence[int]) -> str:
    return str(fmt().shape_text(shape))


def _x(text: Any) -> str:
    return escape(str(text), quote=True)


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR


# --- the graph model --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Node:
    key: int
    name: str
    type: str
    kind: str
    lines: tuple[str, ...]  # the lines under the name: type and window, output shape, params
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Edge:
    source: int
    target: int
    shape: tuple[int, ...]


def _window(row: Any) -> str:
    axes = getattr(row, "axes", ()) or ()
    if not axes:
        return ""
    kernel = "x".join(str(a.f) for a in axes)
    stride = "x".join(str(a.s) for a in axes)
    return f" {kernel}" + (f" /{stride}" if set(stride.split("x")) != {"1"} else "")


def graph_model(report: Any, depth: int | None = None) -> tuple[list[Node], list[Edge]]:
    """Nodes (the input, then one per row of the report collapsed at `depth`) and edges (one per input)."""
    rows = _collapsed_rows(report, depth)
    nodes = [Node(0, "input", "input", "input", ("input", shape_text(report.input_shape)), tuple(report.input_shape))]
    edges: list[Edge] = []
    where: dict[str, int] = {"input": 0}
    for row in rows:
        key = len(nodes)
        lines = [f"{row.type}{_window(row)}", shape_text(row.output_shape)]
        if row.params:
            lines.append(f"{row.params:,} params")
        nodes.append(Node(key, row.name, row.type, kind_of(row.type, len(row.inputs)), tuple(lines),
                          tuple(row.output_shape)))
        for ref, shape in zip(row.inputs, row.input_shapes):
            if ref in where:
                edges.append(Edge(where[ref], key, tuple(shape)))
        where[row.name] = key
    return nodes, edges


def _collapsed_rows(report: Any, depth: int | None) -> list[Any]:
    if depth is None:
        return list(report.rows)
    from ..analysis.collapse import collapse

    return list(collapse(report, depth).rows)


# --- graph style --------------------------------------------------------------------------------

NAME_SIZE = 12.0
LINE_SIZE = 10.5
LABEL_SIZE = 9.5
PAD = 8.0
LINE_GAP = 3.5
HEADER = 50.0  # title and legend above the drawing


def _node_size(node: Node) -> tuple[float, float]:
    w = max([text_width(node.name, NAME_SIZE) * 1.08] + [text_width(t, LINE_SIZE) for t in node.lines]) + 2 * PAD
    h = 2 * PAD + NAME_SIZE + len(node.lines) * (LINE_SIZE + LINE_GAP)
    return max(w, 70.0), h


def draw_graph(report: Any, direction: str = "tb", depth: int | None = None, id_prefix: str = "n") -> str:
    nodes, edges = graph_model(report, depth)
    sizes: dict[Hashable, tuple[float, float]] = {}
    for n in nodes:
        w, h = _node_size(n)
        sizes[n.key] = (w, h) if direction == "tb" else (h, w)
    pairs = [(e.source, e.target) for e in edges]
    if direction == "tb":
        layout = layered_layout(sizes, pairs, gap_x=26, gap_y=42)
    else:
        layout = transpose(layered_layout(sizes, pairs, gap_x=18, gap_y=70))
    kinds = sorted({n.kind for n in nodes}, key=[k for k, _, _ in KINDS].index)
    legend = 16 + sum(28 + text_width(k, 10.5) for k in kinds)
    width = max(layout.width, legend, 32 + text_width(report.name, 15))
    height = layout.height + HEADER
    shift = (width - layout.width) / 2
    out = [_svg_open(width, height, f"{report.name}: layer graph")]
    out.append(_marker(id_prefix))
    out.append(_title_and_legend(report.name, kinds))
    out.append(f'<g transform="translate({_n(shift)},{_n(HEADER)})">')
    fan_in = {n.key: 0 for n in nodes}
    fan_out = {n.key: 0 for n in nodes}
    for e in edges:
        fan_in[e.target] += 1
        fan_out[e.source] += 1
    placed: list[tuple[float, float, float, float]] = []  # the shape labels drawn so far, as boxes
    for e, (_, _, points) in zip(edges, layout.routes):
        out.append(_edge_svg(e, points, direction, fan_in[e.target] == 1, fan_out[e.source] == 1, id_prefix,
                             placed))
    for n in nodes:
        out.append(_node_svg(n, layout.boxes[n.key], id_prefix))
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def _svg_open(width: float, height: float, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
            f'viewBox="0 0 {_n(width)} {_n(height)}" font-family="{_x(FONT)}" role="img">\n'
            f'<title>{_x(title)}</title>\n<rect width="100%" height="100%" fill="#ffffff"/>')


def _marker(prefix: str) -> str:
    return (f'<defs><marker id="{prefix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker></defs>')


def _title_and_legend(name: str, kinds: list[str]) -> str:
    out = [f'<text x="16" y="22" font-size="15" font-weight="bold" fill="#111827">{_x(name)}</text>']
    x = 16.0
    for kind in kinds:
        fill, stroke = _KIND_COLOURS[kind]
        out.append(f'<rect x="{_n(x)}" y="32" width="12" height="12" rx="2" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{_n(x + 16)}" y="42" font-size="10.5" fill="#374151">{kind}</text>')
        x += 28 + text_width(kind, 10.5)
    return "\n".join(out)


def _node_svg(node: Node, box: Box, prefix: str) -> str:
    fill, stroke = _KIND_COLOURS[node.kind]
    name = _x(node.name)
    out = [f'<g class="node" id="{prefix}-{node.key}" data-layer="{name}" data-kind="{node.kind}">',
           f'<title>{name}</title>',
           f'<rect x="{_n(box.left)}" y="{_n(box.top)}" width="{_n(box.w)}" height="{_n(box.h)}" rx="6" '
           f'fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>']
    y = box.top + PAD + NAME_SIZE * 0.85
    out.append(f'<text x="{_n(box.x)}" y="{_n(y)}" text-anchor="middle" font-size="{NAME_SIZE}" font-weight="bold" '
               f'fill="#111827">{name}</text>')
    for i, line in enumerate(node.lines):
        y += LINE_SIZE + LINE_GAP
        colour = "#1f2937" if i == 1 else "#4b5563"
        out.append(f'<text x="{_n(box.x)}" y="{_n(y)}" text-anchor="middle" font-size="{LINE_SIZE}" '
                   f'fill="{colour}">{_x(line)}</text>')
    out.append("</g>")
    return "\n".join(out)


def _path(points: list[tuple[float, float]], direction: str) -> str:
    """Straight runs along the rank axis, smooth S-curves across the gaps (monotone along the rank axis)."""
    d = f"M{_n(points[0][0])},{_n(points[0][1])}"
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        if (x1 == x2 and direction == "tb") or (y1 == y2 and direction == "lr"):
            d += f" L{_n(x2)},{_n(y2)}"
        elif direction == "tb":
            ym = (y1 + y2) / 2
            d += f" C{_n(x1)},{_n(ym)} {_n(x2)},{_n(ym)} {_n(x2)},{_n(y2)}"
        else:
            xm = (x1 + x2) / 2
            d += f" C{_n(xm)},{_n(y1)} {_n(xm)},{_n(y2)} {_n(x2)},{_n(y2)}"
    return d


def _gaps(points: list[tuple[float, float]], direction: str) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    along = 1 if direction == "tb" else 0
    return [(p, q) for p, q in zip(points, points[1:]) if p[along] != q[along] and p[1 - along] != q[1 - along]] or \
        [(p, q) for p, q in zip(points, points[1:]) if p[along] != q[along]]


def _edge_svg(edge: Edge, points: list[tuple[float, float]], direction: str, sole_input: bool, sole_use: bool,
              prefix: str, placed: list[tuple[float, float, float, float]]) -> str:
    """One edge and its shape label, at the first spot where the label covers none of those ``placed`` so far (it
    joins them)."""
    gaps = _gaps(points, direction)
    (x1, y1), (x2, y2) = gaps[-1] if sole_input else gaps[0] if sole_use else gaps[len(gaps) // 2]
    label = shape_text(edge.shape)
    w = text_width(label, LABEL_SIZE)
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    step = LABEL_SIZE * 1.3
    if direction == "tb":  # right of the curve's middle, else left of it, else a line lower or higher
        spots = [(mx + 5, my + 3, "start"), (mx - 5, my + 3, "end"), (mx + 5, my + 3 + step, "start"),
                 (mx - 5, my + 3 + step, "end"), (mx + 5, my + 3 - step, "start"), (mx - 5, my + 3 - step, "end")]
    else:  # above the curve's middle, else below it, else a label's width along
        spots = [(mx, my - 5, "middle"), (mx, my + 5 + LABEL_SIZE, "middle"), (mx + w + 6, my - 5, "middle"),
                 (mx - w - 6, my - 5, "middle")]

    def box(spot: tuple[float, float, str]) -> tuple[float, float, float, float]:
        x, y, how = spot
        left = x if how == "start" else x - w if how == "end" else x - w / 2
        return left - 2, y - LABEL_SIZE * 0.85, left + w + 2, y + LABEL_SIZE * 0.3

    lx, ly, anchor = next((spot for spot in spots if not any(_overlap(box(spot), other) for other in placed)),
                          spots[0])  # every spot taken: the first, as before
    placed.append(box((lx, ly, anchor)))
    left = placed[-1][0] + 2
    return (f'<g class="edge" data-from="{prefix}-{edge.source}" data-to="{prefix}-{edge.target}">'
            f'<path d="{_path(points, direction)}" fill="none" stroke="#64748b" stroke-width="1.3" '
            f'marker-end="url(#{prefix}-arrow)"/>'
            f'<rect x="{_n(left - 2)}" y="{_n(ly - LABEL_SIZE * 0.85)}" width="{_n(w + 4)}" height="{_n(LABEL_SIZE * 1.15)}" '
            f'rx="2" fill="#ffffff" fill-opacity="0.85"/>'
            f'<text x="{_n(lx)}" y="{_n(ly)}" text-anchor="{anchor}" font-size="{LABEL_SIZE}" fill="#475569">'
            f'{label}</text></g>')


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two boxes (left, top, right, bottom) overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# --- blocks style ------------------------------------------------------------------------------

BLOCK_TYPES_OWN_BOX = ("conv", "pool", "dense", "flatten")  # a layer of these kinds (by substring) starts a new box


@dataclass(slots=True)
class _Volume:
    names: list[str]
    shape: tuple[int, ...]
    reader: Any = None  # the row that produced it (its kernel is drawn on the previous volume)


def chain_break(report: Any) -> Any | None:
    """The first row that makes the net a graph rather than a chain (more than one input, or an input other
    than the layer before it, which also means some output is used twice or not at all); None for a chain."""
    previous = "input"
    for row in report.rows:
        if tuple(row.inputs) != (previous,):
            return row
        previous = row.name
    return None


def _volumes(report: Any) -> list[_Volume]:
    vols = [_Volume(["input"], tuple(report.input_shape))]
    for row in report.rows:
        own = any(k in row.type for k in BLOCK_TYPES_OWN_BOX) or tuple(row.output_shape) != vols[-1].shape
        if own:
            vols.append(_Volume([row.name], tuple(row.output_shape), row))
        else:
            vols[-1].names.append(row.name)
    return vols


def _hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of a channels-last shape; a vector is (1, 1, units)."""
    if len(shape) == 1:
        return 1, 1, shape[0]
    if len(shape) == 2:
        return shape[0], 1, shape[1]
    return shape[-3], shape[-2], shape[-1]


def draw_blocks(report: Any) -> str:
    broken = chain_break(report)
    if broken is not None:
        raise DrawError(f"the blocks style draws a chain of layers, and {report.name} is a graph: layer "
                        f"{broken.index} ({broken.name}) reads {', '.join(broken.inputs) or 'nothing'}, not only the "
                        "layer before it; draw it with the graph style")
    vols = _volumes(report)
    biggest = max(max(_hwc(v.shape)[:2]) for v in vols)

    def spatial(n: int) -> float:
        return 150.0 * math.sqrt(n / max(biggest, 1))

    def dims(v: _Volume) -> tuple[float, float, float]:
        h, w, c = _hwc(v.shape)
        if len(v.shape) == 1:  # a vector: a thin bar whose height follows the units (log)
            return 10.0, 10.0 + 9.0 * math.log2(max(c, 1)), 8.0
        depth = 4.0 + 9.0 * math.log2(max(c, 1))
        return depth, max(6.0, spatial(h)), max(4.0, spatial(w) * 0.5)

    shapes = [dims(v) for v in vols]
    top_pad = 56.0
    base_y = top_pad + max(hh / 2 + ob * 0.35 for _, hh, ob in shapes)
    x = 24.0
    parts: list[str] = []
    places: list[tuple[float, float, float, float]] = []  # front face (x, y_top, width, height), oblique
    for v, (d, hh, ob) in zip(vols, shapes):
        labels = [shape_text(v.shape)] + v.names
        room = max([d + ob * 0.7] + [text_width(t, 10.5) for t in labels])
        x0 = x + (room - d - ob * 0.7) / 2
        places.append((x0, base_y - hh / 2 + ob * 0.35, d, hh))
        x += room + 34
    width = x + 10
    label_y = base_y + max(hh / 2 + ob * 0.35 for _, hh, ob in shapes) + 16
    height = label_y + 14 * max(len(v.names) + 1 for v in vols) + 16
    parts.append(_svg_open(width, height, f"{report.name}: blocks"))
    parts.append(f'<text x="16" y="24" font-size="15" font-weight="bold" fill="#111827">{_x(report.name)}</text>')
    parts.append('<text x="16" y="40" font-size="10" fill="#6b7280">box height and width: square root of the '
                 'spatial size; depth: log2 of the channels; yellow square: the kernel on the map it reads</text>')
    for i, (v, (d, hh, ob), (fx, fy, fw, fh)) in enumerate(zip(vols, shapes, places)):
        kind = "input" if i == 0 else kind_of(v.reader.type) if v.reader is not None else "other"
        fill, stroke = _KIND_COLOURS[kind]
        parts.append(_cuboid(fx, fy, fw, fh, ob, fill, stroke, v.names[0]))
        cx = fx + (fw + ob * 0.7) / 2
        for j, t in enumerate([shape_text(v.shape)] + v.names):
            weight = ' font-weight="bold"' if j == 0 else ""
            parts.append(f'<text x="{_n(cx)}" y="{_n(label_y + 14 * j)}" text-anchor="middle" font-size="10.5"'
                         f'{weight} fill="{"#111827" if j < 2 else "#6b7280"}">{_x(t)}</text>')
        if i + 1 < len(vols):
            parts.append(_kernel(vols[i + 1].reader, (fx, fy, fw, fh, ob), places[i + 1], shapes[i + 1][2], hh, v.shape))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _cuboid(x: float, y: float, w: float, h: float, ob: float, fill: str, stroke: str, name: str) -> str:
    """A box in cabinet projection: the front face, its top and its right side receding up-right."""
    dx, dy = ob * 0.7, -ob * 0.7
    front = f"{_n(x)},{_n(y)} {_n(x + w)},{_n(y)} {_n(x + w)},{_n(y + h)} {_n(x)},{_n(y + h)}"
    top = f"{_n(x)},{_n(y)} {_n(x + dx)},{_n(y + dy)} {_n(x + w + dx)},{_n(y + dy)} {_n(x + w)},{_n(y)}"
    side = f"{_n(x + w)},{_n(y)} {_n(x + w + dx)},{_n(y + dy)} {_n(x + w + dx)},{_n(y + h + dy)} {_n(x + w)},{_n(y + h)}"
    return (f'<g class="volume" data-layer="{_x(name)}"><title>{_x(name)}</title>'
            f'<polygon points="{side}" fill="{stroke}" fill-opacity="0.35" stroke="{stroke}" stroke-width="1"/>'
            f'<polygon points="{top}" fill="{fill}" stroke="{stroke}" stroke-width="1"/>'
            f'<polygon points="{front}" fill="{fill}" stroke="{stroke}" stroke-width="1.2"/></g>')


def _kernel(reader: Any, src: tuple[float, float, float, float, float], dst: tuple[float, float, float, float],
            dst_ob: float, src_h: float, src_shape: tuple[int, ...]) -> str:
    """The window `reader` slides over the source volume, as a small square on its side face, with lines to
    the point it produces on the next volume."""
    axes = getattr(reader, "axes", ()) or ()
    if not axes:
        return ""
    sx, sy, sw, sh, ob = src
    h_in = _hwc(src_shape)[0]
    k = max(4.0, min(sh * 0.8, sh * axes[0].f / max(h_in, 1)))
    kx = sx + sw + ob * 0.25
    ky = sy + sh * 0.3 - ob * 0.25
    tx, ty = dst[0] + dst[2] * 0.5, dst[1] + dst[3] * 0.45
    label = "x".join(str(a.f) for a in axes)
    return (f'<g class="kernel"><rect x="{_n(kx)}" y="{_n(ky)}" width="{_n(k)}" height="{_n(k)}" fill="#fde68a" '
            f'fill-opacity="0.8" stroke="#b45309" stroke-width="1"/>'
            f'<line x1="{_n(kx + k)}" y1="{_n(ky)}" x2="{_n(tx)}" y2="{_n(ty)}" stroke="#b45309" stroke-width="0.8" '
            f'stroke-dasharray="3,2"/><line x1="{_n(kx + k)}" y1="{_n(ky + k)}" x2="{_n(tx)}" y2="{_n(ty)}" '
            f'stroke="#b45309" stroke-width="0.8" stroke-dasharray="3,2"/>'
            f'<text x="{_n(kx + k / 2)}" y="{_n(ky - 4)}" text-anchor="middle" font-size="9.5" fill="#92400e">'
            f'{label}</text></g>')


# --- entry points ----------------------------------------------------------------------------

def draw_svg(report: Any, style: str = "graph", direction: str = "tb", depth: int | None = None) -> str:
    """The report's net as SVG text: `style` graph (any net) or blocks (chains); `direction` tb or lr (graph);
    `depth` collapses blocks into one node each, as `show --depth` does (graph)."""
    if style not in STYLES:
        raise DrawError(f"unknown drawing style {brief(style)}; choose one of {', '.join(STYLES)}")
    if direction not in DIRECTIONS:
        raise DrawError(f"unknown direction {brief(direction)}; choose one of {', '.join(DIRECTIONS)}")
    if depth is not None and depth < 1:
        raise DrawError(f"depth must be at least 1, got {depth}")
    if style == "blocks":
        return draw_blocks(report)
    return draw_graph(report, direction, depth)


def svg_to_png(svg: str, scale: float = 1.0) -> bytes:
    """PNG bytes of an SVG, through cairosvg (the optional extra archcalc[image]); MissingExtra says how to get it."""
    try:
        import cairosvg  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except (ImportError, OSError) as exc:  # OSError: cairosvg installed but the cairo library missing
        raise MissingExtra("PNG output needs cairosvg and the cairo library: pip install 'archcalc[image]' "
                           f"(or write .svg) ({type(exc).__name__}: {exc})") from None
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale)
    assert isinstance(png, bytes)
    return png


__all__ = ["draw_svg", "draw_graph", "draw_blocks", "svg_to_png", "graph_model", "chain_break", "kind_of",
           "DrawError", "MissingExtra", "STYLES", "DIRECTIONS", "Layout"]
