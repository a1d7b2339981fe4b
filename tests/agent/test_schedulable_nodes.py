"""Where a pending pod may go, beyond MIG devices: the requests other than MIG devices against what
each node has left, and required inter-pod affinity and anti-affinity against the pods bound."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemig.agent.node_resources import free_resources, pod_requests, shortfall
from kubemig.agent.pending_pods import pending_requests
from kubemig.agent.pod_affinity import selector_matches
from kubemig.agent.schedulable_nodes import SchedulingView


def _node(name: str, labels: dict[str, str] | None = None, **allocatable: str) -> dict[str, Any]:
    node: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}}
    if allocatable:
        node["status"] = {"allocatable": allocatable}
    return node


def _pod(
    name: str,
    node: str | None = None,
    labels: dict[str, str] | None = None,
    namespace: str = "ml",
    phase: str | None = None,
    affinity: dict[str, Any] | None = None,
    extended: dict[str, str] | None = None,
    **requests: str,
) -> dict[str, Any]:
    asked = {**requests, **(extended or {})}
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": asked}}]}
    if node:
        spec["nodeName"] = node
    if affinity:
        spec["affinity"] = affinity
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": spec,
        "status": {"phase": phase or ("Running" if node else "Pending")},
    }


def _term(topology: str, selector: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    term: dict[str, Any] = {"topologyKey": topology, **extra}
    if selector is not None:
        term["labelSelector"] = selector
    return term


def _affinity(kind: str, *terms: dict[str, Any]) -> dict[str, Any]:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def test_a_pods_request_counts_sidecars_init_steps_and_overhead() -> None:
    spec = {
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "1", "nvidia.com/mig-1g.5gb": "1"}}},
        ],
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
            {"name": "setup", "resources": {"requests": {"cpu": "3", "memory": "512Mi"}}},
        ],
        "overhead": {"cpu": "100m"},
    }
    asked = pod_requests(spec)
    # cpu: the setup step (sidecar 0.25 + 3) beats the running pod (1.5 + sidecar 0.25); then overhead
    assert asked["cpu"] == Decimal("3.35")
    assert asked["memory"] == Decimal(2**30)
    assert asked["nvidia.com/mig-1g.5gb"] == 1


def test_a_node_has_its_allocatable_less_the_pods_bound_to_it() -> None:
    node = _node("a", cpu="8", memory="32Gi", pods="3")
    free = free_resources(node, [_pod("x", "a", cpu="6"), _pod("y", "a", memory="30Gi")])
    assert free is not None
    assert (free["cpu"], free["memory"], free["pods"]) == (Decimal(2), Decimal(2 * 2**30), Decimal(1))
    assert shortfall(pod_requests(_pod("p", cpu="2")["spec"]), free) is None
    assert shortfall(pod_requests(_pod("p", cpu="3")["spec"]), free) == "cpu: asks 3, 2 free"
    assert shortfall(pod_requests(_pod("p", memory="4Gi")["spec"]), free) == "memory: asks 4Gi, 2Gi free"
    assert shortfall(pod_requests(_pod("p", extended={"example.com/fpga": "1"})["spec"]), free) == (
        "example.com/fpga: asks 1, 0 free"
    )
    # MIG devices are the plan's business, and a node that reports nothing is not checked
    assert shortfall(pod_requests(_pod("p", extended={"nvidia.com/mig-7g.40gb": "9"})["spec"]), free) is None
    assert free_resources(_node("b"), []) is None
    full = free_resources(node, [_pod(str(i), "a") for i in range(3)])
    assert shortfall({}, full) == "no room for another pod"


def test_pods_bound_elsewhere_or_ended_leave_a_nodes_resources_alone() -> None:
    nodes = [_node("a", cpu="4", pods="10"), _node("b", cpu="4", pods="10")]
    pods = [
        _pod("big", "a", cpu="3"),
        _pod("done", "b", cpu="4", phase="Succeeded"),
        _pod("failed", "b", cpu="4", phase="Failed"),
        _pod("wants", cpu="2"),
    ]
    allowed, reasons = SchedulingView(nodes, nodes, pods).admitting(pods[-1])
    assert allowed == ["b"] and reasons == {"a": "cpu: asks 2, 1 free"}


def test_a_pod_that_may_go_nowhere_is_said_so_with_each_nodes_reason() -> None:
    nodes = [
        _node("a", cpu="4", pods="10"),
        {**_node("b"), "spec": {"taints": [{"key": "gpu", "value": "x", "effect": "NoSchedule"}]}},
    ]
    pending = _pod("wants", cpu="6", extended={"nvidia.com/mig-1g.5gb": "1"})
    found = pending_requests([pending], SchedulingView(nodes))
    assert found.requests[0]["nodes"] == []
    assert found.notes == [
        "ml/wants may go to no planned node: a: cpu: asks 6, 4 free; b: taint gpu=x:NoSchedule not tolerated"
    ]


ZONES = [
    _node("a1", {HOST: "a1", ZONE: "a"}),
    _node("a2", {HOST: "a2", ZONE: "a"}),
    _node("b1", {HOST: "b1", ZONE: "b"}),
    _node("nozone", {HOST: "nozone"}),
]
NAMES = ["a1", "a2", "b1", "nozone"]


def _allowed(pod: dict[str, Any], bound: list[dict[str, Any]], **namespaces: dict[str, str]) -> list[str]:
    allowed, _ = SchedulingView(ZONES, ZONES, [*bound, pod], namespaces or None).admitting(pod)
    return allowed


def test_pod_affinity_wants_a_matching_pod_in_the_nodes_domain() -> None:
    cache = _pod("cache", "a2", {"app": "cache"})
    near = _affinity("podAffinity", _term(ZONE, {"matchLabels": {"app": "cache"}}))
    assert _allowed(_pod("p", affinity=near), [cache]) == ["a1", "a2"]
    same_host = _affinity("podAffinity", _term(HOST, {"matchLabels": {"app": "cache"}}))
    assert _allowed(_pod("p", affinity=same_host), [cache]) == ["a2"]
    # the matching pod in another namespace does not count, unless the term names it
    elsewhere = _pod("cache", "a2", {"app": "cache"}, namespace="infra")
    assert _allowed(_pod("p", affinity=near), [elsewhere]) == []
    named = _affinity("podAffinity", _term(ZONE, {"matchLabels": {"app": "cache"}}, namespaces=["infra"]))
    assert _allowed(_pod("p", affinity=named), [elsewhere]) == ["a1", "a2"]
    by_label = _affinity(
        "podAffinity",
        _term(ZONE, {"matchLabels": {"app": "cache"}}, namespaceSelector={"matchLabels": {"t": "i"}}),
    )
    assert _allowed(_pod("p", affinity=by_label), [elsewhere], infra={"t": "i"}) == ["a1", "a2"]
    everywhere = _affinity(
        "podAffinity", _term(ZONE, {"matchLabels": {"app": "cache"}}, namespaceSelector={})
    )
    assert _allowed(_pod("p", affinity=everywhere), [elsewhere]) == ["a1", "a2"]


def test_one_view_tells_terms_apart_by_key_and_namespaces() -> None:
    """A view reads each term's domains once: terms alike but for their key or namespaces are not."""
    bound = [_pod("cache", "a2", {"app": "cache"}), _pod("cache", "b1", {"app": "cache"}, namespace="infra")]
    view = SchedulingView(ZONES, ZONES, bound)
    cache = {"matchLabels": {"app": "cache"}}
    asked = [
        _term(ZONE, cache),
        _term(HOST, cache),
        _term(ZONE, cache, namespaces=["infra"]),
        _term(HOST, cache, namespaces=["infra"]),
    ]
    allowed = [view.admitting(_pod("p", affinity=_affinity("podAffinity", term)))[0] for term in asked]
    assert allowed == [["a1", "a2"], ["a2"], ["b1"], ["b1"]]


