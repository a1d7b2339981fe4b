"""Planning the live cluster: agents publish their nodes, `kubemig plan --cluster` reads them and the
pending pods from the Kubernetes API, and `--publish` hands each changing node its part, which its
agent applies. Real agent and plan processes, a stand-in API server, simulated nodes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from kubemig.agent import CONFIG_LABEL, PLAN_ANNOTATION, SNAPSHOT_ANNOTATION, STATE_LABEL, NodeRecord
from kubemig.agent.cluster_plan import cluster_snapshot, node_configs, publish_plan
from kubemig.nvml import open_simulated
from kubemig.partition.node import read_node
from kubemig.planner import ExactPlanner, OnlinePlanner
from kubemig.testing.apiserver import ApiServerStandIn
from kubemig.testing.simnode import cut_gpu, cut_gpus, start_job
from tests.agent.test_pending_pods import _mig, _pod
from tests.helpers import kubemig_env, run_kubemig
from tests.partition.world import fast_directory

SPEC = "2xA100-SXM4-40GB"
AGENT_CONFIG = "version: v1\nmig-configs:\n  all-disabled:\n  - {devices: all, mig-enabled: false}\n"


def _part(name: str, *gpus: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "name": name,
            "driver": "580.65.06",
            "gpus": [
                {"index": i, "model": "A100-SXM4-40GB", "instances": inst} for i, inst in enumerate(gpus)
            ],
        }
    )


def _node(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": annotations}}


WEB_ZONE_SPREAD = {
    "maxSkew": 1,
    "topologyKey": "zone",
    "whenUnsatisfiable": "DoNotSchedule",
    "labelSelector": {"matchLabels": {"app": "web"}},
}
"""app=web pods spread over zones, one at most ahead of the emptiest."""


def _zoned_nodes(gpus: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """node-a in zone z1 and node-b in z2, each with one A100 holding the instances `gpus` gives it."""
    return [
        {
            "metadata": {
                "name": name,
                "labels": {"zone": zone},
                "annotations": {SNAPSHOT_ANNOTATION: _part(name, gpus[name])},
            }
        }
        for name, zone in (("node-a", "z1"), ("node-b", "z2"))
    ]


def test_the_cluster_is_the_published_nodes_and_the_pending_pods() -> None:
    nodes = [
        _node(
            "node-a",
            {
                SNAPSHOT_ANNOTATION: _part(
                    "told-otherwise", [{"profile": "3g.20gb", "start": 4, "in_use": True}]
                )
            },
        ),
        _node("cpu-node", {}),  # no agent publishes there
        _node("node-c", {SNAPSHOT_ANNOTATION: "{not json"}),
    ]
    pods = [_pod("infer", _mig("4g.20gb", 1)), _pod("done", _mig("1g.5gb", 1), phase="Running")]
    read = cluster_snapshot(nodes, pods)
    assert [node.name for node in read.snapshot.nodes] == ["node-a"]  # the API's name for it
    assert [request.pod for request in read.snapshot.requests] == ["ml/infer"]
    assert read.notes == (f"node node-c left out: its {SNAPSHOT_ANNOTATION} is not JSON",)
    plan = ExactPlanner(10).plan(read.snapshot)
    assert [(s.node, s.gpu, str(s.instance)) for s in plan.assignments["ml/infer"]] == [
        ("node-a", 0, "4g.20gb@0")
    ]
    assert set(node_configs(plan, "p", changed_only=True)) == {"node-a"}


def test_what_cannot_be_planned_is_left_out_and_said_so_and_the_rest_is_planned() -> None:
    nodes = [
        _node("node-a", {SNAPSHOT_ANNOTATION: _part("node-a", [])}),
        _node("node-b", {SNAPSHOT_ANNOTATION: _part("node-b", [{"profile": "3g.20gb", "start": 1}])}),
    ]
    pods = [_pod("infer", _mig("4g.20gb", 1)), _pod("h100", _mig("3g.40gb", 1))]
    read = cluster_snapshot(nodes, pods)
    assert [node.name for node in read.snapshot.nodes] == ["node-a"]
    assert [request.pod for request in read.snapshot.requests] == ["ml/infer"]
    assert read.notes[0].startswith(f"node node-b left out: its {SNAPSHOT_ANNOTATION} does not read")
    assert "3g.20gb cannot start at slice 1" in read.notes[0]
    assert read.notes[1] == "ml/h100 left out: no node kubemig plans has mig-3g.40gb"
    # before any agent has published, every pod waits for a node: nothing to plan, and no error
    empty = cluster_snapshot([], pods)
    assert empty.snapshot.nodes == [] and empty.snapshot.requests == [] and len(empty.notes) == 2


def _sim_env(root: Path, node: str) -> dict[str, str]:
    return {
        "KUBEMIG_SIM_STATE": str(root / f"{node}.json"),
        "KUBEMIG_SIM_ROOT": str(root / f"{node}-dev"),
        "KUBEMIG_SIM_NODE": node,
        "KUBEMIG_STATE_DIR": str(root / f"{node}-state"),
    }


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def root() -> Iterator[Path]:
    directory = fast_directory()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_plan_cluster_publish_reaches_the_nodes_through_their_agents(root: Path) -> None:
    api = ApiServerStandIn()
    api.add_node("node-a")
    api.add_node("node-b")
    api.pods = [_pod("infer", _mig("4g.20gb", 1)), _pod("train", _mig("7g.40gb", 1))]
    envs = {node: _sim_env(root, node) for node in ("node-a", "node-b")}
    with open_simulated(SPEC, envs["node-a"]) as nvml:
        cut_gpu(nvml, 0, "3g.20gb@0,3g.20gb@4")  # the one at 4 busy
        cut_gpu(nvml, 1, "")  # MIG on, empty
        start_job(nvml, envs["node-a"], 0, start=4)
    with open_simulated(SPEC, envs["node-b"]) as nvml:
        cut_gpus(nvml, "7g.40gb")  # both busy: node-b has no room
        start_job(nvml, envs["node-b"], 0, start=0)
        start_job(nvml, envs["node-b"], 1, start=0)
    (root / "mig.yaml").write_text(AGENT_CONFIG)
    agents: list[subprocess.Popen[str]] = []
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        try:
            for node, env in envs.items():
                args = ["--sim", SPEC, "agent", "-f", str(root / "mig.yaml"), "--kubeconfig", kubeconfig]
                args += ["--node-name", node, "--poll-s", "0.2", "--publish-snapshot"]
                agents.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "kubemig", *args],
                        env=kubemig_env(**env),
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
            _wait(lambda: all(SNAPSHOT_ANNOTATION in api.annotations(n) for n in envs), "both snapshots")
            planned = run_kubemig(
                "plan", "--cluster", "--kubeconfig", kubeconfig, "--publish", "--json", env=kubemig_env()
            )
            assert planned.returncode == 0, planned.stderr
            result = json.loads(planned.stdout)
            assert result["unscheduled"] == []
            published = result["published"]
            assert published["nodes"] == ["node-a"] and published["config"].startswith("kubemig-plan-")
            assert api.labels("node-a")[CONFIG_LABEL] == published["config"]
            assert CONFIG_LABEL not in api.labels("node-b")  # nothing changes there: left alone
            assert published["config"] in api.annotations("node-a")[PLAN_ANNOTATION]
            _wait(lambda: api.labels("node-a").get(STATE_LABEL) == "success", "node-a to apply the plan")
        finally:
            for process in agents:
                process.terminate()
            logs = [process.communicate(timeout=30)[1] for process in agents]
    assert all(process.returncode == 0 for process in agents), logs
    with open_simulated(SPEC, envs["node-a"]) as nvml:
        after = read_node(nvml)
        layouts = {gpu.index: sorted(str(gi.instance) for gi in gpu.gpu_instances) for gpu in after.gpus}
        busy = [str(gi.instance) for gi in after.gpu(0).gpu_instances if gi.busy]
    assert layouts == {0: ["3g.20gb@4", "4g.20gb@0"], 1: ["7g.40gb@0"]}
    assert busy == ["3g.20gb@4"]  # the job kept running through the change
    # and the agent published the node as it is now, for the next plan
    part = json.loads(api.annotations("node-a")[SNAPSHOT_ANNOTATION])
    assert {"profile": "7g.40gb", "start": 0} in part["gpus"][1]["instances"]


def test_plan_cluster_without_publish_changes_nothing_and_bad_combinations_are_refused(root: Path) -> None:
    api = ApiServerStandIn()
    api.add_node("node-a")
    api.nodes["node-a"]["metadata"]["annotations"][SNAPSHOT_ANNOTATION] = _part("node-a", [])
    api.pods = [_pod("infer", _mig("4g.20gb", 1))]
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        planned = run_kubemig("plan", "--cluster", "--kubeconfig", kubeconfig, env=kubemig_env())
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("plan for the cluster: 1 node, 1 GPU, 1 pending pod")
    assert not [r for r in api.requests if r[0] == "PATCH"]
    api.pods = []  # nothing waits: nothing to change, nothing handed out
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        idle = run_kubemig("plan", "--cluster", "--kubeconfig", kubeconfig, "--publish", env=kubemig_env())
    assert idle.returncode == 0, idle.stderr
    assert idle.stdout.rstrip().endswith(
        "published nothing: every node holds these layouts, or was handed them already"
    )
    assert not [r for r in api.requests if r[0] == "PATCH"]
    for args, message in [
        (["--cluster", "--snapshot", "x.yaml"], "give --snapshot FILE (one or more) or --cluster"),
        ([], "give --snapshot FILE (one or more) or --cluster"),
        (["--snapshot", "x.yaml", "--publish"], "--publish hands a plan to the cluster's agents"),
    ]:
        refused = run_kubemig("plan", *args, env=kubemig_env())
        assert refused.returncode == 1 and refused.stderr.startswith(f"kubemig: error: {message}")


class Nodes:
    """Nodes' labels and annotations in memory, merge-patched as the API does."""

    def __init__(self) -> None:
        self.records: dict[str, NodeRecord] = {}
        self.patched: list[str] = []

    def read(self, node: str) -> NodeRecord:
        return self.records.get(node, NodeRecord())

    def patch(
        self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str | None]
    ) -> None:
        self.patched.append(node)
        old = self.read(node)
        merged = [dict(old.labels), dict(old.annotations)]
        for target, changes in zip(merged, (labels, annotations)):
            target.update({key: value for key, value in changes.items() if value is not None})
        self.records[node] = NodeRecord(merged[0], merged[1])


