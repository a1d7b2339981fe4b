from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemig.catalog import all_models
from kubemig.errors import LayoutError, ProfileError
from kubemig.geometry import (
    InstanceSpec,
    Layout,
    geometry_for,
    kubernetes_name,
    parse_layout_spec,
    place,
    render_slots,
    resolve_profile,
    validate,
)
from tests.geometry.oracle import all_layouts, is_valid, layouts_in_order

MODELS = [m.key for m in all_models()]


@given(st.sampled_from(MODELS), st.data())
def test_place_finds_a_placement_whenever_one_exists(key: str, data: st.DataObject) -> None:
    geo = geometry_for(key)
    every = layouts_in_order(geo)
    witness = data.draw(st.sampled_from(every))
    fixed = data.draw(st.lists(st.sampled_from(sorted(witness)), unique=True))
    todo = [geo.shape(i.profile_id) for i in witness if i not in fixed]
    layout = place(geo, todo, fixed)
    assert layout is not None
    assert is_valid(geo, layout)
    assert set(fixed) <= set(layout)
    assert Counter(i.profile_id for i in layout) == Counter(i.profile_id for i in witness)


@given(st.sampled_from(MODELS), st.data())
def test_place_gives_up_only_when_no_layout_holds_the_request(key: str, data: st.DataObject) -> None:
    geo = geometry_for(key)
    every = all_layouts(geo)
    fixed_layout = data.draw(st.sampled_from(layouts_in_order(geo)))
    fixed = data.draw(st.lists(st.sampled_from(sorted(fixed_layout)), unique=True))
    todo = data.draw(st.lists(st.sampled_from(list(geo.shapes)), max_size=7))
    layout = place(geo, todo, fixed)
    wanted = Counter([i.profile_id for i in fixed] + [s.id for s in todo])
    exists = any(set(fixed) <= other and Counter(i.profile_id for i in other) == wanted for other in every)
    if not todo and not fixed:
        exists = True
    assert (layout is not None) == exists


def test_place_prefers_the_drivers_starts() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    layout = place(geo, [geo.shape(19), geo.shape(14)])
    assert str(layout) == "2g.10gb@4,1g.5gb@6"


def test_validate_places_open_instances_beside_pinned_ones() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    layout = validate(geo, parse_layout_spec("3g.20gb,2g.10gb@0,19,19"))
    assert str(layout) == "2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("3g.20gb,3g.20gb,3g.20gb", "A100-SXM4-40GB allows at most 2 x 3g.20gb, the layout has 3"),
        ("3g.20gb@4,2g.10gb@4", "2g.10gb@4 and 3g.20gb@4 overlap on slices 4-5"),
        ("2g.10gb@1", "2g.10gb cannot start at slice 1 on A100-SXM4-40GB: valid starts are 0, 2, 4"),
        ("3g.30gb", "profile '3g.30gb' does not exist on A100-SXM4-40GB (driver R580): closest: 3g.20gb"),
        ("42", "has no GPU instance profile with ID 42"),
        ("1g.5gb+me,1g.5gb.me", "at most one media-extended instance"),
        ("4g.20gb,2g.10gb,1g.5gb,1g.5gb", "no arrangement of 4g.20gb, 2g.10gb, 2 x 1g.5gb fits"),
        ("7g.40gb@0,1g.5gb@6", "7g.40gb@0 and 1g.5gb@6 overlap on slices 6"),
    ],
)
def test_invalid_layouts_say_why_in_a_users_terms(spec: str, message: str) -> None:
    geo = geometry_for("A100-SXM4-40GB")
    with pytest.raises(LayoutError) as info:
        validate(geo, parse_layout_spec(spec))
    assert any(message in problem for problem in info.value.problems), info.value.problems


def test_every_problem_is_reported_at_once() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    with pytest.raises(LayoutError) as info:
        validate(geo, parse_layout_spec("9g.1gb,3g.20gb@4,3g.20gb@4,3g.20gb"))
    assert len(info.value.problems) == 3


def test_unparsable_spec() -> None:
    with pytest.raises(LayoutError, match="PROFILE@START"):
        parse_layout_spec("3g.20gb@x")


@pytest.mark.parametrize(
    ("token", "name"),
    [
        ("1g.5gb", "1g.5gb"),
        ("MIG 1g.5gb", "1g.5gb"),
        ("1G.5GB", "1g.5gb"),
        ("19", "1g.5gb"),
        ("20", "1g.5gb+me"),
        ("1g.5gb.me", "1g.5gb+me"),
        ("1g.5gb+me", "1g.5gb+me"),
        ("mig-2g.10gb", "2g.10gb"),
        ("nvidia.com/mig-1g.5gb.me", "1g.5gb+me"),
    ],
)
def test_profile_names_as_users_write_them(token: str, name: str) -> None:
    assert resolve_profile(geometry_for("A100-SXM4-40GB"), token).name == name


def test_profile_aliases_from_other_drivers() -> None:
    geo = geometry_for("H100-80GB-HBM3")
    assert resolve_profile(geo, "7g.79gb").name == "7g.80gb"
    assert resolve_profile(geo, "3g.39gb").name == "3g.40gb"


def test_rtx_pro_attribute_names() -> None:
    geo = geometry_for("RTX-PRO-6000-Blackwell-Server-Edition")
    assert resolve_profile(geo, "1g.24gb.me.all").name == "1g.24gb+me.all"
    assert resolve_profile(geo, "1g.24gb-me").name == "1g.24gb-me"
    assert kubernetes_name("1g.24gb+me.all") == "1g.24gb.me.all"


def test_profile_of_a_newer_driver_is_named_as_such() -> None:
    with pytest.raises(ProfileError, match="needs driver R525 or later"):
        resolve_profile(geometry_for("A100-SXM4-40GB", "470.57.02"), "1g.10gb")


def test_slot_diagram() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    layout = validate(
        geo, [InstanceSpec("2g.10gb", 0), InstanceSpec("1g.5gb", 2), InstanceSpec("3g.20gb", 4)]
    )
    assert render_slots(geo, layout) == "\n".join(
        [
            "slice  0      1      2      3      4      5      6      7",
            "      +-------------+------+------+---------------------------+",
            "      |2g.10gb      |1g.5gb|......|3g.20gb                    |",
            "      +-------------+------+------+---------------------------+",
        ]
    )
    assert Layout() == Layout.of([])


def test_a_grid_finer_than_memory_slices_is_counted_in_units() -> None:
    # the RTX PRO 6000 places on 12 units, three per memory slice: calling a unit a slice misleads
    geo = geometry_for("RTX-PRO-6000-Blackwell-Server-Edition")
    with pytest.raises(LayoutError) as info:
        validate(geo, parse_layout_spec("1g.24gb@1"))
    assert info.value.problems == [
        "1g.24gb cannot start at unit 1 on RTX-PRO-6000-Blackwell-Server-Edition: valid starts are 0, 3, 6, 9"
    ]
    with pytest.raises(LayoutError, match="overlap on units 6-8"):
        validate(geo, parse_layout_spec("2g.48gb@6,1g.24gb@6"))
    assert (
        render_slots(geo, validate(geo, parse_layout_spec("4g.96gb"))).splitlines()[0].startswith("unit  0 ")
    )
    assert geometry_for("A30").unit_name == "slice"
