"""The simulated NVML's process and event calls: running processes per device, and XID events
delivered to event sets."""

from __future__ import annotations

import time
from typing import Any

import pynvml

from kubemig.nvml.simulated.base import MIB, NO_ID, EventSet, SimulatedNvmlBase, nvml_api
from kubemig.nvml.simulated.driver import fail
from kubemig.nvml.simulated.handles import HandleKind, HandleRef, make_handle, read_handle

_SUPPORTED_EVENTS: int = (
    pynvml.nvmlEventTypeSingleBitEccError
    | pynvml.nvmlEventTypeDoubleBitEccError
    | pynvml.nvmlEventTypePState
    | pynvml.nvmlEventTypeXidCriticalError
    | pynvml.nvmlEventTypeClock
)
_POLL_S = 0.02


class ProcessEventCalls(SimulatedNvmlBase):
    # -- processes --------------------------------------------------------------------------------

    @nvml_api
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

    @nvml_api
    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[Any]:
        return self.nvmlDeviceGetComputeRunningProcesses_v3(handle)

    # -- events -----------------------------------------------------------------------------------

    @nvml_api
    def nvmlEventSetCreate(self) -> Any:
        number = self._next_event_set
        self._next_event_set += 1
        # like the driver, a set hears only of events that happen after it exists
        self._event_sets[number] = EventSet(cursor=self._state().last_event_seq)
        return make_handle(pynvml.c_nvmlEventSet_t, HandleRef(HandleKind.EVENT_SET, serial=number))

    def _event_set(self, eventSet: object) -> EventSet:
        ref = read_handle(eventSet)
        found = self._event_sets.get(ref.serial) if ref.kind is HandleKind.EVENT_SET else None
        if found is None:
            fail("INVALID_ARGUMENT")
        return found

    @nvml_api
    def nvmlDeviceGetSupportedEventTypes(self, handle: object) -> int:
        self._whole_gpu(self._state(), handle)
        return _SUPPORTED_EVENTS

    @nvml_api
    def nvmlDeviceRegisterEvents(self, handle: object, eventTypes: int, eventSet: object) -> None:
        found = self._device(self._state(), handle)
        if eventTypes & ~_SUPPORTED_EVENTS:
            fail("NOT_SUPPORTED")
        events = self._event_set(eventSet)
        events.registered[found.gpu] = events.registered.get(found.gpu, 0) | eventTypes

    @nvml_api
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

    @nvml_api
    def nvmlEventSetWait(self, eventSet: object, timeoutms: int) -> Any:
        return self.nvmlEventSetWait_v2(eventSet, timeoutms)

    @nvml_api
    def nvmlEventSetFree(self, eventSet: object) -> None:
        ref = read_handle(eventSet)
        if self._event_sets.pop(ref.serial, None) is None:
            fail("INVALID_ARGUMENT")
