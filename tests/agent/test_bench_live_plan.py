"""The live-plan benchmark measures what it says: its model of the scheduler's binding refuses what
the scheduler would, and on a small generated cluster the plan with spread groups is bound whole."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from kubemig.planner import OnlinePlanner, Snapshot
from tests.helpers import load_file

SPREAD = """
nodes:
- {name: a-1, labels: {zone: a}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
- {name: b-1, labels: {zone: b}, gpus: [{index: 0, model: A100-SXM4-40GB}]}
requests: [{pod: r0, profile: 1g.5gb}, {pod: r1, profile: 1g.5gb}, {pod: r2, profile: 1g.5gb}]
spread: [{pods: [r0, r1, r2], topology: zone, domains: {a: 0, b: 1}}]
"""
REQUESTS = "requests: [{pod: r0, profile: 1g.5gb}, {pod: r1, profile: 1g.5gb}, {pod: r2, profile: 1g.5gb}]\n"


def _bench() -> ModuleType:
    return load_file(Path(__file__).resolve().parents[2] / "bench" / "bench_live_plan.py")


def test_binding_one_by_one_refuses_a_zone_that_runs_ahead() -> None:
    bench = _bench()
    snapshot = Snapshot.parse(SPREAD)
    plan = OnlinePlanner().plan(snapshot)
    assert bench.refused_on_binding(snapshot, plan) == 0
    # a plan that puts the three on a-1: a may reach 2 while b holds 1, and a third would be 2 ahead
    pinned = (
        "requests: [" + ", ".join(f"{{pod: r{i}, profile: 1g.5gb, nodes: [a-1]}}" for i in range(3)) + "]\n"
    )
    blind = OnlinePlanner().plan(Snapshot.parse(SPREAD.split("requests:")[0] + pinned))
    assert {slots[0].node for slots in blind.assignments.values()} == {"a-1"}
    assert bench.refused_on_binding(snapshot, blind) == 1


def test_binding_a_together_group_refuses_all_but_the_zone_holding_most() -> None:
    bench = _bench()
    nodes = SPREAD.split("requests:")[0]
    kept = "together: [{pods: [r0, r1, r2], topology: zone}]\n"
    snapshot = Snapshot.parse(nodes + REQUESTS + kept)
    assert bench.refused_on_binding(snapshot, OnlinePlanner().plan(snapshot)) == 0
    # a plan that splits them, one in zone a and two in b: whichever binds first, one is refused
    held = ["a-1", "b-1", "b-1"]
    split = (
        "requests: ["
        + ", ".join(f"{{pod: r{i}, profile: 1g.5gb, nodes: [{n}]}}" for i, n in enumerate(held))
        + "]\n"
    )
    plan = OnlinePlanner().plan(Snapshot.parse(nodes + split))
    assert {pod: slots[0].node for pod, slots in plan.assignments.items()} == {
        "r0": "a-1",
        "r1": "b-1",
        "r2": "b-1",
    }
    assert bench.refused_on_binding(snapshot, plan) == 1


def test_a_small_cluster_run_writes_its_table_and_every_spread_plan_binds(tmp_path: Path) -> None:
    bench = _bench()
    out = tmp_path / "live.json"
    assert (
        bench.main(
            ["--nodes", "8", "--pending", "24", "--seeds", "1", "--time-limit", "20", "--json", str(out)]
        )
        == 0
    )
    results = json.loads(out.read_text())["results"]
    assert {(r["planner"], r["mode"]) for r in results} == {
        (p, s) for p in ("exact", "online") for s in ("groups", "alone")
    }
    assert all(r["refused_on_binding"] == 0 for r in results if r["mode"] == "groups")
    assert all(r["placed"] <= r["pending_pods"] for r in results)


def test_binding_refuses_a_follower_outside_the_zones_of_those_it_follows() -> None:
    bench = _bench()
    nodes = SPREAD.split("requests:")[0]
    follower = "requests: [{pod: r0, profile: 1g.5gb, nodes: [NODE], follows: [{pods: [r1], topology: zone}]}, {pod: r1, profile: 1g.5gb, nodes: [b-1]}]\n"
    snapshot = Snapshot.parse(nodes + follower.replace("NODE", "a-1, b-1"))
    assert bench.refused_on_binding(snapshot, OnlinePlanner().plan(snapshot)) == 0
    # r0 held to zone a, planned as if it followed nobody: the scheduler never binds it there
    alone = Snapshot.parse(
        nodes
        + follower.replace("NODE", "a-1").replace("follows: [{pods: [r1], topology: zone}]", "follows: []")
    )
    plan = OnlinePlanner().plan(alone)
    assert {pod: slots[0].node for pod, slots in plan.assignments.items()} == {"r0": "a-1", "r1": "b-1"}
    assert bench.refused_on_binding(snapshot, plan) == 1
    # unless a pod it follows runs in zone a already
    running = Snapshot.parse(
        nodes + follower.replace("NODE", "a-1").replace("topology: zone", "topology: zone, domains: [a]")
    )
    assert bench.refused_on_binding(running, plan) == 0


def test_binding_counts_the_pods_that_only_match_a_spread_constraint() -> None:
    bench = _bench()
    nodes = SPREAD.split("requests:")[0]
    pinned = (
        "requests: [{pod: r0, profile: 1g.5gb, nodes: [a-1]}, {pod: r1, profile: 1g.5gb, nodes: [a-1]}]\n"
    )
    group = "spread: [{pods: [r0], counted: [r1], topology: zone, domains: {a: 0, b: 0}}]\n"
    snapshot = Snapshot.parse(nodes + pinned + group)
    plan = OnlinePlanner().plan(Snapshot.parse(nodes + pinned))
    assert {slots[0].node for slots in plan.assignments.values()} == {"a-1"}
    # r1 bound in zone a puts it one ahead: r0 may not follow
    assert bench.refused_on_binding(snapshot, plan) == 1
    assert bench.refused_on_binding(snapshot.model_copy(update={"spread": []}), plan) == 0
    # on a node the constraint leaves out, r1 counts nowhere
    left_out = Snapshot.parse(nodes + pinned + group.replace("b: 0}", "b: 0}, nodes: [b-1]"))
    assert bench.refused_on_binding(left_out, plan) == 0
