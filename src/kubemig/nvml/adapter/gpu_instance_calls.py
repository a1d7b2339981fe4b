"""GPU instances: the profiles and placements the driver offers, the GIs that exist, creating and
destroying them, and the layout they form."""

from __future__ import annotations

import ctypes
from typing import Any

from kubemig.errors import KubemigError
from kubemig.geometry import Layout, Placement
from kubemig.nvml.adapter.core import FUNCTION_NOT_FOUND, INVALID_ARGUMENT, NOT_SUPPORTED, strip_mig
from kubemig.nvml.adapter.gpu_calls import GpuCalls
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import GiProfileInfo, GpuInstanceInfo


class GpuInstanceCalls(GpuCalls):
    """GPU instances by GPU index and GI ID. The GI profiles are read once per GPU and MIG mode."""

    # -- GPU instance profiles ----------------------------------------------------------------------

    def gi_profiles(self, index: int) -> list[GiProfileInfo]:
        """The GI profiles the driver offers on GPU `index`, in nvidia-smi's order (slices, memory, ID).
        NvmlError NOT_SUPPORTED while MIG is off, as NVML answers then."""
        if index not in self._gi_profiles:
            h = self.handle(index)
            current, _pending = self.call("nvmlDeviceGetMigMode", h, context=f"GPU {index}")
            if not current:
                raise NvmlError(
                    NOT_SUPPORTED,
                    "nvmlDeviceGetGpuInstanceProfileInfo",
                    context=f"GPU {index} (MIG mode off)",
                )
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
                name = strip_mig(str(info.name))
            except NvmlError as exc:
                if exc.code != FUNCTION_NOT_FOUND:
                    raise
                # drivers before R470 have no versioned call and no names: the catalog has them
                info = self.call("nvmlDeviceGetGpuInstanceProfileInfo", h, constant, 1, context=where)
                name = self._catalog_profile_name(index, int(info.id))
        except NvmlError as exc:
            if exc.code in (NOT_SUPPORTED, INVALID_ARGUMENT):
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
        raise NvmlError(
            INVALID_ARGUMENT,
            "nvmlDeviceGetGpuInstanceProfileInfo",
            context=f"GPU {index} profile ID {profile_id}",
        )

    def gi_placements(self, index: int, profile_id: int) -> list[Placement]:
        """Every placement NVML allows for the profile (free or not), in NVML's order."""
        h = self.handle(index)
        where = f"GPU {index} profile ID {profile_id}"
        count = ctypes.c_uint(0)
        self.call(
            "nvmlDeviceGetGpuInstancePossiblePlacements",
            h,
            profile_id,
            None,
            ctypes.byref(count),
            context=where,
        )
        array = (self._lib.c_nvmlGpuInstancePlacement_t * max(1, count.value))()
        self.call(
            "nvmlDeviceGetGpuInstancePossiblePlacements",
            h,
            profile_id,
            array,
            ctypes.byref(count),
            context=where,
        )
        return [Placement(int(array[i].start), int(array[i].size)) for i in range(count.value)]

    def gi_remaining(self, index: int, profile_id: int) -> int:
        """How many more GIs of the profile fit now (nvidia-smi's `Free`)."""
        return int(
            self.call(
                "nvmlDeviceGetGpuInstanceRemainingCapacity",
                self.handle(index),
                profile_id,
                context=f"GPU {index}",
            )
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
            self.call(
                "nvmlDeviceGetGpuInstances", h, profile.id, array, ctypes.byref(count), context=f"GPU {index}"
            )
            found.extend(self._gi_info(index, array[i]) for i in range(count.value))
        return sorted(found, key=lambda g: g.id)

    def _gi_handle(self, index: int, gi_id: int) -> Any:
        return self.call(
            "nvmlDeviceGetGpuInstanceById", self.handle(index), gi_id, context=f"GPU {index} GI {gi_id}"
        )

    def gpu_instance(self, index: int, gi_id: int) -> GpuInstanceInfo:
        return self._gi_info(index, self._gi_handle(index, gi_id))

    def create_gpu_instance(
        self, index: int, profile_id: int, placement: Placement | None = None
    ) -> GpuInstanceInfo:
        """A new GI of `profile_id`, at `placement` or where the driver's preference puts it."""
        h = self.handle(index)
        where = f"GPU {index} profile ID {profile_id}" + (f" at {placement}" if placement else "")
        if placement is None:
            gi = self.call("nvmlDeviceCreateGpuInstance", h, profile_id, context=where)
        else:
            wanted = self._lib.c_nvmlGpuInstancePlacement_t(placement.start, placement.size)
            gi = self.call(
                "nvmlDeviceCreateGpuInstanceWithPlacement", h, profile_id, ctypes.byref(wanted), context=where
            )
        return self._gi_info(index, gi)

    def destroy_gpu_instance(self, index: int, gi_id: int) -> None:
        self.call("nvmlGpuInstanceDestroy", self._gi_handle(index, gi_id), context=f"GPU {index} GI {gi_id}")

    def layout(self, index: int) -> Layout:
        """The GPU instances that exist on GPU `index`, as a layout the layout engine reasons about."""
        geo = self.geometry(index)
        instances = self.gpu_instances(index)
        unknown = sorted({gi.profile_id for gi in instances} - set(geo.by_id))
        if unknown:
            raise KubemigError(
                f"GPU {index} has GPU instances of profile ID {', '.join(map(str, unknown))}, which "
                f"{geo.label} does not list in kubemig's catalog: the catalog needs this driver's profiles"
            )
        return Layout.of(geo.instance(gi.profile_id, gi.placement.start) for gi in instances)