def test_the_first_pod_of_a_group_may_start_it_on_any_node_with_the_key() -> None:
    group = _affinity("podAffinity", _term(ZONE, {"matchLabels": {"job": "j"}}))
    assert _allowed(_pod("p", labels={"job": "j"}, affinity=group), []) == ["a1", "a2", "b1"]
    # a pod outside the group it wants has to wait for one
    assert _allowed(_pod("p", labels={"job": "other"}, affinity=group), []) == []
    # a null label selector matches no pod, not even the pod itself
    assert (
        _allowed(_pod("p", labels={"job": "j"}, affinity=_affinity("podAffinity", _term(ZONE, None))), [])
        == []
    )


def test_anti_affinity_keeps_a_pod_from_the_domains_of_those_it_matches_either_way() -> None:
    web = _pod("web-0", "a1", {"app": "web"})
    spread = _affinity("podAntiAffinity", _term(HOST, {"matchLabels": {"app": "web"}}))
    assert _allowed(_pod("web-1", labels={"app": "web"}, affinity=spread), [web]) == ["a2", "b1", "nozone"]
    zoned = _affinity("podAntiAffinity", _term(ZONE, {"matchLabels": {"app": "web"}}))
    assert _allowed(_pod("web-1", affinity=zoned), [web]) == ["b1", "nozone"]
    # the bound pod's own anti-affinity refuses newcomers it matches, in its zone
    loner = _pod("db", "b1", {"app": "db"}, affinity=_affinity("podAntiAffinity", _term(ZONE, {})))
    assert _allowed(_pod("p"), [loner]) == ["a1", "a2", "nozone"]
    assert _allowed(_pod("p", namespace="other"), [loner]) == NAMES  # its term looks in its namespace only
    _, reasons = SchedulingView(ZONES, ZONES, [loner]).admitting(_pod("p"))
    assert reasons == {"b1": f"a pod in {ZONE}=b refuses it by its anti-affinity"}


