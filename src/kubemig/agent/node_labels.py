"""The Kubernetes side of the agent: one Node's labels and annotations, read and merge-patched.

`NodeStore` is what the agent needs; `KubernetesNodes` is it over the official client (in-cluster
service account, or a kubeconfig), and tests give the agent an in-memory store or a local HTTP server
that speaks the same API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubemig.errors import KubemigError


@dataclass(frozen=True, slots=True)
class NodeRecord:
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


class NodeStore(Protocol):
    def read(self, node: str) -> NodeRecord: ...

    def patch(self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str | None]) -> None:
        """Merge into the node's metadata; None removes a key."""


class KubernetesNodes:
    """Nodes through the Kubernetes API (`kubernetes` client); errors become one-line KubemigErrors."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client
        from kubernetes import config as kube_config
        from kubernetes.config.config_exception import ConfigException

        config: Any = kube_config  # untyped
        if kubeconfig and not Path(kubeconfig).is_file():
            raise KubemigError(f"kubeconfig {kubeconfig} is not a file: give the path of an existing kubeconfig")
        try:
            if kubeconfig:
                config.load_kube_config(config_file=kubeconfig)
            else:
                try:
                    config.load_incluster_config()
                except ConfigException:
                    config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise KubemigError(
                f"cannot reach the Kubernetes API ({exc}): run in a pod with a service account, or give --kubeconfig"
            ) from None
        self._api: Any = client.CoreV1Api()

    def read(self, node: str) -> NodeRecord:
        found = self._call(node, lambda: self._api.read_node(node))
        meta = found.metadata
        return NodeRecord(dict(meta.labels or {}), dict(meta.annotations or {}))

    def patch(self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str | None]) -> None:
        body = {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}}
        self._call(node, lambda: self._api.patch_node(node, body))

    @staticmethod
    def _call(node: str, request: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return request()
        except ApiException as exc:
            raise KubemigError(f"Kubernetes API: node {node!r}: {exc.status} {exc.reason}") from None
        except HTTPError as exc:
            raise KubemigError(f"Kubernetes API unreachable: {exc}") from None
