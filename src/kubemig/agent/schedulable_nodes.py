"""Which of the nodes kubemig plans a pending pod may go to, by the scheduler's filters that do not
depend on MIG devices: its node selector, node affinity and tolerations (`node_fit`), its requests
other than MIG devices against what each node has left (`node_resources`), required inter-pod
affinity and anti-affinity against the pods already bound (`pod_affinity`), and the topology spread
constraints it must keep (`topology_spread`).

Each pending pod is checked on its own, as the scheduler binds them one by one: two pods that each
fit in a node's free CPU may not fit there together. What pending pods ask of each other, the
planner weighs: those kept apart (`kept_apart`) or in one domain (`kept_together`), those that want
others nearby (`kept_near`), and those spread together (`spread_together`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from kubemig.agent.api_objects import labels_of, name_of, namespace_of
from kubemig.agent.node_fit import refusal
from kubemig.agent.node_resources import Resources, free_resources, pod_requests, shortfall
from kubemig.agent.pod_affinity import InterPodAffinity
from kubemig.agent.topology_spread import TopologySpread

ENDED = ("Succeeded", "Failed")
SPEC_READ = ("nodeSelector", "affinity", "tolerations", "topologySpreadConstraints")
"""The fields of a pending pod's spec that the filters read, besides its requests."""


class SchedulingView:
    def __init__(
        self,
        candidates: Iterable[Mapping[str, Any]],
        nodes: Iterable[Mapping[str, Any]] | None = None,
        pods: Iterable[Mapping[str, Any]] = (),
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """`candidates`: the Node objects a plan may use; `nodes`: every node (default: the
        candidates), whose labels place the bound pods in their topology domains; `pods`: the
        cluster's pods (those bound to a node and not ended count); `namespace_labels`: for
        namespace selectors."""
        self.candidates = list(candidates)
        every_node = list(nodes) if nodes is not None else self.candidates
        labels = {name_of(node): dict(labels_of(node)) for node in every_node}
        bound = [
            pod
            for pod in pods
            if (pod.get("spec") or {}).get("nodeName") and (pod.get("status") or {}).get("phase") not in ENDED
        ]
        by_node: dict[str, list[Mapping[str, Any]]] = {}
        for pod in bound:
            by_node.setdefault(str(pod["spec"]["nodeName"]), []).append(pod)
        self._free = {
            name_of(node): free_resources(node, by_node.get(name_of(node), [])) for node in self.candidates
        }
        self._affinity = InterPodAffinity(labels, bound, namespace_labels)
        self._spread = TopologySpread(every_node, bound, [name_of(node) for node in self.candidates])
        self._admitted: dict[str, tuple[list[str], dict[str, str]]] = {}

    def kept_apart(self, pods: Sequence[Mapping[str, Any]]) -> dict[int, list[tuple[str, int]]]:
        """Which of the pending `pods` (by position) their anti-affinity keeps apart, and by which key."""
        return self._affinity.kept_apart(pods)

    def kept_together(self, pods: Sequence[Mapping[str, Any]]) -> list[tuple[list[int], str]]:
        """Which of the pending `pods` (by position) their affinity keeps in one domain, by which key."""
        return self._affinity.kept_together(pods)

    def kept_near(
        self, pods: Sequence[Mapping[str, Any]]
    ) -> dict[int, list[tuple[int, str, list[int], list[str]]]]:
        """Which of the pending `pods` (by position) want other pending pods in their domain, by
        affinity term (its position), key, those pods' positions and the domains bound pods meet."""
        return self._affinity.kept_near(pods)

    def spread_together(
        self, pods: Sequence[Mapping[str, Any]]
    ) -> list[tuple[list[tuple[int, int]], list[int], dict[str, object]]]:
        """Which of the pending `pods` share a topology spread constraint: (pod position, constraint
        position) per member, the positions of the pods that only match it, and the constraint."""
        return self._spread.shared(pods)

    def free(self, node: str) -> Resources | None:
        """What a candidate node has left beyond its bound pods; None when it reports nothing."""
        return self._free[node]

    def admitting(
        self,
        pod: Mapping[str, Any],
        planned_spread: Collection[int] = (),
        planned_near: Collection[int] = (),
    ) -> tuple[list[str], dict[str, str]]:
        """The candidates `pod` may go to, and why it may not go to each of the others. The skew of
        its spread constraints at `planned_spread` (positions) is left to the plan, which weighs
        the pods that share them together, and so are its affinity terms at `planned_near`, which
        pending pods match."""
        spec = pod.get("spec") or {}
        asked = pod_requests(spec)
        # a workload's replicas read alike: the candidates are walked once for all of them
        read = {field: spec.get(field) for field in SPEC_READ}
        alike = [namespace_of(pod), labels_of(pod), read, asked, sorted(planned_spread), sorted(planned_near)]
        same = json.dumps(alike, sort_keys=True, default=str)
        if same not in self._admitted:
            self._admitted[same] = self._admit(pod, spec, asked, planned_spread, planned_near)
        allowed, reasons = self._admitted[same]
        return list(allowed), dict(reasons)

    def _admit(
        self,
        pod: Mapping[str, Any],
        spec: Mapping[str, Any],
        asked: Resources,
        planned_spread: Collection[int],
        planned_near: Collection[int],
    ) -> tuple[list[str], dict[str, str]]:
        reasons: dict[str, str] = {}
        for node in self.candidates:
            reason = refusal(spec, node) or shortfall(asked, self._free[name_of(node)])
            if reason is not None:
                reasons[name_of(node)] = reason
        rest = [name_of(node) for node in self.candidates if name_of(node) not in reasons]
        reasons.update(self._affinity.refusal_by_node(pod, rest, planned_near))
        rest = [node for node in rest if node not in reasons]
        reasons.update(self._spread.refusal_by_node(pod, rest, planned_spread))
        return [name_of(node) for node in self.candidates if name_of(node) not in reasons], reasons
