"""The device plugin: keeps the kubelet's view of the node's GPUs and MIG devices current.

    plugin = DevicePlugin(config, source)     # source: the node, read through the NVML adapter
    plugin.start()                            # serve and register every resource, then keep watching
    ...
    plugin.stop()                             # stop serving, remove the sockets

Every `poll_interval_s` (sooner when an XID event arrives) it reads the node, and:
- a changed MIG layout reaches the kubelet without a restart: changed device lists are sent again on
  ListAndWatch, new resources get a server and a registration, emptied ones are withdrawn (an empty
  list, then the stream ends);
- health follows XID events scoped to the GI/CI they name, and recovers (see `health`);
- the MIG devices the node agent is draining (`drain_file`) are unhealthy while it drains them;
- when kubelet.sock is re-created (a kubelet restart removes every plugin socket) every resource is
  served and registered again.
One log line per event. A problem that withholds devices (the single strategy on a mixed node) is
logged, kept in `status`, and written to the status file when one is configured.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import grpc

from kubemig.deviceplugin.allocate import DriverMinors, container_response
from kubemig.deviceplugin.api import KUBELET_SOCKET, pluginapi
from kubemig.deviceplugin.config import PluginConfig
from kubemig.deviceplugin.devices import GpuView, PluginDevice
from kubemig.deviceplugin.drain_file import read_draining
from kubemig.deviceplugin.errors import DevicePluginError
from kubemig.deviceplugin.health import HealthTracker, XidNotice
from kubemig.deviceplugin.packing import preferred_allocation, units_of
from kubemig.deviceplugin.podresources import PodResourcesClient
from kubemig.deviceplugin.resources import ResourceSet, resource_manager
from kubemig.deviceplugin.server import AllocationRefused, ResourceServer
from kubemig.deviceplugin.sockets import socket_identity
from kubemig.errors import KubemigError
from kubemig.statefile import write_atomic

log = logging.getLogger("kubemig.deviceplugin")


class NodeSource(Protocol):
    """The node, as the plugin reads it (implemented over the NVML adapter in `inventory`)."""

    def read(self) -> tuple[GpuView, ...]:
        """Every GPU with its MIG devices; KubemigError when the driver cannot be read."""
        ...

    def wait_events(self, timeout_s: float) -> list[XidNotice]:
        """XID critical errors, waiting at most `timeout_s` for the first one."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ResourceStatus:
    devices: int
    healthy: int
    registered: bool


@dataclass(frozen=True, slots=True)
class PluginStatus:
    strategy: str
    resources: dict[str, ResourceStatus] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    unhealthy: dict[str, str] = field(default_factory=dict)
    kubelet_seen: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


