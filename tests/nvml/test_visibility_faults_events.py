"""Containers' view (NVIDIA_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES), injected faults, XID events."""

from __future__ import annotations

import pytest

from kubemig.nvml import Nvml, NvmlError, open_simulated
from kubemig.nvml.simulated import SimConfig, StateStore, control
from tests.nvml.conftest import MakeNvml


def _store(sim_env: dict[str, str]) -> StateStore:
    return StateStore(SimConfig.from_env(None, sim_env))


def _node_with_mig_devices(make_nvml: MakeNvml) -> Nvml:
    host = make_nvml("4xA100-SXM4-40GB")
    for gpu in (1, 2):
        host.set_mig_mode(gpu, True)
        for profile in (9, 14):
            gi = host.create_gpu_instance(gpu, profile)
            host.create_compute_instance(gpu, gi.id, max(p.id for p in host.ci_profiles(gpu, gi.id)))
    return host


@pytest.mark.parametrize("value", ["none", "void", ""])
def test_no_devices(make_nvml: MakeNvml, value: str) -> None:
    make_nvml("2xA30")
    assert make_nvml(None, NVIDIA_VISIBLE_DEVICES=value).device_count() == 0


def test_gpu_indices_and_uuids(make_nvml: MakeNvml) -> None:
    host = make_nvml("4xA100-SXM4-40GB")
    uuids = [g.uuid for g in host.gpus()]
    by_index = make_nvml(None, NVIDIA_VISIBLE_DEVICES="3,1")
    assert [(g.index, g.minor_number, g.uuid) for g in by_index.gpus()] == [
        (0, 1, uuids[1]),
        (1, 3, uuids[3]),
    ]
    by_uuid = make_nvml(None, NVIDIA_VISIBLE_DEVICES=uuids[2])
    assert [g.uuid for g in by_uuid.gpus()] == [uuids[2]]
    assert make_nvml(None, NVIDIA_VISIBLE_DEVICES="all").device_count() == 4
    # CUDA counts among what NVIDIA_VISIBLE_DEVICES left
    nested = make_nvml(None, NVIDIA_VISIBLE_DEVICES="2,3", CUDA_VISIBLE_DEVICES="1")
    assert [g.uuid for g in nested.gpus()] == [uuids[3]]


def test_a_mig_device_container_sees_only_its_device(make_nvml: MakeNvml) -> None:
    host = _node_with_mig_devices(make_nvml)
    target = host.mig_devices(2)[1]
    inside = make_nvml(None, NVIDIA_VISIBLE_DEVICES=target.uuid)
    assert inside.device_count() == 1
    assert inside.gpu(0).uuid == host.gpu(2).uuid and inside.gpu(0).minor_number == 2
    assert [(d.uuid, d.gi_id, d.ci_id, d.index) for d in inside.mig_devices(0)] == [
        (target.uuid, target.gi_id, target.ci_id, 0)
    ]
    assert [g.id for g in inside.gpu_instances(0)] == [target.gi_id]
    with pytest.raises(NvmlError) as caught:
        inside.create_gpu_instance(0, 19)
    assert caught.value.name == "NO_PERMISSION"
    with pytest.raises(NvmlError, match="Insufficient Permissions"):
        inside.set_mig_mode(0, False)
    # the index form the device plugin's `index` strategy uses: <gpu>:<mig device>
    by_index = make_nvml(None, NVIDIA_VISIBLE_DEVICES="1:0,2:1")
    assert [[d.uuid for d in by_index.mig_devices(i)] for i in range(2)] == [
        [host.mig_devices(1)[0].uuid],
        [target.uuid],
    ]


def test_legacy_mig_uuids_select_devices_too(make_nvml: MakeNvml) -> None:
    host = make_nvml("2xA100-SXM4-40GB", driver="460.73.01")
    host.set_mig_mode(1, True)
    gi = host.create_gpu_instance(1, 19)
    host.create_compute_instance(1, gi.id, 0)
    uuid = host.mig_devices(1)[0].uuid
    assert uuid == f"MIG-{host.gpu(1).uuid}/{gi.id}/0"
    inside = make_nvml(None, NVIDIA_VISIBLE_DEVICES=uuid)
    assert [d.uuid for d in inside.mig_devices(0)] == [uuid]
    assert [p.pid for p in inside.processes(uuid)] == []


