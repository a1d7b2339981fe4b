"""Running one policy over a stream of pods on a fresh cluster, timing each decision."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns

import numpy as np

from kubemig.bench.cluster import Cluster, ClusterSpec
from kubemig.bench.policies import PolicyContext, make_policy
from kubemig.bench.policies.base import Policy
from kubemig.bench.policies.fixed import FixedLayoutPolicy
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Layout


@dataclass
class Session:
    """A policy and the cluster it decides for, with every decision's time."""

    policy: Policy
    cluster: Cluster
    decision_ns: list[int] = field(default_factory=list)

    @staticmethod
    def start(policy: Policy) -> Session:
        cluster = Cluster(policy.spec, policy.name)
        cluster.setup(policy.setup(cluster))
        return Session(policy, cluster)

    def offer(self, pod: PodRequest) -> bool:
        """Ask the policy for `pod` (timed) and apply the answer (checked); True when placed."""
        began = perf_counter_ns()
        decision = self.policy.place(pod, self.cluster)
        self.decision_ns.append(perf_counter_ns() - began)
        return self.cluster.apply(pod, decision)

    def end(self, pod: str) -> None:
        """`pod` ends: the policy may repartition (checked) once its instances are free."""
        request = self.cluster.request(pod)
        self.cluster.release(pod, self.policy.release(request, self.cluster))


def decision_ms(ns: Sequence[int]) -> tuple[float, float]:
    """(p50, p99) of decision times in milliseconds."""
    if not ns:
        return (0.0, 0.0)
    p50, p99 = np.percentile(np.asarray(ns, dtype=float), [50, 99])
    return float(p50) / 1e6, float(p99) / 1e6


def fill_in_order(policy: Policy, pods: Iterable[PodRequest]) -> tuple[Session, float | None, int]:
    """Place `pods` in order, no departures; (session, allocated ratio at the first refusal, placed)."""
    session = Session.start(policy)
    capacity = policy.spec.capacity_slices
    first_refusal: float | None = None
    placed = 0
    for pod in pods:
        if session.offer(pod):
            placed += 1
        elif first_refusal is None:
            first_refusal = session.cluster.allocated_slices / capacity
    policy.audit(session.cluster)
    return session, first_refusal, placed


def static_fill_score(spec: ClusterSpec, pods: Sequence[PodRequest]) -> Callable[[Layout], float]:
    """Slices a fixed layout on every GPU allocates to `pods` in order: static-best's hindsight in fill."""

    def score(layout: Layout) -> float:
        policy = FixedLayoutPolicy(PolicyContext(spec), layout)
        session, _, _ = fill_in_order(policy, pods)
        return float(session.cluster.allocated_slices)

    return score


def build_policy(
    name: str,
    spec: ClusterSpec,
    mix: Mapping[tuple[int, int], float],
    stream: Sequence[PodRequest],
    seed: int,
    score_static: Callable[[Layout], float] | None,
    expected_load: float | None = None,
) -> Policy:
    return make_policy(name, PolicyContext(spec, mix, stream, seed, score_static, expected_load))