def test_bound_pods_refuse_only_the_pods_their_own_terms_match() -> None:
    # two bound pods guard one key with different selectors: each refuses only its own kind
    no_db = _pod(
        "g0",
        "a1",
        {"app": "x"},
        affinity=_affinity("podAntiAffinity", _term(ZONE, {"matchLabels": {"app": "db"}})),
    )
    no_web = _pod(
        "g1",
        "b1",
        {"app": "y"},
        affinity=_affinity("podAntiAffinity", _term(ZONE, {"matchLabels": {"app": "web"}})),
    )
    view = SchedulingView(ZONES, ZONES, [no_db, no_web])
    assert view.admitting(_pod("d", labels={"app": "db"}))[0] == ["b1", "nozone"]
    assert view.admitting(_pod("w", labels={"app": "web"}))[0] == ["a1", "a2", "nozone"]
    assert view.admitting(_pod("c", labels={"app": "cache"}))[0] == NAMES


def test_pending_pods_are_kept_apart_from_and_near_only_the_pods_their_terms_match() -> None:
    apart = _affinity("podAntiAffinity", _term(HOST, {"matchLabels": {"app": "web"}}))
    near = _affinity("podAffinity", _term(ZONE, {"matchLabels": {"app": "db"}}))
    pods = [
        _pod("web-0", labels={"app": "web"}, affinity=apart),
        _pod("db-0", labels={"app": "db"}),
        _pod("web-1", labels={"app": "web"}, affinity=apart),
        _pod("front", labels={"app": "front"}, affinity=near),
    ]
    view = SchedulingView(ZONES, ZONES, [])
    assert view.kept_apart(pods) == {0: [(HOST, 2)], 2: [(HOST, 0)]}
    assert view.kept_near(pods) == {3: [(0, ZONE, [1], [])]}


def test_match_label_keys_take_their_values_from_the_terms_owner() -> None:
    old = _pod("v1", "a1", {"app": "web", "rev": "1"})
    new = _pod("v2", "b1", {"app": "web", "rev": "2"})
    # spread only among pods of the same revision
    spread = _affinity(
        "podAntiAffinity", _term(HOST, {"matchLabels": {"app": "web"}}, matchLabelKeys=["rev"])
    )
    assert _allowed(_pod("p", labels={"app": "web", "rev": "2"}, affinity=spread), [old, new]) == [
        "a1",
        "a2",
        "nozone",
    ]
    apart = _affinity("podAffinity", _term(ZONE, {"matchLabels": {"app": "web"}}, mismatchLabelKeys=["rev"]))
    assert _allowed(_pod("p", labels={"app": "web", "rev": "2"}, affinity=apart), [old, new]) == ["a1", "a2"]


