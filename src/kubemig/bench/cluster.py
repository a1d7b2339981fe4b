"""The simulated cluster: nodes of GPUs, the MIG instances on each, which pod holds which, and the
check every policy decision goes through.

A policy never changes the cluster itself: it answers with a `Decision` (the pod's instances and the
new layout of every GPU it repartitions), and `Cluster.apply` checks it with the layout engine before
anything changes. A decision is refused with `InvalidDecisionError` when

- a GPU's new layout is not a valid layout of the model (`kubemig.geometry.validate`),
- an instance in use is missing from its GPU's new layout (moved, resized or destroyed),
- the pod does not get exactly `count` free instances of its profile, all on one node.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kubemig.bench.profiles import capacity_slices
from kubemig.bench.trace import PodRequest
from kubemig.errors import KubemigError, LayoutError
from kubemig.geometry import GpuGeometry, Instance, InstanceSpec, Layout, validate


class InvalidDecisionError(KubemigError):
    """A policy answered something the hardware or the rules of the game do not allow."""

    def __init__(self, policy: str, pod: str, problem: str) -> None:
        self.policy, self.pod, self.problem = policy, pod, problem
        super().__init__(f"policy {policy}: invalid decision for pod {pod}: {problem}")


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """`gpus` GPUs of one model on nodes of `gpus_per_node` (the last node may hold fewer);
    GPU i is on node i // gpus_per_node."""

    geo: GpuGeometry
    gpus: int
    gpus_per_node: int = 8

    def __post_init__(self) -> None:
        if self.gpus <= 0 or self.gpus_per_node <= 0:
            raise KubemigError(
                f"a cluster needs at least one GPU and one GPU per node, not {self.gpus} / {self.gpus_per_node}"
            )

    @property
    def nodes(self) -> int:
        return -(-self.gpus // self.gpus_per_node)

    @property
    def capacity_slices(self) -> int:
        return capacity_slices(self.geo, self.gpus)

    def node_of(self, gpu: int) -> int:
        return gpu // self.gpus_per_node

    def node_gpus(self, node: int) -> range:
        return range(node * self.gpus_per_node, min((node + 1) * self.gpus_per_node, self.gpus))

    def node_name(self, node: int) -> str:
        return f"node-{node:04d}"

    def gpu_name(self, gpu: int) -> str:
        """`node-0003/gpu-5`: name order is node order, then GPU order."""
        return f"{self.node_name(self.node_of(gpu))}/gpu-{gpu % self.gpus_per_node}"


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer for one pod.

    `assignment`: (GPU index, instance) for each of the pod's instances; empty when the pod is refused.
    `layouts`: the new layout of every GPU the policy repartitions (free instances created or destroyed);
    a refusal may still repartition (nos applies plans that end up not serving the pod).
    """

    assignment: tuple[tuple[int, Instance], ...] = ()
    layouts: Mapping[int, Layout] = field(default_factory=dict)

    @property
    def placed(self) -> bool:
        return bool(self.assignment)


class ClusterView(Protocol):
    """What a policy may read of the cluster."""

    @property
    def spec(self) -> ClusterSpec: ...

    def layout(self, gpu: int) -> Layout: ...

    def busy(self, gpu: int) -> Mapping[Instance, str]: ...

    def busy_mask(self, gpu: int) -> int: ...

    def used_slices(self, gpu: int) -> int: ...

    def assignment(self, pod: str) -> tuple[tuple[int, Instance], ...]: ...


class Cluster:
    """The state of every GPU; changed only through `setup`, `apply` and `release`, all checked."""

    def __init__(self, spec: ClusterSpec, policy: str = "?") -> None:
        self.spec = spec
        self.policy = policy
        n = spec.gpus
        self._layouts = [Layout()] * n
        self._busy: list[dict[Instance, str]] = [{} for _ in range(n)]
        self._busy_mask = [0] * n
        self._used = [0] * n
        self._pods: dict[str, tuple[PodRequest, tuple[tuple[int, Instance], ...]]] = {}
        self._valid: set[Layout] = {Layout()}
        self.allocated_slices = 0
        self.setup_operations = 0
        self.reconfigurations = 0  # GPU instances created or destroyed after setup

    # --- what policies read -------------------------------------------------------------------
    def layout(self, gpu: int) -> Layout:
        return self._layouts[gpu]

    def busy(self, gpu: int) -> Mapping[Instance, str]:
        return self._busy[gpu]

    def busy_mask(self, gpu: int) -> int:
        return self._busy_mask[gpu]

    def used_slices(self, gpu: int) -> int:
        return self._used[gpu]

    def assignment(self, pod: str) -> tuple[tuple[int, Instance], ...]:
        return self._pods[pod][1]

    def request(self, pod: str) -> PodRequest:
        return self._pods[pod][0]

    def running(self) -> Iterator[PodRequest]:
        return (request for request, _ in self._pods.values())

    # --- changes ------------------------------------------------------------------------------
    def setup(self, layouts: Mapping[int, Layout]) -> None:
        """Initial partitioning, before any pod; not counted as reconfiguration."""
        if self._pods:
            raise InvalidDecisionError(self.policy, "-", "initial layouts given after pods were placed")
        self._check_layouts("(setup)", layouts)
        self.setup_operations += self._repartition(layouts)

    def apply(self, pod: PodRequest, decision: Decision | None) -> bool:
        """Check `decision` for `pod` and carry it out; True when the pod got its instances."""
        if pod.name in self._pods:
            raise InvalidDecisionError(self.policy, pod.name, "the pod is already placed")
        if decision is None:
            return False
        self._check_layouts(pod.name, decision.layouts)
        if decision.assignment:
            self._check_assignment(pod, decision)
        self.reconfigurations += self._repartition(decision.layouts)
        if not decision.assignment:
            return False
        for gpu, instance in decision.assignment:
            self._busy[gpu][instance] = pod.name
            self._busy_mask[gpu] |= instance.mask
            self._used[gpu] += self.spec.geo.shape(instance.profile_id).compute_slices
        self._pods[pod.name] = (pod, decision.assignment)
        self.allocated_slices += pod.slices
        return True

    def release(self, pod: str, layouts: Mapping[int, Layout] | None = None) -> PodRequest:
        """The pod ends: its instances become free; `layouts` repartitions (checked) after that."""
        try:
            request, assignment = self._pods.pop(pod)
        except KeyError:
            raise InvalidDecisionError(self.policy, pod, "released but not placed") from None
        for gpu, instance in assignment:
            del self._busy[gpu][instance]
            self._busy_mask[gpu] &= ~instance.mask
            self._used[gpu] -= self.spec.geo.shape(instance.profile_id).compute_slices
        self.allocated_slices -= request.slices
        if layouts:
            self._check_layouts(pod, layouts)
            self.reconfigurations += self._repartition(layouts)
        return request

    # --- checks -------------------------------------------------------------------------------
    def _repartition(self, layouts: Mapping[int, Layout]) -> int:
        operations = 0
        for gpu, new in layouts.items():
            old = self._layouts[gpu]
            if new != old:
                before, after = set(old.instances), set(new.instances)
                operations += len(before - after) + len(after - before)
                self._layouts[gpu] = new
        return operations

    def _check_layouts(self, pod: str, layouts: Mapping[int, Layout]) -> None:
        for gpu, layout in layouts.items():
            if not isinstance(gpu, int) or not 0 <= gpu < self.spec.gpus:
                raise InvalidDecisionError(self.policy, pod, f"GPU index {gpu!r} does not exist")
            self._check_layout(pod, gpu, layout)
            kept = set(layout.instances)
            for instance, holder in self._busy[gpu].items():
                if instance not in kept:
                    raise InvalidDecisionError(
                        self.policy,
                        pod,
                        f"{self.spec.gpu_name(gpu)}: new layout {layout} drops {instance}, in use by pod {holder}",
                    )

    def _check_layout(self, pod: str, gpu: int, layout: Layout) -> None:
        geo = self.spec.geo
        for instance in layout.instances:
            shape = geo.by_id.get(instance.profile_id)
            if shape is None or instance.size != shape.size or instance.name != shape.name:
                raise InvalidDecisionError(
                    self.policy,
                    pod,
                    f"{self.spec.gpu_name(gpu)}: {instance} is not a GPU instance of {geo.model.key}",
                )
        if layout in self._valid:
            return
        if layout.instances != tuple(sorted(layout.instances)):
            raise InvalidDecisionError(
                self.policy, pod, f"{self.spec.gpu_name(gpu)}: layout not built with Layout.of"
            )
        try:
            checked = validate(geo, [InstanceSpec(str(i.profile_id), i.start) for i in layout.instances])
        except LayoutError as exc:
            raise InvalidDecisionError(self.policy, pod, f"{self.spec.gpu_name(gpu)}: {exc}") from None
        if checked != layout:
            raise InvalidDecisionError(
                self.policy, pod, f"{self.spec.gpu_name(gpu)}: {layout} is not what it claims"
            )
        self._valid.add(layout)

    def _check_assignment(self, pod: PodRequest, decision: Decision) -> None:
        assignment = decision.assignment
        where = self.spec.gpu_name
        if len(assignment) != pod.count:
            raise InvalidDecisionError(
                self.policy,
                pod.name,
                f"asks for {pod.count} x {pod.profile}, got {len(assignment)} instance(s)",
            )
        if len(set(assignment)) != len(assignment):
            raise InvalidDecisionError(self.policy, pod.name, "the same instance given twice")
        nodes = {self.spec.node_of(gpu) for gpu, _ in assignment}
        if len(nodes) != 1:
            names = ", ".join(self.spec.node_name(n) for n in sorted(nodes))
            raise InvalidDecisionError(
                self.policy, pod.name, f"instances spread over nodes {names}: a pod runs on one node"
            )
        for gpu, instance in assignment:
            if not 0 <= gpu < self.spec.gpus:
                raise InvalidDecisionError(self.policy, pod.name, f"GPU index {gpu} does not exist")
            if instance.profile_id != pod.profile_id:
                raise InvalidDecisionError(
                    self.policy, pod.name, f"asks for {pod.profile}, got {instance} on {where(gpu)}"
                )
            layout = decision.layouts.get(gpu, self._layouts[gpu])
            if instance not in layout.instances:
                raise InvalidDecisionError(
                    self.policy, pod.name, f"{instance} does not exist on {where(gpu)} ({layout})"
                )
            if instance in self._busy[gpu]:
                raise InvalidDecisionError(
                    self.policy,
                    pod.name,
                    f"{instance} on {where(gpu)} is in use by pod {self._busy[gpu][instance]}",
                )