def test_publishing_the_same_layouts_again_leaves_the_nodes_alone() -> None:
    nodes_json = [
        _node("node-a", {SNAPSHOT_ANNOTATION: _part("node-a", [{"profile": "3g.20gb", "start": 0}])})
    ]
    plan = ExactPlanner(10).plan(cluster_snapshot(nodes_json, [_pod("infer", _mig("7g.40gb", 1))]).snapshot)
    nodes = Nodes()
    assert publish_plan(nodes, plan, "plan-1") == ["node-a"]
    assert "7g.40gb" in nodes.records["node-a"].annotations[PLAN_ANNOTATION]
    assert publish_plan(nodes, plan, "plan-2") == []  # same layouts: the agent keeps working on plan-1
    assert nodes.records["node-a"].labels[CONFIG_LABEL] == "plan-1" and nodes.patched == ["node-a"]
    other = ExactPlanner(10).plan(cluster_snapshot(nodes_json, [_pod("small", _mig("1g.5gb", 1))]).snapshot)
    assert other.gpus[("node-a", 0)].changes  # a 1g.5gb beside the 3g.20gb: other layouts
    assert publish_plan(nodes, other, "plan-3") == ["node-a"]
    assert nodes.records["node-a"].labels[CONFIG_LABEL] == "plan-3"


