"""MIG devices (a GI and CI pair as CUDA sees it) and the processes that run on GPUs and MIG devices;
XID events."""

from __future__ import annotations

from collections.abc import Iterable

from kubemig.nvml.adapter.compute_instance_calls import ComputeInstanceCalls
from kubemig.nvml.adapter.core import MIB, NO_ID, NOT_FOUND
from kubemig.nvml.adapter.xid_events import XidEventSet
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import MigDeviceInfo, ProcessInfo


class MigDeviceCalls(ComputeInstanceCalls):
    """MIG devices by GPU index or UUID, their processes, and XID event sets."""

    def mig_devices(self, index: int) -> list[MigDeviceInfo]:
        """The MIG devices of GPU `index` in NVML's order (ascending GI ID, then CI ID)."""
        h = self.handle(index)
        where = f"GPU {index}"
        current, _pending = self.call("nvmlDeviceGetMigMode", h, context=where)
        if not current:
            return []
        gis = {gi.id: gi for gi in self.gpu_instances(index)}
        ci_names: dict[int, dict[int, str]] = {}
        found = []
        for mig_index in range(int(self.call("nvmlDeviceGetMaxMigDeviceCount", h, context=where))):
            try:
                mig = self.call("nvmlDeviceGetMigDeviceHandleByIndex", h, mig_index, context=where)
            except NvmlError as exc:
                if exc.code == NOT_FOUND:
                    continue
                raise
            gi_id = int(self.call("nvmlDeviceGetGpuInstanceId", mig, context=where))
            ci_id = int(self.call("nvmlDeviceGetComputeInstanceId", mig, context=where))
            gi = gis.get(gi_id) or self.gpu_instance(index, gi_id)
            if gi_id not in ci_names:
                ci_names[gi_id] = {c.id: c.profile_name for c in self.compute_instances(index, gi_id)}
            ci_profile = self._ci_profile_id(index, gi_id, ci_id)
            attrs = self.call("nvmlDeviceGetAttributes", mig, context=where)
            memory = self.call("nvmlDeviceGetMemoryInfo", mig, context=where)
            bar1 = self.optional("nvmlDeviceGetBAR1MemoryInfo", mig, context=where)
            found.append(
                MigDeviceInfo(
                    gpu_index=index,
                    index=mig_index,
                    uuid=str(self.call("nvmlDeviceGetUUID", mig, context=where)),
                    name=str(self.call("nvmlDeviceGetName", mig, context=where)),
                    gi_id=gi_id,
                    ci_id=ci_id,
                    gi_profile_id=gi.profile_id,
                    ci_profile_id=ci_profile,
                    profile_name=ci_names[gi_id].get(ci_id, gi.profile_name),
                    gi_profile_name=gi.profile_name,
                    placement=gi.placement,
                    memory_total_mib=int(memory.total) // MIB,
                    memory_used_mib=int(memory.used) // MIB,
                    sm_count=int(attrs.multiprocessorCount),
                    copy_engines=int(attrs.sharedCopyEngineCount),
                    decoders=int(attrs.sharedDecoderCount),
                    encoders=int(attrs.sharedEncoderCount),
                    jpeg=int(attrs.sharedJpegCount),
                    ofa=int(attrs.sharedOfaCount),
                    gi_slice_count=int(attrs.gpuInstanceSliceCount),
                    ci_slice_count=int(attrs.computeInstanceSliceCount),
                    bar1_total_mib=None if bar1 is None else int(bar1.bar1Total) // MIB,
                    bar1_used_mib=None if bar1 is None else int(bar1.bar1Used) // MIB,
                )
            )
        return found

    def mig_device(self, uuid: str) -> MigDeviceInfo:
        """The MIG device with this UUID (either UUID form); NvmlError NOT_FOUND if there is none."""
        h = self.call("nvmlDeviceGetHandleByUUID", uuid, context=uuid)
        if not bool(self.call("nvmlDeviceIsMigDeviceHandle", h, context=uuid)):
            raise NvmlError(
                NOT_FOUND, "nvmlDeviceGetHandleByUUID", context=f"{uuid} is a GPU, not a MIG device"
            )
        parent = self.call("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", h, context=uuid)
        index = int(self.call("nvmlDeviceGetIndex", parent, context=uuid))
        gi_id = int(self.call("nvmlDeviceGetGpuInstanceId", h, context=uuid))
        ci_id = int(self.call("nvmlDeviceGetComputeInstanceId", h, context=uuid))
        for device in self.mig_devices(index):
            if (device.gi_id, device.ci_id) == (gi_id, ci_id):
                return device
        raise NvmlError(NOT_FOUND, "nvmlDeviceGetMigDeviceHandleByIndex", context=uuid)

    def _ci_profile_id(self, index: int, gi_id: int, ci_id: int) -> int:
        where = f"GPU {index} GI {gi_id} CI {ci_id}"
        ci = self.call(
            "nvmlGpuInstanceGetComputeInstanceById", self._gi_handle(index, gi_id), ci_id, context=where
        )
        return int(self.call("nvmlComputeInstanceGetInfo", ci, context=where).profileId)

    # -- processes --------------------------------------------------------------------------------

    def processes(self, device: int | str) -> list[ProcessInfo]:
        """Compute processes on GPU `device` (an index) or on the GPU or MIG device with that UUID."""
        if isinstance(device, int):
            h, where = self.handle(device), f"GPU {device}"
        else:
            h, where = self.call("nvmlDeviceGetHandleByUUID", device, context=device), device
        parent = h
        if bool(self.call("nvmlDeviceIsMigDeviceHandle", h, context=where)):
            parent = self.call("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", h, context=where)
        gpu_index = int(self.call("nvmlDeviceGetIndex", parent, context=where))
        return [
            ProcessInfo(
                pid=int(p.pid),
                used_memory_mib=None if p.usedGpuMemory is None else int(p.usedGpuMemory) // MIB,
                gpu_index=gpu_index,
                gi_id=None if p.gpuInstanceId in (None, NO_ID) else int(p.gpuInstanceId),
                ci_id=None if p.computeInstanceId in (None, NO_ID) else int(p.computeInstanceId),
                name=self._process_name(int(p.pid)),
            )
            for p in self.call("nvmlDeviceGetComputeRunningProcesses", h, context=where)
        ]

    def _process_name(self, pid: int) -> str | None:
        try:
            return str(self.call("nvmlSystemGetProcessName", pid))
        except NvmlError:
            return None  # the process ended, or this user may not see it

    # -- XID events -------------------------------------------------------------------------------

    def event_set(self, indices: Iterable[int] | None = None) -> XidEventSet:
        """An event set listening for XID errors on the given GPUs (all by default)."""
        return XidEventSet(self, range(self.device_count()) if indices is None else list(indices))
