"""A kubelet stand-in: the part of the kubelet's device manager that device plugins talk to.

    kubelet = KubeletStandIn(plugin_dir)          # plugin_dir/kubelet.sock, like /var/lib/kubelet/device-plugins
    kubelet.start()
    kubelet.wait_for(lambda k: k.capacity().get("nvidia.com/mig-1g.5gb") == 16, what="1g.5gb devices")
    allocation = kubelet.admit(Pod("walkthrough", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
    allocation.env("main")["NVIDIA_VISIBLE_DEVICES"]
    kubelet.restart()                              # removes every socket, serves kubelet.sock anew
    kubelet.stop()

What it does, as the kubelet does it: serves `Registration` on `kubelet.sock` (refusing API versions
other than v1beta1 and names that are not extended resources), dials each plugin's socket and follows
its `ListAndWatch` stream, keeps Capacity (every device) and Allocatable (healthy devices) per resource,
marks a resource's devices unhealthy when its stream ends and forgets the resource after a grace
period, admits pods by asking `GetPreferredAllocation` (when the plugin offers it) and then `Allocate`
per container and resource, and serves the pod-resources `v1` API from what it allocated. On restart
it removes every socket in the directory, as a starting kubelet does, so plugins must notice and
register again. Everything goes over real gRPC Unix sockets with the real messages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from kubemig.deviceplugin.api import (
    HEALTHY,
    KUBELET_SOCKET,
    VERSION,
    pluginapi,
    pluginrpc,
    podresourcesapi,
    podresourcesrpc,
)
from kubemig.deviceplugin.sockets import grpc_address, remove_socket
from kubemig.testing.pods import AdmissionError, Container, ContainerAllocation, Pod, PodAllocation

log = logging.getLogger("kubemig.testing.kubelet")

SUPPORTED_VERSIONS = (VERSION,)
# k8s.io/apimachinery: an extended resource is `<domain>/<name>` outside the kubernetes.io domains
_QUALIFIED_NAME = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
RPC_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Registration:
    """One accepted Register call."""

    resource: str
    endpoint: str
    version: str
    preferred_allocation: bool
    pre_start_required: bool
    at_s: float
    """time.monotonic() when it was accepted."""


@dataclass(frozen=True, slots=True)
class DeviceUpdate:
    """One ListAndWatch message as the stand-in received it."""

    resource: str
    devices: Mapping[str, str]
    """Device ID -> health."""
    at_s: float


@dataclass(eq=False)
class _Endpoint:
    """A registered plugin: its socket, channel, stream and the devices it last reported."""

    registration: Registration
    socket: Path
    channel: grpc.Channel
    stub: pluginrpc.DevicePluginStub
    devices: dict[str, str] = field(default_factory=dict)
    stream: grpc.RpcContext | None = None  # the ListAndWatch call, cancellable
    stopped_at_s: float | None = None
    thread: threading.Thread | None = None


class KubeletStandIn:
    """See the module docstring. Thread-safe; every wait takes a timeout."""

    def __init__(
        self,
        plugin_dir: Path,
        *,
        pod_resources_dir: Path | None = None,
        stopped_endpoint_grace_s: float = 300.0,
    ) -> None:
        self.plugin_dir = Path(plugin_dir)
        self.pod_resources_dir = pod_resources_dir
        self.stopped_endpoint_grace_s = stopped_endpoint_grace_s
        self.registrations: list[Registration] = []
        self.refusals: list[str] = []
        self.updates: list[DeviceUpdate] = []
        self._endpoints: dict[str, _Endpoint] = {}
        self._allocated: dict[tuple[str, str], PodAllocation] = {}  # (namespace, name) -> allocation
        self._changed = threading.Condition()
        self._server: grpc.Server | None = None
        self._pod_resources_server: grpc.Server | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def socket(self) -> Path:
        return self.plugin_dir / KUBELET_SOCKET

    @property
    def pod_resources_socket(self) -> Path | None:
        return self.pod_resources_dir / KUBELET_SOCKET if self.pod_resources_dir else None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Clean the directory of sockets, as a starting kubelet does, then serve kubelet.sock."""
        if self._server is not None:
            return
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        for stale in sorted(self.plugin_dir.iterdir()):
            remove_socket(stale)
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="kubelet-registration")
        )
        pluginrpc.add_RegistrationServicer_to_server(_RegistrationService(self), server)
        server.add_insecure_port(grpc_address(self.socket))
        server.start()
        self._server = server
        if self.pod_resources_dir is not None:
            self.pod_resources_dir.mkdir(parents=True, exist_ok=True)
            assert self.pod_resources_socket is not None
            remove_socket(self.pod_resources_socket)
            lister = grpc.server(
                futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="kubelet-podresources")
            )
            podresourcesrpc.add_PodResourcesListerServicer_to_server(_PodResourcesService(self), lister)
            lister.add_insecure_port(grpc_address(self.pod_resources_socket))
            lister.start()
            self._pod_resources_server = lister
        log.info("kubelet stand-in serving %s", self.socket)

    def stop(self) -> None:
        """Stop serving, drop every plugin connection and remove kubelet.sock (a kubelet that exits)."""
        server, self._server = self._server, None
        lister, self._pod_resources_server = self._pod_resources_server, None
        if server is not None:
            server.stop(grace=None).wait()
        if lister is not None:
            lister.stop(grace=None).wait()
        with self._changed:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
            self._changed.notify_all()
        for endpoint in endpoints:
            self._close(endpoint)
        remove_socket(self.socket)
        if self.pod_resources_socket is not None:
            remove_socket(self.pod_resources_socket)

    def restart(self) -> None:
        """A kubelet restart: plugins lose their registration and must register again.

        Allocations survive (the real kubelet keeps them in its checkpoint file)."""
        self.stop()
        self.start()

    def __enter__(self) -> KubeletStandIn:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what the node shows ---------------------------------------------------------------------

    def capacity(self) -> dict[str, int]:
        """Per resource, every device the plugin reported (what `kubectl describe node` calls Capacity)."""
        with self._changed:
            return {r: len(e.devices) for r, e in sorted(self._live_endpoints().items())}

    def allocatable(self) -> dict[str, int]:
        """Per resource, the healthy devices (Allocatable: pods already running still count)."""
        with self._changed:
            return {
                r: sum(1 for h in e.devices.values() if h == HEALTHY and e.stopped_at_s is None)
                for r, e in sorted(self._live_endpoints().items())
            }

    def devices(self, resource: str) -> dict[str, str]:
        """Device ID -> health as last reported for `resource` ({} when unknown)."""
        with self._changed:
            endpoint = self._live_endpoints().get(resource)
            if endpoint is None:
                return {}
            if endpoint.stopped_at_s is not None:
                return {d: "Unhealthy" for d in endpoint.devices}
            return dict(endpoint.devices)

    def free(self, resource: str) -> list[str]:
        """Healthy devices no admitted pod holds, sorted."""
        with self._changed:
            return self._free(resource)

    def endpoint(self, resource: str) -> Registration | None:
        with self._changed:
            found = self._live_endpoints().get(resource)
            return found.registration if found else None

    def describe_node(self) -> str:
        """The Capacity and Allocatable blocks of `kubectl describe node`, device resources only."""
        capacity, allocatable = self.capacity(), self.allocatable()
        width = max((len(name) + 1 for name in capacity), default=0) + 2  # tabwriter padding 2
        lines = ["Capacity:"]
        lines += [f"  {name + ':':<{width}}{count}" for name, count in capacity.items()]
        lines.append("Allocatable:")
        lines += [f"  {name + ':':<{width}}{count}" for name, count in allocatable.items()]
        return "\n".join(lines)

    def wait_for(
        self, predicate: Callable[[KubeletStandIn], bool], *, timeout_s: float = 30.0, what: str = "condition"
    ) -> None:
        """Block until `predicate(self)` holds, re-checking on every update and at least every 0.1 s."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"kubelet stand-in: no {what} within {timeout_s} s; capacity {self.capacity()}, "
                    f"allocatable {self.allocatable()}, refusals {self.refusals}"
                )
            with self._changed:
                self._changed.wait(min(remaining, 0.1))

    # --- admission -------------------------------------------------------------------------------

    def admit(self, pod: Pod) -> PodAllocation:
        """Allocate devices to every container of `pod`, as the kubelet's device manager does."""
        key = (pod.namespace, pod.name)
        if key in self._allocated:
            raise AdmissionError(f"pod {pod.namespace}/{pod.name} is already admitted")
        done: list[ContainerAllocation] = []
        claimed: set[tuple[str, str]] = set()
        for container in pod.containers:
            for resource, count in sorted(container.limits.items()):
                if count > 0:
                    done.append(self._allocate(pod, container, resource, count, claimed))
        allocation = PodAllocation(pod, tuple(done))
        with self._changed:
            self._allocated[key] = allocation
            self._changed.notify_all()
        return allocation

    def release(self, name: str, namespace: str = "default") -> None:
        """The pod ended: its devices are free again."""
        with self._changed:
            self._allocated.pop((namespace, name), None)
            self._changed.notify_all()

    def pods(self) -> list[PodAllocation]:
        with self._changed:
            return [self._allocated[k] for k in sorted(self._allocated)]

    # --- internals -------------------------------------------------------------------------------

    def _allocate(
        self, pod: Pod, container: Container, resource: str, count: int, claimed: set[tuple[str, str]]
    ) -> ContainerAllocation:
        with self._changed:
            endpoint = self._live_endpoints().get(resource)
            if endpoint is None or endpoint.stopped_at_s is not None:
                raise AdmissionError(f"pod {pod.name}: no device plugin serves {resource}")
            available = [d for d in self._free(resource) if (resource, d) not in claimed]
        if len(available) < count:
            raise AdmissionError(
                f"pod {pod.name}: container {container.name} asks for {count} {resource}, {len(available)} free"
            )
        preferred: tuple[str, ...] | None = None
        chosen = available[:count]
        try:
            if endpoint.registration.preferred_allocation:
                answer = endpoint.stub.GetPreferredAllocation(
                    pluginapi.PreferredAllocationRequest(
                        container_requests=[
                            pluginapi.ContainerPreferredAllocationRequest(
                                available_deviceIDs=available,
                                must_include_deviceIDs=[],
                                allocation_size=count,
                            )
                        ]
                    ),
                    timeout=RPC_TIMEOUT_S,
                )
                preferred = tuple(answer.container_responses[0].deviceIDs)
                # the kubelet only takes advice that fits; otherwise it picks by itself
                if len(set(preferred)) == count and set(preferred) <= set(available):
                    chosen = list(preferred)
            response = endpoint.stub.Allocate(
                pluginapi.AllocateRequest(
                    container_requests=[pluginapi.ContainerAllocateRequest(devices_ids=chosen)]
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise AdmissionError(f"pod {pod.name}: {resource}: plugin refused: {details}", code) from exc
        if len(response.container_responses) != 1:
            raise AdmissionError(
                f"pod {pod.name}: {resource}: plugin answered {len(response.container_responses)} containers for 1"
            )
        claimed.update((resource, d) for d in chosen)
        return ContainerAllocation(
            container.name, resource, tuple(chosen), preferred, response.container_responses[0]
        )

    def _live_endpoints(self) -> dict[str, _Endpoint]:
        """Endpoints still counted: running, or stopped less than the grace period ago (lock held)."""
        now = time.monotonic()
        return {
            r: e
            for r, e in self._endpoints.items()
            if e.stopped_at_s is None or now - e.stopped_at_s < self.stopped_endpoint_grace_s
        }

    def _free(self, resource: str) -> list[str]:
        endpoint = self._live_endpoints().get(resource)
        if endpoint is None or endpoint.stopped_at_s is not None:
            return []
        held = {
            d
            for a in self._allocated.values()
            for c in a.containers
            if c.resource == resource
            for d in c.device_ids
        }
        return sorted(d for d, h in endpoint.devices.items() if h == HEALTHY and d not in held)

    def _register(self, request: pluginapi.RegisterRequest) -> str | None:
        """Accept a registration (returns None) or say why not."""
        if request.version not in SUPPORTED_VERSIONS:
            return f"unsupported device plugin API version {request.version!r}: supported {', '.join(SUPPORTED_VERSIONS)}"
        name = request.resource_name
        if not _QUALIFIED_NAME.fullmatch(name) or name.split("/")[0].endswith("kubernetes.io"):
            return f"invalid extended resource name {name!r}"
        socket = self.plugin_dir / request.endpoint
        if "/" in request.endpoint or not socket.exists():
            return f"endpoint {request.endpoint!r} is not a socket in {self.plugin_dir}"
        registration = Registration(
            resource=name,
            endpoint=request.endpoint,
            version=request.version,
            preferred_allocation=request.options.get_preferred_allocation_available,
            pre_start_required=request.options.pre_start_required,
            at_s=time.monotonic(),
        )
        channel = grpc.insecure_channel(grpc_address(socket))
        endpoint = _Endpoint(registration, socket, channel, pluginrpc.DevicePluginStub(channel))
        with self._changed:
            previous = self._endpoints.get(name)
            self._endpoints[name] = endpoint
            self.registrations.append(registration)
            self._changed.notify_all()
        if previous is not None:
            self._close(previous)
        # the kubelet connects back after answering, so a plugin may serve right after Register returns
        endpoint.thread = threading.Thread(
            target=self._watch, args=(endpoint,), name=f"kubelet-watch-{name}", daemon=True
        )
        endpoint.thread.start()
        log.info("kubelet stand-in: registered %s at %s", name, request.endpoint)
        return None

    def _watch(self, endpoint: _Endpoint) -> None:
        name = endpoint.registration.resource
        try:
            stream = endpoint.stub.ListAndWatch(pluginapi.Empty())
            endpoint.stream = stream
            for response in stream:
                devices = {d.ID: d.health for d in response.devices}
                with self._changed:
                    if self._endpoints.get(name) is not endpoint:
                        break
                    endpoint.devices = devices
                    self.updates.append(DeviceUpdate(name, devices, time.monotonic()))
                    self._changed.notify_all()
        except grpc.RpcError as exc:
            if not (isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.CANCELLED):
                log.info("kubelet stand-in: ListAndWatch for %s ended: %s", name, exc)
        finally:
            with self._changed:
                if endpoint.stopped_at_s is None:
                    endpoint.stopped_at_s = time.monotonic()
                self._changed.notify_all()

    def _close(self, endpoint: _Endpoint) -> None:
        endpoint.stopped_at_s = endpoint.stopped_at_s or time.monotonic()
        if endpoint.stream is not None:
            endpoint.stream.cancel()
        endpoint.channel.close()
        if endpoint.thread is not None and endpoint.thread is not threading.current_thread():
            endpoint.thread.join(timeout=5)

    # for the pod-resources service
    def _pod_resources(self, allocation: PodAllocation) -> podresourcesapi.PodResources:
        containers: dict[str, list[podresourcesapi.ContainerDevices]] = {
            c.name: [] for c in allocation.pod.containers
        }
        for held in allocation.containers:
            containers[held.container].append(
                podresourcesapi.ContainerDevices(resource_name=held.resource, device_ids=held.device_ids)
            )
        return podresourcesapi.PodResources(
            name=allocation.pod.name,
            namespace=allocation.pod.namespace,
            containers=[podresourcesapi.ContainerResources(name=n, devices=d) for n, d in containers.items()],
        )

    def _allocatable_devices(self) -> list[podresourcesapi.ContainerDevices]:
        with self._changed:
            return [
                podresourcesapi.ContainerDevices(
                    resource_name=r, device_ids=sorted(d for d, h in e.devices.items() if h == HEALTHY)
                )
                for r, e in sorted(self._live_endpoints().items())
                if e.stopped_at_s is None
            ]


class _RegistrationService(pluginrpc.RegistrationServicer):
    def __init__(self, kubelet: KubeletStandIn) -> None:
        self._kubelet = kubelet

    def Register(self, request: pluginapi.RegisterRequest, context: grpc.ServicerContext) -> pluginapi.Empty:
        refusal = self._kubelet._register(request)
        if refusal is not None:
            self._kubelet.refusals.append(refusal)
            log.info("kubelet stand-in: refused registration: %s", refusal)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, refusal)
        return pluginapi.Empty()


class _PodResourcesService(podresourcesrpc.PodResourcesListerServicer):
    def __init__(self, kubelet: KubeletStandIn) -> None:
        self._kubelet = kubelet

    def List(
        self, request: podresourcesapi.ListPodResourcesRequest, context: grpc.ServicerContext
    ) -> podresourcesapi.ListPodResourcesResponse:
        pods = [self._kubelet._pod_resources(a) for a in self._kubelet.pods()]
        return podresourcesapi.ListPodResourcesResponse(pod_resources=pods)

    def GetAllocatableResources(
        self, request: podresourcesapi.AllocatableResourcesRequest, context: grpc.ServicerContext
    ) -> podresourcesapi.AllocatableResourcesResponse:
        return podresourcesapi.AllocatableResourcesResponse(devices=self._kubelet._allocatable_devices())

    def Get(
        self, request: podresourcesapi.GetPodResourcesRequest, context: grpc.ServicerContext
    ) -> podresourcesapi.GetPodResourcesResponse:
        for allocation in self._kubelet.pods():
            if (allocation.pod.namespace, allocation.pod.name) == (request.pod_namespace, request.pod_name):
                return podresourcesapi.GetPodResourcesResponse(
                    pod_resources=self._kubelet._pod_resources(allocation)
                )
        context.abort(grpc.StatusCode.NOT_FOUND, f"pod {request.pod_namespace}/{request.pod_name} not found")


def wait_for_socket(path: Path, timeout_s: float = 30.0) -> None:
    """Block until a socket file exists at `path` (a process started elsewhere is serving)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no socket at {path} within {timeout_s} s")
        time.sleep(0.02)


__all__ = [
    "AdmissionError",
    "Container",
    "ContainerAllocation",
    "DeviceUpdate",
    "KubeletStandIn",
    "Pod",
    "PodAllocation",
    "Registration",
    "wait_for_socket",
]
