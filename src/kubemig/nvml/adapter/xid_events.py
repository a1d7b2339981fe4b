"""XID critical errors through NVML's event API."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from kubemig.nvml.adapter.core import NO_ID, TIMEOUT, NvmlCore
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import XidEvent


class XidEventSet:
    """XID critical errors from NVML's event API; `wait` returns those that arrive within the timeout."""

    def __init__(self, nvml: NvmlCore, indices: Sequence[int]) -> None:
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
                if exc.code == TIMEOUT:
                    return events
                raise
            index = int(self._nvml.call("nvmlDeviceGetIndex", data.device))
            events.append(
                XidEvent(
                    gpu_index=index,
                    uuid=self._uuids.get(index) or str(self._nvml.call("nvmlDeviceGetUUID", data.device)),
                    xid=int(data.eventData),
                    gi_id=None if data.gpuInstanceId == NO_ID else int(data.gpuInstanceId),
                    ci_id=None if data.computeInstanceId == NO_ID else int(data.computeInstanceId),
                )
            )
            timeout = 0

    def close(self) -> None:
        if self._set is not None:
            s, self._set = self._set, None
            self._nvml.call("nvmlEventSetFree", s)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
