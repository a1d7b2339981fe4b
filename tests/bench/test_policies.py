"""Each policy follows its rule on hand-made cases, and all its decisions are valid on random streams."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemig.bench.cluster import ClusterSpec, Decision
from kubemig.bench.policies import PolicyContext, make_policy, policy_names
from kubemig.bench.policies.fgd import Fgd
from kubemig.bench.policies.first_fit import FirstFit
from kubemig.bench.policies.hami import Hami, hami_starts
from kubemig.bench.policies.nos import Nos
from kubemig.bench.policies.static_balanced import StaticBalanced
from kubemig.bench.policies.static_best import StaticBest
from kubemig.bench.run import Session, static_fill_score
from kubemig.bench.trace import PodRequest
from kubemig.geometry import Layout
from tests.bench.helpers import A100, inst, pod

ONE_NODE = ClusterSpec(A100, 8)
TWO_NODES = ClusterSpec(A100, 16)


def start(policy_cls: type, spec: ClusterSpec = ONE_NODE, **context: object) -> Session:
    return Session.start(policy_cls(PolicyContext(spec, **context)))  # type: ignore[arg-type]


def placed(session: Session, request: PodRequest) -> list[tuple[int, str]]:
    assert session.offer(request), f"{request.name} refused"
    return [(gpu, str(i)) for gpu, i in session.cluster.assignment(request.name)]


# --- first-fit ----------------------------------------------------------------------------------
def test_first_fit_takes_the_first_node_gpu_and_start() -> None:
    s = start(FirstFit, TWO_NODES)
    assert placed(s, pod("a", "1g.5gb")) == [(0, "1g.5gb@0")]
    assert placed(s, pod("b", "3g.20gb")) == [(0, "3g.20gb@4")]
    assert placed(s, pod("c", "2g.10gb")) == [(0, "2g.10gb@2")]
    assert placed(s, pod("d", "4g.20gb")) == [(1, "4g.20gb@0")]
    assert placed(s, pod("e", "1g.5gb")) == [(0, "1g.5gb@1")]
    assert placed(s, pod("f", "7g.40gb", 7)) == [(g, "7g.40gb@0") for g in range(8, 15)]


def test_first_fit_destroys_instances_when_pods_end() -> None:
    s = start(FirstFit)
    placed(s, pod("a", "1g.5gb"))
    s.end("a")
    assert s.cluster.layout(0) == Layout() and s.cluster.reconfigurations == 2


# --- hami ---------------------------------------------------------------------------------------
def test_hami_placement_order() -> None:
    shapes = {s.name: s for s in A100.shapes}
    assert hami_starts(shapes["1g.5gb"]) == [6, 5, 4, 3, 2, 1, 0]
    assert hami_starts(shapes["3g.20gb"]) == [4, 0]
    assert hami_starts(shapes["2g.10gb"]) == [0, 2, 4]


def test_hami_puts_1g_and_3g_high_others_low_and_binpacks() -> None:
    s = start(Hami, TWO_NODES)
    assert placed(s, pod("a", "1g.5gb")) == [(0, "1g.5gb@6")]
    assert placed(s, pod("b", "3g.20gb")) == [(0, "3g.20gb@0")]  # 4 is blocked by 1g@6
    assert placed(s, pod("c", "2g.10gb")) == [(0, "2g.10gb@4")]  # lowest free start
    assert placed(s, pod("d", "1g.5gb")) == [(1, "1g.5gb@6")]  # GPU 0 is full
    assert placed(s, pod("e", "2g.10gb")) == [(1, "2g.10gb@0")]  # the most used GPU with room


def test_hami_prefers_the_most_used_node() -> None:
    s = start(Hami, TWO_NODES)
    big = inst("4g.20gb", 0)
    s.cluster.apply(pod("seed", "4g.20gb"), Decision(((12, big),), {12: Layout.of([big])}))
    assert placed(s, pod("a", "2g.10gb")) == [(12, "2g.10gb@4")]


# --- nos ----------------------------------------------------------------------------------------
class ScriptedNos(Nos):
    """nos with its two random choices fixed, to make a plan fail the way it can on hardware."""

    geometry: dict[int, int] = {}
    order: Sequence[int] = ()

    def _pick(self, tied: list[int]) -> int:
        wanted = {A100.shapes[0].id: 0} | self.geometry
        for index in tied:
            if self.allowed[index] == self.geometry:
                return index
        raise AssertionError(f"{wanted} not among the tied geometries")

    def _creation_order(self, profile_ids: list[int]) -> list[int]:
        return sorted(profile_ids, key=lambda p: list(self.order).index(p))


def test_nos_starts_every_gpu_with_one_whole_gpu_device() -> None:
    s = start(Nos)
    assert all(str(s.cluster.layout(g)) == "7g.40gb@0" for g in range(8))
    assert placed(s, pod("a", "7g.40gb", 3)) == [(g, "7g.40gb@0") for g in range(3)]


def test_nos_plans_blind_and_counts_a_plan_the_driver_cannot_build() -> None:
    two_g, three_g = inst("2g.10gb", 0).profile_id, inst("3g.20gb", 0).profile_id
    ScriptedNos.geometry = {two_g: 2, three_g: 1}
    ScriptedNos.order = (two_g, three_g)
    s = start(ScriptedNos)
    assert not s.offer(pod("a", "3g.20gb"))
    # 2g went to 4 then 0 (the driver's preference), leaving no start for 3g (4 or 0)
    assert str(s.cluster.layout(0)) == "2g.10gb@0,2g.10gb@4"
    counters = s.policy.counters()
    assert counters["plans_unbuildable"] == 1 and counters["devices_not_created"] == 1
    assert counters["pods_refused_after_unbuildable_plan"] == 1
    assert all(str(s.cluster.layout(g)) == "7g.40gb@0" for g in range(1, 8))


def test_nos_builds_the_same_geometry_when_the_order_allows() -> None:
    two_g, three_g = inst("2g.10gb", 0).profile_id, inst("3g.20gb", 0).profile_id
    ScriptedNos.geometry = {two_g: 2, three_g: 1}
    ScriptedNos.order = (three_g, two_g)
    s = start(ScriptedNos)
    assert placed(s, pod("a", "3g.20gb")) == [(0, "3g.20gb@4")]
    assert str(s.cluster.layout(0)) == "2g.10gb@0,2g.10gb@2,3g.20gb@4"
    assert s.policy.counters()["plans_unbuildable"] == 0


def test_nos_never_plans_a_pod_asking_for_several_gpus() -> None:
    s = start(Nos)
    placed(s, pod("a", "1g.5gb"))  # GPU 0 repartitioned away from 7g
    assert not s.offer(pod("b", "7g.40gb", 8))
    assert s.policy.counters()["multi_gpu_pods_not_plannable"] == 1


def test_nos_keeps_free_devices_when_a_pod_ends() -> None:
    s = start(Nos)
    placed(s, pod("a", "7g.40gb"))
    s.end("a")
    assert str(s.cluster.layout(0)) == "7g.40gb@0" and s.cluster.busy(0) == {}


# --- fgd ----------------------------------------------------------------------------------------
def test_fgd_leaves_the_slots_the_workload_needs() -> None:
    four_g, three_g = inst("4g.20gb", 0).profile_id, inst("3g.20gb", 0).profile_id
    s = start(Fgd, mix={(four_g, 1): 0.5, (three_g, 1): 0.5})
    # 3g at 4 leaves 0-3 for a 4g or a 3g; at 0 it would leave room for a 3g only
    assert placed(s, pod("a", "3g.20gb")) == [(0, "3g.20gb@4")]
    assert placed(s, pod("b", "4g.20gb")) == [(0, "4g.20gb@0")]


def test_fgd_fills_a_hole_rather_than_open_a_new_gpu() -> None:
    s = start(Fgd, mix={(inst("1g.5gb", 0).profile_id, 1): 0.5, (inst("4g.20gb", 0).profile_id, 1): 0.5})
    placed(s, pod("a", "4g.20gb"))
    assert placed(s, pod("b", "1g.5gb"))[0][0] == 0


def test_fgd_keeps_whole_nodes_free_for_multi_gpu_pods() -> None:
    one_g = inst("1g.5gb", 0).profile_id
    seven_g = inst("7g.40gb", 0).profile_id
    s = start(Fgd, TWO_NODES, mix={(one_g, 1): 0.5, (seven_g, 8): 0.5})
    seed = inst("1g.5gb", 0)
    s.cluster.apply(pod("seed", "1g.5gb"), Decision(((9, seed),), {9: Layout.of([seed])}))
    # node 0 is whole: a 1g there would spoil it for an 8-GPU pod; node 1 already is
    assert placed(s, pod("a", "1g.5gb"))[0][0] in TWO_NODES.node_gpus(1)
    assert FirstFit.name and placed(start(FirstFit, TWO_NODES), pod("b", "1g.5gb"))[0][0] == 0


# --- static -------------------------------------------------------------------------------------
def test_static_balanced_is_mig_parted_all_balanced() -> None:
    s = start(StaticBalanced)
    assert all(str(s.cluster.layout(g)) == "2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4" for g in range(8))
    assert not s.offer(pod("big", "4g.20gb"))
    assert placed(s, pod("a", "1g.5gb")) == [(0, "1g.5gb@2")]
    assert placed(s, pod("b", "1g.5gb")) == [(0, "1g.5gb@3")]
    assert placed(s, pod("c", "1g.5gb")) == [(1, "1g.5gb@2")]
    assert s.cluster.reconfigurations == 0


def test_static_best_picks_the_layout_that_serves_the_run() -> None:
    stream = [pod(f"p{i}", "4g.20gb") for i in range(6)] + [pod(f"q{i}", "3g.20gb") for i in range(6)]
    s = start(StaticBest, stream=stream, score_static=static_fill_score(ONE_NODE, stream))
    assert all(str(s.cluster.layout(g)) == "4g.20gb@0,3g.20gb@4" for g in range(8))
    assert sum(s.offer(p) for p in stream) == 12


# --- every policy: valid decisions on random streams ----------------------------------------------
KINDS = [
    ("1g.5gb", 1),
    ("2g.10gb", 1),
    ("3g.20gb", 1),
    ("4g.20gb", 1),
    ("7g.40gb", 1),
    ("7g.40gb", 2),
    ("7g.40gb", 4),
]
OPS = st.lists(
    st.tuples(st.booleans(), st.integers(0, len(KINDS) - 1), st.integers(0, 50)), min_size=1, max_size=60
)
SMALL = ClusterSpec(A100, 8, gpus_per_node=4)
NAMES = policy_names(None)


def run_random(name: str, ops: list[tuple[bool, int, int]]) -> Session:
    arrivals = [pod(f"p{i}", *KINDS[k]) for i, (_, k, _) in enumerate(ops)]
    mix = {(a.profile_id, a.count): 1 / len(KINDS) for a in arrivals}
    context = PolicyContext(SMALL, mix, arrivals, 0, static_fill_score(SMALL, arrivals))
    session = Session.start(make_policy(name, context))
    for request, (leave, _, which) in zip(arrivals, ops, strict=True):
        running = sorted(r.name for r in session.cluster.running())
        if leave and running:
            session.end(running[which % len(running)])
        session.offer(request)  # the cluster raises on any invalid decision
        assert session.cluster.allocated_slices == sum(r.slices for r in session.cluster.running())
        assert session.cluster.allocated_slices <= SMALL.capacity_slices
    session.policy.audit(session.cluster)
    return session


@pytest.mark.parametrize("name", NAMES)
@given(ops=OPS)
def test_every_decision_is_valid_on_random_streams(name: str, ops: list[tuple[bool, int, int]]) -> None:
    session = run_random(name, ops)
    for gpu in range(SMALL.gpus):
        busy = set(session.cluster.busy(gpu))
        assert busy <= set(session.cluster.layout(gpu).instances)
