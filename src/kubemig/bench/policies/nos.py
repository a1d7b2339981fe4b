"""`nos`: nebuly's nos dynamic MIG partitioner (nebuly-ai/nos, internal/partitioning and pkg/gpu/mig).

Its rules, as its code has them:

- A GPU is seen as counts of used and free devices per profile, never as placements. The allowed
  geometries are a fixed list of profile multisets per model (`known_geometries.go`; 12 for A100-40GB,
  4 for A30); a new GPU starts with the geometry of fewest devices (`InitGeometry`: one 7g).
- A pod that finds a free device of its profile on a node is scheduled there (the kube-scheduler; node
  name order here, the first free device in GPU order).
- Otherwise the profiles lacking cluster-wide are planned: nodes in name order (here; the Go code walks
  a map), each GPU in turn switches to the allowed geometry that provides most lacking profiles without
  deleting used devices (`GPU.UpdateGeometryFor`; ties broken at random, as Go's map order does, from
  the run's seed); the node's new geometry is kept only if the pod then fits one of its GPUs
  (`Node.AddPod`: per GPU, so a pod asking for several whole GPUs is never planned).
- The MIG agent applies the plan: free devices no longer wanted are deleted, missing ones are created
  one by one without a placement (`CreateGpuInstance`), so the driver picks the start by its
  preference list, in an arbitrary order (Go map order again: shuffled from the seed). A create
  the driver refuses stops that GPU's plan, which stays partly applied.

Counted in `counters()`: plans whose devices could not all be created, the devices missing because of
that, and the pods that were then refused.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import Policy, PolicyContext
from kubemig.bench.profiles import classic_shapes
from kubemig.bench.trace import PodRequest
from kubemig.errors import KubemigError
from kubemig.geometry import Instance, Layout, default_start

# compute slices of the model -> nos's allowed geometries as {g: count}, in known_geometries.go order
_GEOMETRIES: dict[int, tuple[dict[int, int], ...]] = {
    7: (
        {7: 1},
        {4: 1, 2: 1, 1: 1},
        {4: 1, 1: 3},
        {3: 2},
        {3: 1, 2: 1, 1: 1},
        {3: 1, 1: 3},
        {2: 2, 3: 1},
        {2: 1, 1: 2, 3: 1},
        {2: 3, 1: 1},
        {2: 2, 1: 3},
        {2: 1, 1: 5},
        {1: 7},
    ),
    4: ({4: 1}, {2: 2}, {2: 1, 1: 2}, {1: 4}),
}

Geometry = dict[int, int]  # profile ID -> devices


@dataclass
class _GpuCounts:
    """nos's view of one GPU: how many devices of each profile are used and free."""

    used: Counter[int] = field(default_factory=Counter)
    free: Counter[int] = field(default_factory=Counter)

    def geometry(self) -> Geometry:
        total = self.used + self.free
        return {p: n for p, n in total.items() if n}

    def copy(self) -> _GpuCounts:
        return _GpuCounts(Counter(self.used), Counter(self.free))


