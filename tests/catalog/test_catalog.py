from __future__ import annotations

from typing import Any

import pytest

from kubemig.catalog import GpuModel, all_models, driver_branch, find_model, model_key
from kubemig.errors import CatalogError

EXPECTED_KEYS = {
    "A100-SXM4-40GB",
    "A100-PCIE-40GB",
    "A100-SXM4-80GB",
    "A100-80GB-PCIe",
    "A30",
    "H100-80GB-HBM3",
    "H100-PCIe",
    "H100-NVL",
    "H200",
    "B200",
    "RTX-PRO-6000-Blackwell-Server-Edition",
}


def test_every_model_of_the_facts_is_in_the_catalog() -> None:
    assert {m.key for m in all_models()} == EXPECTED_KEYS


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA A100-SXM4-40GB", "A100-SXM4-40GB"),
        ("A100-SXM4-40GB", "A100-SXM4-40GB"),
        ("a100-sxm4-40gb", "A100-SXM4-40GB"),
        ("NVIDIA A100 80GB PCIe", "A100-80GB-PCIe"),
        ("A100 80GB PCIe", "A100-80GB-PCIe"),
        ("NVIDIA H100 80GB HBM3", "H100-80GB-HBM3"),
        ("h100-nvl", "H100-NVL"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA A30", "A30"),
        ("A30", "A30"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX-PRO-6000-Blackwell-Server-Edition"),
        ("0x20B0", "A100-SXM4-40GB"),
        ("20f1", "A100-PCIE-40GB"),
        ("0x20B710DE", "A30"),
        ("0x2330", "H100-80GB-HBM3"),
        ("0x2901", "B200"),
    ],
)
def test_find_model_by_key_product_name_or_pci_id(name: str, key: str) -> None:
    assert find_model(name).key == key


def test_find_model_by_nvml_pci_device_id_integer() -> None:
    assert find_model(0x20B010DE).key == "A100-SXM4-40GB"
    assert find_model(0x2331).key == "H100-PCIe"


def test_unknown_model_names_the_closest_and_the_command_to_list() -> None:
    with pytest.raises(CatalogError, match=r"A100-SXM4-40GB.*kubemig models"):
        find_model("A100-SXM4-4GB")


def test_model_key_drops_the_nvidia_prefix_and_joins_words() -> None:
    assert model_key("NVIDIA H100 80GB HBM3") == "H100-80GB-HBM3"
    assert model_key("A100-SXM4-40GB") == "A100-SXM4-40GB"


def test_product_names_with_and_without_prefix() -> None:
    for model in all_models():
        assert model.product_name == "NVIDIA " + model.legacy_product_name
        assert model_key(model.product_name) == model.key


def test_driver_branch() -> None:
    assert driver_branch("535.104.05") == 535
    assert driver_branch("460") == 460
    with pytest.raises(CatalogError, match="535.104.05"):
        driver_branch("latest")


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.key)
def test_model_data_is_consistent(model: GpuModel) -> None:
    ids = [p.id for p in model.gi_profiles]
    assert len(ids) == len(set(ids)), "profile IDs are unique"
    assert len({p.index for p in model.gi_profiles}) == len(ids), "index constants are unique"
    assert len({p.name for p in model.gi_profiles}) == len(ids)
    assert model.placement_units % model.memory_slices == 0
    for p in model.gi_profiles:
        assert p.placements.starts, p.name
        for start in p.placements.starts:
            assert 0 <= start and start + p.placements.size <= model.placement_units, p.name
            assert start % p.placements.size == 0 or p.placements.size == 4 * model.placement_units // 8
        assert set(p.default_starts) == set(p.placements.starts), (
            f"{p.name}: default order covers every start"
        )
        assert p.instances <= len(p.placements.starts)
        assert p.compute_slices <= model.compute_slices
        assert p.memory_mib and all(b >= model.min_driver or b <= p.since_driver for b in p.memory_mib)
        assert p.since_driver >= model.min_driver
        ci_ids = [c.id for c in p.ci_profiles]
        assert p.default_ci in ci_ids
        full = [c for c in p.ci_profiles if c.id == p.default_ci][0]
        assert full.slices == p.compute_slices and full.name == p.name
        for ci in p.ci_profiles:
            assert ci.slices * ci.instances <= p.compute_slices
            assert ci.name == p.name or ci.name.startswith(f"{ci.slices}c.")
        assert p.name.startswith(f"{p.compute_slices}g.")


