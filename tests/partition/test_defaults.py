"""The named layouts NVIDIA ships, built from the catalog: same names and counts as NVIDIA's file."""

from __future__ import annotations

from collections import Counter

import pytest

from kubemig.catalog import all_models, find_model
from kubemig.geometry import geometry_for, place, resolve_profile
from kubemig.partition.defaults import balanced_profiles, catalog_geometries, default_configs
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.spec import dump_config, load_config
from kubemig.partition.targets import GpuIdentity, check_config, resolve_target

MODELS = [m.key for m in all_models()]


def test_a100_40gb_gets_nvidias_names_and_counts() -> None:
    config = default_configs(catalog_geometries([find_model("A100-SXM4-40GB")]))
    wire = {name: [e.to_wire() for e in entries] for name, entries in config.configs.items()}
    assert wire["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    assert wire["all-enabled"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {}}]
    counts = {name: entries[0].get("mig-devices") for name, entries in wire.items()}
    assert counts["all-1g.5gb"] == {"1g.5gb": 7}
    assert counts["all-1g.5gb.me"] == {"1g.5gb+me": 1}
    assert counts["all-1g.10gb"] == {"1g.10gb": 4}
    assert counts["all-2g.10gb"] == {"2g.10gb": 3}
    assert counts["all-3g.20gb"] == {"3g.20gb": 2}
    assert counts["all-4g.20gb"] == {"4g.20gb": 1}
    assert counts["all-7g.40gb"] == {"7g.40gb": 1}
    assert counts["all-balanced"] == {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}
    assert all("device-filter" not in e for entries in wire.values() for e in entries)


@pytest.mark.parametrize(
    ("key", "balanced"),
    [
        ("A100-SXM4-80GB", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
        ("H100-80GB-HBM3", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
        ("H100-NVL", {"1g.12gb": 2, "2g.24gb": 1, "3g.47gb": 1}),
        ("H200", {"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1}),
        ("B200", {"1g.23gb": 2, "2g.45gb": 1, "3g.90gb": 1}),
        ("A30", {"1g.6gb": 2, "2g.12gb": 1}),
        ("RTX-PRO-6000-Blackwell-Server-Edition", {"1g.24gb": 2, "2g.48gb": 1}),
    ],
)
def test_balanced_is_nvidias_analogue_on_every_model(key: str, balanced: dict[str, int]) -> None:
    shapes = balanced_profiles(geometry_for(key))
    assert shapes is not None
    assert Counter(s.name for s in shapes) == Counter(balanced)


def test_the_whole_catalog_file_is_valid_and_each_entry_fits_the_models_it_filters() -> None:
    config = default_configs(catalog_geometries(all_models()))
    text = dump_config(config)
    reread = load_config("defaults.yaml", text)
    assert check_config(reread) == []
    # every profile of every model has its all-<profile>, filtered to the models that offer it
    for model in all_models():
        geo = geometry_for(model)
        device = DeviceId.of(model.pci_device_ids[0])
        for shape in geo.shapes:
            name = "all-" + shape.name.replace("+", ".")
            matching = [e for e in reread.configs[name] if e.matches(0, device)]
            assert len(matching) == 1, (model.key, name)
            (count,) = matching[0].mig_devices.values()  # type: ignore[union-attr]
            assert place(geo, [shape] * count) is not None
            assert place(geo, [shape] * (count + 1)) is None or count == shape.instances


@pytest.mark.parametrize("key", MODELS)
def test_every_named_layout_for_a_model_resolves_on_a_node_of_that_model(key: str) -> None:
    model = find_model(key)
    gpus = [GpuIdentity(i, model, 580, DeviceId.of(model.pci_device_ids[0])) for i in range(2)]
    config = default_configs(catalog_geometries(all_models()))
    geo = geometry_for(model)
    offered = {"all-" + s.name.replace("+", ".") for s in geo.shapes} | {
        "all-disabled",
        "all-enabled",
        "all-balanced",
    }
    for name in config.configs:
        target = resolve_target(config, name, gpus)
        assert bool(target.gpus) == (name in offered), name
        if target.gpus and name not in ("all-enabled", "all-disabled", "all-balanced"):
            layout = target.gpus[0].layout
            profile = resolve_profile(geo, next(iter(target.gpus[0].counts())))
            # as many as fit: one more of the same profile cannot be placed
            assert place(geo, [profile] * (len(layout) + 1)) is None or len(layout) == profile.instances
