"""The adapter over the simulated driver: what mig-facts says real boards do."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.geometry import Placement
from kubemig.nvml import Nvml, NvmlError
from tests.nvml.conftest import MakeNvml


def _enabled(make_nvml: MakeNvml, spec: str = "1xA100-SXM4-40GB", **kw: str) -> Nvml:
    nvml = make_nvml(spec, **kw)
    for index in range(nvml.device_count()):
        nvml.set_mig_mode(index, True)
    return nvml


@pytest.mark.parametrize(
    ("spec", "profiles", "ids", "placements"),
    [
        ("1xA100-SXM4-40GB", [9, 19, 14, 19], [2, 7, 4, 8], ["4:4", "0:1", "2:2", "1:1"]),
        ("1xA100-SXM4-40GB", [14, 19, 19, 19, 19, 19], [5, 13, 7, 8, 9, 10], None),
        ("1xA100-SXM4-40GB", [19, 14, 5], [13, 5, 1], ["6:1", "4:2", "0:4"]),
        ("1xH100-80GB-HBM3", [9, 19, 14, 19], [2, 7, 4, 8], ["4:4", "0:1", "2:2", "1:1"]),
        ("1xA100-SXM4-40GB:swapped", [5, 14, 19], [2, 3, 9], ["0:4", "4:2", "6:1"]),
    ],
)
def test_default_placements_and_gi_ids_match_real_boards(
    make_nvml: MakeNvml, spec: str, profiles: list[int], ids: list[int], placements: list[str] | None
) -> None:
    nvml = _enabled(make_nvml, spec)
    created = [nvml.create_gpu_instance(0, p) for p in profiles]
    assert [gi.id for gi in created] == ids
    if placements:
        assert [str(gi.placement) for gi in created] == placements


def test_profiles_as_the_driver_lists_them(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml, driver="535.104.05")
    profiles = nvml.gi_profiles(0)
    assert [(p.name, p.id, p.instance_count, p.memory_mib) for p in profiles] == [
        ("1g.5gb", 19, 7, 4864),
        ("1g.5gb+me", 20, 1, 4864),
        ("1g.10gb", 15, 4, 9984),
        ("2g.10gb", 14, 3, 9984),
        ("3g.20gb", 9, 2, 20096),
        ("4g.20gb", 5, 1, 20096),
        ("7g.40gb", 0, 1, 40448),
    ]
    seven = profiles[-1]
    assert (seven.sm_count, seven.decoders, seven.copy_engines, seven.jpeg, seven.ofa) == (98, 5, 7, 1, 1)
    assert nvml.gi_placements(0, 19) == [Placement(s, 1) for s in range(7)]
    assert nvml.gi_placements(0, 9) == [Placement(0, 4), Placement(4, 4)]


def test_old_drivers_offer_fewer_profiles_and_other_names(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml, driver="460.73.01")
    assert [p.id for p in nvml.gi_profiles(0)] == [19, 14, 9, 5, 0]
    assert [p.name for p in nvml.gi_profiles(0)] == ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"]
    assert nvml.gpu(0).name == "A100-SXM4-40GB"
    gi = nvml.create_gpu_instance(0, 19)
    nvml.create_compute_instance(0, gi.id, 0)
    (device,) = nvml.mig_devices(0)
    assert device.uuid == f"MIG-{nvml.gpu(0).uuid}/{gi.id}/0"
    assert nvml.ci_profiles(0, gi.id)[0].name == "1g.5gb"


def test_a580_driver_reports_its_own_memory(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml, driver="580.65.06")
    assert nvml.gi_profile(0, 0).memory_mib == 40320
    assert nvml.gpu(0).name == "NVIDIA A100-SXM4-40GB"


def test_full_gpu_refuses_with_insufficient_resources(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml)
    nvml.create_gpu_instance(0, 0)
    with pytest.raises(NvmlError) as caught:
        nvml.create_gpu_instance(0, 19)
    assert (caught.value.name, caught.value.nvml_message) == (
        "INSUFFICIENT_RESOURCES",
        "Insufficient Resources",
    )
    assert caught.value.call == "nvmlDeviceCreateGpuInstance"
    assert (
        isinstance(caught.value.__cause__, Exception)
        and type(caught.value.__cause__).__name__ == "NVMLError_InsufficientResources"
    )
    assert str(caught.value) == "GPU 0 profile ID 19: nvmlDeviceCreateGpuInstance: Insufficient Resources"


def test_explicit_placements_overlap_and_invalid_starts(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml)
    assert nvml.create_gpu_instance(0, 14, Placement(2, 2)).id == 4
    with pytest.raises(NvmlError) as overlap:
        nvml.create_gpu_instance(0, 19, Placement(3, 1))
    assert overlap.value.name == "INSUFFICIENT_RESOURCES"
    with pytest.raises(NvmlError) as bad_start:
        nvml.create_gpu_instance(0, 9, Placement(2, 4))
    assert bad_start.value.name == "INVALID_ARGUMENT"


def test_one_media_extension_per_gpu(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml)
    assert nvml.gi_remaining(0, 20) == 1
    nvml.create_gpu_instance(0, 20)
    assert nvml.gi_remaining(0, 20) == 0
    with pytest.raises(NvmlError, match="Insufficient Resources"):
        nvml.create_gpu_instance(0, 20)


def test_compute_instances_take_ids_in_creation_order(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml)
    gi = nvml.create_gpu_instance(0, 9)
    assert [p.name for p in nvml.ci_profiles(0, gi.id)] == ["1c.3g.20gb", "2c.3g.20gb", "3g.20gb"]
    cis = [nvml.create_compute_instance(0, gi.id, 0) for _ in range(3)]
    assert [(c.id, str(c.placement)) for c in cis] == [(0, "0:1"), (1, "1:1"), (2, "2:1")]
    with pytest.raises(NvmlError, match="Insufficient Resources"):
        nvml.create_compute_instance(0, gi.id, 0)
    nvml.destroy_compute_instance(0, gi.id, 1)
    assert nvml.create_compute_instance(0, gi.id, 0).id == 1
    devices = nvml.mig_devices(0)
    assert [(d.gi_id, d.ci_id, d.index, d.profile_name, d.sm_count, d.memory_total_mib) for d in devices] == [
        (gi.id, 0, 0, "1c.3g.20gb", 14, 20096),
        (gi.id, 1, 1, "1c.3g.20gb", 14, 20096),
        (gi.id, 2, 2, "1c.3g.20gb", 14, 20096),
    ]
    assert devices[0].copy_engines == 3 and devices[0].gi_slice_count == 3 and devices[0].ci_slice_count == 1


def test_destroying_a_gpu_instance_with_compute_instances_is_in_use(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml)
    gi = nvml.create_gpu_instance(0, 14)
    nvml.create_compute_instance(0, gi.id, 1)
    with pytest.raises(NvmlError) as caught:
        nvml.destroy_gpu_instance(0, gi.id)
    assert (caught.value.name, caught.value.nvml_message) == ("IN_USE", "In use by another client")
    nvml.destroy_compute_instance(0, gi.id, 0)
    nvml.destroy_gpu_instance(0, gi.id)
    assert nvml.gpu_instances(0) == []


def test_mig_devices_are_ordered_by_gi_then_ci_and_uuids_are_stable(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml, "2xA100-SXM4-40GB")
    for profile in (19, 14, 9):
        gi = nvml.create_gpu_instance(0, profile)
        nvml.create_compute_instance(0, gi.id, max(p.id for p in nvml.ci_profiles(0, gi.id)))
    first = nvml.mig_devices(0)
    assert [d.gi_id for d in first] == sorted(d.gi_id for d in first)
    assert all(d.uuid.startswith("MIG-") and len(d.uuid) == 40 for d in first)
    for d in first:
        nvml.destroy_compute_instance(0, d.gi_id, d.ci_id)
        nvml.destroy_gpu_instance(0, d.gi_id)
    for profile in (19, 14, 9):
        gi = nvml.create_gpu_instance(0, profile)
        nvml.create_compute_instance(0, gi.id, max(p.id for p in nvml.ci_profiles(0, gi.id)))
    assert [d.uuid for d in nvml.mig_devices(0)] == [d.uuid for d in first]
    # GPU 1's devices at the same GI/CI get other UUIDs: the UUID is per board
    gi = nvml.create_gpu_instance(1, 19)
    nvml.create_compute_instance(1, gi.id, 0)
    other = nvml.mig_devices(1)[0]
    same_slot = next(d for d in first if (d.gi_id, d.ci_id) == (other.gi_id, other.ci_id))
    assert other.uuid != same_slot.uuid


def test_gpu_uuids_derive_from_node_name_and_index(make_nvml: MakeNvml, tmp_path: Path) -> None:
    a = make_nvml("2xA100-SXM4-40GB")
    b = make_nvml("2xA100-SXM4-40GB", KUBEMIG_SIM_STATE=str(tmp_path / "b.json"))
    c = make_nvml("2xA100-SXM4-40GB", KUBEMIG_SIM_STATE=str(tmp_path / "c.json"), KUBEMIG_SIM_NODE="node-b")
    assert [g.uuid for g in a.gpus()] == [g.uuid for g in b.gpus()]
    assert a.gpu(0).uuid != a.gpu(1).uuid
    assert {g.uuid for g in a.gpus()}.isdisjoint(g.uuid for g in c.gpus())


def test_gpu_info(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("2xH100-80GB-HBM3,1xA30")
    gpus = nvml.gpus()
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", "NVIDIA A30"]
    assert [g.model.key for g in gpus if g.model] == ["H100-80GB-HBM3", "H100-80GB-HBM3", "A30"]
    assert [g.pci_bus_id for g in gpus] == ["00000000:07:00.0", "00000000:0F:00.0", "00000000:47:00.0"]
    assert gpus[2].pci_device_id == 0x20B710DE
    assert [g.minor_number for g in gpus] == [0, 1, 2]
    assert (gpus[0].mig_capable, gpus[0].mig_current, gpus[0].mig_pending) == (True, False, False)
    assert gpus[0].memory_total_mib == gpus[0].model.memory_mib if gpus[0].model else False
    assert nvml.geometry(2).model.key == "A30"


def test_gpu_instance_operations_need_mig_mode(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    with pytest.raises(NvmlError) as caught:
        nvml.create_gpu_instance(0, 19)
    assert caught.value.name == "NOT_SUPPORTED"
    with pytest.raises(NvmlError, match="NOT_SUPPORTED|Not Supported"):
        nvml.gi_profiles(0)
    assert nvml.gpu_instances(0) == [] and nvml.mig_devices(0) == []


def test_readings_for_the_plain_table(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB,1xH100-80GB-HBM3")
    idle = nvml.readings(0)
    assert (idle.persistence_mode, idle.display_active, idle.fan_percent, idle.performance_state) == (
        True,
        False,
        None,
        0,
    )
    assert (idle.power_limit_w, idle.utilization_gpu_percent, idle.compute_mode) == (400, 0, 0)
    assert (idle.ecc_enabled, idle.ecc_uncorrected_volatile, idle.bar1_total_mib) == (True, 0, 65536)
    assert idle.cuda_capability == (8, 0) and nvml.readings(1).cuda_capability == (9, 0)
    assert idle.temperature_c is not None and 20 < idle.temperature_c < 50
    nvml.set_mig_mode(0, True)
    assert nvml.readings(0).utilization_gpu_percent is None  # N/A with MIG on
    assert nvml.cuda_driver_version() == 13000


def test_mig_device_bar1_is_the_slice_share_less_one_mib(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    nvml.set_mig_mode(0, True)
    for profile in (19, 14, 9):
        gi = nvml.create_gpu_instance(0, profile)
        nvml.create_compute_instance(0, gi.id, max(p.id for p in nvml.ci_profiles(0, gi.id)))
    assert sorted(d.bar1_total_mib or 0 for d in nvml.mig_devices(0)) == [8191, 16383, 32767]


def test_process_names(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    from kubemig.nvml.simulated import SimConfig, StateStore, control

    nvml = make_nvml("1xA30")
    control.start_process(
        StateStore(SimConfig.from_env(None, sim_env)), nvml.gpu(0).uuid, pid=99, name="trainer", memory_mib=10
    )
    assert [(p.pid, p.name, p.used_memory_mib, p.gi_id) for p in nvml.processes(0)] == [
        (99, "trainer", 10, None)
    ]


def test_mig_device_by_uuid(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml, "2xA100-SXM4-40GB")
    gi = nvml.create_gpu_instance(1, 9)
    assert str(nvml.create_compute_instance(1, gi.id, 1).placement) == "0:2"  # 2c starts only at 0 in a 3g
    assert str(nvml.create_compute_instance(1, gi.id, 0).placement) == "2:1"
    second = nvml.mig_devices(1)[1]
    assert (second.profile_name, second.sm_count, second.ci_slice_count) == ("1c.3g.20gb", 14, 1)
    assert nvml.mig_device(second.uuid) == second
    # the form drivers before R470 print names the same device on a newer driver
    assert nvml.mig_device(f"MIG-{nvml.gpu(1).uuid}/{second.gi_id}/{second.ci_id}") == second
    with pytest.raises(NvmlError) as caught:
        nvml.mig_device(nvml.gpu(0).uuid)
    assert caught.value.name == "NOT_FOUND"
    with pytest.raises(NvmlError, match="Not Found"):
        nvml.mig_device("MIG-00000000-0000-0000-0000-000000000000")


def test_compute_instance_placements_in_a_full_gpu_instance(make_nvml: MakeNvml) -> None:
    nvml = _enabled(make_nvml)
    gi = nvml.create_gpu_instance(0, 0)
    starts = {
        p.name: [str(pl) for pl in nvml.ci_placements(0, gi.id, p.id)] for p in nvml.ci_profiles(0, gi.id)
    }
    assert starts == {
        "1c.7g.40gb": [f"{s}:1" for s in range(7)],
        "2c.7g.40gb": ["0:2", "2:2", "4:2"],
        "3c.7g.40gb": ["0:3", "4:3"],
        "4c.7g.40gb": ["0:4"],
        "7g.40gb": ["0:7"],
    }
    nvml.create_compute_instance(0, gi.id, 3, Placement(0, 4))
    assert nvml.ci_remaining(0, gi.id, 2) == 1
    nvml.create_compute_instance(0, gi.id, 2)  # 4c + 3c share the 7 slices
    assert [nvml.ci_remaining(0, gi.id, p) for p in range(5)] == [0, 0, 0, 0, 0]