def test_a_pods_node_selector_holds_it_to_the_nodes_whose_labels_match() -> None:
    free_gpu = _part("x", [{"profile": "4g.20gb", "start": 0}])
    nodes = [
        {
            "metadata": {
                "name": "node-a",
                "labels": {"zone": "a"},
                "annotations": {SNAPSHOT_ANNOTATION: free_gpu},
            }
        },
        {
            "metadata": {
                "name": "node-b",
                "labels": {"zone": "b"},
                "annotations": {SNAPSHOT_ANNOTATION: _part("x", [])},
            }
        },
    ]
    read = cluster_snapshot(nodes, [_pod("zoned", _mig("4g.20gb", 1), nodeSelector={"zone": "b"})])
    assert read.snapshot.requests[0].nodes == ["node-b"]
    plan = ExactPlanner(10).plan(read.snapshot)
    # node-a's free 4g.20gb would do without a change, but the pod may only go to node-b
    assert [(s.node, str(s.instance)) for s in plan.assignments["ml/zoned"]] == [("node-b", "4g.20gb@0")]


def test_plan_cluster_weighs_the_pods_bound_to_nodes_and_says_where_a_pod_cannot_go(root: Path) -> None:
    """Through the API: node-a's free 4g.20gb would serve the pod without a change, but a bound pod
    there leaves too little CPU, so the plan cuts node-b; a pod that the bound pods' anti-affinity
    keeps from both nodes is said so. Without leave to list namespaces, the plan goes on and says so."""
    api = ApiServerStandIn()
    for node, zone, gpus in [("node-a", "a", [{"profile": "4g.20gb", "start": 0}]), ("node-b", "b", [])]:
        api.add_node(node, {"topology.kubernetes.io/zone": zone})
        api.nodes[node]["metadata"]["annotations"][SNAPSHOT_ANNOTATION] = _part(node, gpus)
        api.nodes[node]["status"] = {"allocatable": {"cpu": "8", "memory": "64Gi", "pods": "110"}}
    guard = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"app": "noisy"}},
                }
            ]
        }
    }
    bound = [
        _pod("etl", {"requests": {"cpu": "7"}}, phase="Running", node="node-a", affinity=guard),
        _pod("quiet", {"requests": {"cpu": "1"}}, phase="Running", node="node-b", affinity=guard),
        _pod("finished", {"requests": {"cpu": "8"}}, phase="Succeeded", node="node-b"),
    ]
    noisy = _pod("noisy", _mig("1g.5gb", 1))
    noisy["metadata"]["labels"] = {"app": "noisy"}
    api.pods = [*bound, _pod("infer", {"limits": {"nvidia.com/mig-4g.20gb": "1", "cpu": "2"}}), noisy]
    api.forbidden = {"/api/v1/namespaces"}
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        planned = run_kubemig("plan", "--cluster", "--kubeconfig", kubeconfig, "--json", env=kubemig_env())
    assert planned.returncode == 0, planned.stderr
    result = json.loads(planned.stdout)
    [slot] = result["assignments"]["ml/infer"]
    assert (slot["node"], slot["profile"], slot["start"]) == ("node-b", "4g.20gb", 0)
    assert result["unscheduled"] == ["ml/noisy"]
    notes = planned.stderr.splitlines()
    assert notes[0] == (
        "note: Kubernetes API: namespaces: 403 Forbidden: namespace selectors see only each namespace's name label"
    )
    zone = "topology.kubernetes.io/zone"
    assert notes[1] == (
        f"note: ml/noisy may go to no planned node: node-a: a pod in {zone}=a refuses it by its anti-affinity; "
        f"node-b: a pod in {zone}=b refuses it by its anti-affinity"
    )
    assert result["notes"] == [note.removeprefix("note: ") for note in notes]  # --json carries them too
    listed = [path for method, path, _ in api.requests if path.startswith("/api/v1/pods")]
    assert listed and all("status.phase%21%3DSucceeded" in path for path in listed)


