"""The kubemig policy's translation of the planner's OnlineAllocator contract, with stand-ins for the
allocator (the real one runs in the random-stream tests of test_policies.py and test_bound.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from kubemig.bench.cluster import ClusterSpec, InvalidDecisionError
from kubemig.bench.policies import PolicyContext
from kubemig.bench.policies.base import fits
from kubemig.bench.policies.kubemig import Kubemig, KubemigFit
from kubemig.bench.run import Session
from kubemig.geometry import Instance, Layout, geometry_for, resolve_profile
from tests.bench.helpers import A100, pod

SPEC = ClusterSpec(A100, 16)


class FakeAllocator:
    """The contract, by first fit; free instances stay after release."""

    def __init__(self, gpus: Sequence[tuple[str, str]], *, node_of: Mapping[str, str] | None = None) -> None:
        self.models = dict(gpus)
        self.node_of = dict(node_of or {})
        self.layouts = {gpu_id: Layout() for gpu_id, _ in gpus}
        self.pods: dict[str, list[tuple[str, Instance]]] = {}
        self.busy: set[tuple[str, Instance]] = set()
        self.reconfigurations = 0

    def allocate(self, pod: str, profile: str, count: int = 1) -> list[tuple[str, Instance]] | None:
        for node in sorted(set(self.node_of.values())):
            chosen = []
            for gpu_id in [g for g in self.layouts if self.node_of[g] == node]:
                geo = geometry_for(self.models[gpu_id])
                shape = resolve_profile(geo, profile)
                free = [
                    i
                    for i in self.layouts[gpu_id].instances
                    if i.profile_id == shape.id and (gpu_id, i) not in self.busy
                ]
                if free:
                    chosen.append((gpu_id, free[0]))
                else:
                    start = next((s for s in shape.starts if fits(geo, self.layouts[gpu_id], shape, s)), None)
                    if start is not None:
                        chosen.append((gpu_id, shape.at(start)))
                if len(chosen) == count:
                    for gpu_id, instance in chosen:
                        if instance not in self.layouts[gpu_id].instances:
                            self.layouts[gpu_id] = Layout.of([*self.layouts[gpu_id].instances, instance])
                            self.reconfigurations += 1
                        self.busy.add((gpu_id, instance))
                    self.pods[pod] = chosen
                    return chosen
        return None

    def release(self, pod: str) -> None:
        for slot in self.pods.pop(pod, []):
            self.busy.discard(slot)

    def layout(self, gpu_id: str) -> Layout:
        return self.layouts[gpu_id]


class LoadAwareFake(FakeAllocator):
    def __init__(
        self,
        gpus: Sequence[tuple[str, str]],
        *,
        node_of: Mapping[str, str] | None = None,
        expected_load: float | None = None,
    ) -> None:
        super().__init__(gpus, node_of=node_of)
        self.expected_load = expected_load


class MixAwareFake(LoadAwareFake):
    def __init__(
        self,
        gpus: Sequence[tuple[str, str]],
        *,
        node_of: Mapping[str, str] | None = None,
        expected_load: float | None = None,
        prior_mix: Mapping[tuple[str, int], float] | None = None,
    ) -> None:
        super().__init__(gpus, node_of=node_of, expected_load=expected_load)
        self.prior_mix = prior_mix


def test_the_policy_translates_the_contract() -> None:
    session = Session.start(Kubemig(PolicyContext(SPEC), factory=FakeAllocator))
    allocator = session.policy.allocator  # type: ignore[attr-defined]
    assert allocator.node_of["node-0001/gpu-3"] == "node-0001"
    assert session.offer(pod("a", "3g.20gb"))
    assert session.cluster.assignment("a") == ((0, A100.instance(9, 0)),)
    assert session.offer(pod("b", "7g.40gb", 8))
    assert {gpu for gpu, _ in session.cluster.assignment("b")} == set(range(8, 16))
    session.end("a")
    assert session.cluster.layout(0) == Layout.of([A100.instance(9, 0)])  # kept free, as the allocator says
    assert session.offer(pod("c", "3g.20gb")) and session.cluster.assignment("c") == (
        (0, A100.instance(9, 0)),
    )
    session.policy.audit(session.cluster)
    assert session.policy.counters()["allocator_reconfigurations"] == 9


def test_expected_load_reaches_only_an_allocator_that_takes_it() -> None:
    context = PolicyContext(SPEC, expected_load=1.3)
    assert Kubemig(context, factory=LoadAwareFake).allocator.expected_load == 1.3  # type: ignore[attr-defined]
    assert KubemigFit(context, factory=LoadAwareFake).allocator.expected_load is None  # type: ignore[attr-defined]
    assert Kubemig(context, factory=FakeAllocator).options == {}
    # the trace's mix reaches an allocator that takes it, by profile name, with the expected load only
    mixed = PolicyContext(SPEC, {(9, 1): 0.25, (0, 8): 0.75}, expected_load=1.3)
    assert Kubemig(mixed, factory=MixAwareFake).allocator.prior_mix == {  # type: ignore[attr-defined]
        ("3g.20gb", 1): 0.25,
        ("7g.40gb", 8): 0.75,
    }
    assert KubemigFit(mixed, factory=MixAwareFake).allocator.prior_mix is None  # type: ignore[attr-defined]
    assert Kubemig(mixed, factory=LoadAwareFake).options == {"expected_load": 1.3}
    # the real allocator takes both, and the result files hold them as text
    options = Kubemig(mixed).counters()["allocator_options"]
    assert json.loads(json.dumps(options)) == {
        "expected_load": 1.3,
        "prior_mix": {"3g.20gb": 0.25, "8x7g.40gb": 0.75},
    }


class SilentFake(FakeAllocator):
    def allocate(self, pod: str, profile: str, count: int = 1) -> list[tuple[str, Instance]] | None:
        self.layouts["node-0001/gpu-7"] = Layout.of([A100.instance(0, 0)])  # not reported
        return super().allocate(pod, profile, count)


class StrangerFake(FakeAllocator):
    def allocate(self, pod: str, profile: str, count: int = 1) -> list[tuple[str, Instance]] | None:
        return [("gpu-x", A100.instance(19, 0))]


def test_audit_catches_a_change_the_allocator_did_not_report() -> None:
    session = Session.start(Kubemig(PolicyContext(SPEC), factory=SilentFake))
    session.offer(pod("a", "1g.5gb"))
    with pytest.raises(InvalidDecisionError, match="node-0001/gpu-7"):
        session.policy.audit(session.cluster)


def test_an_unknown_gpu_is_an_invalid_decision() -> None:
    session = Session.start(Kubemig(PolicyContext(SPEC), factory=StrangerFake))
    with pytest.raises(InvalidDecisionError, match="unknown GPU 'gpu-x'"):
        session.offer(pod("a", "1g.5gb"))
