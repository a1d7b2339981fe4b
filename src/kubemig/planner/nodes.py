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

from collections.abc import Iterable

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
