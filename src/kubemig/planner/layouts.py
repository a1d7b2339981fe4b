"""The layouts a planner chooses among for one GPU: every maximal way to add instances from a
candidate set to the instances that must stay.

Any other target is a subset of one of these, so it schedules no more pods and keeps no more free
instances: choosing among maximal extensions loses nothing (`tests/planner` checks this against a
brute force over every valid layout).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from kubemig.geometry import GpuGeometry, Instance, Layout, ProfileShape, can_add, geometry_for


def maximal_extensions(
    geo: GpuGeometry, fixed: Iterable[Instance], candidates: Iterable[Instance]
) -> tuple[Layout, ...]:
    """Every valid layout made of `fixed` plus some `candidates` to which no further candidate can be
    added; `fixed` alone when no candidate fits. Each layout once, in a deterministic order."""
    return _extensions(geo.model.key, geo.branch, tuple(sorted(fixed)), tuple(sorted(set(candidates))))


def shape_candidates(shapes: Iterable[ProfileShape]) -> list[Instance]:
    """An instance of each shape at each of its starts."""
    return [shape.at(start) for shape in shapes for start in shape.starts]


@lru_cache(maxsize=4096)
def _extensions(
    model_key: str, branch: int, fixed: tuple[Instance, ...], candidates: tuple[Instance, ...]
) -> tuple[Layout, ...]:
    geo = geometry_for(model_key, branch)  # cached there; GpuGeometry itself does not hash
    base = [c for c in candidates if c not in fixed and can_add(geo, fixed, geo.shape(c.profile_id), c.start)]
    n = len(base)
    # two candidates conflict when they overlap or cannot share a GPU whatever else is on it
    conflicts = [0] * n
    for i, a in enumerate(base):
        for j in range(i + 1, n):
            b = base[j]
            if a.mask & b.mask or not can_add(geo, (*fixed, a), geo.shape(b.profile_id), b.start):
                conflicts[i] |= 1 << j
                conflicts[j] |= 1 << i
    # per-profile instance limits are the only rule that is not pairwise; most never bind
    room = {
        shape.id: shape.instances - sum(1 for i in fixed if i.profile_id == shape.id) for shape in geo.shapes
    }
    limited = {pid for pid in room if room[pid] < sum(1 for c in base if c.profile_id == pid)}
    out: list[Layout] = []
    chosen: list[Instance] = []
    used = dict.fromkeys(limited, 0)

    def fits(j: int, bits: int) -> bool:
        pid = base[j].profile_id
        return not conflicts[j] & bits and (pid not in used or used[pid] < room[pid])

    def extend(first: int, bits: int) -> None:
        for j in range(first, n):
            if fits(j, bits):
                pid = base[j].profile_id
                chosen.append(base[j])
                if pid in used:
                    used[pid] += 1
                extend(j + 1, bits | 1 << j)
                if pid in used:
                    used[pid] -= 1
                chosen.pop()
        if all(bits >> j & 1 or not fits(j, bits) for j in range(n)):
            out.append(Layout.of((*fixed, *chosen)))

    extend(0, 0)
    return tuple(out)
