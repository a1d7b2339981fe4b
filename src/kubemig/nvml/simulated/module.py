"""A simulated NVML shaped like `pynvml` (nvidia-ml-py): the same function names and parameters, the
same ctypes structs and NVMLError classes (pynvml's own objects), the same return shapes.

    lib = SimulatedNvml(SimConfig.from_env("8xA100-SXM4-40GB"))
    lib.nvmlInit()
    handle = lib.nvmlDeviceGetHandleByIndex(0)
    lib.nvmlDeviceSetMigMode(handle, lib.NVML_DEVICE_MIG_ENABLE)

An instance stands in for the `pynvml` module: code written for pynvml runs on it unchanged. Handles
are real ctypes pointers of pynvml's handle types whose address encodes what they point at (never
dereferenced). The node itself lives in a state file that every process shares (see `store`).
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Concatenate, ParamSpec, TypeVar

import pynvml

from kubemig.catalog import GpuModel, find_model
from kubemig.geometry import Placement, ProfileShape
from kubemig.nvml.returns import RETURN_CODES, return_string
from kubemig.nvml.simulated import driver
from kubemig.nvml.simulated.driver import fail
from kubemig.nvml.simulated.identity import (
    R470,
    compute_capability,
    cuda_version,
    idle_power_w,
    idle_temperature_c,
    mig_uuid,
    pci_bus_id,
    power_limit_w,
    product_name,
    serial_number,
)
from kubemig.nvml.simulated.state import ComputeInstanceState, GpuInstanceState, GpuState, NodeState
from kubemig.nvml.simulated.store import SimConfig, StateStore
from kubemig.nvml.simulated.visibility import View, visible

P = ParamSpec("P")
R = TypeVar("R")

MIB = 1 << 20
NO_ID = 0xFFFFFFFF  # NVML's "not a MIG device" instance id in process and event records
_ARCHITECTURE: dict[str, int] = {"ampere": pynvml.NVML_DEVICE_ARCH_AMPERE, "hopper": pynvml.NVML_DEVICE_ARCH_HOPPER, "blackwell": 10}
_SUCCESS: int = pynvml.NVML_SUCCESS
_SUPPORTED_EVENTS: int = (
    pynvml.nvmlEventTypeSingleBitEccError
    | pynvml.nvmlEventTypeDoubleBitEccError
    | pynvml.nvmlEventTypePState
    | pynvml.nvmlEventTypeXidCriticalError
    | pynvml.nvmlEventTypeClock
)
_POLL_S = 0.02
# helpers of pynvml that touch no C library, offered like the rest of its module
_PURE_HELPERS = ("nvmlExceptionClass", "nvmlStructToFriendlyObject", "nvmlFriendlyObjectToStruct")


class _Kind(IntEnum):
    GPU = 1
    MIG = 2
    GPU_INSTANCE = 3
    COMPUTE_INSTANCE = 4
    EVENT_SET = 5


@dataclass(frozen=True, slots=True)
class _Ref:
    kind: _Kind
    gpu: int = 0
    gi: int = 0
    ci: int = 0
    serial: int = 0


def _make_handle(ctype: Any, ref: _Ref) -> Any:
    value = (int(ref.kind) << 56) | (ref.gpu << 48) | (ref.gi << 40) | (ref.ci << 32) | (ref.serial & 0xFFFFFFFF)
    return ctypes.cast(ctypes.c_void_p(value), ctype)


def _read_handle(handle: object) -> _Ref:
    try:
        value = ctypes.cast(handle, ctypes.c_void_p).value  # type: ignore[arg-type]
    except (ctypes.ArgumentError, TypeError):
        fail("INVALID_ARGUMENT")
    if not value:
        fail("INVALID_ARGUMENT")
    try:
        kind = _Kind(value >> 56)
    except ValueError:
        fail("INVALID_ARGUMENT")
    return _Ref(kind, (value >> 48) & 0xFF, (value >> 40) & 0xFF, (value >> 32) & 0xFF, value & 0xFFFFFFFF)


def _target(ref: object) -> Any:
    """The ctypes object behind `byref(x)`, `pointer(x)` or `x` itself."""
    if ref is None:
        return None
    if hasattr(ref, "_obj"):  # ctypes.byref
        return ref._obj
    if isinstance(ref, ctypes._Pointer):  # ctypes.pointer
        return ref.contents
    return ref


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _teach_pynvml_error_strings() -> None:
    """pynvml asks the C library for most error strings, so with no library `str(NVMLError(19))`
    reads "NVML Error with code 19". Give pynvml the strings NVML has (only codes it lacks)."""
    table = pynvml.NVMLError._errcode_to_string
    for code, text in RETURN_CODES.values():
        if code:
            table.setdefault(code, text)


def _api(method: Callable[Concatenate[SimulatedNvml, P], R]) -> Callable[Concatenate[SimulatedNvml, P], R]:
    """Every NVML entry point: refuses before nvmlInit, and fails where a fault was injected."""

    def wrapper(self: SimulatedNvml, /, *args: P.args, **kwargs: P.kwargs) -> R:
        self._before_call(method.__name__)
        return method(self, *args, **kwargs)

    # functools.wraps keeps the name and, through __wrapped__, the signature pynvml's has
    functools.update_wrapper(wrapper, method)
    return wrapper


@dataclass
class _EventSet:
    cursor: int
    registered: dict[int, int] = field(default_factory=dict)  # GPU -> event type mask


@dataclass(frozen=True, slots=True)
class _Device:
    """A resolved device handle: a GPU, or a MIG device on it."""

    gpu: int
    gpu_state: GpuState
    model: GpuModel
    gi: GpuInstanceState | None = None
    ci: ComputeInstanceState | None = None


class SimulatedNvml:
    """pynvml's API over a simulated node. See the module docstring."""

    for _name, _value in vars(pynvml).items():
        if _name.startswith("_") or _name in ("sys", "os", "string", "threading"):
            continue
        if isinstance(_value, type) or not callable(_value):
            locals()[_name] = _value
        elif _name in _PURE_HELPERS:
            locals()[_name] = staticmethod(_value)
    del _name, _value

    def __init__(self, config: SimConfig) -> None:
        _teach_pynvml_error_strings()
        self.config = config
        self.kubemig_device_root = config.root
        """Where this node's /dev and /proc live (not an NVML name: kubemig's adapter reads it)."""
        self._store = StateStore(config)
        self._refcount = 0
        self._event_sets: dict[int, _EventSet] = {}
        self._next_event_set = 1

    # -- plumbing -------------------------------------------------------------------------------

    def _before_call(self, name: str) -> None:
        if name not in ("nvmlInit", "nvmlInitWithFlags", "nvmlErrorString") and self._refcount == 0:
            fail("UNINITIALIZED")
        if name == "nvmlErrorString" and not self._store.exists():
            return
        if name in ("nvmlInit", "nvmlInitWithFlags"):
            self._store.open()
        if any(f.function == name for f in self._store.read().faults):
            self._fire_fault(name)

    def _fire_fault(self, name: str) -> None:
        code = 0
        with self._store.transaction() as state:
            for fault in state.faults:
                if fault.function != name:
                    continue
                fault.calls += 1
                if fault.calls > fault.after and (fault.times == 0 or fault.fired < fault.times):
                    fault.fired += 1
                    code = fault.error
                    break
            state.faults = [f for f in state.faults if f.times == 0 or f.fired < f.times]
        if code:
            raise pynvml.NVMLError(code)

    def _state(self) -> NodeState:
        return self._store.read()

    def _visible(self, state: NodeState) -> View:
        return visible(state, self.config.nvidia_visible_devices, self.config.cuda_visible_devices)

    def _gpu_handle(self, gpu: int) -> Any:
        return _make_handle(pynvml.c_nvmlDevice_t, _Ref(_Kind.GPU, gpu))

    def _mig_handle(self, gpu: int, gi: GpuInstanceState, ci: ComputeInstanceState) -> Any:
        return _make_handle(pynvml.c_nvmlDevice_t, _Ref(_Kind.MIG, gpu, gi.id, ci.id, ci.serial))

    def _gi_handle(self, gpu: int, gi: GpuInstanceState) -> Any:
        return _make_handle(pynvml.c_nvmlGpuInstance_t, _Ref(_Kind.GPU_INSTANCE, gpu, gi.id, 0, gi.serial))

    def _ci_handle(self, gpu: int, gi: GpuInstanceState, ci: ComputeInstanceState) -> Any:
        return _make_handle(pynvml.c_nvmlComputeInstance_t, _Ref(_Kind.COMPUTE_INSTANCE, gpu, gi.id, ci.id, ci.serial))

    def _device(self, state: NodeState, handle: object) -> _Device:
        ref = _read_handle(handle)
        view = self._visible(state)
        if ref.kind not in (_Kind.GPU, _Kind.MIG) or ref.gpu not in view.gpus:
            fail("INVALID_ARGUMENT")
        gpu_state = state.gpus[ref.gpu]
        model = find_model(gpu_state.model)
        if ref.kind is _Kind.GPU:
            return _Device(ref.gpu, gpu_state, model)
        gi = gpu_state.gpu_instance(ref.gi)
        ci = gi.compute_instance(ref.ci) if gi else None
        if gi is None or ci is None or ci.serial != ref.serial or not view.sees_mig(ref.gpu, gi.id, ci.id):
            fail("INVALID_ARGUMENT")
        return _Device(ref.gpu, gpu_state, model, gi, ci)

    def _whole_gpu(self, state: NodeState, handle: object) -> _Device:
        device = self._device(state, handle)
        if device.gi is not None:
            fail("INVALID_ARGUMENT")
        return device

    def _gpu_instance(self, state: NodeState, handle: object) -> tuple[int, GpuInstanceState]:
        ref = _read_handle(handle)
        if ref.kind is not _Kind.GPU_INSTANCE or ref.gpu >= len(state.gpus):
            fail("INVALID_ARGUMENT")
        gi = state.gpus[ref.gpu].gpu_instance(ref.gi)
        if gi is None or gi.serial != ref.serial or not self._visible(state).sees_mig(ref.gpu, gi.id):
            fail("INVALID_ARGUMENT")
        return ref.gpu, gi

    def _compute_instance(
        self, state: NodeState, handle: object
    ) -> tuple[int, GpuInstanceState, ComputeInstanceState]:
        ref = _read_handle(handle)
        if ref.kind is not _Kind.COMPUTE_INSTANCE or ref.gpu >= len(state.gpus):
            fail("INVALID_ARGUMENT")
        gi = state.gpus[ref.gpu].gpu_instance(ref.gi)
        ci = gi.compute_instance(ref.ci) if gi else None
        if gi is None or ci is None or ci.serial != ref.serial or not self._visible(state).sees_mig(ref.gpu, gi.id, ci.id):
            fail("INVALID_ARGUMENT")
        return ref.gpu, gi, ci

    def _configurable(self, state: NodeState, gpu: int) -> None:
        # a process that sees a GPU only through MIG devices holds no `config` capability
        if not self._visible(state).may_configure(gpu):
            fail("NO_PERMISSION")

    def _branch(self, state: NodeState) -> int:
        return driver.branch_of(state)

    def _mig_uuid(self, state: NodeState, gpu: int, gi: int, ci: int) -> str:
        return mig_uuid(state.gpus[gpu].uuid, gi, ci, self._branch(state))

    def _shape(self, state: NodeState, gpu: int, gi: GpuInstanceState) -> ProfileShape:
        return driver.gi_profile(state, gpu, gi)

    # -- library ----------------------------------------------------------------------------------

    @_api
    def nvmlInit(self) -> None:
        self._refcount += 1

    @_api
    def nvmlInitWithFlags(self, flags: int) -> None:
        self._refcount += 1

    @_api
    def nvmlShutdown(self) -> None:
        self._refcount -= 1

    @_api
    def nvmlErrorString(self, result: int) -> str:
        return return_string(result)

    @_api
    def nvmlSystemGetDriverVersion(self) -> str:
        return self._state().driver

    @_api
    def nvmlSystemGetNVMLVersion(self) -> str:
        state = self._state()
        return f"{cuda_version(self._branch(state)) // 1000}.{state.driver}"

    @_api
    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return cuda_version(self._branch(self._state()))

    # -- devices ----------------------------------------------------------------------------------

    @_api
    def nvmlDeviceGetCount(self) -> int:
        state = self._state()
        return len(self._visible(state).gpus)

    @_api
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        gpus = self._visible(self._state()).gpus
        if not isinstance(index, int) or not 0 <= index < len(gpus):
            fail("INVALID_ARGUMENT")
        return self._gpu_handle(gpus[index])

    @_api
    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> Any:
        state = self._state()
        view = self._visible(state)
        found = driver.find_uuid(state, _text(uuid))
        if found is not None:
            gpu, gi, ci = found
            if gi is None or ci is None:
                if gpu in view.gpus and gpu not in view.mig_only:
                    return self._gpu_handle(gpu)
            elif view.sees_mig(gpu, gi.id, ci.id):
                return self._mig_handle(gpu, gi, ci)
        fail("NOT_FOUND")

    @_api
    def nvmlDeviceGetHandleByPciBusId(self, pciBusId: str | bytes) -> Any:
        text = _text(pciBusId).strip().upper()
        state = self._state()
        for gpu in self._visible(state).gpus:
            bus_id = pci_bus_id(state.gpus[gpu].pci_bus)
            if text in (bus_id, bus_id[4:]):
                return self._gpu_handle(gpu)
        fail("NOT_FOUND")

    @_api
    def nvmlDeviceGetIndex(self, handle: object) -> int:
        state = self._state()
        device = self._whole_gpu(state, handle)
        return self._visible(state).gpus.index(device.gpu)

    @_api
    def nvmlDeviceGetName(self, handle: object) -> str:
        state = self._state()
        device = self._device(state, handle)
        name = product_name(device.model, self._branch(state))
        if device.gi is None or device.ci is None:
            return name
        return f"{name} MIG {self._mig_profile_name(state, device)}"

    def _mig_profile_name(self, state: NodeState, device: _Device) -> str:
        assert device.gi is not None and device.ci is not None
        shape = self._shape(state, device.gpu, device.gi)
        ci = shape.profile.ci_profile(device.ci.profile_id)
        return ci.name if ci is not None else shape.name

    @_api
    def nvmlDeviceGetUUID(self, handle: object) -> str:
        state = self._state()
        device = self._device(state, handle)
        if device.gi is None or device.ci is None:
            return device.gpu_state.uuid
        return self._mig_uuid(state, device.gpu, device.gi.id, device.ci.id)

    @_api
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

    @_api
    def nvmlDeviceGetPciInfo(self, handle: object) -> Any:
        return self.nvmlDeviceGetPciInfo_v3(handle)

    @_api
    def nvmlDeviceGetMinorNumber(self, handle: object) -> int:
        return self._whole_gpu(self._state(), handle).gpu

    @_api
    def nvmlDeviceGetArchitecture(self, device: object) -> int:
        return _ARCHITECTURE[self._device(self._state(), device).model.architecture]

    def _used_mib(self, state: NodeState, device: _Device) -> int:
        gi = device.gi.id if device.gi else None
        ci = device.ci.id if device.ci else None
        return sum(p.used_memory_mib for p in state.processes_on(device.gpu, gi, ci))

    def _total_mib(self, state: NodeState, device: _Device) -> int:
        if device.gi is None:
            return device.model.memory_mib
        return self._shape(state, device.gpu, device.gi).profile.memory_mib_on(self._branch(state))

    @_api
    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> Any:
        state = self._state()
        device = self._device(state, handle)
        total, used = self._total_mib(state, device) * MIB, self._used_mib(state, device) * MIB
        if not version:
            return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)
        return pynvml.c_nvmlMemory_v2_t(version=version, total=total, reserved=0, free=total - used, used=used)

    @_api
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

    @_api
    def nvmlDeviceGetPersistenceMode(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 1

    @_api
    def nvmlDeviceGetDisplayActive(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 0

    @_api
    def nvmlDeviceGetDisplayMode(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 0

    @_api
    def nvmlDeviceGetFanSpeed(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        fail("NOT_SUPPORTED")  # data-center boards are cooled by the chassis: nvidia-smi shows N/A

    @_api
    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        found = self._whole_gpu(self._state(), handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            fail("NOT_SUPPORTED")
        return idle_temperature_c(found.gpu)

    @_api
    def nvmlDeviceGetPerformanceState(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return 0

    @_api
    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        state = self._state()
        found = self._whole_gpu(state, handle)
        busy = len(state.processes_on(found.gpu))
        return 1000 * min(power_limit_w(found.model.key), idle_power_w(found.model.key) + 25 * busy)

    @_api
    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int:
        return 1000 * power_limit_w(self._whole_gpu(self._state(), handle).model.key)

    @_api
    def nvmlDeviceGetPowerManagementLimit(self, handle: object) -> int:
        return 1000 * power_limit_w(self._whole_gpu(self._state(), handle).model.key)

    @_api
    def nvmlDeviceGetUtilizationRates(self, handle: object) -> Any:
        found = self._whole_gpu(self._state(), handle)
        if found.gpu_state.mig_current:
            fail("NOT_SUPPORTED")  # with MIG on, utilization is per MIG device: nvidia-smi shows N/A
        return pynvml.c_nvmlUtilization_t(gpu=0, memory=0)

    @_api
    def nvmlDeviceGetComputeMode(self, handle: object) -> int:
        self._device(self._state(), handle)
        return int(pynvml.NVML_COMPUTEMODE_DEFAULT)

    @_api
    def nvmlDeviceGetEccMode(self, handle: object) -> list[int]:
        self._device(self._state(), handle)
        return [1, 1]

    @_api
    def nvmlDeviceGetTotalEccErrors(self, handle: object, errorType: int, counterType: int) -> int:
        self._device(self._state(), handle)
        return 0

    @_api
    def nvmlDeviceGetCudaComputeCapability(self, handle: object) -> tuple[int, int]:
        return compute_capability(self._device(self._state(), handle).model.key)

    @_api
    def nvmlDeviceGetSerial(self, handle: object) -> str:
        return serial_number(self._whole_gpu(self._state(), handle).gpu_state.uuid)

    @_api
    def nvmlSystemGetProcessName(self, pid: int) -> str:
        for process in self._state().processes:
            if process.pid == pid:
                return process.name
        fail("NOT_FOUND")

    # -- MIG mode ---------------------------------------------------------------------------------

    @_api
    def nvmlDeviceGetMigMode(self, device: object) -> list[int]:
        found = self._whole_gpu(self._state(), device)
        return [int(found.gpu_state.mig_current), int(found.gpu_state.mig_pending)]

    @_api
    def nvmlDeviceSetMigMode(self, device: object, mode: int) -> int:
        if mode not in (pynvml.NVML_DEVICE_MIG_DISABLE, pynvml.NVML_DEVICE_MIG_ENABLE):
            fail("INVALID_ARGUMENT")
        with self._store.transaction() as state:
            found = self._whole_gpu(state, device)
            self._configurable(state, found.gpu)
            return driver.set_mig_mode(state, found.gpu, bool(mode))

    # -- GPU instances ----------------------------------------------------------------------------

    def _profile_info(self, state: NodeState, device: object, shape_of: Callable[[GpuState, Any], ProfileShape | None], version: int) -> Any:
        found = self._whole_gpu(state, device)
        branch = self._branch(state)
        if version not in (1, 2) or (version == 2 and branch < R470):
            fail("FUNCTION_NOT_FOUND")  # the V entry point arrived with R470
        driver.require_mig(found.gpu_state)
        shape = shape_of(found.gpu_state, driver.geometry(state, found.gpu))
        if shape is None:
            fail("NOT_SUPPORTED")
        profile = shape.profile
        info = pynvml.c_nvmlGpuInstanceProfileInfo_v2_t() if version == 2 else pynvml.c_nvmlGpuInstanceProfileInfo_t()
        info.id = profile.id
        info.isP2pSupported = 0
        info.sliceCount = profile.compute_slices
        info.instanceCount = profile.instances
        info.multiprocessorCount = profile.sm_count
        info.copyEngineCount = profile.engines.copy_engines
        info.decoderCount = profile.engines.decoders
        info.encoderCount = profile.engines.encoders
        info.jpegCount = profile.engines.jpeg
        info.ofaCount = profile.engines.ofa
        info.memorySizeMB = profile.memory_mib_on(branch)
        if version == 2:
            info.name = f"MIG {profile.name}"
        return info

    @_api
    def nvmlDeviceGetGpuInstanceProfileInfo(self, device: object, profile: int, version: int = 2) -> Any:
        if not 0 <= profile < pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT:
            fail("INVALID_ARGUMENT")
        return self._profile_info(
            self._state(), device, lambda _gpu, geo: next((s for s in geo.shapes if s.profile.index == profile), None), version
        )

    nvmlDeviceGetGpuInstanceProfileInfoV = nvmlDeviceGetGpuInstanceProfileInfo

    @_api
    def nvmlDeviceGetGpuInstanceProfileInfoById(self, device: object, profileId: int) -> Any:
        return self._profile_info(self._state(), device, lambda _gpu, geo: geo.by_id.get(profileId), 2)

    nvmlDeviceGetGpuInstanceProfileInfoByIdV = nvmlDeviceGetGpuInstanceProfileInfoById

    @_api
    def nvmlDeviceGetGpuInstanceRemainingCapacity(self, device: object, profileId: int) -> int:
        state = self._state()
        found = self._whole_gpu(state, device)
        return driver.remaining_gpu_instances(state, found.gpu, profileId)

    @_api
    def nvmlDeviceGetGpuInstancePossiblePlacements(
        self, device: object, profileId: int, placementsRef: object, countRef: object
    ) -> int:
        state = self._state()
        found = self._whole_gpu(state, device)
        driver.require_mig(found.gpu_state)
        shape = driver.gi_shape(driver.geometry(state, found.gpu), profileId)
        self._fill(placementsRef, countRef, [pynvml.c_nvmlGpuInstancePlacement_t(s, shape.size) for s in shape.starts])
        return _SUCCESS

    @staticmethod
    def _fill(arrayRef: object, countRef: object, items: list[Any]) -> None:
        """NVML's array convention: NULL array -> count only; an array too small -> INSUFFICIENT_SIZE."""
        count = _target(countRef)
        if count is None:
            fail("INVALID_ARGUMENT")
        array = _target(arrayRef)
        if array is not None:
            if len(array) < len(items):
                count.value = len(items)
                fail("INSUFFICIENT_SIZE")
            for i, item in enumerate(items):
                array[i] = item
        count.value = len(items)

    @_api
    def nvmlDeviceCreateGpuInstance(self, device: object, profileId: int) -> Any:
        with self._store.transaction() as state:
            found = self._whole_gpu(state, device)
            self._configurable(state, found.gpu)
            gi = driver.create_gpu_instance(state, found.gpu, profileId)
            return self._gi_handle(found.gpu, gi)

    @_api
    def nvmlDeviceCreateGpuInstanceWithPlacement(self, device: object, profileId: int, placement: object) -> Any:
        wanted = _target(placement)
        if wanted is None or not hasattr(wanted, "start"):
            fail("INVALID_ARGUMENT")
        with self._store.transaction() as state:
            found = self._whole_gpu(state, device)
            self._configurable(state, found.gpu)
            gi = driver.create_gpu_instance(state, found.gpu, profileId, Placement(int(wanted.start), int(wanted.size)))
            return self._gi_handle(found.gpu, gi)

    @_api
    def nvmlGpuInstanceDestroy(self, gpuInstance: object) -> int:
        with self._store.transaction() as state:
            gpu, gi = self._gpu_instance(state, gpuInstance)
            self._configurable(state, gpu)
            driver.destroy_gpu_instance(state, gpu, gi.id)
        return _SUCCESS

    @_api
    def nvmlDeviceGetGpuInstances(self, device: object, profileId: int, gpuInstancesRef: object, countRef: object) -> int:
        state = self._state()
        found = self._whole_gpu(state, device)
        driver.require_mig(found.gpu_state)
        driver.gi_shape(driver.geometry(state, found.gpu), profileId)
        view = self._visible(state)
        handles = [
            self._gi_handle(found.gpu, gi)
            for gi in sorted(found.gpu_state.gpu_instances, key=lambda g: g.id)
            if gi.profile_id == profileId and view.sees_mig(found.gpu, gi.id)
        ]
        self._fill(gpuInstancesRef, countRef, handles)
        return _SUCCESS

    @_api
    def nvmlDeviceGetGpuInstanceById(self, device: object, gpuInstanceId: int) -> Any:
        state = self._state()
        found = self._whole_gpu(state, device)
        driver.require_mig(found.gpu_state)
        gi = found.gpu_state.gpu_instance(gpuInstanceId)
        if gi is None or not self._visible(state).sees_mig(found.gpu, gi.id):
            fail("NOT_FOUND")
        return self._gi_handle(found.gpu, gi)

    @_api
    def nvmlGpuInstanceGetInfo(self, gpuInstance: object) -> Any:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        info = pynvml.c_nvmlGpuInstanceInfo_t()
        info.device = self._gpu_handle(gpu)
        info.id = gi.id
        info.profileId = gi.profile_id
        info.placement = pynvml.c_nvmlGpuInstancePlacement_t(gi.start, gi.size)
        return info

    # -- compute instances ------------------------------------------------------------------------

    @_api
    def nvmlGpuInstanceGetComputeInstanceProfileInfo(self, device: object, profile: int, engProfile: int, version: int = 2) -> Any:
        state = self._state()
        gpu, gi = self._gpu_instance(state, device)
        branch = self._branch(state)
        if version not in (1, 2) or (version == 2 and branch < R470):
            fail("FUNCTION_NOT_FOUND")
        if not 0 <= profile < pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT or engProfile != pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED:
            fail("INVALID_ARGUMENT")
        shape = self._shape(state, gpu, gi)
        ci = shape.profile.ci_profile(profile)
        if ci is None:
            fail("NOT_SUPPORTED")
        engines = shape.profile.engines
        info = pynvml.c_nvmlComputeInstanceProfileInfo_v2_t() if version == 2 else pynvml.c_nvmlComputeInstanceProfileInfo_t()
        info.id = ci.id
        info.sliceCount = ci.slices
        info.instanceCount = ci.instances
        info.multiprocessorCount = ci.sm_count
        info.sharedCopyEngineCount = engines.copy_engines
        info.sharedDecoderCount = engines.decoders
        info.sharedEncoderCount = engines.encoders
        info.sharedJpegCount = engines.jpeg
        info.sharedOfaCount = engines.ofa
        if version == 2:
            info.name = f"MIG {ci.name}"
        return info

    nvmlGpuInstanceGetComputeInstanceProfileInfoV = nvmlGpuInstanceGetComputeInstanceProfileInfo

    @_api
    def nvmlGpuInstanceGetComputeInstanceRemainingCapacity(self, gpuInstance: object, profileId: int) -> int:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        return driver.remaining_compute_instances(state, gpu, gi, profileId)

    @_api
    def nvmlGpuInstanceGetComputeInstancePossiblePlacements(
        self, gpuInstance: object, profileId: int, placementsRef: object, countRef: object
    ) -> int:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        shape = self._shape(state, gpu, gi)
        ci = shape.profile.ci_profile(profileId)
        if ci is None:
            fail("NOT_SUPPORTED")
        starts = driver.ci_starts(shape.compute_slices, ci)
        self._fill(placementsRef, countRef, [pynvml.c_nvmlComputeInstancePlacement_t(s, ci.slices) for s in starts])
        return _SUCCESS

    @_api
    def nvmlGpuInstanceCreateComputeInstance(self, gpuInstance: object, profileId: int) -> Any:
        with self._store.transaction() as state:
            gpu, gi = self._gpu_instance(state, gpuInstance)
            self._configurable(state, gpu)
            ci = driver.create_compute_instance(state, gpu, gi, profileId)
            return self._ci_handle(gpu, gi, ci)

    @_api
    def nvmlGpuInstanceCreateComputeInstanceWithPlacement(self, gpuInstance: object, profileId: int, placement: object) -> Any:
        wanted = _target(placement)
        if wanted is None or not hasattr(wanted, "start"):
            fail("INVALID_ARGUMENT")
        with self._store.transaction() as state:
            gpu, gi = self._gpu_instance(state, gpuInstance)
            self._configurable(state, gpu)
            ci = driver.create_compute_instance(state, gpu, gi, profileId, int(wanted.start), int(wanted.size))
            return self._ci_handle(gpu, gi, ci)

    @_api
    def nvmlComputeInstanceDestroy(self, computeInstance: object) -> int:
        with self._store.transaction() as state:
            gpu, gi, ci = self._compute_instance(state, computeInstance)
            self._configurable(state, gpu)
            driver.destroy_compute_instance(state, gpu, gi, ci.id)
        return _SUCCESS

    @_api
    def nvmlGpuInstanceGetComputeInstances(
        self, gpuInstance: object, profileId: int, computeInstancesRef: object, countRef: object
    ) -> int:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        if self._shape(state, gpu, gi).profile.ci_profile(profileId) is None:
            fail("NOT_SUPPORTED")
        view = self._visible(state)
        handles = [
            self._ci_handle(gpu, gi, ci)
            for ci in gi.compute_instances
            if ci.profile_id == profileId and view.sees_mig(gpu, gi.id, ci.id)
        ]
        self._fill(computeInstancesRef, countRef, handles)
        return _SUCCESS

    @_api
    def nvmlGpuInstanceGetComputeInstanceById(self, gpuInstance: object, computeInstanceId: int) -> Any:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        ci = gi.compute_instance(computeInstanceId)
        if ci is None or not self._visible(state).sees_mig(gpu, gi.id, ci.id):
            fail("NOT_FOUND")
        return self._ci_handle(gpu, gi, ci)

    @_api
    def nvmlComputeInstanceGetInfo_v2(self, computeInstance: object) -> Any:
        state = self._state()
        gpu, gi, ci = self._compute_instance(state, computeInstance)
        info = pynvml.c_nvmlComputeInstanceInfo_t()
        info.device = self._gpu_handle(gpu)
        info.gpuInstance = self._gi_handle(gpu, gi)
        info.id = ci.id
        info.profileId = ci.profile_id
        info.placement = pynvml.c_nvmlComputeInstancePlacement_t(ci.start, ci.size)
        return info

    @_api
    def nvmlComputeInstanceGetInfo(self, computeInstance: object) -> Any:
        return self.nvmlComputeInstanceGetInfo_v2(computeInstance)

    # -- MIG devices ------------------------------------------------------------------------------

    @_api
    def nvmlDeviceIsMigDeviceHandle(self, device: object) -> Any:
        # pynvml returns the c_uint itself here, not its value
        return ctypes.c_uint(int(self._device(self._state(), device).gi is not None))

    @_api
    def nvmlDeviceGetGpuInstanceId(self, device: object) -> int:
        found = self._device(self._state(), device)
        if found.gi is None:
            fail("NOT_SUPPORTED")
        return found.gi.id

    @_api
    def nvmlDeviceGetComputeInstanceId(self, device: object) -> int:
        found = self._device(self._state(), device)
        if found.ci is None:
            fail("NOT_SUPPORTED")
        return found.ci.id

    @_api
    def nvmlDeviceGetMaxMigDeviceCount(self, device: object) -> int:
        return self._whole_gpu(self._state(), device).model.compute_slices

    @_api
    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: object, index: int) -> Any:
        state = self._state()
        found = self._whole_gpu(state, device)
        if not 0 <= index < found.model.compute_slices:
            fail("INVALID_ARGUMENT")
        if not found.gpu_state.mig_current:
            fail("NOT_SUPPORTED")
        view = self._visible(state)
        pairs = [(gi, ci) for gi, ci in driver.mig_device_pairs(found.gpu_state) if view.sees_mig(found.gpu, gi.id, ci.id)]
        if index >= len(pairs):
            fail("NOT_FOUND")
        return self._mig_handle(found.gpu, *pairs[index])

    @_api
    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice: object) -> Any:
        found = self._device(self._state(), migDevice)
        if found.gi is None:
            fail("INVALID_ARGUMENT")
        return self._gpu_handle(found.gpu)

    @_api
    def nvmlDeviceGetAttributes_v2(self, device: object) -> Any:
        state = self._state()
        found = self._device(state, device)
        branch = self._branch(state)
        attrs = pynvml.c_nvmlDeviceAttributes()
        if found.gi is None or found.ci is None:
            geo = driver.geometry(state, found.gpu)
            whole = max(geo.shapes, key=lambda s: (s.compute_slices, s.profile.memory_mib_on(branch)))
            engines = whole.profile.engines
            attrs.multiprocessorCount = found.model.sm_count
            attrs.gpuInstanceSliceCount = attrs.computeInstanceSliceCount = found.model.compute_slices
            attrs.memorySizeMB = found.model.memory_mib
        else:
            shape = self._shape(state, found.gpu, found.gi)
            ci = shape.profile.ci_profile(found.ci.profile_id)
            engines = shape.profile.engines
            attrs.multiprocessorCount = ci.sm_count if ci else shape.profile.sm_count
            attrs.gpuInstanceSliceCount = shape.compute_slices
            attrs.computeInstanceSliceCount = found.ci.size
            attrs.memorySizeMB = shape.profile.memory_mib_on(branch)
        attrs.sharedCopyEngineCount = engines.copy_engines
        attrs.sharedDecoderCount = engines.decoders
        attrs.sharedEncoderCount = engines.encoders
        attrs.sharedJpegCount = engines.jpeg
        attrs.sharedOfaCount = engines.ofa
        return attrs

    @_api
    def nvmlDeviceGetAttributes(self, device: object) -> Any:
        return self.nvmlDeviceGetAttributes_v2(device)

    # -- processes --------------------------------------------------------------------------------

    @_api
    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: object) -> list[Any]:
        state = self._state()
        found = self._device(state, handle)
        view = self._visible(state)
        gi = found.gi.id if found.gi else None
        ci = found.ci.id if found.ci else None
        result = []
        for proc in state.processes_on(found.gpu, gi, ci):
            if proc.gi is not None and not view.sees_mig(found.gpu, proc.gi, proc.ci):
                continue
            record = pynvml.c_nvmlProcessInfo_v3_t()
            record.pid = proc.pid
            record.usedGpuMemory = proc.used_memory_mib * MIB
            record.gpuInstanceId = NO_ID if proc.gi is None else proc.gi
            record.computeInstanceId = NO_ID if proc.ci is None else proc.ci
            result.append(pynvml.nvmlStructToFriendlyObject(record))
        return result

    @_api
    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[Any]:
        return self.nvmlDeviceGetComputeRunningProcesses_v3(handle)

    # -- events -----------------------------------------------------------------------------------

    @_api
    def nvmlEventSetCreate(self) -> Any:
        number = self._next_event_set
        self._next_event_set += 1
        # like the driver, a set hears only of events that happen after it exists
        self._event_sets[number] = _EventSet(cursor=self._state().last_event_seq)
        return _make_handle(pynvml.c_nvmlEventSet_t, _Ref(_Kind.EVENT_SET, serial=number))

    def _event_set(self, eventSet: object) -> _EventSet:
        ref = _read_handle(eventSet)
        found = self._event_sets.get(ref.serial) if ref.kind is _Kind.EVENT_SET else None
        if found is None:
            fail("INVALID_ARGUMENT")
        return found

    @_api
    def nvmlDeviceGetSupportedEventTypes(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return _SUPPORTED_EVENTS

    @_api
    def nvmlDeviceRegisterEvents(self, handle: object, eventTypes: int, eventSet: object) -> None:
        found = self._device(self._state(), handle)
        if eventTypes & ~_SUPPORTED_EVENTS:
            fail("NOT_SUPPORTED")
        events = self._event_set(eventSet)
        events.registered[found.gpu] = events.registered.get(found.gpu, 0) | eventTypes

    @_api
    def nvmlEventSetWait_v2(self, eventSet: object, timeoutms: int) -> Any:
        events = self._event_set(eventSet)
        deadline = time.monotonic() + max(0, timeoutms) / 1000
        while True:
            state = self._state()
            view = self._visible(state)
            for event in state.events:
                if event.seq <= events.cursor:
                    continue
                events.cursor = event.seq
                wanted = events.registered.get(event.gpu, 0) & pynvml.nvmlEventTypeXidCriticalError
                if not wanted or event.gpu not in view.gpus:
                    continue
                if event.gi is not None and not view.sees_mig(event.gpu, event.gi, event.ci):
                    continue
                if event.gi is None and event.gpu in view.mig_only:
                    continue
                data = pynvml.c_nvmlEventData_t()
                data.device = self._gpu_handle(event.gpu)
                data.eventType = pynvml.nvmlEventTypeXidCriticalError
                data.eventData = event.xid
                data.gpuInstanceId = NO_ID if event.gi is None else event.gi
                data.computeInstanceId = NO_ID if event.ci is None else event.ci
                return data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                fail("TIMEOUT")
            time.sleep(min(_POLL_S, remaining))

    @_api
    def nvmlEventSetWait(self, eventSet: object, timeoutms: int) -> Any:
        return self.nvmlEventSetWait_v2(eventSet, timeoutms)

    @_api
    def nvmlEventSetFree(self, eventSet: object) -> None:
        ref = _read_handle(eventSet)
        if self._event_sets.pop(ref.serial, None) is None:
            fail("INVALID_ARGUMENT")
