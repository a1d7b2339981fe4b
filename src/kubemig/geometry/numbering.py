"""What the driver decides by itself: the GPU-instance ID of a placement, and the placement it picks
when a GI is created without one (mig-facts sections 4 and 5)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from kubemig.geometry.place import preference
from kubemig.geometry.rules import can_add
from kubemig.geometry.shapes import GpuGeometry, Instance, Placement, ProfileShape


class Numbering(str, Enum):
    """How a board numbers its GI slots; real boards of one model differ, so it is per GPU."""

    DIRECT = "direct"
    SWAPPED = "swapped"


def gi_id(geo: GpuGeometry, placement: Placement, numbering: Numbering = Numbering.DIRECT) -> int:
    """The driver's partition number for `placement`: a binary heap over the memory slices.

    Whole GPU 0, halves 1-2, quarters 3-6, single slices 7-14 (on 8 slices); the swapped variant
    numbers `start XOR half` instead, which exchanges the two halves.
    """
    slices = geo.model.memory_slices
    size = max(1, placement.size // geo.units_per_slice)
    start = placement.start // geo.units_per_slice
    if size >= slices:
        return 0
    if numbering is Numbering.SWAPPED:
        start ^= slices // 2
    return (slices // size - 1) + start // size


def default_start(geo: GpuGeometry, shape: ProfileShape, present: Iterable[Instance]) -> int | None:
    """The start the driver takes for a new `shape` GI created without a placement, or None if full."""
    items = list(present)
    for start in preference(shape):
        if can_add(geo, items, shape, start):
            return start
    return None
