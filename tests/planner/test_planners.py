"""Both planners on random small snapshots: every plan keeps the rules; the exact one is optimal
(equal to a brute force over every layout) and never behind the online one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import pytest
from hypothesis import given

from kubemig.geometry import Layout, resolve_profile
from kubemig.planner import (
    ExactPlanner,
    OnlineAllocator,
    OnlinePlanner,
    Snapshot,
    SolverState,
    local_search,
    online_plan,
)
from kubemig.planner.cluster import Cluster, PendingPod
from kubemig.planner.online_plan import _best_of_orders, _leaders_first, _plan_in_order, _rank
from kubemig.planner.plan import Plan, Slot, SolverStatus, assemble
from tests.planner.brute import best_objective
from tests.planner.checks import check_plan
from tests.planner.strategies import snapshots

EXACT = ExactPlanner(time_limit_s=20)


@given(snapshots())
def test_every_plan_is_valid_and_exact_is_never_behind_online(snapshot: Snapshot) -> None:
    exact = EXACT.plan(snapshot)
    online = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, exact)
    check_plan(snapshot, online)
    assert exact.status.state is SolverState.OPTIMAL
    assert online.status.state is SolverState.HEURISTIC
    assert exact.objective.key() >= online.objective.key()


@given(snapshots(max_gpus=2, max_requests=3))
def test_exact_objective_equals_brute_force(snapshot: Snapshot) -> None:
    plan = EXACT.plan(snapshot)
    assert plan.objective.key() == best_objective(snapshot)


def _snapshot(text: str) -> Snapshot:
    return Snapshot.parse(text)


def test_exact_keeps_busy_instances_and_reuses_free_ones() -> None:
    snapshot = _snapshot("""
nodes:
- name: n
  gpus:
  - index: 0
    model: A100-SXM4-40GB
    instances:
    - {profile: 3g.20gb, start: 4, pod: running}
    - {profile: 2g.10gb, start: 0}
    - {profile: 2g.10gb, start: 2}
requests:
- {pod: a, profile: 2g.10gb}
- {pod: b, profile: 2g.10gb}
""")
    plan = EXACT.plan(snapshot)
    check_plan(snapshot, plan)
    assert sorted(str(s.instance) for slots in plan.assignments.values() for s in slots) == [
        "2g.10gb@0",
        "2g.10gb@2",
    ]
    assert plan.objective.key() == (4, 0, 0, 0)  # nothing created or destroyed


def test_online_takes_a_free_instance_of_the_profile_over_a_better_packed_new_one() -> None:
    # a new 2g.10gb at slice 0 of GPU 0 would pack that GPU a little better, but it destroys the
    # free 1g.5gb at slice 1; a free 2g.10gb on GPU 1 serves the pod with no change at all
    snapshot = _snapshot("""
nodes:
- name: n
  gpus:
  - index: 0
    model: A100-SXM4-40GB
    instances:
    - {profile: 1g.5gb, start: 1}
    - {profile: 1g.5gb, start: 2}
    - {profile: 1g.5gb, start: 3, pod: x}
    - {profile: 1g.5gb, start: 6, pod: y}
  - index: 1
    model: A100-SXM4-40GB
    instances:
    - {profile: 2g.10gb, start: 0}
    - {profile: 2g.10gb, start: 2}
    - {profile: 1g.5gb, start: 6, pod: z}
requests:
- {pod: p, profile: 2g.10gb}
""")
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert plan.objective.key() == EXACT.plan(snapshot).objective.key() == (2, 0, 0, 0)


def test_online_finds_a_free_instance_of_the_profile_on_the_least_busy_of_many_nodes() -> None:
    # eighteen nodes hold a GPU running one 1g.5gb; seventeen are busier (a 7g.40gb in use too),
    # and the least busy one also has a free 2g.10gb: the pod takes it, and no GPU changes
    def gpu(index: int, *instances: dict[str, object]) -> dict[str, object]:
        return {"index": index, "model": "A100-SXM4-40GB", "instances": list(instances)}

    def node(n: int) -> dict[str, object]:
        small = {"profile": "1g.5gb", "start": 6, "pod": f"x{n}"}
        if n < 17:
            gpus = [gpu(0, small), gpu(1, {"profile": "7g.40gb", "start": 0, "pod": f"y{n}"})]
        else:
            gpus = [gpu(0, {"profile": "2g.10gb", "start": 0}, small)]
        return {"name": f"n{n:02d}", "gpus": gpus}

    snapshot = Snapshot.of_data(
        {
            "version": 1,
            "nodes": [node(n) for n in range(18)],
            "requests": [{"pod": "p", "profile": "2g.10gb"}],
        }
    )
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert [(s.node, str(s.instance)) for s in plan.assignments["p"]] == [("n17", "2g.10gb@0")]
    assert plan.objective.key() == (2, 0, 0, 0)


def test_exact_prefers_slices_then_priority_then_fewer_changes() -> None:
    snapshot = _snapshot("""
