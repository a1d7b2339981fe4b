"""The plugin against the kubelet stand-in over real gRPC Unix sockets, on a hand-built node."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from kubemig.deviceplugin.api import pluginapi, pluginrpc
from kubemig.deviceplugin.config import HealthConfig, MigStrategy, PluginConfig
from kubemig.deviceplugin.drain_file import read_draining, write_draining
from kubemig.deviceplugin.errors import DevicePluginError
from kubemig.deviceplugin.health import XidNotice
from kubemig.deviceplugin.plugin import DevicePlugin
from kubemig.deviceplugin.podresources import DeviceAssignment, PodResourcesClient
from kubemig.deviceplugin.sockets import grpc_address
from kubemig.errors import KubemigError
from kubemig.testing.kubelet import Container, KubeletStandIn, Pod
from tests.deviceplugin.nodes import DEMO_LAYOUT, FakeNode, node

DEMO_COUNTS = {"nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}
TIMEOUT_S = 30.0


def config_for(kubelet: KubeletStandIn, **changes: object) -> PluginConfig:
    base = PluginConfig(
        mig_strategy=MigStrategy.MIXED,
        kubelet_dir=kubelet.plugin_dir,
        poll_interval_s=0.1,
        status_file=kubelet.plugin_dir.parent / "status.json",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> FakeNode:
    return FakeNode(node(*[DEMO_LAYOUT] * 8))


@pytest.fixture
def plugin(kubelet: KubeletStandIn, fake: FakeNode) -> Iterator[DevicePlugin]:
    running = DevicePlugin(config_for(kubelet), fake)
    running.start()
    yield running
    running.stop()


def test_registers_the_demo_node(kubelet: KubeletStandIn, plugin: DevicePlugin) -> None:
    kubelet.wait_for(
        lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node's resources"
    )
    assert kubelet.allocatable() == DEMO_COUNTS
    endpoints = {r.resource: r.endpoint for r in kubelet.registrations}
    assert endpoints == {
        "nvidia.com/mig-1g.5gb": "nvidia-mig-1g.5gb.sock",
        "nvidia.com/mig-2g.10gb": "nvidia-mig-2g.10gb.sock",
        "nvidia.com/mig-3g.20gb": "nvidia-mig-3g.20gb.sock",
    }
    assert all(r.version == "v1beta1" and r.preferred_allocation for r in kubelet.registrations)
    status = json.loads((kubelet.plugin_dir.parent / "status.json").read_text())
    assert status["resources"]["nvidia.com/mig-1g.5gb"] == {"devices": 16, "healthy": 16, "registered": True}


def test_layout_change_reaches_the_kubelet_without_restart(
    kubelet: KubeletStandIn, plugin: DevicePlugin, fake: FakeNode
) -> None:
    kubelet.wait_for(lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
    # GPU 0 recut to 7 x 1g.5gb, GPU 1 to one 7g.40gb: a new resource appears
    fake.set(node("1g.5gb," * 6 + "1g.5gb", "7g.40gb", *[DEMO_LAYOUT] * 6))
    expected = {
        "nvidia.com/mig-1g.5gb": 12 + 7,
        "nvidia.com/mig-2g.10gb": 6,
        "nvidia.com/mig-3g.20gb": 6,
        "nvidia.com/mig-7g.40gb": 1,
    }
    kubelet.wait_for(lambda k: k.capacity() == expected, timeout_s=TIMEOUT_S, what="the new layout")
    assert len(kubelet.registrations) == 4
    # every GPU becomes 7g.40gb: the other resources are withdrawn (empty list, then the stream ends)
    fake.set(node(*["7g.40gb"] * 8))
    withdrawn = {"nvidia.com/mig-1g.5gb": 0, "nvidia.com/mig-2g.10gb": 0, "nvidia.com/mig-3g.20gb": 0}
    kubelet.wait_for(
        lambda k: k.capacity() == {**withdrawn, "nvidia.com/mig-7g.40gb": 8},
        timeout_s=TIMEOUT_S,
        what="withdrawal",
    )
    assert not (kubelet.plugin_dir / "nvidia-mig-1g.5gb.sock").exists()
    assert set(plugin.status.resources) == {"nvidia.com/mig-7g.40gb"}


def test_xid_marks_the_named_device_and_recovers(kubelet: KubeletStandIn, fake: FakeNode) -> None:
    config = config_for(kubelet, health=HealthConfig(recovery_s=1.0))
    plugin = DevicePlugin(config, fake)
    plugin.start()
    try:
        kubelet.wait_for(lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
        one_g = [s for s in fake.gpus[2].mig_devices if s.profile == "1g.5gb"][0]
        fake.inject(XidNotice(2, 79, one_g.gi_id, one_g.ci_id))
        kubelet.wait_for(
            lambda k: k.devices("nvidia.com/mig-1g.5gb").get(one_g.uuid) == "Unhealthy",
            timeout_s=TIMEOUT_S,
            what="XID",
        )
        assert kubelet.allocatable() == {**DEMO_COUNTS, "nvidia.com/mig-1g.5gb": 15}
        assert kubelet.capacity() == DEMO_COUNTS
        kubelet.wait_for(lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="recovery")

        fake.inject(XidNotice(5, 13))  # ignored XID
        fake.inject(XidNotice(5, 79))  # GPU-wide: all four MIG devices of GPU 5
        expected = {"nvidia.com/mig-1g.5gb": 14, "nvidia.com/mig-2g.10gb": 7, "nvidia.com/mig-3g.20gb": 7}
        kubelet.wait_for(lambda k: k.allocatable() == expected, timeout_s=TIMEOUT_S, what="GPU-wide XID")
    finally:
        plugin.stop()


def test_devices_the_agent_drains_are_withheld_until_it_is_done(
    kubelet: KubeletStandIn, fake: FakeNode
) -> None:
    drain_file = kubelet.plugin_dir.parent / "draining.json"
    plugin = DevicePlugin(config_for(kubelet, drain_file=drain_file), fake)
    plugin.start()
    try:
        kubelet.wait_for(lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
        two_g = [s for s in fake.gpus[3].mig_devices if s.profile == "2g.10gb"][0]
        write_draining(drain_file, {two_g.uuid: "drained for config 'small'"})
        kubelet.wait_for(
            lambda k: k.devices("nvidia.com/mig-2g.10gb").get(two_g.uuid) == "Unhealthy",
            timeout_s=TIMEOUT_S,
            what="the drained device",
        )
        assert kubelet.allocatable() == {**DEMO_COUNTS, "nvidia.com/mig-2g.10gb": 7}
        assert plugin.status.unhealthy == {two_g.uuid: "drained for config 'small'"}
        drain_file.write_text("{not json")  # a torn or foreign file: what was drained stays drained
        time.sleep(0.5)
        assert kubelet.allocatable() == {**DEMO_COUNTS, "nvidia.com/mig-2g.10gb": 7}
        write_draining(drain_file, {})
        kubelet.wait_for(
            lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the drain's end"
        )
    finally:
        plugin.stop()


def _stub(kubelet: KubeletStandIn, socket: str) -> tuple[grpc.Channel, pluginrpc.DevicePluginStub]:
    channel = grpc.insecure_channel(grpc_address(kubelet.plugin_dir / socket))
    return channel, pluginrpc.DevicePluginStub(channel)


def test_allocate_refuses_unknown_and_unhealthy_devices(
    kubelet: KubeletStandIn, plugin: DevicePlugin, fake: FakeNode
) -> None:
    kubelet.wait_for(lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
    two_g = [s for s in fake.gpus[0].mig_devices if s.profile == "2g.10gb"][0]
    three_g = [s for s in fake.gpus[0].mig_devices if s.profile == "3g.20gb"][0]
    channel, stub = _stub(kubelet, "nvidia-mig-2g.10gb.sock")
    with channel:

        def allocate(*ids: str) -> pluginapi.AllocateResponse:
            request = pluginapi.AllocateRequest(
                container_requests=[pluginapi.ContainerAllocateRequest(devices_ids=ids)]
            )
            return stub.Allocate(request, timeout=10)

        assert allocate(two_g.uuid).container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == two_g.uuid
        for bad in ("MIG-nope", three_g.uuid):  # a stranger, and a device of another resource
            with pytest.raises(grpc.RpcError) as refused:
                allocate(bad)
            assert isinstance(refused.value, grpc.Call)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"unknown device '{bad}'" in (refused.value.details() or "")

        fake.inject(XidNotice(0, 79, two_g.gi_id, two_g.ci_id))
        kubelet.wait_for(
            lambda k: k.devices("nvidia.com/mig-2g.10gb").get(two_g.uuid) == "Unhealthy",
            timeout_s=TIMEOUT_S,
            what="XID",
        )
        with pytest.raises(grpc.RpcError) as refused:
            allocate(two_g.uuid)
        assert isinstance(refused.value, grpc.Call)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"{two_g.uuid} (GPU 0 GI {two_g.gi_id} CI 0) is unhealthy (XID 79" in (
            refused.value.details() or ""
        )


def test_admission_packs_onto_partly_allocated_gpus(
    kubelet: KubeletStandIn, plugin: DevicePlugin, fake: FakeNode
) -> None:
    kubelet.wait_for(lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
    gpu_of = {s.uuid: g.index for g in fake.gpus for s in g.mig_devices}
    # a 3g.20gb on GPU 6 is taken first (by device ID, as an earlier pod might hold it)
    first = kubelet.admit(Pod("big", [Container("main", {"nvidia.com/mig-3g.20gb": 1})]))
    big_gpu = gpu_of[first.device_ids("main")[0]]
    # the 1g.5gb pods follow it onto the same GPU (pod-resources tells the plugin what others hold)
    small = kubelet.admit(Pod("small", [Container("main", {"nvidia.com/mig-1g.5gb": 2})]))
    assert [gpu_of[d] for d in small.device_ids("main")] == [big_gpu, big_gpu]
    assert small.containers[0].preferred == tuple(small.device_ids("main"))
    env = small.env("main")
    assert env["NVIDIA_VISIBLE_DEVICES"] == ",".join(small.device_ids("main"))


def test_kubelet_restart_is_followed_by_registration(kubelet: KubeletStandIn, plugin: DevicePlugin) -> None:
    kubelet.wait_for(lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
    kubelet.restart()
    assert kubelet.capacity() == {}
    kubelet.wait_for(
        lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="registration after restart"
    )
    assert len(kubelet.registrations) == 6
    kubelet.stop()
    kubelet.start()  # a slower restart: the socket is gone for a while
    kubelet.wait_for(
        lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="registration after restart"
    )


def test_single_strategy_withholds_a_mixed_layout(kubelet: KubeletStandIn, fake: FakeNode) -> None:
    plugin = DevicePlugin(config_for(kubelet, mig_strategy=MigStrategy.SINGLE), fake)
    plugin.start()
    try:
        kubelet.wait_for(
            lambda k: "nvidia.com/gpu" in k.capacity(), timeout_s=TIMEOUT_S, what="nvidia.com/gpu"
        )
        assert kubelet.capacity() == {"nvidia.com/gpu": 0}
        [problem] = plugin.status.problems
        assert problem.startswith("MIG devices differ")
        status = json.loads((kubelet.plugin_dir.parent / "status.json").read_text())
        assert status["problems"] == [problem]
        fake.set(node(*["3g.20gb,3g.20gb"] * 8))  # made uniform: devices appear, no restart
        kubelet.wait_for(
            lambda k: k.capacity() == {"nvidia.com/gpu": 16}, timeout_s=TIMEOUT_S, what="uniform"
        )
        assert plugin.status.problems == ()
    finally:
        plugin.stop()


def test_init_errors(kubelet: KubeletStandIn, fake: FakeNode) -> None:
    fake.failing = "NVML: Driver Not Loaded"
    with pytest.raises(DevicePluginError, match="cannot read the node's GPUs: NVML: Driver Not Loaded"):
        DevicePlugin(config_for(kubelet), fake).start()
    patient = DevicePlugin(config_for(kubelet, fail_on_init_error=False), fake)
    patient.start()
    try:
        assert kubelet.capacity() == {}
        fake.failing = None
        kubelet.wait_for(lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="late driver")
    finally:
        patient.stop()


def test_a_missing_kubelet_dir_is_named_with_the_fix(tmp_path: Path, fake: FakeNode) -> None:
    missing = tmp_path / "no-kubelet-here"
    plugin = DevicePlugin(PluginConfig(mig_strategy=MigStrategy.MIXED, kubelet_dir=missing), fake)
    try:
        with pytest.raises(DevicePluginError) as info:
            plugin.start()
    finally:
        plugin.stop()
    assert str(info.value) == (
        f"cannot serve nvidia.com/mig-1g.5gb: the kubelet's device plugin directory {missing} does not exist: "
        "start the kubelet first, or give its directory with --kubelet-dir"
    )


def test_stop_removes_sockets(kubelet: KubeletStandIn, fake: FakeNode) -> None:
    plugin = DevicePlugin(config_for(kubelet), fake)
    plugin.start()
    kubelet.wait_for(lambda k: k.capacity() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
    plugin.stop()
    assert sorted(p.name for p in kubelet.plugin_dir.iterdir()) == ["kubelet.sock"]
    assert fake.closed
    kubelet.wait_for(
        lambda k: k.allocatable() == dict.fromkeys(DEMO_COUNTS, 0), timeout_s=TIMEOUT_S, what="stream end"
    )


def test_pod_resources_client_names_the_holder(kubelet: KubeletStandIn, plugin: DevicePlugin) -> None:
    kubelet.wait_for(lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
    pod = kubelet.admit(Pod("trainer", [Container("main", {"nvidia.com/mig-3g.20gb": 1})], namespace="ml"))
    [held] = pod.device_ids("main")
    assert kubelet.pod_resources_socket is not None
    with PodResourcesClient(kubelet.pod_resources_socket) as client:
        assert client.holder(held) == DeviceAssignment(
            "ml", "trainer", "main", "nvidia.com/mig-3g.20gb", held
        )
        assert client.holder("MIG-free") is None
        allocatable = client.allocatable()
        assert {name: len(ids) for name, ids in allocatable.items()} == DEMO_COUNTS
    kubelet.stop()
    with (
        PodResourcesClient(kubelet.pod_resources_socket) as client,
        pytest.raises(DevicePluginError, match="pod-resources List at"),
    ):
        client.assignments()


def test_a_drain_file_that_cannot_be_written_or_read_is_named_with_the_fix(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    with pytest.raises(
        KubemigError, match="drain file .*not-a-dir/draining.json: .*give --drain-file a path"
    ):
        write_draining(blocked / "draining.json", {"MIG-x": "drained"})
    with pytest.raises(
        KubemigError, match="drain file .*not-a-dir/draining.json: .*give --drain-file a path"
    ):
        write_draining(blocked / "draining.json", {})
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"devices": ["MIG-x"]}')
    with pytest.raises(KubemigError, match=r'not \{"devices": \{uuid: reason\}\}'):
        read_draining(foreign)
    assert read_draining(tmp_path / "missing.json") == {}
