"""`first-fit`: NVIDIA's DRA driver for GPUs, MIG devices created on demand.

The driver advertises every (GPU, profile, placement) as a device; the scheduler takes the first one
that fits, walking nodes, GPUs, profiles and placements in name order, and the driver creates the
instance at allocation and destroys it when the claim is released (anchors.md, "Dynamic MIG").
No policy chooses among fits, so instances scatter and freed holes may stay too small.
"""

from __future__ import annotations

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import Policy, create_decision, destroy_on_release, first_start, room_for
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Instance, Layout


class FirstFit(Policy):
    name = "first-fit"
    rule = "first (node, GPU, start) in name order that fits; create at allocation, destroy at release (NVIDIA DRA driver)"

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        shape = self.geo.shape(pod.profile_id)
        starts = sorted(shape.starts)
        for node in range(self.spec.nodes):
            chosen: list[tuple[int, Instance]] = []
            for gpu in self.spec.node_gpus(node):
                if not room_for(self.spec, cluster, gpu, shape):
                    continue
                start = first_start(self.geo, cluster.layout(gpu), shape, starts)
                if start is not None:
                    chosen.append((gpu, shape.at(start)))
                    if len(chosen) == pod.count:
                        return create_decision(chosen, cluster)
        return None

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        return destroy_on_release(pod, cluster)
