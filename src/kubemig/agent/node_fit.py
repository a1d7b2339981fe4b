"""Which nodes a pending pod may go to, as the scheduler's required rules decide it: the node
selector, required node affinity, and the taints the pod does not tolerate (a cordoned node counts
as tainted `node.kubernetes.io/unschedulable`). Preferences (preferred affinity, PreferNoSchedule)
restrict nothing. Pods and nodes are in the API's JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def fits(spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Whether a pod with this spec may be scheduled to `node` by its required rules."""
    return refusal(spec, node) is None


def refusal(spec: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """Why a pod with this spec may not be scheduled to `node` by its required rules; None if it may."""
    return selector_refusal(spec, node) or taint_refusal(spec, node)


def selector_refusal(spec: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """Why the pod's node selector or required node affinity refuses `node`; None if they allow it."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    selector = spec.get("nodeSelector") or {}
    for key, value in selector.items():
        if labels.get(key) != value:
            return f"node selector {key}={value} unmatched"
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is not None and not any(
        _term_matches(term, labels, str(meta.get("name"))) for term in required.get("nodeSelectorTerms") or []
    ):
        return "required node affinity unmatched"
    return None


def taint_refusal(spec: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """The NoSchedule or NoExecute taint of `node` the pod does not tolerate; None if there is none."""
    for taint in _taints(node):
        if not _tolerated(taint, spec.get("tolerations") or []):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"taint {taint.get('key')}{value}:{taint.get('effect')} not tolerated"
    return None


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A term matches when all its expressions and fields do; an empty term matches nothing."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    return all(_requirement(e, labels) for e in expressions) and all(
        _requirement(f, {"metadata.name": name}) for f in fields
    )


def _requirement(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    value = labels.get(key)
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, bound = int(str(value)), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _taints(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = node.get("spec") or {}
    taints = [t for t in spec.get("taints") or [] if t.get("effect") in BLOCKING_EFFECTS]
    if spec.get("unschedulable"):
        taints.append(UNSCHEDULABLE_TAINT)
    return taints


def _tolerated(taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        key = toleration.get("key") or ""
        if toleration.get("operator") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False
