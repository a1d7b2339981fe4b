"""The rules a set of GPU instances must follow beyond not overlapping: per-profile instance limits,
one media extension per GPU, and profile pairs an old driver refuses together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kubemig.geometry.shapes import GpuGeometry, Instance, ProfileShape


def count_problems(geo: GpuGeometry, shapes: Iterable[ProfileShape]) -> list[str]:
    """Why this multiset of profiles cannot share one GPU wherever it is placed (empty if it can)."""
    shapes = list(shapes)
    problems = []
    counts = Counter(s.id for s in shapes)
    for profile_id, count in sorted(counts.items()):
        shape = geo.shape(profile_id)
        if count > shape.instances:
            problems.append(
                f"{geo.model.key} allows at most {shape.instances} x {shape.name}, the layout has {count}"
            )
    media = [s.name for s in shapes if s.media_extension]
    if len(media) > 1:
        problems.append(
            f"{geo.model.key} has one set of media engines, so at most one media-extended instance; "
            f"the layout has {len(media)} ({', '.join(media)})"
        )
    for a, b, reason in geo.forbidden_pairs:
        if a in counts and b in counts:
            problems.append(f"{geo.shape(a).name} with {geo.shape(b).name}: {reason} (this is R{geo.branch})")
    return problems


def slice_range(instance: Instance | int, size: int | None = None) -> str:
    """`4-7` for the units an instance covers (or a start and size), `3` for a single unit."""
    if isinstance(instance, Instance):
        start, size = instance.start, instance.size
    else:
        start, size = instance, size or 1
    return str(start) if size == 1 else f"{start}-{start + size - 1}"


def overlap_problems(instances: Iterable[Instance], unit_name: str = "slice") -> list[str]:
    items = sorted(instances)
    problems = []
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            common = a.mask & b.mask
            if common:
                lo = (common & -common).bit_length() - 1
                hi = common.bit_length() - 1
                where = str(lo) if lo == hi else f"{lo}-{hi}"
                problems.append(f"{a} and {b} overlap on {unit_name}s {where}")
    return problems


def can_add(geo: GpuGeometry, present: Iterable[Instance], shape: ProfileShape, start: int) -> bool:
    """Whether one more `shape` instance at `start` fits beside `present` under every rule."""
    items = list(present)
    mask = ((1 << shape.size) - 1) << start
    if start not in shape.starts or any(i.mask & mask for i in items):
        return False
    return not count_problems(geo, [*(geo.shape(i.profile_id) for i in items), shape])
