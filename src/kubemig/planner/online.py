"""The online allocator: one decision per arriving pod, in microseconds, on thousands of GPUs.

Every GPU is summarised by its *pattern*, the instances in use on it; GPUs with equal patterns sit in
one bucket, so a decision looks at each distinct pattern once (tens of them) rather than at each GPU.
For every way to add the pod's instance to a pattern, the allocator weighs:

- waste: compute slices the move makes unusable for good (3g.20gb at slice 0 strands a slice),
  charged less once empty GPUs are scarce if the kind that would fill the GPU exactly is rarer
  than the pod's own (then waiting for it would hold GPUs that whole-GPU pods could use);
- fragmentation: for each profile, the free slices of the GPU it could not use, weighted by how
  often pods ask for it (as in FGD, Weng et al. 2023, over MIG placements); the move that increases
  it least keeps whole halves and whole GPUs free for the large profiles that will come;
- fit: of equal moves, the GPU left with least room (partly used GPUs fill before empty ones);
- nodes (when GPUs belong to nodes): the GPU is taken on the busiest node holding the pattern, and
  once pods have started to end, patterns on busier nodes cost a little less, so lightly used nodes
  drain and pods that need several whole GPUs on one node find them (`nodes.py`).

Free space is repartitioned freely (a free instance in the way is destroyed), an instance in use is
never moved or destroyed. Released instances stay created and are reused when a later pod fits them.
With `expected_load`, an admission plan (`admission.py`) may decline a pod that fits, and narrows
the moves to those its plan keeps room for; `prior_mix`, the workload's past mix, informs its first
guesses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

from kubemig.errors import KubemigError, ProfileError
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    ProfileShape,
    can_add,
    geometry_for,
    resolve_profile,
)
from kubemig.planner.admission import AdmissionPlan, Demand, Moves
from kubemig.planner.cluster import GeometryKey, geometry_key
from kubemig.planner.nodes import Kind, NodeRanking, NodeRoom, Shapes
from kubemig.planner.patterns import PatternBook, PatternInfo

WASTE_WEIGHT = 10.0
"""How many slices of fragmentation one slice lost for good is worth, where the kinds that would
fill the GPU exactly are asked for at least as often as the pod's own kind (`_waste_weight`)."""
SCARCE_EMPTY_SHARE = 0.2
"""Share of a model's GPUs with nothing in use at or below which empty GPUs count as scarce: only
then is waiting on a GPU for a partner of a kind asked for less often charged (`_waste_weight`).
Without admission, on tuning seeds 100-199 at 64 GPUs and 100-109 at 1,024 (`nearest` mapping;
default / multigpu50, % of capacity): always charged gave 99.14 / 99.17 % at 64 GPUs but 99.43 /
99.54 % at 1,024, against 98.85 / 98.67 % and 99.66 / 99.70 % with the full weight always; 0.1
gave 99.07 / 98.92 % and 99.71 / 99.78 %; 0.15: 99.25 / 99.07 % and 99.70 / 99.76 %; 0.2: 99.27 /
99.17 % and 99.67 / 99.76 %; 0.25: 99.30 / 99.19 % and 99.65 / 99.75 %. Under `ceil` (4g.20gb
outnumber 3g.20gb) 0.2 is within 0.01 point of the full weight."""
FIT_WEIGHT = 1e-3
"""Tie-break towards the GPU left with the least room (best fit)."""
REUSE_BONUS = 1e-4
"""Tie-break towards a free instance that already exists (no create or destroy). Only a tie-break
for pods arriving one by one: more than that lowered `bench churn` (tuning cases, 95.56 % of the
bound; 0.01: 95.43 %, 0.1: 95.26 %) and saved no reconfigurations (38,008; 37,806; 38,142)."""
PLAN_REUSE_BONUS = 0.01
"""The same where free instances are worth keeping (`keep_free`: a plan of the pods pending in a
snapshot, whose objective ranks fewer free instances destroyed right after slices and priority): a
free instance of the profile is taken over a new one that packs its GPU a hundredth of a slice
better."""
NODE_WEIGHT = 0.5 / 7
"""Per compute slice in use on the busiest node holding a pattern: how much cheaper its moves are
(half a slice of fragmentation per GPU's worth of use), once pods have started to end. Before
that a cluster only fills, GPUs are taken in node order anyway, and the term would only trade fit on
the GPU for nothing (it lowered `bench fill` by 0.01-0.03 point on tuning seeds 100-149)."""
_LOOK_AT = 17
"""GPUs (or nodes) of one pattern looked at when picking where a move goes: equal patterns are
interchangeable but for free instances left in the way, and a few are enough to find one without."""


