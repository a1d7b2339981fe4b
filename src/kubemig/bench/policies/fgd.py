"""`fgd`: Fragmentation Gradient Descent (Weng et al., "Beware of Fragmentation: Scheduling
GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC 2023), adapted to MIG slots.

FGD measures a node's fragmentation as the expected number of GPU resources that the next task,
drawn from the workload's distribution of task kinds, could not use; each task goes where that
expected fragmentation grows least. Adapted here:

- kinds: (profile, count) with their share of the trace's GPU pods (the workload's distribution);
- a single-instance kind m on a GPU: the free compute slices that m cannot use, i.e. free slices minus
  g_m times the most m instances that can still be added at valid starts beside the instances there;
- a k-GPU kind on a node: the node's free slices if fewer than k of its GPUs are empty, else the free
  slices of its partly used GPUs (FGD's rule for multi-GPU tasks);
- the choice ranges over every (node, GPU, start) that fits; the smallest increase of the
  distribution-weighted fragmentation wins, name order among equals. Instances are created at
  allocation and destroyed at release, as in the dynamic systems.
"""

from __future__ import annotations

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import (
    Policy,
    PolicyContext,
    create_decision,
    destroy_on_release,
    fits,
    room_for,
    with_instance,
)
from kubemig.bench.profiles import classic_shapes, full_shape
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Instance, Layout, ProfileShape, can_add

_EPS = 1e-12


class Fgd(Policy):
    name = "fgd"
    rule = "least growth of expected fragmentation under the workload's profile mix, per (node, GPU, start) (FGD, ATC'23)"

    def __init__(self, context: PolicyContext) -> None:
        super().__init__(context)
        mix = dict(context.mix) or {(s.id, 1): 1.0 for s in classic_shapes(self.geo)}
        total = sum(mix.values())
        self.single = [
            (self.geo.shape(pid), share / total) for (pid, count), share in mix.items() if count == 1
        ]
        self.multi = [(count, share / total) for (pid, count), share in mix.items() if count > 1]
        self.slices = self.geo.model.compute_slices
        self._frag: dict[Layout, float] = {}
        self._best: dict[tuple[Layout, int], tuple[float, int] | None] = {}

    def _fit(self, layout: Layout, shape: ProfileShape) -> int:
        """How many more `shape` instances fit beside `layout` (same-size slots: greedy is exact)."""
        mask, count = layout.mask, 0
        for start in sorted(shape.starts):
            m = ((1 << shape.size) - 1) << start
            if mask & m:
                continue
            if count == 0 and not can_add(self.geo, layout.instances, shape, start):
                return 0
            count += 1
            mask |= m
        return min(count, shape.instances - layout.count(shape.id))

    def gpu_fragmentation(self, layout: Layout) -> float:
        """Expected compute slices of one GPU that the next single-instance pod cannot use."""
        found = self._frag.get(layout)
        if found is None:
            free = self.slices - sum(self.geo.shape(i.profile_id).compute_slices for i in layout.instances)
            found = sum(
                share * (free - shape.compute_slices * self._fit(layout, shape))
                for shape, share in self.single
            )
            self._frag[layout] = found
        return found

    def node_fragmentation(self, free_slices: int, empty_gpus: int) -> float:
        """Expected free slices of a node that the next multi-GPU pod cannot use."""
        return sum(
            share * (free_slices if empty_gpus < count else free_slices - self.slices * empty_gpus)
            for count, share in self.multi
        )

    def _best_start(self, layout: Layout, shape: ProfileShape) -> tuple[float, int] | None:
        key = (layout, shape.id)
        if key not in self._best:
            before = self.gpu_fragmentation(layout)
            best: tuple[float, int] | None = None
            for start in sorted(shape.starts):
                if fits(self.geo, layout, shape, start):
                    delta = self.gpu_fragmentation(with_instance(layout, shape.at(start))) - before
                    if best is None or delta < best[0] - _EPS:
                        best = (delta, start)
            self._best[key] = best
        return self._best[key]

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        shape = self.geo.shape(pod.profile_id)
        if pod.count > 1:
            return self._place_multi(pod, shape, cluster)
        best: tuple[float, int, int] | None = None
        for node in range(self.spec.nodes):
            gpus = self.spec.node_gpus(node)
            free = sum(self.slices - cluster.used_slices(g) for g in gpus)
            empty = sum(1 for g in gpus if not cluster.layout(g).instances)
            base = self.node_fragmentation(free, empty) if self.multi else 0.0
            for gpu in gpus:
                if not room_for(self.spec, cluster, gpu, shape):
                    continue
                layout = cluster.layout(gpu)
                found = self._best_start(layout, shape)
                if found is None:
                    continue
                delta = found[0]
                if self.multi:
                    now_empty = empty - (0 if layout.instances else 1)
                    delta += self.node_fragmentation(free - shape.compute_slices, now_empty) - base
                if best is None or delta < best[0] - _EPS:
                    best = (delta, gpu, found[1])
        if best is None:
            return None
        return create_decision([(best[1], shape.at(best[2]))], cluster)

    def _place_multi(self, pod: PodRequest, shape: ProfileShape, cluster: ClusterView) -> Decision | None:
        full = full_shape(self.geo)
        per_gpu = self.gpu_fragmentation(Layout((full.at(full.starts[0]),))) - self.gpu_fragmentation(
            Layout()
        )
        best: tuple[float, list[int]] | None = None
        for node in range(self.spec.nodes):
            gpus = self.spec.node_gpus(node)
            empty = [g for g in gpus if not cluster.layout(g).instances]
            if len(empty) < pod.count or shape.id != full.id:
                continue
            free = sum(self.slices - cluster.used_slices(g) for g in gpus)
            delta = pod.count * per_gpu
            if self.multi:
                delta += self.node_fragmentation(free - pod.slices, len(empty) - pod.count)
                delta -= self.node_fragmentation(free, len(empty))
            if best is None or delta < best[0] - _EPS:
                best = (delta, empty[: pod.count])
        if best is None:
            return None
        assignment: list[tuple[int, Instance]] = [(gpu, shape.at(shape.starts[0])) for gpu in best[1]]
        return create_decision(assignment, cluster)

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        return destroy_on_release(pod, cluster)
