"""The planner's optimum by brute force: every valid layout of every GPU (from the geometry oracle),
every subset of the pending pods, every way to give them instances. Tiny cases only."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from itertools import combinations, product

from kubemig.errors import KubemigError
from kubemig.geometry import Instance, resolve_profile
from kubemig.planner import Snapshot
from kubemig.planner.cluster import Cluster, ClusterGpu, PendingPod
from kubemig.quantity import quantities
from tests.geometry.oracle import all_layouts
from tests.planner.checks import follow_violation, spread_violation, together_violation

Signature = tuple[tuple[tuple[int, int], ...], int, int]  # (free instances per profile, destroyed, touched)


def _signatures(gpu: ClusterGpu, wanted: set[int]) -> set[Signature]:
    ids = wanted | {i.profile_id for i in gpu.current}
    layouts = all_layouts(gpu.geo, ids) | {frozenset[Instance]()}
    out = set()
    for layout in layouts:
        if not gpu.busy <= layout:
            continue
        free = Counter(i.profile_id for i in layout if i not in gpu.busy and i.profile_id in wanted)
        destroyed = sum(1 for i in gpu.current if i not in layout)
        out.add((tuple(sorted(free.items())), destroyed, int(layout != frozenset(gpu.current.instances))))
    return out


def best_objective(snapshot: Snapshot) -> tuple[int, int, int, int]:
    cluster = Cluster.of(snapshot)
    gpus = list(cluster.gpus)
    profile_of: list[dict[int, int | None]] = []  # per request: GPU position -> profile ID there
    for request in cluster.requests:
        row: dict[int, int | None] = {}
        for g, gpu in enumerate(gpus):
            try:
                row[g] = resolve_profile(gpu.geo, request.profile).id
            except KubemigError:
                row[g] = None
        profile_of.append(row)
    options = [
        _signatures(gpu, {pid for row in profile_of if (pid := row[g]) is not None})
        for g, gpu in enumerate(gpus)
    ]
    requests = list(cluster.requests)
    # what each node has left beyond MIG devices, as the snapshot gives it (not the planner's pruning)
    free = {node.name: quantities(node.free) for node in snapshot.nodes if node.free is not None}
    subsets = []
    for size in range(len(requests), -1, -1):
        for chosen in combinations(range(len(requests)), size):
            slices = sum(requests[r].count * _slices(gpus, profile_of[r]) for r in chosen)
            subsets.append((slices, sum(requests[r].priority for r in chosen), chosen))
    subsets.sort(key=lambda s: (s[0], s[1]), reverse=True)
    best: tuple[int, int, int, int] | None = None
    for combo in product(*options):
        capacity = [dict(sig[0]) for sig in combo]
        changes = (-sum(sig[1] for sig in combo), -sum(sig[2] for sig in combo))
        for slices, priority, chosen in subsets:
            if best is not None and (slices, priority) < best[:2]:
                break
            chosen_requests = [requests[r] for r in chosen]
            if _feasible(
                chosen_requests,
                [profile_of[r] for r in chosen],
                gpus,
                capacity,
                free,
                (cluster, {}),
                snapshot,
            ):
                key = (slices, priority, *changes)
                if best is None or key > best:
                    best = key
                break
    assert best is not None
    return best


def _slices(gpus: list[ClusterGpu], row: dict[int, int | None]) -> int:
    values = {gpus[g].geo.shape(pid).compute_slices for g, pid in row.items() if pid is not None}
    assert len(values) <= 1, "a profile name with different compute slices on two models"
    return values.pop() if values else 0


def _feasible(
    requests: list[PendingPod],
    rows: list[dict[int, int | None]],
    gpus: list[ClusterGpu],
    capacity: list[dict[int, int]],
    free: dict[str, dict[str, Decimal]],
    apart: tuple[Cluster, dict[str, str]],
    snapshot: Snapshot,
) -> bool:
    """Whether these pods (all of them) get their instances, each pod within one node, the pods on a
    node within what it has left beyond MIG devices, pods kept apart in different domains (`apart`:
    the cluster, and the node of each pod placed so far), spread groups within their skew, together groups in one domain, followers beside a leader."""
    if not requests:
        return all(
            violation(snapshot, apart[1]) is None
            for violation in (spread_violation, together_violation, follow_violation)
        )
    request, row = requests[0], rows[0]
    nodes = sorted({gpu.node for gpu in gpus})
    for node in nodes:
        left = free.get(node, {})
        asks = {name: request.resources.get(name, Decimal(0)) for name in left}
        if not request.may_go_to(node) or any(asks[name] > left[name] for name in left):
            continue
        cluster, placed = apart
        if any(
            placed.get(other) is not None
            and cluster.domain(node, key) is not None
            and cluster.domain(node, key) == cluster.domain(placed[other], key)
            for key, other in request.apart
        ):
            continue
        placed[request.pod] = node
        for name in left:
            left[name] -= asks[name]
        places = [g for g, gpu in enumerate(gpus) if gpu.node == node and row[g] is not None]

        def spread(left: int, first: int) -> bool:
            if left == 0:
                return _feasible(requests[1:], rows[1:], gpus, capacity, free, apart, snapshot)
            for i in range(first, len(places)):
                g = places[i]
                pid = row[g]
                assert pid is not None
                if capacity[g].get(pid, 0) > 0:
                    capacity[g][pid] -= 1
                    ok = spread(left - 1, i)
                    capacity[g][pid] += 1
                    if ok:
                        return True
            return False

        fits = spread(request.count, 0)
        del placed[request.pod]
        for name in left:
            left[name] += asks[name]
        if fits:
            return True
    return False
