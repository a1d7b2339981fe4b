"""Evicting the pods that hold MIG instances a config must take away (`kubemig agent --drain`).

Through the Eviction API, as `kubectl drain` does, so that PodDisruptionBudgets are kept: a refusal
(429) is an answer, not an error, and the pod is asked again at the agent's next look. A pod already
gone (404) is done. Nothing else is evicted: only the pods the kubelet says hold the instances in the
way, and of those, as `kubectl drain` does, only pods a controller would start again elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from kubemig.agent.kube_client import kubernetes_api


class Outcome(str, Enum):
    EVICTED = "evicted"
    GONE = "gone"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Eviction:
    pod: str  # namespace/name
    outcome: Outcome
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.pod} {self.outcome.value}" + (f" ({self.detail})" if self.detail else "")


class PodEvictor(Protocol):
    def evict(self, pod: str) -> Eviction:
        """Ask for `pod` (namespace/name) to be evicted."""
        ...


# what the API answers an eviction with that is not an error of kubemig's: a budget that allows no
# disruption now (429), the pod gone already (404), no leave to evict (403: the fix is RBAC)
_REFUSALS = {403: "forbidden: give the agent's service account `create` on `pods/eviction`", 429: ""}
UNMANAGED = (
    "not managed by a controller, so evicting it would delete it for good: delete it yourself, "
    "or drain with --drain-unmanaged"
)


class KubernetesEvictions:
    """Evictions through the Kubernetes API (policy/v1). As `kubectl drain` without `--force`, a pod
    no controller manages (no ReplicaSet, Job, StatefulSet, ... would start it again) is not evicted
    unless `unmanaged`."""

    def __init__(self, kubeconfig: str | None = None, unmanaged: bool = False) -> None:
        self._api = kubernetes_api(kubeconfig)
        self.unmanaged = unmanaged

    def evict(self, pod: str) -> Eviction:
        namespace, _, name = pod.partition("/")
        if not self.unmanaged:
            found = self._api.answer(
                f"pod {pod}", lambda core: core.read_namespaced_pod(name, namespace), refusals={404, 403}
            )
            if found.status == 404:
                return Eviction(pod, Outcome.GONE)
            if found.status == 403:
                return Eviction(
                    pod, Outcome.REFUSED, "403: forbidden: give the agent's service account `get` on `pods`"
                )
            owners = self._api.to_dict(found.value).get("metadata", {}).get("ownerReferences") or []
            if not any(owner.get("controller") for owner in owners):
                return Eviction(pod, Outcome.REFUSED, UNMANAGED)
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        answered = self._api.answer(
            f"eviction of pod {pod}",
            lambda core: core.create_namespaced_pod_eviction(name, namespace, body),
            refusals={404, *_REFUSALS},
        )
        if answered.status == 0:
            return Eviction(pod, Outcome.EVICTED)
        if answered.status == 404:
            return Eviction(pod, Outcome.GONE)
        return Eviction(
            pod, Outcome.REFUSED, f"{answered.status}: {_REFUSALS[answered.status] or answered.message}"
        )
