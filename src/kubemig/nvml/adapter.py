"""The driver boundary: `Nvml` wraps any module shaped like `pynvml` (nvidia-ml-py on a GPU node, the
simulator elsewhere) and answers in typed, frozen values. NVML errors become `NvmlError` here and
nowhere else.

    with open_nvml("8xA100-SXM4-40GB") as nvml:
        nvml.set_mig_mode(0, True)
        gi = nvml.create_gpu_instance(0, 9)                # 3g.20gb where the driver puts it
        nvml.create_compute_instance(0, gi.id, 2)
        [d.uuid for d in nvml.mig_devices(0)]
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from kubemig.catalog import GpuModel, find_model
from kubemig.errors import CatalogError, KubemigError
from kubemig.geometry import GpuGeometry, Layout, Placement, geometry_for
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import (
    CiProfileInfo,
    ComputeInstanceInfo,
    GiProfileInfo,
    GpuInfo,
    GpuInstanceInfo,
    GpuReadings,
    MigDeviceInfo,
    MigModeChange,
    ProcessInfo,
    XidEvent,
)
from kubemig.nvml.returns import return_code, return_string

MIB = 1 << 20
_NO_ID = 0xFFFFFFFF
_NOT_SUPPORTED = return_code("NOT_SUPPORTED")
_INVALID_ARGUMENT = return_code("INVALID_ARGUMENT")
_NOT_FOUND = return_code("NOT_FOUND")
_FUNCTION_NOT_FOUND = return_code("FUNCTION_NOT_FOUND")
_TIMEOUT = return_code("TIMEOUT")


def _strip_mig(name: str) -> str:
    return name[4:] if name.startswith("MIG ") else name


def _mib(value: int | None) -> int | None:
    return None if value is None else int(value) // MIB


class Nvml:
    """Typed NVML over `lib` (the `pynvml` module or anything shaped like it). Initialises NVML on
    construction; `close()` (or leaving a `with` block) shuts it down. GPUs are addressed by NVML index."""

    def __init__(self, lib: Any, *, init: bool = True) -> None:
        self._lib = lib
        self._handles: dict[int, Any] = {}
        self._gi_profiles: dict[int, list[GiProfileInfo]] = {}
        self._open = False
        if init:
            self.call("nvmlInit")
            self._open = True

    @property
    def lib(self) -> Any:
        """The pynvml-shaped module underneath, for the rare call this class does not wrap."""
        return self._lib

    @property
    def simulated(self) -> bool:
        return hasattr(self._lib, "kubemig_device_root")

    @property
    def device_root(self) -> Path:
        """Where the driver's /dev and /proc files are: `/` on a real node, the simulated node's root
        (KUBEMIG_SIM_ROOT) otherwise. Device paths for containers are relative to it."""
        return Path(getattr(self._lib, "kubemig_device_root", "/"))

    def close(self) -> None:
        if self._open:
            self._open = False
            self.call("nvmlShutdown")

    def __enter__(self) -> Nvml:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- the one place NVML errors are translated ---------------------------------------------------

    def call(self, function: str, *args: Any, context: str = "") -> Any:
        """`lib.<function>(*args)`, an NVMLError turned into NvmlError (code, name, NVML's string, call)."""
        try:
            return getattr(self._lib, function)(*args)
        except self._lib.NVMLError as exc:
            code = int(exc.value)
            raise NvmlError(code, function, context=context, nvml_message=return_string(code)) from exc

    # -- system -----------------------------------------------------------------------------------

    def driver_version(self) -> str:
        return str(self.call("nvmlSystemGetDriverVersion"))

    def cuda_driver_version(self) -> int:
        """CUDA version the driver supports, as NVML gives it: 12020 for CUDA 12.2."""
        return int(self.call("nvmlSystemGetCudaDriverVersion"))

    def device_count(self) -> int:
        return int(self.call("nvmlDeviceGetCount"))

    def handle(self, index: int) -> Any:
        """NVML's device handle for GPU `index` (for calls this class does not wrap)."""
        if index not in self._handles:
            self._handles[index] = self.call("nvmlDeviceGetHandleByIndex", index, context=f"GPU {index}")
        return self._handles[index]

    # -- GPUs -------------------------------------------------------------------------------------

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
            if exc.code != _NOT_SUPPORTED:
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

    def optional(self, function: str, *args: Any, context: str = "") -> Any:
        """`call`, but None where NVML answers Not Supported (what nvidia-smi prints as N/A)."""
        try:
            return self.call(function, *args, context=context)
        except NvmlError as exc:
            if exc.code == _NOT_SUPPORTED:
                return None
            raise

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
                get("nvmlDeviceGetTotalEccErrors", lib.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, lib.NVML_VOLATILE_ECC)
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
                f"GPU {index} ({info.name}, PCI id 0x{info.pci_device_id >> 16:04X}) is not a MIG-capable GPU kubemig "
                "knows: `kubemig models` lists the supported ones"
            )
        return info.model

    def geometry(self, index: int) -> GpuGeometry:
        """The layout engine's view of GPU `index` on this driver."""
        return geometry_for(self.model(index), self.driver_version())

    def layout(self, index: int) -> Layout:
        """The GPU instances that exist on GPU `index`, as a layout the layout engine reasons about."""
        geo = self.geometry(index)
        instances = self.gpu_instances(index)
        unknown = sorted({gi.profile_id for gi in instances} - set(geo.by_id))
        if unknown:
            raise KubemigError(
                f"GPU {index} has GPU instances of profile ID {', '.join(map(str, unknown))}, which {geo.label} "
                "does not list in kubemig's catalog: the catalog needs this driver's profiles"
            )
        return Layout.of(geo.instance(gi.profile_id, gi.placement.start) for gi in instances)

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

    # -- GPU instance profiles ----------------------------------------------------------------------

    def gi_profiles(self, index: int) -> list[GiProfileInfo]:
        """The GI profiles the driver offers on GPU `index`, in nvidia-smi's order (slices, memory, ID).
        NvmlError NOT_SUPPORTED while MIG is off, as NVML answers then."""
        if index not in self._gi_profiles:
            h = self.handle(index)
            current, _pending = self.call("nvmlDeviceGetMigMode", h, context=f"GPU {index}")
            if not current:
                raise NvmlError(_NOT_SUPPORTED, "nvmlDeviceGetGpuInstanceProfileInfo", context=f"GPU {index} (MIG mode off)")
            found = []
            for constant in range(int(self._lib.NVML_GPU_INSTANCE_PROFILE_COUNT)):
                info = self._profile_info(h, index, constant)
                if info is not None:
                    found.append(info)
            found.sort(key=lambda p: (p.slice_count, p.memory_mib, p.id))
            self._gi_profiles[index] = found
        return list(self._gi_profiles[index])

    def _profile_info(self, h: Any, index: int, constant: int) -> GiProfileInfo | None:
        """The profile NVML has for index constant `constant`, None where this GPU and driver have none."""
        where = f"GPU {index}"
        try:
            try:
                info = self.call("nvmlDeviceGetGpuInstanceProfileInfo", h, constant, context=where)
                name = _strip_mig(str(info.name))
            except NvmlError as exc:
                if exc.code != _FUNCTION_NOT_FOUND:
                    raise
                # drivers before R470 have no versioned call and no names: the catalog has them
                info = self.call("nvmlDeviceGetGpuInstanceProfileInfo", h, constant, 1, context=where)
                name = self._catalog_profile_name(index, int(info.id))
        except NvmlError as exc:
            if exc.code in (_NOT_SUPPORTED, _INVALID_ARGUMENT):
                return None
            raise
        return GiProfileInfo(
            id=int(info.id),
            index=constant,
            name=name,
            instance_count=int(info.instanceCount),
            slice_count=int(info.sliceCount),
            memory_mib=int(info.memorySizeMB),
            sm_count=int(info.multiprocessorCount),
            copy_engines=int(info.copyEngineCount),
            decoders=int(info.decoderCount),
            encoders=int(info.encoderCount),
            jpeg=int(info.jpegCount),
            ofa=int(info.ofaCount),
            p2p_supported=bool(info.isP2pSupported),
        )

    def _catalog_profile_name(self, index: int, profile_id: int) -> str:
        shape = self.geometry(index).by_id.get(profile_id)
        return shape.name if shape else f"profile {profile_id}"

    def gi_profile(self, index: int, profile_id: int) -> GiProfileInfo:
        for profile in self.gi_profiles(index):
            if profile.id == profile_id:
                return profile
        raise NvmlError(_INVALID_ARGUMENT, "nvmlDeviceGetGpuInstanceProfileInfo", context=f"GPU {index} profile ID {profile_id}")

    def gi_placements(self, index: int, profile_id: int) -> list[Placement]:
        """Every placement NVML allows for the profile (free or not), in NVML's order."""
        h = self.handle(index)
        where = f"GPU {index} profile ID {profile_id}"
        count = ctypes.c_uint(0)
        self.call("nvmlDeviceGetGpuInstancePossiblePlacements", h, profile_id, None, ctypes.byref(count), context=where)
        array = (self._lib.c_nvmlGpuInstancePlacement_t * max(1, count.value))()
        self.call("nvmlDeviceGetGpuInstancePossiblePlacements", h, profile_id, array, ctypes.byref(count), context=where)
        return [Placement(int(array[i].start), int(array[i].size)) for i in range(count.value)]

    def gi_remaining(self, index: int, profile_id: int) -> int:
        """How many more GIs of the profile fit now (nvidia-smi's `Free`)."""
        return int(
            self.call("nvmlDeviceGetGpuInstanceRemainingCapacity", self.handle(index), profile_id, context=f"GPU {index}")
        )

    # -- GPU instances ----------------------------------------------------------------------------

    def _gi_info(self, index: int, gi_handle: Any) -> GpuInstanceInfo:
        info = self.call("nvmlGpuInstanceGetInfo", gi_handle, context=f"GPU {index}")
        profile_id = int(info.profileId)
        return GpuInstanceInfo(
            gpu_index=index,
            id=int(info.id),
            profile_id=profile_id,
            profile_name=self._gi_profile_name(index, profile_id),
            placement=Placement(int(info.placement.start), int(info.placement.size)),
        )

    def _gi_profile_name(self, index: int, profile_id: int) -> str:
        for profile in self.gi_profiles(index):
            if profile.id == profile_id:
                return profile.name
        return self._catalog_profile_name(index, profile_id)

    def gpu_instances(self, index: int) -> list[GpuInstanceInfo]:
        """The GIs on GPU `index`, by ascending GI ID (empty while MIG is off)."""
        h = self.handle(index)
        current, _pending = self.call("nvmlDeviceGetMigMode", h, context=f"GPU {index}")
        if not current:
            return []
        profiles = self.gi_profiles(index)
        found: list[GpuInstanceInfo] = []
        for profile in profiles:
            count = ctypes.c_uint(0)
            array = (self._lib.c_nvmlGpuInstance_t * max(1, profile.instance_count))()
            self.call("nvmlDeviceGetGpuInstances", h, profile.id, array, ctypes.byref(count), context=f"GPU {index}")
            found.extend(self._gi_info(index, array[i]) for i in range(count.value))
        return sorted(found, key=lambda g: g.id)

    def _gi_handle(self, index: int, gi_id: int) -> Any:
        return self.call("nvmlDeviceGetGpuInstanceById", self.handle(index), gi_id, context=f"GPU {index} GI {gi_id}")

    def gpu_instance(self, index: int, gi_id: int) -> GpuInstanceInfo:
        return self._gi_info(index, self._gi_handle(index, gi_id))

    def create_gpu_instance(self, index: int, profile_id: int, placement: Placement | None = None) -> GpuInstanceInfo:
        """A new GI of `profile_id`, at `placement` or where the driver's preference puts it."""
        h = self.handle(index)
        where = f"GPU {index} profile ID {profile_id}" + (f" at {placement}" if placement else "")
        if placement is None:
            gi = self.call("nvmlDeviceCreateGpuInstance", h, profile_id, context=where)
        else:
            wanted = self._lib.c_nvmlGpuInstancePlacement_t(placement.start, placement.size)
            gi = self.call("nvmlDeviceCreateGpuInstanceWithPlacement", h, profile_id, ctypes.byref(wanted), context=where)
        return self._gi_info(index, gi)

    def destroy_gpu_instance(self, index: int, gi_id: int) -> None:
        self.call("nvmlGpuInstanceDestroy", self._gi_handle(index, gi_id), context=f"GPU {index} GI {gi_id}")

    # -- compute instances ------------------------------------------------------------------------

    def ci_profiles(self, index: int, gi_id: int) -> list[CiProfileInfo]:
        gi = self._gi_handle(index, gi_id)
        where = f"GPU {index} GI {gi_id}"
        shared = self._lib.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED
        found = []
        for constant in range(int(self._lib.NVML_COMPUTE_INSTANCE_PROFILE_COUNT)):
            try:
                try:
                    info = self.call("nvmlGpuInstanceGetComputeInstanceProfileInfo", gi, constant, shared, context=where)
                    name = _strip_mig(str(info.name))
                except NvmlError as exc:
                    if exc.code != _FUNCTION_NOT_FOUND:
                        raise
                    info = self.call("nvmlGpuInstanceGetComputeInstanceProfileInfo", gi, constant, shared, 1, context=where)
                    name = self._catalog_ci_name(index, gi_id, int(info.id))
            except NvmlError as exc:
                if exc.code in (_NOT_SUPPORTED, _INVALID_ARGUMENT):
                    continue
                raise
            found.append(
                CiProfileInfo(
                    id=int(info.id),
                    name=name,
                    slice_count=int(info.sliceCount),
                    instance_count=int(info.instanceCount),
                    sm_count=int(info.multiprocessorCount),
                    copy_engines=int(info.sharedCopyEngineCount),
                    decoders=int(info.sharedDecoderCount),
                    encoders=int(info.sharedEncoderCount),
                    jpeg=int(info.sharedJpegCount),
                    ofa=int(info.sharedOfaCount),
                )
            )
        return found

    def _catalog_ci_name(self, index: int, gi_id: int, ci_profile_id: int) -> str:
        shape = self.geometry(index).by_id.get(self.gpu_instance(index, gi_id).profile_id)
        ci = shape.profile.ci_profile(ci_profile_id) if shape else None
        return ci.name if ci else f"CI profile {ci_profile_id}"

    def ci_placements(self, index: int, gi_id: int, ci_profile_id: int) -> list[Placement]:
        gi = self._gi_handle(index, gi_id)
        where = f"GPU {index} GI {gi_id} CI profile {ci_profile_id}"
        count = ctypes.c_uint(0)
        fn = "nvmlGpuInstanceGetComputeInstancePossiblePlacements"
        self.call(fn, gi, ci_profile_id, None, ctypes.byref(count), context=where)
        array = (self._lib.c_nvmlComputeInstancePlacement_t * max(1, count.value))()
        self.call(fn, gi, ci_profile_id, array, ctypes.byref(count), context=where)
        return [Placement(int(array[i].start), int(array[i].size)) for i in range(count.value)]

    def ci_remaining(self, index: int, gi_id: int, ci_profile_id: int) -> int:
        return int(
            self.call(
                "nvmlGpuInstanceGetComputeInstanceRemainingCapacity",
                self._gi_handle(index, gi_id),
                ci_profile_id,
                context=f"GPU {index} GI {gi_id}",
            )
        )

    def _ci_info(self, index: int, gi_id: int, ci_handle: Any, names: dict[int, str]) -> ComputeInstanceInfo:
        info = self.call("nvmlComputeInstanceGetInfo", ci_handle, context=f"GPU {index} GI {gi_id}")
        profile_id = int(info.profileId)
        return ComputeInstanceInfo(
            gpu_index=index,
            gi_id=gi_id,
            id=int(info.id),
            profile_id=profile_id,
            profile_name=names.get(profile_id, f"CI profile {profile_id}"),
            placement=Placement(int(info.placement.start), int(info.placement.size)),
        )

    def compute_instances(self, index: int, gi_id: int) -> list[ComputeInstanceInfo]:
        """The CIs of GI `gi_id`, by ascending CI ID."""
        gi = self._gi_handle(index, gi_id)
        profiles = self.ci_profiles(index, gi_id)
        names = {p.id: p.name for p in profiles}
        found: list[ComputeInstanceInfo] = []
        for profile in profiles:
            count = ctypes.c_uint(0)
            array = (self._lib.c_nvmlComputeInstance_t * max(1, profile.instance_count))()
            self.call(
                "nvmlGpuInstanceGetComputeInstances", gi, profile.id, array, ctypes.byref(count), context=f"GPU {index} GI {gi_id}"
            )
            found.extend(self._ci_info(index, gi_id, array[i], names) for i in range(count.value))
        return sorted(found, key=lambda c: c.id)

    def create_compute_instance(
        self, index: int, gi_id: int, ci_profile_id: int, placement: Placement | None = None
    ) -> ComputeInstanceInfo:
        gi = self._gi_handle(index, gi_id)
        where = f"GPU {index} GI {gi_id} CI profile {ci_profile_id}"
        if placement is None:
            ci = self.call("nvmlGpuInstanceCreateComputeInstance", gi, ci_profile_id, context=where)
        else:
            wanted = self._lib.c_nvmlComputeInstancePlacement_t(placement.start, placement.size)
            ci = self.call("nvmlGpuInstanceCreateComputeInstanceWithPlacement", gi, ci_profile_id, ctypes.byref(wanted), context=where)
        return self._ci_info(index, gi_id, ci, {p.id: p.name for p in self.ci_profiles(index, gi_id)})

    def destroy_compute_instance(self, index: int, gi_id: int, ci_id: int) -> None:
        gi = self._gi_handle(index, gi_id)
        where = f"GPU {index} GI {gi_id} CI {ci_id}"
        ci = self.call("nvmlGpuInstanceGetComputeInstanceById", gi, ci_id, context=where)
        self.call("nvmlComputeInstanceDestroy", ci, context=where)

    # -- MIG devices ------------------------------------------------------------------------------

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
                if exc.code == _NOT_FOUND:
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
            raise NvmlError(_NOT_FOUND, "nvmlDeviceGetHandleByUUID", context=f"{uuid} is a GPU, not a MIG device")
        parent = self.call("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", h, context=uuid)
        index = int(self.call("nvmlDeviceGetIndex", parent, context=uuid))
        gi_id = int(self.call("nvmlDeviceGetGpuInstanceId", h, context=uuid))
        ci_id = int(self.call("nvmlDeviceGetComputeInstanceId", h, context=uuid))
        for device in self.mig_devices(index):
            if (device.gi_id, device.ci_id) == (gi_id, ci_id):
                return device
        raise NvmlError(_NOT_FOUND, "nvmlDeviceGetMigDeviceHandleByIndex", context=uuid)

    def _ci_profile_id(self, index: int, gi_id: int, ci_id: int) -> int:
        where = f"GPU {index} GI {gi_id} CI {ci_id}"
        ci = self.call("nvmlGpuInstanceGetComputeInstanceById", self._gi_handle(index, gi_id), ci_id, context=where)
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
                used_memory_mib=_mib(p.usedGpuMemory),
                gpu_index=gpu_index,
                gi_id=None if p.gpuInstanceId in (None, _NO_ID) else int(p.gpuInstanceId),
                ci_id=None if p.computeInstanceId in (None, _NO_ID) else int(p.computeInstanceId),
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


