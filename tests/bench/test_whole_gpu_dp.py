"""The dynamic program for whole-GPU pods: its values against a brute-force recursion, its play
against its own expectation, and its limits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kubemig.bench.bound import demand_of, solve_bound
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.policies import PolicyContext, make_policy, policy_names
from kubemig.bench.policies.fixed import FixedLayoutPolicy
from kubemig.bench.policies.whole_gpu_dp import WholeGpuDpPolicy
from kubemig.bench.run import fill_in_order
from kubemig.bench.trace import PodRequest
from kubemig.bench.whole_gpu_dp import PodKind, WholeGpuDp, WholeGpuDpError, budget_levels
from kubemig.cli import cli
from kubemig.geometry import Layout
from tests.bench.helpers import A100, TINY, inst, pod
from tests.helpers import run_kubemig, scaled_examples

WHOLE = Layout.of([inst("7g.40gb", 0)])


def brute_force(node_sizes: Sequence[int], kinds: Sequence[PodKind], budget: int) -> float:
    """Expectimax over the nodes as they are (not sorted), memoized: the same value, computed plainly."""

    @cache
    def value(b: int, free: tuple[int, ...]) -> float:
        if b <= 0:
            return 0.0
        total = 0.0
        for kind in kinds:
            best = value(b - kind.slices, free)
            for node, f in enumerate(free):
                if kind.gpus and f >= kind.gpus:
                    after = free[:node] + (f - kind.gpus,) + free[node + 1 :]
                    best = max(best, kind.slices + value(b - kind.slices, after))
            total += kind.share * best
        return total

    return value(budget, tuple(node_sizes))


KIND = st.tuples(st.integers(1, 7), st.integers(0, 3)).map(
    lambda t: (7 * t[1], t[1]) if t[1] else (t[0], 0)  # whole-GPU pods ask 7 slices per GPU
)


@settings(max_examples=scaled_examples(40), deadline=None)
@given(
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    kinds=st.lists(st.tuples(KIND, st.integers(1, 5)), min_size=1, max_size=4),
    budget=st.integers(0, 40),
)
def test_values_equal_a_brute_force_recursion(
    sizes: list[int], kinds: list[tuple[tuple[int, int], int]], budget: int
) -> None:
    weight = sum(w for _, w in kinds)
    pod_kinds = [PodKind(w / weight, max(slices, 1), gpus) for (slices, gpus), w in kinds]
    dp = WholeGpuDp(sizes, pod_kinds, budget)
    assert dp.expected() == pytest.approx(brute_force(sizes, pod_kinds, budget), abs=1e-9)
    # every state reachable or not: V(b, s) is the recursion's value from s
    for state in dp.states[:: max(1, len(dp.states) // 5)]:
        if all(f <= s for f, s in zip(state, sorted(sizes), strict=True)):
            assert dp.value(budget, state) == pytest.approx(brute_force(state, pod_kinds, budget), abs=1e-9)


def test_it_keeps_a_whole_node_while_the_pod_that_needs_it_is_likely_to_come() -> None:
    # one node of 4 GPUs. A 1-GPU pod with one 4-GPU pod's worth of stream left: 4-GPU pods are
    # common, so the node is kept for one
    dp = WholeGpuDp([4], [PodKind(0.2, 7, 1), PodKind(0.8, 28, 4)], 35)
    assert dp.choose(35, [4], PodKind(0.2, 7, 1)) is None
    # 4-GPU pods are rare and the stream is short: the 1-GPU pod is worth more than the hope
    dp = WholeGpuDp([4], [PodKind(0.9, 7, 1), PodKind(0.1, 28, 4)], 200)
    assert dp.choose(28, [4], PodKind(0.9, 7, 1)) == 4
    # a long stream still to come fills the node either way: keeping it loses nothing
    assert dp.choose(200, [4], PodKind(0.9, 7, 1)) is None
    # two nodes, one already broken: a 1-GPU pod goes beside the others, not onto the whole node
    dp = WholeGpuDp([4, 4], [PodKind(0.5, 7, 1), PodKind(0.5, 28, 4)], 60)
    assert dp.choose(60, [4, 3], PodKind(0.5, 7, 1)) == 3
    # the last pod of the stream is always taken when it fits
    assert dp.choose(7, [4, 0], PodKind(0.5, 7, 1)) == 4
    # a pod of less than a GPU is never taken
    assert dp.choose(60, [4, 4], PodKind(0.1, 3, 0)) is None


def test_budget_levels_count_the_pods_still_to_come() -> None:
    assert budget_levels(582.4) == 583 and budget_levels(91.00000000000001) == 91 and budget_levels(0) == 0


def sample(rng: np.random.Generator, kinds: list[tuple[PodRequest, float]], total: float) -> list[PodRequest]:
    """The fill benchmark's rule: draw pods until their slices reach `total`."""
    shares = np.array([share for _, share in kinds])
    stream: list[PodRequest] = []
    asked = 0
    while asked < total:
        request = kinds[int(rng.choice(len(kinds), p=shares))][0]
        stream.append(request.renamed(f"p{len(stream)}"))
        asked += request.slices
    return stream


