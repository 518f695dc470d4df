"""A small Sugiyama-style layered layout for drawing layer graphs, top to bottom.

Pure geometry on plain numbers, nothing archcalc-specific:

1. rank: each node's rank is the longest path from a source (inputs above consumers);
2. dummies: an edge spanning k > 1 ranks becomes a chain through k - 1 thin dummy nodes, so a skip
   connection is routed beside the nodes it skips instead of through them;
3. order: barycentre sweeps down and up reorder each rank, keeping the order with fewest crossings;
4. place: within a rank, x is the weighted mean of the neighbours' centres, made to respect the order
   and the minimum gaps exactly by isotonic regression (pool adjacent violators), a few sweeps;
5. route: an edge leaves its source's bottom, goes straight down to its rank band's bottom, crosses the
   gap, passes through its dummies' slots, and enters the target's top.

Every edge therefore goes strictly downward and no two boxes overlap (tests/pictures check both).
`transpose` turns the result into a left-to-right layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

Point = tuple[float, float]
DUMMY_PULL = 0.3  # a dummy gives way to real nodes when two want the same place
SKIP_PULL = 0.01  # and a skip connection's dummy almost always
BIG = 20_000  # nodes and dummies beyond which the sweeps are cut to two


@dataclass(frozen=True, slots=True)
class Box:
    """A node's rectangle: centre (x, y), width and height."""

    x: float
    y: float
    w: float
    h: float

    def span(self, axis: int) -> tuple[float, float]:
        """(left, right) on axis 0, (top, bottom) on axis 1."""
        centre, size = (self.x, self.w) if axis == 0 else (self.y, self.h)
        return centre - size / 2, centre + size / 2

    left = property(lambda self: self.span(0)[0])
    right = property(lambda self: self.span(0)[1])
    top = property(lambda self: self.span(1)[0])
    bottom = property(lambda self: self.span(1)[1])


@dataclass(frozen=True, slots=True)
class Layout:
    boxes: dict[Hashable, Box]
    routes: list[tuple[Hashable, Hashable, list[Point]]]  # (source, target, polyline), one per edge, in input order
    ranks: dict[Hashable, int]
    width: float
    height: float


@dataclass(slots=True)
class _Node:
    key: Hashable  # the caller's id, or ("dummy", edge index, step)
    w: float
    h: float
    rank: int
    dummy: bool
    order_hint: float
    up: list[int]
    down: list[int]
    x: float = 0.0
    span: int = 1  # for a dummy: how many ranks its edge skips (a skip connection when more than 2)


def layered_layout(sizes: dict[Hashable, tuple[float, float]], edges: Sequence[tuple[Hashable, Hashable]],
                   gap_x: float = 24.0, gap_y: float = 40.0, dummy_width: float = 14.0, margin: float = 16.0,
                   sweeps: int = 8) -> Layout:
    """Place nodes of the given (width, height) and route the edges (source, target) downward.

    The graph must be acyclic; `sizes` order is the tie-break order (the spec's order, so branches
    appear left to right as written).
    """
    keys = list(sizes)
    index = {k: i for i, k in enumerate(keys)}
    for a, b in edges:
        if a not in index or b not in index:
            raise ValueError(f"edge ({a!r}, {b!r}) names a node that has no size")
    rank = _longest_path_ranks(keys, [(index[a], index[b]) for a, b in edges])
    nodes = [_Node(k, float(sizes[k][0]), float(sizes[k][1]), rank[i], False, float(i), [], [])
             for i, k in enumerate(keys)]
    chains: list[list[int]] = []  # per edge: node ids from source to target, dummies between
    for e, (a, b) in enumerate(edges):
        chain = [index[a]]
        for step, r in enumerate(range(rank[index[a]] + 1, rank[index[b]])):
            nodes.append(_Node(("dummy", e, step), dummy_width, 0.0, r, True, index[a] + 0.5, [], [],
                               span=rank[index[b]] - rank[index[a]]))
            chain.append(len(nodes) - 1)
        chain.append(index[b])
        for u, v in zip(chain, chain[1:]):
            nodes[u].down.append(v)
            nodes[v].up.append(u)
        chains.append(chain)
    layers: list[list[int]] = [[] for _ in range(max(rank, default=-1) + 1)]
    for i, n in enumerate(nodes):
        layers[n.rank].append(i)
    for layer in layers:
        layer.sort(key=lambda i: nodes[i].order_hint)
    if len(nodes) > BIG:  # tens of thousands of dummies (many long edges): fewer sweeps keep it to seconds
        sweeps = min(sweeps, 2)
    layers = _order(nodes, layers, sweeps)
    _place(nodes, layers, gap_x, sweeps)
    return _finish(nodes, layers, chains, list(edges), keys, gap_y, margin)