@pytest.mark.parametrize(
    ("selector", "labels", "matched"),
    [
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {"a": "5"}, False),
    ],
)
def test_label_selectors_read_as_kubernetes_reads_them(
    selector: dict[str, Any], labels: dict[str, str], matched: bool
) -> None:
    assert selector_matches(selector, labels) is matched


cpu_strings = st.integers(0, 16).map(str)


@given(
    node_cpus=st.lists(cpu_strings, min_size=1, max_size=4),
    bound=st.lists(st.tuples(st.integers(0, 3), cpu_strings, st.booleans()), max_size=8),
    extra=st.tuples(st.integers(0, 3), cpu_strings, st.booleans()),
    asked=cpu_strings,
    anti=st.booleans(),
)
def test_binding_one_more_pod_never_opens_a_node_to_a_pod_without_affinity(
    node_cpus: list[str],
    bound: list[tuple[int, str, bool]],
    extra: tuple[int, str, bool],
    asked: str,
    anti: bool,
) -> None:
    """Resources and anti-affinity only close nodes as pods arrive; each refused node has its reason."""
    nodes = [
        _node(f"n{i}", {HOST: f"n{i}", ZONE: str(i % 2)}, cpu=c, pods="8") for i, c in enumerate(node_cpus)
    ]
    names = [f"n{i}" for i in range(len(nodes))]

    def placed(index: int, cpu: str, web: bool) -> dict[str, Any]:
        guard = _affinity("podAntiAffinity", _term(ZONE, {"matchLabels": {"app": "web"}})) if web else None
        return _pod(f"b{index}-{cpu}", names[index % len(names)], {"app": "web"}, affinity=guard, cpu=cpu)

    spread = _affinity("podAntiAffinity", _term(HOST, {"matchLabels": {"app": "web"}})) if anti else None
    pod = _pod("p", labels={"app": "web"}, affinity=spread, cpu=asked)
    before_pods = [placed(i, c, w) for i, c, w in bound]
    before, reasons = SchedulingView(nodes, nodes, before_pods).admitting(pod)
    after, _ = SchedulingView(nodes, nodes, [*before_pods, placed(*extra)]).admitting(pod)
    assert set(after) <= set(before)
    assert sorted([*before, *reasons]) == sorted(names) and not set(before) & set(reasons)


def _spread(key: str, max_skew: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
        **extra,
    }


def _spreading(*constraints: dict[str, Any], namespace: str = "ml") -> dict[str, Any]:
    pod = _pod("new", labels={"app": "web"}, namespace=namespace)
    pod["spec"]["topologySpreadConstraints"] = list(constraints)
    return pod


def test_topology_spread_keeps_each_domain_within_max_skew_of_the_emptiest() -> None:
    # zone a runs two web pods, zone b none: with maxSkew 1 only zone b may take the next one
    bound = [_pod("w0", "a1", {"app": "web"}), _pod("w1", "a2", {"app": "web"})]
    assert _allowed(_spreading(_spread(ZONE)), bound) == ["b1"]
    assert _allowed(_spreading(_spread(ZONE, max_skew=3)), bound) == ["a1", "a2", "b1"]
    _, reasons = SchedulingView(ZONES, ZONES, bound).admitting(_spreading(_spread(ZONE)))
    assert (
        reasons["a1"]
        == f"topology spread: {ZONE}=a would be 3 pods ahead of the emptiest domain, more than maxSkew 1"
    )
    assert reasons["nozone"] == f"topology spread: the node has no {ZONE} label"
    # pods of other namespaces, other apps, or being deleted do not count
    others = [
        _pod("w0", "a1", {"app": "web"}, namespace="other"),
        _pod("db", "a2", {"app": "db"}),
        {
            **_pod("w1", "a2", {"app": "web"}),
            "metadata": {"name": "w1", "namespace": "ml", "labels": {"app": "web"}, "deletionTimestamp": "x"},
        },
    ]
    assert _allowed(_spreading(_spread(ZONE)), others) == ["a1", "a2", "b1"]
    # preferences restrict nothing
    assert _allowed(_spreading(_spread(ZONE, whenUnsatisfiable="ScheduleAnyway")), bound) == NAMES