def test_pods_the_plan_puts_on_one_node_fit_in_its_cpu_together() -> None:
    """Each pod alone fits in node-a's 6 free CPUs, so neither is held off it; the plan sees that the
    two do not fit there together and gives one node-b's last 3g.20gb."""
    two_free = [{"profile": "3g.20gb", "start": 0}, {"profile": "3g.20gb", "start": 4}]
    nodes = [
        _node("node-a", {SNAPSHOT_ANNOTATION: _part("node-a", two_free)}),
        _node(
            "node-b",
            {SNAPSHOT_ANNOTATION: _part("node-b", [{"profile": "4g.20gb", "start": 0, "in_use": True}])},
        ),
    ]
    nodes[0]["status"] = {"allocatable": {"cpu": "8", "memory": "64Gi", "pods": "110"}}
    asks = {"limits": {"nvidia.com/mig-3g.20gb": "1"}, "requests": {"cpu": "4"}}
    pods = [_pod("one", asks), _pod("two", asks), _pod("etl", {"requests": {"cpu": "2"}}, node="node-a")]
    read = cluster_snapshot(nodes, pods)
    assert read.snapshot.nodes[0].free == {"cpu": "6", "memory": "68719476736", "pods": "109"}
    assert read.snapshot.nodes[1].free is None  # reports no allocatable: not limited
    assert [r.nodes for r in read.snapshot.requests] == [None, None] and read.notes == ()
    plan = ExactPlanner(10).plan(read.snapshot)
    assert sorted(plan.assignments[pod][0].node for pod in ("ml/one", "ml/two")) == ["node-a", "node-b"]