class DevicePlugin:
    def __init__(self, config: PluginConfig, source: NodeSource) -> None:
        self.config = config
        self.source = source
        self.manager = resource_manager(config.mig_strategy)
        self.health = HealthTracker(config.health)
        self.minors = DriverMinors(config.driver_root)
        self._gpus: tuple[GpuView, ...] = ()
        self._advertised = ResourceSet()
        self._servers: dict[str, ResourceServer] = {}
        self._kubelet: tuple[int, int, int] | None = None
        self._kubelet_seen = False
        self._read_failing = False
        self._logged_problems: tuple[str, ...] = ()
        self._last_status = ""
        self._draining: dict[str, str] = {}
        self._drain_problem = ""
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def kubelet_socket(self) -> Path:
        return self.config.kubelet_dir / KUBELET_SOCKET

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """First read, serve and register, then watch on a thread. DevicePluginError when the node
        cannot be read and `fail_on_init_error` is set."""
        try:
            self._gpus = self.source.read()
        except KubemigError as exc:
            if self.config.fail_on_init_error:
                raise DevicePluginError(f"cannot read the node's GPUs: {exc}") from exc
            log.error("cannot read the node's GPUs (%s): serving nothing until they can be read", exc)
            self._read_failing = True
        log.info(
            "starting: %d GPUs, mig-strategy %s, kubelet dir %s",
            len(self._gpus),
            self.config.mig_strategy.value,
            self.config.kubelet_dir,
        )
        self._tick([])
        self._thread = threading.Thread(target=self._run, name="kubemig-device-plugin", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.stop()
        self.source.close()
        log.info("stopped: sockets removed")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until stopped (True) or the timeout passes (False)."""
        return self._stopping.wait(timeout_s)

    @property
    def status(self) -> PluginStatus:
        with self._lock:
            unhealthy = self._unhealthy()
            resources = {
                name: ResourceStatus(
                    devices=len(devices),
                    healthy=sum(1 for d in devices if d.uuid not in unhealthy),
                    registered=name in self._servers and self._servers[name].registered,
                )
                for name, devices in self._advertised.resources.items()
            }
            return PluginStatus(
                self.config.mig_strategy.value,
                resources,
                self._advertised.problems,
                unhealthy,
                self._kubelet_seen,
            )

    # --- the watch loop --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self.source.wait_events(self.config.poll_interval_s)
            except KubemigError as exc:
                log.warning("cannot wait for XID events (%s): polling only", exc)
                events = []
                self._stopping.wait(self.config.poll_interval_s)
            if self._stopping.is_set():
                break
            try:
                self._tick(events)
            except Exception:  # a bug must not silently stop the plugin from watching
                log.exception("unexpected error while refreshing devices")

    def _tick(self, events: Sequence[XidNotice]) -> None:
        with self._lock:
            self._read()
            self._read_drain_file()
            for event in events:
                marked = self.health.record(event, self._gpus)
                if marked:
                    log.warning("XID %d on %s: unhealthy: %s", event.xid, event.scope(), ", ".join(marked))
                elif event.xid in self.config.health.ignored_xids or not self.config.health.enabled:
                    log.info("XID %d on %s: ignored", event.xid, event.scope())
            present = [g.uuid for g in self._gpus] + [s.uuid for g in self._gpus for s in g.mig_devices]
            for uuid in self.health.recover():
                log.info(
                    "%s healthy again after %.0f s without XID events", uuid, self.config.health.recovery_s
                )
            for uuid in self.health.forget_missing(present):
                log.info("%s left the node: its health history is dropped", uuid)
            self._apply(self.manager.resources(self._gpus))
            self._check_kubelet()
            self._write_status()

    def _read(self) -> None:
        try:
            gpus = self.source.read()
        except KubemigError as exc:
            if not self._read_failing:
                log.error("cannot read the node's GPUs (%s): keeping the last known devices", exc)
            self._read_failing = True
            return
        if self._read_failing:
            log.info("reading the node's GPUs again")
        self._read_failing = False
        self._gpus = gpus

    def _apply(self, advertised: ResourceSet) -> None:
        if advertised.problems != self._logged_problems:
            for problem in advertised.problems:
                log.error("devices withheld: %s", problem)
            if not advertised.problems and self._logged_problems:
                log.info("devices no longer withheld")
            self._logged_problems = advertised.problems
        unhealthy = self._unhealthy()
        before = self._advertised.counts()
        self._advertised = advertised
        for name, devices in advertised.resources.items():
            server = self._servers.get(name)
            if server is None:
                server = ResourceServer(name, self.config.kubelet_dir, self)
                server.publish(devices, unhealthy)
                server.start()
                self._servers[name] = server
                log.info("serving %s: %d devices on %s", name, len(devices), server.socket)
                self._register(server)
            elif server.publish(devices, unhealthy):
                healthy = sum(1 for d in devices if d.uuid not in unhealthy)
                log.info(
                    "%s: %d devices (%d healthy), was %d: sent to the kubelet",
                    name,
                    len(devices),
                    healthy,
                    before.get(name, 0),
                )
        for name in sorted(set(self._servers) - set(advertised.resources)):
            server = self._servers.pop(name)
            server.publish((), {})
            server.stop()
            log.info("withdrew %s: no devices left", name)

    def _register(self, server: ResourceServer) -> None:
        if socket_identity(self.kubelet_socket) is None:
            return
        try:
            server.register()
        except DevicePluginError as exc:
            log.warning("%s (will retry)", exc)
        else:
            log.info("registered %s with %s", server.resource, self.kubelet_socket)

    def _check_kubelet(self) -> None:
        identity = socket_identity(self.kubelet_socket)
        if identity is None:
            if self._kubelet is not None:
                log.warning("%s is gone: waiting for the kubelet to come back", self.kubelet_socket)
                for server in self._servers.values():
                    server.registered = False
            self._kubelet = None
            return
        restarted = self._kubelet_seen and identity != self._kubelet
        lost = [s for s in self._servers.values() if not s.socket.exists()]
        if restarted or lost:
            log.info(
                "the kubelet restarted (%s re-created): serving and registering again", self.kubelet_socket
            )
            for server in self._servers.values():
                server.stop()
                server.start()
        self._kubelet, self._kubelet_seen = identity, True
        for server in self._servers.values():
            if not server.registered:
                self._register(server)

    def _unhealthy(self) -> dict[str, str]:
        """Devices the kubelet must not hand out: XID errors, and those being drained."""
        return {**self._draining, **self.health.unhealthy()}

    def _read_drain_file(self) -> None:
        if self.config.drain_file is None:
            return
        try:
            draining = read_draining(self.config.drain_file)
        except KubemigError as exc:
            if str(exc) != self._drain_problem:
                log.error("%s: keeping the devices drained so far", exc)
                self._drain_problem = str(exc)
            return
        self._drain_problem = ""
        for uuid in sorted(draining.keys() - self._draining.keys()):
            log.info("%s: drained by the node agent (%s): unhealthy", uuid, draining[uuid])
        for uuid in sorted(self._draining.keys() - draining.keys()):
            log.info("%s: no longer drained", uuid)
        self._draining = draining

    def _write_status(self) -> None:
        if self.config.status_file is None:
            return
        text = self.status.to_json()
        if text != self._last_status:
            write_atomic(self.config.status_file, text)
            self._last_status = text

    # --- the Backend the servers call ------------------------------------------------------------

    def allocate(self, resource: str, device_ids: Sequence[str]) -> pluginapi.ContainerAllocateResponse:
        advertised, unhealthy = self._advertised, self._unhealthy()
        known = {d.uuid: d for d in advertised.resources.get(resource, ())}
        devices = []
        for device_id in device_ids:
            device = known.get(device_id)
            if device is None:
                raise AllocationRefused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"unknown device {device_id!r}: not a {resource} device of this node",
                )
            if device.uuid in unhealthy:
                raise AllocationRefused(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"device {device.describe()} is unhealthy ({unhealthy[device.uuid]}): not allocated",
                )
            devices.append(device)
        try:
            return container_response(devices, self.config, self.minors, resource=resource)
        except DevicePluginError as exc:
            raise AllocationRefused(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from exc

    def preferred(self, resource: str, request: pluginapi.ContainerPreferredAllocationRequest) -> list[str]:
        advertised, gpus = self._advertised, self._gpus
        known = {d.uuid: d for d in advertised.resources.get(resource, ())}
        offered = [known[i] for i in request.available_deviceIDs if i in known]
        must = [known[i] for i in request.must_include_deviceIDs if i in known]
        unhealthy = self._unhealthy()
        # devices of this resource the kubelet did not offer are held by pods (unless unhealthy)
        available = set(request.available_deviceIDs)
        held_devices = [d for d in known.values() if d.uuid not in available and d.uuid not in unhealthy]
        held_devices += self._held_elsewhere(resource, advertised)
        held: dict[int, int] = {}
        for device in held_devices:
            held[device.gpu_index] = held.get(device.gpu_index, 0) | units_of(device)
        blocks = {g.index: g.blocks for g in gpus}
        chosen = preferred_allocation(offered, must, request.allocation_size, held=held, blocks=blocks)
        return [d.uuid for d in chosen]

    def _held_elsewhere(self, resource: str, advertised: ResourceSet) -> list[PluginDevice]:
        """Devices of the other resources that pods hold, from the kubelet's pod-resources API."""
        socket = self.config.kubelet_dir.parent / "pod-resources" / KUBELET_SOCKET
        if socket_identity(socket) is None:
            return []
        try:
            with PodResourcesClient(socket) as client:
                assignments = client.assignments()
        except DevicePluginError as exc:
            log.debug("no pod-resources for packing: %s", exc)
            return []
        held = []
        for assignment in assignments:
            if assignment.resource != resource:
                device = advertised.device(assignment.device_id)
                if device is not None:
                    held.append(device)
        return held
