"""An independent check of a plan against its snapshot: every rule a plan must keep."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from kubemig.errors import KubemigError
from kubemig.geometry import Action, GpuGeometry, Layout, resolve_profile
from kubemig.planner import Plan, Snapshot
from kubemig.planner.cluster import Cluster
from kubemig.planner.snapshot import HOSTNAME
from kubemig.quantity import quantities
from tests.geometry.oracle import is_valid


def _resolves(geo: GpuGeometry, token: str) -> int | None:
    try:
        return resolve_profile(geo, token).id
    except KubemigError:
        return None


def check_plan(snapshot: Snapshot, plan: Plan) -> None:
    cluster = Cluster.of(snapshot)
    assert set(plan.gpus) == {gpu.key for gpu in cluster.gpus}
    for gpu in cluster.gpus:
        gpu_plan = plan.gpus[gpu.key]
        target = gpu_plan.target
        assert is_valid(gpu.geo, target.instances), f"{gpu.key}: invalid target {target}"
        assert gpu.busy <= set(target.instances), f"{gpu.key}: a busy instance moved or vanished"
        state = set(gpu.current.instances)
        for step in gpu_plan.transition.steps:
            if step.action is Action.DESTROY:
                assert step.instance in state and step.instance not in gpu.busy
                state.remove(step.instance)
            else:
                assert step.instance not in state and is_valid(gpu.geo, [*state, step.instance])
                state.add(step.instance)
        assert Layout.of(state) == target, f"{gpu.key}: the steps do not reach the target"
    by_key = {gpu.key: gpu for gpu in cluster.gpus}
    taken: set[tuple[str, int, object]] = set()
    slices = priority = 0
    for request in snapshot.requests:
        slots = plan.assignments.get(request.pod)
        if slots is None:
            assert request.pod in plan.unscheduled
            continue
        assert request.pod not in plan.unscheduled
        assert len(slots) == request.count, f"{request.pod} got {len(slots)} instances, asked {request.count}"
        assert len({s.node for s in slots}) == 1, f"{request.pod} spans nodes"
        if request.nodes is not None:
            assert slots[0].node in request.nodes, f"{request.pod} placed on a node it may not go to"
        for slot in slots:
            gpu = by_key[(slot.node, slot.gpu)]
            assert slot.instance in plan.gpus[gpu.key].target.instances
            assert slot.instance not in gpu.busy, f"{request.pod} got a busy instance"
            assert slot.instance.profile_id == _resolves(gpu.geo, str(request.profile))
            assert (slot.node, slot.gpu, slot.instance) not in taken, "an instance is assigned twice"
            taken.add((slot.node, slot.gpu, slot.instance))
            slices += gpu.geo.shape(slot.instance.profile_id).compute_slices
        priority += request.priority
    assert set(plan.assignments) | set(plan.unscheduled) == {r.pod for r in snapshot.requests}
    node_of = {pod: slots[0].node for pod, slots in plan.assignments.items() if slots}
    labels = {node.name: node.labels for node in snapshot.nodes}
    for request in snapshot.requests:
        for apart in request.apart:
            for other in apart.pods:
                if request.pod in node_of and other in node_of and other != request.pod:
                    here, there = (
                        labels[n].get(apart.topology, n if apart.topology == HOSTNAME else None)
                        for n in (node_of[request.pod], node_of[other])
                    )
                    assert here is None or here != there, f"{request.pod} and {other} share {apart.topology}"
    problem = (
        spread_violation(snapshot, node_of)
        or together_violation(snapshot, node_of)
        or follow_violation(snapshot, node_of)
    )
    assert problem is None, problem
    asked = {r.pod: {"pods": Decimal(1), **quantities(r.resources)} for r in snapshot.requests}
    for node in snapshot.nodes:
        on_node = [pod for pod, slots in plan.assignments.items() if slots and slots[0].node == node.name]
        for name, amount in quantities(node.free or {}).items():
            total = sum((asked[pod].get(name, Decimal(0)) for pod in on_node), Decimal(0))
            assert total <= amount, f"{node.name}: the pods placed there ask {total} {name}, {amount} left"
    destroyed = sum(len(p.transition.destroy) for p in plan.gpus.values())
    touched = sum(1 for p in plan.gpus.values() if p.transition.steps)
    assert (plan.objective.scheduled_slices, plan.objective.priority) == (slices, priority)
    assert (plan.objective.free_destroyed, plan.objective.gpus_touched) == (destroyed, touched)


def spread_violation(snapshot: Snapshot, node_of: Mapping[str, str]) -> str | None:
    """What breaks a spread group, with pods placed on nodes as `node_of` says; None when nothing
    does. The final counts decide: where pods were added (those that only count included), at most
    max skew above the emptiest eligible domain (0 below min domains), which some binding order then
    keeps at every step."""
    labels = {node.name: node.labels for node in snapshot.nodes}
    for spread in snapshot.spread:

        def domain(node: str) -> str | None:
            if spread.nodes is not None and node not in spread.nodes:
                return None  # not eligible: its pods count nowhere
            return labels.get(node, {}).get(spread.topology, node if spread.topology == HOSTNAME else None)

        if spread.domains is not None:
            counts = dict(spread.domains)
        else:
            counts = {d: 0 for node in snapshot.nodes if (d := domain(node.name)) is not None}
        added: dict[str, int] = {}
        for pod in set(spread.pods) | set(spread.counted):
            if pod in node_of:
                here = domain(node_of[pod])
                if here not in counts and pod not in spread.pods:
                    continue  # it only counts, and not there
                if here not in counts:
                    return f"{pod} went to {node_of[pod]}, in no domain of its spread group"
                counts[here] += 1
                added[here] = added.get(here, 0) + 1
        floor = 0 if len(counts) < spread.min_domains else min(counts.values(), default=0)
        for here in added:
            if counts[here] - floor > spread.max_skew:
                return f"{spread.topology}={here} holds {counts[here]} pods, {floor} in the emptiest domain"
    return None


def together_violation(snapshot: Snapshot, node_of: Mapping[str, str]) -> str | None:
    """Which group of pods that must share a domain the pods placed as `node_of` says split, or put
    on a node without the group's key; None when none."""
    labels = {node.name: node.labels for node in snapshot.nodes}
    for group in snapshot.together:
        domains = set()
        for pod in set(group.pods):
            if pod in node_of:
                node = node_of[pod]
                here = labels[node].get(group.topology, node if group.topology == HOSTNAME else None)
                if here is None:
                    return f"{pod} went to {node}, which has no {group.topology}"
                domains.add(here)
        if len(domains) > 1:
            return f"{sorted(group.pods)} split over {group.topology} {sorted(domains)}"
    return None


