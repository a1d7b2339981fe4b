"""The Kubernetes side of the agent: one Node's labels and annotations, read and merge-patched.

`NodeStore` is what the agent needs; `KubernetesNodes` is it over the official client (in-cluster
service account, or a kubeconfig), and tests give the agent an in-memory store or a local HTTP server
that speaks the same API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kubemig.agent.kube_client import kubernetes_api


@dataclass(frozen=True, slots=True)
class NodeRecord:
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


class NodeStore(Protocol):
    def read(self, node: str) -> NodeRecord: ...

    def patch(
        self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str | None]
    ) -> None:
        """Merge into the node's metadata; None removes a key."""


class KubernetesNodes:
    """Nodes through the Kubernetes API."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        self._api = kubernetes_api(kubeconfig)

    def read(self, node: str) -> NodeRecord:
        found = self._api.call(f"node {node!r}", lambda core: core.read_node(node))
        meta = found.metadata
        return NodeRecord(dict(meta.labels or {}), dict(meta.annotations or {}))

    def patch(
        self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str | None]
    ) -> None:
        body = {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}}
        self._api.call(f"node {node!r}", lambda core: core.patch_node(node, body))
