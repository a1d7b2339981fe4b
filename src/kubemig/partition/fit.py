"""What fits on a GPU, said the way a config file says it (`{3g.20gb: 2}`), for messages that offer a fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache

from kubemig.geometry import GpuGeometry, Layout, ProfileShape, geometry_for, maximal_layouts, place


def classic_profiles(geo: GpuGeometry) -> tuple[ProfileShape, ...]:
    """One plain profile per compute size (no media extension or other attribute), the one a GPU offers
    most instances of: 1g.5gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb on an A100-40GB."""
    chosen: dict[int, ProfileShape] = {}
    for shape in geo.shapes:  # listing order: smaller memory first, so ties keep the smaller profile
        if shape.media_extension or "+" in shape.name or "-" in shape.name:
            continue
        best = chosen.get(shape.compute_slices)
        if best is None or shape.instances > best.instances:
            chosen[shape.compute_slices] = shape
    return tuple(chosen[c] for c in sorted(chosen))


def room_for(geo: GpuGeometry, shape: ProfileShape) -> int:
    """How many instances of `shape` fit on an empty GPU (its limit, or fewer where placements overlap)."""
    return _room(geo.model.key, geo.branch, shape.id)


# geometries hold dicts and do not hash: caches key on (model, driver branch) instead
@cache
def _room(model_key: str, branch: int, profile_id: int) -> int:
    geo = geometry_for(model_key, branch)
    shape = geo.shape(profile_id)
    for n in range(shape.instances, 0, -1):
        if place(geo, [shape] * n) is not None:
            return n
    return 0


def counts_text(counts: Mapping[str, int]) -> str:
    """`{1g.5gb: 2, 3g.20gb: 1}`: mig-devices as a user would write it."""
    return "{" + ", ".join(f"{name}: {n}" for name, n in counts.items()) + "}"


def layout_counts(geo: GpuGeometry, layout: Layout | Iterable[ProfileShape]) -> dict[str, int]:
    """Profile name -> count, largest profile first (the order mig-parted's files use)."""
    ids = [i.profile_id for i in layout] if isinstance(layout, Layout) else [s.id for s in layout]
    counts = Counter(ids)
    order = sorted(counts, key=lambda pid: (-geo.shape(pid).compute_slices, geo.shapes.index(geo.shape(pid))))
    return {geo.shape(pid).name: counts[pid] for pid in order}


@cache
def _maximal_counts(
    model_key: str, branch: int, profile_ids: tuple[int, ...]
) -> tuple[tuple[tuple[int, int], ...], ...]:
    geo = geometry_for(model_key, branch)
    shapes = [geo.shape(pid) for pid in profile_ids]
    seen: dict[tuple[tuple[int, int], ...], None] = {}
    for layout in maximal_layouts(geo, shapes):
        seen.setdefault(tuple(sorted(Counter(i.profile_id for i in layout).items())), None)
    return tuple(seen)


def closest_layouts(
    geo: GpuGeometry, wanted: Mapping[int, int], *, containing: int | None = None, limit: int = 3
) -> tuple[list[str], int]:
    """Maximal layouts (classic profiles plus the ones wanted) that keep the most of `wanted`, as
    mig-devices texts; with `containing`, only layouts that hold that profile. Returns (texts, how many
    more there are)."""
    ids = tuple(sorted({s.id for s in classic_profiles(geo)} | {pid for pid, n in wanted.items() if n}))
    candidates = []
    for counts in _maximal_counts(geo.model.key, geo.branch, ids):
        have = dict(counts)
        if containing is not None and not have.get(containing):
            continue
        kept = sum(min(n, have.get(pid, 0)) for pid, n in wanted.items())
        kept_slices = sum(min(n, have.get(pid, 0)) * geo.shape(pid).size for pid, n in wanted.items())
        candidates.append(((-kept_slices, -kept, -sum(have.values())), have))
    candidates.sort(key=lambda c: c[0])
    texts = [
        counts_text(layout_counts(geo, [geo.shape(p) for p, n in c[1].items() for _ in range(n)]))
        for c in candidates
    ]
    return texts[:limit], max(0, len(texts) - limit)
