from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemig.catalog import all_models
from kubemig.errors import KubemigError
from kubemig.geometry import (
    Instance,
    Layout,
    enumerate_layouts,
    free_counts,
    geometry_for,
    is_maximal,
    maximal_layouts,
    resolve_profile,
)
from tests.geometry.oracle import all_layouts, is_valid, layouts_in_order

MODELS = [m.key for m in all_models()]
DRIVERS = ["460.73.01", "470.57.02", "535.104.05", "580.65.06"]


def _geometries() -> list[tuple[str, str]]:
    out = []
    for key in MODELS:
        for driver in DRIVERS:
            try:
                geometry_for(key, driver)
            except KubemigError:  # a model this driver does not support: no geometry to test
                continue
            out.append((key, driver))
    return out


@pytest.mark.parametrize(("key", "driver"), _geometries())
def test_enumeration_finds_exactly_the_valid_layouts(key: str, driver: str) -> None:
    geo = geometry_for(key, driver)
    layouts = enumerate_layouts(geo)
    as_sets = [frozenset(layout) for layout in layouts]
    assert len(as_sets) == len(set(as_sets)), "each layout once"
    assert all(is_valid(geo, layout) for layout in layouts)
    assert set(as_sets) == all_layouts(geo)


def test_a100_40gb_classic_profiles_have_19_maximal_layouts() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    classic = [resolve_profile(geo, p) for p in ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")]
    maximal = maximal_layouts(geo, classic)
    assert len(maximal) == 19
    lower = {frozenset(i for i in m if i.start < 4) for m in maximal if m.instances[0].size < 8}
    upper = {frozenset(i for i in m if i.start >= 4) for m in maximal if m.instances[0].size < 8}
    assert len(lower) == 6 and len(upper) == 3


def test_4g_with_3g_is_refused_before_r510() -> None:
    geo = geometry_for("A100-SXM4-40GB", "470.57.02")
    classic = [resolve_profile(geo, p) for p in ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")]
    assert len(maximal_layouts(geo, classic)) == 18


@pytest.mark.parametrize("key", MODELS)
def test_maximal_layouts_are_exactly_the_unextendable_ones(key: str) -> None:
    geo = geometry_for(key)
    every = all_layouts(geo)
    expected = {
        layout
        for layout in every
        if not any(layout < other for other in every if len(other) == len(layout) + 1)
    }
    assert {frozenset(m) for m in maximal_layouts(geo)} == expected


@cache
def _enumerated(key: str) -> frozenset[frozenset[Instance]]:
    """The engine's layouts of a model, once per run (examples only draw sets to look up)."""
    return frozenset(frozenset(layout) for layout in enumerate_layouts(geometry_for(key)))


@given(st.sampled_from(MODELS), st.data())
def test_a_random_set_of_instances_is_valid_exactly_when_enumerated(key: str, data: st.DataObject) -> None:
    geo = geometry_for(key)
    candidates = [shape.at(start) for shape in geo.shapes for start in shape.starts]
    chosen = data.draw(st.lists(st.sampled_from(candidates), unique=True, min_size=1, max_size=8))
    assert (frozenset(chosen) in _enumerated(key)) == is_valid(geo, chosen)


@given(st.sampled_from(MODELS), st.data())
def test_free_counts_are_how_many_more_of_a_profile_still_fit(key: str, data: st.DataObject) -> None:
    geo = geometry_for(key)
    every = all_layouts(geo)
    layout = Layout.of(data.draw(st.sampled_from(layouts_in_order(geo))) if data.draw(st.booleans()) else ())
    counts = free_counts(geo, layout)
    for shape in geo.shapes:
        more = max(
            (
                sum(1 for i in other if i.profile_id == shape.id) - layout.count(shape.id)
                for other in every
                if set(layout) <= other
                and all(i in layout.instances or i.profile_id == shape.id for i in other)
            ),
            default=0,
        )
        assert counts[shape.id] == (more, shape.instances), shape.name


def test_free_counts_of_an_empty_a100() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    assert free_counts(geo, Layout()) == {
        19: (7, 7),
        20: (1, 1),
        15: (4, 4),
        14: (3, 3),
        9: (2, 2),
        5: (1, 1),
        0: (1, 1),
    }


def test_a_media_extended_instance_leaves_no_room_for_another() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    layout = Layout.of([geo.instance(20, 6)])
    counts = free_counts(geo, layout)
    assert counts[20] == (0, 1)
    assert counts[19] == (6, 7)
    assert is_maximal(geo, Layout.of([geo.instance(0, 0)]))
