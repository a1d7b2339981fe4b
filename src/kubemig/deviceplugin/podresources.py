"""A client of the kubelet's pod-resources API (v1): which pod's containers hold which devices.

with PodResourcesClient(Path("/var/lib/kubelet/pod-resources/kubelet.sock")) as client:
    for held in client.assignments():
        print(held.namespace, held.pod, held.container, held.resource, held.device_id)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from kubemig.deviceplugin.api import podresourcesapi, podresourcesrpc
from kubemig.deviceplugin.errors import DevicePluginError
from kubemig.deviceplugin.sockets import grpc_address

TIMEOUT_S = 5.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class DeviceAssignment:
    namespace: str
    pod: str
    container: str
    resource: str
    device_id: str


class PodResourcesClient:
    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._channel = grpc.insecure_channel(grpc_address(socket))
        self._stub = podresourcesrpc.PodResourcesListerStub(self._channel)

    def __enter__(self) -> PodResourcesClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def assignments(self) -> list[DeviceAssignment]:
        """Every device a container holds, from `List`."""
        response = self._call(
            "List", lambda: self._stub.List(podresourcesapi.ListPodResourcesRequest(), timeout=TIMEOUT_S)
        )
        return sorted(
            DeviceAssignment(pod.namespace, pod.name, container.name, devices.resource_name, device_id)
            for pod in response.pod_resources
            for container in pod.containers
            for devices in container.devices
            for device_id in devices.device_ids
        )

    def holder(self, device_id: str) -> DeviceAssignment | None:
        """Who holds a device (a MIG UUID), or None when it is free."""
        return next((a for a in self.assignments() if a.device_id == device_id), None)

    def allocatable(self) -> dict[str, list[str]]:
        """Resource -> device IDs the kubelet can allocate, from `GetAllocatableResources`."""
        response = self._call(
            "GetAllocatableResources",
            lambda: self._stub.GetAllocatableResources(
                podresourcesapi.AllocatableResourcesRequest(), timeout=TIMEOUT_S
            ),
        )
        found: dict[str, list[str]] = {}
        for devices in response.devices:
            found.setdefault(devices.resource_name, []).extend(devices.device_ids)
        return {name: sorted(ids) for name, ids in sorted(found.items())}

    def _call(self, method: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except grpc.RpcError as exc:
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise DevicePluginError(f"pod-resources {method} at {self.socket}: {details}") from exc
