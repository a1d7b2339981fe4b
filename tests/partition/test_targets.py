"""Resolving a named config on a node's GPUs: names per model, matching as mig-parted, fixes in messages."""

from __future__ import annotations

import pytest

from kubemig.catalog import find_model
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.errors import ConfigError
from kubemig.partition.spec import load_config
from kubemig.partition.targets import GpuIdentity, check_config, resolve_target


def _gpu(index: int, key: str = "A100-SXM4-40GB", branch: int = 580) -> GpuIdentity:
    model = find_model(key)
    return GpuIdentity(index, model, branch, DeviceId.of(model.pci_device_ids[0]))


A100 = [_gpu(i) for i in range(4)]
MIXED = [_gpu(0), _gpu(1), _gpu(2, "H100-80GB-HBM3"), _gpu(3, "A30")]


def _config(entries: str) -> str:
    return "version: v1\nmig-configs:\n  c:\n" + entries


def _problems(entries: str, gpus: list[GpuIdentity] = A100) -> list[str]:
    with pytest.raises(ConfigError) as info:
        resolve_target(load_config("conf.yaml", _config(entries)), "c", gpus)
    return info.value.problems


@pytest.mark.parametrize(
    ("description", "entries", "expected"),
    [
        (
            "too many of one profile, with the room and the maximal layouts holding it",
            '    - {devices: all, mig-enabled: true, mig-devices: {"3g.20gb": 3}}\n',
            [
                "conf.yaml: config 'c' entry 1 (devices: all): `3g.20gb: 3` cannot fit on A100-SXM4-40GB, which has "
                "room for 2: write `3g.20gb: 2`, or a layout with 3g.20gb that fits: {3g.20gb: 2}, "
                "{3g.20gb: 1, 1g.5gb: 4}"
            ],
        ),
        (
            "more slices than the GPU has",
            '    - {devices: all, mig-enabled: true, mig-devices: {"4g.20gb": 1, "3g.20gb": 1, "1g.5gb": 1}}\n',
            [
                "together they need 9 of its 8 memory slices; the closest layouts that fit are {4g.20gb: 1, 3g.20gb: 1}"
            ],
        ),
        (
            "enough slices but no arrangement",
            '    - {devices: all, mig-enabled: true, mig-devices: {"4g.20gb": 1, "2g.10gb": 2}}\n',
            [
                "they fill 8 of its 8 memory slices, but no arrangement fits the allowed starts (4g.20gb at 0; 2g.10gb at 0, 2, 4)"
            ],
        ),
        (
            "unknown profile, with the closest names",
            '    - {devices: all, mig-enabled: true, mig-devices: {"2g.5gb": 1}}\n',
            ["profile '2g.5gb' does not exist on A100-SXM4-40GB (driver R580): closest: 1g.5gb, 2g.10gb"],
        ),
        (
            "a profile newer than the driver",
            '    - {devices: all, mig-enabled: true, mig-devices: {"1g.10gb": 1}}\n',
            ["profile '1g.10gb' needs driver R525 or later"],
        ),
        (
            "two media extensions",
            '    - {devices: all, mig-enabled: true, mig-devices: {"1g.5gb+me": 2}}\n',
            ["`1g.5gb+me: 2` cannot fit on A100-SXM4-40GB, which has room for 1"],
        ),
        (
            "a compute-instance profile",
            '    - {devices: all, mig-enabled: true, mig-devices: {"1c.3g.20gb": 1}}\n',
            [
                "'1c.3g.20gb' is a compute-instance profile, which kubemig does not create yet",
                "write the GPU instance profile '3g.20gb'",
            ],
        ),
        (
            "a placement off the grid",
            '    - {devices: all, mig-enabled: true, mig-devices: {"3g.20gb": 1}, placements: ["3g.20gb@2"]}\n',
            [
                "'placements' 3g.20gb@2: 3g.20gb cannot start at slice 2 on A100-SXM4-40GB: valid starts are 0, 4"
            ],
        ),
        (
            "placements that overlap",
            '    - {devices: all, mig-enabled: true, mig-devices: {"3g.20gb": 1, "2g.10gb": 1}, placements: ["3g.20gb@0", "2g.10gb@2"]}\n',
            ["3g.20gb@0 and 2g.10gb@2 overlap on slices 2-3"],
        ),
        (
            "placements that list other profiles than mig-devices",
            '    - {devices: all, mig-enabled: true, mig-devices: {"3g.20gb": 1}, placements: ["4g.20gb@0"]}\n',
            ["'placements' hold {4g.20gb: 1} but 'mig-devices' asks for {3g.20gb: 1}"],
        ),
        (
            "two entries for one GPU",
            "    - {devices: all, mig-enabled: true, mig-devices: {}}\n    - {devices: [2], mig-enabled: false}\n",
            [
                "GPU 2 (A100-SXM4-40GB) is matched by entries 1 and 2, which ask for different layouts: narrow 'devices'"
            ],
        ),
    ],
)
def test_config_problems_on_a_node_name_the_entry_and_the_fix(
    description: str, entries: str, expected: list[str]
) -> None:
    problems = _problems(entries, [_gpu(i, branch=515 if "driver" in description else 580) for i in range(4)])
    assert len(problems) == 1, (description, problems)
    for part in expected:
        assert part in problems[0], (description, problems[0])