A100_40GB_ROWS = [
    # name, ID, index, instances, MiB (R535), SM, DEC, ENC, CE, JPEG, OFA, starts, size
    ("1g.5gb", 19, 0, 7, 4864, 14, 0, 0, 1, 0, 0, (0, 1, 2, 3, 4, 5, 6), 1),
    ("1g.5gb+me", 20, 7, 1, 4864, 14, 1, 0, 1, 1, 1, (0, 1, 2, 3, 4, 5, 6), 1),
    ("1g.10gb", 15, 9, 4, 9984, 14, 1, 0, 1, 0, 0, (0, 2, 4, 6), 2),
    ("2g.10gb", 14, 1, 3, 9984, 28, 1, 0, 2, 0, 0, (0, 2, 4), 2),
    ("3g.20gb", 9, 2, 2, 20096, 42, 2, 0, 3, 0, 0, (0, 4), 4),
    ("4g.20gb", 5, 3, 1, 20096, 56, 2, 0, 4, 0, 0, (0,), 4),
    ("7g.40gb", 0, 4, 1, 40448, 98, 5, 0, 7, 1, 1, (0,), 8),
]


@pytest.mark.parametrize("key", ["A100-SXM4-40GB", "A100-PCIE-40GB"])
@pytest.mark.parametrize("row", A100_40GB_ROWS, ids=lambda r: r[0])
def test_a100_40gb_profiles_match_the_facts(key: str, row: tuple[Any, ...]) -> None:
    name, pid, index, inst, mib, sm, dec, enc, ce, jpeg, ofa, starts, size = row
    profile = next(p for p in find_model(key).gi_profiles if p.name == name)
    assert (profile.id, profile.index, profile.instances) == (pid, index, inst)
    assert profile.memory_mib_on(535) == mib
    assert profile.sm_count == sm
    e = profile.engines
    assert (e.decoders, e.encoders, e.copy_engines, e.jpeg, e.ofa) == (dec, enc, ce, jpeg, ofa)
    assert (profile.placements.starts, profile.placements.size) == (starts, size)


def test_memory_is_a_property_of_the_driver() -> None:
    seven = next(p for p in find_model("A100-SXM4-40GB").gi_profiles if p.id == 0)
    assert seven.memory_mib_on(460) == 40192
    assert seven.memory_mib_on(535) == 40448
    assert seven.memory_mib_on(550) == 40448
    assert seven.memory_mib_on(580) == 40320


@pytest.mark.parametrize(
    ("branch", "ids"),
    [(460, [19, 14, 9, 5, 0]), (470, [19, 20, 14, 9, 5, 0]), (525, [19, 20, 15, 14, 9, 5, 0])],
)
def test_driver_generations_list_different_profiles(branch: int, ids: list[int]) -> None:
    assert sorted(p.id for p in find_model("A100-SXM4-40GB").profiles_on(branch)) == sorted(ids)


def test_h100_sms_differ_between_sxm_and_pcie() -> None:
    sxm = {p.name: p.sm_count for p in find_model("H100-80GB-HBM3").gi_profiles}
    pcie = {p.name: p.sm_count for p in find_model("H100-PCIe").gi_profiles}
    assert sxm == {
        "1g.10gb": 16,
        "1g.10gb+me": 16,
        "1g.20gb": 26,
        "2g.20gb": 32,
        "3g.40gb": 60,
        "4g.40gb": 64,
        "7g.80gb": 132,
    }
    assert pcie["7g.80gb"] == 114 and pcie["2g.20gb"] == 30


def test_a30_has_four_slices_and_its_own_ids() -> None:
    a30 = find_model("A30")
    assert (a30.memory_slices, a30.compute_slices, a30.placement_units) == (4, 4, 4)
    assert {p.name: p.id for p in a30.gi_profiles} == {
        "1g.6gb": 14,
        "1g.6gb+me": 21,
        "2g.12gb": 5,
        "2g.12gb+me": 6,
        "4g.24gb": 0,
    }


