"""The window planner: near the exact plan's quality on clusters too large for the exact program to
solve in time. It starts from the online plan, then plans windows of a few nodes again by the exact
program, each with the pods placed there and the pods left out that it could hold, and keeps a
window's new part where it is better by the objective (`local_search.improved`). Each pass groups
the nodes anew, in a seeded order, so that pods can move between nodes that shared no window
before. Once a pass changes nothing, the windows grow (4 nodes, then 8, then 16); all stops at the
time limit, so a larger cluster or a shorter limit gets only the smaller windows.

Why windows of several nodes: where CPU or memory runs short, a pod left out often fits only once
pods on other nodes trade places. Planning one node at a time by the exact program gained 1 slice
over the online rule's own search on the tuning snapshots (8,401 against 8,400), windows of two
nodes 27, windows of four 108 (docs/planner.md). Why they grow rather than start large: windows of
8 nodes from the first pass gained 2 to 7 slices over windows of 4 at 256 GPUs for twice the time;
after windows of 4 have done what they can, windows of 8 start from a better plan and gained 14
slices on the three 256-GPU `short` snapshots (2,795 -> 2,809; the exact program's 2,813 or more),
and windows of 16 after them 11 more at 1,024 GPUs (3,720 -> 3,731, where the exact program reaches
3,727 in 60 s)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import replace

from kubemig.planner.cluster import Cluster
from kubemig.planner.exact import ExactPlanner
from kubemig.planner.local_search import improved
from kubemig.planner.online_plan import OnlinePlanner
from kubemig.planner.plan import Plan, SolverState, SolverStatus
from kubemig.planner.snapshot import Snapshot

WINDOW_NODES = (4, 8, 16)
"""Nodes per window, in turn: 32 GPUs, whose exact program takes 0.05 to 0.5 s, then 64, then 128."""
PASSES = 3
"""Passes over the nodes at most per window size; each groups them anew."""
WINDOW_TIME_LIMIT_S = 2.0
"""The exact program's time limit per window (its own fallback is the online rule's plan)."""


class WindowPlanner:
    """The online plan, improved by windows of nodes planned exactly, within `time_limit_s` in all
    (the online plan's time included): windows of `window_nodes[0]` nodes for up to `passes` passes,
    until one changes nothing, then of the next size."""

    def __init__(
        self,
        time_limit_s: float = 60.0,
        *,
        window_nodes: Sequence[int] = WINDOW_NODES,
        passes: int = PASSES,
        seed: int = 0,
    ) -> None:
        if not window_nodes or min(window_nodes) < 1 or passes < 0:
            raise ValueError(
                "a window holds at least one node and passes are not negative: "
                f"{list(window_nodes)}, {passes}"
            )
        self.time_limit_s = time_limit_s
        self.window_nodes = tuple(window_nodes)
        self.passes = passes
        self.seed = seed

    def plan(self, snapshot: Snapshot) -> Plan:
        return self.plan_cluster(Cluster.of(snapshot))

    def plan_cluster(self, cluster: Cluster) -> Plan:
        started = time.perf_counter()
        deadline = started + self.time_limit_s
        plan = OnlinePlanner().plan_cluster(cluster)
        nodes = sorted({gpu.node for gpu in cluster.gpus})
        rng = random.Random(self.seed)
        windows_planned = passes_run = 0
        sizes_run: list[int] = []

        def replan(local: Cluster) -> Plan:
            nonlocal windows_planned
            windows_planned += 1
            left = max(deadline - time.perf_counter(), 0.01)
            return ExactPlanner(min(WINDOW_TIME_LIMIT_S, left)).plan_cluster(local)

        # a window as large as the cluster is the cluster: a larger one would only plan it again
        sizes = dict.fromkeys(max(1, min(size, len(nodes))) for size in self.window_nodes)
        for size in sizes:
            for _ in range(self.passes):
                if time.perf_counter() >= deadline:
                    break
                if not sizes_run or sizes_run[-1] != size:
                    sizes_run.append(size)
                rng.shuffle(nodes)
                windows = [nodes[i : i + size] for i in range(0, len(nodes), size)]
                better = improved(
                    cluster,
                    plan,
                    replan,
                    windows,
                    gpu_budget=len(cluster.gpus),  # the time limit holds it, not a budget
                    left_out_per_node=None,
                    deadline=deadline,
                    only_where_left_out=False,
                )
                passes_run += 1
                if better is plan:
                    break
                plan = better
        elapsed = time.perf_counter() - started
        grown = ", then ".join(str(size) for size in sizes_run) or str(self.window_nodes[0])
        detail = f"{windows_planned} windows of up to {grown} nodes planned exactly over {passes_run} passes"
        return replace(plan, status=SolverStatus(SolverState.HEURISTIC, "windows", elapsed, detail=detail))
