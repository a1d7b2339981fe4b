"""The configuration MILP: exact on tiny cases (brute force), and above every policy."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemig.bench.bound import BoundCache, bound_layouts, demand_of, node_patterns, node_sizes, solve_bound
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.policies import PolicyContext, make_policy, policy_names
from kubemig.bench.run import fill_in_order, static_fill_score
from kubemig.bench.trace import PodRequest
from kubemig.geometry import GpuGeometry, geometry_for, place
from tests.bench.helpers import A100, pod

A30 = geometry_for("A30")
KINDS_A100 = [("1g.5gb", 1), ("2g.10gb", 1), ("3g.20gb", 1), ("4g.20gb", 1), ("7g.40gb", 1), ("7g.40gb", 2)]
KINDS_A30 = [("1g.6gb", 1), ("2g.12gb", 1), ("4g.24gb", 1), ("4g.24gb", 2)]


def brute_force(geo: GpuGeometry, gpus: int, pods: list[PodRequest], per_node: int | None = None) -> int:
    """Best slices over every subset of pods and every way to put their instances on the GPUs
    (a pod's instances on distinct GPUs of one node)."""
    instances = [(i, geo.shape(p.profile_id)) for i, p in enumerate(pods) for _ in range(p.count)]
    best = 0
    for assignment in itertools.product(range(gpus + 1), repeat=len(instances)):  # gpus = not placed
        per_pod: dict[int, set[int]] = {}
        for (i, _), gpu in zip(instances, assignment, strict=True):
            per_pod.setdefault(i, set()).add(gpu)
        # all or nothing, and a pod's instances on distinct GPUs
        if any(gpus in g and len(g) > 1 for g in per_pod.values()):
            continue
        if any(len(g) != pods[i].count and gpus not in g for i, g in per_pod.items()):
            continue
        if per_node and any(len({x // per_node for x in g}) > 1 for g in per_pod.values() if gpus not in g):
            continue
        ok = all(
            place(geo, [s for (_, s), g in zip(instances, assignment, strict=True) if g == gpu]) is not None
            for gpu in range(gpus)
        )
        if ok:
            best = max(best, sum(p.slices for i, p in enumerate(pods) if gpus not in per_pod[i]))
    return best


@pytest.mark.parametrize(("geo", "kinds"), [(A100, KINDS_A100), (A30, KINDS_A30)], ids=["A100", "A30"])
@given(data=st.data())
def test_bound_equals_brute_force_on_tiny_cases(
    geo: GpuGeometry, kinds: list[tuple[str, int]], data: st.DataObject
) -> None:
    gpus = data.draw(st.integers(1, 2))
    chosen = data.draw(
        st.lists(st.sampled_from(kinds), min_size=1, max_size=5).filter(lambda c: sum(n for _, n in c) <= 6)
    )
    pods = [pod(f"p{i}", name, count, geo) for i, (name, count) in enumerate(chosen)]
    assert solve_bound(geo, gpus, demand_of(pods)).slices == brute_force(geo, gpus, pods)


@given(data=st.data())
def test_node_aware_bound_equals_brute_force(data: st.DataObject) -> None:
    # 3 GPUs on nodes of 2 (the last node has one): a 2-GPU pod needs both GPUs of the first node
    per_node = data.draw(st.sampled_from([1, 2, 3]))
    kinds = [("3g.20gb", 1), ("4g.20gb", 1), ("7g.40gb", 1), ("7g.40gb", 2), ("7g.40gb", 3)]
    chosen = data.draw(
        st.lists(st.sampled_from(kinds), min_size=1, max_size=4).filter(lambda c: sum(n for _, n in c) <= 6)
    )
    pods = [pod(f"p{i}", name, count) for i, (name, count) in enumerate(chosen)]
    assert solve_bound(A100, 3, demand_of(pods), per_node).slices == brute_force(A100, 3, pods, per_node)


def test_node_patterns() -> None:
    assert sorted(node_patterns([2, 4, 8], 8)) == sorted(
        [(2,), (2, 2), (2, 2, 2), (2, 2, 2, 2), (2, 2, 4), (2, 4), (4,), (4, 4), (8,)]
    )
    assert node_sizes(20, 8) == {8: 2, 4: 1} and node_sizes(16, 8) == {8: 2} and node_sizes(5, None) == {}


def test_bound_by_hand() -> None:
    # 4g + 3g share a GPU; 2 x 3g do too but leave a slice; 7g alone
    pods = [pod("a", "4g.20gb"), pod("b", "3g.20gb"), pod("c", "3g.20gb"), pod("d", "7g.40gb", 2)]
    assert solve_bound(A100, 1, demand_of(pods)).slices == 7
    assert solve_bound(A100, 2, demand_of(pods)).slices == 14  # the pair of 7g, or 4g+3g and 3g
    assert solve_bound(A100, 3, demand_of(pods)).slices == 21  # the pair and 4g+3g; one 3g left out
    assert solve_bound(A100, 4, demand_of(pods)).slices == 24
    assert len(bound_layouts(A100)) == 19


def test_bound_cache_agrees_with_the_solver() -> None:
    cache = BoundCache(A100, 2)
    demand = demand_of([pod("a", "4g.20gb"), pod("b", "4g.20gb"), pod("c", "4g.20gb")])
    assert cache.slices(demand) == solve_bound(A100, 2, demand).slices == 8
    assert cache.slices({(pod("x", "1g.5gb").profile_id, 1): 2}) == 2  # fits one per GPU: no solve
    assert cache.solved == 1


SPEC = ClusterSpec(A100, 8, gpus_per_node=4)
NAMES = [*policy_names(None), "whole-gpu-dp"]  # and the yardstick run only when named


@given(st.lists(st.sampled_from(KINDS_A100 + [("7g.40gb", 4)]), min_size=1, max_size=40))
def test_no_policy_allocates_more_than_the_bound(kinds: list[tuple[str, int]]) -> None:
    stream = [pod(f"p{i}", name, count) for i, (name, count) in enumerate(kinds)]
    bound = solve_bound(A100, SPEC.gpus, demand_of(stream), SPEC.gpus_per_node).slices
    mix = {(p.profile_id, p.count): 1.0 for p in stream}
    for name in NAMES:
        policy = make_policy(name, PolicyContext(SPEC, mix, stream, 0, static_fill_score(SPEC, stream), 1.3))
        session, _, _ = fill_in_order(policy, stream)
        assert session.cluster.allocated_slices <= bound, name
