"""Compute instances inside a GPU instance: their profiles and placements, the CIs that exist,
creating and destroying them."""

from __future__ import annotations

import ctypes
from typing import Any

from kubemig.geometry import Placement
from kubemig.nvml.adapter.core import FUNCTION_NOT_FOUND, INVALID_ARGUMENT, NOT_SUPPORTED, strip_mig
from kubemig.nvml.adapter.gpu_instance_calls import GpuInstanceCalls
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import CiProfileInfo, ComputeInstanceInfo


class ComputeInstanceCalls(GpuInstanceCalls):
    """Compute instances by GPU index, GI ID and CI ID."""

    def ci_profiles(self, index: int, gi_id: int) -> list[CiProfileInfo]:
        gi = self._gi_handle(index, gi_id)
        where = f"GPU {index} GI {gi_id}"
        shared = self._lib.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED
        found = []
        for constant in range(int(self._lib.NVML_COMPUTE_INSTANCE_PROFILE_COUNT)):
            try:
                try:
                    info = self.call(
                        "nvmlGpuInstanceGetComputeInstanceProfileInfo", gi, constant, shared, context=where
                    )
                    name = strip_mig(str(info.name))
                except NvmlError as exc:
                    if exc.code != FUNCTION_NOT_FOUND:
                        raise
                    info = self.call(
                        "nvmlGpuInstanceGetComputeInstanceProfileInfo", gi, constant, shared, 1, context=where
                    )
                    name = self._catalog_ci_name(index, gi_id, int(info.id))
            except NvmlError as exc:
                if exc.code in (NOT_SUPPORTED, INVALID_ARGUMENT):
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
                "nvmlGpuInstanceGetComputeInstances",
                gi,
                profile.id,
                array,
                ctypes.byref(count),
                context=f"GPU {index} GI {gi_id}",
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
            ci = self.call(
                "nvmlGpuInstanceCreateComputeInstanceWithPlacement",
                gi,
                ci_profile_id,
                ctypes.byref(wanted),
                context=where,
            )
        return self._ci_info(index, gi_id, ci, {p.id: p.name for p in self.ci_profiles(index, gi_id)})

    def destroy_compute_instance(self, index: int, gi_id: int, ci_id: int) -> None:
        gi = self._gi_handle(index, gi_id)
        where = f"GPU {index} GI {gi_id} CI {ci_id}"
        ci = self.call("nvmlGpuInstanceGetComputeInstanceById", gi, ci_id, context=where)
        self.call("nvmlComputeInstanceDestroy", ci, context=where)