def test_a100_ci_profiles_match_the_facts() -> None:
    seven = next(p for p in find_model("A100-SXM4-40GB").gi_profiles if p.id == 0)
    assert [(c.id, c.slices, c.instances) for c in seven.ci_profiles] == [
        (0, 1, 7),
        (1, 2, 3),
        (2, 3, 2),
        (3, 4, 1),
        (4, 7, 1),
    ]
    four = next(p for p in find_model("A100-SXM4-40GB").gi_profiles if p.id == 5)
    assert [(c.id, c.name, c.instances) for c in four.ci_profiles] == [
        (0, "1c.4g.20gb", 4),
        (1, "2c.4g.20gb", 2),
        (3, "4g.20gb", 1),
    ]
    assert four.default_ci == 3


def test_unconfirmed_values_are_flagged() -> None:
    h200 = find_model("H200")
    flagged = {p.name for p in h200.gi_profiles if p.unconfirmed}
    assert "4g.71gb" in flagged and "3g.71gb" in flagged
    b200 = find_model("B200")
    assert all(p.unconfirmed for p in b200.gi_profiles)
    # mig-facts section 5 knows only the first default start of a two-slice 1g profile (ID 15), on an H100
    fifteens = [p for m in all_models() for p in m.gi_profiles if p.id == 15 and p.placements.size == 2]
    assert len(fifteens) == 9 and all("default_starts" in p.unconfirmed for p in fifteens)


def test_a_gi_profile_finds_its_compute_instance_profiles_by_id() -> None:
    three_g = next(p for p in find_model("A100-SXM4-40GB").gi_profiles if p.name == "3g.20gb")
    assert [three_g.ci_profile(i).name for i in (0, 1, 2)] == ["1c.3g.20gb", "2c.3g.20gb", "3g.20gb"]  # type: ignore[union-attr]
    assert three_g.ci_profile(3) is None