def test_replicas_that_keep_apart_are_planned_one_per_node() -> None:
    """Three pending replicas, each refusing to share a node with another: node-a's two free
    3g.20gb would take two of them without a change, but the plan puts one on each node and says
    the third must wait for a third node."""
    two_free = [{"profile": "3g.20gb", "start": 0}, {"profile": "3g.20gb", "start": 4}]
    nodes = [
        {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "zone": "z1"},
                "annotations": {SNAPSHOT_ANNOTATION: _part(name, gpus)},
            }
        }
        for name, gpus in (("node-a", two_free), ("node-b", []))
    ]
    spread = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}
            ]
        }
    }
    pods = []
    for n in range(3):
        pod = _pod(f"web-{n}", {"limits": {"nvidia.com/mig-3g.20gb": "1"}}, affinity=spread)
        pod["metadata"]["labels"] = {"app": "web"}
        pods.append(pod)
    read = cluster_snapshot(nodes, pods)
    first = read.snapshot.requests[0]
    assert [(a.topology, a.pods) for a in first.apart] == [
        ("kubernetes.io/hostname", ["ml/web-1", "ml/web-2"])
    ]
    assert read.snapshot.nodes[0].labels == {"kubernetes.io/hostname": "node-a"}  # only the keys in use
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        placed = sorted(slots[0].node for slots in plan.assignments.values())
        assert placed == ["node-a", "node-b"] and len(plan.unscheduled) == 1, planner


def test_replicas_spread_over_zones_are_planned_within_the_skew() -> None:
    """Four pending replicas spread over zones (maxSkew 1); each alone may go anywhere. A CPU node
    with no agent makes zone z3 an eligible domain that stays empty, so each MIG zone may take one
    replica: without the group the plan would place all four, and the scheduler bind two."""
    labelled = [("node-a", "z1", True), ("node-b", "z2", True), ("cpu", "z3", False)]
    nodes = [
        {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, "zone": zone},
                "annotations": {SNAPSHOT_ANNOTATION: _part(name, [])} if mig else {},
            }
        }
        for name, zone, mig in labelled
    ]
    spread = [WEB_ZONE_SPREAD]
    pods = []
    for n in range(4):
        pod = _pod(f"web-{n}", _mig("3g.20gb", 1), topologySpreadConstraints=spread)
        pod["metadata"]["labels"] = {"app": "web"}
        pods.append(pod)
    pods.append(_pod("other", _mig("3g.20gb", 1), topologySpreadConstraints=spread))  # not app=web
    read = cluster_snapshot(nodes, pods)
    assert [r.nodes for r in read.snapshot.requests] == [None] * 5
    (group,) = read.snapshot.spread
    assert (group.pods, group.topology, group.max_skew) == ([f"ml/web-{n}" for n in range(4)], "zone", 1)
    assert group.domains == {"z1": 0, "z2": 0, "z3": 0}
    assert read.snapshot.nodes[0].labels == {"zone": "z1"}
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        webs = sorted(slots[0].node for pod, slots in plan.assignments.items() if "web" in pod)
        assert webs == ["node-a", "node-b"] and "ml/other" in plan.assignments, planner


def test_replicas_spread_over_zones_may_follow_each_other_into_a_zone_ahead() -> None:
    """Zone z1 already runs a replica: alone, each pending one would be held to z2. Together, once
    one is bound in z2 the zones are level and z1 may take the next, so the plan places all four,
    two per zone, where holding each to z2 would have placed two."""
    nodes = _zoned_nodes({"node-a": [], "node-b": []})
    spread = [WEB_ZONE_SPREAD]
    pods = [_pod("web-old", {"requests": {"cpu": "1"}}, node="node-a", phase="Running")]
    for n in range(4):
        pods.append(_pod(f"web-{n}", _mig("3g.20gb", 1), topologySpreadConstraints=spread))
    for pod in pods:
        pod["metadata"]["labels"] = {"app": "web"}
    read = cluster_snapshot(nodes, pods)
    assert [r.nodes for r in read.snapshot.requests] == [None] * 4
    assert read.snapshot.spread[0].domains == {"z1": 1, "z2": 0}
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        assert sorted(slots[0].node for slots in plan.assignments.values()) == ["node-a"] * 2 + ["node-b"] * 2


