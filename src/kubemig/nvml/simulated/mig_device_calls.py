"""The simulated NVML's MIG mode and MIG device calls: the mode switch, MIG device handles and IDs,
and device attributes."""

from __future__ import annotations

import ctypes
from typing import Any

import pynvml

from kubemig.nvml.simulated import driver
from kubemig.nvml.simulated.base import SimulatedNvmlBase, nvml_api
from kubemig.nvml.simulated.driver import fail


class MigDeviceCalls(SimulatedNvmlBase):
    # -- MIG mode ---------------------------------------------------------------------------------

    @nvml_api
    def nvmlDeviceGetMigMode(self, device: object) -> list[int]:
        found = self._whole_gpu(self._state(), device)
        return [int(found.gpu_state.mig_current), int(found.gpu_state.mig_pending)]

    @nvml_api
    def nvmlDeviceSetMigMode(self, device: object, mode: int) -> int:
        if mode not in (pynvml.NVML_DEVICE_MIG_DISABLE, pynvml.NVML_DEVICE_MIG_ENABLE):
            fail("INVALID_ARGUMENT")
        with self._store.transaction() as state:
            found = self._whole_gpu(state, device)
            self._configurable(state, found.gpu)
            return driver.set_mig_mode(state, found.gpu, bool(mode))

    # -- MIG devices ------------------------------------------------------------------------------

    @nvml_api
    def nvmlDeviceIsMigDeviceHandle(self, device: object) -> Any:
        # pynvml returns the c_uint itself here, not its value
        return ctypes.c_uint(int(self._device(self._state(), device).gi is not None))

    @nvml_api
    def nvmlDeviceGetGpuInstanceId(self, device: object) -> int:
        found = self._device(self._state(), device)
        if found.gi is None:
            fail("NOT_SUPPORTED")
        return found.gi.id

    @nvml_api
    def nvmlDeviceGetComputeInstanceId(self, device: object) -> int:
        found = self._device(self._state(), device)
        if found.ci is None:
            fail("NOT_SUPPORTED")
        return found.ci.id

    @nvml_api
    def nvmlDeviceGetMaxMigDeviceCount(self, device: object) -> int:
        return self._whole_gpu(self._state(), device).model.compute_slices

    @nvml_api
    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: object, index: int) -> Any:
        state = self._state()
        found = self._whole_gpu(state, device)
        if not 0 <= index < found.model.compute_slices:
            fail("INVALID_ARGUMENT")
        if not found.gpu_state.mig_current:
            fail("NOT_SUPPORTED")
        view = self._visible(state)
        pairs = [
            (gi, ci)
            for gi, ci in driver.mig_device_pairs(found.gpu_state)
            if view.sees_mig(found.gpu, gi.id, ci.id)
        ]
        if index >= len(pairs):
            fail("NOT_FOUND")
        return self._mig_handle(found.gpu, *pairs[index])

    @nvml_api
    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice: object) -> Any:
        found = self._device(self._state(), migDevice)
        if found.gi is None:
            fail("INVALID_ARGUMENT")
        return self._gpu_handle(found.gpu)

    @nvml_api
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

    @nvml_api
    def nvmlDeviceGetAttributes(self, device: object) -> Any:
        return self.nvmlDeviceGetAttributes_v2(device)
