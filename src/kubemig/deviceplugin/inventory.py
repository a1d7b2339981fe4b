"""The node read through the NVML adapter: the one place the device plugin talks to NVML.

    source = NvmlNode(lambda: open_nvml(sim_spec))   # a NodeSource for DevicePlugin; opens on first read
    gpus = source.read()                       # GpuView per GPU, MIG devices included
    events = source.wait_events(0.5)           # XID critical errors

Reading every MIG device's details takes dozens of NVML calls per GPU, so each poll first asks for
a fingerprint (MIG mode, and each MIG device's UUID and name) and reads details only for the GPUs
whose fingerprint changed. A MIG UUID is fixed by the board, GI ID and CI ID and the name carries
the profile, so an unchanged fingerprint means unchanged devices.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from kubemig.deviceplugin.devices import GpuView, MigSlot, placement_blocks
from kubemig.deviceplugin.health import XidNotice
from kubemig.errors import KubemigError
from kubemig.geometry import Placement, geometry_for
from kubemig.nvml import GpuInfo, MigDeviceInfo, Nvml, NvmlError, XidEventSet

_NOT_FOUND = "NOT_FOUND"
_NOT_SUPPORTED = "NOT_SUPPORTED"

Fingerprint = tuple[bool, tuple[tuple[str, str], ...]]


class NvmlNode:
    """A NodeSource over the adapter that `opener` returns. It opens NVML on the first read (and again
    after a failure), so a plugin told not to fail on init errors waits for the driver to appear."""

    def __init__(self, opener: Callable[[], Nvml]) -> None:
        self._opener = opener
        self._nvml: Nvml | None = None
        self._driver: str | None = None
        self._gpus: dict[int, GpuInfo] = {}
        self._views: dict[int, tuple[Fingerprint, GpuView]] = {}
        self._events: XidEventSet | None = None

    @property
    def nvml(self) -> Nvml:
        if self._nvml is None:
            self._nvml = self._opener()
        return self._nvml

    def read(self) -> tuple[GpuView, ...]:
        try:
            return self._read()
        except KubemigError:
            self._forget()
            raise

    def _read(self) -> tuple[GpuView, ...]:
        if self._driver is None:
            self._driver = self.nvml.driver_version()
        count = self.nvml.device_count()
        if count != len(self._gpus):
            self._gpus = {gpu.index: gpu for gpu in self.nvml.gpus()}
            self._views.clear()
            self._close_events()
        if self._events is None:
            # from the first read on, so no XID in between is missed
            self._events = self.nvml.event_set()
        views = []
        for index, gpu in sorted(self._gpus.items()):
            fingerprint = self._fingerprint(index)
            cached = self._views.get(index)
            if cached is None or cached[0] != fingerprint:
                cached = (fingerprint, self._view(gpu, mig_enabled=fingerprint[0]))
                self._views[index] = cached
            views.append(cached[1])
        return tuple(views)

    def wait_events(self, timeout_s: float) -> list[XidNotice]:
        if self._events is None:
            # not open (yet): nothing to hear, but keep the loop's pace
            time.sleep(timeout_s)
            return []
        try:
            events = self._events.wait(max(0, round(timeout_s * 1000)))
        except KubemigError:
            self._forget()
            raise
        return [XidNotice(e.gpu_index, e.xid, e.gi_id, e.ci_id) for e in events]

    def close(self) -> None:
        self._forget()

    def _forget(self) -> None:
        """Drop everything opened, so the next read starts afresh."""
        self._close_events()
        nvml, self._nvml = self._nvml, None
        self._driver = None
        self._gpus.clear()
        self._views.clear()
        if nvml is not None:
            with contextlib.suppress(KubemigError):
                nvml.close()

    def _close_events(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            with contextlib.suppress(KubemigError):
                events.close()

    def _fingerprint(self, index: int) -> Fingerprint:
        handle = self.nvml.handle(index)
        where = f"GPU {index}"
        try:
            current, _pending = self.nvml.call("nvmlDeviceGetMigMode", handle, context=where)
        except NvmlError as exc:
            if exc.name == _NOT_SUPPORTED:
                return (False, ())
            raise
        if not current:
            return (False, ())
        devices = []
        for mig_index in range(int(self.nvml.call("nvmlDeviceGetMaxMigDeviceCount", handle, context=where))):
            try:
                mig = self.nvml.call("nvmlDeviceGetMigDeviceHandleByIndex", handle, mig_index, context=where)
            except NvmlError as exc:
                if exc.name == _NOT_FOUND:
                    continue
                raise
            uuid = str(self.nvml.call("nvmlDeviceGetUUID", mig, context=where))
            devices.append((uuid, str(self.nvml.call("nvmlDeviceGetName", mig, context=where))))
        return (True, tuple(devices))

    def _view(self, gpu: GpuInfo, *, mig_enabled: bool) -> GpuView:
        blocks: tuple[Placement, ...] = ()
        if gpu.model is not None:
            blocks = placement_blocks(geometry_for(gpu.model, self._driver))
        slots: tuple[MigSlot, ...] = ()
        if mig_enabled:
            slots = tuple(mig_slot(m) for m in self.nvml.mig_devices(gpu.index))
        return GpuView(
            index=gpu.index,
            uuid=gpu.uuid,
            minor=gpu.minor_number,
            product_name=gpu.name,
            mig_enabled=mig_enabled,
            blocks=blocks,
            mig_devices=slots,
        )


def mig_slot(device: MigDeviceInfo) -> MigSlot:
    """The plugin's view of one MIG device the adapter read."""
    return MigSlot(
        gpu_index=device.gpu_index,
        index=device.index,
        uuid=device.uuid,
        gi_id=device.gi_id,
        ci_id=device.ci_id,
        profile=device.profile_name,
        placement=device.placement,
    )
