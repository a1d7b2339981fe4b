"""`first-fit`: NVIDIA's DRA driver for GPUs, MIG devices created on demand.

The driver advertises every (GPU, profile, placement) as a device; the scheduler takes the first one
that fits, walking nodes, GPUs, profiles and placements in name order, and the driver creates the
instance at allocation and destroys it when the claim is released (anchors.md, "Dynamic MIG").
No policy chooses among fits, so instances scatter and freed holes may stay too small.
"""

from __future__ import annotations

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import Policy, destroy_on_release, first_fit_in_order
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Layout


class FirstFit(Policy):
    name = "first-fit"
    rule = "first (node, GPU, start) in name order that fits; create at allocation, destroy at release (NVIDIA DRA driver)"

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        starts = sorted(self.geo.shape(pod.profile_id).starts)
        return first_fit_in_order(self, pod, cluster, range(self.spec.nodes), self.spec.node_gpus, starts)

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        return destroy_on_release(pod, cluster)
