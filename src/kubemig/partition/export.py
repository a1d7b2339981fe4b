"""A node's current layout as a config file that `kubemig apply` reproduces exactly.

GPUs that hold the same thing share an entry (`devices: [..]`, or `all`); a device filter is added when
the node has several GPU models, as mig-parted's export does. `mig-devices` holds counts, as mig-parted
writes them; kubemig's optional `placements` adds each instance's start, so that applying the file
recreates the same placements (mig-parted rejects files with that field: `--no-placements` leaves it
out). A GPU instance whose compute instances are not its default one is exported as its GPU-instance
profile, with a warning: applying the file gives it the default compute instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubemig.geometry import GpuGeometry, Layout
from kubemig.partition.fit import layout_counts
from kubemig.partition.snapshot import GpuSnapshot, NodeSnapshot
from kubemig.partition.spec import ConfigFile, EntrySpec, config_from_entries, entry_from_wire

DEFAULT_LABEL = "current"


@dataclass(frozen=True, slots=True)
class Export:
    config: ConfigFile
    warnings: tuple[str, ...]


def _entry_key(gpu: GpuSnapshot, placements: bool) -> tuple[object, ...]:
    layout = gpu.layout if placements else tuple(sorted(i.profile_id for i in gpu.layout))
    return (str(gpu.gpu.device_id), gpu.mig_current, layout)


def export_config(node: NodeSnapshot, label: str = DEFAULT_LABEL, *, placements: bool = True) -> Export:
    groups: dict[tuple[object, ...], list[GpuSnapshot]] = {}
    warnings = []
    for gpu in node.gpus:
        groups.setdefault(_entry_key(gpu, placements), []).append(gpu)
        for gi in gpu.gpu_instances:
            if not gi.has_only_default_ci(gpu.gpu.geo):
                warnings.append(
                    f"GPU {gpu.index} {gi.instance} (GI {gi.id}) holds other compute instances than its default one: "
                    f"exported as {gi.instance.name}, which apply gives the default compute instance"
                )
        if gpu.mode_pending:
            warnings.append(
                f"GPU {gpu.index}: a MIG mode change waits for a GPU reset; exported with the mode in effect now"
            )
    mixed = len({str(g.gpu.device_id) for g in node.gpus}) > 1
    entries: list[EntrySpec] = []
    for members in groups.values():
        first = members[0]
        wire: dict[str, object] = {}
        if mixed:
            wire["device-filter"] = str(first.gpu.device_id)
        everyone = len(members) == len(node.gpus) and not node.unsupported
        wire["devices"] = "all" if everyone else [g.index for g in members]
        wire.update(_layout_wire(first.gpu.geo, first.layout if first.mig_current else None, placements))
        entries.append(entry_from_wire(wire))
    return Export(config_from_entries("export", {label: entries}), tuple(warnings))


def layouts_config(name: str, layouts: Sequence[tuple[int, GpuGeometry, Layout]]) -> ConfigFile:
    """A config named `name` that gives each listed GPU (index, geometry, layout) exactly that layout,
    placements included, one entry per GPU: what a cluster plan asks of one node. GPUs not listed
    are left alone, as mig-parted leaves GPUs no entry matches."""
    entries = [
        entry_from_wire({"devices": [index], **_layout_wire(geo, layout, True)})
        for index, geo, layout in sorted(layouts, key=lambda item: item[0])
    ]
    return config_from_entries("plan", {name: entries})


def _layout_wire(geo: GpuGeometry, layout: Layout | None, placements: bool) -> dict[str, object]:
    """An entry's body for a GPU holding `layout` (None: MIG off)."""
    if layout is None:
        return {"mig-enabled": False}
    wire: dict[str, object] = {"mig-enabled": True, "mig-devices": layout_counts(geo, layout)}
    if placements and len(layout):
        wire["placements"] = [str(i) for i in layout]
    return wire