def _longest_path_ranks(keys: list[Hashable], edges: list[tuple[int, int]]) -> list[int]:
    """Rank = longest path from any source (Kahn's order); raises ValueError on a cycle."""
    n = len(keys)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    rank = [0] * n
    ready = [i for i in range(n) if indeg[i] == 0]
    seen = 0
    while ready:
        u = ready.pop()
        seen += 1
        for v in succ[u]:
            rank[v] = max(rank[v], rank[u] + 1)
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    if seen != n:
        raise ValueError("the graph has a cycle; a layered layout needs an acyclic graph")
    return rank


# --- crossing reduction ------------------------------------------------------------------

def _crossings(nodes: list[_Node], upper: list[int], lower: list[int]) -> int:
    """Edge crossings between two adjacent ranks: inversions of the lower ends taken in upper order, counted
    with a Fenwick tree in O(E log V)."""
    pos = {v: i for i, v in enumerate(lower)}
    tree = [0] * (len(lower) + 1)
    crossings = seen = 0
    for u in upper:
        for end in sorted(pos[v] for v in nodes[u].down):
            i, at_most = end + 1, 0
            while i > 0:
                at_most += tree[i]
                i -= i & -i
            crossings += seen - at_most  # earlier edges ending right of this one
            i = end + 1
            while i <= len(lower):
                tree[i] += 1
                i += i & -i
            seen += 1
    return crossings


def _total_crossings(nodes: list[_Node], layers: list[list[int]]) -> int:
    return sum(_crossings(nodes, a, b) for a, b in zip(layers, layers[1:]))


def _barycentre_sort(nodes: list[_Node], layer: list[int], fixed: list[int], downward: bool) -> list[int]:
    pos = {v: i for i, v in enumerate(fixed)}
    keys = []
    for i, v in enumerate(layer):
        neighbours = nodes[v].up if downward else nodes[v].down
        keys.append(sum(pos[u] for u in neighbours) / len(neighbours) if neighbours else None)
    # nodes without neighbours keep their place: give them the key of their left neighbour
    last = -1.0
    filled = []
    for k in keys:
        last = k if k is not None else last
        filled.append(last)
    return [v for _, _, v in sorted(zip(filled, range(len(layer)), layer))]


def _order(nodes: list[_Node], layers: list[list[int]], sweeps: int) -> list[list[int]]:
    best = [list(layer) for layer in layers]
    best_cost = _total_crossings(nodes, best)
    current = [list(layer) for layer in layers]
    for sweep in range(sweeps):
        if best_cost == 0:
            break
        downward = sweep % 2 == 0
        span = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for r in span:
            current[r] = _barycentre_sort(nodes, current[r], current[r - 1] if downward else current[r + 1], downward)
        cost = _total_crossings(nodes, current)
        if cost < best_cost:
            best, best_cost = [list(layer) for layer in current], cost
    return best


# --- coordinates ---------------------------------------------------------------------------