nodes:
- name: n
  gpus:
  - {index: 0, model: A100-SXM4-40GB, instances: [{profile: 1g.5gb, start: 6}]}
requests:
- {pod: big, profile: 4g.20gb}
- {pod: low, profile: 3g.20gb, priority: 1}
- {pod: high, profile: 3g.20gb, priority: 5}
""")
    plan = EXACT.plan(snapshot)
    check_plan(snapshot, plan)
    # 4g + 3g = 7 slices beats 3g + 3g = 6; of the two 3g pods the higher priority one goes
    assert set(plan.assignments) == {"big", "high"}
    assert plan.unscheduled == ["low"]
    assert plan.objective.free_destroyed == 1  # 1g.5gb@6 stands where 3g.20gb@4 must go


def test_multi_instance_pod_stays_on_one_node() -> None:
    snapshot = _snapshot("""
nodes:
- {name: a, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- {name: b, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: pair, profile: 7g.40gb, count: 2}
- {pod: one, profile: 7g.40gb}
""")
    for planner in (EXACT, OnlinePlanner()):
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        assert plan.unscheduled == ["pair"]  # two whole GPUs exist, but on two nodes


def test_time_limited_solve_reports_its_state() -> None:
    snapshot = _snapshot(
        "nodes:\n"
        + "".join(
            f"- {{name: n{n}, gpus: [{{index: 0, model: A100-SXM4-40GB}}, {{index: 1, model: H100-80GB-HBM3}}]}}\n"
            for n in range(30)
        )
        + "requests:\n"
        + "".join(
            f"- {{pod: p{r}, profile: {['1g.10gb', '2g.10gb', '3g.20gb', '4g.40gb'][r % 4]}, count: {1 + r % 3}, priority: {r % 5}}}\n"
            for r in range(60)
        )
    )
    plan = ExactPlanner(time_limit_s=0.2).plan(snapshot)
    check_plan(snapshot, plan)
    assert plan.status.state in (SolverState.OPTIMAL, SolverState.TIME_LIMIT)
    if plan.status.state is SolverState.TIME_LIMIT:
        assert plan.status.detail


def test_a_solve_cut_short_never_hands_out_less_than_the_online_plan() -> None:
    # with no time for even the first stage, the program has only its start: nothing scheduled
    snapshot = _snapshot(
        "nodes: [{name: n, gpus: [{index: 0, model: A100-SXM4-40GB}]}]\n"
        "requests: [{pod: a, profile: 3g.20gb}, {pod: b, profile: 4g.20gb}]\n"
    )
    plan = ExactPlanner(time_limit_s=0.001).plan(snapshot)
    check_plan(snapshot, plan)
    online = OnlinePlanner().plan(snapshot)
    assert (plan.assignments, plan.objective) == (online.assignments, online.objective)
    assert plan.status.state is SolverState.TIME_LIMIT and plan.status.solver == "exact"
    assert "the online plan is used, better than the best found (0 slices)" in plan.status.detail
    # given the time, the program's own plan
    assert ExactPlanner(time_limit_s=20).plan(snapshot).status.state is SolverState.OPTIMAL


def test_an_empty_cluster_is_planned_as_nothing_to_do() -> None:
    # a live cluster before any agent has published its node: no GPUs, no requests it can place
    empty = Snapshot.parse("nodes: []\nrequests: []\n")
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(empty)
        assert plan.gpus == {} and plan.assignments == {} and plan.unscheduled == []
    assert ExactPlanner(5).plan(empty).status.state is SolverState.OPTIMAL


def test_a_pod_held_to_some_nodes_goes_only_there() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- {name: node-a, gpus: [{index: 0, model: A100-SXM4-40GB, instances: [{profile: 4g.20gb, start: 0}]}]}
- {name: node-b, gpus: [{index: 0, model: A100-SXM4-40GB, instances: [{profile: 3g.20gb, start: 4, in_use: true}]}]}
requests:
- {pod: pinned, profile: 4g.20gb, nodes: [node-b]}
- {pod: nowhere, profile: 1g.5gb, nodes: [node-z]}
"""
    )
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        # node-a's free 4g.20gb would serve at no change; the selector says node-b
        assert [(s.node, str(s.instance)) for s in plan.assignments["pinned"]] == [("node-b", "4g.20gb@0")]
        assert plan.unscheduled == ["nowhere"]
        check_plan(snapshot, plan)


