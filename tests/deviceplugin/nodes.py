"""Hand-built nodes for tests that need no driver: GPUs cut by layout specs, and a NodeSource over them."""

from __future__ import annotations

import queue
import threading
import uuid

from kubemig.deviceplugin.devices import GpuView, MigSlot, placement_blocks
from kubemig.deviceplugin.health import XidNotice
from kubemig.errors import KubemigError
from kubemig.geometry import geometry_for, gi_id, parse_layout_spec, validate

MODEL = "A100-SXM4-40GB"
DEMO_LAYOUT = "3g.20gb,2g.10gb,1g.5gb,1g.5gb"


def gpu_view(index: int, layout: str | None, model: str = MODEL) -> GpuView:
    """GPU `index` with MIG disabled (layout None) or enabled and cut as `layout` (full-GI CIs)."""
    geo = geometry_for(model)
    gpu_uuid = f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'test/{index}')}"
    slots: list[MigSlot] = []
    if layout is not None:
        instances = sorted(
            validate(geo, parse_layout_spec(layout)) if layout else (), key=lambda i: gi_id(geo, i.placement)
        )
        for mig_index, instance in enumerate(instances):
            gi = gi_id(geo, instance.placement)
            slots.append(
                MigSlot(
                    gpu_index=index,
                    index=mig_index,
                    uuid=f"MIG-{uuid.uuid5(uuid.NAMESPACE_DNS, f'test/{index}/{gi}/0')}",
                    gi_id=gi,
                    ci_id=0,
                    profile=instance.name,
                    placement=instance.placement,
                )
            )
    return GpuView(
        index=index,
        uuid=gpu_uuid,
        minor=index,
        product_name=geo.model.product_name,
        mig_enabled=layout is not None,
        blocks=placement_blocks(geo),
        mig_devices=tuple(slots),
    )


def node(*layouts: str | None) -> tuple[GpuView, ...]:
    return tuple(gpu_view(i, layout) for i, layout in enumerate(layouts))


class FakeNode:
    """A NodeSource whose GPUs a test sets, with XID events it injects."""

    def __init__(self, gpus: tuple[GpuView, ...]) -> None:
        self.gpus = gpus
        self.failing: str | None = None
        self._events: queue.Queue[XidNotice] = queue.Queue()
        self._lock = threading.Lock()
        self.closed = False

    def set(self, gpus: tuple[GpuView, ...]) -> None:
        with self._lock:
            self.gpus = gpus

    def inject(self, event: XidNotice) -> None:
        self._events.put(event)

    def read(self) -> tuple[GpuView, ...]:
        if self.failing:
            raise KubemigError(self.failing)
        with self._lock:
            return self.gpus

    def wait_events(self, timeout_s: float) -> list[XidNotice]:
        try:
            events = [self._events.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while not self._events.empty():
            events.append(self._events.get_nowait())
        return events

    def close(self) -> None:
        self.closed = True
