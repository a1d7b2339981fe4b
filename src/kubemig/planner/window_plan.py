"""The window planner: near the exact plan's quality on clusters too large for the exact program to
solve in time. It starts from the online plan, then plans windows of a few nodes again by the exact
program, each with the pods placed there and the pods left out that it could hold, and keeps a
window's new part where it is better by the objective (`local_search.improved`). Each pass groups
the nodes anew, in a seeded order, so that pods can move between nodes that shared no window
before; passes stop at the time limit or once one changes nothing.

Why windows of several nodes: where CPU or memory runs short, a pod left out often fits only once
pods on other nodes trade places. Planning one node at a time by the exact program gained 1 slice
over the online rule's own search on the tuning snapshots (8,401 against 8,400), windows of two
nodes 27, windows of four 108 (docs/planner.md)."""

from __future__ import annotations

import random
import time
from dataclasses import replace

from kubemig.planner.cluster import Cluster
from kubemig.planner.exact import ExactPlanner
from kubemig.planner.local_search import improved
from kubemig.planner.online_plan import OnlinePlanner
from kubemig.planner.plan import Plan, SolverState, SolverStatus
from kubemig.planner.snapshot import Snapshot

WINDOW_NODES = 4
"""Nodes per window: 32 GPUs, whose exact program takes 0.05 to 0.5 s."""
PASSES = 3
"""Passes over the nodes at most; each groups them anew."""
WINDOW_TIME_LIMIT_S = 2.0
"""The exact program's time limit per window (its own fallback is the online rule's plan)."""


class WindowPlanner:
    """The online plan, improved by windows of `window_nodes` nodes planned exactly, within
    `time_limit_s` in all (the online plan's time included)."""

    def __init__(
        self,
        time_limit_s: float = 60.0,
        *,
        window_nodes: int = WINDOW_NODES,
        passes: int = PASSES,
        seed: int = 0,
    ) -> None:
        if window_nodes < 1 or passes < 0:
            raise ValueError(
                f"a window holds at least one node and passes are not negative: {window_nodes}, {passes}"
            )
        self.time_limit_s = time_limit_s
        self.window_nodes = window_nodes
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

        def replan(local: Cluster) -> Plan:
            nonlocal windows_planned
            windows_planned += 1
            left = max(deadline - time.perf_counter(), 0.01)
            return ExactPlanner(min(WINDOW_TIME_LIMIT_S, left)).plan_cluster(local)

        for _ in range(self.passes):
            if time.perf_counter() >= deadline:
                break
            rng.shuffle(nodes)
            windows = [nodes[i : i + self.window_nodes] for i in range(0, len(nodes), self.window_nodes)]
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
        detail = (
            f"{windows_planned} windows of up to {self.window_nodes} nodes planned exactly over "
            f"{passes_run} passes"
        )
        return replace(plan, status=SolverStatus(SolverState.HEURISTIC, "windows", elapsed, detail=detail))
