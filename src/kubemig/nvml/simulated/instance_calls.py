"""The simulated NVML's GPU-instance and compute-instance calls: profiles, placements, create,
destroy, list, info."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pynvml

from kubemig.geometry import Placement, ProfileShape
from kubemig.nvml.simulated import driver
from kubemig.nvml.simulated.base import SimulatedNvmlBase, nvml_api
from kubemig.nvml.simulated.driver import fail
from kubemig.nvml.simulated.handles import target_of
from kubemig.nvml.simulated.identity import R470
from kubemig.nvml.simulated.state import GpuState, NodeState

_SUCCESS: int = pynvml.NVML_SUCCESS


def fill_array(array_ref: object, count_ref: object, items: list[Any]) -> None:
    """NVML's array convention: NULL array -> count only; an array too small -> INSUFFICIENT_SIZE."""
    count = target_of(count_ref)
    if count is None:
        fail("INVALID_ARGUMENT")
    array = target_of(array_ref)
    if array is not None:
        if len(array) < len(items):
            count.value = len(items)
            fail("INSUFFICIENT_SIZE")
        for i, item in enumerate(items):
            array[i] = item
    count.value = len(items)


class InstanceCalls(SimulatedNvmlBase):
    # -- GPU instances ----------------------------------------------------------------------------

    def _profile_info(
        self,
        state: NodeState,
        device: object,
        shape_of: Callable[[GpuState, Any], ProfileShape | None],
        version: int,
    ) -> Any:
        found = self._whole_gpu(state, device)
        branch = self._branch(state)
        if version not in (1, 2) or (version == 2 and branch < R470):
            fail("FUNCTION_NOT_FOUND")  # the V entry point arrived with R470
        driver.require_mig(found.gpu_state)
        shape = shape_of(found.gpu_state, driver.geometry(state, found.gpu))
        if shape is None:
            fail("NOT_SUPPORTED")
        profile = shape.profile
        info = (
            pynvml.c_nvmlGpuInstanceProfileInfo_v2_t()
            if version == 2
            else pynvml.c_nvmlGpuInstanceProfileInfo_t()
        )
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

    @nvml_api
    def nvmlDeviceGetGpuInstanceProfileInfo(self, device: object, profile: int, version: int = 2) -> Any:
        if not 0 <= profile < pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT:
            fail("INVALID_ARGUMENT")
        return self._profile_info(
            self._state(),
            device,
            lambda _gpu, geo: next((s for s in geo.shapes if s.profile.index == profile), None),
            version,
        )

    nvmlDeviceGetGpuInstanceProfileInfoV = nvmlDeviceGetGpuInstanceProfileInfo

    @nvml_api
    def nvmlDeviceGetGpuInstanceProfileInfoById(self, device: object, profileId: int) -> Any:
        return self._profile_info(self._state(), device, lambda _gpu, geo: geo.by_id.get(profileId), 2)

    nvmlDeviceGetGpuInstanceProfileInfoByIdV = nvmlDeviceGetGpuInstanceProfileInfoById

    @nvml_api
    def nvmlDeviceGetGpuInstanceRemainingCapacity(self, device: object, profileId: int) -> int:
        state = self._state()
        found = self._whole_gpu(state, device)
        return driver.remaining_gpu_instances(state, found.gpu, profileId)

    @nvml_api
    def nvmlDeviceGetGpuInstancePossiblePlacements(
        self, device: object, profileId: int, placementsRef: object, countRef: object
    ) -> int:
        state = self._state()
        found = self._whole_gpu(state, device)
        driver.require_mig(found.gpu_state)
        shape = driver.gi_shape(driver.geometry(state, found.gpu), profileId)
        fill_array(
            placementsRef,
            countRef,
            [pynvml.c_nvmlGpuInstancePlacement_t(s, shape.size) for s in shape.starts],
        )
        return _SUCCESS

    @nvml_api
    def nvmlDeviceCreateGpuInstance(self, device: object, profileId: int) -> Any:
        with self._store.transaction() as state:
            found = self._whole_gpu(state, device)
            self._configurable(state, found.gpu)
            gi = driver.create_gpu_instance(state, found.gpu, profileId)
            return self._gi_handle(found.gpu, gi)

    @nvml_api
    def nvmlDeviceCreateGpuInstanceWithPlacement(
        self, device: object, profileId: int, placement: object
    ) -> Any:
        wanted = target_of(placement)
        if wanted is None or not hasattr(wanted, "start"):
            fail("INVALID_ARGUMENT")
        with self._store.transaction() as state:
            found = self._whole_gpu(state, device)
            self._configurable(state, found.gpu)
            gi = driver.create_gpu_instance(
                state, found.gpu, profileId, Placement(int(wanted.start), int(wanted.size))
            )
            return self._gi_handle(found.gpu, gi)

    @nvml_api
    def nvmlGpuInstanceDestroy(self, gpuInstance: object) -> int:
        with self._store.transaction() as state:
            gpu, gi = self._gpu_instance(state, gpuInstance)
            self._configurable(state, gpu)
            driver.destroy_gpu_instance(state, gpu, gi.id)
        return _SUCCESS

    @nvml_api
    def nvmlDeviceGetGpuInstances(
        self, device: object, profileId: int, gpuInstancesRef: object, countRef: object
    ) -> int:
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
        fill_array(gpuInstancesRef, countRef, handles)
        return _SUCCESS

    @nvml_api
    def nvmlDeviceGetGpuInstanceById(self, device: object, gpuInstanceId: int) -> Any:
        state = self._state()
        found = self._whole_gpu(state, device)
        driver.require_mig(found.gpu_state)
        gi = found.gpu_state.gpu_instance(gpuInstanceId)
        if gi is None or not self._visible(state).sees_mig(found.gpu, gi.id):
            fail("NOT_FOUND")
        return self._gi_handle(found.gpu, gi)

    @nvml_api
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

    @nvml_api
    def nvmlGpuInstanceGetComputeInstanceProfileInfo(
        self, device: object, profile: int, engProfile: int, version: int = 2
    ) -> Any:
        state = self._state()
        gpu, gi = self._gpu_instance(state, device)
        branch = self._branch(state)
        if version not in (1, 2) or (version == 2 and branch < R470):
            fail("FUNCTION_NOT_FOUND")
        if (
            not 0 <= profile < pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT
            or engProfile != pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED
        ):
            fail("INVALID_ARGUMENT")
        shape = self._shape(state, gpu, gi)
        ci = shape.profile.ci_profile(profile)
        if ci is None:
            fail("NOT_SUPPORTED")
        engines = shape.profile.engines
        info = (
            pynvml.c_nvmlComputeInstanceProfileInfo_v2_t()
            if version == 2
            else pynvml.c_nvmlComputeInstanceProfileInfo_t()
        )
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

    @nvml_api
    def nvmlGpuInstanceGetComputeInstanceRemainingCapacity(self, gpuInstance: object, profileId: int) -> int:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        return driver.remaining_compute_instances(state, gpu, gi, profileId)

    @nvml_api
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
        fill_array(
            placementsRef, countRef, [pynvml.c_nvmlComputeInstancePlacement_t(s, ci.slices) for s in starts]
        )
        return _SUCCESS

    @nvml_api
    def nvmlGpuInstanceCreateComputeInstance(self, gpuInstance: object, profileId: int) -> Any:
        with self._store.transaction() as state:
            gpu, gi = self._gpu_instance(state, gpuInstance)
            self._configurable(state, gpu)
            ci = driver.create_compute_instance(state, gpu, gi, profileId)
            return self._ci_handle(gpu, gi, ci)

    @nvml_api
    def nvmlGpuInstanceCreateComputeInstanceWithPlacement(
        self, gpuInstance: object, profileId: int, placement: object
    ) -> Any:
        wanted = target_of(placement)
        if wanted is None or not hasattr(wanted, "start"):
            fail("INVALID_ARGUMENT")
        with self._store.transaction() as state:
            gpu, gi = self._gpu_instance(state, gpuInstance)
            self._configurable(state, gpu)
            ci = driver.create_compute_instance(
                state, gpu, gi, profileId, int(wanted.start), int(wanted.size)
            )
            return self._ci_handle(gpu, gi, ci)

    @nvml_api
    def nvmlComputeInstanceDestroy(self, computeInstance: object) -> int:
        with self._store.transaction() as state:
            gpu, gi, ci = self._compute_instance(state, computeInstance)
            self._configurable(state, gpu)
            driver.destroy_compute_instance(state, gpu, gi, ci.id)
        return _SUCCESS

    @nvml_api
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
        fill_array(computeInstancesRef, countRef, handles)
        return _SUCCESS

    @nvml_api
    def nvmlGpuInstanceGetComputeInstanceById(self, gpuInstance: object, computeInstanceId: int) -> Any:
        state = self._state()
        gpu, gi = self._gpu_instance(state, gpuInstance)
        ci = gi.compute_instance(computeInstanceId)
        if ci is None or not self._visible(state).sees_mig(gpu, gi.id, ci.id):
            fail("NOT_FOUND")
        return self._ci_handle(gpu, gi, ci)

    @nvml_api
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

    @nvml_api
    def nvmlComputeInstanceGetInfo(self, computeInstance: object) -> Any:
        return self.nvmlComputeInstanceGetInfo_v2(computeInstance)
