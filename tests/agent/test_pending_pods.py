"""`kubemig pending`: the pods waiting for MIG devices, from the Kubernetes API, as planner requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kubemig.agent.pending_pods import pending_requests
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
        {"pod": "ml/infer", "profile": "mig-2g.10gb", "count": 1, "priority": 100},
        {"pod": "ml/train", "profile": "mig-7g.40gb", "count": 2, "priority": 0},
        {"pod": "ml/prep", "profile": "mig-1g.5gb", "count": 3, "priority": 0},
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
        {"pod": "ml/infer", "profile": "mig-4g.20gb", "count": 1, "priority": 0}
    ]
    assert ("GET", "/api/v1/pods?fieldSelector=status.phase%3DPending", "") in api.requests
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


def test_a_node_selector_holds_the_request_to_the_nodes_it_matches() -> None:
    labels = {"node-a": {"zone": "a", "gpu": "a100"}, "node-b": {"zone": "b", "gpu": "a100"}}
    pods = [
        _pod("zoned", _mig("2g.10gb", 1), nodeSelector={"zone": "b"}),
        _pod("any-a100", _mig("2g.10gb", 1), nodeSelector={"gpu": "a100"}),
        _pod("nowhere", _mig("2g.10gb", 1), nodeSelector={"zone": "c"}),
        _pod("free", _mig("2g.10gb", 1)),
        _pod(
            "affine",
            _mig("1g.5gb", 1),
            affinity={
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
            },
        ),
    ]
    found = pending_requests(pods, labels)
    nodes = {r["pod"]: r.get("nodes") for r in found.requests}
    assert nodes == {
        "ml/zoned": ["node-b"],
        "ml/any-a100": ["node-a", "node-b"],
        "ml/nowhere": [],
        "ml/free": None,
        "ml/affine": None,
    }
    assert found.notes == [
        "ml/affine: its required node affinity is not considered; the plan may place it anywhere"
    ]
    # without the nodes' labels (kubemig pending), selectors are not read
    assert all("nodes" not in r for r in pending_requests(pods).requests)
