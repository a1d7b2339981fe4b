"""`hami`: HAMi's MIG mode (Project-HAMi/HAMi, pkg/device/nvidia/mig_topology.go).

HAMi reserves a GPU, a profile and an exact placement per pod: 1g and 3g profiles take the highest
free start, every other profile the lowest (`orderedMigPlacements`); the instance is created when the
pod is allocated and destroyed when it ends. GPUs are chosen by HAMi's `binpack` policies: the most
used node first, then the most used GPU on it (used compute slices; name order among equals).
"""

from __future__ import annotations

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import Policy, destroy_on_release, first_fit_in_order
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Layout, ProfileShape


def hami_starts(shape: ProfileShape) -> list[int]:
    """HAMi's placement order: highest start first for 1g and 3g, lowest first for the others."""
    high = shape.name.startswith(("1g.", "3g."))
    return sorted(shape.starts, reverse=high)


class Hami(Policy):
    name = "hami"
    rule = "binpack nodes then GPUs (most used first); 1g/3g at the highest free start, others at the lowest (HAMi)"

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        used = [cluster.used_slices(gpu) for gpu in range(self.spec.gpus)]
        node_used = [sum(used[g] for g in self.spec.node_gpus(n)) for n in range(self.spec.nodes)]
        # binpack: most used first; sorted() is stable, so name order among equals
        nodes = sorted(range(self.spec.nodes), key=lambda n: -node_used[n])
        return first_fit_in_order(
            self,
            pod,
            cluster,
            nodes,
            lambda node: sorted(self.spec.node_gpus(node), key=lambda g: -used[g]),
            hami_starts(self.geo.shape(pod.profile_id)),
        )

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        return destroy_on_release(pod, cluster)