def _find_model(name: str, pci_device_id: int) -> GpuModel | None:
    for key in (name, pci_device_id):
        try:
            return find_model(key)
        except CatalogError:
            continue
    return None


class XidEventSet:
    """XID critical errors from NVML's event API; `wait` returns those that arrive within the timeout."""

    def __init__(self, nvml: Nvml, indices: Sequence[int]) -> None:
        self._nvml = nvml
        self._uuids: dict[int, str] = {}
        self._set = nvml.call("nvmlEventSetCreate")
        xid = nvml.lib.nvmlEventTypeXidCriticalError
        try:
            for index in indices:
                h = nvml.handle(index)
                nvml.call("nvmlDeviceRegisterEvents", h, xid, self._set, context=f"GPU {index}")
                self._uuids[index] = str(nvml.call("nvmlDeviceGetUUID", h, context=f"GPU {index}"))
        except NvmlError:
            self.close()
            raise

    def wait(self, timeout_ms: int) -> list[XidEvent]:
        """Events arriving within `timeout_ms` (the first one), plus any already waiting behind it."""
        events: list[XidEvent] = []
        timeout = timeout_ms
        while True:
            try:
                data = self._nvml.call("nvmlEventSetWait", self._set, timeout)
            except NvmlError as exc:
                if exc.code == _TIMEOUT:
                    return events
                raise
            index = int(self._nvml.call("nvmlDeviceGetIndex", data.device))
            events.append(
                XidEvent(
                    gpu_index=index,
                    uuid=self._uuids.get(index) or str(self._nvml.call("nvmlDeviceGetUUID", data.device)),
                    xid=int(data.eventData),
                    gi_id=None if data.gpuInstanceId == _NO_ID else int(data.gpuInstanceId),
                    ci_id=None if data.computeInstanceId == _NO_ID else int(data.computeInstanceId),
                )
            )
            timeout = 0

    def close(self) -> None:
        if self._set is not None:
            s, self._set = self._set, None
            self._nvml.call("nvmlEventSetFree", s)

    def __enter__(self) -> XidEventSet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