def test_fault_after_and_times(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    nvml.set_mig_mode(0, True)
    control.add_fault(_store(sim_env), "nvmlDeviceCreateGpuInstance", "GPU_IS_LOST", after=1, times=2)
    outcomes: list[int | str] = []
    for _ in range(4):
        try:
            outcomes.append(nvml.create_gpu_instance(0, 19).id)
        except NvmlError as exc:
            outcomes.append(exc.name)
    assert outcomes == [13, "GPU_IS_LOST", "GPU_IS_LOST", 11]
    assert _store(sim_env).read().faults == []  # spent
    # a failing call changed nothing
    assert [g.id for g in nvml.gpu_instances(0)] == [11, 13]


def test_fault_every_call_and_on_init(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    nvml = make_nvml("1xA30")
    control.add_fault(_store(sim_env), "nvmlDeviceGetCount", "UNKNOWN", times=0)
    for _ in range(3):
        with pytest.raises(NvmlError, match="nvmlDeviceGetCount: Unknown Error"):
            nvml.device_count()
    control.clear_faults(_store(sim_env))
    assert nvml.device_count() == 1
    control.add_fault(_store(sim_env), "nvmlInit", "DRIVER_NOT_LOADED")
    with pytest.raises(NvmlError) as caught:
        open_simulated(None, sim_env)
    assert (caught.value.name, caught.value.nvml_message) == ("DRIVER_NOT_LOADED", "Driver Not Loaded")


def test_xid_events_reach_event_sets(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    nvml = make_nvml("2xA100-SXM4-40GB")
    nvml.set_mig_mode(1, True)
    gi = nvml.create_gpu_instance(1, 9)
    nvml.create_compute_instance(1, gi.id, 2)
    control.queue_xid(_store(sim_env), 0, 13)  # before the set exists: not delivered
    with nvml.event_set() as events:
        assert events.wait(0) == []
        control.queue_xid(_store(sim_env), 0, 79)
        control.queue_xid(_store(sim_env), 1, 31, gi.id, 0)
        got = events.wait(1000)
        assert [(e.gpu_index, e.xid, e.gi_id, e.ci_id) for e in got] == [
            (0, 79, None, None),
            (1, 31, gi.id, 0),
        ]
        assert got[0].uuid == nvml.gpu(0).uuid
        assert events.wait(10) == []
    with nvml.event_set([1]) as only_one:
        control.queue_xid(_store(sim_env), 0, 48)
        control.queue_xid(_store(sim_env), 1, 48)
        assert [e.gpu_index for e in only_one.wait(500)] == [1]


def test_a_container_hears_only_its_own_device(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    host = _node_with_mig_devices(make_nvml)
    mine, other = host.mig_devices(1)[0], host.mig_devices(1)[1]
    inside = make_nvml(None, NVIDIA_VISIBLE_DEVICES=mine.uuid)
    with inside.event_set() as events:
        control.queue_xid(_store(sim_env), 1, 43, other.gi_id, other.ci_id)
        control.queue_xid(_store(sim_env), 2, 43)
        control.queue_xid(_store(sim_env), 1, 45, mine.gi_id, mine.ci_id)
        assert [(e.xid, e.gi_id) for e in events.wait(500)] == [(45, mine.gi_id)]


def test_fault_names_are_pynvml_functions(sim_env: dict[str, str], make_nvml: MakeNvml) -> None:
    make_nvml("1xA30")
    with pytest.raises(Exception, match="no function 'nvmlDeviceGetGpuInstanceProfileInfoV'"):
        control.add_fault(_store(sim_env), "nvmlDeviceGetGpuInstanceProfileInfoV", "UNKNOWN")  # an alias
    assert "nvmlDeviceCreateGpuInstance" in control.nvml_functions()
