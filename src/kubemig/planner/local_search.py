"""Local search over a plan: a window of nodes (one node, by default) planned again with the pods
placed there and the pods the plan leaves out, the window's new part kept where it is better.

The objective adds up over pods and GPUs, so a part planned again on its own nodes compares exactly
with the plan's part there: the rest of the cluster does not change. Pods kept apart, spread or
together with others, or following them, depend on nodes outside the part; they and the nodes
holding them stay as planned. The online planner plans single nodes again by its own rule; pairs of
nodes by that rule added 8 slices to the 8,400 the nodes alone gave on the tuning snapshots, at
twice the time (docs/planner.md). The window planner (`window_plan.py`) plans windows of several
nodes again by the exact program."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Set

from kubemig.planner.cluster import Cluster, ClusterGpu, GeometryKey, PendingPod, geometry_key
from kubemig.planner.plan import Plan, Slot, assemble

SEARCH_GPU_BUDGET = 1024
"""The GPUs of all the nodes the online planner plans again, at most (128 nodes of 8): a node's 8
GPUs planned again, with its restarts, take 20 to 30 ms, so the search adds up to about 4 s (at
4,096 GPUs, 4,096 pods pending, 1,230 left out: 8.1 to 9.6 s in all, where the first order alone
takes 4.9 to 5.5 s). With 2,048 GPUs it added 4.7 s there."""
LEFT_OUT_PER_NODE = 32
"""The pods left out offered to a node planned again, at most, largest first: where hundreds are
left out (1,024 GPUs, 311 left out) it kept each node's plan to a few milliseconds per run with
the same slices; 16 gave 7 fewer there, and on the tuning snapshots 3 fewer (docs/planner.md)."""


def improved(
    cluster: Cluster,
    plan: Plan,
    replan: Callable[[Cluster], Plan],
    windows: Iterable[Sequence[str]] | None = None,
    *,
    gpu_budget: int | None = None,
    left_out_per_node: int | None = LEFT_OUT_PER_NODE,
    deadline: float | None = None,
    only_where_left_out: bool = True,
) -> Plan:
    """`plan`, with each window of nodes (by default each node alone, in name order) planned again
    by `replan` and its new part kept where that is better by the objective's order. Nodes holding
    pods with group rules drop out of their window. A window is planned only where a pod left out
    could go, unless `only_where_left_out` is off (then its changes may still shrink), and offered
    at most `left_out_per_node` pods left out per node, largest first (None: all). The search
    stops once the windows planned hold `gpu_budget` GPUs (default `SEARCH_GPU_BUDGET`) or at
    `deadline` (`time.perf_counter()`)."""
    requests = {request.pod: request for request in cluster.requests}
    targets = {key: gpu_plan.target for key, gpu_plan in plan.gpus.items()}
    assignments = dict(plan.assignments)
    budget = SEARCH_GPU_BUDGET if gpu_budget is None else gpu_budget
    changed = False
    gpus_of: dict[str, list[ClusterGpu]] = {}
    for gpu in cluster.gpus:
        gpus_of.setdefault(gpu.node, []).append(gpu)
    for window in ([node] for node in sorted(gpus_of)) if windows is None else windows:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        held_on = {
            node: [pod for pod, slots in assignments.items() if slots[0].node == node] for node in window
        }
        nodes = [
            node
            for node in window
            if node in gpus_of and all(_free_to_move(requests[pod]) for pod in held_on[node])
        ]
        if not nodes:
            continue
        gpus = [gpu for node in nodes for gpu in gpus_of[node]]
        left = _left_out_for(cluster, assignments, nodes, {geometry_key(gpu.geo) for gpu in gpus})
        if only_where_left_out and not left:
            continue
        left = sorted(left, key=lambda request: -max(request.slices_on(k) for k in request.shapes))
        if left_out_per_node is not None:
            left = left[: left_out_per_node * len(nodes)]
        held = [pod for node in nodes for pod in held_on[node]]
        budget -= len(gpus)
        if budget < 0:
            break
        local = Cluster(
            gpus=tuple(gpus),
            requests=tuple(requests[pod] for pod in held) + tuple(left),
            free={node: cluster.free[node] for node in nodes if node in cluster.free},
            labels=cluster.labels,
        )
        kept = {gpu.key: targets[gpu.key] for gpu in gpus}
        before = assemble(local, kept, {pod: assignments[pod] for pod in held}, plan.status)
        after = replan(local)
        if after.objective.key() > before.objective.key():
            for pod in held:
                del assignments[pod]
            assignments.update(after.assignments)
            targets.update({gpu.key: after.gpus[gpu.key].target for gpu in gpus})
            changed = True
    return assemble(cluster, targets, assignments, plan.status) if changed else plan


def _free_to_move(request: PendingPod) -> bool:
    return not (request.apart or request.spread or request.together or request.follows)


def _left_out_for(
    cluster: Cluster,
    assignments: Mapping[str, Sequence[Slot]],
    nodes: Sequence[str],
    models: Set[GeometryKey],
) -> list[PendingPod]:
    """The pods left out, free to move, that one of `nodes` could hold: their profile exists on one
    of the nodes' GPU `models`, they may go there, and it has the CPU and memory they ask."""
    return [
        request
        for request in cluster.requests
        if request.pod not in assignments
        and _free_to_move(request)
        and not models.isdisjoint(request.shapes)
        and any(cluster.could_hold(request, node) for node in nodes)
    ]
