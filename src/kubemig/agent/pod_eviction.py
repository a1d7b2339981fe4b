"""Evicting the pods that hold MIG instances a config must take away (`kubemig agent --drain`).

Through the Eviction API, as `kubectl drain` does, so that PodDisruptionBudgets are kept: a refusal
(429) is an answer, not an error, and the pod is asked again at the agent's next look. A pod already
gone (404) is done. Nothing else is evicted: only the pods the kubelet says hold the instances in the
way.
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


class KubernetesEvictions:
    """Evictions through the Kubernetes API (policy/v1)."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        self._api = kubernetes_api(kubeconfig)

    def evict(self, pod: str) -> Eviction:
        namespace, _, name = pod.partition("/")
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        status, message = self._api.answer(
            f"eviction of pod {pod}",
            lambda core: core.create_namespaced_pod_eviction(name, namespace, body),
            refusals={404, *_REFUSALS},
        )
        if status == 0:
            return Eviction(pod, Outcome.EVICTED)
        if status == 404:
            return Eviction(pod, Outcome.GONE)
        return Eviction(pod, Outcome.REFUSED, f"{status}: {_REFUSALS[status] or message}")
