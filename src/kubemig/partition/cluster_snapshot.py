"""This node's part of a cluster snapshot (`docs/snapshot.md`), the input of `kubemig plan`: its MIG
GPUs and the GPU instances they hold, each free or in use. NVML knows processes, not pods: an
instance in use is `in_use: true`, or names its pod where the kubelet has said which pod holds it. GPUs with MIG off are left out (a plan may only
use MIG GPUs), and said so, as are GPUs kubemig cannot configure.

Plain data, not the planner's model: the partition layer stays below the planner, and `kubemig
snapshot` checks the result against the planner's schema before printing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemig.geometry import Numbering, gi_id
from kubemig.partition.render import index_ranges
from kubemig.partition.snapshot import GiSnapshot, GpuSnapshot, NodeSnapshot


@dataclass(frozen=True, slots=True)
class NodePart:
    wire: dict[str, object]
    """`{name, driver, gpus: [{index, model, numbering?, instances: [{profile, start, in_use?}]}]}`."""
    notes: tuple[str, ...]
    """GPUs left out, and why."""


def node_part(node: NodeSnapshot, name: str) -> NodePart:
    gpus: list[dict[str, object]] = []
    notes = [f"left out: {text}" for text in node.unsupported]
    mig_off = [gpu.index for gpu in node.gpus if not gpu.mig_current]
    if mig_off:
        which = f"GPU {mig_off[0]}" if len(mig_off) == 1 else f"GPUs {index_ranges(mig_off)}"
        notes.append(
            f"{which} left out: MIG is off (enable it, e.g. `kubemig apply -c all-enabled`, to plan it)"
        )
    for gpu in node.gpus:
        if not gpu.mig_current:
            continue
        entry: dict[str, object] = {"index": gpu.index, "model": gpu.gpu.model.key}
        numbering = _numbering(gpu)
        if numbering is not None:
            entry["numbering"] = numbering.value
        entry["instances"] = [
            {"profile": gi.instance.name, "start": gi.instance.start, **_use(gi)}
            for gi in sorted(gpu.gpu_instances, key=lambda g: g.instance)
        ]
        gpus.append(entry)
    return NodePart({"name": name, "driver": node.driver_version, "gpus": gpus}, tuple(notes))


def _use(gi: GiSnapshot) -> dict[str, object]:
    """How a part marks an instance's use: the pod holding it where the kubelet says, else in_use."""
    if gi.pods:
        return {"pod": gi.pods[0]}
    return {"in_use": True} if gi.busy else {}


def _numbering(gpu: GpuSnapshot) -> Numbering | None:
    """How the board numbers GI IDs, when its instances tell (None: they fit the model's default)."""
    geo = gpu.gpu.geo
    fits = [
        numbering
        for numbering in Numbering
        if all(gi.id == gi_id(geo, gi.instance.placement, numbering) for gi in gpu.gpu_instances)
    ]
    return fits[0] if len(fits) == 1 else None
