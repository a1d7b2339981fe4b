"""Filling the text rows from NVML, through the adapter only (so a real node prints the same way).

A value NVML does not give on a board (Not Supported) is None and prints `N/A`, as nvidia-smi does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from kubemig.catalog import driver_branch
from kubemig.nvml import GpuInfo, GpuInstanceInfo, MigDeviceInfo, Nvml
from kubemig.smi.generation import Generation, generation
from kubemig.smi.rows import (
    CiProfileRow,
    ComputeInstanceRow,
    DriverVersions,
    GiPlacementsRow,
    GiProfileRow,
    GpuInstanceRow,
    GpuLine,
    GpuStatus,
    MigDeviceLine,
    MigDeviceStatus,
    ProcessStatus,
)

# NVML constants (nvml.h), spelled out so any pynvml-shaped module will do
_MEMORY_ERROR_UNCORRECTED = 1
_VOLATILE_ECC = 0
_PSTATE_UNKNOWN = 32
_COMPUTE_MODES = {0: "Default", 1: "E. Thread", 2: "Prohibited", 3: "E. Process"}


def now() -> datetime:
    """The clock for the summary header: SOURCE_DATE_EPOCH (UTC) when set, for reproducible output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now()


def text_generation(nvml: Nvml) -> Generation:
    return generation(driver_branch(nvml.driver_version()))


def driver_versions(nvml: Nvml) -> DriverVersions:
    cuda = nvml.cuda_driver_version()  # 12020 for 12.2
    return DriverVersions(nvml.driver_version(), f"{cuda // 1000}.{cuda % 1000 // 10}")


def mig_enabled(gpus: Iterable[GpuInfo]) -> list[GpuInfo]:
    return [g for g in gpus if g.mig_current]


# -- nvidia-smi -L ------------------------------------------------------------------------------


def gpu_lines(nvml: Nvml, gpus: Sequence[GpuInfo]) -> list[GpuLine]:
    # only a GPU with MIG on has MIG devices (asking a GPU without MIG is NOT_SUPPORTED)
    return [
        GpuLine(
            gpu.index,
            gpu.name,
            gpu.uuid,
            tuple(MigDeviceLine(d.index, d.profile_name, d.uuid) for d in nvml.mig_devices(gpu.index))
            if gpu.mig_current
            else (),
        )
        for gpu in gpus
    ]


# -- plain nvidia-smi ---------------------------------------------------------------------------


def pstate_name(state: int | None) -> str | None:
    """`P0` for NVML's performance state 0; None where NVML has none (nvidia-smi prints N/A)."""
    return None if state is None or state == _PSTATE_UNKNOWN else f"P{state}"


def gpu_status(nvml: Nvml, gpu: GpuInfo) -> GpuStatus:
    r = nvml.readings(gpu.index)
    return GpuStatus(
        index=gpu.index,
        name=gpu.name,
        pci_bus_id=gpu.pci_bus_id,
        memory_used_mib=gpu.memory_used_mib,
        memory_total_mib=gpu.memory_total_mib,
        persistence_mode=r.persistence_mode,
        display_active=r.display_active,
        fan_percent=r.fan_percent,
        temperature_c=r.temperature_c,
        performance_state=pstate_name(r.performance_state),
        power_draw_w=r.power_draw_w,
        power_limit_w=r.power_limit_w,
        utilization_percent=r.utilization_gpu_percent,
        compute_mode=None
        if r.compute_mode is None
        else _COMPUTE_MODES.get(r.compute_mode, str(r.compute_mode)),
        ecc_enabled=r.ecc_enabled,
        ecc_errors=r.ecc_uncorrected_volatile,
        mig_current=gpu.mig_current if gpu.mig_capable else None,
        mig_pending=gpu.mig_pending if gpu.mig_capable else None,
    )


def _mig_device_status(nvml: Nvml, dev: MigDeviceInfo) -> MigDeviceStatus:
    handle = nvml.call("nvmlDeviceGetMigDeviceHandleByIndex", nvml.handle(dev.gpu_index), dev.index)
    ecc = nvml.optional("nvmlDeviceGetTotalEccErrors", handle, _MEMORY_ERROR_UNCORRECTED, _VOLATILE_ECC)
    return MigDeviceStatus(
        gpu_index=dev.gpu_index,
        gi_id=dev.gi_id,
        ci_id=dev.ci_id,
        index=dev.index,
        memory_used_mib=dev.memory_used_mib,
        memory_total_mib=dev.memory_total_mib,
        bar1_used_mib=dev.bar1_used_mib,
        bar1_total_mib=dev.bar1_total_mib,
        sm_count=dev.sm_count,
        copy_engines=dev.copy_engines,
        encoders=dev.encoders,
        decoders=dev.decoders,
        ofa=dev.ofa,
        jpeg=dev.jpeg,
        ecc_errors=None if ecc is None else int(ecc),
    )


