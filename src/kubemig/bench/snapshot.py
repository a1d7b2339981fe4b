"""A simulated cluster as the planner's snapshot: its GPUs filled with trace pods, the stream's next
pods pending. `bench speed` plans such snapshots; `kubemig bench snapshot` writes one, so that
`kubemig plan` can be tried on a cluster of any size without one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubemig.bench.cluster import Cluster, ClusterSpec
from kubemig.bench.fill import DEMAND_FACTOR, sample_stream
from kubemig.bench.run import Session, build_policy
from kubemig.bench.trace import MappedTrace, PodRequest
from kubemig.errors import KubemigError
from kubemig.planner import Snapshot

FILLER = "kubemig-fit"
"""The policy that fills the cluster: kubemig's allocator placing every pod that fits."""


@dataclass
class FilledCluster:
    """A cluster filled from `stream` in order; `position`: the first pod not yet offered."""

    session: Session
    stream: list[PodRequest]
    position: int

    def take(self, count: int) -> list[PodRequest]:
        """The next `count` pods of the stream, which the cluster has not seen."""
        pods = self.stream[self.position : self.position + count]
        if len(pods) < count:
            raise KubemigError(
                f"the stream has only {len(pods)} pods left, not {count}: ask for fewer pending pods or a lower fill"
            )
        self.position += count
        return pods


def fill_cluster(
    mapped: MappedTrace, spec: ClusterSpec, fill_ratio: float, seed: int = 0, pods_after: int = 0
) -> FilledCluster:
    """Trace pods (resampled, seeded as in `bench fill`) offered in order until `fill_ratio` of the
    compute slices are allocated; the stream goes on far enough for `pods_after` more pods."""
    if not 0 < fill_ratio <= 1:
        raise KubemigError(f"the fill ratio must be in (0, 1], not {fill_ratio}")
    most = max(request.slices for request in mapped.requests)
    # a longer stream starts with the same pods, so the extra room changes nothing already measured
    factor = DEMAND_FACTOR + 1.0 + pods_after * most / spec.capacity_slices
    stream = sample_stream(mapped, spec, seed, factor=factor)
    session = Session.start(build_policy(FILLER, spec, mapped.mix(), stream, seed, None))
    position = 0
    while position < len(stream) and session.cluster.allocated_slices < fill_ratio * spec.capacity_slices:
        session.offer(stream[position])
        position += 1
    reached = session.cluster.allocated_slices / spec.capacity_slices
    if reached < fill_ratio:
        raise KubemigError(
            f"the trace's pods filled only {reached:.1%} of the compute slices before the stream ended "
            f"(asked: {fill_ratio:.1%}): ask for a lower fill"
        )
    return FilledCluster(session, stream, position)


def snapshot_data(cluster: Cluster, pending: Sequence[PodRequest]) -> dict[str, Any]:
    """The planner's snapshot document for this cluster and these pending pods."""
    spec = cluster.spec
    nodes = []
    for node in range(spec.nodes):
        gpus = []
        for gpu in spec.node_gpus(node):
            busy = cluster.busy(gpu)
            instances = [
                {
                    "profile": i.name,
                    "start": i.start,
                    **({"in_use": True, "pod": busy[i]} if i in busy else {}),
                }
                for i in cluster.layout(gpu).instances
            ]
            gpus.append(
                {
                    "index": gpu - spec.node_gpus(node).start,
                    "model": spec.geo.model.key,
                    "instances": instances,
                }
            )
        nodes.append({"name": spec.node_name(node), "gpus": gpus})
    requests = [{"pod": p.name, "profile": p.profile, "count": p.count} for p in pending]
    return {"version": 1, "nodes": nodes, "requests": requests}


def cluster_snapshot(
    mapped: MappedTrace, spec: ClusterSpec, *, fill_ratio: float, pending: int, seed: int = 0
) -> dict[str, Any]:
    """A cluster filled to `fill_ratio` and the stream's next `pending` pods, as a snapshot document
    that `kubemig plan` reads (checked here as it will be there)."""
    filled = fill_cluster(mapped, spec, fill_ratio, seed, pods_after=pending)
    document = snapshot_data(filled.session.cluster, filled.take(pending))
    Snapshot.model_validate(document).check("<bench snapshot>")
    return document