class Nos(Policy):
    name = "nos"
    rule = "profile-multiset geometries from a fixed list, node-name order, devices created without placement (nos)"

    def __init__(self, context: PolicyContext) -> None:
        super().__init__(context)
        lists = _GEOMETRIES.get(self.geo.model.compute_slices)
        if lists is None:
            raise KubemigError(f"nos has no list of geometries for {self.geo.model.key}")
        by_g = {s.compute_slices: s.id for s in classic_shapes(self.geo)}
        self.allowed: tuple[Geometry, ...] = tuple({by_g[g]: n for g, n in geo.items()} for geo in lists)
        self.rng = random.Random(f"nos-{context.seed}")
        self.plans_applied = 0
        self.plans_unbuildable = 0
        self.devices_not_created = 0
        self.pods_refused_after_unbuildable_plan = 0
        self.pods_not_plannable_multi_gpu = 0

    def counters(self) -> dict[str, object]:
        return {
            "plans_applied": self.plans_applied,
            "plans_unbuildable": self.plans_unbuildable,
            "devices_not_created": self.devices_not_created,
            "pods_refused_after_unbuildable_plan": self.pods_refused_after_unbuildable_plan,
            "multi_gpu_pods_not_plannable": self.pods_not_plannable_multi_gpu,
        }

    def setup(self, cluster: ClusterView) -> dict[int, Layout]:
        fewest = min(self.allowed, key=lambda g: sum(g.values()))
        (profile_id,) = fewest  # a single whole-GPU device
        whole = Layout((self.geo.instance(profile_id, self.geo.shape(profile_id).starts[0]),))
        return {gpu: whole for gpu in range(self.spec.gpus)}

    # --- the scheduler ------------------------------------------------------------------------
    def _free_instances(
        self, layout: Layout, cluster: ClusterView, gpu: int, profile_id: int
    ) -> list[Instance]:
        busy = cluster.busy(gpu)
        return [i for i in layout.instances if i.profile_id == profile_id and i not in busy]

    def _schedule(
        self, pod: PodRequest, cluster: ClusterView, layouts: dict[int, Layout]
    ) -> tuple[tuple[int, Instance], ...]:
        for node in range(self.spec.nodes):
            chosen = [
                (gpu, instance)
                for gpu in self.spec.node_gpus(node)
                for instance in self._free_instances(
                    layouts.get(gpu, cluster.layout(gpu)), cluster, gpu, pod.profile_id
                )
            ]
            if len(chosen) >= pod.count:
                return tuple(chosen[: pod.count])
        return ()

    # --- the planner --------------------------------------------------------------------------
    def _counts(self, cluster: ClusterView, gpu: int) -> _GpuCounts:
        busy = cluster.busy(gpu)
        counts = _GpuCounts()
        for instance in cluster.layout(gpu).instances:
            (counts.used if instance in busy else counts.free)[instance.profile_id] += 1
        return counts

    def _can_apply(self, gpu: _GpuCounts, geometry: Geometry) -> bool:
        return all(geometry.get(p, 0) >= n for p, n in gpu.used.items() if n)

    def _update_geometry_for(self, gpu: _GpuCounts, required: dict[int, int]) -> bool:
        provided: dict[int, int] = {}
        for index, candidate in enumerate(self.allowed):
            for profile_id, quantity in required.items():
                if gpu.free[profile_id] >= quantity:
                    continue
                n = min(candidate.get(profile_id, 0) - gpu.used[profile_id], quantity)
                if n <= 0 or not self._can_apply(gpu, candidate):
                    continue
                provided[index] = provided.get(index, 0) + n
        if not provided:
            return False
        most = max(provided.values())
        geometry = self.allowed[self._pick([index for index, n in provided.items() if n == most])]
        gpu.free = Counter({p: n - gpu.used[p] for p, n in geometry.items() if n - gpu.used[p] > 0})
        return True

    def _pick(self, tied: list[int]) -> int:
        """Among geometries providing equally many lacking profiles: Go's map order, i.e. any."""
        return self.rng.choice(tied)

    def _creation_order(self, profile_ids: list[int]) -> list[int]:
        """The order the agent creates devices in: Go's map order again, i.e. shuffled."""
        self.rng.shuffle(profile_ids)
        return profile_ids

    def _plan(
        self, pod: PodRequest, cluster: ClusterView, lacking: dict[int, int]
    ) -> dict[int, _GpuCounts] | None:
        for node in range(self.spec.nodes):
            gpus = {gpu: self._counts(cluster, gpu) for gpu in self.spec.node_gpus(node)}
            if not any(g.free.total() or g.geometry() not in self.allowed for g in gpus.values()):
                continue  # HasFreeMigCapacity: nothing nos could change on this node
            required = dict(lacking)
            for counts in gpus.values():
                self._update_geometry_for(counts, required)
                for profile_id, n in counts.free.items():
                    if profile_id in required:
                        required[profile_id] -= n
                        if required[profile_id] <= 0:
                            del required[profile_id]
            # Node.AddPod: the whole request must come from the free devices of a single GPU
            if any(g.free[pod.profile_id] >= pod.count for g in gpus.values()):
                return gpus
        return None

    # --- the MIG agent ------------------------------------------------------------------------
    def _actuate(self, gpu: int, target: _GpuCounts, cluster: ClusterView) -> tuple[Layout, int]:
        """The layout after deleting unwanted free devices and creating missing ones; devices not created."""
        busy = cluster.busy(gpu)
        instances = list(cluster.layout(gpu).instances)
        have = Counter(i.profile_id for i in instances if i not in busy)
        for profile_id, n in have.items():
            surplus = n - target.free[profile_id]
            for instance in [i for i in instances if i.profile_id == profile_id and i not in busy][
                : max(surplus, 0)
            ]:
                instances.remove(instance)
        creates = self._creation_order([p for p, n in target.free.items() for _ in range(n - have[p])])
        for done, profile_id in enumerate(creates):
            shape = self.geo.shape(profile_id)
            start = default_start(self.geo, shape, instances)
            if start is None:
                return Layout.of(instances), len(creates) - done
            instances.append(shape.at(start))
        return Layout.of(instances), 0

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        assignment = self._schedule(pod, cluster, {})
        if assignment:
            return Decision(assignment)
        free_in_cluster = sum(
            len(self._free_instances(cluster.layout(gpu), cluster, gpu, pod.profile_id))
            for gpu in range(self.spec.gpus)
        )
        lacking = pod.count - free_in_cluster
        if lacking <= 0:
            return None  # the devices exist, just not together on one node: nothing for nos to plan
        plan = self._plan(pod, cluster, {pod.profile_id: lacking})
        if plan is None:
            if pod.count > 1:
                self.pods_not_plannable_multi_gpu += 1
            return None
        layouts: dict[int, Layout] = {}
        unbuilt = 0
        for gpu, target in plan.items():
            if target.free == self._counts(cluster, gpu).free:
                continue
            layout, missing = self._actuate(gpu, target, cluster)
            self.plans_applied += 1
            if missing:
                self.plans_unbuildable += 1
                self.devices_not_created += missing
                unbuilt += 1
            if layout != cluster.layout(gpu):
                layouts[gpu] = layout
        assignment = self._schedule(pod, cluster, layouts)
        if not assignment and unbuilt:
            self.pods_refused_after_unbuildable_plan += 1
        return Decision(assignment, layouts)

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        return {}  # devices stay; a later plan may delete them
