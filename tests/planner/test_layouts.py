"""Maximal extensions of the instances that must stay, against the geometry oracle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubemig.catalog import all_models
from kubemig.geometry import Instance, Layout, can_add, geometry_for, maximal_layouts
from kubemig.planner.layouts import maximal_extensions, shape_candidates
from tests.geometry.oracle import all_layouts, is_valid

MODELS = [m.key for m in all_models()]


@given(st.sampled_from(MODELS))
def test_extensions_of_nothing_are_the_maximal_layouts(model: str) -> None:
    geo = geometry_for(model)
    assert set(maximal_extensions(geo, [], shape_candidates(geo.shapes))) == set(maximal_layouts(geo))


@given(
    st.sampled_from(
        [("A100-SXM4-40GB", 470), ("A100-SXM4-40GB", 580), ("H100-80GB-HBM3", 580), ("A30", 580)]
    ),
    st.data(),
)
def test_extensions_match_the_oracle(model_branch: tuple[str, int], data: st.DataObject) -> None:
    model, branch = model_branch
    geo = geometry_for(model, branch)
    fixed: list[Instance] = []
    for _ in range(data.draw(st.integers(0, 3))):
        shape = data.draw(st.sampled_from(geo.shapes))
        start = data.draw(st.sampled_from(shape.starts))
        if can_add(geo, fixed, shape, start):
            fixed.append(shape.at(start))
    shapes = data.draw(st.lists(st.sampled_from(geo.shapes), min_size=1, max_size=4, unique=True))
    extra = data.draw(st.lists(st.sampled_from(shape_candidates(geo.shapes)), max_size=3))
    candidates = {*shape_candidates(shapes), *extra}
    found = set(maximal_extensions(geo, fixed, candidates))
    # the oracle: every valid layout of fixed + candidates, kept when no candidate can be added
    ids = {i.profile_id for i in (*fixed, *candidates)}
    layouts = {layout for layout in all_layouts(geo, ids) | {frozenset[Instance]()} if set(fixed) <= layout}
    layouts = {l for l in layouts if l - set(fixed) <= candidates}
    expected = {
        Layout.of(l) for l in layouts if not any(c not in l and is_valid(geo, [*l, c]) for c in candidates)
    }
    assert found == expected
