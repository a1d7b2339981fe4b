"""The smallest change from the layout a GPU has to the one wanted: instances to keep, destroy and
create, in an order that always succeeds and never touches an instance in use."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import combinations

from kubemig.errors import TransitionError
from kubemig.geometry.place import place
from kubemig.geometry.profiles import resolve_profile
from kubemig.geometry.shapes import GpuGeometry, Instance, Layout, ProfileShape
from kubemig.geometry.validate import InstanceSpec, validate


class Action(str, Enum):
    DESTROY = "destroy"
    CREATE = "create"


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    instance: Instance

    def __str__(self) -> str:
        return f"{self.action.value} {self.instance}"


@dataclass(frozen=True, slots=True)
class TransitionPlan:
    current: Layout
    target: Layout
    keep: tuple[Instance, ...]
    destroy: tuple[Instance, ...]
    create: tuple[Instance, ...]
    steps: tuple[Step, ...]

    @property
    def operations(self) -> int:
        return len(self.steps)

    @property
    def is_noop(self) -> bool:
        return not self.steps


def _make_plan(current: Layout, target: Layout) -> TransitionPlan:
    now, want = set(current.instances), set(target.instances)
    keep = tuple(sorted(now & want))
    destroy = tuple(sorted(now - want))
    # explicit placements make every creation order valid; largest first reads naturally
    create = tuple(sorted(want - now, key=lambda i: (-i.size, i.start)))
    steps = tuple([Step(Action.DESTROY, i) for i in destroy] + [Step(Action.CREATE, i) for i in create])
    return TransitionPlan(current, target, keep, destroy, create, steps)


def plan_transition(
    geo: GpuGeometry,
    current: Layout,
    target: Sequence[InstanceSpec] | Layout,
    busy: Collection[Instance] = (),
    *,
    force: bool = False,
) -> TransitionPlan:
    """Fewest create and destroy operations from `current` to `target`.

    `target` is a layout, or specs whose starts may be left open; open ones are placed to keep as many
    current instances as possible. A busy instance is never destroyed unless `force`; when the target
    needs that, TransitionError names the blocking instances.
    """
    if isinstance(target, Layout):
        specs = [InstanceSpec(i.name, i.start) for i in target]
    else:
        specs = list(target)
    wanted = validate(geo, specs)  # every problem of the target itself, reported before planning
    if all(s.start is not None for s in specs):
        return _check_busy(geo, _make_plan(current, wanted), busy, force)

    pinned = [resolve_profile(geo, s.profile).at(s.start) for s in specs if s.start is not None]
    floating = [resolve_profile(geo, s.profile) for s in specs if s.start is None]
    protected = set() if force else set(busy) & set(current.instances)
    best = _best_keep(geo, current, pinned, floating, protected)
    if best is None:
        blockers = _fewest_blockers(geo, current, pinned, floating, protected)
        if blockers:
            raise TransitionError(
                f"the target cannot be reached without destroying busy instances "
                f"({', '.join(map(str, blockers))}): stop their processes, or force",
                [str(b) for b in blockers],
            )
        raise TransitionError(f"no placement of the target fits {geo.model.key}")
    return _make_plan(current, best)


def _fewest_blockers(
    geo: GpuGeometry,
    current: Layout,
    pinned: list[Instance],
    floating: list[ProfileShape],
    busy: set[Instance],
) -> list[Instance]:
    """The busy instances a target must destroy when it keeps as many of them as it can (empty when
    the target does not fit even with nothing busy): only these are in the way."""
    for kept in range(len(busy) - 1, -1, -1):
        for chosen in combinations(sorted(busy), kept):
            if _best_keep(geo, current, pinned, floating, set(chosen)) is not None:
                return sorted(busy - set(chosen))
    return []


def _check_busy(
    geo: GpuGeometry, plan: TransitionPlan, busy: Collection[Instance], force: bool
) -> TransitionPlan:
    blocking = [i for i in plan.destroy if i in set(busy)]
    if blocking and not force:
        raise TransitionError(
            f"the target destroys busy instances ({', '.join(map(str, blocking))}) on {geo.model.key}: "
            "stop their processes, choose a target that keeps them, or force",
            [str(b) for b in blocking],
        )
    return plan


def _best_keep(
    geo: GpuGeometry,
    current: Layout,
    pinned: list[Instance],
    floating: list[ProfileShape],
    must_keep: set[Instance],
) -> Layout | None:
    """The target layout that keeps the most current instances, with all of `must_keep` among them."""
    pinned_set = set(pinned)
    others = [i for i in current if i not in pinned_set]
    wanted_ids = [s.id for s in floating]
    if any(
        i not in pinned_set and wanted_ids.count(i.profile_id) == 0
        for i in must_keep
        if i in current.instances
    ):
        return None
    forced = [i for i in others if i in must_keep]
    optional = [i for i in others if i not in must_keep and i.profile_id in wanted_ids]
    for extra in range(len(optional), -1, -1):
        for chosen in combinations(optional, extra):
            keep = forced + list(chosen)
            remaining = list(floating)
            feasible = True
            for inst in keep:
                match = next((s for s in remaining if s.id == inst.profile_id), None)
                if match is None:
                    feasible = False
                    break
                remaining.remove(match)
            if not feasible:
                continue
            layout = place(geo, remaining, [*pinned, *keep])
            if layout is not None:
                return layout
    return None
