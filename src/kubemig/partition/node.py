"""Reading what a node holds through the NVML adapter, into `snapshot` values."""

from __future__ import annotations

from collections import defaultdict

from kubemig.catalog import driver_branch
from kubemig.nvml import GpuInfo, Nvml
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.snapshot import CiSnapshot, GiSnapshot, GpuSnapshot, NodeSnapshot
from kubemig.partition.targets import GpuIdentity


def read_node(nvml: Nvml, *, uuids: bool = True) -> NodeSnapshot:
    """Every GPU: MIG mode, GPU and compute instances, MIG UUIDs (unless not wanted: reading them walks
    every MIG device), processes. GPUs kubemig cannot
    configure (not MIG-capable, or a model it does not know) are listed apart and never touched."""
    driver = nvml.driver_version()
    branch = driver_branch(driver)
    gpus = []
    unsupported = []
    for info in nvml.gpus():
        if info.model is None or not info.mig_capable:
            unsupported.append(
                f"GPU {info.index} ({info.name}) is not a MIG-capable GPU kubemig knows: left alone"
            )
            continue
        identity = GpuIdentity(info.index, info.model, branch, DeviceId.of(info.pci_device_id))
        gpus.append(read_gpu(nvml, identity, info, uuids=uuids))
    return NodeSnapshot(driver, tuple(gpus), tuple(unsupported))


def read_gpu(
    nvml: Nvml, identity: GpuIdentity, info: GpuInfo | None = None, *, uuids: bool = True
) -> GpuSnapshot:
    index = identity.index
    info = info or nvml.gpu(index)
    geo = identity.geo
    pids: dict[tuple[int | None, int | None], list[int]] = defaultdict(list)
    for process in nvml.processes(index):
        pids[(process.gi_id, process.ci_id)].append(process.pid)
    gis = []
    if info.mig_current:
        by_ci = {(d.gi_id, d.ci_id): d.uuid for d in nvml.mig_devices(index)} if uuids else {}
        for gi in nvml.gpu_instances(index):
            cis = tuple(
                CiSnapshot(
                    ci.id,
                    ci.profile_id,
                    by_ci.get((gi.id, ci.id), ""),
                    tuple(sorted(pids.get((gi.id, ci.id), []))),
                )
                for ci in nvml.compute_instances(index, gi.id)
            )
            on_gi = sorted(p for (g, _c), found in pids.items() if g == gi.id for p in found)
            gis.append(GiSnapshot(gi.id, geo.instance(gi.profile_id, gi.placement.start), cis, tuple(on_gi)))
    every = tuple(sorted(p for found in pids.values() for p in found))
    return GpuSnapshot(identity, info.uuid, info.mig_current, info.mig_pending, tuple(gis), every)