def test_pods_placed_on_a_node_fit_together_in_what_it_has_left() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- name: node-a
  free: {cpu: "6", memory: 64Gi}
  gpus: [{index: 0, model: A100-SXM4-40GB, instances: [{profile: 3g.20gb, start: 0}, {profile: 3g.20gb, start: 4}]}]
- {name: node-b, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: one, profile: 3g.20gb, resources: {cpu: "4"}}
- {pod: two, profile: 3g.20gb, resources: {cpu: 4000m, memory: 1Gi}}
- {pod: light, profile: 1g.5gb, resources: {cpu: 100m}}
"""
    )
    assert Cluster.of(snapshot).free == {"node-a": {"cpu": Decimal(6)}}  # memory is plenty: no limit
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        # node-a's two free 3g.20gb would serve both without a change, but not 8 CPUs out of 6
        nodes = sorted(plan.assignments[pod][0].node for pod in ("one", "two"))
        assert nodes == ["node-a", "node-b"], planner
        assert not plan.unscheduled
        check_plan(snapshot, plan)


@pytest.mark.parametrize(("cpu", "short", "placed"), [("8", False, 3), ("5", True, 2)])
def test_a_node_is_short_only_of_what_the_pods_it_can_hold_could_ask(
    cpu: str, short: bool, placed: int
) -> None:
    """Six pods of 2 CPUs ask 12, but the node's one GPU has four free units (a 4g.20gb is busy),
    so at most four pods land there: 8 CPUs at most."""
    pods = "\n".join(f"- {{pod: p{n}, profile: 1g.5gb, resources: {{cpu: '2'}}}}" for n in range(6))
    snapshot = Snapshot.parse(
        f"""
nodes:
- name: node-a
  free: {{cpu: "{cpu}"}}
  gpus: [{{index: 0, model: A100-SXM4-40GB, instances: [{{profile: 4g.20gb, start: 0, in_use: true}}]}}]
requests:
{pods}
"""
    )
    assert (Cluster.of(snapshot).free == {"node-a": {"cpu": Decimal(cpu)}}) is short
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        # three 1g.5gb fit beside the 4g.20gb; 5 CPUs are enough for two
        assert len(plan.assignments) == placed


def test_the_online_planner_gives_a_pod_the_node_it_fills_most_closely() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- {name: node-a, free: {cpu: "8"}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- {name: node-b, free: {cpu: "4"}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: big, profile: 7g.40gb, resources: {cpu: "8"}}
- {pod: small, profile: 7g.40gb, resources: {cpu: "4"}}
"""
    )
    plan = OnlinePlanner().plan(snapshot)
    # small goes first (it asks less of the short CPU) and to node-b, whose CPU it fills; on node-a
    # it would leave big nowhere
    assert {pod: slots[0].node for pod, slots in plan.assignments.items()} == {
        "small": "node-b",
        "big": "node-a",
    }
    check_plan(snapshot, plan)


