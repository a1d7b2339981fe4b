"""The snapshot resolved against the layout engine: each GPU's geometry, current layout and which
instances are busy, and each pending pod's profile on every GPU model it can use."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from kubemig.catalog import DEFAULT_DRIVER, find_model
from kubemig.errors import KubemigError
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    Numbering,
    ProfileShape,
    geometry_for,
    resolve_profile,
)
from kubemig.planner.snapshot import HOSTNAME, Snapshot
from kubemig.quantity import quantities

GeometryKey = tuple[str, int]
"""(model key, driver branch): GPUs with the same key share profiles, placements and rules."""


def geometry_key(geo: GpuGeometry) -> GeometryKey:
    return (geo.model.key, geo.branch)


@dataclass(frozen=True, slots=True)
class ClusterGpu:
    node: str
    index: int
    geo: GpuGeometry = field(repr=False)
    numbering: Numbering
    current: Layout
    busy: frozenset[Instance]
    pods: Mapping[Instance, str] = field(repr=False)
    """Busy instance -> the pod using it (instances in use by an unknown process are absent)."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.node, self.index)

    @property
    def free(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.current if i not in self.busy)


@dataclass(frozen=True, slots=True)
class FollowGroup:
    """Pending pods (`leaders`) one of which a pod must share a domain of `key` with, unless it goes
    to one of `domains`, where a pod its term matches runs already."""

    key: str
    leaders: frozenset[str]
    domains: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PendingPod:
    pod: str
    profile: str
    count: int
    priority: int
    shapes: Mapping[GeometryKey, ProfileShape] = field(repr=False)
    """The profile on each GPU model (and driver) of the cluster where it exists."""
    nodes: frozenset[str] | None = None
    """The nodes it may go to; None: any."""
    resources: Mapping[str, Decimal] = field(default_factory=dict, repr=False)
    """What it asks beyond MIG devices, `pods: 1` included."""
    apart: frozenset[tuple[str, str]] = frozenset()
    """(topology key, pending pod): the pods it may not share a domain with, both ways."""
    spread: tuple[int, ...] = ()
    """The spread groups it belongs to (positions in `Cluster.spreads`)."""
    together: tuple[tuple[str, frozenset[str]], ...] = ()
    """(topology key, the other pending pods): groups that must share one domain of the key with it."""
    follows: tuple[FollowGroup, ...] = ()
    """Per affinity term left to the plan, the pods one of which must be in its domain."""

    def may_go_to(self, node: str) -> bool:
        return self.nodes is None or node in self.nodes

    def slices_on(self, key: GeometryKey) -> int:
        return self.shapes[key].compute_slices * self.count

    @property
    def units(self) -> int:
        """The placement units its instances take, on the model where they take most."""
        return max((shape.size for shape in self.shapes.values()), default=0) * self.count


@dataclass(frozen=True, slots=True)
class SpreadGroup:
    """Pending pods spread over the domains of `key`: at most `max_skew` more of them and the matching
    pods already bound (`counts`, every eligible domain) in a domain they go to than in the emptiest
    (0 while there are fewer domains than `min_domains`)."""

    pods: tuple[str, ...]
    key: str
    max_skew: int
    counts: Mapping[str, int]
    min_domains: int = 1
    counted: frozenset[str] = frozenset()
    """Of `pods`, those that do not carry the constraint: they count where they go into one of its
    domains, and may go anywhere else."""
    nodes: frozenset[str] | None = None
    """The nodes whose pods count (eligible); None: every node in one of its domains."""

    def counted_in(self, node: str, domain: str | None) -> str | None:
        """The domain a pod on `node`, in `domain` of the group's key, counts in; None where it
        counts nowhere (a node not eligible, or in no domain of the group)."""
        if self.nodes is not None and node not in self.nodes:
            return None
        return domain if domain in self.counts else None

    def floor(self, counts: Mapping[str, int]) -> int:
        """The emptiest domain's count, as the scheduler takes it."""
        return 0 if len(counts) < self.min_domains else min(counts.values(), default=0)

    def allows(self, domain: str, placed: Mapping[str, int]) -> bool:
        """Whether one more pod may go to `domain`, with `placed` pods of the group already planned
        per domain: the scheduler's check as it binds the pods one by one."""
        counts = {d: n + placed.get(d, 0) for d, n in self.counts.items()}
        return domain in counts and counts[domain] + 1 - self.floor(counts) <= self.max_skew


