"""The benchmark's model of mig-parted's apply behaves as its algorithm does (pkg/mig/config)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from kubemig.geometry import Layout, geometry_for, parse_layout_spec, validate
from tests.helpers import load_file

GEO = geometry_for("A100-SXM4-40GB")


def _bench() -> ModuleType:
    return load_file(Path(__file__).resolve().parents[2] / "bench" / "bench_partition.py")


def _layout(text: str) -> Layout:
    return validate(GEO, parse_layout_spec(text))


def test_without_busy_instances_it_destroys_everything_and_recreates_in_one_ordering() -> None:
    bench = _bench()
    current = _layout("3g.20gb@0,3g.20gb@4")
    goal = _layout("4g.20gb@0,3g.20gb@4")
    result = bench.migparted(GEO, current, [GEO.shape(i.profile_id) for i in goal], set())
    assert result == {"reached": True, "ops": 2 * 2 + 2 * 2, "failed": 0, "attempts": 1, "kept": 0, "lost": 0}


def test_a_busy_instance_fails_every_ordering_after_destroying_what_the_walk_reached_first() -> None:
    bench = _bench()
    current = _layout("1g.5gb@0,1g.5gb@1,2g.10gb@2,3g.20gb@4")
    busy = {i for i in current if i.name == "2g.10gb"}
    goal = [GEO.shape(9), GEO.shape(9)]
    result = bench.migparted(GEO, current, goal, busy)
    # walk: 1g profiles (index 0) first, then 2g: the two 1g go, the 2g refuses, the 3g is never reached
    assert result["reached"] is False and result["lost"] == 2 and result["kept"] == 2
    assert result["attempts"] == 1 and result["failed"] == 2  # one ordering of {3g, 3g}, plus the final clear


def test_orderings_are_distinct_and_complete() -> None:
    bench = _bench()
    shapes = [GEO.shape(9), GEO.shape(14), GEO.shape(19), GEO.shape(19)]
    orders = [tuple(s.id for s in o) for o in bench._orderings(bench._flatten(shapes))]
    assert len(orders) == len(set(orders)) == 12  # 4! / 2!
    assert orders[0] == (9, 14, 19, 19)  # mig-parted's flattened order comes first
