"""Required inter-pod affinity and anti-affinity, as the scheduler's InterPodAffinity filter reads them
against the pods already bound to nodes:

- the pod's affinity: every term needs a matching pod in the node's topology domain (the node's value
  of the term's `topologyKey`); the first pod of a group that matches its own terms may go to any
  node that has the keys, when no pod anywhere matches yet;
- the pod's anti-affinity: no term may have a matching pod in the node's domain;
- the bound pods' anti-affinity: no bound pod whose term matches this pod may share the domain.

A term matches a pod by its label selector (with `matchLabelKeys` and `mismatchLabelKeys` taken from
the term's owner), in the namespaces it names or selects, else its owner's. Among pending pods,
the scheduler binding them one by one, those kept apart (`kept_apart`), the first pods of a group
that must follow each other into one domain (`kept_together`) and pods that want pending pods they do
not match themselves (`kept_near`) are given to the plan to weigh.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubemig.agent.api_objects import labels_of, namespace_of
from kubemig.agent.pods_by_label import PodsByLabel

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace carries its own name as this label


@dataclass(frozen=True, slots=True)
class _Term:
    """One affinity term, resolved for the pod that owns it."""

    selector: Mapping[str, Any] | None  # None (a null label selector) matches no pod
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str

    def key(self) -> str:
        """What decides which pods the term matches and where, as one string."""
        namespaces = sorted(self.namespaces) if self.namespaces is not None else None
        return json.dumps([self.selector, namespaces, self.topology_key], sort_keys=True)

    def matches(self, pod: Mapping[str, Any]) -> bool:
        if self.selector is None:
            return False
        if self.namespaces is not None and namespace_of(pod) not in self.namespaces:
            return False
        return selector_matches(self.selector, labels_of(pod))


class InterPodAffinity:
    def __init__(
        self,
        node_labels: Mapping[str, Mapping[str, str]],
        bound: Iterable[Mapping[str, Any]],
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """`node_labels`: every node's labels by name; `bound`: the pods bound to nodes that have not
        ended; `namespace_labels`: by namespace (a namespace not given has only its name label)."""
        self._node_labels = node_labels
        self._namespaces = namespace_labels or {}
        self._found: dict[str, frozenset[str]] = {}  # per term (`_Term.key`), `_domains`
        self._bound = [pod for pod in bound if (pod.get("spec") or {}).get("nodeName") in node_labels]
        self._by_label = PodsByLabel(self._bound)
        # the bound pods' anti-affinity terms, each with the domain its owner runs in (and its
        # place among them); a workload's replicas carry one term, matched once per pending pod
        self._guards: dict[str, tuple[_Term, list[tuple[int, str, str]]]] = {}
        guards = (
            (term, value)
            for pod in self._bound
            for term in self._terms(pod, "podAntiAffinity")
            if (value := node_labels[pod["spec"]["nodeName"]].get(term.topology_key)) is not None
        )
        for place, (term, value) in enumerate(guards):
            self._guards.setdefault(term.key(), (term, []))[1].append((place, term.topology_key, value))

    def refusal_by_node(
        self, pod: Mapping[str, Any], nodes: Sequence[str], planned: Collection[int] = ()
    ) -> dict[str, str]:
        """Why `pod` may not go to each of `nodes` that its affinities keep it from. Its affinity
        terms at `planned` (positions) are left to the plan, which places pending pods they match."""
        affinity = self._terms(pod, "podAffinity")
        anti = self._terms(pod, "podAntiAffinity")
        wanted = [self._domains(term) for term in affinity]
        shunned = [self._domains(term) for term in anti]
        refused = [
            (key, value)
            for _, key, value in sorted(
                entry for term, entries in self._guards.values() if term.matches(pod) for entry in entries
            )
        ]
        first_of_group = not any(wanted) and all(term.matches(pod) for term in affinity)
        reasons: dict[str, str] = {}
        for node in nodes:
            labels = self._node_labels.get(node, {})
            reason = _affinity_refusal(affinity, wanted, labels, first_of_group, planned)
            if reason is None:
                for term, domains in zip(anti, shunned):
                    value = labels.get(term.topology_key)
                    if value is not None and value in domains:
                        reason = f"pod anti-affinity: a matching pod runs in {term.topology_key}={value}"
                        break
            if reason is None:
                for key, value in refused:
                    if labels.get(key) == value:
                        reason = f"a pod in {key}={value} refuses it by its anti-affinity"
                        break
            if reason is not None:
                reasons[node] = reason
        return reasons

    def kept_apart(self, pods: Sequence[Mapping[str, Any]]) -> dict[int, list[tuple[str, int]]]:
        """Among pending `pods`, by position: (topology key, other position) for each other pod one
        of its required anti-affinity terms matches (they may not share that key's domain)."""
        apart: dict[int, list[tuple[str, int]]] = {}
        matching = _Matching(pods)
        for i, pod in enumerate(pods):
            for term in self._terms(pod, "podAntiAffinity"):
                for j in matching.of(term):
                    if j != i:
                        apart.setdefault(i, []).append((term.topology_key, j))
        return apart

    def kept_together(self, pods: Sequence[Mapping[str, Any]]) -> list[tuple[list[int], str]]:
        """Among pending `pods`, by position: groups that must share one domain of a key, the first
        pods of a group (each matches its own affinity, and no bound pod matches it yet) that share
        a term: whichever the scheduler binds first, the others must follow it there."""
        groups: dict[str, tuple[list[int], str]] = {}
        for i, pod in enumerate(pods):
            terms = self._terms(pod, "podAffinity")
            if (
                not terms
                or any(self._domains(term) for term in terms)
                or not all(t.matches(pod) for t in terms)
            ):
                continue
            for term in terms:
                groups.setdefault(term.key(), ([], term.topology_key))[0].append(i)
        return [(members, key) for members, key in groups.values() if len(members) > 1]

    def kept_near(
        self, pods: Sequence[Mapping[str, Any]]
    ) -> dict[int, list[tuple[int, str, list[int], list[str]]]]:
        """Among pending `pods`, by position: (term position, topology key, other positions, bound
        domains) for each required affinity term that other pending pods match, and that no bound
        pod meets or the pod does not match itself: the pod may go where one of those goes, once it
        is bound, or to a domain where a pod the term matches runs already. A pod that may start its
        own group is left out (`kept_together`), and so is a term the pod matches once a pod of its
        group runs: the group stays in the domains it has."""
        near: dict[int, list[tuple[int, str, list[int], list[str]]]] = {}
        matching = _Matching(pods)
        for i, pod in enumerate(pods):
            terms = self._terms(pod, "podAffinity")
            wanted = [self._domains(term) for term in terms]
            if not any(wanted) and all(term.matches(pod) for term in terms):
                continue
            for k, (term, domains) in enumerate(zip(terms, wanted)):
                leaders = [j for j in matching.of(term) if j != i]
                if leaders and not (domains and term.matches(pod)):
                    near.setdefault(i, []).append((k, term.topology_key, leaders, sorted(domains)))
        return near

    def _domains(self, term: _Term) -> set[str]:
        """The topology values of the nodes running a pod the term matches; read once per term, as
        a workload's replicas carry the same terms and each pod's are asked for more than once."""
        same = term.key()
        if same not in self._found:
            found = set()
            for pod in self._by_label.maybe_matching(term.selector):
                if term.matches(pod):
                    value = self._node_labels[pod["spec"]["nodeName"]].get(term.topology_key)
                    if value is not None:
                        found.add(value)
            self._found[same] = frozenset(found)
        return set(self._found[same])

    def _terms(self, pod: Mapping[str, Any], kind: str) -> list[_Term]:
        affinity = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
        return [self._resolve(term, pod) for term in affinity.get(REQUIRED) or []]

    def _resolve(self, term: Mapping[str, Any], owner: Mapping[str, Any]) -> _Term:
        selector = owner_selector(term, owner)
        names = set(term.get("namespaces") or [])
        namespace_selector = term.get("namespaceSelector")
        namespaces: frozenset[str] | None
        if namespace_selector is None:
            namespaces = frozenset(names or {namespace_of(owner)})
        elif not namespace_selector:
            namespaces = None  # {} selects every namespace
        else:
            known = {namespace_of(pod) for pod in self._bound} | set(self._namespaces) | {namespace_of(owner)}
            chosen = {
                name
                for name in known
                if selector_matches(namespace_selector, self._namespaces.get(name, {NAME_LABEL: name}))
            }
            namespaces = frozenset(names | chosen)
        return _Term(selector, namespaces, str(term.get("topologyKey")))


class _Matching:
    """Which of some pods each term matches (positions), read once per term: a workload's replicas
    carry the same terms, so pending pods against each other would otherwise be read again and again."""

    def __init__(self, pods: Sequence[Mapping[str, Any]]) -> None:
        self._pods = pods
        self._found: dict[str, list[int]] = {}

    def of(self, term: _Term) -> list[int]:
        same = term.key()
        if same not in self._found:
            self._found[same] = [j for j, pod in enumerate(self._pods) if term.matches(pod)]
        return self._found[same]


def _affinity_refusal(
    terms: Sequence[_Term],
    wanted: Sequence[set[str]],
    labels: Mapping[str, str],
    first_of_group: bool,
    planned: Collection[int],
) -> str | None:
    for term in terms:
        if term.topology_key not in labels:
            return f"pod affinity: the node has no {term.topology_key} label"
    if first_of_group:
        return None
    for k, (term, domains) in enumerate(zip(terms, wanted)):
        if k not in planned and labels[term.topology_key] not in domains:
            return f"pod affinity: no matching pod in {term.topology_key}={labels[term.topology_key]}"
    return None


def owner_selector(term: Mapping[str, Any], owner: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The label selector of an affinity term or a spread constraint, its `matchLabelKeys` (In) and
    `mismatchLabelKeys` (NotIn) taking their values from the pod that owns it; None where it has
    no selector, which matches no pod."""
    selector = term.get("labelSelector")
    if selector is None:
        return None
    labels = labels_of(owner)
    extra = [
        {"key": key, "operator": operator, "values": [labels[key]]}
        for field, operator in (("matchLabelKeys", "In"), ("mismatchLabelKeys", "NotIn"))
        for key in term.get(field) or []
        if key in labels
    ]
    return {**selector, "matchExpressions": [*(selector.get("matchExpressions") or []), *extra]}


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # the API server refuses any other; match nothing rather than guess
    return True