@dataclass(frozen=True, slots=True)
class Cluster:
    gpus: tuple[ClusterGpu, ...]
    requests: tuple[PendingPod, ...]
    free: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    """Per node, what it has left beyond MIG devices, of the resources the pending pods that may go
    there ask more of together than it has. Any other resource, and any node absent, binds no plan."""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per node, its labels (`kubernetes.io/hostname` its name unless given)."""
    spreads: tuple[SpreadGroup, ...] = ()

    def domain(self, node: str, key: str) -> str | None:
        """The node's topology domain for `key`; None when it has no such label."""
        return _domain(self.labels, node, key)

    def conflicts(self, request: PendingPod, node: str, placed: Mapping[str, str]) -> bool:
        """Whether a pod on `node` would share a domain with a pod it must keep apart from, given
        where those already `placed` are (pod -> node)."""
        for key, other in request.apart:
            there = placed.get(other)
            if there is not None:
                domain = self.domain(node, key)
                if domain is not None and domain == self.domain(there, key):
                    return True
        return False

    def joins(self, request: PendingPod, node: str, placed: Mapping[str, str]) -> bool:
        """Whether `node` is in the domain the pods it must share one with took, given where those
        already `placed` are (pod -> node); any node with the key when none is placed yet."""
        for key, others in request.together:
            domain = self.domain(node, key)
            if domain is None:
                return False
            if any(self.domain(placed[o], key) != domain for o in others if o in placed):
                return False
        return True

    def near(self, request: PendingPod, node: str, placed: Mapping[str, str]) -> bool:
        """Whether `node` shares, for each pod group the pod follows, a domain with one of the group
        already `placed` (pod -> node)."""
        for group in request.follows:
            domain = self.domain(node, group.key)
            if domain is None:
                return False
            if domain not in group.domains and not any(
                self.domain(placed[p], group.key) == domain for p in group.leaders if p in placed
            ):
                return False
        return True

    def spread_domain(self, group: SpreadGroup, node: str) -> str | None:
        """The domain of `group` that a pod on `node` counts in; None where it counts nowhere."""
        return group.counted_in(node, self.domain(node, group.key))

    def spread_allowed(
        self, request: PendingPod, nodes: Sequence[str], placed: Mapping[str, str]
    ) -> list[str]:
        """Those of `nodes` the pod may go to with the pods of its spread groups `placed` so far (pod
        -> node), as the scheduler would bind it next. Each group's planned counts are read once,
        and each domain's verdict once, for all the nodes."""
        allowed = list(nodes)
        for g in request.spread:
            group = self.spreads[g]
            planned: dict[str, int] = {}
            for pod in group.pods:
                there = placed.get(pod)
                if there is not None and (d := self.spread_domain(group, there)) is not None:
                    planned[d] = planned.get(d, 0) + 1
            counted = request.pod in group.counted  # it may also go where it counts nowhere
            verdicts: dict[str, bool] = {}
            kept = []
            for node in allowed:
                domain = self.spread_domain(group, node)
                if domain is None:
                    if counted:
                        kept.append(node)
                    continue
                if domain not in verdicts:
                    verdicts[domain] = group.allows(domain, planned)
                if verdicts[domain]:
                    kept.append(node)
            allowed = kept
        return allowed

    def limits_where(self, request: PendingPod) -> bool:
        """Whether some node the pod may go to is short of a resource it asks: where the pod goes
        then matters to the other pods, beyond the GPUs it takes."""
        return any(
            request.may_go_to(node) and any(request.resources.get(name, 0) > 0 for name in left)
            for node, left in self.free.items()
        )

    def short_totals(self) -> dict[str, Decimal]:
        """Per resource some node is short of, what the short nodes have left of it together (at
        least 1, so that it divides)."""
        totals: dict[str, Decimal] = {}
        for left in self.free.values():
            for name, amount in left.items():
                totals[name] = totals.get(name, Decimal(0)) + amount
        return {name: max(total, Decimal(1)) for name, total in totals.items()}

    def fits_on(self, request: PendingPod, left: Mapping[str, Decimal]) -> bool:
        """Whether the pod's resources fit in `left` (a node's free resources, as they stand)."""
        return all(request.resources.get(name, 0) <= amount for name, amount in left.items())

    def could_hold(self, request: PendingPod, node: str) -> bool:
        """Whether the pod may go to `node` and the node has the CPU and memory it asks, with no
        pending pod placed yet (its GPUs and the pod's group rules aside)."""
        return request.may_go_to(node) and (node not in self.free or self.fits_on(request, self.free[node]))

    @staticmethod
    def of(snapshot: Snapshot) -> Cluster:
        """Resolve a checked snapshot (Snapshot.parse/load have checked it)."""
        gpus = []
        geometries: dict[GeometryKey, GpuGeometry] = {}
        for node in snapshot.nodes:
            for gpu in node.gpus:
                geo = geometry_for(gpu.model, node.driver or DEFAULT_DRIVER)
                geometries[geometry_key(geo)] = geo
                instances, busy, pods = [], set(), {}
                for item in gpu.instances:
                    inst = resolve_profile(geo, item.profile).at(item.start)
                    instances.append(inst)
                    if item.in_use:
                        busy.add(inst)
                        if item.pod is not None:
                            pods[inst] = item.pod
                numbering = gpu.numbering or find_model(gpu.model).gi_id_numbering
                gpus.append(
                    ClusterGpu(
                        node.name,
                        gpu.index,
                        geo,
                        Numbering(numbering),
                        Layout.of(instances),
                        frozenset(busy),
                        pods,
                    )
                )
        requests = []
        apart_pairs = _apart_pairs(snapshot)
        labels = {node.name: dict(node.labels) for node in snapshot.nodes}
        spreads = _spread_groups(snapshot, labels)
        pending = {request.pod for request in snapshot.requests}
        groups = [
            (group.topology, frozenset(group.pods) & pending)
            for group in snapshot.together
            if frozenset(group.pods) & pending
        ]
        labelled = {  # per key of such a group, the nodes that have it
            key: frozenset(n.name for n in snapshot.nodes if _domain(labels, n.name, key) is not None)
            for key in {key for key, _ in groups} | {f.topology for r in snapshot.requests for f in r.follows}
        }
        followed = _follow_groups(snapshot, pending)
        groups_of: dict[str, list[int]] = {}
        inside: list[frozenset[str]] = []  # per group, the nodes in its domains
        for g, group in enumerate(spreads):
            for pod in group.pods:
                groups_of.setdefault(pod, []).append(g)
            names = (node.name for node in snapshot.nodes)
            inside.append(
                frozenset(n for n in names if group.counted_in(n, _domain(labels, n, group.key)) is not None)
            )
        for request in snapshot.requests:
            shapes = {}
            for key, geo in geometries.items():
                try:
                    shapes[key] = resolve_profile(geo, request.profile)
                except KubemigError:
                    continue
            allowed = None if request.nodes is None else frozenset(request.nodes)
            member = tuple(groups_of.get(request.pod, ()))
            for g in member:  # only to nodes in the group's domains, unless it only counts there
                if request.pod not in spreads[g].counted:
                    allowed = inside[g] if allowed is None else allowed & inside[g]
            together = tuple((label, pods - {request.pod}) for label, pods in groups if request.pod in pods)
            follows = followed.get(request.pod, ())
            for label in (*(key for key, _ in together), *(group.key for group in follows)):
                allowed = labelled[label] if allowed is None else allowed & labelled[label]  # with the label
            if any(not group.leaders and not group.domains for group in follows):
                allowed = frozenset()  # it waits for a pod that is not pending to be bound
            asked = {"pods": Decimal(1), **quantities(request.resources)}
            apart = apart_pairs.get(request.pod, frozenset())
            requests.append(
                PendingPod(
                    request.pod,
                    str(request.profile),
                    request.count,
                    request.priority,
                    shapes,
                    allowed,
                    asked,
                    apart,
                    member,
                    together,
                    follows,
                )
            )
        short = _short(snapshot, requests, gpus)
        return Cluster(tuple(gpus), tuple(requests), short, labels, tuple(spreads))


