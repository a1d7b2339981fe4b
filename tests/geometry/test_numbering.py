from __future__ import annotations

import pytest

from kubemig.geometry import Instance, Layout, Numbering, Placement, default_start, geometry_for, gi_id

A100 = geometry_for("A100-SXM4-40GB")


@pytest.mark.parametrize(
    ("start", "size", "direct", "swapped"),
    [
        (0, 8, 0, 0),
        (0, 4, 1, 2),
        (4, 4, 2, 1),
        (0, 2, 3, 5),
        (2, 2, 4, 6),
        (4, 2, 5, 3),
        (6, 2, 6, 4),
        (0, 1, 7, 11),
        (3, 1, 10, 14),
        (4, 1, 11, 7),
        (6, 1, 13, 9),
    ],
)
def test_gi_ids_follow_the_heap_numbering(start: int, size: int, direct: int, swapped: int) -> None:
    assert gi_id(A100, Placement(start, size)) == direct
    assert gi_id(A100, Placement(start, size), Numbering.SWAPPED) == swapped


def test_four_slot_gpus_number_over_four_units() -> None:
    a30 = geometry_for("A30")
    assert [gi_id(a30, Placement(s, 1)) for s in range(4)] == [3, 4, 5, 6]
    assert [gi_id(a30, Placement(s, 2)) for s in (0, 2)] == [1, 2]
    assert gi_id(a30, Placement(0, 4)) == 0
    rtx = geometry_for("RTX-PRO-6000-Blackwell-Server-Edition")
    assert [gi_id(rtx, Placement(s, 3)) for s in (0, 3, 6, 9)] == [3, 4, 5, 6]
    assert [gi_id(rtx, Placement(s, 6)) for s in (0, 6)] == [1, 2]


def _create_all(
    geo_key: str, profile_ids: list[int], numbering: Numbering = Numbering.DIRECT
) -> list[tuple[int, str]]:
    geo = geometry_for(geo_key)
    present: list[Instance] = []
    out = []
    for pid in profile_ids:
        shape = geo.shape(pid)
        start = default_start(geo, shape, present)
        assert start is not None
        inst = shape.at(start)
        present.append(inst)
        out.append((gi_id(geo, inst.placement, numbering), str(inst.placement)))
    return out


def test_default_placements_seen_on_real_boards() -> None:
    assert _create_all("A100-SXM4-40GB", [9, 19, 14, 19]) == [(2, "4:4"), (7, "0:1"), (4, "2:2"), (8, "1:1")]
    assert [g for g, _ in _create_all("A100-SXM4-40GB", [14, 19, 19, 19, 19, 19])] == [5, 13, 7, 8, 9, 10]
    assert _create_all("A100-SXM4-40GB", [19, 14, 5]) == [(13, "6:1"), (5, "4:2"), (1, "0:4")]
    assert [g for g, _ in _create_all("A100-PCIE-40GB", [5, 14, 19], Numbering.SWAPPED)] == [2, 3, 9]


def test_default_start_is_none_when_nothing_fits() -> None:
    geo = A100
    full = Layout.of([geo.instance(0, 0)])
    assert default_start(geo, geo.shape(19), full.instances) is None


def test_profile_15_first_goes_to_start_4_on_h100() -> None:
    h100 = geometry_for("H100-80GB-HBM3")
    assert default_start(h100, h100.shape(15), ()) == 4
