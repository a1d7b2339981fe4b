"""Independent, slow answers to what the layout engine computes, straight from the catalog data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache

from kubemig.geometry import GpuGeometry, Instance, geometry_for


def is_valid(geo: GpuGeometry, instances: Iterable[Instance]) -> bool:
    items = list(instances)
    used = [0] * geo.units
    for inst in items:
        profile = geo.by_id.get(inst.profile_id)
        if profile is None or inst.start not in profile.profile.placements.starts:
            return False
        if inst.size != profile.profile.placements.size:
            return False
        for unit in range(inst.start, inst.start + inst.size):
            used[unit] += 1
    if any(u > 1 for u in used):
        return False
    counts = Counter(i.profile_id for i in items)
    if any(n > geo.by_id[pid].profile.instances for pid, n in counts.items()):
        return False
    if sum(1 for i in items if geo.by_id[i.profile_id].profile.media_extension) > 1:
        return False
    for rule in geo.model.layout_rules:
        if geo.branch < rule.until_driver and sum(1 for pid in rule.not_together if pid in counts) > 1:
            return False
    return True


def all_layouts(geo: GpuGeometry, profile_ids: Iterable[int] | None = None) -> set[frozenset[Instance]]:
    """Every valid layout by tiling the units left to right (a different walk than the engine's)."""
    ids = frozenset(geo.by_id) if profile_ids is None else frozenset(profile_ids)
    return set(_all_layouts(geo.model.key, geo.branch, ids))


def layouts_in_order(geo: GpuGeometry) -> list[frozenset[Instance]]:
    """`all_layouts` in a fixed order, for hypothesis to draw from (sorted once per run)."""
    return list(_in_order(geo.model.key, geo.branch))


@cache
def _in_order(model_key: str, branch: int) -> tuple[frozenset[Instance], ...]:
    return tuple(
        sorted(_all_layouts(model_key, branch, frozenset(geometry_for(model_key, branch).by_id)), key=sorted)
    )


@cache
def _all_layouts(model_key: str, branch: int, ids: frozenset[int]) -> frozenset[frozenset[Instance]]:
    geo = geometry_for(model_key, branch)
    by_start: dict[int, list[Instance]] = {}
    for pid in ids:
        shape = geo.by_id[pid]
        for start in shape.starts:
            by_start.setdefault(start, []).append(shape.at(start))
    found: set[frozenset[Instance]] = set()

    def walk(unit: int, chosen: list[Instance]) -> None:
        if unit >= geo.units:
            if chosen and is_valid(geo, chosen):
                found.add(frozenset(chosen))
            return
        walk(unit + 1, chosen)
        for inst in by_start.get(unit, []):
            walk(unit + inst.size, [*chosen, inst])

    walk(0, [])
    return frozenset(found)
