"""`kubemig pending`: the pods waiting for MIG devices, from the Kubernetes API, as planner requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubemig.agent.pending_pods import pending_requests
from kubemig.agent.schedulable_nodes import SchedulingView
from kubemig.testing.apiserver import ApiServerStandIn
from tests.helpers import kubemig_env, run_kubemig


def _pod(
    name: str, *containers: dict[str, Any], phase: str = "Pending", node: str | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": "x", "resources": r} for i, r in enumerate(containers)],
        **spec,
    }
    if node:
        body["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "ml"}, "spec": body, "status": {"phase": phase}}


def _mig(profile: str, count: int, key: str = "limits") -> dict[str, Any]:
    return {key: {f"nvidia.com/mig-{profile}": str(count), "cpu": "1"}}


def test_waiting_mig_pods_become_requests_and_the_rest_are_left_out() -> None:
    pods = [
        _pod("infer", _mig("2g.10gb", 1), priority=100),
        _pod("train", _mig("7g.40gb", 1), _mig("7g.40gb", 1, "requests")),  # two containers: 2 instances
        _pod(
            "prep",
            _mig("1g.5gb", 1),
            initContainers=[{"name": "i", "image": "x", "resources": _mig("1g.5gb", 3)}],
        ),
        _pod("bound", _mig("3g.20gb", 1), node="node-a"),  # bound to a node: the scheduler has placed it
        _pod("running", _mig("3g.20gb", 1), phase="Running"),
        _pod("cpu-only", {"requests": {"cpu": "2"}}),
        _pod("mixed", _mig("1g.5gb", 1), _mig("2g.10gb", 1)),
    ]
    found = pending_requests(pods)
    assert found.requests == [
        {"pod": "ml/infer", "profile": "mig-2g.10gb", "count": 1, "priority": 100, "resources": {"cpu": "1"}},
        {"pod": "ml/train", "profile": "mig-7g.40gb", "count": 2, "priority": 0, "resources": {"cpu": "2"}},
        # the init container runs before the others: its CPU is not added to theirs
        {"pod": "ml/prep", "profile": "mig-1g.5gb", "count": 3, "priority": 0, "resources": {"cpu": "1"}},
    ]
    assert found.notes == [
        "ml/mixed left out: it asks for two MIG profiles at once (1 x mig-1g.5gb, 1 x mig-2g.10gb); a plan places one"
    ]


def test_pending_reads_the_cluster_and_plan_places_what_it_found(tmp_path: Path) -> None:
    api = ApiServerStandIn()
    api.pods = [_pod("infer", _mig("4g.20gb", 1)), _pod("busy", _mig("3g.20gb", 1), phase="Running")]
    (tmp_path / "node-a.yaml").write_text(
        "nodes:\n- name: node-a\n  gpus:\n  - {index: 0, model: A100-SXM4-40GB, instances: [{profile: 3g.20gb, start: 4, in_use: true}]}\n"
    )
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig", port))
        listed = run_kubemig("pending", "--kubeconfig", kubeconfig, env=kubemig_env())
    assert listed.returncode == 0, listed.stderr
    assert yaml.safe_load(listed.stdout)["requests"] == [
        {"pod": "ml/infer", "profile": "mig-4g.20gb", "count": 1, "priority": 0, "resources": {"cpu": "1"}}
    ]
    assert ("GET", "/api/v1/pods?fieldSelector=status.phase%3DPending&limit=500", "") in api.requests
    (tmp_path / "pending.yaml").write_text(listed.stdout)
    planned = run_kubemig(
        "plan",
        "--snapshot",
        str(tmp_path / "node-a.yaml"),
        "--snapshot",
        str(tmp_path / "pending.yaml"),
        "--json",
    )
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["assignments"]["ml/infer"] == [
        {"node": "node-a", "gpu": 0, "profile": "4g.20gb", "start": 0, "size": 4}
    ]


def _nodes(**specs: tuple[dict[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"metadata": {"name": n, "labels": labels}, "spec": spec} for n, (labels, spec) in specs.items()]


NODES = _nodes(
    node_a=({"zone": "a", "gpu": "a100", "rack": "3"}, {}),
    node_b=(
        {"zone": "b", "gpu": "a100", "rack": "7"},
        {"taints": [{"key": "team", "value": "ml", "effect": "NoSchedule"}]},
    ),
    node_c=({"zone": "c"}, {"unschedulable": True}),
)


def _held(pod: dict[str, Any]) -> list[str] | None:
    [request] = pending_requests([pod], SchedulingView(NODES)).requests
    nodes = request.get("nodes")
    assert nodes is None or isinstance(nodes, list)
    return nodes


def _affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    }


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": list(values)}


ML = [{"key": "team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
EVERYTHING = [{"operator": "Exists"}]


@pytest.mark.parametrize(
    ("spec", "held"),
    [
        ({}, ["node_a"]),  # node_b's taint and node_c's cordon keep an ordinary pod off them
        ({"tolerations": EVERYTHING}, None),  # tolerates all: any node, so no restriction at all
        ({"tolerations": ML}, ["node_a", "node_b"]),
        ({"tolerations": [{"key": "team", "operator": "Equal", "value": "other"}]}, ["node_a"]),
        ({"tolerations": [{"key": "team", "operator": "Exists", "effect": "NoExecute"}]}, ["node_a"]),
        ({"nodeSelector": {"zone": "b"}, "tolerations": ML}, ["node_b"]),
        ({"nodeSelector": {"zone": "d"}, "tolerations": EVERYTHING}, []),
        (
            {
                "affinity": _affinity({"matchExpressions": [_expr("zone", "In", "a", "b")]}),
                "tolerations": EVERYTHING,
            },
            ["node_a", "node_b"],
        ),
        (
            {
                "affinity": _affinity({"matchExpressions": [_expr("zone", "NotIn", "a")]}),
                "tolerations": EVERYTHING,
            },
            ["node_b", "node_c"],
        ),
        (
            {
                "affinity": _affinity({"matchExpressions": [_expr("gpu", "DoesNotExist")]}),
                "tolerations": EVERYTHING,
            },
            ["node_c"],
        ),
        (
            {
                "affinity": _affinity({"matchExpressions": [_expr("rack", "Gt", "5")]}),
                "tolerations": EVERYTHING,
            },
            ["node_b"],
        ),
        (
            {
                "affinity": _affinity(
                    {"matchExpressions": [_expr("rack", "Lt", "5"), _expr("gpu", "Exists")]}
                ),
                "tolerations": EVERYTHING,
            },
            ["node_a"],
        ),
        # terms are ORed; a term that names a field matches the node's name
        (
            {
                "affinity": _affinity(
                    {"matchExpressions": [_expr("zone", "In", "a")]},
                    {"matchFields": [_expr("metadata.name", "In", "node_c")]},
                ),
                "tolerations": EVERYTHING,
            },
            ["node_a", "node_c"],
        ),
        ({"affinity": _affinity({}), "tolerations": EVERYTHING}, []),  # an empty term matches nothing
    ],
)
def test_a_pod_is_held_to_the_nodes_its_scheduling_rules_allow(
    spec: dict[str, Any], held: list[str] | None
) -> None:
    assert _held(_pod("p", _mig("2g.10gb", 1), **spec)) == held


def test_without_the_nodes_no_pod_is_held() -> None:
    # kubemig pending lists no nodes: its requests carry no `nodes`
    pods = [_pod("zoned", _mig("2g.10gb", 1), nodeSelector={"zone": "b"})]
    assert all("nodes" not in r for r in pending_requests(pods).requests)


def test_gated_and_deleted_pods_wait_for_no_plan_and_other_pods_raise_no_note() -> None:
    gated = _pod("gated", _mig("2g.10gb", 1), schedulingGates=[{"name": "quota.example.com/ok"}])
    leaving = _pod("leaving", _mig("2g.10gb", 1))
    leaving["metadata"]["deletionTimestamp"] = "2026-12-07T05:00:00Z"
    # fits no node, but asks no MIG device: no plan is about it
    cpu_only = _pod("cpu-only", {"requests": {"cpu": "1"}}, nodeSelector={"zone": "nowhere"})
    found = pending_requests([gated, leaving, cpu_only], SchedulingView(NODES))
    assert found.requests == []
    assert found.notes == [
        "ml/gated left out: the scheduler holds it back until its gates go (quota.example.com/ok)"
    ]


def test_a_pod_nominated_to_a_node_is_held_there() -> None:
    # the scheduler preempted pods on node_b for it: its devices come free there
    pod = _pod("urgent", _mig("2g.10gb", 1), tolerations=EVERYTHING)
    pod["status"]["nominatedNodeName"] = "node_b"
    assert _held(pod) == ["node_b"]
    # a nomination to a node its rules refuse (or that is not planned) holds nothing more
    pod["status"]["nominatedNodeName"] = "node_x"
    assert _held(pod) is None


def test_a_sidecars_mig_devices_add_to_the_pods_as_the_scheduler_adds_them() -> None:
    sidecar = {"name": "s", "image": "x", "restartPolicy": "Always", "resources": _mig("1g.5gb", 1)}
    pod = _pod("with-sidecar", _mig("1g.5gb", 1), initContainers=[sidecar])
    [request] = pending_requests([pod]).requests
    assert request["count"] == 2  # the sidecar keeps running beside the main container
