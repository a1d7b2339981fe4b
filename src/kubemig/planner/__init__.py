"""Cluster MIG planning: which layout each GPU should have and which pod gets which instance.

snapshot = Snapshot.load("cluster.yaml")
plan = ExactPlanner(time_limit_s=10).plan(snapshot)      # or OnlinePlanner(), or WindowPlanner()
allocator = OnlineAllocator([("node-0/0", "A100-SXM4-40GB"), ...])
allocator.allocate("pod-a", "3g.20gb")                   # [("node-0/0", Instance 3g.20gb@4)]
"""

from __future__ import annotations

from kubemig.planner.exact import ExactPlanner
from kubemig.planner.online import OnlineAllocator
from kubemig.planner.online_plan import OnlinePlanner
from kubemig.planner.plan import GpuPlan, Objective, Plan, Planner, Slot, SolverState, SolverStatus
from kubemig.planner.snapshot import GpuState, Node, Request, Snapshot, SnapshotError, SnapshotInstance
from kubemig.planner.window_plan import WindowPlanner

__all__ = [
    "ExactPlanner",
    "GpuPlan",
    "GpuState",
    "Node",
    "Objective",
    "OnlineAllocator",
    "OnlinePlanner",
    "Plan",
    "Planner",
    "Request",
    "Slot",
    "Snapshot",
    "SnapshotError",
    "SnapshotInstance",
    "SolverState",
    "SolverStatus",
    "WindowPlanner",
]
