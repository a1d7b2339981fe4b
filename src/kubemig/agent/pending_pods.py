"""The pods that wait for MIG devices, read from the Kubernetes API, as the `requests` of a cluster
snapshot (`docs/snapshot.md`): what `kubemig plan` places.

A pod counts when it is Pending and not yet bound to a node, not being deleted and not held back by
scheduling gates (said so), and asks for MIG devices of one profile
(`nvidia.com/mig-<profile>`, summed over its containers; an init container's request counts when it
is larger, as the scheduler counts it). A pod asking for two profiles at once cannot be one planner
request; it is left out and said so. Given the nodes a plan may use (a `SchedulingView`), a pod
that may not go to all of them (its node selector, node affinity, taints it does not tolerate, its
other requests, inter-pod affinity: `schedulable_nodes`) is held to those it may go to, in the
request's `nodes`; one that may go to none is said so, with each node's reason; one the
scheduler has nominated a node for (after preempting pods there) is held to that node; pods whose
required anti-affinity keeps them from each other get `apart`, pods that share a topology spread
constraint are listed together in `spread` (with the pending pods that match it without carrying
it, which count where they go), the first pods of a group that their required affinity must keep
in one domain are listed in `together`, and a pod whose required affinity only pending pods meet
gets `follows`: it goes where one of them goes, or where a pod its term matches runs already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubemig.agent.kube_client import kubernetes_api
from kubemig.agent.node_resources import MIG_RESOURCE, pod_requests, quantity_text
from kubemig.agent.schedulable_nodes import SchedulingView

PAGE = 500
"""Pods per list call: a large cluster's pods come in pages, not in one answer."""


@dataclass(frozen=True, slots=True)
class PendingPods:
    requests: list[dict[str, object]]
    """`{pod: namespace/name, profile, count, priority}` and, where they apply, `nodes`, `resources`
    and `apart`, as a snapshot's `requests` holds them."""
    notes: list[str]
    topologies: frozenset[str] = frozenset()
    """The node labels whose domains some pods are kept apart (`apart`), spread (`spread`), together
    (`together`) or beside others (`follows`) in."""
    spread: list[dict[str, object]] = field(default_factory=list)
    """Pods that spread over domains together, as a snapshot's `spread` holds them."""
    together: list[dict[str, object]] = field(default_factory=list)
    """Pods that must share a domain, as a snapshot's `together` holds them."""


def pending_requests(pods: Iterable[Mapping[str, Any]], view: SchedulingView | None = None) -> PendingPods:
    """From pods in the API's JSON form (`metadata`, `spec`, `status`); with `view`, each pod is held
    to the nodes the scheduler would allow it, where that is not all."""
    notes: list[str] = []
    planned: list[tuple[Mapping[str, Any], str, str, int]] = []  # (pod, name, profile, count)
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        if (pod.get("status") or {}).get("phase") != "Pending" or spec.get("nodeName"):
            continue
        name = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
        wanted = _mig_requests(spec)
        if not wanted:
            continue
        if meta.get("deletionTimestamp"):
            continue  # being deleted: it will never run
        gates = [str(gate.get("name")) for gate in spec.get("schedulingGates") or []]
        if gates:
            notes.append(
                f"{name} left out: the scheduler holds it back until its gates go ({', '.join(gates)})"
            )
            continue
        if len(wanted) > 1:
            asked = ", ".join(f"{count} x {profile}" for profile, count in sorted(wanted.items()))
            notes.append(
                f"{name} left out: it asks for two MIG profiles at once ({asked}); a plan places one"
            )
            continue
        ((profile, count),) = wanted.items()
        planned.append((pod, name, profile, count))
    objects = [pod for pod, _, _, _ in planned]
    # a spread constraint pending pods share is the plan's to keep, for them together: each pod's
    # own check against the bound pods alone would shut domains that its group's first pods open
    shared = view.spread_together(objects) if view is not None else []
    # so is an affinity term that only pending pods match: the pod follows them where they go
    near = view.kept_near(objects) if view is not None else {}
    left_to_plan: dict[int, set[int]] = {}
    for members, _, _ in shared:
        for i, k in members:
            left_to_plan.setdefault(i, set()).add(k)
    requests: list[dict[str, object]] = []
    for i, (pod, name, profile, count) in enumerate(planned):
        spec = pod.get("spec") or {}
        held: dict[str, object] = {}
        if view is not None:
            followed = [k for k, _, _, _ in near.get(i, ())]
            allowed, reasons = view.admitting(pod, left_to_plan.get(i, ()), followed)
            if reasons:
                held["nodes"] = sorted(allowed)
            if reasons and not allowed:
                notes.append(f"{name} may go to no planned node: {_reasons(reasons)}")
            nominated = (pod.get("status") or {}).get("nominatedNodeName")
            if nominated in allowed:
                # the scheduler has preempted pods there for it: it waits for their devices, and a
                # new instance elsewhere would only duplicate the room being made
                held["nodes"] = [nominated]
        others = quantity_text({key: amount for key, amount in pod_requests(spec).items() if amount > 0})
        if others:
            held["resources"] = others
        priority = int(spec.get("priority") or 0)
        requests.append({"pod": name, "profile": profile, "count": count, "priority": priority, **held})
    topologies: set[str] = set()
    if view is not None:
        for i, kept in view.kept_apart(objects).items():
            by_key: dict[str, list[str]] = {}
            for key, j in kept:
                by_key.setdefault(key, []).append(str(requests[j]["pod"]))
            requests[i]["apart"] = [{"pods": names, "topology": key} for key, names in sorted(by_key.items())]
            topologies |= set(by_key)
    for i, terms in near.items():
        follows: list[dict[str, object]] = []
        for _, key, leaders, domains in terms:
            follows.append({"pods": [requests[j]["pod"] for j in leaders], "topology": key})
            if domains:
                follows[-1]["domains"] = domains
            topologies.add(key)
        requests[i]["follows"] = follows
    together: list[dict[str, object]] = []
    if view is not None:
        for positions, key in view.kept_together(objects):
            together.append({"pods": [requests[i]["pod"] for i in positions], "topology": key})
            topologies.add(key)
    spread: list[dict[str, object]] = []
    for members, counted, constraint in shared:
        group = {"pods": [requests[i]["pod"] for i, _ in members], **constraint}
        if counted:
            group["counted"] = [requests[j]["pod"] for j in counted]
        spread.append(group)
        topologies.add(str(constraint["topology"]))
    return PendingPods(requests, notes, frozenset(topologies), spread, together)


def _reasons(reasons: Mapping[str, str], shown: int = 3) -> str:
    text = "; ".join(f"{node}: {why}" for node, why in sorted(reasons.items())[:shown])
    return text + (f"; and {len(reasons) - shown} more" if len(reasons) > shown else "")


def _mig_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """The MIG devices a pod asks for, per profile (`mig-1g.5gb`), counted as the scheduler counts
    any of its requests (`node_resources.pod_requests`)."""
    return {
        name.removeprefix("nvidia.com/"): int(amount)
        for name, amount in pod_requests(spec).items()
        if name.startswith(MIG_RESOURCE) and amount > 0
    }


def read_pending(kubeconfig: str | None = None) -> PendingPods:
    """The cluster's pending pods (all namespaces) through the Kubernetes API."""
    api = kubernetes_api(kubeconfig)
    pods = api.list_all(
        "pods",
        lambda core, token: core.list_pod_for_all_namespaces(
            field_selector="status.phase=Pending", limit=PAGE, _continue=token
        ),
    )
    return pending_requests(pods)
