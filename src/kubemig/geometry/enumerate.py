"""Every valid layout of a GPU, the maximal ones, and how many more of each profile still fit."""

from __future__ import annotations

from collections.abc import Iterable

from kubemig.geometry.rules import can_add
from kubemig.geometry.shapes import GpuGeometry, Instance, Layout, ProfileShape


def _considered(geo: GpuGeometry, profiles: Iterable[ProfileShape] | None) -> list[ProfileShape]:
    return list(geo.shapes) if profiles is None else sorted(set(profiles), key=geo.shapes.index)


def enumerate_layouts(geo: GpuGeometry, profiles: Iterable[ProfileShape] | None = None) -> list[Layout]:
    """Every non-empty valid layout built from `profiles` (default: all the GPU offers), each once."""
    shapes = _considered(geo, profiles)
    candidates = sorted(
        ((s, start) for s in shapes for start in s.starts),
        key=lambda c: (c[1], -c[0].size, geo.shapes.index(c[0])),
    )
    masks = [((1 << s.size) - 1) << start for s, start in candidates]
    forbidden = {(a, b) for a, b, _ in geo.forbidden_pairs} | {(b, a) for a, b, _ in geo.forbidden_pairs}
    out: list[Layout] = []
    chosen: list[Instance] = []
    counts: dict[int, int] = {}

    def extend(first: int, mask: int, media: bool) -> None:
        for j in range(first, len(candidates)):
            shape, start = candidates[j]
            if masks[j] & mask or counts.get(shape.id, 0) >= shape.instances:
                continue
            if shape.media_extension and media:
                continue
            if forbidden and any((shape.id, other) in forbidden for other in counts if counts[other]):
                continue
            chosen.append(shape.at(start))
            counts[shape.id] = counts.get(shape.id, 0) + 1
            out.append(Layout(tuple(sorted(chosen))))
            extend(j + 1, mask | masks[j], media or shape.media_extension)
            counts[shape.id] -= 1
            chosen.pop()

    extend(0, 0, False)
    return out


def is_maximal(geo: GpuGeometry, layout: Layout, profiles: Iterable[ProfileShape] | None = None) -> bool:
    """No instance of the considered profiles can be added to `layout`."""
    return not any(
        can_add(geo, layout.instances, shape, start)
        for shape in _considered(geo, profiles)
        for start in shape.starts
    )


def maximal_layouts(geo: GpuGeometry, profiles: Iterable[ProfileShape] | None = None) -> list[Layout]:
    shapes = _considered(geo, profiles)
    return [layout for layout in enumerate_layouts(geo, shapes) if is_maximal(geo, layout, shapes)]


def free_counts(geo: GpuGeometry, layout: Layout) -> dict[int, tuple[int, int]]:
    """Profile ID -> (Free, Total) as `nvidia-smi mig -lgip` shows: instances that can still be created."""
    result = {}
    for shape in geo.shapes:
        free = sum(1 for start in shape.starts if can_add(geo, layout.instances, shape, start))
        if free:
            free = min(free, shape.instances - layout.count(shape.id))
        result[shape.id] = (max(free, 0), shape.instances)
    return result