@dataclass(slots=True, eq=False)
class _Gpu:
    id: str
    key: GeometryKey
    geo: GpuGeometry
    node: str | None
    busy: dict[Instance, str | None] = field(default_factory=dict)
    free: set[Instance] = field(default_factory=set)
    pattern: Layout = Layout()


@dataclass(frozen=True, slots=True)
class _Choice:
    cost: float
    gpu_key: GeometryKey
    pattern: Layout
    instance: Instance
    fills: bool
    """The move leaves its GPU with no usable room and strands nothing."""


class OnlineAllocator:
    """Places pods one at a time on `gpus` ((GPU id, model key or geometry) pairs).

    `node_of` (GPU id -> node name), when given, keeps all instances of one pod on one node.
    `expected_load`, when given, is how much the whole stream will ask, as a multiple of the
    cluster's compute slices (1.3: 30 % more than it holds); the allocator then declines a pod that
    fits when keeping its room serves the expected rest of the stream better (`admission.py`).
    Without it every pod that fits is placed. `prior_mix` ((profile, count) -> share of pods in the
    workload's past) helps admission guess the mix before the stream has shown it (`PRIOR_PODS`);
    kinds no GPU here can hold are left out of it. With `keep_free`, a free instance that fits a
    pod as it is goes to it before a new one, on whichever node (`PLAN_REUSE_BONUS`), for plans
    that count each free instance destroyed; pods that come one by one keep the room packing.
    """

    def __init__(
        self,
        gpus: Sequence[tuple[str, str | GpuGeometry]],
        *,
        node_of: Mapping[str, str] | None = None,
        expected_load: float | None = None,
        prior_mix: Mapping[tuple[str, int], float] | None = None,
        keep_free: bool = False,
    ) -> None:
        self.reconfigurations = 0
        """Create and destroy operations performed so far."""
        self._keep_free = keep_free
        self._reuse_bonus = PLAN_REUSE_BONUS if keep_free else REUSE_BONUS
        self._gpus: dict[str, _Gpu] = {}
        self._books: dict[GeometryKey, PatternBook] = {}
        self._buckets: dict[GeometryKey, dict[Layout, dict[str, None]]] = {}
        # the same buckets per node, when pods must stay on one node
        self._node_buckets: dict[str, dict[GeometryKey, dict[Layout, dict[str, None]]]] = defaultdict(dict)
        self._reusable: dict[tuple[GeometryKey, Layout, Instance], dict[str, None]] = defaultdict(dict)
        self._pods: dict[str, list[tuple[str, Instance]]] = {}
        # pods refused and not yet placed or withdrawn: asking again is not new demand
        self._pending: dict[str, None] = {}
        self._draining = False
        """A pod has ended: from now on nodes are packed for draining too (`NODE_WEIGHT`)."""
        self._shapes: dict[str, dict[GeometryKey, ProfileShape]] = {}
        self._demand: dict[GeometryKey, list[float]] = {}
        self._gpu_count: dict[GeometryKey, int] = defaultdict(int)
        for gpu_id, model in gpus:
            geo = geometry_for(model) if isinstance(model, str) else model
            key = geometry_key(geo)
            if gpu_id in self._gpus:
                raise ValueError(f"GPU id {gpu_id!r} is given twice")
            if key not in self._books:
                self._books[key] = PatternBook(geo)
                self._buckets[key] = {}
                self._demand[key] = [0.0] * len(geo.shapes)
            gpu = _Gpu(gpu_id, key, geo, None if node_of is None else node_of[gpu_id])
            self._gpu_count[key] += 1
            self._gpus[gpu_id] = gpu
            for buckets in self._bucket_maps(gpu):
                buckets.setdefault(gpu.pattern, {})[gpu_id] = None
        self._by_node = node_of is not None
        self._room = NodeRoom(self._room_of, self._node_buckets)
        self._ranking = NodeRanking()
        for node in self._node_buckets:
            self._ranking.add(node, self._kinds_on(node))
        capacity = sum(gpu.geo.model.compute_slices for gpu in self._gpus.values())
        self._admission = None
        if expected_load is not None:
            known = {kind: share for kind, share in (prior_mix or {}).items() if self._resolvable(kind[0])}
            self._admission = AdmissionPlan(capacity, expected_load, known)

    # -- public API --------------------------------------------------------------------------------

    def allocate(
        self, pod: str, profile: str, count: int = 1, *, nodes: Collection[str] | None = None
    ) -> list[tuple[str, Instance]] | None:
        """`count` instances of `profile` for `pod` (GPU id and instance each), or None when they do
        not all fit (on one node, with `node_of`) or admission declines the pod; then nothing changed
        but that the pod is remembered as pending: asking again for it (a retry) is not counted as
        more demand. `release(pod)` withdraws a pending pod that will not be asked for again. `nodes`
        holds the pod to those nodes (the allocator must know each GPU's node: `node_of`)."""
        if pod in self._pods:
            raise ValueError(f"pod {pod!r} already holds instances: release it first")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if nodes is not None and not self._by_node:
            raise ValueError("nodes needs an allocator that knows each GPU's node (node_of)")
        shapes = self._resolve(profile)
        retry = pod in self._pending
        if not retry:
            for key, shape in shapes.items():
                self._demand[key][self._books[key].index[shape.id]] += count
        allowed: Moves | None = None
        if self._admission is not None:
            admitted, allowed = self._admit(profile, count, shapes, retry)
            if not admitted:
                self._pending[pod] = None
                return None
        if (count == 1 and nodes is None) or not self._by_node:
            placed = self._place_all(pod, shapes, count, None, allowed)
        else:
            placed = None
            for node in self._candidate_nodes(shapes, count, nodes):
                placed = self._place_all(pod, shapes, count, node, None)
                if placed is not None:
                    break
        if placed is None:
            self._pending[pod] = None
        else:
            self._pending.pop(pod, None)
            self._pods[pod] = placed
        return placed

    def release(self, pod: str) -> None:
        """The pod ended: its instances become free (they stay created). A pending pod is withdrawn;
        unknown pods are ignored."""
        self._pending.pop(pod, None)
        if pod in self._pods:
            self._draining = True
        for gpu_id, inst in self._pods.pop(pod, []):
            gpu = self._gpus[gpu_id]
            busy = dict(gpu.busy)
            del busy[inst]
            self._set_state(gpu, busy, gpu.free | {inst})

    def layout(self, gpu_id: str) -> Layout:
        gpu = self._gpus[gpu_id]
        return Layout.of([*gpu.busy, *gpu.free])

    def busy(self, gpu_id: str) -> Mapping[Instance, str | None]:
        """The instances in use on a GPU and their pods (None: in use by something else)."""
        return dict(self._gpus[gpu_id].busy)

    def assignments(self) -> dict[str, list[tuple[str, Instance]]]:
        return {pod: list(slots) for pod, slots in self._pods.items()}

    def set_state(
        self, gpu_id: str, busy: Mapping[Instance, str | None], free: Sequence[Instance] = ()
    ) -> None:
        """Start from instances that already exist on a GPU (in use, with their pod or None, and free)."""
        gpu = self._gpus[gpu_id]
        for old in {pod for pod in gpu.busy.values() if pod is not None}:
            slots = [s for s in self._pods.get(old, []) if s[0] != gpu_id]
            if slots:
                self._pods[old] = slots
            else:
                self._pods.pop(old, None)
        for inst, new in busy.items():
            if new is not None:
                self._pods.setdefault(new, []).append((gpu_id, inst))
        self._set_state(gpu, dict(busy), set(free))

    # -- decisions ---------------------------------------------------------------------------------

    def _resolvable(self, profile: str) -> bool:
        try:
            self._resolve(profile)
        except ProfileError:
            return False
        return True

    def _resolve(self, profile: str) -> dict[GeometryKey, ProfileShape]:
        found = self._shapes.get(profile)
        if found is None:
            found = {}
            errors = []
            for key, book in self._books.items():
                try:
                    found[key] = resolve_profile(book.geo, profile)
                except KubemigError as exc:
                    errors.append(str(exc))
            if not found:
                raise ProfileError(errors[0] if errors else f"no GPU to place profile {profile!r} on")
            self._shapes[profile] = found
        return found

    def _admit(
        self, profile: str, count: int, shapes: Mapping[GeometryKey, ProfileShape], retry: bool
    ) -> tuple[bool, Moves | None]:
        """Whether the admission plan takes the pod, and the moves it keeps room for (None: any)."""
        assert self._admission is not None
        if not retry:
            self._admission.observe((profile, count), next(iter(shapes.values())).compute_slices * count)
        best = self._choose(shapes, None, None)
        if best is None:
            return False, None  # fits nowhere: no need to ask the plan
        if count == 1 and best.fills:
            return True, None  # it completes a GPU exactly: nothing could use that room better
        resolved = {kind: self._resolve(kind[0]) for kind in self._admission.kinds()}
        allowed = self._admission.decide(
            (profile, count),
            resolved,
            self._books,
            {key: {p: len(m) for p, m in buckets.items()} for key, buckets in self._buckets.items()},
            self._multi_instance_room(resolved),
        )
        if allowed is None:
            return False, None
        # a multi-instance pod is admitted as a whole; its instances go where they fit best
        return True, (allowed if count == 1 else None)

    def _multi_instance_room(
        self, resolved: Mapping[Demand, Mapping[GeometryKey, ProfileShape]]
    ) -> dict[Demand, int] | None:
        """Per kind of several instances, how many more such pods the nodes could hold now: all of a
        pod's instances share one node, which the admission plan's pooled slices do not see."""
        if not self._by_node:
            return None
        return {
            kind: self._room.pods(_shape_set(shapes), kind[1])
            for kind, shapes in resolved.items()
            if kind[1] > 1
        }

    def _place_all(
        self,
        pod: str,
        shapes: Mapping[GeometryKey, ProfileShape],
        count: int,
        node: str | None,
        allowed: Moves | None,
    ) -> list[tuple[str, Instance]] | None:
        saved: dict[str, tuple[dict[Instance, str | None], set[Instance]]] = {}
        operations = self.reconfigurations
        placed: list[tuple[str, Instance]] = []
        for _ in range(count):
            choice = None if allowed is None else self._choose(shapes, node, allowed)
            if choice is None:
                choice = self._choose(shapes, node, None)
            if choice is None:
                for gpu_id, (busy, free) in saved.items():  # all or nothing: undo
                    self._set_state(self._gpus[gpu_id], busy, free)
                self.reconfigurations = operations
                return None
            gpu = self._pick_gpu(choice, node)
            saved.setdefault(gpu.id, (dict(gpu.busy), set(gpu.free)))
            self._apply(gpu, choice.instance, pod)
            placed.append((gpu.id, choice.instance))
        return placed

    def _choose(
        self, shapes: Mapping[GeometryKey, ProfileShape], node: str | None, allowed: Moves | None
    ) -> _Choice | None:
        """The cheapest move (pattern, instance) for one instance; only those in `allowed` if given."""
        best: _Choice | None = None
        for key, shape in shapes.items():
            only = None if allowed is None else allowed.get(key, set())
            book = self._books[key]
            weights = self._weights(key)
            slices = shape.compute_slices
            buckets = self._buckets[key] if node is None else self._node_buckets[node].get(key, {})
            pack_nodes = node is None and self._by_node and self._draining
            for pattern in buckets:
                info = book.info(pattern)
                frag_before = _fragmentation(info, weights, book)
                if pack_nodes:  # a move's cost is counted from here: busier nodes, cheaper moves
                    frag_before += NODE_WEIGHT * self._ranking.busiest((key, pattern))[0]
                waste_weight = -1.0  # computed on the pattern's first move that wastes
                for inst, after in book.moves(info, shape):
                    if only is not None and (pattern, inst) not in only:
                        continue
                    waste = info.usable - after.usable - slices
                    if waste and waste_weight < 0:
                        waste_weight = self._waste_weight(key, info, shape)
                    cost = (
                        waste_weight * waste
                        + _fragmentation(after, weights, book)
                        - frag_before
                        + FIT_WEIGHT * after.usable
                        - self._reuse_bonus * ((key, pattern, inst) in self._reusable)
                    )
                    if best is None or cost < best.cost - 1e-9:
                        best = _Choice(cost, key, pattern, inst, waste == 0 and after.usable == 0)
        return best

    def _waste_weight(self, key: GeometryKey, info: PatternInfo, shape: ProfileShape) -> float:
        """`WASTE_WEIGHT`, times the ratio of the pods asking for a kind that would fill the GPU's
        room exactly in one instance to those asking for the pod's own kind, when that is below 1
        and empty GPUs are scarce (`SCARCE_EMPTY_SHARE`).

        Wasting a slice now (a 3g.20gb beside a lone 3g.20gb) is weighed against opening an empty
        GPU to wait for a partner that fills the room exactly (a 4g.20gb). Where partners are asked
        for less often than the pod's kind, the GPUs opened to wait outnumber the partners that
        come (under the `nearest` mapping 3g.20gb pods are 2.4 times the 4g.20gb ones), so the waste
        costs only the share of the waiting that pays off. That matters once empty GPUs run short:
        a GPU opened then is one a whole-GPU pod could have had. While they are plentiful, rooms
        left waiting are still filled later by whatever fits them (4g.20gb, 2g.10gb, 1g.5gb), and
        wasting a slice early lost slices at 1,024 GPUs. A GPU with nothing in use waits for no
        partner, and a room no one kind fills keeps the full weight."""
        if not info.pattern.instances:
            return WASTE_WEIGHT
        buckets = self._buckets[key]
        if len(buckets.get(Layout(), ())) > SCARCE_EMPTY_SHARE * self._gpu_count[key]:
            return WASTE_WEIGHT
        book = self._books[key]
        demand = self._demand[key]
        fills = [other.id != shape.id and book.completed_by(info, other) for other in book.shapes]
        own = demand[book.index[shape.id]]
        if not any(fills) or not own:
            return WASTE_WEIGHT
        partners = sum(count for count, fill in zip(demand, fills) if fill)
        return WASTE_WEIGHT * min(1.0, partners / own)

    def _weights(self, key: GeometryKey) -> list[float]:
        demand = self._demand[key]
        total = sum(demand)
        return [d / total for d in demand] if total else demand

    def _pick_gpu(self, choice: _Choice, node: str | None) -> _Gpu:
        """A GPU of the chosen pattern (on the busiest node holding it, when GPUs belong to nodes):
        one holding that very instance free if any, else one where no free instance is in the way,
        else any; a few candidates are enough to look at."""
        reuse = self._reusable.get((choice.gpu_key, choice.pattern, choice.instance), {})
        if node is None and self._by_node and self._keep_free and reuse:
            return self._gpus[next(iter(reuse))]  # the instance as it is, on whichever node
        if node is None and self._by_node:
            # among equally busy nodes, a few are enough to look for a reusable instance
            nodes = islice(self._ranking.busiest((choice.gpu_key, choice.pattern))[1], _LOOK_AT)
            candidates: Iterable[str] = (
                gpu_id for n in nodes for gpu_id in self._node_buckets[n][choice.gpu_key][choice.pattern]
            )
            return self._first_suitable(candidates, choice.instance, reuse)
        for gpu_id in reuse:
            if node is None or self._gpus[gpu_id].node == node:
                return self._gpus[gpu_id]
        buckets = self._buckets if node is None else self._node_buckets[node]
        members = islice(buckets[choice.gpu_key][choice.pattern], _LOOK_AT)
        return self._first_suitable(members, choice.instance, {})

    def _first_suitable(self, gpu_ids: Iterable[str], inst: Instance, reuse: Mapping[str, object]) -> _Gpu:
        """The first GPU in `reuse`, else the first with no free instance overlapping `inst`, else the first."""
        clear: _Gpu | None = None
        fallback: _Gpu | None = None
        for gpu_id in gpu_ids:
            gpu = self._gpus[gpu_id]
            if gpu_id in reuse:
                return gpu
            if clear is None and not any(f.mask & inst.mask for f in gpu.free):
                if not reuse:
                    return gpu
                clear = gpu
            fallback = fallback or gpu
        found = clear or fallback
        assert found is not None
        return found

    def _candidate_nodes(
        self, shapes: Mapping[GeometryKey, ProfileShape], count: int, nodes: Collection[str] | None
    ) -> list[str]:
        """Nodes with room for `count` instances, least room first (best fit at node level); only
        `nodes` where given (a pod held to a few of thousands reads only those)."""
        kind = _shape_set(shapes)
        among = self._node_buckets if nodes is None else [n for n in nodes if n in self._node_buckets]
        room = {node: self._room.on(node, kind) for node in among}
        return sorted((n for n in room if room[n] >= count), key=lambda n: (room[n], n))

    def _room_of(self, node: str, shapes: Shapes) -> int:
        """How many instances of the shape the node's GPUs could still take, each GPU on its own."""
        total = 0
        by_key = self._node_buckets[node]
        for key, profile_id in shapes:
            book = self._books[key]
            column = book.index[profile_id]
            for pattern, members in by_key.get(key, {}).items():
                total += book.info(pattern).capacity[column] * len(members)
        return total

    def _kinds_on(self, node: str) -> list[Kind]:
        by_key = self._node_buckets[node]
        return [(key, pattern) for key, by_pattern in by_key.items() for pattern in by_pattern]

    def _bucket_maps(self, gpu: _Gpu) -> list[dict[Layout, dict[str, None]]]:
        maps = [self._buckets[gpu.key]]
        if gpu.node is not None:
            maps.append(self._node_buckets[gpu.node].setdefault(gpu.key, {}))
        return maps

    # -- state -------------------------------------------------------------------------------------

    def _apply(self, gpu: _Gpu, inst: Instance, pod: str) -> None:
        busy = dict(gpu.busy)
        free = set(gpu.free)
        if inst in free:
            free.discard(inst)
        else:
            in_the_way = {f for f in free if f.mask & inst.mask}
            free -= in_the_way
            shape = gpu.geo.shape(inst.profile_id)
            # count rules (instance limits, one media extension) may still need free instances gone
            for f in sorted(free, key=lambda f: (f.profile_id != inst.profile_id, f)):
                if can_add(gpu.geo, [*busy, *free], shape, inst.start):
                    break
                free.discard(f)
                in_the_way.add(f)
            self.reconfigurations += len(in_the_way) + 1
        busy[inst] = pod
        self._set_state(gpu, busy, free)

    def _set_state(self, gpu: _Gpu, busy: dict[Instance, str | None], free: set[Instance]) -> None:
        key = gpu.key
        for inst in gpu.free:
            index = self._reusable.get((key, gpu.pattern, inst))
            if index is not None:
                index.pop(gpu.id, None)
                if not index:
                    del self._reusable[(key, gpu.pattern, inst)]
        maps = self._bucket_maps(gpu)
        node = gpu.node
        if node is not None:
            self._ranking.remove(node, self._kinds_on(node))
            used_before = _slices(gpu)
        for buckets in maps:
            bucket = buckets[gpu.pattern]
            del bucket[gpu.id]
            if not bucket:
                del buckets[gpu.pattern]
        gpu.busy = busy
        gpu.free = free
        gpu.pattern = Layout.of(busy)
        for buckets in maps:
            buckets.setdefault(gpu.pattern, {})[gpu.id] = None
        if node is not None:
            self._ranking.add(node, self._kinds_on(node), _slices(gpu) - used_before)
            self._room.refresh(node)
        for inst in free:
            self._reusable[(key, gpu.pattern, inst)][gpu.id] = None


def _shape_set(shapes: Mapping[GeometryKey, ProfileShape]) -> Shapes:
    return frozenset((key, shape.id) for key, shape in shapes.items())


def _slices(gpu: _Gpu) -> int:
    return sum(gpu.geo.shape(inst.profile_id).compute_slices for inst in gpu.busy)


def _fragmentation(info: PatternInfo, weights: list[float], book: PatternBook) -> float:
    """Expected free slices the next pod could not use on this GPU, over the demand seen so far."""
    total = 0.0
    for weight, shape, capacity in zip(weights, book.shapes, info.capacity):
        if weight:
            total += weight * (info.usable - shape.compute_slices * capacity)
    return total