def test_the_online_planner_tries_the_pods_by_priority_where_it_leaves_out_a_higher_one() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- {name: node-a, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: batch, profile: 7g.40gb, priority: 0}
- {pod: serve, profile: 4g.20gb, priority: 5}
- {pod: tune, profile: 3g.20gb, priority: 5}
"""
    )
    # largest first, batch takes the GPU; by priority, serve and tune fill it as well
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert plan.objective.key()[:2] == (7, 10)
    assert plan.unscheduled == ["batch"]


def _count_orders(monkeypatch: pytest.MonkeyPatch, budget: int) -> list[Sequence[tuple[int, PendingPod]]]:
    """The orders the online planner runs its rule in, from now on, with its restart budget set."""
    calls: list[Sequence[tuple[int, PendingPod]]] = []
    real = online_plan._plan_in_order

    def counted(cluster: Cluster, order: Sequence[tuple[int, PendingPod]]) -> Plan:
        calls.append(order)
        return real(cluster, order)

    monkeypatch.setattr(online_plan, "_plan_in_order", counted)
    monkeypatch.setattr(online_plan, "RESTART_GPU_BUDGET", budget)
    return calls


@pytest.mark.parametrize(
    ("budget", "batch_priority", "runs"),
    [(8192, 0, 2), (0, 0, 1), (8192, 5, 1)],  # by priority too; over the budget; nothing to gain
)
def test_the_online_planner_runs_the_priority_order_only_within_its_budget_and_where_it_may_gain(
    monkeypatch: pytest.MonkeyPatch, budget: int, batch_priority: int, runs: int
) -> None:
    snapshot = Snapshot.parse(
        f"""
nodes:
- {{name: node-a, gpus: [{{index: 0, model: A100-SXM4-40GB}}]}}
requests:
- {{pod: batch, profile: 7g.40gb, priority: {batch_priority}}}
- {{pod: serve, profile: 4g.20gb, priority: 5}}
"""
    )
    calls = _count_orders(monkeypatch, budget)
    plan = OnlinePlanner().plan(snapshot)
    assert plan.unscheduled == ["serve"]  # 7 slices beat 4 whatever the priorities
    assert len(calls) == runs


def test_the_online_planner_keeps_gpu_room_where_cpu_is_left_to_use_it() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- name: node-a
  free: {cpu: "6"}
  gpus:
  - {index: 0, model: A100-SXM4-40GB}
  - {index: 1, model: A100-SXM4-40GB, instances: [{profile: 3g.20gb, start: 4, pod: x}]}
- name: node-b
  free: {cpu: "4"}
  gpus:
  - {index: 0, model: A100-SXM4-40GB}
  - {index: 1, model: A100-SXM4-40GB, instances: [{profile: 7g.40gb, start: 0, pod: y}]}
requests:
- {pod: whole, profile: 7g.40gb, resources: {cpu: "1"}}
- {pod: two, profile: 2g.10gb, resources: {cpu: "2"}}
- {pod: one-a, profile: 1g.5gb, resources: {cpu: "3"}}
- {pod: one-b, profile: 1g.5gb, resources: {cpu: "2"}}
"""
    )
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    # node-b's CPU fits `whole` more closely, but its empty GPU is all the room it has: there the
    # 7g.40gb would leave it 3 CPUs and no GPU room, and node-a 6 CPUs for the three small pods (7)
    assert plan.assignments["whole"][0].node == "node-a"
    assert not plan.unscheduled
    assert plan.objective.key()[0] == EXACT.plan(snapshot).objective.key()[0] == 11


