"""One resource's gRPC DevicePlugin server on its own Unix socket: a thin layer over a backend.

The server holds the device list it last published and streams it to the kubelet; every decision
(what to allocate, what to prefer) is the backend's. NVIDIA's socket names: `nvidia-gpu.sock`,
`nvidia-mig-1g.5gb.sock`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from pathlib import Path
from typing import Protocol

import grpc

from kubemig.deviceplugin.api import HEALTHY, KUBELET_SOCKET, UNHEALTHY, VERSION, pluginapi, pluginrpc
from kubemig.deviceplugin.devices import PluginDevice
from kubemig.deviceplugin.errors import DevicePluginError
from kubemig.deviceplugin.sockets import grpc_address, remove_socket

log = logging.getLogger("kubemig.deviceplugin")

REGISTER_TIMEOUT_S = 5.0
_STREAM_CHECK_S = 0.5  # how often an idle ListAndWatch looks whether the kubelet went away


class AllocationRefused(Exception):
    """Turned into a gRPC error for the kubelet: `code` and a message naming the device."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        super().__init__(message)


class Backend(Protocol):
    def allocate(self, resource: str, device_ids: Sequence[str]) -> pluginapi.ContainerAllocateResponse: ...

    def preferred(
        self, resource: str, request: pluginapi.ContainerPreferredAllocationRequest
    ) -> list[str]: ...


def socket_name(resource: str) -> str:
    """`nvidia.com/mig-1g.5gb` -> `nvidia-mig-1g.5gb.sock`."""
    vendor, _, name = resource.partition("/")
    return f"{vendor.split('.')[0]}-{name}.sock"


class ResourceServer(pluginrpc.DevicePluginServicer):
    def __init__(self, resource: str, kubelet_dir: Path, backend: Backend) -> None:
        self.resource = resource
        self.socket = kubelet_dir / socket_name(resource)
        self.kubelet_socket = kubelet_dir / KUBELET_SOCKET
        self.registered = False
        self._backend = backend
        self._devices: tuple[pluginapi.Device, ...] = ()
        self._version = 0
        self._closed = False
        self._changed = threading.Condition()
        self._server: grpc.Server | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.socket.parent.is_dir():
            # gRPC would only say it failed to bind; the usual cause has a plain fix
            raise DevicePluginError(
                f"cannot serve {self.resource}: the kubelet's device plugin directory {self.socket.parent} does not "
                "exist: start the kubelet first, or give its directory with --kubelet-dir"
            )
        remove_socket(self.socket)
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"dp-{self.resource}")
        )
        pluginrpc.add_DevicePluginServicer_to_server(self, server)
        try:
            server.add_insecure_port(grpc_address(self.socket))
        except RuntimeError as exc:
            raise DevicePluginError(f"cannot serve {self.resource} on {self.socket}: {exc}") from exc
        server.start()
        with self._changed:
            self._closed = False
        self._server = server
        self.registered = False

    def stop(self) -> None:
        """End every ListAndWatch stream (after the last published list), stop serving, remove the socket."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=1.0).wait()
        remove_socket(self.socket)
        self.registered = False

    def register(self) -> None:
        """Register with the kubelet; DevicePluginError with the kubelet's reason when refused."""
        request = pluginapi.RegisterRequest(
            version=VERSION,
            endpoint=self.socket.name,
            resource_name=self.resource,
            options=self.options(),
        )
        try:
            with grpc.insecure_channel(grpc_address(self.kubelet_socket)) as channel:
                pluginrpc.RegistrationStub(channel).Register(request, timeout=REGISTER_TIMEOUT_S)
        except grpc.RpcError as exc:
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise DevicePluginError(
                f"register {self.resource} with {self.kubelet_socket}: {details}"
            ) from exc
        self.registered = True

    def publish(self, devices: Sequence[PluginDevice], unhealthy: Mapping[str, str]) -> bool:
        """Set the device list; returns whether it changed (and so was sent to the kubelet)."""
        listed = tuple(
            pluginapi.Device(ID=d.uuid, health=UNHEALTHY if d.uuid in unhealthy else HEALTHY) for d in devices
        )
        with self._changed:
            if listed == self._devices and self._version:
                return False
            self._devices = listed
            self._version += 1
            self._changed.notify_all()
        return True

    def devices(self) -> dict[str, str]:
        with self._changed:
            return {d.ID: d.health for d in self._devices}

    @staticmethod
    def options() -> pluginapi.DevicePluginOptions:
        return pluginapi.DevicePluginOptions(
            pre_start_required=False, get_preferred_allocation_available=True
        )

    # --- the DevicePlugin service ----------------------------------------------------------------

    def GetDevicePluginOptions(
        self, request: pluginapi.Empty, context: grpc.ServicerContext
    ) -> pluginapi.DevicePluginOptions:
        return self.options()

    def ListAndWatch(
        self, request: pluginapi.Empty, context: grpc.ServicerContext
    ) -> Iterator[pluginapi.ListAndWatchResponse]:
        seen = 0
        while context.is_active():
            with self._changed:
                if self._version == seen:
                    if self._closed:
                        return
                    self._changed.wait(_STREAM_CHECK_S)
                    continue
                seen, devices = self._version, self._devices
            yield pluginapi.ListAndWatchResponse(devices=devices)

    def GetPreferredAllocation(
        self, request: pluginapi.PreferredAllocationRequest, context: grpc.ServicerContext
    ) -> pluginapi.PreferredAllocationResponse:
        responses = [
            pluginapi.ContainerPreferredAllocationResponse(
                deviceIDs=self._backend.preferred(self.resource, r)
            )
            for r in request.container_requests
        ]
        return pluginapi.PreferredAllocationResponse(container_responses=responses)

    def Allocate(
        self, request: pluginapi.AllocateRequest, context: grpc.ServicerContext
    ) -> pluginapi.AllocateResponse:
        try:
            responses = [
                self._backend.allocate(self.resource, list(r.devices_ids)) for r in request.container_requests
            ]
        except AllocationRefused as refused:
            log.warning("refused Allocate for %s: %s", self.resource, refused)
            context.abort(refused.code, str(refused))
        return pluginapi.AllocateResponse(container_responses=responses)

    def PreStartContainer(
        self, request: pluginapi.PreStartContainerRequest, context: grpc.ServicerContext
    ) -> pluginapi.PreStartContainerResponse:
        return pluginapi.PreStartContainerResponse()
