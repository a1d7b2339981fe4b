"""Whole GPUs: identity, the readings of nvidia-smi's GPU table, the catalog model and geometry, and
MIG mode."""

from __future__ import annotations

from typing import Any

from kubemig.catalog import GpuModel, find_model
from kubemig.errors import CatalogError, KubemigError
from kubemig.geometry import GpuGeometry, geometry_for
from kubemig.nvml.adapter.core import MIB, NOT_SUPPORTED, NvmlCore
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import GpuInfo, GpuReadings, MigModeChange
from kubemig.nvml.returns import return_string


class GpuCalls(NvmlCore):
    """Whole GPUs by NVML index; a GPU without MIG answers with `mig_capable` False, not an error."""

    def gpus(self) -> list[GpuInfo]:
        return [self.gpu(i) for i in range(self.device_count())]

    def gpu(self, index: int) -> GpuInfo:
        h = self.handle(index)
        where = f"GPU {index}"
        name = str(self.call("nvmlDeviceGetName", h, context=where))
        pci = self.call("nvmlDeviceGetPciInfo", h, context=where)
        memory = self.call("nvmlDeviceGetMemoryInfo", h, context=where)
        try:
            current, pending = self.call("nvmlDeviceGetMigMode", h, context=where)
            capable = True
        except NvmlError as exc:
            if exc.code != NOT_SUPPORTED:
                raise
            current = pending = 0
            capable = False
        return GpuInfo(
            index=index,
            uuid=str(self.call("nvmlDeviceGetUUID", h, context=where)),
            name=name,
            model=_find_model(name, int(pci.pciDeviceId)),
            pci_bus_id=str(pci.busId),
            pci_device_id=int(pci.pciDeviceId),
            minor_number=int(self.call("nvmlDeviceGetMinorNumber", h, context=where)),
            memory_total_mib=int(memory.total) // MIB,
            memory_used_mib=int(memory.used) // MIB,
            mig_capable=capable,
            mig_current=bool(current),
            mig_pending=bool(pending),
        )

    def readings(self, index: int) -> GpuReadings:
        """Persistence, temperature, power, utilization, ECC, BAR1: the rest of nvidia-smi's GPU table."""
        h = self.handle(index)
        where = f"GPU {index}"
        lib = self._lib

        def get(function: str, *args: Any) -> Any:
            return self.optional(function, h, *args, context=where)

        power, limit = get("nvmlDeviceGetPowerUsage"), get("nvmlDeviceGetEnforcedPowerLimit")
        utilization = get("nvmlDeviceGetUtilizationRates")
        ecc = get("nvmlDeviceGetEccMode")
        ecc_on = None if ecc is None else bool(ecc[0])
        bar1 = get("nvmlDeviceGetBAR1MemoryInfo")
        persistence, display = get("nvmlDeviceGetPersistenceMode"), get("nvmlDeviceGetDisplayActive")
        capability = get("nvmlDeviceGetCudaComputeCapability")
        return GpuReadings(
            gpu_index=index,
            persistence_mode=None if persistence is None else bool(persistence),
            display_active=None if display is None else bool(display),
            fan_percent=get("nvmlDeviceGetFanSpeed"),
            temperature_c=get("nvmlDeviceGetTemperature", lib.NVML_TEMPERATURE_GPU),
            performance_state=get("nvmlDeviceGetPerformanceState"),
            power_draw_w=None if power is None else int(power) // 1000,
            power_limit_w=None if limit is None else int(limit) // 1000,
            utilization_gpu_percent=None if utilization is None else int(utilization.gpu),
            utilization_memory_percent=None if utilization is None else int(utilization.memory),
            compute_mode=get("nvmlDeviceGetComputeMode"),
            ecc_enabled=ecc_on,
            ecc_uncorrected_volatile=(
                get(
                    "nvmlDeviceGetTotalEccErrors",
                    lib.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                    lib.NVML_VOLATILE_ECC,
                )
                if ecc_on
                else None
            ),
            bar1_total_mib=None if bar1 is None else int(bar1.bar1Total) // MIB,
            bar1_used_mib=None if bar1 is None else int(bar1.bar1Used) // MIB,
            cuda_capability=None if capability is None else (int(capability[0]), int(capability[1])),
        )

    def model(self, index: int) -> GpuModel:
        info = self.gpu(index)
        if info.model is None:
            raise KubemigError(
                f"GPU {index} ({info.name}, PCI id 0x{info.pci_device_id >> 16:04X}) is not a MIG-capable "
                "GPU kubemig knows: `kubemig models` lists the supported ones"
            )
        return info.model

    def geometry(self, index: int) -> GpuGeometry:
        """The layout engine's view of GPU `index` on this driver."""
        return geometry_for(self.model(index), self.driver_version())

    # -- MIG mode ---------------------------------------------------------------------------------

    def set_mig_mode(self, index: int, enabled: bool) -> MigModeChange:
        """Ask for MIG on or off. On Ampere the change waits for a GPU reset: `applied` is False and
        `activation_status` says why (19, In use by another client) when a process kept the GPU busy."""
        h = self.handle(index)
        mode = self._lib.NVML_DEVICE_MIG_ENABLE if enabled else self._lib.NVML_DEVICE_MIG_DISABLE
        status = int(self.call("nvmlDeviceSetMigMode", h, mode, context=f"GPU {index}"))
        current, pending = self.call("nvmlDeviceGetMigMode", h, context=f"GPU {index}")
        self._gi_profiles.pop(index, None)
        return MigModeChange(index, enabled, bool(current), bool(pending), status, return_string(status))


def _find_model(name: str, pci_device_id: int) -> GpuModel | None:
    for key in (name, pci_device_id):
        try:
            return find_model(key)
        except CatalogError:
            continue
    return None
