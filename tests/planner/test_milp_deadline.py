"""The exact planner's solves held to a deadline: in a child process the answer is the same, a
child that overruns is killed and reported as finding nothing, and a child's error is raised."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint

from kubemig.planner import ExactPlanner, SolverState, milp_deadline
from kubemig.planner.milp_deadline import milp_within
from tests.planner.test_planners import _ZONES, _snapshot

# max 3a + 2b with a + b <= 4, a <= 2.5, integers: a = 2, b = 2
KNAPSACK: dict[str, Any] = {
    "c": np.array([-3.0, -2.0]),
    "integrality": np.ones(2),
    "bounds": Bounds(np.zeros(2), np.array([2.5, 10.0])),
    "constraints": [LinearConstraint(np.array([[1.0, 1.0]]), -np.inf, 4.0)],
    "options": {"time_limit": 5.0},
}


@pytest.mark.parametrize("in_place", [True, False])
def test_a_program_is_solved_the_same_in_place_and_in_a_child(in_place: bool) -> None:
    x, status, gap = milp_within(10.0, KNAPSACK, in_place=in_place)
    assert x is not None and list(np.round(x)) == [2.0, 2.0] and (status, gap) == (0, None)


def test_a_child_past_its_deadline_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milp_deadline, "milp", lambda **_: time.sleep(120))
    started = time.monotonic()
    assert milp_within(0.5, KNAPSACK, in_place=False) == (None, 1, None)
    assert time.monotonic() - started < 60, "the parent waited for the child instead of killing it"


def test_an_error_in_the_child_is_raised_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: Any) -> None:
        raise ValueError("bad program")

    monkeypatch.setattr(milp_deadline, "milp", broken)
    with pytest.raises(ValueError, match="bad program"):
        milp_within(10.0, KNAPSACK, in_place=False)


def test_the_exact_planner_plans_alike_in_a_child_and_falls_back_when_it_is_given_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot = _snapshot(_ZONES + "- {pod: a, profile: 3g.20gb}\n- {pod: b, profile: 7g.40gb, count: 2}\n")
    here, child = (ExactPlanner(10, in_place=flag).plan(snapshot) for flag in (True, False))
    assert (child.objective, child.status.state) == (here.objective, SolverState.OPTIMAL)
    monkeypatch.setattr(milp_deadline, "milp", lambda **_: time.sleep(120))
    given_up = ExactPlanner(0.5, in_place=False).plan(snapshot)
    assert given_up.status.state is SolverState.TIME_LIMIT
    assert given_up.objective.scheduled_slices == here.objective.scheduled_slices  # the online plan's
    assert "the online plan is used" in given_up.status.detail
