from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemig.catalog import all_models
from kubemig.errors import TransitionError
from kubemig.geometry import (
    Action,
    GpuGeometry,
    Instance,
    InstanceSpec,
    Layout,
    TransitionPlan,
    geometry_for,
    parse_layout_spec,
    plan_transition,
    validate,
)
from tests.geometry.oracle import all_layouts, is_valid, layouts_in_order

MODELS = [m.key for m in all_models()]


def _apply_checked(geo: GpuGeometry, plan: TransitionPlan, busy: set[Instance]) -> Layout:
    """Carry out the plan's steps in order the way a driver would, failing on anything it would refuse."""
    state = set(plan.current)
    for step in plan.steps:
        if step.action is Action.DESTROY:
            assert step.instance in state, f"destroys {step.instance}, which does not exist"
            assert step.instance not in busy, f"destroys busy {step.instance}"
            state.remove(step.instance)
        else:
            assert is_valid(geo, [*state, step.instance]), (
                f"create {step.instance} does not fit beside {state}"
            )
            state.add(step.instance)
    return Layout.of(state)


@given(st.sampled_from(MODELS), st.data())
def test_plans_are_minimal_safe_and_reach_the_target(key: str, data: st.DataObject) -> None:
    geo = geometry_for(key)
    every = all_layouts(geo)
    ordered = layouts_in_order(geo)
    current = Layout.of(data.draw(st.sampled_from(ordered)) if data.draw(st.booleans()) else ())
    busy = set(data.draw(st.lists(st.sampled_from(list(current)), unique=True))) if len(current) else set()
    goal = data.draw(st.sampled_from(ordered))
    pin = data.draw(st.booleans())
    specs = [InstanceSpec(i.name, i.start if pin else None) for i in sorted(goal)]
    wanted = Counter(i.profile_id for i in goal)
    candidates = [
        other
        for other in every
        if Counter(i.profile_id for i in other) == wanted and (not pin or other == goal)
    ]
    reachable = [c for c in candidates if busy <= c]
    try:
        plan = plan_transition(geo, current, specs, busy)
    except TransitionError as exc:
        assert not reachable, f"plan refused but {sorted(reachable[0])} keeps every busy instance"
        # the blockers are the fewest busy instances the target cannot keep: every other one it can
        kept_busy = {i for i in busy if str(i) not in exc.blocking}
        assert len(kept_busy) == len(busy) - len(exc.blocking)
        assert max(len(busy & c) for c in candidates) == len(kept_busy)
        assert any(kept_busy <= c for c in candidates)
        return
    assert reachable
    final = _apply_checked(geo, plan, busy)
    assert final == plan.target
    assert Counter(i.profile_id for i in final) == wanted
    assert busy <= set(final)
    best_keep = max(len(set(current) & c) for c in reachable)
    assert len(plan.keep) == best_keep
    assert plan.operations == len(current) + len(final) - 2 * best_keep


@given(st.sampled_from(MODELS), st.data())
def test_force_may_destroy_busy_instances_but_still_reaches_the_target(key: str, data: st.DataObject) -> None:
    geo = geometry_for(key)
    ordered = layouts_in_order(geo)
    current = Layout.of(data.draw(st.sampled_from(ordered)))
    goal = data.draw(st.sampled_from(ordered))
    plan = plan_transition(geo, current, [InstanceSpec(i.name) for i in goal], set(current), force=True)
    assert Counter(i.profile_id for i in _apply_checked(geo, plan, set())) == Counter(
        i.profile_id for i in goal
    )


def test_keeps_the_busy_instances_and_changes_only_the_rest() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    current = validate(geo, parse_layout_spec("2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4"))
    busy = {geo.instance(19, 3), geo.instance(9, 4)}
    plan = plan_transition(geo, current, parse_layout_spec("3g.20gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb"), busy)
    assert [str(s) for s in plan.steps] == ["destroy 2g.10gb@0", "create 1g.5gb@0", "create 1g.5gb@1"]
    assert len(plan.keep) == 3


def test_a_target_that_needs_a_busy_slot_names_the_blocker() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    current = validate(geo, parse_layout_spec("1g.5gb@3"))
    with pytest.raises(TransitionError, match=r"busy instances \(1g.5gb@3\)") as info:
        plan_transition(geo, current, parse_layout_spec("4g.20gb,3g.20gb"), {geo.instance(19, 3)})
    assert info.value.blocking == ["1g.5gb@3"]


def test_only_the_busy_instances_in_the_way_are_named() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    current = validate(geo, parse_layout_spec("3g.20gb@0,1g.5gb@4,1g.5gb@5,1g.5gb@6"))
    busy = {geo.instance(9, 0), geo.instance(19, 6)}
    with pytest.raises(TransitionError) as info:
        plan_transition(geo, current, parse_layout_spec("4g.20gb,1g.5gb"), busy)
    assert info.value.blocking == ["3g.20gb@0"]  # the busy 1g.5gb@6 can stay beside a 4g.20gb@0
    assert "(3g.20gb@0)" in str(info.value)


def test_same_layout_is_a_noop() -> None:
    geo = geometry_for("H100-80GB-HBM3")
    current = validate(geo, parse_layout_spec("3g.40gb,3g.40gb"))
    assert plan_transition(geo, current, current).is_noop
    assert plan_transition(geo, current, parse_layout_spec("3g.40gb,3g.40gb")).is_noop


def test_an_impossible_target_is_a_layout_error_before_any_planning() -> None:
    geo = geometry_for("A100-SXM4-40GB")
    with pytest.raises(Exception, match="at most 1 x 7g.40gb"):
        plan_transition(geo, Layout(), parse_layout_spec("7g.40gb,7g.40gb"))
