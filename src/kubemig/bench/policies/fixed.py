"""What the static policies share: one fixed layout on every GPU, pods take free instances of it."""

from __future__ import annotations

import heapq

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import Policy, PolicyContext
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Instance, Layout


class FixedLayoutPolicy(Policy):
    """Every GPU partitioned once to `layout`; a pod takes the first free instance of its profile,
    GPUs in name order (a k-GPU pod: the first node with k free instances)."""

    name = "fixed"
    rule = "one fixed layout on every GPU; first free instance of the pod's profile in name order"

    def __init__(self, context: PolicyContext, layout: Layout) -> None:
        super().__init__(context)
        self.layout = layout
        # GPUs that may still have a free instance of a profile, smallest index first (lazy)
        self._candidates: dict[int, list[int]] = {}

    def setup(self, cluster: ClusterView) -> dict[int, Layout]:
        profiles = {i.profile_id for i in self.layout.instances}
        self._candidates = {pid: list(range(self.spec.gpus)) for pid in profiles}
        return {gpu: self.layout for gpu in range(self.spec.gpus)}

    def _free(self, cluster: ClusterView, gpu: int, profile_id: int) -> list[Instance]:
        busy = cluster.busy(gpu)
        return [i for i in cluster.layout(gpu).instances if i.profile_id == profile_id and i not in busy]

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        heap = self._candidates.get(pod.profile_id)
        if not heap:
            return None
        if pod.count == 1:
            while heap:
                gpu = heap[0]
                free = self._free(cluster, gpu, pod.profile_id)
                if free:
                    if len(free) == 1:
                        heapq.heappop(heap)
                    return Decision(((gpu, free[0]),))
                heapq.heappop(heap)
            return None
        for node in range(self.spec.nodes):
            chosen = [
                (gpu, i)
                for gpu in self.spec.node_gpus(node)
                for i in self._free(cluster, gpu, pod.profile_id)
            ]
            if len(chosen) >= pod.count:
                return Decision(tuple(chosen[: pod.count]))
        return None

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        heap = self._candidates.get(pod.profile_id)
        if heap is not None:
            for gpu, _ in cluster.assignment(pod.name):
                heapq.heappush(heap, gpu)
        return {}

    def counters(self) -> dict[str, object]:
        return {"layout": str(self.layout)}