def mig_device_statuses(nvml: Nvml, gpus: Sequence[GpuInfo]) -> list[MigDeviceStatus]:
    return [_mig_device_status(nvml, dev) for gpu in mig_enabled(gpus) for dev in nvml.mig_devices(gpu.index)]


def process_statuses(nvml: Nvml, gpus: Sequence[GpuInfo]) -> list[ProcessStatus]:
    return [
        ProcessStatus(
            gpu_index=gpu.index,
            pid=proc.pid,
            name=proc.name or "N/A",
            gi_id=proc.gi_id,
            ci_id=proc.ci_id,
            used_memory_mib=proc.used_memory_mib,
        )
        for gpu in gpus
        for proc in nvml.processes(gpu.index)
    ]


# -- nvidia-smi mig listings --------------------------------------------------------------------


def gi_profile_rows(nvml: Nvml, gpu: GpuInfo) -> list[GiProfileRow]:
    return [
        GiProfileRow(
            gpu_index=gpu.index,
            name=p.name,
            profile_id=p.id,
            free=nvml.gi_remaining(gpu.index, p.id),
            total=p.instance_count,
            memory_mib=p.memory_mib,
            sm_count=p.sm_count,
            decoders=p.decoders,
            encoders=p.encoders,
            copy_engines=p.copy_engines,
            jpeg=p.jpeg,
            ofa=p.ofa,
            p2p=p.p2p_supported,
        )
        for p in nvml.gi_profiles(gpu.index)
    ]


def gi_placement_rows(nvml: Nvml, gpu: GpuInfo) -> list[GiPlacementsRow]:
    rows = []
    for p in nvml.gi_profiles(gpu.index):
        placements = nvml.gi_placements(gpu.index, p.id)
        if placements:
            rows.append(
                GiPlacementsRow(gpu.index, p.id, tuple(pl.start for pl in placements), placements[0].size)
            )
    return rows


def gpu_instances_in_order(nvml: Nvml, gpu: GpuInfo) -> list[GpuInstanceInfo]:
    """The GIs as nvidia-smi walks them: by profile in `-lgip` order, then by GI ID."""
    rank = {p.id: i for i, p in enumerate(nvml.gi_profiles(gpu.index))}
    return sorted(nvml.gpu_instances(gpu.index), key=lambda gi: (rank.get(gi.profile_id, len(rank)), gi.id))


def gpu_instance_row(gi: GpuInstanceInfo) -> GpuInstanceRow:
    return GpuInstanceRow(
        gi.gpu_index, gi.profile_name, gi.profile_id, gi.id, gi.placement.start, gi.placement.size
    )


def compute_instance_rows(
    nvml: Nvml, gi: GpuInstanceInfo, ci_ids: Sequence[int] | None
) -> list[ComputeInstanceRow]:
    return [
        ComputeInstanceRow(
            gi.gpu_index, gi.id, ci.profile_name, ci.profile_id, ci.id, ci.placement.start, ci.placement.size
        )
        for ci in nvml.compute_instances(gi.gpu_index, gi.id)
        if ci_ids is None or ci.id in ci_ids
    ]


def ci_profile_rows(nvml: Nvml, gi: GpuInstanceInfo) -> list[CiProfileRow]:
    # the default CI profile (nvidia-smi's `*`) is the one spanning the whole GPU instance
    gi_slices = nvml.gi_profile(gi.gpu_index, gi.profile_id).slice_count
    return [
        CiProfileRow(
            gpu_index=gi.gpu_index,
            gi_id=gi.id,
            name=p.name,
            profile_id=p.id,
            is_default=p.slice_count == gi_slices,
            free=nvml.ci_remaining(gi.gpu_index, gi.id, p.id),
            total=p.instance_count,
            sm_count=p.sm_count,
            decoders=p.decoders,
            encoders=p.encoders,
            ofa=p.ofa,
            copy_engines=p.copy_engines,
            jpeg=p.jpeg,
        )
        for p in nvml.ci_profiles(gi.gpu_index, gi.id)
    ]
