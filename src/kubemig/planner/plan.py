"""What a planner returns: per GPU the target layout and the transition to it, which pod gets which
instance, what stays unscheduled, the objective's parts and how sure the solver is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol

from kubemig.geometry import Instance, Layout, TransitionPlan, can_add, gi_id, plan_transition
from kubemig.planner.cluster import Cluster, ClusterGpu
from kubemig.planner.snapshot import Snapshot


class Slot(NamedTuple):
    """One MIG device handed to a pod: the GPU instance `instance` of GPU `gpu` on `node`."""

    node: str
    gpu: int
    instance: Instance


@dataclass(frozen=True, slots=True)
class Objective:
    """The planner's goals, most important first: compute slices of the scheduled pods, then their
    priorities; then fewest free instances destroyed, then fewest GPUs whose layout changes."""

    scheduled_slices: int
    priority: int
    free_destroyed: int
    gpus_touched: int

    def key(self) -> tuple[int, int, int, int]:
        """Larger is better, compared lexicographically."""
        return (self.scheduled_slices, self.priority, -self.free_destroyed, -self.gpus_touched)

    def to_json(self) -> dict[str, int]:
        return {
            "scheduled_slices": self.scheduled_slices,
            "priority": self.priority,
            "free_destroyed": self.free_destroyed,
            "gpus_touched": self.gpus_touched,
        }


class SolverState(str, Enum):
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    HEURISTIC = "heuristic"


@dataclass(frozen=True, slots=True)
class SolverStatus:
    state: SolverState
    solver: str
    time_s: float
    gap: float | None = None
    """Relative gap of the stage the time limit cut short (None: optimal, heuristic or unknown)."""
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.state.value} ({self.solver}, {self.time_s:.3f} s"
        if self.gap is not None:
            text += f", gap {self.gap:.2%}"
        return text + (f"; {self.detail})" if self.detail else ")")

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "solver": self.solver,
            "time_s": round(self.time_s, 6),
            "gap": self.gap,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class GpuPlan:
    gpu: ClusterGpu
    target: Layout
    transition: TransitionPlan
    pods: Mapping[Instance, str]
    """Target instance -> its pod, running ones and newly assigned ones."""

    @property
    def changes(self) -> bool:
        return not self.transition.is_noop

    def to_json(self) -> dict[str, object]:
        geo, numbering = self.gpu.geo, self.gpu.numbering
        return {
            "node": self.gpu.node,
            "gpu": self.gpu.index,
            "model": geo.model.key,
            "current": self.gpu.current.to_json(),
            "target": [
                {
                    **i.to_json(),
                    "gi_id": gi_id(geo, i.placement, numbering),
                    "pod": self.pods.get(i),
                    "in_use": i in self.gpu.busy,
                }
                for i in self.target
            ],
            "steps": [{"action": s.action.value, **s.instance.to_json()} for s in self.transition.steps],
        }


@dataclass(frozen=True, slots=True)
class Plan:
    gpus: Mapping[tuple[str, int], GpuPlan]
    assignments: Mapping[str, list[Slot]]
    unscheduled: list[str]
    objective: Objective
    status: SolverStatus

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status.to_json(),
            "objective": self.objective.to_json(),
            "assignments": {
                pod: [{"node": s.node, "gpu": s.gpu, **s.instance.to_json()} for s in slots]
                for pod, slots in self.assignments.items()
            },
            "unscheduled": list(self.unscheduled),
            "gpus": [p.to_json() for p in self.gpus.values()],
        }


class Planner(Protocol):
    def plan(self, snapshot: Snapshot) -> Plan: ...


def _keep_free(gpu: ClusterGpu, target: Layout) -> Layout:
    """`target` with each free instance it would destroy kept where it still fits beside the rest:
    destroying it gains nothing. (A solve cut short by its time limit may leave such destructions;
    an optimal one never does.)"""
    kept = list(target)
    for inst in gpu.current:
        if inst not in target.instances and can_add(
            gpu.geo, kept, gpu.geo.shape(inst.profile_id), inst.start
        ):
            kept.append(inst)
    return target if len(kept) == len(target.instances) else Layout.of(kept)


def assemble(
    cluster: Cluster,
    targets: Mapping[tuple[str, int], Layout],
    assignments: Mapping[str, Sequence[Slot]],
    status: SolverStatus,
) -> Plan:
    """The plan for these target layouts and assignments, each transition computed by the layout
    engine (which refuses to destroy a busy instance) and the objective counted from the result."""
    gpus: dict[tuple[str, int], GpuPlan] = {}
    assigned: dict[tuple[str, int], dict[Instance, str]] = {}
    for pod, slots in assignments.items():
        for slot in slots:
            assigned.setdefault((slot.node, slot.gpu), {})[slot.instance] = pod
    destroyed = touched = 0
    for gpu in cluster.gpus:
        target = _keep_free(gpu, targets.get(gpu.key, gpu.current))
        if target == gpu.current:  # checked when the snapshot was read: nothing to plan
            transition = TransitionPlan(gpu.current, target, target.instances, (), (), ())
        else:
            transition = plan_transition(gpu.geo, gpu.current, target, gpu.busy)
        pods = {**gpu.pods, **assigned.get(gpu.key, {})}
        gpus[gpu.key] = GpuPlan(gpu, target, transition, pods)
        destroyed += len(transition.destroy)
        touched += not transition.is_noop
    scheduled = [r for r in cluster.requests if r.pod in assignments]
    slices = 0
    for request in scheduled:
        for slot in assignments[request.pod]:
            slices += gpus[(slot.node, slot.gpu)].gpu.geo.shape(slot.instance.profile_id).compute_slices
    objective = Objective(slices, sum(r.priority for r in scheduled), destroyed, touched)
    unscheduled = [r.pod for r in cluster.requests if r.pod not in assignments]
    ordered = {r.pod: list(assignments[r.pod]) for r in scheduled}
    return Plan(gpus, ordered, unscheduled, objective, status)