def test_a_pending_pod_that_matches_a_spread_constraint_it_does_not_carry_counts_in_it() -> None:
    """web-0 spreads over zones (maxSkew 1); web-extra matches its selector without carrying it.
    Both fit on one GPU, and a plan would rather touch one GPU than two; but once web-extra is
    bound, its zone is one ahead and the scheduler refuses web-0 there. Counted, they are planned
    into different zones."""
    gpus = {"node-a": [{"profile": "4g.20gb", "start": 0, "in_use": True}], "node-b": []}
    nodes = _zoned_nodes(gpus)
    spread = WEB_ZONE_SPREAD
    pods = [
        _pod("web-0", _mig("1g.5gb", 1), topologySpreadConstraints=[spread]),
        _pod("web-extra", _mig("1g.5gb", 1)),
    ]
    for pod in pods:
        pod["metadata"]["labels"] = {"app": "web"}
    read = cluster_snapshot(nodes, pods)
    (group,) = read.snapshot.spread
    assert (group.pods, group.counted, group.domains) == (["ml/web-0"], ["ml/web-extra"], {"z1": 0, "z2": 0})
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        assert sorted(slots[0].node for slots in plan.assignments.values()) == ["node-a", "node-b"], planner
    # without the group, both go to one GPU
    alone = read.snapshot.model_copy(update={"spread": []})
    for planner in (ExactPlanner(10), OnlinePlanner()):
        assert len({slots[0].node for slots in planner.plan(alone).assignments.values()}) == 1, planner


def test_a_pod_that_only_matches_a_spread_constraint_counts_nowhere_on_a_node_it_leaves_out() -> None:
    """web-0 spreads over zones and keeps to disk=ssd nodes; node-c, in zone z1 without ssd, is
    not one, so web-extra counts nowhere there. Zone z2 is full: only with web-extra on node-c do
    both pods fit, web-0 in z1 beside nothing that counts."""
    layout = {
        "node-a": ("z1", {"disk": "ssd"}, [{"profile": "4g.20gb", "start": 0, "in_use": True}]),
        "node-c": ("z1", {}, []),
        "node-b": ("z2", {"disk": "ssd"}, [{"profile": "7g.40gb", "start": 0, "in_use": True}]),
    }
    nodes = [
        {
            "metadata": {
                "name": name,
                "labels": {"zone": zone, **extra},
                "annotations": {SNAPSHOT_ANNOTATION: _part(name, instances)},
            }
        }
        for name, (zone, extra, instances) in layout.items()
    ]
    spread = WEB_ZONE_SPREAD
    pods = [
        _pod("web-0", _mig("1g.5gb", 1), topologySpreadConstraints=[spread], nodeSelector={"disk": "ssd"}),
        _pod("web-extra", _mig("1g.5gb", 1)),
    ]
    for pod in pods:
        pod["metadata"]["labels"] = {"app": "web"}
    read = cluster_snapshot(nodes, pods)
    (group,) = read.snapshot.spread
    assert (group.counted, group.nodes) == (["ml/web-extra"], ["node-a", "node-b"])
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        placed = {pod: slots[0].node for pod, slots in plan.assignments.items()}
        assert placed == {"ml/web-0": "node-a", "ml/web-extra": "node-c"}, planner


