"""The online allocator against a model: random allocate/release sequences, with and without
admission; layouts always valid, nothing double-booked, busy instances never moved, all-or-nothing,
operations counted exactly, and (without admission) a pod refused only when it fits nowhere."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kubemig.errors import ProfileError
from kubemig.geometry import Instance, Layout, ProfileShape, can_add, geometry_for, resolve_profile
from kubemig.planner import OnlineAllocator, admission
from kubemig.planner.admission import PARTIAL_SD, WHOLE_SD, AdmissionPlan, Demand, _at_least, _planned
from kubemig.planner.cluster import GeometryKey, geometry_key
from kubemig.planner.patterns import PatternBook
from tests.geometry.oracle import is_valid
from tests.helpers import scaled_examples

MODELS = ("A100-SXM4-40GB", "H100-80GB-HBM3", "A30")


class AllocatorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.allocator: OnlineAllocator
        self.models: dict[str, str] = {}
        self.nodes: dict[str, str] | None = None
        self.held: dict[str, list[tuple[str, Instance]]] = {}  # the model: pod -> its instances
        self.admission = False
        self.count = 0

    @initialize(
        models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=4),
        by_node=st.booleans(),
        load=st.sampled_from([None, None, 1.3, 2.0]),
    )
    def setup(self, models: list[str], by_node: bool, load: float | None) -> None:
        self.models = {f"gpu-{n}": m for n, m in enumerate(models)}
        self.nodes = {g: f"node-{n % 2}" for n, g in enumerate(self.models)} if by_node else None
        self.admission = load is not None
        self.allocator = OnlineAllocator(list(self.models.items()), node_of=self.nodes, expected_load=load)

    def _room(self, gpu: str, profile: str) -> int:
        """How many more instances of `profile` fit beside the instances in use on `gpu` (one
        profile alone: taking the lowest free start each time is optimal)."""
        geo = geometry_for(self.models[gpu])
        try:
            shape = resolve_profile(geo, profile)
        except ProfileError:
            return 0
        present = list(self.allocator.busy(gpu))
        for start in shape.starts:
            if can_add(geo, present, shape, start):
                present.append(shape.at(start))
        return len(present) - len(self.allocator.busy(gpu))

    def _names(self) -> list[str]:
        return sorted({s.name for m in self.models.values() for s in geometry_for(m).shapes})

    @rule(data=st.data(), count=st.sampled_from([1, 1, 1, 2, 3]))
    def allocate(self, data: st.DataObject, count: int) -> None:
        profile = data.draw(st.sampled_from(self._names()))
        before = {g: self.allocator.layout(g) for g in self.models}
        operations = self.allocator.reconfigurations
        pod = f"pod-{self.count}"
        self.count += 1
        placed = self.allocator.allocate(pod, profile, count)
        after = {g: self.allocator.layout(g) for g in self.models}
        if placed is None:
            assert after == before and self.allocator.reconfigurations == operations
            if count > 1 and self.nodes is not None and not self.admission:
                # no node could have held them all: no pod waits while its room is free
                for node in set(self.nodes.values()):
                    room = sum(self._room(g, profile) for g, n in self.nodes.items() if n == node)
                    assert room < count, f"{count} x {profile} fit on {node}"
            if count == 1 and not self.admission:
                for g, model in self.models.items():
                    geo = geometry_for(model)
                    try:
                        shape = resolve_profile(geo, profile)
                    except ProfileError:
                        continue
                    busy = list(self.allocator.busy(g))
                    assert not any(can_add(geo, busy, shape, s) for s in shape.starts), (
                        f"{profile} fit on {g}"
                    )
            return
        assert len(placed) == count
        if self.nodes is not None:
            assert len({self.nodes[g] for g, _ in placed}) == 1
        for g, inst in placed:
            assert inst.profile_id == resolve_profile(geometry_for(self.models[g]), profile).id
            assert inst in after[g].instances
        self.held[pod] = placed
        changed = sum(len(set(before[g]) ^ set(after[g])) for g in self.models)
        assert self.allocator.reconfigurations - operations == changed

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        pod = data.draw(st.sampled_from(sorted(self.held)))
        before = {g: self.allocator.layout(g) for g in self.models}
        self.allocator.release(pod)
        del self.held[pod]
        assert {g: self.allocator.layout(g) for g in self.models} == before  # released instances stay, free

    @invariant()
    def layouts_valid_and_busy_instances_held(self) -> None:
        if not self.models:
            return
        owners: dict[tuple[str, Instance], str] = {}
        for pod, slots in self.held.items():
            for slot in slots:
                assert slot not in owners, f"{slot} given to {owners[slot]} and {pod}"
                owners[slot] = pod
        for g, model in self.models.items():
            layout = self.allocator.layout(g)
            assert is_valid(geometry_for(model), layout.instances)
            busy = self.allocator.busy(g)
            assert {(g, i): p for i, p in busy.items()} == {k: v for k, v in owners.items() if k[0] == g}
            assert set(busy) <= set(layout.instances)
        assert self.allocator.assignments() == self.held


AllocatorMachine.TestCase.settings = settings(
    max_examples=scaled_examples(100), stateful_step_count=30, deadline=None
)
TestAllocator = AllocatorMachine.TestCase


def test_allocator_rejects_misuse() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB")])
    assert allocator.allocate("a", "3g.20gb") == [("g0", Instance(4, 4, 9, "3g.20gb"))]
    with pytest.raises(ValueError, match="already holds"):
        allocator.allocate("a", "1g.5gb")
    with pytest.raises(ProfileError):
        allocator.allocate("b", "3g.40gb")
    with pytest.raises(ValueError, match="given twice"):
        OnlineAllocator([("g0", "A30"), ("g0", "A30")])
    allocator.release("never-placed")  # unknown pods are ignored
    assert allocator.layout("g0") == Layout.of([Instance(4, 4, 9, "3g.20gb")])


def test_allocator_packs_partly_used_gpus_first_and_keeps_halves_whole() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB"), ("g1", "A100-SXM4-40GB")])
    assert allocator.allocate("a", "3g.20gb") == [("g0", Instance(4, 4, 9, "3g.20gb"))]
    # the 4g.20gb completes g0 rather than opening g1, which stays whole for a 7g.40gb
    assert allocator.allocate("b", "4g.20gb") == [("g0", Instance(0, 4, 5, "4g.20gb"))]
    assert allocator.allocate("c", "7g.40gb") == [("g1", Instance(0, 8, 0, "7g.40gb"))]
    assert allocator.allocate("d", "1g.5gb") is None


def _two_3g_after(whole: int, partners_asked: int) -> list[str]:
    """GPUs of two 3g.20gb pods on 16 A100s, after `whole` 7g.40gb pods and `partners_asked`
    4g.20gb pods that have ended (their demand is counted, their GPUs have nothing in use again)."""
    allocator = OnlineAllocator([(f"g{n:02}", "A100-SXM4-40GB") for n in range(16)])
    for n in range(whole):
        assert allocator.allocate(f"whole-{n}", "7g.40gb") is not None
    for n in range(partners_asked):
        assert allocator.allocate(f"partner-{n}", "4g.20gb") is not None
    for n in range(partners_asked):
        allocator.release(f"partner-{n}")
    placed = [allocator.allocate(f"three-{n}", "3g.20gb") for n in range(2)]
    return [answer[0][0] for answer in placed if answer]


def test_a_3g_pairs_with_a_lone_3g_only_when_its_partner_is_scarce_and_so_are_empty_gpus() -> None:
    # 3 of 16 GPUs empty once the first 3g.20gb is placed, no 4g.20gb ever asked for: the second
    # wastes a slice beside the first rather than take one of the last empty GPUs to wait
    paired = _two_3g_after(whole=12, partners_asked=0)
    assert len(paired) == 2 and paired[0] == paired[1]
    # as many 4g.20gb asked for as 3g.20gb: it opens a GPU and waits for one
    waiting = _two_3g_after(whole=12, partners_asked=2)
    assert len(waiting) == 2 and waiting[0] != waiting[1]
    # empty GPUs still plentiful: waiting costs no whole-GPU pod a GPU yet
    early = _two_3g_after(whole=4, partners_asked=0)
    assert len(early) == 2 and early[0] != early[1]


def test_released_instances_are_reused_without_reconfiguration() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB")])
    allocator.allocate("a", "2g.10gb")
    operations = allocator.reconfigurations
    allocator.release("a")
    placed = allocator.allocate("b", "2g.10gb")
    assert placed is not None and allocator.reconfigurations == operations
    allocator.release("b")
    allocator.allocate("c", "7g.40gb")  # the free 2g.10gb is in the way: destroyed, then 7g created
    assert allocator.reconfigurations == operations + 2


def test_admission_declines_a_pod_that_would_strand_room_in_an_overloaded_stream() -> None:
    gpus = [(f"g{n}", "A100-SXM4-40GB") for n in range(4)]
    allocator = OnlineAllocator(gpus, expected_load=2.0)
    for n in range(3):
        assert allocator.allocate(f"w{n}", "7g.40gb") is not None
    # whole-GPU pods are the whole demand so far: a 4g.20gb would leave 3 slices nobody asks for
    assert allocator.allocate("small", "4g.20gb") is None
    assert allocator.allocate("w3", "7g.40gb") is not None
    greedy = OnlineAllocator(gpus)
    for n in range(3):
        greedy.allocate(f"w{n}", "7g.40gb")
    assert greedy.allocate("small", "4g.20gb") is not None


def test_free_instances_in_the_way_are_destroyed() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB")])
    for n in range(7):
        assert allocator.allocate(f"one-{n}", "1g.5gb") is not None
    assert allocator.allocate("late", "1g.5gb") is None
    for n in range(7):
        allocator.release(f"one-{n}")
    operations = allocator.reconfigurations
    assert allocator.allocate("whole", "7g.40gb") == [("g0", Instance(0, 8, 0, "7g.40gb"))]
    assert allocator.layout("g0") == Layout.of([Instance(0, 8, 0, "7g.40gb")])
    assert allocator.reconfigurations == operations + 8


def test_a_refused_whole_gpu_pod_is_placed_when_it_asks_again_once_a_gpu_is_all_free() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB")], node_of={"g0": "n0"})
    for n in range(3):
        assert allocator.allocate(f"small-{n}", "2g.10gb") is not None
    assert allocator.allocate("whole", "7g.40gb") is None  # waits
    for n in range(3):
        allocator.release(f"small-{n}")
        if n < 2:
            assert allocator.allocate("whole", "7g.40gb") is None  # still something in use
    # the three 2g.10gb stay created but are free: they are destroyed for the waiting pod
    assert allocator.allocate("whole", "7g.40gb") == [("g0", Instance(0, 8, 0, "7g.40gb"))]


def test_after_churn_one_instance_pods_go_to_the_busiest_node_and_whole_nodes_stay_free() -> None:
    gpus = [(f"n{n}/g{g}", "A100-SXM4-40GB") for n in range(2) for g in range(2)]
    allocator = OnlineAllocator(gpus, node_of={gpu: gpu.split("/")[0] for gpu, _ in gpus})
    for n in range(4):
        assert allocator.allocate(f"w{n}", "7g.40gb") == [(gpus[n][0], Instance(0, 8, 0, "7g.40gb"))]
    # pods end so that n1's GPUs were freed first (the order GPUs were last touched favours n1)
    for pod in ("w2", "w3", "w1"):
        allocator.release(pod)
    placed = allocator.allocate("small", "1g.5gb")
    assert placed is not None and placed[0][0] == "n0/g1"  # beside w0, not on the free node n1
    assert allocator.allocate("pair", "7g.40gb", count=2) == [
        ("n1/g0", Instance(0, 8, 0, "7g.40gb")),
        ("n1/g1", Instance(0, 8, 0, "7g.40gb")),
    ]


def test_the_workloads_past_mix_informs_the_first_decisions_of_a_stream() -> None:
    gpus = [(f"g{n}", "A100-SXM4-40GB") for n in range(8)]
    past = {
        ("7g.40gb", 1): 0.75,
        ("4g.20gb", 1): 0.14,
        ("3g.20gb", 1): 0.06,
        ("2g.10gb", 1): 0.04,
        ("1g.5gb", 1): 0.01,
    }
    # the stream opens with two 3g.20gb: seen alone, they look like the whole mix, and the second
    # goes beside the first (two 3g.20gb leave a slice no profile can use)
    blind = OnlineAllocator(gpus, expected_load=1.3)
    first, second = blind.allocate("a", "3g.20gb"), blind.allocate("b", "3g.20gb")
    assert first is not None and second is not None and first[0][0] == second[0][0] == "g0"
    # told that whole-GPU pods are three in four and 130 % is asked, it keeps the GPUs for them
    told = OnlineAllocator(gpus, expected_load=1.3, prior_mix=past)
    assert told.allocate("a", "3g.20gb") is None and told.allocate("b", "3g.20gb") is None
    assert told.allocate("w", "7g.40gb") is not None
    # a kind no GPU here can hold is left out of the past mix, not an error
    assert OnlineAllocator(gpus, expected_load=1.3, prior_mix={("9g.99gb", 1): 1.0}).allocate("c", "7g.40gb")


def test_asking_again_for_a_refused_pod_is_not_more_demand() -> None:
    allocator = OnlineAllocator([("g0", "A100-SXM4-40GB")], expected_load=1.3)
    assert allocator.allocate("a", "7g.40gb") is not None
    assert allocator._admission is not None
    seen = allocator._admission.requested_slices
    assert allocator.allocate("b", "7g.40gb") is None
    for _ in range(5):  # a pending pod is offered again whenever something changes
        assert allocator.allocate("b", "7g.40gb") is None
    assert allocator._admission.requested_slices == seen + 7
    allocator.release("b")  # withdrawn: asking for it later is a new pod
    assert allocator.allocate("b", "7g.40gb") is None
    assert allocator._admission.requested_slices == seen + 14


def test_admission_plans_partial_kinds_below_and_whole_gpu_kinds_above_their_mean() -> None:
    # a kind with a share of 1/4 among 10,000 pods seen, 64 more to come: n = 16 +- 4, about Poisson
    assert _planned(0.25, 10_000, 64.0, whole=False) == pytest.approx(16.0 - PARTIAL_SD * 4.0, abs=0.05)
    assert _planned(0.25, 10_000, 64.0, whole=True) == pytest.approx(16.0 - WHOLE_SD * 4.0, abs=0.05)
    assert PARTIAL_SD > 0 > WHOLE_SD
    assert _planned(0.0, 100, 64.0, whole=False) == 0.0 and _planned(0.25, 100, 0.0, whole=True) == 0.0
    # the same share seen in only 4 pods is a guess: nothing is planned for the partial kind
    assert _planned(0.25, 4, 64.0, whole=False) == 0.0 and _planned(0.25, 4, 64.0, whole=True) > 30.0
    for whole in (False, True):
        for seen in (4, 100, 10_000):
            counts = [_planned(0.25, seen, n / 4, whole) for n in range(400)]
            assert counts == sorted(counts)
            shares = [_planned(n / 100, seen, 64.0, whole) for n in range(101)]
            assert shares == sorted(shares)


def test_a_gpu_partly_in_use_waits_for_the_kind_that_completes_it_when_one_is_likely_to_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    past = {("7g.40gb", 1): 0.6, ("4g.20gb", 1): 0.2, ("3g.20gb", 1): 0.2}

    def offer(load: float) -> tuple[bool, bool]:
        """(3g.20gb placed beside the 3g.20gb in use, 4g.20gb placed after it)."""
        allocator = OnlineAllocator(
            [("g0", "A100-SXM4-40GB"), ("g1", "A100-SXM4-40GB")], expected_load=load, prior_mix=past
        )
        allocator.set_state("g0", {Instance(0, 8, 0, "7g.40gb"): None})
        allocator.set_state("g1", {Instance(4, 4, 9, "3g.20gb"): None})
        return allocator.allocate("b", "3g.20gb") is not None, allocator.allocate("c", "4g.20gb") is not None

    # 8 pods still to come, a 4g.20gb among them with 79 % chance: worth 3.2 slices against the
    # 3 the 3g.20gb would take for good (it leaves a slice no profile can use)
    assert offer(2.0) == (False, True)
    # 4 pods to come, a 4g.20gb only even odds: the 3g.20gb is taken
    assert offer(1.0) == (True, False)
    # two GPUs wait for a 4g.20gb (13 pods to come): both get one with only 69 % chance
    allocator = OnlineAllocator(
        [(f"g{n}", "A100-SXM4-40GB") for n in range(3)], expected_load=2.0, prior_mix=past
    )
    allocator.set_state("g0", {Instance(0, 8, 0, "7g.40gb"): None})
    for gpu in ("g1", "g2"):
        allocator.set_state(gpu, {Instance(4, 4, 9, "3g.20gb"): None})
    assert allocator.allocate("b", "3g.20gb") is not None
    # the cautious count alone plans no 4g.20gb there at all
    monkeypatch.setattr(admission, "_awaits_larger", lambda *args: False)
    assert offer(2.0) == (True, False)


@given(st.integers(0, 40), st.floats(0.0, 60.0))
def test_the_chance_that_n_pods_come_is_the_poisson_tail(n: int, mean: float) -> None:
    tail = 1.0 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(n))
    assert _at_least(n, mean) == pytest.approx(max(tail, 0.0), abs=1e-9)
    assert _at_least(n + 1, mean) <= _at_least(n, mean) and _at_least(0, mean) == 1.0


def test_admission_keeps_no_room_for_multi_gpu_pods_that_no_node_can_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gpus = [(f"n{n}/g{g}", "A100-SXM4-40GB") for n in range(2) for g in range(2)]
    whole = Instance(0, 8, 0, "7g.40gb")

    def offer_small(count_room: bool) -> list[tuple[str, Instance]] | None:
        allocator = OnlineAllocator(
            gpus, node_of={gpu: gpu.split("/")[0] for gpu, _ in gpus}, expected_load=3.0
        )
        if not count_room:
            monkeypatch.setattr(allocator, "_multi_instance_room", lambda resolved: None)
        allocator.set_state("n1/g0", {whole: None})  # in use outside the planner
        # pairs of whole GPUs are the demand seen; only the first finds a node
        assert [allocator.allocate(f"pair-{n}", "7g.40gb", count=2) is not None for n in range(3)] == [
            True,
            False,
            False,
        ]
        return allocator.allocate("small", "4g.20gb")

    # one free GPU is left, and no node has two: room kept for a pair there is never used
    assert offer_small(count_room=True) is not None
    assert offer_small(count_room=False) is None


def _plan_after(
    seen: dict[str, int],
) -> tuple[
    AdmissionPlan, GeometryKey, dict[Demand, dict[GeometryKey, ProfileShape]], dict[GeometryKey, PatternBook]
]:
    """An admission plan for 8 A100s that has seen these one-instance pods, with a long stream ahead."""
    geo = geometry_for("A100-SXM4-40GB")
    key = geometry_key(geo)
    kinds = {(name, 1): {key: resolve_profile(geo, name)} for name in seen}
    plan = AdmissionPlan(capacity_slices=8 * 7, expected_load=20.0)
    for name, count in seen.items():
        for _ in range(count):
            plan.observe((name, 1), kinds[(name, 1)][key].compute_slices)
    return plan, key, kinds, {key: PatternBook(geo)}


def test_a_plentiful_partial_kind_waits_for_its_scarcer_partner_to_open_a_gpu() -> None:
    # 4g.20gb pods come three times as often as the 3g.20gb pods that complete their GPUs: a 4g that
    # opens an empty GPU waits for a 3g that may never come, while a 3g opening one is soon joined by
    # one of the many 4g. So the plan declines the 4g there and takes the 3g.
    plan, key, kinds, books = _plan_after({"4g.20gb": 60, "3g.20gb": 20})
    empty = {key: {Layout(): 8}}
    assert plan.decide(("4g.20gb", 1), kinds, books, empty) is None
    taken = plan.decide(("3g.20gb", 1), kinds, books, empty)
    assert taken is not None and {inst.name for _, inst in taken[key]} == {"3g.20gb"}
    # beside a 3g already waiting, the 4g completes the GPU and is taken
    three = Layout.of([Instance(4, 4, 9, "3g.20gb")])
    completes = plan.decide(("4g.20gb", 1), kinds, books, {key: {Layout(): 7, three: 1}})
    assert completes is not None and (three, Instance(0, 4, 5, "4g.20gb")) in completes[key]


def test_a_small_pod_on_an_empty_gpu_is_charged_the_whole_gpu() -> None:
    # whole-GPU pods fill every empty GPU; a 1g.5gb there would leave six slices only other 1g pods
    # (rare) could use, though a fraction of a GPU in the plan's program would look like one slice
    plan, key, kinds, books = _plan_after({"7g.40gb": 50, "1g.5gb": 1})
    assert plan.decide(("1g.5gb", 1), kinds, books, {key: {Layout(): 8}}) is None


def test_a_small_pod_beside_instances_in_use_is_charged_the_rest_of_its_completion() -> None:
    # a 3g.20gb waits for one of the plentiful 4g.20gb; a 1g.5gb beside it would need a 2g.10gb and
    # another 1g.5gb (both rare) to complete that GPU, though half of a GPU completed with two 1g in
    # the plan's program would look as if one 1g filled both
    plan, key, kinds, books = _plan_after(
        {"7g.40gb": 190, "4g.20gb": 50, "2g.10gb": 4, "3g.20gb": 4, "1g.5gb": 1}
    )
    whole = Layout.of([Instance(0, 8, 0, "7g.40gb")])
    three = Layout.of([Instance(4, 4, 9, "3g.20gb")])
    moves = plan.decide(("1g.5gb", 1), kinds, books, {key: {Layout(): 3, whole: 4, three: 1}})
    assert moves is None or all(pattern != three for pattern, _ in moves[key])
    four = plan.decide(("4g.20gb", 1), kinds, books, {key: {Layout(): 3, whole: 4, three: 1}})
    assert four is not None and (three, Instance(0, 4, 5, "4g.20gb")) in four[key]


def test_a_pod_the_plan_would_take_only_in_part_is_taken_only_when_taking_it_whole_pays() -> None:
    # Past a third of a 1,792-slice stream (seed 7 of `bench fill`, default trace, 256 GPUs): whole-GPU
    # pods will fill every empty GPU, and 1g.5gb pods are rare. A 2g.10gb on an empty GPU completed by
    # a 4g.20gb and a 1g.5gb beats a whole-GPU pod there by its certainty bonus, but only for the
    # half of a 1g.5gb planned to come: the program takes about half of the pod, which rounding would
    # accept. Taken whole, its GPU is worth less than the whole-GPU pod it displaces.
    geo = geometry_for("A100-SXM4-40GB")
    key = geometry_key(geo)
    seen = {"7g.40gb": 88, "4g.20gb": 22, "1g.5gb": 5, "3g.20gb": 10, "2g.10gb": 3}
    kinds = {(name, 1): {key: resolve_profile(geo, name)} for name in seen}

    def offer(load: float) -> object:
        plan = AdmissionPlan(capacity_slices=256 * 7, expected_load=load)
        for name, count in seen.items():
            for _ in range(count):
                plan.observe((name, 1), kinds[(name, 1)][key].compute_slices)
        patterns = {
            Layout(): 158,
            Layout.of([Instance(0, 8, 0, "7g.40gb")]): 88,
            Layout.of([Instance(0, 4, 5, "4g.20gb"), Instance(4, 4, 9, "3g.20gb")]): 10,
        }
        return plan.decide(("2g.10gb", 1), kinds, {key: PatternBook(geo)}, {key: patterns})

    assert offer(1.3) is None
    # with a much longer stream ahead, 1g.5gb pods to complete the GPU are sure to come: taken whole
    assert offer(3.0) is not None