def _domain(labels: Mapping[str, Mapping[str, str]], node: str, key: str) -> str | None:
    return labels.get(node, {}).get(key, node if key == HOSTNAME else None)


def _follow_groups(snapshot: Snapshot, pending: Collection[str]) -> dict[str, tuple[FollowGroup, ...]]:
    """Per pending pod, the groups it follows, each with its pending pods only. Pods in a circle (each
    following the next, however indirectly) cannot all wait for each other: within a circle a pod
    leads only those after it, pods with a way in (a domain of their own) first, then by their order
    in `requests`, so that every plan can be bound one pod after the other."""
    leads: dict[str, set[str]] = {
        r.pod: {pod for f in r.follows for pod in f.pods if pod in pending and pod != r.pod}
        for r in snapshot.requests
    }

    first = {  # the order within a circle
        r.pod: (not any(f.domains for f in r.follows), n) for n, r in enumerate(snapshot.requests)
    }
    found: dict[str, set[str]] = {}

    def behind(pod: str) -> set[str]:
        """The pods `pod` follows, however indirectly."""
        if pod not in found:
            seen: set[str] = set()
            todo = [pod]
            while todo:
                for leader in leads.get(todo.pop(), ()):
                    if leader not in seen:
                        seen.add(leader)
                        todo.append(leader)
            found[pod] = seen
        return found[pod]

    groups: dict[str, tuple[FollowGroup, ...]] = {}
    for request in snapshot.requests:
        if not request.follows:
            continue
        ahead = {
            leader
            for leader in leads[request.pod]
            if request.pod not in behind(leader) or first[leader] < first[request.pod]
        }
        groups[request.pod] = tuple(
            FollowGroup(f.topology, frozenset(f.pods) & ahead, frozenset(f.domains)) for f in request.follows
        )
    return groups