def test_the_online_planner_tries_other_orders_where_cpu_runs_short_and_keeps_the_best_plan() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- {name: node-a, free: {cpu: "6"}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- {name: node-b, free: {cpu: "2"}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: large, profile: 3g.20gb, resources: {cpu: "6"}}
- {pod: light, profile: 2g.10gb, resources: {cpu: "3"}}
"""
    )
    # in the first order `light` (more slices per CPU asked) comes first and takes node-a's CPU,
    # the only node either fits on; in an order with `large` first the plan schedules more slices
    cluster = Cluster.of(snapshot)
    first = _plan_in_order(cluster, sorted(enumerate(cluster.requests), key=_rank(cluster)))
    assert first.unscheduled == ["large"]
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert plan.unscheduled == ["light"]
    assert plan.assignments["large"][0].node == "node-a"
    assert plan.objective.key()[0] == EXACT.plan(snapshot).objective.key()[0] == 3


@pytest.mark.parametrize(
    ("budget", "heavy_cpu", "runs"),
    [(8192, "2", 9), (2, "2", 2), (8192, "9", 1)],  # all restarts; 2 GPUs' budget: one; no node holds it
)
def test_the_online_planner_reruns_only_within_its_budget_and_for_pods_some_node_could_hold(
    monkeypatch: pytest.MonkeyPatch, budget: int, heavy_cpu: str, runs: int
) -> None:
    snapshot = Snapshot.parse(
        f"""
nodes:
- {{name: node-a, free: {{cpu: "3"}}, gpus: [{{index: 0, model: A100-SXM4-40GB}}]}}
- {{name: node-b, free: {{cpu: "3"}}, gpus: [{{index: 0, model: A100-SXM4-40GB}}]}}
requests:
- {{pod: one, profile: 7g.40gb, resources: {{cpu: "1"}}}}
- {{pod: two, profile: 7g.40gb, resources: {{cpu: "1"}}}}
- {{pod: heavy, profile: 7g.40gb, resources: {{cpu: "{heavy_cpu}"}}}}
"""
    )
    calls = _count_orders(monkeypatch, budget)
    monkeypatch.setattr(online_plan, "improved", lambda cluster, plan, replan: plan)  # orders only
    plan = OnlinePlanner().plan(snapshot)
    # two GPUs for three whole-GPU pods: one is always left out, and no order does better
    assert len(plan.unscheduled) == 1
    assert len(calls) == runs


LEFT_OUT_ON_ONE_NODE = """
nodes:
- {name: node-a, free: {cpu: "6"}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- {name: node-b, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: whole-1, profile: 7g.40gb, resources: {cpu: "5"}}
- {pod: half, profile: 4g.20gb, resources: {cpu: "1"}}
- {pod: whole-2, profile: 7g.40gb, resources: {cpu: "5"}}
"""


@pytest.mark.parametrize(("budget", "slices"), [(local_search.SEARCH_GPU_BUDGET, 14), (0, 11)])
def test_the_online_planner_plans_a_node_again_with_the_pods_left_out(
    monkeypatch: pytest.MonkeyPatch, budget: int, slices: int
) -> None:
    monkeypatch.setattr(local_search, "SEARCH_GPU_BUDGET", budget)
    snapshot = Snapshot.parse(LEFT_OUT_ON_ONE_NODE)
    # `half` asks least CPU per slice and goes first, to node-a, the short one; a 7g.40gb then
    # takes node-b and the other fits nowhere, in every order tried. Node-a planned again with the
    # pods left out takes that 7g.40gb instead of `half`: 14 slices, as the exact plan
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert plan.objective.scheduled_slices == slices
    if budget:
        assert plan.unscheduled == ["half"]
        assert plan.objective.key()[0] == EXACT.plan(snapshot).objective.key()[0]


def test_the_online_planner_keeps_a_node_as_planned_where_planning_it_again_does_worse() -> None:
    snapshot = Snapshot.parse(
        """
nodes:
- {name: node-a, free: {cpu: "2"}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- {name: node-b, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: p0, profile: 1g.5gb, resources: {cpu: "3"}}
- {pod: p1, profile: 3g.20gb, resources: {cpu: "3"}}
- {pod: p2, profile: 2g.10gb, resources: {cpu: "5"}}
- {pod: p3, profile: 3g.20gb, resources: {cpu: "5"}}
- {pod: p4, profile: 2g.10gb, resources: {cpu: "3"}}
"""
    )
    # node-b alone is short of nothing, so planned again it gets largest first (two 3g.20gb, 6
    # slices) where the whole cluster's plan put 7 there
    plan = OnlinePlanner().plan(snapshot)
    check_plan(snapshot, plan)
    assert plan.objective.scheduled_slices == 7


@given(snapshots())
def test_the_online_plan_is_never_behind_its_first_order(snapshot: Snapshot) -> None:
    cluster = Cluster.of(snapshot)
    first = _plan_in_order(cluster, sorted(enumerate(cluster.requests), key=_rank(cluster)))
    orders = _best_of_orders(cluster)
    assert OnlinePlanner().plan(snapshot).objective.key() >= orders.objective.key() >= first.objective.key()


def test_a_plan_never_destroys_a_free_instance_that_fits_beside_its_target() -> None:
    """A solve cut short can pick a layout that drops a free instance for nothing; the plan keeps it."""
    snapshot = Snapshot.parse(
        """
nodes:
- {name: node-a, gpus: [{index: 0, model: A100-SXM4-40GB, instances: [{profile: 1g.5gb, start: 6}, {profile: 1g.5gb, start: 5}]}]}
requests:
- {pod: p, profile: 4g.20gb}
"""
    )
    cluster = Cluster.of(snapshot)
    gpu = cluster.gpus[0]
    new = resolve_profile(gpu.geo, "4g.20gb").at(0)
    # a target that holds the new instance and drops both free ones, though only slices 0-3 are needed
    status = SolverStatus(SolverState.TIME_LIMIT, "exact", 1.0)
    plan = assemble(cluster, {gpu.key: Layout.of([new])}, {"p": [Slot("node-a", 0, new)]}, status)
    assert sorted(str(i) for i in plan.gpus[gpu.key].target) == ["1g.5gb@5", "1g.5gb@6", "4g.20gb@0"]
    assert plan.objective.free_destroyed == 0
    check_plan(snapshot, plan)


def test_the_allocator_needs_nodes_to_hold_a_pod_to_some() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB")])
    with pytest.raises(ValueError, match="node_of"):
        allocator.allocate("p", "1g.5gb", nodes=["node-a"])


_ZONES = """
nodes:
- {name: a-1, labels: {zone: a}, gpus: [{index: 0, model: A100-SXM4-40GB}, {index: 1, model: A100-SXM4-40GB}]}
- {name: b-1, labels: {zone: b}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
"""


def _zones_by_pod(plan_assignments: Mapping[str, list[Slot]]) -> dict[str, str]:
    return {pod: slots[0].node[0] for pod, slots in plan_assignments.items()}


def test_replicas_spread_over_zones_stay_within_the_skew() -> None:
    # zone b has room for one 7g.40gb, zone a for two: with skew 1, a third replica in a would be
    # two ahead of b, and the scheduler would refuse it
    requests = "".join(f"- {{pod: r{i}, profile: 7g.40gb}}\n" for i in range(4))
    spread = "spread: [{pods: [r0, r1, r2, r3], topology: zone}]\n"
    snapshot = Snapshot.parse(_ZONES + requests + spread)
    unspread = Snapshot.parse(_ZONES + requests)
    for planner in (ExactPlanner(5), OnlinePlanner()):
        assert len(planner.plan(unspread).assignments) == 3
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        assert sorted(_zones_by_pod(plan.assignments).values()) == ["a", "a", "b"], planner
        assert len(plan.unscheduled) == 1


@pytest.mark.parametrize(
    ("replicas", "group", "zones"),
    [
        # zone a holds 2 matching pods and zone c (no MIG node) 3: with skew 1, b may reach 4 and a
        # 4, each one above c, so 6 of the 7 go (b first: a may grow only once b has caught up)
        (7, "{topology: zone, domains: {a: 2, b: 0, c: 3}}", "aabbbb"),
        # zone b is not one of the group's domains, and below min_domains the emptiest counts as
        # 0: zone a may hold max_skew pods
        (3, "{topology: zone, max_skew: 2, domains: {a: 0}, min_domains: 2}", "aa"),
    ],
    ids=["domain-ahead-catches-up", "below-min-domains"],
)
def test_spread_counts_the_pods_already_there_and_min_domains(replicas: int, group: str, zones: str) -> None:
    requests = "".join(f"- {{pod: r{i}, profile: 1g.5gb}}\n" for i in range(replicas))
    pods = ", ".join(f"r{i}" for i in range(replicas))
    snapshot = Snapshot.parse(_ZONES + requests + f"spread: [{{pods: [{pods}], {group[1:]}]\n")
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        assert "".join(sorted(_zones_by_pod(plan.assignments).values())) == zones, planner


def test_pods_that_must_share_a_zone_go_where_most_of_them_fit() -> None:
    # zone a has room for one 3g.20gb, zone b for two: apart they would place three, together two
    text = """
nodes:
- name: a-1
  labels: {zone: a}
  gpus: [{index: 0, model: A100-SXM4-40GB, instances: [{profile: 4g.20gb, start: 0, in_use: true}]}]
- {name: b-1, labels: {zone: b}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests: [{pod: r0, profile: 3g.20gb}, {pod: r1, profile: 3g.20gb}, {pod: r2, profile: 3g.20gb}]
"""
    snapshot = Snapshot.parse(text + "together: [{pods: [r0, r1, r2], topology: zone}]\n")
    for planner in (ExactPlanner(5), OnlinePlanner()):
        assert len(planner.plan(Snapshot.parse(text)).assignments) == 3
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        assert sorted(_zones_by_pod(plan.assignments).values()) == ["b", "b"], planner


def test_a_pod_that_follows_pending_pods_goes_only_into_a_zone_where_one_of_them_goes() -> None:
    # db may go only to b-1; web follows it into zone b, where its GPU keeps room for a 3g.20gb
    # beside the db, not for a 7g.40gb; zone a's two empty GPUs take neither follower, but they
    # take big-too, whose term a pod bound in zone a meets already. A pod following a pod that is
    # not pending waits for it to be bound, unless one its term matches runs already.
    requests = """\
- {pod: db, profile: 1g.5gb, nodes: [b-1]}
- {pod: web, profile: 3g.20gb, follows: [{pods: [db], topology: zone}]}
- {pod: big, profile: 7g.40gb, follows: [{pods: [db], topology: zone}]}
- {pod: lost, profile: 1g.5gb, follows: [{pods: [gone]}]}
- {pod: big-too, profile: 7g.40gb, follows: [{pods: [db], topology: zone, domains: [a]}]}
- {pod: found, profile: 1g.5gb, follows: [{pods: [gone], topology: zone, domains: [a]}]}
"""
    snapshot = Snapshot.parse(_ZONES + requests)
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        assert _zones_by_pod(plan.assignments) == {"db": "b", "web": "b", "big-too": "a", "found": "a"}, (
            planner
        )


def test_replicas_alike_are_told_apart_when_only_one_of_them_is_followed() -> None:
    # db-0 and db-1 ask alike, but web and web-2 follow db-0 alone: all four fit only with db-0 in
    # zone b (b-1 has room for three pods) and db-1 in a-1's one free slot
    text = """
nodes:
- name: a-1
  labels: {zone: a}
  gpus:
  - {index: 0, model: A100-SXM4-40GB, instances: [{profile: 4g.20gb, start: 0, in_use: true}, {profile: 2g.10gb, start: 4, in_use: true}]}
- name: b-1
  labels: {zone: b}
  free: {pods: 3}
  gpus: [{index: 0, model: A100-SXM4-40GB}, {index: 1, model: A100-SXM4-40GB}]
requests:
- {pod: db-0, profile: 1g.5gb}
- {pod: db-1, profile: 1g.5gb}
- {pod: web, profile: 7g.40gb, follows: [{pods: [db-0], topology: zone}]}
- {pod: web-2, profile: 3g.20gb, follows: [{pods: [db-0], topology: zone}]}
"""
    snapshot = Snapshot.parse(text)
    plan = ExactPlanner(5).plan(snapshot)
    check_plan(snapshot, plan)
    assert _zones_by_pod(plan.assignments) == {"db-0": "b", "db-1": "a", "web": "b", "web-2": "b"}
    check_plan(snapshot, OnlinePlanner().plan(snapshot))


def test_pods_that_only_count_in_a_spread_group_may_go_anywhere_but_count_where_they_go() -> None:
    # r0 and r1 carry the constraint (zones a and b, skew 1); c0 and c1 match it without carrying
    # it. Zone b has room for one 1g.5gb. With both 7g.40gb pods in zone a, r1 could go nowhere:
    # one goes to zone x, out of the group's domains, where it counts for nothing
    text = """
nodes:
- {name: a-1, labels: {zone: a}, gpus: [{index: 0, model: A100-SXM4-40GB}, {index: 1, model: A100-SXM4-40GB}]}
- name: b-1
  labels: {zone: b}
  gpus:
  - {index: 0, model: A100-SXM4-40GB, instances: [{profile: 4g.20gb, start: 0, in_use: true}, {profile: 2g.10gb, start: 4, in_use: true}]}
- {name: x-1, labels: {zone: x}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests:
- {pod: c0, profile: 7g.40gb}
- {pod: c1, profile: 7g.40gb}
- {pod: r0, profile: 1g.5gb}
- {pod: r1, profile: 1g.5gb}
spread: [{pods: [r0, r1], counted: [c0, c1], topology: zone, domains: {a: 0, b: 0}}]
"""
    snapshot = Snapshot.parse(text)
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        zones = _zones_by_pod(plan.assignments)
        assert sorted(zones[c] for c in ("c0", "c1")) == ["a", "x"], planner
        assert sorted(zones[r] for r in ("r0", "r1")) == ["a", "b"], planner


def test_pods_on_a_node_the_spread_constraint_leaves_out_count_nowhere() -> None:
    # as above, but zone a's node a-2 is not eligible (say the carriers' node selector leaves it
    # out): a pod there counts in no domain, and no carrier goes there. Only with one 7g.40gb on
    # a-2 do all four pods fit: a then holds c1 and r1, b holds r0
    text = """
nodes:
- {name: a-1, labels: {zone: a}, gpus: [{index: 0, model: A100-SXM4-40GB}, {index: 1, model: A100-SXM4-40GB}]}
- {name: a-2, labels: {zone: a}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- name: b-1
  labels: {zone: b}
  gpus:
  - {index: 0, model: A100-SXM4-40GB, instances: [{profile: 4g.20gb, start: 0, in_use: true}, {profile: 2g.10gb, start: 4, in_use: true}]}
requests:
- {pod: c0, profile: 7g.40gb}
- {pod: c1, profile: 7g.40gb}
- {pod: r0, profile: 1g.5gb}
- {pod: r1, profile: 1g.5gb}
spread: [{pods: [r0, r1], counted: [c0, c1], topology: zone, domains: {a: 0, b: 0}, nodes: [a-1, b-1]}]
"""
    snapshot = Snapshot.parse(text)
    for planner in (ExactPlanner(5), OnlinePlanner()):
        plan = planner.plan(snapshot)
        check_plan(snapshot, plan)
        assert sorted(plan.assignments) == ["c0", "c1", "r0", "r1"], planner
        nodes = {pod: placed[0].node for pod, placed in plan.assignments.items()}
        assert sorted(nodes[c] for c in ("c0", "c1")) == ["a-1", "a-2"], planner
        assert sorted(nodes[r] for r in ("r0", "r1")) == ["a-1", "b-1"], planner
    # where every node counts, zone a would hold three and b one: one pod stays pending
    everywhere = Snapshot.parse(text.replace(", nodes: [a-1, b-1]", ""))
    assert len(ExactPlanner(5).plan(everywhere).assignments) == 3


def test_the_online_order_puts_each_follower_just_after_the_pods_it_follows() -> None:
    text = """
nodes: [{name: n, gpus: [{index: 0, model: A100-SXM4-40GB}]}]
requests:
- {pod: web, profile: 3g.20gb, follows: [{pods: [db]}]}
- {pod: cache, profile: 2g.10gb, follows: [{pods: [web]}]}
- {pod: db, profile: 1g.5gb}
- {pod: filler, profile: 1g.5gb}
- {pod: ring-a, profile: 1g.5gb, follows: [{pods: [ring-b]}]}
- {pod: ring-b, profile: 1g.5gb, follows: [{pods: [ring-a]}]}
"""
    requests = list(enumerate(Cluster.of(Snapshot.parse(text)).requests))
    order = [request.pod for _, request in _leaders_first(requests)]
    # a circle cannot be placed in any order; it ends where a few rounds of moving leave it
    assert order[:4] == ["db", "web", "cache", "filler"] and sorted(order[4:]) == ["ring-a", "ring-b"]


def test_pods_that_follow_each_other_in_a_circle_need_a_way_in() -> None:
    # the scheduler binds neither of two pods that each wait for the other; once a pod that b's
    # term matches runs in zone a, b binds there and c, following b, beside it
    circle = """\
- {pod: a, profile: 1g.5gb, follows: [{pods: [b], topology: zone}]}
- {pod: b, profile: 1g.5gb, follows: [{pods: [a], topology: zone}]}
"""
    way_in = """\
- {pod: c, profile: 1g.5gb, follows: [{pods: [b], topology: zone}]}
- {pod: b, profile: 1g.5gb, follows: [{pods: [c], topology: zone, domains: [a]}]}
"""
    for requests, placed in ((circle, {}), (way_in, {"b": "a", "c": "a"})):
        snapshot = Snapshot.parse(_ZONES + requests)
        for planner in (ExactPlanner(5), OnlinePlanner()):
            plan = planner.plan(snapshot)
            check_plan(snapshot, plan)
            assert _zones_by_pod(plan.assignments) == placed, planner
