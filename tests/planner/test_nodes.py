"""The node ranking against a brute force: after any sequence of changes, the busiest nodes holding a
pattern are exactly those a pass over every node finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubemig.geometry import Instance, Layout
from kubemig.planner.nodes import Kind, NodeRanking, NodeRoom, Shapes

KEY = ("A100-SXM4-40GB", 580)
PATTERNS = [Layout(), Layout.of([Instance(0, 8, 0, "7g.40gb")]), Layout.of([Instance(4, 4, 9, "3g.20gb")])]
NODES = ["n0", "n1", "n2"]

USED = [0, 7, 3]  # compute slices each pattern has in use
# each step: a GPU (node, index on it) takes a pattern
changes = st.lists(st.tuples(st.sampled_from(NODES), st.integers(0, 2), st.integers(0, 2)), max_size=40)


@given(changes)
def test_busiest_matches_a_pass_over_every_node(steps: list[tuple[str, int, int]]) -> None:
    ranking = NodeRanking()
    gpus = {(node, g): 0 for node in NODES for g in range(3)}  # every GPU starts empty

    def kinds(node: str) -> list[Kind]:
        return [(KEY, PATTERNS[p]) for p in sorted({p for (n, _), p in gpus.items() if n == node})]

    for node in NODES:
        ranking.add(node, kinds(node))
    for node, g, pattern in steps:
        ranking.remove(node, kinds(node))
        before = gpus[(node, g)]
        gpus[(node, g)] = pattern
        ranking.add(node, kinds(node), USED[pattern] - USED[before])
    used = {node: sum(USED[p] for (n, _), p in gpus.items() if n == node) for node in NODES}
    for index, layout in enumerate(PATTERNS):
        holders = [node for node in NODES if any(p == index for (n, _), p in gpus.items() if n == node)]
        most, nodes = ranking.busiest((KEY, layout))
        if not holders:
            assert (most, nodes) == (-1, {})
            continue
        assert most == max(used[n] for n in holders)
        assert set(nodes) == {n for n in holders if used[n] == most}
    assert all(ranking.used_slices(n) == used[n] for n in NODES)


# room each pattern leaves, per tracked shape: (whole GPUs, 4g.20gb halves)
ROOM = {0: (1, 1), 1: (0, 0), 2: (0, 1)}
WHOLE: Shapes = frozenset({(KEY, 0)})
HALF: Shapes = frozenset({(KEY, 5)})


@given(changes, st.integers(0, 40), st.integers(1, 4))
def test_node_room_matches_a_pass_over_every_node(
    steps: list[tuple[str, int, int]], track_at: int, count: int
) -> None:
    gpus = {(node, g): 0 for node in NODES for g in range(3)}

    def room_of(node: str, shapes: Shapes) -> int:
        column = 0 if shapes == WHOLE else 1
        return sum(ROOM[p][column] for (n, _), p in gpus.items() if n == node)

    room = NodeRoom(room_of, NODES)
    for n, (node, g, pattern) in enumerate(steps):
        if n == track_at:  # a shape first asked about midway is counted from then on
            room.on("n0", HALF)
        gpus[(node, g)] = pattern
        room.refresh(node)
    for shapes in (WHOLE, HALF):
        assert all(room.on(node, shapes) == room_of(node, shapes) for node in NODES)
        assert room.pods(shapes, count) == sum(room_of(node, shapes) // count for node in NODES)
