"""`kubemig`: kubemig's own online allocator (`kubemig.planner.OnlineAllocator`).

The allocator owns its view of the GPUs (model per GPU, layouts with exact placements, which instance
serves which pod) and decides per arrival: `allocate(pod, profile, count)` answers exact placements,
all or nothing, never touching an instance in use; `release(pod)` frees them. This policy only
translates: GPU indices to GPU ids (`node-0003/gpu-5`), and the allocator's layouts of the GPUs it
answered with into the decision the cluster checks. At the end of a run `audit` compares every GPU's
layout in the allocator with the cluster's, so a change the allocator made without saying so is
caught too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

from kubemig.bench.cluster import ClusterView, Decision, InvalidDecisionError
from kubemig.bench.policies.base import Policy, PolicyContext
from kubemig.bench.trace import PodRequest, kind_label
from kubemig.geometry import Instance, Layout
from kubemig.planner import OnlineAllocator


class OnlineAllocatorLike(Protocol):
    """The planner's contract (issue 6); tests hand the policy stand-ins that keep it."""

    def allocate(self, pod: str, profile: str, count: int = 1) -> list[tuple[str, Instance]] | None: ...

    def release(self, pod: str) -> None: ...

    def layout(self, gpu_id: str) -> Layout: ...

    @property
    def reconfigurations(self) -> int: ...


# called as factory(gpus, node_of=..., **options) with only the options its signature names (`accepts`),
# so no one static signature fits every allocator
AllocatorFactory = Callable[..., OnlineAllocatorLike]


def accepts(factory: AllocatorFactory, option: str) -> bool:
    """Whether the allocator takes `option` (stand-ins in tests may not)."""
    try:
        return option in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


class Kubemig(Policy):
    name = "kubemig"
    rule = (
        "kubemig.planner.OnlineAllocator: exact placements per arrival, in-use instances never moved; "
        "told the expected load where the benchmark defines one (fill: 1.3), it may decline a pod that fits"
    )
    uses_expected_load = True

    def __init__(self, context: PolicyContext, factory: AllocatorFactory | None = None) -> None:
        super().__init__(context)
        factory = factory or OnlineAllocator
        options: dict[str, Any] = {}
        if (
            self.uses_expected_load
            and context.expected_load is not None
            and accepts(factory, "expected_load")
        ):
            options["expected_load"] = context.expected_load
            if context.mix and accepts(factory, "prior_mix"):
                # the trace's mix is the workload's past, as FGD takes it
                options["prior_mix"] = {
                    (self.geo.shape(pid).name, count): share for (pid, count), share in context.mix.items()
                }
        self.options = options
        self.gpu_ids = [self.spec.gpu_name(gpu) for gpu in range(self.spec.gpus)]
        self.index = {gpu_id: gpu for gpu, gpu_id in enumerate(self.gpu_ids)}
        # node_of keeps a multi-GPU pod on one node, as Kubernetes must
        node_of = {
            gpu_id: self.spec.node_name(self.spec.node_of(gpu)) for gpu, gpu_id in enumerate(self.gpu_ids)
        }
        self.allocator = factory(
            [(gpu_id, self.geo.model.key) for gpu_id in self.gpu_ids], node_of=node_of, **options
        )

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        answer = self.allocator.allocate(pod.name, pod.profile, pod.count)
        if not answer:
            return None
        assignment = []
        for gpu_id, instance in answer:
            if gpu_id not in self.index:
                raise InvalidDecisionError(
                    self.name, pod.name, f"the allocator answered an unknown GPU {gpu_id!r}"
                )
            assignment.append((self.index[gpu_id], instance))
        layouts = {gpu: self.allocator.layout(self.gpu_ids[gpu]) for gpu, _ in assignment}
        return Decision(tuple(assignment), layouts)

    def release(self, pod: PodRequest, cluster: ClusterView) -> dict[int, Layout]:
        gpus = {gpu for gpu, _ in cluster.assignment(pod.name)}
        self.allocator.release(pod.name)
        return {gpu: self.allocator.layout(self.gpu_ids[gpu]) for gpu in sorted(gpus)}

    def audit(self, cluster: ClusterView) -> None:
        for gpu, gpu_id in enumerate(self.gpu_ids):
            mine, theirs = self.allocator.layout(gpu_id), cluster.layout(gpu)
            if mine != theirs:
                raise InvalidDecisionError(
                    self.name, "-", f"{gpu_id}: the allocator holds {mine} but told the cluster {theirs}"
                )

    def counters(self) -> dict[str, object]:
        options = dict(self.options)
        if "prior_mix" in options:  # JSON keys are text
            options["prior_mix"] = {kind_label(*kind): share for kind, share in options["prior_mix"].items()}
        return {"allocator_reconfigurations": self.allocator.reconfigurations, "allocator_options": options}


class KubemigFit(Kubemig):
    """kubemig's allocator without admission: every pod that fits is placed, like the other policies."""

    name = "kubemig-fit"
    rule = "kubemig.planner.OnlineAllocator without the expected load: places every pod that fits"
    uses_expected_load = False