def follow_violation(snapshot: Snapshot, node_of: Mapping[str, str]) -> str | None:
    """Which pod placed as `node_of` says the scheduler would never bind for its affinity to pods
    it follows: replaying the binding, a follower binds once, for each group it follows, its
    domain is one of the group's or holds a bound pod of the group that may lead it (in a circle of
    pods following each other, only one before it: pods with domains of their own first, then in
    the order of `requests`); None when every placed follower binds."""
    labels = {node.name: node.labels for node in snapshot.nodes}
    pending = {r.pod for r in snapshot.requests}
    follows = {r.pod: r.follows for r in snapshot.requests if r.follows}
    order = {r.pod: (not any(f.domains for f in r.follows), n) for n, r in enumerate(snapshot.requests)}

    def domain(node: str, key: str) -> str | None:
        return labels[node].get(key, node if key == HOSTNAME else None)

    def reaches(start: str, goal: str) -> bool:
        """Whether `start` follows `goal`, however indirectly."""
        todo, seen = [start], {start}
        while todo:
            for follow in follows.get(todo.pop(), []):
                for pod in follow.pods:
                    if pod == goal:
                        return True
                    if pod in pending and pod not in seen:
                        seen.add(pod)
                        todo.append(pod)
        return False

    bound = {pod for pod in node_of if pod not in follows}
    waiting = [pod for pod in node_of if pod in follows]
    progress = True
    while waiting and progress:
        progress = False
        for pod in list(waiting):
            here = {f.topology: domain(node_of[pod], f.topology) for f in follows[pod]}
            if all(
                here[f.topology] is not None
                and (
                    here[f.topology] in f.domains
                    or any(
                        leader in bound
                        and leader != pod
                        and domain(node_of[leader], f.topology) == here[f.topology]
                        and (not reaches(leader, pod) or order[leader] < order[pod])
                        for leader in f.pods
                    )
                )
                for f in follows[pod]
            ):
                bound.add(pod)
                waiting.remove(pod)
                progress = True
    if waiting:
        return f"{sorted(waiting)} placed where none of the pods they follow would be bound first"
    return None