def test_problems_come_one_per_entry_and_model_in_file_order() -> None:
    entries = (
        '    - {devices: [0], mig-enabled: true, mig-devices: {"3g.20gb": 3}}\n'
        '    - {devices: [1, 2, 3], mig-enabled: true, mig-devices: {"7g.40gb": 1, "x": 1}}\n'
    )
    problems = _problems(entries, MIXED)
    entry_numbers = [int(p.split(" entry ", 1)[1].split(" ", 1)[0]) for p in problems]
    assert entry_numbers == [1, 2, 2, 2, 2, 2]
    # entry 2 on GPU 1 (A100: x unknown), on the H100 (7g.40gb and x unknown), on the A30 (both unknown)
    assert sum("'x' does not exist" in p for p in problems) == 3
    assert any("'7g.40gb' does not exist on H100-80GB-HBM3" in p for p in problems)


def test_profile_names_resolve_per_model_and_unmatched_gpus_are_left_alone() -> None:
    text = _config(
        '    - {device-filter: "0x20B010DE", devices: all, mig-enabled: true, mig-devices: {"1g.5gb.me": 1, "2g.10gb": 3}}\n'
        '    - {device-filter: "0x233010DE", devices: all, mig-enabled: true, mig-devices: {"MIG 3g.40gb": 2}}\n'
    )
    target = resolve_target(load_config("conf.yaml", text), "c", MIXED)
    assert [t.gpu.index for t in target.gpus] == [0, 1, 2]
    assert [g.index for g in target.unmatched] == [3]
    assert target.for_gpu(0) is not None and target.for_gpu(0).counts() == {"2g.10gb": 3, "1g.5gb+me": 1}  # type: ignore[union-attr]
    assert str(target.for_gpu(2).layout) == "3g.40gb@0,3g.40gb@4"  # type: ignore[union-attr]


def test_pinned_placements_are_kept_exactly() -> None:
    text = _config(
        '    - {devices: [0], mig-enabled: true, mig-devices: {"1g.5gb": 2, "3g.20gb": 1}, placements: ["1g.5gb@5", "1g.5gb@6", "3g.20gb@0"]}\n'
    )
    target = resolve_target(load_config("conf.yaml", text), "c", A100)
    only = target.gpus[0]
    assert only.pinned and str(only.layout) == "3g.20gb@0,1g.5gb@5,1g.5gb@6"
    assert "config 'c' entry 1 names GPU" not in " ".join(target.notes)
    assert [g.index for g in target.unmatched] == [1, 2, 3]


def test_entries_that_match_nothing_are_noted() -> None:
    text = _config(
        "    - {devices: [0, 9], mig-enabled: false}\n"
        '    - {device-filter: "0x233010DE", devices: all, mig-enabled: false}\n'
    )
    target = resolve_target(load_config("conf.yaml", text), "c", A100)
    assert target.notes == (
        "config 'c' entry 1 names GPU 9, which this node lacks",
        "config 'c' entry 2 (devices: all, device-filter: 0x233010DE) matches no GPU on this node",
    )


def test_checking_a_file_covers_every_config_and_the_models_its_filters_name() -> None:
    text = (
        "version: v1\nmig-configs:\n"
        '  a:\n    - {device-filter: ["0x20B010DE", "0x233010DE"], devices: all, mig-enabled: true, mig-devices: {"1g.5gb": 7}}\n'
        '  b:\n    - {devices: all, mig-enabled: true, mig-devices: {"1g.5gb": 8}}\n'
    )
    problems = check_config(load_config("conf.yaml", text), [_gpu(0, "A30")])
    assert len(problems) == 2
    assert "config 'a' entry 1" in problems[0] and "'1g.5gb' does not exist on H100-80GB-HBM3" in problems[0]
    assert "config 'b' entry 1" in problems[1] and "'1g.5gb' does not exist on A30" in problems[1]