def test_the_cluster_is_read_in_pages(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubemig.agent import cluster_plan
    from kubemig.agent.kube_client import kubernetes_api

    monkeypatch.setattr(cluster_plan, "PAGE", 2)  # as cluster_plan names it
    api = ApiServerStandIn()
    for n in range(5):
        api.add_node(f"node-{n}")
        api.nodes[f"node-{n}"]["metadata"]["annotations"][SNAPSHOT_ANNOTATION] = _part(f"node-{n}", [])
    api.pods = [_pod(f"p{n}", _mig("1g.5gb", 1)) for n in range(5)]
    with api.serving() as port:
        read = cluster_plan.read_cluster(kubernetes_api(str(api.kubeconfig(root / "kubeconfig", port))))
    assert [node.name for node in read.snapshot.nodes] == [f"node-{n}" for n in range(5)]
    assert [request.pod for request in read.snapshot.requests] == [f"ml/p{n}" for n in range(5)]
    pages = [path for _, path, _ in api.requests if path.startswith("/api/v1/pods")]
    assert len(pages) == 3 and "limit=2" in pages[0] and "continue=4" in pages[2]


def test_the_first_replicas_of_a_self_affine_group_are_planned_into_one_zone() -> None:
    """Three pending replicas that want to share a zone with their own app, none of it bound yet:
    each alone may start the group anywhere, but the first bound decides the zone for the rest.
    Zone z1 has room for one 3g.20gb and z2 for two, so the plan puts two in z2."""
    gpus = {"node-a": [{"profile": "4g.20gb", "start": 0, "in_use": True}], "node-b": []}
    nodes = _zoned_nodes(gpus)
    term = {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "ring"}}}
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    pods = []
    for n in range(3):
        pod = _pod(f"ring-{n}", _mig("3g.20gb", 1), affinity=affinity)
        pod["metadata"]["labels"] = {"app": "ring"}
        pods.append(pod)
    # a pod that wants the ring without being part of it waits for a ring pod to run: it starts no
    # group; nor does a lone pod wanting its own app, with nobody to follow it
    web = _pod("web-0", _mig("1g.5gb", 1), affinity=affinity)
    web["metadata"]["labels"] = {"app": "web"}
    solo_term = {**term, "labelSelector": {"matchLabels": {"app": "solo"}}}
    solo = _pod(
        "solo-0",
        _mig("1g.5gb", 1),
        affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [solo_term]}},
    )
    solo["metadata"]["labels"] = {"app": "solo"}
    read = cluster_snapshot(nodes, [*pods, web, solo])
    assert [(group.pods, group.topology) for group in read.snapshot.together] == [
        ([f"ml/ring-{n}" for n in range(3)], "zone")
    ]
    read = cluster_snapshot(nodes, pods)
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        assert sorted(slots[0].node for slots in plan.assignments.values()) == ["node-b", "node-b"], planner
    # once one runs, the others are held to its zone by their own check, and no group is needed
    pods[0]["spec"]["nodeName"] = "node-a"
    pods[0]["status"]["phase"] = "Running"
    read = cluster_snapshot(nodes, pods)
    assert read.snapshot.together == [] and [r.nodes for r in read.snapshot.requests] == [["node-a"]] * 2


def test_a_pod_that_wants_a_pending_pod_is_planned_into_its_zone() -> None:
    """web wants a db pod in its zone and matches none itself; no db runs yet, only db-0 waits,
    held to zone z1 by its node selector. The scheduler binds web once db-0 is bound, there only, so
    the plan puts web in z1 too, rather than leaving it for a later round."""
    gpus = {"node-a": [{"profile": "4g.20gb", "start": 0, "in_use": True}], "node-b": []}
    nodes = _zoned_nodes(gpus)
    db = _pod("db-0", _mig("2g.10gb", 1), nodeSelector={"zone": "z1"})
    db["metadata"]["labels"] = {"app": "db"}
    term = {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "db"}}}
    web = _pod(
        "web",
        _mig("1g.5gb", 1),
        affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
    )
    web["metadata"]["labels"] = {"app": "web"}
    read = cluster_snapshot(nodes, [db, web])
    follows = {r.pod: [(f.pods, f.topology) for f in r.follows] for r in read.snapshot.requests}
    assert follows == {"ml/db-0": [], "ml/web": [(["ml/db-0"], "zone")]}
    for planner in (ExactPlanner(10), OnlinePlanner()):
        plan = planner.plan(read.snapshot)
        assert {pod: slots[0].node for pod, slots in plan.assignments.items()} == {
            "ml/db-0": "node-a",
            "ml/web": "node-a",
        }, planner
    # once db-0 runs, web's own check holds it to z1 and it follows nobody pending
    db["spec"]["nodeName"] = "node-a"
    db["status"]["phase"] = "Running"
    (request,) = cluster_snapshot(nodes, [db, web]).snapshot.requests
    assert (request.pod, request.nodes, request.follows) == ("ml/web", ["node-a"], [])
    # with a second db pending in z2, web may go to z1 now or to z2 once db-1 is bound there
    db1 = _pod("db-1", _mig("7g.40gb", 1), nodeSelector={"zone": "z2"})
    db1["metadata"]["labels"] = {"app": "db"}
    read = cluster_snapshot(nodes, [db, web, db1])
    request = next(r for r in read.snapshot.requests if r.pod == "ml/web")
    opened = [(f.pods, f.topology, f.domains) for f in request.follows]
    assert (request.nodes, opened) == (None, [(["ml/db-1"], "zone", ["z1"])])
    for planner in (ExactPlanner(10), OnlinePlanner()):
        assert set(planner.plan(read.snapshot).assignments) == {"ml/web", "ml/db-1"}, planner
