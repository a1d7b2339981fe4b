"""The window planner: the online plan, then windows of nodes planned again by the exact program."""

from __future__ import annotations

import pytest
from hypothesis import given

from kubemig.planner import ExactPlanner, OnlinePlanner, Snapshot, SolverState, WindowPlanner
from tests.helpers import BENCH_PLANNER, load_file
from tests.planner.checks import check_plan
from tests.planner.strategies import snapshots


def _short_snapshot(gpus: int, seed: int) -> Snapshot:
    """bench_planner.py's snapshot with CPU and memory short on four nodes in five."""
    snapshot: Snapshot = load_file(BENCH_PLANNER).generate(gpus, seed, "short")
    return snapshot


def test_a_window_of_two_nodes_moves_pods_between_them_where_single_nodes_cannot() -> None:
    # two nodes: the online plan leaves pods out that fit only once pods trade nodes, which planning
    # each node alone, even exactly, cannot do
    snapshot = _short_snapshot(16, 24)
    exact = ExactPlanner(time_limit_s=20).plan(snapshot)
    alone = WindowPlanner(window_nodes=(1,)).plan(snapshot)
    together = WindowPlanner().plan(snapshot)
    for plan in (alone, together):
        check_plan(snapshot, plan)
    assert alone.objective.scheduled_slices < exact.objective.scheduled_slices
    assert together.objective.key() == exact.objective.key()
    assert together.status.state is SolverState.HEURISTIC and together.status.solver == "windows"
    # the two nodes are the whole cluster: a window of 4 or 8 is a window of 2
    assert "windows of up to 2 nodes planned exactly" in together.status.detail


def test_windows_grow_once_windows_of_four_change_nothing() -> None:
    # eight nodes: windows of four stop 7 slices short of the exact plan; the window of eight that
    # follows plans the cluster whole, from a better start
    snapshot = _short_snapshot(64, 47)
    four = WindowPlanner(window_nodes=(4,)).plan(snapshot)
    grown = WindowPlanner().plan(snapshot)
    exact = ExactPlanner(time_limit_s=20).plan(snapshot)
    check_plan(snapshot, grown)
    assert four.objective.scheduled_slices < exact.objective.scheduled_slices
    assert grown.objective.key() == exact.objective.key()
    assert "windows of up to 4, then 8 nodes" in grown.status.detail


def test_windows_grow_to_sixteen_nodes_or_the_whole_cluster() -> None:
    # twelve nodes: windows of 4, then 8, then 16 held to the cluster's 12, each size at least one pass
    snapshot: Snapshot = load_file(BENCH_PLANNER).generate(96, 0, "busy")
    plan = WindowPlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert "windows of up to 4, then 8, then 12 nodes planned exactly" in plan.status.detail


def test_the_window_planner_hands_out_the_online_plan_when_its_time_is_up() -> None:
    snapshot = _short_snapshot(16, 24)
    plan = WindowPlanner(time_limit_s=0).plan(snapshot)
    assert plan.objective == OnlinePlanner().plan(snapshot).objective
    assert plan.status.detail.startswith("0 windows")


def test_the_window_planner_needs_a_node_per_window() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        WindowPlanner(window_nodes=(4, 0))
    with pytest.raises(ValueError, match="at least one node"):
        WindowPlanner(window_nodes=())


@given(snapshots())
def test_the_window_plan_is_valid_and_between_the_online_and_the_exact_plan(snapshot: Snapshot) -> None:
    plan = WindowPlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert OnlinePlanner().plan(snapshot).objective.key() <= plan.objective.key()
    assert plan.objective.key() <= ExactPlanner(time_limit_s=20).plan(snapshot).objective.key()