def _spread_groups(snapshot: Snapshot, labels: Mapping[str, Mapping[str, str]]) -> list[SpreadGroup]:
    """The snapshot's spread groups, each with its pending pods only and every eligible domain
    counted; a group with no pending pod is dropped."""
    pending = {request.pod for request in snapshot.requests}
    groups = []
    for spread in snapshot.spread:
        carriers = tuple(dict.fromkeys(pod for pod in spread.pods if pod in pending))
        if not carriers:
            continue  # nothing held to the skew
        counted = tuple(dict.fromkeys(p for p in spread.counted if p in pending and p not in carriers))
        pods = carriers + counted
        if spread.domains is None:
            found = (_domain(labels, node.name, spread.topology) for node in snapshot.nodes)
            counts = {domain: 0 for domain in found if domain is not None}
        else:
            counts = dict(spread.domains)
        eligible = None if spread.nodes is None else frozenset(spread.nodes)
        groups.append(
            SpreadGroup(
                pods,
                spread.topology,
                spread.max_skew,
                counts,
                spread.min_domains,
                frozenset(counted),
                eligible,
            )
        )
    return groups


def _apart_pairs(snapshot: Snapshot) -> dict[str, frozenset[tuple[str, str]]]:
    """Per pending pod, (topology key, pod) for each pending pod it must keep apart from, made
    symmetric: a pod that keeps another away is kept away from it."""
    pending = {request.pod for request in snapshot.requests}
    pairs: dict[str, set[tuple[str, str]]] = {}
    for request in snapshot.requests:
        for apart in request.apart:
            for other in apart.pods:
                if other in pending and other != request.pod:
                    pairs.setdefault(request.pod, set()).add((apart.topology, other))
                    pairs.setdefault(other, set()).add((apart.topology, request.pod))
    return {pod: frozenset(found) for pod, found in pairs.items()}


def _short(
    snapshot: Snapshot, requests: list[PendingPod], gpus: list[ClusterGpu]
) -> dict[str, dict[str, Decimal]]:
    """The nodes' free resources that the pending pods allowed there could ask more of, together,
    than is left: only those can bind a plan (each constraint kept costs the exact planner a node
    choice). A node holds at most as many new pods as its GPUs have free placement units (every
    instance takes one at least), so only that many of the largest asks count."""
    room: dict[str, int] = {}
    for gpu in gpus:
        taken = sum(inst.size for inst in gpu.busy)
        room[gpu.node] = room.get(gpu.node, 0) + gpu.geo.units - taken
    short: dict[str, dict[str, Decimal]] = {}
    for node in snapshot.nodes:
        allowed = [r for r in requests if r.may_go_to(node.name)]
        for name, amount in quantities(node.free or {}).items():
            asks = sorted((r.resources.get(name, Decimal(0)) for r in allowed), reverse=True)
            if sum(asks[: room.get(node.name, 0)], Decimal(0)) > amount:
                short.setdefault(node.name, {})[name] = amount
    return short
