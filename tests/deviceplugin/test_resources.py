"""Resources per MIG strategy, as NVIDIA's plugin names them (table-driven)."""

from __future__ import annotations

import pytest

from kubemig.deviceplugin.config import MigStrategy
from kubemig.deviceplugin.resources import GPU_RESOURCE, mig_resource_name, resource_manager
from tests.deviceplugin.nodes import DEMO_LAYOUT, node

DEMO_NODE = node(*[DEMO_LAYOUT] * 8)


@pytest.mark.parametrize(
    ("profile", "resource"),
    [
        ("1g.5gb", "nvidia.com/mig-1g.5gb"),
        ("1g.5gb+me", "nvidia.com/mig-1g.5gb.me"),
        ("1c.3g.20gb", "nvidia.com/mig-1c.3g.20gb"),
        ("7g.80gb", "nvidia.com/mig-7g.80gb"),
    ],
)
def test_mig_resource_names(profile: str, resource: str) -> None:
    assert mig_resource_name(profile) == resource


@pytest.mark.parametrize(
    ("description", "strategy", "layouts", "counts", "problems"),
    [
        ("demo node, mixed", MigStrategy.MIXED, [DEMO_LAYOUT] * 8,
         {"nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}, []),
        ("demo node, none: 8 whole GPUs", MigStrategy.NONE, [DEMO_LAYOUT] * 8, {GPU_RESOURCE: 8}, []),
        ("demo node, single: not uniform", MigStrategy.SINGLE, [DEMO_LAYOUT] * 8, {GPU_RESOURCE: 0},
         ["MIG devices differ (1g.5gb on GPUs 0,1,2,3,4,5,6,7; 2g.10gb on GPUs 0,1,2,3,4,5,6,7; "
          "3g.20gb on GPUs 0,1,2,3,4,5,6,7)"]),
        ("uniform 1g, single", MigStrategy.SINGLE, ["1g.5gb," * 6 + "1g.5gb"] * 2, {GPU_RESOURCE: 14}, []),
        ("no MIG, single acts as none", MigStrategy.SINGLE, [None, None], {GPU_RESOURCE: 2}, []),
        ("MIG and non-MIG, single", MigStrategy.SINGLE, ["3g.20gb,3g.20gb", None], {GPU_RESOURCE: 0},
         ["GPU 1 has MIG disabled while GPU 0 has it enabled"]),
        ("MIG GPU without devices, single", MigStrategy.SINGLE, ["3g.20gb,3g.20gb", ""], {GPU_RESOURCE: 0},
         ["GPU 1 has MIG enabled but no MIG devices"]),
        ("MIG and non-MIG, mixed", MigStrategy.MIXED, ["3g.20gb,3g.20gb", None, ""],
         {GPU_RESOURCE: 1, "nvidia.com/mig-3g.20gb": 2}, []),
        ("+me profile, mixed", MigStrategy.MIXED, ["1g.5gb+me,1g.5gb"],
         {"nvidia.com/mig-1g.5gb": 1, "nvidia.com/mig-1g.5gb.me": 1}, []),
    ],
)  # fmt: skip
def test_strategies(
    description: str,
    strategy: MigStrategy,
    layouts: list[str | None],
    counts: dict[str, int],
    problems: list[str],
) -> None:
    advertised = resource_manager(strategy).resources(node(*layouts))
    assert advertised.counts() == counts, description
    assert len(advertised.problems) == len(problems), advertised.problems
    for found, expected in zip(advertised.problems, problems, strict=True):
        assert found.startswith(expected), found


def test_mixed_devices_are_the_mig_uuids_in_gpu_order() -> None:
    advertised = resource_manager(MigStrategy.MIXED).resources(DEMO_NODE)
    small = advertised.resources["nvidia.com/mig-1g.5gb"]
    assert [d.gpu_index for d in small] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    assert all(d.uuid.startswith("MIG-") and d.mig is not None and d.mig.profile == "1g.5gb" for d in small)
    assert advertised.device(small[3].uuid) == small[3]


def test_withheld_single_names_the_fix() -> None:
    [problem] = resource_manager(MigStrategy.SINGLE).resources(node(DEMO_LAYOUT)).problems
    assert "use --mig-strategy=mixed" in problem
