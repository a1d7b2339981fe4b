from __future__ import annotations

import pytest

from kubemig.bench.cluster import Cluster, ClusterSpec, ClusterView, Decision, InvalidDecisionError
from kubemig.bench.policies.base import Policy, PolicyContext
from kubemig.bench.run import Session
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Instance, Layout
from tests.bench.helpers import A100, inst, pod

SPEC = ClusterSpec(A100, 16)  # two nodes of 8


def test_a_valid_decision_is_applied_and_released() -> None:
    cluster = Cluster(SPEC)
    a = inst("3g.20gb", 4)
    assert cluster.apply(pod("p", "3g.20gb"), Decision(((0, a),), {0: Layout.of([a])}))
    assert cluster.allocated_slices == 3 and cluster.busy(0) == {a: "p"} and cluster.used_slices(0) == 3
    assert cluster.reconfigurations == 1
    cluster.release("p", {0: Layout()})
    assert cluster.allocated_slices == 0 and cluster.busy(0) == {} and cluster.layout(0) == Layout()
    assert cluster.reconfigurations == 2


def test_none_is_a_refusal_and_changes_nothing() -> None:
    cluster = Cluster(SPEC)
    assert not cluster.apply(pod("p", "1g.5gb"), None)
    assert cluster.allocated_slices == 0


def _occupied() -> Cluster:
    cluster = Cluster(SPEC, "test")
    a = inst("4g.20gb", 0)
    cluster.apply(pod("first", "4g.20gb"), Decision(((0, a),), {0: Layout.of([a])}))
    return cluster


BAD_DECISIONS = [
    # (description, pod, decision, message fragment)
    (
        "overlapping instances",
        pod("p", "3g.20gb"),
        Decision(((0, inst("3g.20gb", 0)),), {0: Layout.of([inst("4g.20gb", 0), inst("3g.20gb", 0)])}),
        "overlap",
    ),
    (
        "start not allowed",
        pod("p", "3g.20gb"),
        Decision(((1, inst("3g.20gb", 2)),), {1: Layout.of([inst("3g.20gb", 2)])}),
        "cannot start",
    ),
    (
        "in-use instance destroyed",
        pod("p", "7g.40gb"),
        Decision(((0, inst("7g.40gb", 0)),), {0: Layout.of([inst("7g.40gb", 0)])}),
        "in use by pod first",
    ),
    (
        "in-use instance handed out",
        pod("p", "4g.20gb"),
        Decision(((0, inst("4g.20gb", 0)),)),
        "in use by pod first",
    ),
    (
        "wrong profile",
        pod("p", "2g.10gb"),
        Decision(((1, inst("1g.5gb", 0)),), {1: Layout.of([inst("1g.5gb", 0)])}),
        "asks for 2g.10gb",
    ),
    (
        "too few instances",
        pod("p", "7g.40gb", 2),
        Decision(((1, inst("7g.40gb", 0)),), {1: Layout.of([inst("7g.40gb", 0)])}),
        "got 1 instance",
    ),
    (
        "spread over nodes",
        pod("p", "7g.40gb", 2),
        Decision(
            ((7, inst("7g.40gb", 0)), (8, inst("7g.40gb", 0))),
            {7: Layout.of([inst("7g.40gb", 0)]), 8: Layout.of([inst("7g.40gb", 0)])},
        ),
        "one node",
    ),
    (
        "instance that does not exist",
        pod("p", "1g.5gb"),
        Decision(((1, inst("1g.5gb", 3)),)),
        "does not exist",
    ),
    (
        "same instance twice",
        pod("p", "1g.5gb", 2),
        Decision(((1, inst("1g.5gb", 3)), (1, inst("1g.5gb", 3))), {1: Layout.of([inst("1g.5gb", 3)])}),
        "twice",
    ),
    (
        "forged instance size",
        pod("p", "1g.5gb"),
        Decision(((1, Instance(0, 2, 19, "1g.5gb")),), {1: Layout((Instance(0, 2, 19, "1g.5gb"),))}),
        "not a GPU instance",
    ),
    (
        "GPU out of range",
        pod("p", "1g.5gb"),
        Decision(((99, inst("1g.5gb", 0)),), {99: Layout.of([inst("1g.5gb", 0)])}),
        "does not exist",
    ),
]


@pytest.mark.parametrize(
    ("what", "request_", "decision", "message"), BAD_DECISIONS, ids=[c[0] for c in BAD_DECISIONS]
)
def test_invalid_decisions_raise_and_change_nothing(
    what: str, request_: PodRequest, decision: Decision, message: str
) -> None:
    cluster = _occupied()
    before = [cluster.layout(g) for g in range(SPEC.gpus)]
    with pytest.raises(InvalidDecisionError, match=message) as info:
        cluster.apply(request_, decision)
    assert "policy test" in str(info.value)
    assert [cluster.layout(g) for g in range(SPEC.gpus)] == before
    assert cluster.allocated_slices == 4


def test_release_may_not_drop_an_instance_still_in_use() -> None:
    cluster = _occupied()
    b = inst("3g.20gb", 4)
    cluster.apply(pod("second", "3g.20gb"), Decision(((0, b),), {0: Layout.of([inst("4g.20gb", 0), b])}))
    with pytest.raises(InvalidDecisionError, match="in use by pod second"):
        cluster.release("first", {0: Layout()})


class BrokenPolicy(Policy):
    """Places every pod on GPU 0 at start 0, whatever is there: overlaps after the first pod."""

    name = "broken"
    rule = "always GPU 0, start 0"

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        shape = self.geo.shape(pod.profile_id)
        instance = shape.at(shape.starts[0])
        return Decision(((0, instance),), {0: Layout.of([*cluster.layout(0).instances, instance])})


def test_the_simulator_stops_a_broken_policy() -> None:
    session = Session.start(BrokenPolicy(PolicyContext(SPEC)))
    assert session.offer(pod("a", "1g.5gb"))
    with pytest.raises(InvalidDecisionError, match="policy broken: invalid decision for pod b"):
        session.offer(pod("b", "1g.5gb"))


def test_setup_layouts_are_checked_too() -> None:
    cluster = Cluster(SPEC, "test")
    with pytest.raises(InvalidDecisionError, match="overlap"):
        cluster.setup({0: Layout.of([inst("7g.40gb", 0), inst("1g.5gb", 0)])})
    cluster.setup({g: Layout.of([inst("7g.40gb", 0)]) for g in range(SPEC.gpus)})
    assert cluster.setup_operations == SPEC.gpus and cluster.reconfigurations == 0


def test_cluster_names_and_partial_last_node() -> None:
    spec = ClusterSpec(A100, 10)
    assert spec.nodes == 2 and list(spec.node_gpus(1)) == [8, 9]
    assert spec.gpu_name(9) == "node-0001/gpu-1" and spec.capacity_slices == 70