def _isotonic_place(desired: list[float], weights: list[float], widths: list[float], gap: float) -> list[float]:
    """Centres closest (weighted least squares) to `desired` with x[i+1] - x[i] >= (w[i] + w[i+1]) / 2 + gap.

    Shifting by the cumulative minimum separation turns the constraints into y[i+1] >= y[i]: isotonic
    regression, solved exactly by pooling adjacent violators.
    """
    offsets = [0.0]
    for a, b in zip(widths, widths[1:]):
        offsets.append(offsets[-1] + (a + b) / 2 + gap)
    blocks: list[list[float]] = []  # [weighted mean, total weight, count]
    for d, w, off in zip(desired, weights, offsets):
        blocks.append([d - off, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    ys = [m for m, _, c in blocks for _ in range(int(c))]
    return [y + off for y, off in zip(ys, offsets)]


def _edge_weight(nodes: list[_Node], u: int, v: int) -> float:
    """How strongly neighbour u pulls v.  A dummy follows its chain (8) more than the real node at its end (2),
    so long edges stay straight (Gansner et al.); a real node weighs real neighbours and short detours (a
    parallel branch one rank longer) alike, and barely feels a skip connection, so the main line stays straight
    and the skip goes around it instead of dragging it sideways."""
    if nodes[v].dummy:
        return 8.0 if nodes[u].dummy else 2.0
    return 0.05 if nodes[u].dummy and nodes[u].span > 2 else 1.0


def _place(nodes: list[_Node], layers: list[list[int]], gap: float, sweeps: int) -> None:
    for layer in layers:
        x = 0.0
        for i, v in enumerate(layer):
            if i:
                x += (nodes[layer[i - 1]].w + nodes[v].w) / 2 + gap
            nodes[v].x = x
    passes = ["both"] * (sweeps + 1) + ["down"]
    for direction in passes:
        span = range(len(layers)) if direction != "up" else range(len(layers) - 1, -1, -1)
        for r in span:
            layer = layers[r]
            desired, weights = [], []
            for v in layer:
                neighbours = {"down": nodes[v].up, "up": nodes[v].down, "both": nodes[v].up + nodes[v].down}[direction]
                ws = [_edge_weight(nodes, u, v) for u in neighbours]
                if ws:
                    desired.append(sum(w * nodes[u].x for w, u in zip(ws, neighbours)) / sum(ws))
                    weights.append(sum(ws) * ((SKIP_PULL if nodes[v].span > 2 else DUMMY_PULL) if nodes[v].dummy else 1.0))
                else:
                    desired.append(nodes[v].x)
                    weights.append(0.01)
            for v, x in zip(layer, _isotonic_place(desired, weights, [nodes[v].w for v in layer], gap)):
                nodes[v].x = x


def _finish(nodes: list[_Node], layers: list[list[int]], chains: list[list[int]],
            edges: list[tuple[Hashable, Hashable]], keys: list[Hashable], gap_y: float, margin: float) -> Layout:
    band_top, band_height = [], []
    y = margin
    for layer in layers:
        h = max((nodes[v].h for v in layer), default=0.0)
        band_top.append(y)
        band_height.append(h)
        y += h + gap_y
    height = y - gap_y + margin if layers else 2 * margin
    left = min((nodes[v].x - nodes[v].w / 2 for layer in layers for v in layer), default=0.0)
    right = max((nodes[v].x + nodes[v].w / 2 for layer in layers for v in layer), default=0.0)
    shift = margin - left
    boxes = {}
    for i, key in enumerate(keys):
        n = nodes[i]
        boxes[key] = Box(n.x + shift, band_top[n.rank] + band_height[n.rank] / 2, n.w, n.h)
    routes = []
    for (a, b), chain in zip(edges, chains):
        src, dst = boxes[a], boxes[b]
        points: list[Point] = [(src.x, src.bottom)]
        r = nodes[chain[0]].rank
        points.append((src.x, band_top[r] + band_height[r]))
        for v in chain[1:-1]:
            x = nodes[v].x + shift
            points.append((x, band_top[nodes[v].rank]))
            points.append((x, band_top[nodes[v].rank] + band_height[nodes[v].rank]))
        points.append((dst.x, band_top[nodes[chain[-1]].rank]))
        points.append((dst.x, dst.top))
        routes.append((a, b, _dedupe(points)))
    ranks = {key: nodes[i].rank for i, key in enumerate(keys)}
    return Layout(boxes, routes, ranks, right - left + 2 * margin, height)


def _dedupe(points: list[Point]) -> list[Point]:
    out = [points[0]]
    for p in points[1:]:
        if p != out[-1]:
            out.append(p)
    return out


def transpose(layout: Layout) -> Layout:
    """Swap the axes: a top-to-bottom layout becomes left to right (lay out with (h, w) sizes first)."""
    boxes = {k: Box(b.y, b.x, b.h, b.w) for k, b in layout.boxes.items()}
    routes = [(a, b, [(y, x) for x, y in pts]) for a, b, pts in layout.routes]
    return Layout(boxes, routes, layout.ranks, layout.height, layout.width)