# mig-facts section 2 for the other models, as it gives them: (model, name, ID, instances, MiB or None,
# SM or None, CE or None, (starts, size) or None). None: the facts leave the value open.
OTHER_ROWS = [
    ("A100-SXM4-80GB", "1g.10gb", 19, 7, 9728, 14, 1, ((0, 1, 2, 3, 4, 5, 6), 1)),
    ("A100-SXM4-80GB", "1g.10gb+me", 20, 1, 9728, 14, 1, None),
    ("A100-SXM4-80GB", "1g.20gb", 15, 4, 19968, 14, 1, ((0, 2, 4, 6), 2)),
    ("A100-SXM4-80GB", "2g.20gb", 14, 3, 19968, 28, 2, ((0, 2, 4), 2)),
    ("A100-SXM4-80GB", "3g.40gb", 9, 2, 40192, 42, 3, ((0, 4), 4)),
    ("A100-SXM4-80GB", "4g.40gb", 5, 1, 40192, 56, 4, ((0,), 4)),
    ("A100-SXM4-80GB", "7g.80gb", 0, 1, 80896, 98, 7, ((0,), 8)),
    ("H100-80GB-HBM3", "1g.10gb", 19, 7, 9984, 16, 1, ((0, 1, 2, 3, 4, 5, 6), 1)),
    ("H100-80GB-HBM3", "1g.20gb", 15, 4, 20096, 26, 1, ((0, 2, 4, 6), 2)),
    ("H100-80GB-HBM3", "2g.20gb", 14, 3, 20096, 32, 2, ((0, 2, 4), 2)),
    ("H100-80GB-HBM3", "3g.40gb", 9, 2, 40448, 60, 3, ((0, 4), 4)),
    ("H100-80GB-HBM3", "4g.40gb", 5, 1, 40448, 64, 4, ((0,), 4)),
    ("H100-80GB-HBM3", "7g.80gb", 0, 1, 81152, 132, 8, ((0,), 8)),
    ("H100-PCIe", "1g.20gb", 15, 4, 20096, 14, 1, None),
    ("H100-PCIe", "2g.20gb", 14, 3, 20096, 30, 2, None),
    ("H100-PCIe", "3g.40gb", 9, 2, 40448, 46, 3, None),
    ("H100-PCIe", "4g.40gb", 5, 1, 40448, 62, 4, None),
    ("H100-PCIe", "7g.80gb", 0, 1, 81152, 114, 8, None),
    ("H100-NVL", "1g.12gb", 19, 7, 10880, 16, None, None),
    ("H100-NVL", "1g.24gb", 15, 4, 22016, 26, None, None),
    ("H100-NVL", "2g.24gb", 14, 3, 22016, 32, None, None),
    ("H100-NVL", "3g.47gb", 9, 2, 47232, 60, None, None),
    ("H100-NVL", "4g.47gb", 5, 1, 47232, 64, None, None),
    ("H100-NVL", "7g.94gb", 0, 1, 94848, 132, None, None),
    ("H200", "1g.18gb", 19, 7, 16384, 16, None, None),
    ("H200", "1g.35gb", 15, 4, None, None, None, None),
    ("H200", "2g.35gb", 14, 3, 33280, 32, None, None),
    ("H200", "3g.71gb", 9, 2, 66560, 60, None, None),
    ("H200", "4g.71gb", 5, 1, None, None, None, None),
    ("H200", "7g.141gb", 0, 1, 143360, 132, None, None),
    ("B200", "1g.23gb", 19, 7, 22528, 18, 2, None),  # MiB: public -lgip output the catalog cites
    ("B200", "1g.23gb+me", 20, 1, None, None, None, None),
    ("B200", "1g.45gb", 15, 4, None, None, 2, None),
    ("B200", "2g.45gb", 14, 3, None, None, 3, None),
    ("B200", "3g.90gb", 9, 2, None, None, 6, None),
    ("B200", "4g.90gb", 5, 1, None, None, 8, None),
    ("B200", "7g.180gb", 0, 1, None, None, 16, None),
    ("A30", "1g.6gb", 14, 4, 5952, 14, 1, ((0, 1, 2, 3), 1)),
    ("A30", "1g.6gb+me", 21, 1, 5952, 14, 1, ((0, 1, 2, 3), 1)),
    ("A30", "2g.12gb", 5, 2, 11968, 28, 2, ((0, 2), 2)),
    ("A30", "2g.12gb+me", 6, 1, 11968, 28, 2, ((0, 2), 2)),
    ("A30", "4g.24gb", 0, 1, 24000, 56, 4, ((0,), 4)),
    ("RTX-PRO-6000-Blackwell-Server-Edition", "1g.24gb", 14, 4, 24192, 46, None, ((0, 3, 6, 9), 3)),
    ("RTX-PRO-6000-Blackwell-Server-Edition", "2g.48gb", 5, 2, 48512, 94, None, ((0, 6), 6)),
    ("RTX-PRO-6000-Blackwell-Server-Edition", "4g.96gb", 0, 1, 97408, 188, None, ((0,), 12)),
]


@pytest.mark.parametrize("row", OTHER_ROWS, ids=lambda r: f"{r[0]}-{r[1]}")
def test_other_models_match_the_facts(row: tuple[Any, ...]) -> None:
    key, name, pid, inst, mib, sm, ce, placements = row
    profile = next(p for p in find_model(key).gi_profiles if p.name == name)
    assert (profile.id, profile.instances) == (pid, inst)
    if mib is not None:
        assert profile.memory_mib_on(580) == mib
    if sm is not None:
        assert profile.sm_count == sm
    if ce is not None:
        assert profile.engines.copy_engines == ce
    if placements is not None:
        assert (profile.placements.starts, profile.placements.size) == placements
    # a value the facts leave open is flagged as unconfirmed
    for field, given in (("memory_mib", mib), ("sm_count", sm)):
        if given is None and key in ("H200", "B200"):
            assert field in profile.unconfirmed, f"{key} {name}: {field} is not in the facts"


@pytest.mark.parametrize(
    ("name", "offered"),
    [
        ("H200-SXM5-141GB", "did you mean H200?"),  # a variant name: the family, not a look-alike A100
        ("H100-SXM5-80GB", "did you mean H100-80GB-HBM3, H100-NVL, H100-PCIe?"),
        ("A100-SXM4-40G", "did you mean A100-SXM4-40GB,"),
        ("B300", "did you mean B200,"),  # no family: spelled alike
    ],
)
def test_an_unknown_model_offers_its_family_first(name: str, offered: str) -> None:
    with pytest.raises(CatalogError, match="unknown GPU model") as caught:
        find_model(name)
    assert offered in str(caught.value)
