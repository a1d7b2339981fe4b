"""What every policy is: one small class behind the `Policy` interface, and helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from kubemig.bench.cluster import ClusterSpec, ClusterView, Decision
from kubemig.bench.trace import PodRequest
from kubemig.geometry import GpuGeometry, Instance, Layout, ProfileShape, can_add


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may know before the first pod.

    `mix`: share of pods per (profile ID, count) in the trace the pods come from (FGD's workload).
    `stream`: the pods of this run, in order; only static-best looks at it (hindsight).
    `score_static`: how a fixed layout on every GPU would do on this run (static-best's hindsight);
    the benchmark that runs the policy supplies it.
    `expected_load`: what the whole stream will ask, as a multiple of the cluster's compute slices,
    when the benchmark defines it (fill: 1.3); only kubemig's allocator uses it (admission).
    """

    spec: ClusterSpec
    mix: Mapping[tuple[int, int], float] = field(default_factory=dict)
    stream: Sequence[PodRequest] = ()
    seed: int = 0
    score_static: Callable[[Layout], float] | None = None
    expected_load: float | None = None


class Policy(ABC):
    """A scheduling policy: decides where each pod goes and how GPUs are partitioned.

    It reads the cluster and answers; `Cluster` checks the answer and carries it out.
    """

    name: ClassVar[str]
    rule: ClassVar[str]  # the rule it follows and where it comes from, one line
    by_default: ClassVar[bool] = True  # run when no policies are named

    def __init__(self, context: PolicyContext) -> None:
        self.context = context
        self.spec = context.spec
        self.geo = context.spec.geo

    def setup(self, cluster: ClusterView) -> dict[int, Layout]:
        """Layouts before the first pod (default: every GPU empty)."""
        return {}

    @abstractmethod
    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        """Where `pod` goes, or None when the policy cannot place it now."""

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        """New layouts once `pod` ends (its instances are still assigned while this runs)."""
        return {}

    def audit(self, cluster: ClusterView) -> None:
        """At the end of a run: raise InvalidDecisionError if the policy's own state and the cluster differ."""

    def counters(self) -> dict[str, object]:
        """Policy-specific figures worth reporting (e.g. nos plans that could not be built)."""
        return {}


def fits(geo: GpuGeometry, layout: Layout, shape: ProfileShape, start: int) -> bool:
    """One more `shape` at `start` beside every instance of `layout` (free or in use)."""
    mask = ((1 << shape.size) - 1) << start
    if layout.mask & mask:
        return False
    return can_add(geo, layout.instances, shape, start)


def first_start(geo: GpuGeometry, layout: Layout, shape: ProfileShape, starts: Iterable[int]) -> int | None:
    for start in starts:
        if fits(geo, layout, shape, start):
            return start
    return None


def with_instance(layout: Layout, instance: Instance) -> Layout:
    return Layout.of([*layout.instances, instance])


def create_decision(assignment: Sequence[tuple[int, Instance]], cluster: ClusterView) -> Decision:
    """The decision that creates each assigned instance on its GPU (dynamic policies)."""
    layouts: dict[int, Layout] = {}
    for gpu, instance in assignment:
        layouts[gpu] = with_instance(layouts.get(gpu, cluster.layout(gpu)), instance)
    return Decision(tuple(assignment), layouts)


def destroy_on_release(pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
    """The layouts without the pod's instances: dynamic policies destroy an instance when its pod ends."""
    layouts: dict[int, Layout] = {}
    for gpu, instance in cluster.assignment(pod.name):
        current = layouts.get(gpu, cluster.layout(gpu))
        layouts[gpu] = Layout(tuple(i for i in current.instances if i != instance))
    return layouts


def first_fit_in_order(
    policy: Policy,
    pod: PodRequest,
    cluster: ClusterView,
    nodes: Iterable[int],
    gpus_of: Callable[[int], Iterable[int]],
    starts: Sequence[int],
) -> Decision | None:
    """The first `pod.count` GPUs of one node, walking `nodes` and each node's `gpus_of` in order, that
    fit the pod's profile at the first of `starts` free; each instance created (dynamic policies)."""
    shape = policy.geo.shape(pod.profile_id)
    for node in nodes:
        chosen: list[tuple[int, Instance]] = []
        for gpu in gpus_of(node):
            if not room_for(policy.spec, cluster, gpu, shape):
                continue
            start = first_start(policy.geo, cluster.layout(gpu), shape, starts)
            if start is not None:
                chosen.append((gpu, shape.at(start)))
                if len(chosen) == pod.count:
                    return create_decision(chosen, cluster)
    return None


def room_for(spec: ClusterSpec, cluster: ClusterView, gpu: int, shape: ProfileShape) -> bool:
    """Cheap pre-check: enough unused compute slices left on `gpu` for one more `shape`."""
    return cluster.used_slices(gpu) + shape.compute_slices <= spec.geo.model.compute_slices
