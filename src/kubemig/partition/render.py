"""Slot diagrams of what a GPU holds and of a planned change (text; the CLI frames them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kubemig.geometry import Instance, Row, render_slots, slot_width
from kubemig.partition.fit import layout_counts
from kubemig.partition.planning import GpuPlan
from kubemig.partition.snapshot import GpuSnapshot


def index_ranges(indices: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> `0-2,5`."""
    items = sorted(set(indices))
    parts: list[str] = []
    start = prev = None
    for i in items:
        if start is None:
            start = prev = i
        elif prev is not None and i == prev + 1:
            prev = i
        else:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def counts_label(snapshot_or_plan: GpuSnapshot | GpuPlan, which: str = "now") -> str:
    """`3g.20gb, 2g.10gb, 2 x 1g.5gb` for what a GPU holds (or will hold), `-` for nothing."""
    if isinstance(snapshot_or_plan, GpuPlan):
        geo = snapshot_or_plan.snapshot.gpu.geo
        layout = snapshot_or_plan.goal if which == "goal" else snapshot_or_plan.snapshot.layout
    else:
        geo = snapshot_or_plan.gpu.geo
        layout = snapshot_or_plan.layout
    counts = layout_counts(geo, layout)
    return ", ".join(name if n == 1 else f"{n} x {name}" for name, n in counts.items()) or "-"


def snapshot_diagram(snapshot: GpuSnapshot, indent: str = "  ", *, uuids: bool = True, width: int = 0) -> str:
    """Each GI's box: profile, GI ID, busy (with PIDs) or free, and the start of its MIG UUID."""
    rows = _snapshot_rows(snapshot, uuids)
    return render_slots(snapshot.gpu.geo, snapshot.layout, rows=rows, indent=indent, width=width)


def _snapshot_rows(snapshot: GpuSnapshot, uuids: bool) -> list[Row]:
    gis = {gi.instance: gi for gi in snapshot.gpu_instances}

    def gi_label(inst: Instance) -> str:
        return f"GI {gis[inst].id}"

    def state(inst: Instance) -> str:
        gi = gis[inst]
        if not gi.compute_instances:
            return "no CI"
        return "busy" if gi.busy else "free"

    def uuid(inst: Instance) -> str:
        found = [c.uuid for c in gis[inst].compute_instances if c.uuid]
        return found[0][:12] if found else ""

    rows: list[Row] = [lambda i: i.name, gi_label, state]
    if uuids:
        rows.append(uuid)
    return rows


def plan_diagrams(plan: GpuPlan, indent: str = "  ") -> str:
    """The GPU now (GI IDs, busy) and after the plan (kept or new), one diagram above the other."""
    geo = plan.snapshot.gpu.geo
    kept = set(plan.kept)
    destroyed = set(plan.destroyed)

    def fate(inst: Instance) -> str:
        return "kept" if inst in kept else "new"

    rows: list[Row] = [lambda i: i.name, fate]
    # both drawn at one width, so that a box that stays sits above itself
    width = max(
        slot_width(plan.snapshot.layout, _snapshot_rows(plan.snapshot, False)), slot_width(plan.goal, rows)
    )
    now = (
        snapshot_diagram(plan.snapshot, indent + "  ", uuids=False, width=width)
        if plan.snapshot.gpu_instances
        else f"{indent}  (no GPU instances)"
    )
    after = (
        render_slots(geo, plan.goal, rows=rows, indent=indent + "  ", width=width)
        if len(plan.goal)
        else f"{indent}  (no GPU instances)"
    )
    lines = [
        f"{indent}now" + (f" ({len(destroyed)} to destroy)" if destroyed else ""),
        now,
        f"{indent}after",
        after,
    ]
    return "\n".join(lines)


def group_plans(plans: Sequence[GpuPlan]) -> list[tuple[list[int], GpuPlan]]:
    """GPUs whose change looks the same (same layouts, busy instances, operations), drawn once."""
    groups: dict[tuple[object, ...], list[GpuPlan]] = {}
    for plan in plans:
        key = (
            plan.snapshot.gpu.model.key,
            plan.snapshot.layout,
            plan.snapshot.busy,
            plan.goal,
            tuple(op.kind for op in plan.ops),
            plan.snapshot.mig_current,
        )
        groups.setdefault(key, []).append(plan)
    return [([p.index for p in members], members[0]) for members in groups.values()]
