"""Device health from XID events: scoped to what the event names, and recoverable.

- An event naming a GI and CI marks that MIG device; one naming only a GI marks every MIG device of
  that GI; a GPU-wide event marks the GPU and every MIG device on it (NVIDIA's plugin checks only the
  device it was watching and misses the siblings).
- XIDs in `HealthConfig.ignored_xids` (NVIDIA's defaults 13, 31, 43, 45, 68, 109, changed with
  `DP_DISABLE_HEALTHCHECKS` / `DP_ENABLE_HEALTHCHECKS`) mark nothing.
- A device is healthy again after `recovery_s` with no new event for it (NVIDIA's never recovers),
  or once it is gone from the node: a GPU reset destroys every GPU instance, so MIG devices created
  after it start healthy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kubemig.deviceplugin.config import HealthConfig
from kubemig.deviceplugin.devices import GpuView


@dataclass(frozen=True, slots=True)
class XidNotice:
    """An XID critical error as the driver reported it; `gi_id`/`ci_id` None when it names none."""

    gpu_index: int
    xid: int
    gi_id: int | None = None
    ci_id: int | None = None

    def scope(self) -> str:
        if self.gi_id is None:
            return f"GPU {self.gpu_index}"
        ci = f" CI {self.ci_id}" if self.ci_id is not None else ""
        return f"GPU {self.gpu_index} GI {self.gi_id}{ci}"


@dataclass(frozen=True, slots=True)
class _Mark:
    xid: int
    last_s: float
    scope: str


class HealthTracker:
    """Thread-safe: XID events arrive on one thread while gRPC threads ask for health."""

    def __init__(self, config: HealthConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._marks: dict[str, _Mark] = {}
        self._lock = threading.Lock()

    def affected(self, event: XidNotice, gpus: Sequence[GpuView]) -> list[str]:
        """The device UUIDs an event concerns, whether or not its XID is ignored."""
        gpu = next((g for g in gpus if g.index == event.gpu_index), None)
        if gpu is None:
            return []
        if event.gi_id is None:
            return [gpu.uuid, *(s.uuid for s in gpu.mig_devices)]
        return [
            s.uuid
            for s in gpu.mig_devices
            if s.gi_id == event.gi_id and (event.ci_id is None or s.ci_id == event.ci_id)
        ]

    def record(self, event: XidNotice, gpus: Sequence[GpuView]) -> list[str]:
        """Mark the devices the event concerns unhealthy; returns them ([] for an ignored XID)."""
        if not self.config.enabled or event.xid in self.config.ignored_xids:
            return []
        now = self._clock()
        marked = self.affected(event, gpus)
        with self._lock:
            for uuid in marked:
                self._marks[uuid] = _Mark(event.xid, now, event.scope())
        return marked

    def recover(self) -> list[str]:
        """Clear marks older than the quiet period; returns the devices that are healthy again."""
        if self.config.recovery_s <= 0:
            return []
        now = self._clock()
        with self._lock:
            quiet = [u for u, m in self._marks.items() if now - m.last_s >= self.config.recovery_s]
            for uuid in quiet:
                del self._marks[uuid]
        return quiet

    def forget_missing(self, present: Iterable[str]) -> list[str]:
        """Drop the marks of devices no longer on the node (destroyed, or reset with their GPU)."""
        keep = set(present)
        with self._lock:
            gone = [u for u in self._marks if u not in keep]
            for uuid in gone:
                del self._marks[uuid]
        return gone

    def unhealthy(self) -> dict[str, str]:
        """UUID -> why, e.g. `XID 79 on GPU 0 GI 7`."""
        with self._lock:
            return {u: f"XID {m.xid} on {m.scope}" for u, m in self._marks.items()}
