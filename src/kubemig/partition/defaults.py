"""The named layouts NVIDIA ships by default, built from the catalog for any set of GPU models.

    all-disabled   MIG off
    all-enabled    MIG on, no instances
    all-<profile>  as many instances of one profile as fit (`+` written `.`, e.g. all-1g.5gb.me)
    all-balanced   on 7-slice GPUs 2 x 1g + 1 x 2g + 1 x 3g (A100-40GB: 2 x 1g.5gb, 2g.10gb, 3g.20gb);
                   on 4-slice GPUs 2 x 1g + 1 x 2g; each with the plain profile a GPU offers most of

Like NVIDIA's generator, an entry carries a device filter when the GPUs differ (several models, or a
profile only some of them offer), so one file serves a mixed fleet.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.catalog import GpuModel
from kubemig.geometry import GpuGeometry, ProfileShape, geometry_for, kubernetes_name, place
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.fit import classic_profiles, layout_counts, room_for
from kubemig.partition.spec import ConfigFile, EntrySpec, config_from_entries, entry_from_wire

# compute slices of the whole GPU -> {compute slices of a profile: count}, as NVIDIA balances
BALANCED = {7: {1: 2, 2: 1, 3: 1}, 4: {1: 2, 2: 1}}


def balanced_profiles(geo: GpuGeometry) -> list[ProfileShape] | None:
    """The all-balanced instances for this GPU, or None when it has no balanced layout."""
    formula = BALANCED.get(geo.model.compute_slices)
    if formula is None:
        return None
    by_slices = {s.compute_slices: s for s in classic_profiles(geo)}
    if any(c not in by_slices for c in formula):
        return None
    shapes = [by_slices[c] for c, n in sorted(formula.items()) for _ in range(n)]
    return shapes if place(geo, shapes) is not None else None


def _filter(models: Sequence[GpuModel]) -> list[str]:
    return [str(DeviceId.of(pci)) for m in models for pci in m.pci_device_ids]


def default_configs(geometries: Sequence[GpuGeometry], label: str = "kubemig defaults") -> ConfigFile:
    """NVIDIA's named layouts for GPUs of these geometries (one per model; the driver fixes the profiles)."""
    models = [g.model for g in geometries]
    mixed = len(models) > 1
    configs: dict[str, list[EntrySpec]] = {
        "all-disabled": [entry_from_wire({"devices": "all", "mig-enabled": False})],
        "all-enabled": [entry_from_wire({"devices": "all", "mig-enabled": True, "mig-devices": {}})],
    }
    # profile name -> count -> models (the same name can mean different counts on different models)
    by_name: dict[str, dict[int, list[GpuModel]]] = {}
    for geo in geometries:
        for shape in geo.shapes:
            by_name.setdefault(shape.name, {}).setdefault(room_for(geo, shape), []).append(geo.model)
    for name in sorted(by_name, key=lambda n: (_slices_of(n), n)):
        entries = []
        for count, with_profile in sorted(by_name[name].items()):
            wire: dict[str, object] = {"devices": "all", "mig-enabled": True, "mig-devices": {name: count}}
            if mixed or len(with_profile) < len(models):
                wire = {"device-filter": _filter(with_profile), **wire}
            entries.append(entry_from_wire(wire))
        configs[f"all-{kubernetes_name(name)}"] = entries
    balanced: dict[
        tuple[tuple[str, int], ...], list[GpuModel]
    ] = {}  # models that share one layout share an entry
    for geo in geometries:
        shapes = balanced_profiles(geo)
        if shapes is not None:
            balanced.setdefault(tuple(layout_counts(geo, shapes).items()), []).append(geo.model)
    entries = []
    for counts, with_layout in balanced.items():
        wire = {"devices": "all", "mig-enabled": True, "mig-devices": dict(counts)}
        if mixed:
            wire = {"device-filter": _filter(with_layout), **wire}
        entries.append(entry_from_wire(wire))
    if entries:
        configs["all-balanced"] = entries
    return config_from_entries(label, configs)


def _slices_of(name: str) -> int:
    head = name.split("g.", 1)[0]
    return int(head) if head.isdigit() else 99


def catalog_geometries(models: Sequence[GpuModel], driver: str | int | None = None) -> list[GpuGeometry]:
    return [geometry_for(model, driver) for model in models]
