"""Pod topology spread constraints that the scheduler enforces (`whenUnsatisfiable: DoNotSchedule`),
read as its PodTopologySpread filter reads them against the pods already bound to nodes.

For each constraint, the matching pods of the pod's namespace (label selector, with `matchLabelKeys`
taken from the pod; pods being deleted do not count) are counted per domain, the value of the
constraint's `topologyKey`, on the eligible nodes only: those with every key of the pod's constraints
that its node selector and affinity allow (`nodeAffinityPolicy: Honor`, the default) and, with
`nodeTaintsPolicy: Honor`, whose taints it tolerates. A matching pod on another node counts nowhere,
even where its domain is eligible through other nodes. A node may take the pod when it has every key
and, for each constraint, its domain's count plus one (if the pod matches the selector itself) less
the smallest count of any eligible domain (0 while there are fewer domains than `minDomains`) stays
within `maxSkew`. Constraints that only prefer (`ScheduleAnyway`) restrict nothing.

Pending pods that share a constraint (same namespace, selector, key, skew and eligible domains) and
match it themselves weigh on each other as the scheduler binds them one by one: `shared` gives
them as one group with the domains' counts, for the planner to keep within the skew together, and
with the pending pods that match the constraint without carrying it, which count where they go
(on the eligible nodes: the group names them when some candidate node in its domains is not one).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubemig.agent.api_objects import labels_of, name_of, namespace_of
from kubemig.agent.node_fit import selector_refusal, taint_refusal
from kubemig.agent.pod_affinity import owner_selector, selector_matches
from kubemig.agent.pods_by_label import PodsByLabel


class TopologySpread:
    def __init__(
        self,
        nodes: Iterable[Mapping[str, Any]],
        bound: Iterable[Mapping[str, Any]],
        candidates: Collection[str] | None = None,
    ) -> None:
        """`nodes`: every node (API objects); `bound`: the pods bound to nodes that have not ended;
        `candidates`: the nodes a plan may use (default: all), the only ones a group names."""
        self._nodes = {name_of(node): node for node in nodes}
        self._candidates = frozenset(self._nodes if candidates is None else candidates)
        self._bound = [
            pod
            for pod in bound
            if not (pod.get("metadata") or {}).get("deletionTimestamp")
            and (pod.get("spec") or {}).get("nodeName") in self._nodes
        ]
        self._by_label = PodsByLabel(self._bound)
        self._memo: dict[str, _Counted] = {}

    def shared(
        self, pods: Sequence[Mapping[str, Any]]
    ) -> list[tuple[list[tuple[int, int]], list[int], dict[str, object]]]:
        """The pending `pods` that share a constraint and match it, as (pod position, constraint
        position) pairs; the positions of the other pending pods that match it (they count where
        they go); and the constraint as a snapshot's `spread` holds it (`topology`, `max_skew`,
        `domains`: every eligible domain with the matching pods bound there, `min_domains`, and
        `nodes`, the eligible candidates, where a candidate in those domains is not one). Only
        groups of two pods or more, counted ones included."""
        groups: dict[tuple[str, frozenset[str] | None], tuple[list[tuple[int, int]], dict[str, object]]] = {}
        selectors: dict[tuple[str, frozenset[str] | None], tuple[str, Mapping[str, Any] | None]] = {}
        for i, pod in enumerate(pods):
            constraints, keys = _required(pod)
            for k, constraint in enumerate(constraints):
                selector = owner_selector(constraint, pod)
                if not _matches(selector, pod):
                    continue  # placing it adds to no count
                read = self._counted(pod, constraint, keys, selector)
                group: dict[str, object] = {
                    "topology": str(constraint.get("topologyKey")),
                    "max_skew": int(constraint.get("maxSkew") or 1),
                    "domains": dict(read.by_domain),
                }
                if int(constraint.get("minDomains") or 1) > 1:
                    group["min_domains"] = int(constraint["minDomains"])
                same = (json.dumps([namespace_of(pod), selector, group], sort_keys=True), read.left_out)
                if read.left_out is not None:
                    group["nodes"] = sorted(read.eligible & self._candidates)
                groups.setdefault(same, ([], group))[0].append((i, k))
                selectors[same] = (namespace_of(pod), selector)
        shared = []
        for same, (members, group) in groups.items():
            namespace, selector = selectors[same]
            carriers = {i for i, _ in members}
            counted = [
                j
                for j, other in enumerate(pods)
                if j not in carriers and namespace_of(other) == namespace and _matches(selector, other)
            ]
            if len(members) + len(counted) > 1:
                shared.append((members, counted, group))
        return shared

    def refusal_by_node(
        self, pod: Mapping[str, Any], nodes: Sequence[str], unskewed: Collection[int] = ()
    ) -> dict[str, str]:
        """Why `pod` may not go to each of `nodes` that its spread constraints keep it from; those
        at positions `unskewed` only by the key a node lacks (their skew is weighed elsewhere)."""
        constraints, keys = _required(pod)
        if not constraints:
            return {}
        counts = [self._counts(pod, constraint, keys) for constraint in constraints]
        reasons: dict[str, str] = {}
        for node in nodes:
            labels = labels_of(self._nodes[node]) if node in self._nodes else {}
            missing = next((key for key in keys if key not in labels), None)
            if missing is not None:
                reasons[node] = f"topology spread: the node has no {missing} label"
                continue
            for k, (constraint, (by_domain, floor, self_match)) in enumerate(zip(constraints, counts)):
                if k in unskewed:
                    continue
                key = str(constraint.get("topologyKey"))
                skew = by_domain.get(labels[key], 0) + self_match - floor
                if skew > int(constraint.get("maxSkew") or 1):
                    reasons[node] = (
                        f"topology spread: {key}={labels[key]} would be {skew} pods ahead of the "
                        f"emptiest domain, more than maxSkew {constraint.get('maxSkew')}"
                    )
                    break
        return reasons

    def _counts(
        self, pod: Mapping[str, Any], constraint: Mapping[str, Any], keys: Sequence[str]
    ) -> tuple[dict[str, int], int, int]:
        """Matching pods per eligible domain, the smallest count, and 1 if the pod matches itself."""
        selector = owner_selector(constraint, pod)
        counted = self._counted(pod, constraint, keys, selector)
        return dict(counted.by_domain), counted.floor, int(_matches(selector, pod))

    def _counted(
        self,
        pod: Mapping[str, Any],
        constraint: Mapping[str, Any],
        keys: Sequence[str],
        selector: Mapping[str, Any] | None,
    ) -> _Counted:
        """The constraint read for `pod` (its `selector`, as `owner_selector` gives it), once for
        every pod that would read it alike."""
        spec = pod.get("spec") or {}
        # replicas of one workload count alike: what decides the count is read once for them
        affinity = (spec.get("affinity") or {}).get("nodeAffinity")
        asked = [namespace_of(pod), selector, constraint, keys, spec.get("nodeSelector"), affinity]
        same = json.dumps([*asked, spec.get("tolerations")], sort_keys=True, default=str)
        if same not in self._memo:
            self._memo[same] = self._count(pod, constraint, keys, selector)
        return self._memo[same]

    def _count(
        self,
        pod: Mapping[str, Any],
        constraint: Mapping[str, Any],
        keys: Sequence[str],
        selector: Mapping[str, Any] | None,
    ) -> _Counted:
        spec = pod.get("spec") or {}
        key = str(constraint.get("topologyKey"))
        by_domain: dict[str, int] = {}
        eligible: set[str] = set()
        for name, node in self._nodes.items():
            labels = labels_of(node)
            if any(k not in labels for k in keys):
                continue
            if constraint.get("nodeAffinityPolicy", "Honor") == "Honor" and selector_refusal(spec, node):
                continue
            if constraint.get("nodeTaintsPolicy", "Ignore") == "Honor" and taint_refusal(spec, node):
                continue
            by_domain.setdefault(labels[key], 0)
            eligible.add(name)
        namespace = namespace_of(pod)
        for other in self._by_label.maybe_matching(selector):
            name = other["spec"]["nodeName"]
            if name in eligible and namespace_of(other) == namespace and _matches(selector, other):
                by_domain[labels_of(self._nodes[name])[key]] += 1
        floor = min(by_domain.values(), default=0)
        if len(by_domain) < int(constraint.get("minDomains") or 1):
            floor = 0
        inside = (n for n in self._candidates if labels_of(self._nodes.get(n, {})).get(key) in by_domain)
        left_out = frozenset(n for n in inside if n not in eligible) or None
        return _Counted(by_domain, floor, frozenset(eligible), left_out)


@dataclass(frozen=True, slots=True)
class _Counted:
    """A constraint read for a pod: matching bound pods per eligible domain, the emptiest count as
    the scheduler takes it, the eligible nodes, and the candidates in those domains that are not
    eligible (None when there are none)."""

    by_domain: Mapping[str, int]
    floor: int
    eligible: frozenset[str]
    left_out: frozenset[str] | None


def _required(pod: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The pod's spread constraints that the scheduler enforces, and the keys of all of them."""
    constraints = [
        c
        for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or []
        if c.get("whenUnsatisfiable") == "DoNotSchedule"
    ]
    return constraints, [str(c.get("topologyKey")) for c in constraints]


def _matches(selector: Mapping[str, Any] | None, pod: Mapping[str, Any]) -> bool:
    return selector is not None and selector_matches(selector, labels_of(pod))
