"""What the online allocator knows about a GPU from the instances in use on it (its *pattern*):
how many compute slices can still be added, how many instances of each profile, and the moves that
add one instance. GPUs with the same pattern are interchangeable for placement, so these facts are
computed once per pattern and model and shared by every GPU that has it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from kubemig.geometry import GpuGeometry, Instance, Layout, ProfileShape, can_add


@dataclass(slots=True, eq=False)
class PatternInfo:
    pattern: Layout
    usable: int
    """Most compute slices that can still be added (placement only: count rules not applied)."""
    capacity: tuple[int, ...]
    """Per profile of the book (in `PatternBook.shapes` order): most instances that can be added."""
    moves: dict[int, tuple[tuple[Instance, PatternInfo], ...]] = field(default_factory=dict, repr=False)
    """Profile ID -> (instance to add, pattern after), filled on first use."""


class PatternBook:
    """Pattern facts for one GPU model and driver, computed lazily and kept."""

    def __init__(self, geo: GpuGeometry) -> None:
        self.geo = geo
        self.shapes: tuple[ProfileShape, ...] = geo.shapes
        self.index = {shape.id: n for n, shape in enumerate(self.shapes)}
        self._infos: dict[Layout, PatternInfo] = {}
        self._usable = _usable_table(
            geo.model.key,
            geo.branch,
            tuple((s.size, s.starts, s.compute_slices) for s in geo.shapes),
            geo.units,
        )

    def info(self, pattern: Layout) -> PatternInfo:
        found = self._infos.get(pattern)
        if found is None:
            found = PatternInfo(
                pattern, self._usable[pattern.mask], tuple(self._capacity(pattern, s) for s in self.shapes)
            )
            self._infos[pattern] = found
        return found

    def moves(self, info: PatternInfo, shape: ProfileShape) -> tuple[tuple[Instance, PatternInfo], ...]:
        found = info.moves.get(shape.id)
        if found is None:
            found = tuple(
                (shape.at(start), self.info(Layout.of((*info.pattern, shape.at(start)))))
                for start in shape.starts
                if can_add(self.geo, info.pattern.instances, shape, start)
            )
            info.moves[shape.id] = found
        return found

    def completed_by(self, info: PatternInfo, shape: ProfileShape) -> bool:
        """Whether one `shape` instance fills every compute slice the pattern has left."""
        return info.usable == shape.compute_slices and any(
            after.usable == 0 for _, after in self.moves(info, shape)
        )

    def _capacity(self, pattern: Layout, shape: ProfileShape) -> int:
        # one profile alone: equal-size intervals, so taking the lowest free start each time is optimal
        present = list(pattern.instances)
        added = 0
        for start in sorted(shape.starts):
            if can_add(self.geo, present, shape, start):
                present.append(shape.at(start))
                added += 1
        return added


@cache
def _usable_table(
    model_key: str, branch: int, shapes: tuple[tuple[int, tuple[int, ...], int], ...], units: int
) -> tuple[int, ...]:
    """Occupied-units mask -> most compute slices that fit in the rest (every mask of the GPU)."""
    del model_key, branch  # cache key only
    full = (1 << units) - 1
    best = [0] * (1 << units)
    # a mask's answer depends on masks with more bits set: go from full down
    for mask in range(full, -1, -1):
        if mask == full:
            continue
        low = (~mask & full & -(~mask & full)).bit_length() - 1  # lowest free unit
        value = best[mask | 1 << low]  # leave it empty
        for size, starts, slices in shapes:
            if low in starts:
                m = ((1 << size) - 1) << low
                if not m & mask and m <= full:
                    value = max(value, slices + best[mask | m])
        best[mask] = value
    return tuple(best)
