"""The kubelet stand-in, against a minimal hand-written device plugin over real Unix sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from kubemig.deviceplugin.api import (
    HEALTHY,
    UNHEALTHY,
    pluginapi,
    pluginrpc,
    podresourcesapi,
    podresourcesrpc,
)
from kubemig.deviceplugin.sockets import grpc_address
from kubemig.testing.kubelet import AdmissionError, Container, KubeletStandIn, Pod
from tests.deviceplugin.conftest import short_dir  # noqa: F401  (the fixture)


class FakePlugin(pluginrpc.DevicePluginServicer):
    """The smallest plugin: a device list to publish, and Allocate that echoes the IDs."""

    def __init__(
        self, directory: Path, name: str, devices: dict[str, str], *, preferred: list[str] | None = None
    ) -> None:
        self.directory = directory
        self.name = name
        self.devices = dict(devices)
        self.preferred = preferred
        self.preferred_requests: list[pluginapi.ContainerPreferredAllocationRequest] = []
        self.allocations: list[list[str]] = []
        self._changed = threading.Condition()
        self._version = 0
        self._stopped = False
        self.server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"fake-{self.name}.sock"

    def serve(self) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pluginrpc.add_DevicePluginServicer_to_server(self, self.server)
        self.server.add_insecure_port(grpc_address(self.directory / self.endpoint))
        self.server.start()

    def register(
        self, kubelet_socket: Path, *, version: str = "v1beta1", resource: str | None = None
    ) -> None:
        with grpc.insecure_channel(grpc_address(kubelet_socket)) as channel:
            pluginrpc.RegistrationStub(channel).Register(
                pluginapi.RegisterRequest(
                    version=version,
                    endpoint=self.endpoint,
                    resource_name=resource or f"example.com/{self.name}",
                    options=pluginapi.DevicePluginOptions(
                        get_preferred_allocation_available=self.preferred is not None
                    ),
                ),
                timeout=10,
            )

    def publish(self, devices: dict[str, str]) -> None:
        with self._changed:
            self.devices = dict(devices)
            self._version += 1
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self.server is not None:
            self.server.stop(grace=None).wait()

    def GetDevicePluginOptions(
        self, request: pluginapi.Empty, context: grpc.ServicerContext
    ) -> pluginapi.DevicePluginOptions:
        return pluginapi.DevicePluginOptions(get_preferred_allocation_available=self.preferred is not None)

    def PreStartContainer(
        self, request: pluginapi.PreStartContainerRequest, context: grpc.ServicerContext
    ) -> pluginapi.PreStartContainerResponse:
        return pluginapi.PreStartContainerResponse()

    def ListAndWatch(
        self, request: pluginapi.Empty, context: grpc.ServicerContext
    ) -> Iterator[pluginapi.ListAndWatchResponse]:
        seen = -1
        while context.is_active():
            with self._changed:
                if self._stopped:
                    return
                if seen == self._version:
                    self._changed.wait(0.05)
                    continue
                seen = self._version
                devices = [pluginapi.Device(ID=i, health=h) for i, h in sorted(self.devices.items())]
            yield pluginapi.ListAndWatchResponse(devices=devices)

    def GetPreferredAllocation(
        self, request: pluginapi.PreferredAllocationRequest, context: grpc.ServicerContext
    ) -> pluginapi.PreferredAllocationResponse:
        self.preferred_requests.extend(request.container_requests)
        size = request.container_requests[0].allocation_size
        assert self.preferred is not None
        return pluginapi.PreferredAllocationResponse(
            container_responses=[
                pluginapi.ContainerPreferredAllocationResponse(deviceIDs=self.preferred[:size])
            ]
        )

    def Allocate(
        self, request: pluginapi.AllocateRequest, context: grpc.ServicerContext
    ) -> pluginapi.AllocateResponse:
        ids = list(request.container_requests[0].devices_ids)
        if "refused" in ids:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "device refused is unhealthy")
        self.allocations.append(ids)
        return pluginapi.AllocateResponse(
            container_responses=[pluginapi.ContainerAllocateResponse(envs={"FAKE_DEVICES": ",".join(ids)})]
        )


@pytest.fixture
def kubelet(short_dir: Path) -> Iterator[KubeletStandIn]:  # noqa: F811
    standin = KubeletStandIn(
        short_dir, pod_resources_dir=short_dir / "pod-resources", stopped_endpoint_grace_s=0.5
    )
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def fakes() -> Iterator[list[FakePlugin]]:
    made: list[FakePlugin] = []
    yield made
    for fake in made:
        fake.stop()


def _fake(
    fakes: list[FakePlugin],
    kubelet: KubeletStandIn,
    name: str,
    devices: dict[str, str],
    preferred: list[str] | None = None,
) -> FakePlugin:
    fake = FakePlugin(kubelet.plugin_dir, name, devices, preferred=preferred)
    fake.serve()
    fakes.append(fake)
    return fake


def test_registration_tracks_capacity_and_allocatable(
    kubelet: KubeletStandIn, fakes: list[FakePlugin]
) -> None:
    fake = _fake(fakes, kubelet, "widget", {"a": HEALTHY, "b": HEALTHY, "c": UNHEALTHY})
    fake.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.capacity() == {"example.com/widget": 3}, what="3 widgets")
    assert kubelet.allocatable() == {"example.com/widget": 2}
    registration = kubelet.endpoint("example.com/widget")
    assert registration is not None and registration.endpoint == "fake-widget.sock"

    fake.publish({"a": HEALTHY, "b": UNHEALTHY})
    kubelet.wait_for(lambda k: k.capacity() == {"example.com/widget": 2}, what="the update")
    assert kubelet.allocatable() == {"example.com/widget": 1}
    assert kubelet.describe_node().splitlines() == [
        "Capacity:",
        "  example.com/widget:  2",
        "Allocatable:",
        "  example.com/widget:  1",
    ]


@pytest.mark.parametrize(
    ("version", "resource", "reason"),
    [
        ("v1alpha", "example.com/widget", "unsupported device plugin API version"),
        ("v1beta1", "widget", "invalid extended resource name"),
        ("v1beta1", "kubernetes.io/widget", "invalid extended resource name"),
    ],
)
def test_registration_refusals(
    kubelet: KubeletStandIn, fakes: list[FakePlugin], version: str, resource: str, reason: str
) -> None:
    fake = _fake(fakes, kubelet, "widget", {"a": HEALTHY})
    with pytest.raises(grpc.RpcError) as refused:
        fake.register(kubelet.socket, version=version, resource=resource)
    assert isinstance(refused.value, grpc.Call)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (refused.value.details() or "")
    assert kubelet.capacity() == {}


def test_admission_uses_preferred_allocation_then_allocate(
    kubelet: KubeletStandIn, fakes: list[FakePlugin]
) -> None:
    fake = _fake(
        fakes,
        kubelet,
        "widget",
        {"a": HEALTHY, "b": HEALTHY, "c": HEALTHY, "d": UNHEALTHY},
        preferred=["c", "b"],
    )
    fake.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.allocatable().get("example.com/widget") == 3, what="widgets")

    allocation = kubelet.admit(Pod("p1", [Container("main", {"example.com/widget": 2})]))
    assert allocation.device_ids("main") == ["c", "b"]
    assert allocation.env("main") == {"FAKE_DEVICES": "c,b"}
    asked = fake.preferred_requests[0]
    assert list(asked.available_deviceIDs) == ["a", "b", "c"]  # unhealthy d never offered
    assert asked.allocation_size == 2
    assert kubelet.free("example.com/widget") == ["a"]

    with pytest.raises(AdmissionError, match="asks for 2 example.com/widget, 1 free"):
        kubelet.admit(Pod("p2", [Container("main", {"example.com/widget": 2})]))
    kubelet.release("p1")
    assert kubelet.free("example.com/widget") == ["a", "b", "c"]


def test_admission_reports_plugin_refusal(kubelet: KubeletStandIn, fakes: list[FakePlugin]) -> None:
    fake = _fake(fakes, kubelet, "widget", {"refused": HEALTHY})
    fake.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.allocatable().get("example.com/widget") == 1, what="widget")
    with pytest.raises(AdmissionError, match="device refused is unhealthy") as refused:
        kubelet.admit(Pod("p1", [Container("main", {"example.com/widget": 1})]))
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert kubelet.pods() == []


def test_stream_end_marks_devices_unhealthy_then_forgets(
    kubelet: KubeletStandIn, fakes: list[FakePlugin]
) -> None:
    fake = _fake(fakes, kubelet, "widget", {"a": HEALTHY})
    fake.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.allocatable() == {"example.com/widget": 1}, what="widget")
    fake.stop()
    kubelet.wait_for(lambda k: k.allocatable() in ({"example.com/widget": 0}, {}), what="unhealthy widget")
    kubelet.wait_for(lambda k: k.capacity() == {}, what="forgotten resource")


def test_restart_removes_sockets_and_needs_registration_again(
    kubelet: KubeletStandIn, fakes: list[FakePlugin]
) -> None:
    fake = _fake(fakes, kubelet, "widget", {"a": HEALTHY})
    fake.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.capacity() == {"example.com/widget": 1}, what="widget")
    kubelet.restart()
    assert not (kubelet.plugin_dir / fake.endpoint).exists(), "a starting kubelet removes plugin sockets"
    assert kubelet.socket.exists()
    assert kubelet.capacity() == {}

    fake.stop()
    again = _fake(fakes, kubelet, "widget", {"a": HEALTHY, "b": HEALTHY})
    again.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.capacity() == {"example.com/widget": 2}, what="re-registered widgets")
    assert len(kubelet.registrations) == 2


def test_pod_resources_api(kubelet: KubeletStandIn, fakes: list[FakePlugin]) -> None:
    fake = _fake(fakes, kubelet, "widget", {"a": HEALTHY, "b": HEALTHY, "c": UNHEALTHY})
    fake.register(kubelet.socket)
    kubelet.wait_for(lambda k: k.allocatable().get("example.com/widget") == 2, what="widgets")
    kubelet.admit(
        Pod("p1", [Container("main", {"example.com/widget": 1}), Container("side", {})], namespace="ml")
    )

    assert kubelet.pod_resources_socket is not None
    with grpc.insecure_channel(grpc_address(kubelet.pod_resources_socket)) as channel:
        lister = podresourcesrpc.PodResourcesListerStub(channel)
        listed = lister.List(podresourcesapi.ListPodResourcesRequest(), timeout=10)
        allocatable = lister.GetAllocatableResources(
            podresourcesapi.AllocatableResourcesRequest(), timeout=10
        )
        one = lister.Get(
            podresourcesapi.GetPodResourcesRequest(pod_name="p1", pod_namespace="ml"), timeout=10
        )
        with pytest.raises(grpc.RpcError) as missing:
            lister.Get(
                podresourcesapi.GetPodResourcesRequest(pod_name="nope", pod_namespace="ml"), timeout=10
            )

    [pod] = listed.pod_resources
    assert (pod.name, pod.namespace) == ("p1", "ml")
    assert [c.name for c in pod.containers] == ["main", "side"]
    assert [(d.resource_name, list(d.device_ids)) for d in pod.containers[0].devices] == [
        ("example.com/widget", ["a"])
    ]
    assert [(d.resource_name, list(d.device_ids)) for d in allocatable.devices] == [
        ("example.com/widget", ["a", "b"])
    ]
    assert one.pod_resources == pod
    assert isinstance(missing.value, grpc.Call) and missing.value.code() == grpc.StatusCode.NOT_FOUND
