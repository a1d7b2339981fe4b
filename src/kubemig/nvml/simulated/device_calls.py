"""The simulated NVML's library and whole-device calls: versions, handles, names, PCI, memory, and
what plain nvidia-smi shows of an idle board."""

from __future__ import annotations

from typing import Any

import pynvml

from kubemig.nvml.returns import return_string
from kubemig.nvml.simulated import driver
from kubemig.nvml.simulated.base import MIB, ResolvedDevice, SimulatedNvmlBase, nvml_api
from kubemig.nvml.simulated.driver import fail
from kubemig.nvml.simulated.handles import as_text
from kubemig.nvml.simulated.identity import (
    compute_capability,
    cuda_version,
    idle_power_w,
    idle_temperature_c,
    pci_bus_id,
    power_limit_w,
    product_name,
    serial_number,
)
from kubemig.nvml.simulated.state import NodeState

_ARCHITECTURE: dict[str, int] = {
    "ampere": pynvml.NVML_DEVICE_ARCH_AMPERE,
    "hopper": pynvml.NVML_DEVICE_ARCH_HOPPER,
    "blackwell": 10,
}


class DeviceCalls(SimulatedNvmlBase):
    # -- library ----------------------------------------------------------------------------------

    @nvml_api
    def nvmlInit(self) -> None:
        self._refcount += 1

    @nvml_api
    def nvmlInitWithFlags(self, flags: int) -> None:
        self._refcount += 1

    @nvml_api
    def nvmlShutdown(self) -> None:
        self._refcount -= 1

    @nvml_api
    def nvmlErrorString(self, result: int) -> str:
        return return_string(result)

    @nvml_api
    def nvmlSystemGetDriverVersion(self) -> str:
        return self._state().driver

    @nvml_api
    def nvmlSystemGetNVMLVersion(self) -> str:
        state = self._state()
        return f"{cuda_version(self._branch(state)) // 1000}.{state.driver}"

    @nvml_api
    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return cuda_version(self._branch(self._state()))

    # -- devices ----------------------------------------------------------------------------------

    @nvml_api
    def nvmlDeviceGetCount(self) -> int:
        state = self._state()
        return len(self._visible(state).gpus)

    @nvml_api
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        gpus = self._visible(self._state()).gpus
        if not isinstance(index, int) or not 0 <= index < len(gpus):
            fail("INVALID_ARGUMENT")
        return self._gpu_handle(gpus[index])

    @nvml_api
    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> Any:
        state = self._state()
        view = self._visible(state)
        found = driver.find_uuid(state, as_text(uuid))
        if found is not None:
            gpu, gi, ci = found
            if gi is None or ci is None:
                if gpu in view.gpus and gpu not in view.mig_only:
                    return self._gpu_handle(gpu)
            elif view.sees_mig(gpu, gi.id, ci.id):
                return self._mig_handle(gpu, gi, ci)
        fail("NOT_FOUND")

    @nvml_api
    def nvmlDeviceGetHandleByPciBusId(self, pciBusId: str | bytes) -> Any:
        text = as_text(pciBusId).strip().upper()
        state = self._state()
        for gpu in self._visible(state).gpus:
            bus_id = pci_bus_id(state.gpus[gpu].pci_bus)
            if text in (bus_id, bus_id[4:]):
                return self._gpu_handle(gpu)
        fail("NOT_FOUND")

    @nvml_api
    def nvmlDeviceGetIndex(self, handle: object) -> int:
        state = self._state()
        device = self._whole_gpu(state, handle)
        return self._visible(state).gpus.index(device.gpu)

    @nvml_api
    def nvmlDeviceGetName(self, handle: object) -> str:
        state = self._state()
        device = self._device(state, handle)
        name = product_name(device.model, self._branch(state))
        if device.gi is None or device.ci is None:
            return name
        return f"{name} MIG {self._mig_profile_name(state, device)}"

    def _mig_profile_name(self, state: NodeState, device: ResolvedDevice) -> str:
        assert device.gi is not None and device.ci is not None
        shape = self._shape(state, device.gpu, device.gi)
        ci = shape.profile.ci_profile(device.ci.profile_id)
        return ci.name if ci is not None else shape.name

    @nvml_api
    def nvmlDeviceGetUUID(self, handle: object) -> str:
        state = self._state()
        device = self._device(state, handle)
        if device.gi is None or device.ci is None:
            return device.gpu_state.uuid
        return self._mig_uuid(state, device.gpu, device.gi.id, device.ci.id)

    @nvml_api
    def nvmlDeviceGetPciInfo_v3(self, handle: object) -> Any:
        state = self._state()
        device = self._device(state, handle)
        info = pynvml.nvmlPciInfo_t()
        bus = device.gpu_state.pci_bus
        info.busIdLegacy = pci_bus_id(bus)[4:].encode()
        info.busId = pci_bus_id(bus).encode()
        info.domain, info.bus, info.device = 0, bus, 0
        info.pciDeviceId = (device.model.pci_device_ids[0] << 16) | 0x10DE
        info.pciSubSystemId = info.pciDeviceId  # unconfirmed: boards carry their own subsystem ids
        return info

    @nvml_api
    def nvmlDeviceGetPciInfo(self, handle: object) -> Any:
        return self.nvmlDeviceGetPciInfo_v3(handle)

    @nvml_api
    def nvmlDeviceGetMinorNumber(self, handle: object) -> int:
        return self._whole_gpu(self._state(), handle).gpu

    @nvml_api
    def nvmlDeviceGetArchitecture(self, device: object) -> int:
        return _ARCHITECTURE[self._device(self._state(), device).model.architecture]

    def _used_mib(self, state: NodeState, device: ResolvedDevice) -> int:
        gi = device.gi.id if device.gi else None
        ci = device.ci.id if device.ci else None
        return sum(p.used_memory_mib for p in state.processes_on(device.gpu, gi, ci))

    def _total_mib(self, state: NodeState, device: ResolvedDevice) -> int:
        if device.gi is None:
            return device.model.memory_mib
        return self._shape(state, device.gpu, device.gi).profile.memory_mib_on(self._branch(state))

    @nvml_api
    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> Any:
        state = self._state()
        device = self._device(state, handle)
        total, used = self._total_mib(state, device) * MIB, self._used_mib(state, device) * MIB
        if not version:
            return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)
        return pynvml.c_nvmlMemory_v2_t(
            version=version, total=total, reserved=0, free=total - used, used=used
        )

    @nvml_api
    def nvmlDeviceGetBAR1MemoryInfo(self, handle: object) -> Any:
        state = self._state()
        device = self._device(state, handle)
        total_mib = device.model.bar1_mib
        if device.gi is not None:
            # a MIG device's share of BAR1 by memory slices, less 1 MiB (mig-facts section 7: unconfirmed rule)
            slices = max(1, device.gi.size * device.model.memory_slices // device.model.placement_units)
            total_mib = device.model.bar1_mib * slices // device.model.memory_slices - 1
        return pynvml.c_nvmlBAR1Memory_t(bar1Total=total_mib * MIB, bar1Free=total_mib * MIB, bar1Used=0)

    # -- what plain nvidia-smi shows of an idle board ------------------------------------------------

    @nvml_api
    def nvmlDeviceGetPersistenceMode(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 1

    @nvml_api
    def nvmlDeviceGetDisplayActive(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 0

    @nvml_api
    def nvmlDeviceGetDisplayMode(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 0

    @nvml_api
    def nvmlDeviceGetFanSpeed(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        fail("NOT_SUPPORTED")  # data-center boards are cooled by the chassis: nvidia-smi shows N/A

    @nvml_api
    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        found = self._whole_gpu(self._state(), handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            fail("NOT_SUPPORTED")
        return idle_temperature_c(found.gpu)

    @nvml_api
    def nvmlDeviceGetPerformanceState(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 0

    @nvml_api
    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        state = self._state()
        found = self._whole_gpu(state, handle)
        busy = len(state.processes_on(found.gpu))
        return 1000 * min(power_limit_w(found.model.key), idle_power_w(found.model.key) + 25 * busy)

    @nvml_api
    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int:
        return 1000 * power_limit_w(self._whole_gpu(self._state(), handle).model.key)

    @nvml_api
    def nvmlDeviceGetPowerManagementLimit(self, handle: object) -> int:
        return 1000 * power_limit_w(self._whole_gpu(self._state(), handle).model.key)

    @nvml_api
    def nvmlDeviceGetUtilizationRates(self, handle: object) -> Any:
        found = self._whole_gpu(self._state(), handle)
        if found.gpu_state.mig_current:
            fail("NOT_SUPPORTED")  # with MIG on, utilization is per MIG device: nvidia-smi shows N/A
        return pynvml.c_nvmlUtilization_t(gpu=0, memory=0)

    @nvml_api
    def nvmlDeviceGetComputeMode(self, handle: object) -> int:
        self._device(self._state(), handle)
        return int(pynvml.NVML_COMPUTEMODE_DEFAULT)

    @nvml_api
    def nvmlDeviceGetEccMode(self, handle: object) -> list[int]:
        self._device(self._state(), handle)
        return [1, 1]

    @nvml_api
    def nvmlDeviceGetTotalEccErrors(self, handle: object, errorType: int, counterType: int) -> int:
        self._device(self._state(), handle)
        return 0

    @nvml_api
    def nvmlDeviceGetCudaComputeCapability(self, handle: object) -> tuple[int, int]:
        return compute_capability(self._device(self._state(), handle).model.key)

    @nvml_api
    def nvmlDeviceGetSerial(self, handle: object) -> str:
        return serial_number(self._whole_gpu(self._state(), handle).gpu_state.uuid)

    @nvml_api
    def nvmlSystemGetProcessName(self, pid: int) -> str:
        for process in self._state().processes:
            if process.pid == pid:
                return process.name
        fail("NOT_FOUND")
