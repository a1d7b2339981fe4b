"""Exact placement: starts for a multiset of profiles beside instances that must stay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kubemig.geometry.rules import count_problems
from kubemig.geometry.shapes import GpuGeometry, Instance, Layout, ProfileShape


def preference(shape: ProfileShape) -> tuple[int, ...]:
    """Starts in the order the driver tries them, then any start the driver's list leaves out."""
    listed = tuple(s for s in shape.default_starts if s in shape.starts)
    return listed + tuple(s for s in shape.starts if s not in listed)


def place(
    geo: GpuGeometry, profiles: Iterable[ProfileShape], fixed: Iterable[Instance] = ()
) -> Layout | None:
    """A layout holding `fixed` plus one instance per entry of `profiles`, or None when none exists.

    Exhaustive (every arrangement is tried before giving up), largest profiles first and each at the
    driver's preferred starts, so the answer is what the driver itself would pick where it can.
    """
    fixed = list(fixed)
    todo: Sequence[ProfileShape] = sorted(profiles, key=lambda s: (-s.size, len(s.starts), s.id))
    if count_problems(geo, [*(geo.shape(i.profile_id) for i in fixed), *todo]):
        return None
    base = 0
    for inst in fixed:
        if base & inst.mask:
            return None
        base |= inst.mask
    prefs = [preference(s) for s in todo]
    failed: set[tuple[int, int, int]] = set()

    def search(i: int, mask: int, min_rank: int) -> list[Instance] | None:
        if i == len(todo):
            return []
        if (i, mask, min_rank) in failed:
            return None
        shape = todo[i]
        same_next = i + 1 < len(todo) and todo[i + 1].id == shape.id
        for rank, start in enumerate(prefs[i]):
            # instances of one profile are interchangeable: take their starts in preference order only
            if rank < min_rank:
                continue
            m = ((1 << shape.size) - 1) << start
            if m & mask:
                continue
            rest = search(i + 1, mask | m, rank + 1 if same_next else 0)
            if rest is not None:
                return [shape.at(start), *rest]
        failed.add((i, mask, min_rank))
        return None

    found = search(0, base, 0)
    return None if found is None else Layout.of([*fixed, *found])
