"""Which node a pod's instance goes to, when several nodes hold a GPU of the chosen pattern.

A pod that asks for k whole GPUs (k x 7g on A100) needs k GPUs with nothing in use *on one node*.
Those exist only if one-instance pods are packed onto few nodes: spread evenly, they leave a GPU or two
in use on every node and the k-GPU pods wait while much of the cluster is free. So the allocator packs
nodes: of the GPUs of the pattern it chose, it takes one on the node with the most compute slices in
use (bin packing, as HAMi's scheduler does), and once pods come and go it also prefers patterns found
on busier nodes (`online.py`, `NODE_WEIGHT`), so that lightly used nodes drain as their pods end.

This ranking must not rest on the order in which GPUs were last touched: that order is node order
while a cluster fills (so packing comes for free then), but once pods end it is arbitrary, and the
allocator spread small pods over every node (the churn benchmark's 8 x 7g pods waited for hours).
Each node's rank is kept per (model, pattern) it holds, so picking costs a lookup among the ranks
present, never a pass over the GPUs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from kubemig.geometry import Layout
from kubemig.planner.cluster import GeometryKey

Kind = tuple[GeometryKey, Layout]
"""A GPU model and a pattern of instances in use."""


class NodeRanking:
    """Per (model, pattern), the nodes holding a GPU of it, grouped by compute slices in use."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._index: dict[Kind, dict[int, dict[str, None]]] = {}

    def used_slices(self, node: str) -> int:
        return self._used.get(node, 0)

    def add(self, node: str, kinds: Iterable[Kind], used_slices: int = 0) -> None:
        """Enter `node` under each of its `kinds`, its slices in use moved by `used_slices`."""
        used = self._used[node] = self._used.get(node, 0) + used_slices
        for kind in kinds:
            self._index.setdefault(kind, {}).setdefault(used, {})[node] = None

    def remove(self, node: str, kinds: Iterable[Kind]) -> None:
        """Take `node` out from under each of its `kinds` (before they or its slices change)."""
        used = self._used.get(node, 0)
        for kind in kinds:
            by_used = self._index[kind]
            nodes = by_used[used]
            del nodes[node]
            if not nodes:
                del by_used[used]
                if not by_used:
                    del self._index[kind]

    def busiest(self, kind: Kind) -> tuple[int, dict[str, None]]:
        """The most compute slices in use on a node holding a GPU of `kind`, and those nodes
        ((-1, {}) when no node holds one)."""
        by_used = self._index.get(kind)
        if not by_used:
            return -1, {}
        used = max(by_used)
        return used, by_used[used]


Shapes = frozenset[tuple[GeometryKey, int]]
"""One kind of instance, as (model, profile ID) for each model it fits."""


class NodeRoom:
    """Per node, how many instances of each tracked shape its GPUs could still take (each GPU on its
    own), and how many nodes have each amount of room. A pod of k instances must find them on one
    node, so `pods(shapes, k)` (how many such pods the nodes could hold now) is what admission needs
    on every decision; the counts make it a pass over the distinct amounts (at most a few dozen),
    not over the nodes, and a change of a GPU updates only its node."""

    def __init__(self, room_of: Callable[[str, Shapes], int], nodes: Iterable[str]) -> None:
        self._room_of = room_of
        self._nodes = list(nodes)
        self._room: dict[Shapes, dict[str, int]] = {}
        self._nodes_with: dict[Shapes, Counter[int]] = {}

    def on(self, node: str, shapes: Shapes) -> int:
        self._track(shapes)
        return self._room[shapes][node]

    def pods(self, shapes: Shapes, count: int) -> int:
        self._track(shapes)
        return sum(nodes * (room // count) for room, nodes in self._nodes_with[shapes].items())

    def refresh(self, node: str) -> None:
        """The node's GPUs changed: count its room again for every tracked shape."""
        for shapes, room in self._room.items():
            before, after = room[node], self._room_of(node, shapes)
            if after != before:
                room[node] = after
                counts = self._nodes_with[shapes]
                counts[before] -= 1
                if not counts[before]:
                    del counts[before]
                counts[after] += 1

    def _track(self, shapes: Shapes) -> None:
        if shapes not in self._room:
            room = self._room[shapes] = {node: self._room_of(node, shapes) for node in self._nodes}
            self._nodes_with[shapes] = Counter(room.values())