def test_its_play_on_sampled_streams_averages_its_expectation_and_never_beats_the_bound() -> None:
    spec = ClusterSpec(A100, 8, gpus_per_node=4)
    kinds = [
        (pod("a", "7g.40gb"), 0.5),
        (pod("b", "7g.40gb", 4), 0.2),
        (pod("c", "7g.40gb", 2), 0.1),
        (pod("d", "3g.20gb"), 0.2),
    ]
    mix = {request.kind: share for request, share in kinds}
    rng = np.random.default_rng(7)
    allocated, gained = [], []
    for _ in range(400):
        stream = sample(rng, kinds, 1.3 * spec.capacity_slices)
        policy = make_policy("whole-gpu-dp", PolicyContext(spec, mix, (), 0, None, 1.3))
        session, _, _ = fill_in_order(policy, stream)  # the cluster checks every decision
        got = session.cluster.allocated_slices
        assert got <= solve_bound(A100, spec.gpus, demand_of(stream), spec.gpus_per_node).slices
        allocated.append(got)
        # taking every whole-GPU pod that fits (first node in order) is in the same class of policies
        greedy, _, _ = fill_in_order(FixedLayoutPolicy(PolicyContext(spec), WHOLE), stream)
        gained.append(got - greedy.cluster.allocated_slices)
    expected = policy.counters()["expected_slices"]
    assert isinstance(expected, float)
    assert abs(float(np.mean(allocated)) - expected) < 4 * standard_error(allocated)
    # on average no policy of its class does better: greedy is not ahead beyond the noise
    assert float(np.mean(gained)) > -3 * standard_error(gained)


def standard_error(values: list[int]) -> float:
    return float(np.std(values) / np.sqrt(len(values))) + 1e-9


def test_it_runs_only_when_named_and_only_where_it_can() -> None:
    assert "whole-gpu-dp" not in policy_names(None) and policy_names("whole-gpu-dp") == ["whole-gpu-dp"]
    with pytest.raises(WholeGpuDpError, match="run it in `kubemig bench fill`"):
        make_policy("whole-gpu-dp", PolicyContext(ClusterSpec(A100, 8), {(0, 1): 1.0}))
    with pytest.raises(WholeGpuDpError, match="use 9 nodes of 8 GPUs or fewer"):
        make_policy("whole-gpu-dp", PolicyContext(ClusterSpec(A100, 256), {(0, 1): 1.0}, expected_load=1.3))


def test_fill_refuses_it_on_a_large_cluster_in_one_line(tmp_path: Path) -> None:
    trace = tmp_path / "tiny.csv"
    trace.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,100,1,1000\np1,1000,100,2,1000\n")
    done = run_kubemig("bench", "fill", "--trace", str(trace), "--gpus", "256", "--policies", "whole-gpu-dp")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "use 9 nodes of 8 GPUs or fewer" in done.stderr


def test_fill_runs_it_beside_the_others_and_reports_its_expectation(tmp_path: Path) -> None:
    trace = tmp_path / "tiny.csv"
    trace.write_text(TINY)
    out = tmp_path / "fill.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "fill",
            "--trace",
            str(trace),
            "--gpus",
            "16",
            "--seeds",
            "2",
            "--policies",
            "hami,whole-gpu-dp",
            "--json",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(out.read_text())["results"] if r["policy"] == "whole-gpu-dp"]
    assert len(rows) == 2
    for row in rows:
        # it takes pods of whole GPUs only
        assert all(placed == 0 for kind, (placed, _) in row["placed_by_kind"].items() if "7g" not in kind)
        assert 0 < row["counters"]["expected_allocated_ratio"] <= 1
    expected = 100 * rows[0]["counters"]["expected_allocated_ratio"]
    assert f"expected {expected:.2f}% of capacity" in result.output


def test_one_solve_serves_every_stream_of_a_run() -> None:
    spec, mix = ClusterSpec(A100, 8, gpus_per_node=4), {(0, 1): 0.7, (0, 2): 0.3}
    first, second = (
        make_policy("whole-gpu-dp", PolicyContext(spec, mix, (), seed, None, 1.3)) for seed in (0, 1)
    )
    assert isinstance(first, WholeGpuDpPolicy) and isinstance(second, WholeGpuDpPolicy)
    assert first.dp is second.dp
    other = make_policy("whole-gpu-dp", PolicyContext(spec, mix, (), 0, None, 1.5))
    assert isinstance(other, WholeGpuDpPolicy) and other.dp is not first.dp
    assert other.dp.budget > first.dp.budget
