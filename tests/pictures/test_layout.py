"""Properties of the layered layout: boxes never overlap, every edge goes down (or right), no edge crosses a box."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from archcalc.output.layout import Box, _crossings, _isotonic_place, _Node, layered_layout, transpose


@st.composite
def dags(draw, max_nodes: int = 24):
    """Random DAGs: node i may take edges from any j < i (so acyclic), random box sizes."""
    n = draw(st.integers(1, max_nodes))
    sizes = {i: (draw(st.integers(10, 200)), draw(st.integers(10, 80))) for i in range(n)}
    edges = []
    for i in range(1, n):
        sources = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True))
        edges += [(j, i) for j in sources]
    return sizes, edges


def overlap(a: Box, b: Box) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def check_tb(sizes, edges, layout) -> None:
    boxes = layout.boxes
    keys = list(boxes)
    for i, a in enumerate(keys):
        assert (boxes[a].w, boxes[a].h) == sizes[a]
        assert boxes[a].left >= 0 and boxes[a].top >= 0
        assert boxes[a].right <= layout.width + 1e-6 and boxes[a].bottom <= layout.height + 1e-6
        for b in keys[i + 1:]:
            assert not overlap(boxes[a], boxes[b]), (a, b, boxes[a], boxes[b])
    assert [(s, t) for s, t, _ in layout.routes] == list(edges)
    for s, t, points in layout.routes:
        assert layout.ranks[t] > layout.ranks[s]
        assert points[0] == (boxes[s].x, boxes[s].bottom)
        assert points[-1] == (boxes[t].x, boxes[t].top)
        assert points[-1][1] > points[0][1]
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            assert y2 > y1  # strictly downward, segment by segment
            for k, box in boxes.items():
                if k in (s, t) and (y1 >= box.bottom or y2 <= box.top):
                    continue
                if x1 == x2:  # a vertical run: never inside another box
                    assert not (box.left < x1 < box.right and y1 < box.bottom and box.top < y2), (s, t, k)
                else:  # a crossing between ranks: only in the gap between bands
                    assert y2 <= box.top or y1 >= box.bottom, (s, t, k)


@settings(max_examples=60, deadline=None)
@given(dags())
def test_random_dags_top_to_bottom(dag):
    sizes, edges = dag
    check_tb(sizes, edges, layered_layout(sizes, edges))


@settings(max_examples=30, deadline=None)
@given(dags())
def test_random_dags_left_to_right(dag):
    sizes, edges = dag
    flipped = transpose(layered_layout({k: (h, w) for k, (w, h) in sizes.items()}, edges))
    for k, b in flipped.boxes.items():
        assert (b.w, b.h) == sizes[k]
    for s, t, points in flipped.routes:
        assert points[0] == (flipped.boxes[s].right, flipped.boxes[s].y)
        assert points[-1] == (flipped.boxes[t].left, flipped.boxes[t].y)
        assert all(x2 > x1 for (x1, _), (x2, _) in zip(points, points[1:]))


def test_ranks_are_longest_paths_and_long_edges_get_dummies():
    # a -> b -> c -> d and a skip a -> d: d is on rank 3, the skip passes ranks 1 and 2 beside b and c
    sizes = {k: (50, 20) for k in "abcd"}
    layout = layered_layout(sizes, [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert layout.ranks == {"a": 0, "b": 1, "c": 2, "d": 3}
    skip = layout.routes[3][2]
    # leave a's bottom (its band's bottom: all boxes are 20 high), top and bottom of two dummy slots, enter d
    assert len(skip) == 6
    assert skip[1][0] == skip[2][0] and skip[3][0] == skip[4][0]
    for (x, _), beside in ((skip[1], "b"), (skip[3], "c")):
        assert x >= layout.boxes[beside].right or x <= layout.boxes[beside].left


def test_parallel_branches_sit_side_by_side():
    sizes = {k: (60, 20) for k in ["in", "b1", "b2", "b3", "cat"]}
    edges = [("in", "b1"), ("in", "b2"), ("in", "b3"), ("b1", "cat"), ("b2", "cat"), ("b3", "cat")]
    layout = layered_layout(sizes, edges, gap_x=20)
    ys = {layout.boxes[k].y for k in ("b1", "b2", "b3")}
    assert len(ys) == 1
    xs = [layout.boxes[k].x for k in ("b1", "b2", "b3")]
    assert xs == sorted(xs) and xs[1] - xs[0] == 80 and xs[2] - xs[1] == 80  # 60 wide + 20 gap, in spec order
    assert layout.boxes["in"].x == pytest.approx(xs[1]) and layout.boxes["cat"].x == pytest.approx(xs[1])


def test_isotonic_place_is_the_least_squares_fit():
    # three boxes 10 wide that all want x = 0: the closest placement keeps the middle one at 0
    assert _isotonic_place([0.0, 0.0, 0.0], [1.0] * 3, [10.0] * 3, 0.0) == [-10.0, 0.0, 10.0]
    # far enough apart already: unchanged
    assert _isotonic_place([0.0, 50.0], [1.0, 1.0], [10.0, 10.0], 5.0) == [0.0, 50.0]
    # a heavy node stays, the light one moves: weights 3 and 1, need 20 apart, want 0 and 0 -> -5 and 15
    assert _isotonic_place([0.0, 0.0], [3.0, 1.0], [10.0, 10.0], 10.0) == [-5.0, 15.0]


def test_crossings_counts_inversions():
    nodes = [_Node(k, 1, 1, 0, False, 0, [], []) for k in range(4)]
    nodes[0].down, nodes[1].down = [3], [2]  # 0 -> 3 and 1 -> 2 cross once when 2 is left of 3
    assert _crossings(nodes, [0, 1], [2, 3]) == 1
    assert _crossings(nodes, [0, 1], [3, 2]) == 0


def test_cycle_and_unknown_nodes_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        layered_layout({"a": (1, 1), "b": (1, 1)}, [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="no size"):
        layered_layout({"a": (1, 1)}, [("a", "z")])
