"""What the pattern book says about completing a GPU partly in use, on A100-40GB's rules."""

from __future__ import annotations

import pytest

from kubemig.geometry import Layout, geometry_for, resolve_profile
from kubemig.planner.patterns import PatternBook

GEO = geometry_for("A100-SXM4-40GB")
SHAPES = {name: resolve_profile(GEO, name) for name in ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")}


@pytest.mark.parametrize(
    ("in_use", "completed_by"),
    [
        ((), {"7g.40gb"}),
        ((("3g.20gb", 4),), {"4g.20gb"}),  # a 3g.20gb at slice 0 would leave a slice no profile fits
        ((("4g.20gb", 0),), {"3g.20gb"}),
        ((("2g.10gb", 4),), set()),  # slice 6 then takes only a 1g.5gb: no single instance fills it
        ((("4g.20gb", 0), ("2g.10gb", 4)), {"1g.5gb"}),
        ((("3g.20gb", 0),), {"3g.20gb"}),  # every slice it has left, though one of the seven is lost
    ],
)
def test_one_instance_completes_a_pattern_when_it_takes_all_the_room_left(
    in_use: tuple[tuple[str, int], ...], completed_by: set[str]
) -> None:
    book = PatternBook(GEO)
    info = book.info(Layout.of([SHAPES[name].at(start) for name, start in in_use]))
    assert {name for name, shape in SHAPES.items() if book.completed_by(info, shape)} == completed_by
