"""Whether a GPU holds what its config entry asks: `kubemig assert`, and apply's last check."""

from __future__ import annotations

from kubemig.partition.fit import counts_text, layout_counts
from kubemig.partition.snapshot import GpuSnapshot
from kubemig.partition.targets import GpuTarget


def gpu_differences(snapshot: GpuSnapshot, target: GpuTarget, *, mode_only: bool = False) -> list[str]:
    """How a GPU differs from what its entry asks (empty when it holds exactly that). Counts are compared
    as mig-parted does; placements too when the entry pins them; every GI must hold its default CI."""
    geo = target.gpu.geo
    problems = []
    if snapshot.mig_current != target.mig_enabled or snapshot.mode_pending:
        wanted_mode = "on" if target.mig_enabled else "off"
        mode = "on" if snapshot.mig_current else "off"
        pending = " (a change waits for a GPU reset)" if snapshot.mode_pending else ""
        problems.append(f"MIG mode is {mode}{pending}, wanted {wanted_mode}")
    if not target.mig_enabled or mode_only or not snapshot.mig_current:
        return problems
    held = counts_text(layout_counts(geo, snapshot.layout))
    wanted = counts_text(layout_counts(geo, target.layout))
    if sorted(i.profile_id for i in snapshot.layout) != sorted(i.profile_id for i in target.layout):
        problems.append(f"holds {held}, wanted {wanted}")
    elif target.pinned and snapshot.layout != target.layout:
        problems.append(f"holds {snapshot.layout}, wanted the placements {target.layout}")
    for gi in snapshot.gpu_instances:
        if not gi.has_only_default_ci(geo):
            cis = ", ".join(str(c.profile_id) for c in gi.compute_instances) or "none"
            default = geo.shape(gi.instance.profile_id).profile.default_ci
            problems.append(
                f"{gi.instance} (GI {gi.id}) has compute instance profiles [{cis}], wanted [{default}] (its default)"
            )
    return problems