def test_topology_spread_counts_only_eligible_domains_and_min_domains() -> None:
    bound = [_pod("w0", "a1", {"app": "web"})]
    # zone b is out of reach of the pod's node selector, so zone a is the emptiest eligible domain
    pod = _spreading(_spread(ZONE))
    pod["spec"]["nodeSelector"] = {ZONE: "a"}
    allowed, _ = SchedulingView(ZONES, ZONES, bound).admitting(pod)
    assert allowed == ["a1", "a2"]
    # with nodeAffinityPolicy Ignore zone b counts (0 pods), and zone a would be 2 ahead
    pod["spec"]["topologySpreadConstraints"] = [_spread(ZONE, nodeAffinityPolicy="Ignore")]
    allowed, _ = SchedulingView(ZONES, ZONES, bound).admitting(pod)
    assert allowed == []
    # fewer eligible domains than minDomains: the floor is 0, so even the emptiest zone may not reach 2
    two = [_pod("w0", "a1", {"app": "web"}), _pod("w1", "b1", {"app": "web"})]
    assert _allowed(_spreading(_spread(ZONE, minDomains=3)), two) == []
    assert _allowed(_spreading(_spread(ZONE, max_skew=2, minDomains=3)), two) == ["a1", "a2", "b1"]


def test_topology_spread_counts_pods_only_on_eligible_nodes() -> None:
    # zone a is eligible through a1, but the two web pods run on a2, which the pod's node selector
    # leaves out: the scheduler counts neither, so zone a is as empty as zone b
    nodes = [
        _node("a1", {HOST: "a1", ZONE: "a", "disk": "ssd"}),
        _node("a2", {HOST: "a2", ZONE: "a"}),
        _node("b1", {HOST: "b1", ZONE: "b", "disk": "ssd"}),
    ]
    bound = [_pod("w0", "a2", {"app": "web"}), _pod("w1", "a2", {"app": "web"})]
    pod = _spreading(_spread(ZONE))
    pod["spec"]["nodeSelector"] = {"disk": "ssd"}
    view = SchedulingView(nodes, nodes, bound)
    assert view.admitting(pod)[0] == ["a1", "b1"]
    ignoring = _spreading(_spread(ZONE, nodeAffinityPolicy="Ignore"))
    ignoring["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert view.admitting(ignoring)[0] == ["b1"]
    # pods sharing the constraint name the nodes that count, for a pod that only matches it (it
    # may go to a2, where it counts nowhere); the candidates only
    canary = _pod("canary", labels={"app": "web"})
    groups = view.spread_together([pod, pod, canary])
    domains = {"a": 0, "b": 0}
    assert groups == [
        ([(0, 0), (1, 0)], [2], {"topology": ZONE, "max_skew": 1, "domains": domains, "nodes": ["a1", "b1"]})
    ]
    assert SchedulingView(nodes[1:], nodes, bound).spread_together([pod, pod])[0][2]["nodes"] == ["b1"]
    # where every candidate in the domains is eligible, the group names none
    assert "nodes" not in view.spread_together([ignoring, ignoring])[0][2]
    # with no web pod bound, a pod free to go anywhere reads the same counts, yet its constraint
    # counts on other nodes: two groups, each counting the other pod
    free = _spreading(_spread(ZONE))
    apart = SchedulingView(nodes, nodes, []).spread_together([pod, free])
    assert [(members, counted, "nodes" in group) for members, counted, group in apart] == [
        ([(0, 0)], [1], True),
        ([(1, 0)], [0], False),
    ]


def test_pending_pods_count_alike_only_where_their_spread_reads_alike() -> None:
    """One view for several pending pods: each is counted by its own namespace and node selector,
    and the two that share a constraint and its counts are given together to the planner."""
    bound = [_pod("w0", "a1", {"app": "web"}), _pod("w1", "a2", {"app": "web"})]
    view = SchedulingView(ZONES, ZONES, bound)
    here = _spreading(_spread(ZONE))
    elsewhere = _spreading(_spread(ZONE), namespace="other")  # no web pod runs in its namespace
    pinned = _spreading(_spread(ZONE))
    pinned["spec"]["nodeSelector"] = {ZONE: "a"}  # zone a is its only domain, and the emptiest
    assert view.admitting(here)[0] == ["b1"]
    assert view.admitting(elsewhere)[0] == ["a1", "a2", "b1"]
    assert view.admitting(pinned)[0] == ["a1", "a2"]
    groups = view.spread_together([here, elsewhere, pinned, _spreading(_spread(ZONE))])
    # pinned's constraint differs (one domain), but it matches the others' selector, and they its
    # own: where either goes, it counts for the other's constraint
    assert groups == [
        ([(0, 0), (3, 0)], [2], {"topology": ZONE, "max_skew": 1, "domains": {"a": 2, "b": 0}}),
        ([(2, 0)], [0, 3], {"topology": ZONE, "max_skew": 1, "domains": {"a": 2}}),
    ]
    # their skew is the plan's to keep, together: each alone would be held to zone b
    assert view.admitting(here, planned_spread={0})[0] == ["a1", "a2", "b1"]
    # alike counts in two namespaces are still two constraints: each counts only its own pods
    fresh = [_spreading(_spread(ZONE), namespace=ns) for ns in ("x", "y")]
    assert SchedulingView(ZONES, ZONES, []).spread_together(fresh) == []


CHOICES: list[list[Any]] = [
    ["web", "db"],  # app label
    ["ml", "other"],  # namespace
    [False, True],  # node selector: zone a
    [False, True],  # tolerates the gpu taint
    ["1", "6"],  # CPUs asked
    [False, True],  # anti-affinity to web pods on a host
    [False, True],  # spread over zones
]


def _variant(choice: list[int]) -> dict[str, Any]:
    labels, namespace, pinned, tolerant, cpu, anti, spread = (c[i] for c, i in zip(CHOICES, choice))
    guard = _affinity("podAntiAffinity", _term(HOST, {"matchLabels": {"app": "web"}})) if anti else None
    pod = _pod("p", labels={"app": labels}, namespace=namespace, affinity=guard, cpu=cpu)
    if pinned:
        pod["spec"]["nodeSelector"] = {ZONE: "a"}
    if tolerant:
        pod["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    if spread:
        pod["spec"]["topologySpreadConstraints"] = [_spread(ZONE)]
    return pod


@given(
    first=st.lists(st.integers(0, 1), min_size=len(CHOICES), max_size=len(CHOICES)),
    flips=st.lists(st.integers(0, len(CHOICES) - 1), max_size=8),
)
def test_pods_that_read_alike_share_an_answer_and_no_other_pod_does(
    first: list[int], flips: list[int]
) -> None:
    """One view answers a workload's replicas once; each pod that differs from the one before in one
    thing the filters read (labels, namespace, node selector, tolerations, requests, affinity,
    spread) still gets the answer a view of its own gives it."""
    nodes = [
        _node("a1", {HOST: "a1", ZONE: "a"}, cpu="8", pods="8"),
        _node("a2", {HOST: "a2", ZONE: "a"}, cpu="4", pods="8"),
        _node("b1", {HOST: "b1", ZONE: "b"}, cpu="8", pods="8"),
    ]
    nodes[2]["spec"] = {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}
    no_db = _affinity("podAntiAffinity", _term(ZONE, {"matchLabels": {"app": "db"}}))
    bound = [
        _pod("w0", "a1", {"app": "web"}, cpu="1"),
        _pod("g0", "a2", {"app": "x"}, affinity=no_db, cpu="1"),
    ]
    shared = SchedulingView(nodes, nodes, bound)
    choice = list(first)
    for flip in [None, *flips]:
        if flip is not None:
            choice[flip] = 1 - choice[flip]
        pod = _variant(choice)
        assert shared.admitting(pod) == SchedulingView(nodes, nodes, bound).admitting(pod)
