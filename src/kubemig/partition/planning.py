"""From what a node holds to what a config asks: per GPU the fewest NVML operations, at explicit placements.

The GPU-instance part is the layout engine's `plan_transition` (keeps the most instances, never destroys
a busy one unless forced); this module adds what NVML needs around it: MIG mode changes, compute
instances destroyed before their GI and the default one created after it, and the repair of GIs an
interrupted apply left without their compute instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from kubemig.errors import TransitionError
from kubemig.geometry import Instance, InstanceSpec, Layout, TransitionPlan, plan_transition
from kubemig.partition.snapshot import GiSnapshot, GpuSnapshot, NodeSnapshot
from kubemig.partition.targets import GpuTarget, NodeTarget


class OpKind(str, Enum):
    ENABLE_MIG = "enable-mig"
    DISABLE_MIG = "disable-mig"
    DESTROY_CI = "destroy-ci"
    DESTROY_GI = "destroy-gi"
    CREATE_GI = "create-gi"
    CREATE_CI = "create-ci"


@dataclass(frozen=True, slots=True)
class Op:
    """One mutating NVML call. GIs are named by placement (their ID is the driver's business)."""

    kind: OpKind
    gpu: int
    instance: Instance | None = None
    ci_id: int | None = None  # the CI to destroy
    ci_profile_id: int | None = None  # the CI profile to create

    def __str__(self) -> str:
        what = {
            OpKind.ENABLE_MIG: "enable MIG mode",
            OpKind.DISABLE_MIG: "disable MIG mode",
            OpKind.DESTROY_CI: f"destroy compute instance {self.ci_id} of {self.instance}",
            OpKind.DESTROY_GI: f"destroy GPU instance {self.instance}",
            OpKind.CREATE_GI: f"create GPU instance {self.instance}",
            OpKind.CREATE_CI: f"create compute instance (profile {self.ci_profile_id}) in {self.instance}",
        }[self.kind]
        return f"GPU {self.gpu}: {what}"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind.value, "gpu": self.gpu}
        if self.instance is not None:
            out["instance"] = str(self.instance)
        if self.ci_id is not None:
            out["ci_id"] = self.ci_id
        if self.ci_profile_id is not None:
            out["ci_profile_id"] = self.ci_profile_id
        return out


@dataclass(frozen=True, slots=True)
class Blocker:
    """Something in use that the target would take away: a busy instance, or a GPU with processes."""

    gpu: int
    what: str  # "3g.20gb@4 (GI 2)", or "the GPU"
    pids: tuple[int, ...]
    reason: str
    pods: tuple[str, ...] = ()
    gi_id: int | None = None  # None: the whole GPU

    @staticmethod
    def of(gpu: int, gi: GiSnapshot, reason: str) -> Blocker:
        return Blocker(gpu, f"{gi.instance} (GI {gi.id})", gi.pids, reason, gi.pods, gi.id)

    def __str__(self) -> str:
        users = []
        if self.pids:
            users.append(f"in use by process {', '.join(map(str, self.pids))}")
        if self.pods:
            users.append(f"held by pod {', '.join(self.pods)}")
        return f"GPU {self.gpu}: {self.what} {self.reason}, {' and '.join(users)}"


@dataclass(frozen=True, slots=True)
class GpuPlan:
    snapshot: GpuSnapshot
    target: GpuTarget
    mode_ops: tuple[Op, ...] = ()
    config_ops: tuple[Op, ...] = ()
    goal: Layout = field(default_factory=Layout)
    """The exact layout the GPU holds once done (placements chosen to keep the most)."""
    transition: TransitionPlan | None = None
    blockers: tuple[Blocker, ...] = ()
    mode_waits_for_reset: bool = False
    """MIG mode is (or will be) pending on this Ampere GPU: the config part runs once it is in effect."""

    @property
    def index(self) -> int:
        return self.snapshot.index

    @property
    def ops(self) -> tuple[Op, ...]:
        return self.mode_ops + self.config_ops

    @property
    def kept(self) -> tuple[Instance, ...]:
        return self.transition.keep if self.transition else ()

    @property
    def destroyed(self) -> tuple[Instance, ...]:
        if not self.target.mig_enabled:
            return tuple(self.snapshot.layout)
        return self.transition.destroy if self.transition else ()

    @property
    def created(self) -> tuple[Instance, ...]:
        return self.transition.create if self.transition else ()

    @property
    def is_noop(self) -> bool:
        return not self.ops and not self.blockers


@dataclass(frozen=True, slots=True)
class NodePlan:
    target: NodeTarget
    gpus: tuple[GpuPlan, ...]
    force: bool = False
    mode_only: bool = False

    @property
    def blockers(self) -> list[Blocker]:
        return [b for g in self.gpus for b in g.blockers]

    @property
    def mode_ops(self) -> list[Op]:
        return [op for g in self.gpus for op in g.mode_ops]

    @property
    def config_ops(self) -> list[Op]:
        return [op for g in self.gpus for op in g.config_ops]

    @property
    def is_noop(self) -> bool:
        return all(g.is_noop for g in self.gpus)

    def gpu(self, index: int) -> GpuPlan | None:
        return next((g for g in self.gpus if g.index == index), None)


def _teardown(gpu: int, gi: GiSnapshot) -> list[Op]:
    ops = [Op(OpKind.DESTROY_CI, gpu, gi.instance, ci_id=ci.id) for ci in gi.compute_instances]
    return ops + [Op(OpKind.DESTROY_GI, gpu, gi.instance)]


def plan_gpu(
    snapshot: GpuSnapshot, target: GpuTarget, *, force: bool = False, mode_only: bool = False
) -> GpuPlan:
    """The operations that bring one GPU to its target; blockers instead where a busy instance is in the way."""
    geo = snapshot.gpu.geo
    index = snapshot.index
    # Ampere switches at a GPU reset, which cannot happen while a process holds the GPU (then the
    # change stays pending); Hopper and later switch at once, and refuse while a process runs
    waits = geo.model.mig_mode_needs_reset and bool(snapshot.pids)
    refuses = not geo.model.mig_mode_needs_reset and bool(snapshot.pids)
    if not target.mig_enabled:
        if not snapshot.mig_current and not snapshot.mig_pending:
            return GpuPlan(snapshot, target)
        if not snapshot.mig_pending:  # a disable waits for a reset: asking again resets the GPU if it can
            return GpuPlan(
                snapshot, target, mode_ops=(Op(OpKind.DISABLE_MIG, index),), mode_waits_for_reset=waits
            )
        busy = [gi for gi in snapshot.gpu_instances if gi.busy]
        blockers = (
            () if force else tuple(Blocker.of(index, gi, "would be destroyed to turn MIG off") for gi in busy)
        )
        ops = [op for gi in snapshot.gpu_instances for op in _teardown(index, gi)]
        return GpuPlan(
            snapshot,
            target,
            mode_ops=(*ops, Op(OpKind.DISABLE_MIG, index)),
            blockers=blockers,
            mode_waits_for_reset=waits,
        )

    mode_ops: tuple[Op, ...] = ()
    mode_blockers: tuple[Blocker, ...] = ()
    current = snapshot
    if not snapshot.mig_current and snapshot.mig_pending:  # an enable waits for a reset: asking again resets
        mode_ops = (Op(OpKind.ENABLE_MIG, index),)
        current = GpuSnapshot(snapshot.gpu, snapshot.uuid, False, True)
    elif not snapshot.mig_pending:  # off, or on with a disable pending: ask for on
        mode_ops = (Op(OpKind.ENABLE_MIG, index),)
        if snapshot.mig_current:
            waits = False  # cancelling a pending disable needs no reset
        else:
            current = GpuSnapshot(snapshot.gpu, snapshot.uuid, False, True)  # instances come after the enable
            if refuses and not force:
                mode_blockers = (Blocker(index, "the GPU", snapshot.pids, "must switch MIG mode on"),)
    else:
        waits = False
    if mode_only:
        return GpuPlan(
            snapshot,
            target,
            mode_ops=mode_ops,
            goal=current.layout,
            blockers=mode_blockers,
            mode_waits_for_reset=waits,
        )
    plan = _plan_config(current, snapshot, target, mode_ops, waits, force)
    if mode_blockers:
        return GpuPlan(
            plan.snapshot,
            plan.target,
            plan.mode_ops,
            plan.config_ops,
            plan.goal,
            plan.transition,
            mode_blockers + plan.blockers,
            plan.mode_waits_for_reset,
        )
    return plan


def _plan_config(
    current: GpuSnapshot,
    snapshot: GpuSnapshot,
    target: GpuTarget,
    mode_ops: tuple[Op, ...],
    waits: bool,
    force: bool,
) -> GpuPlan:
    geo = current.gpu.geo
    index = current.index
    wanted = target.layout if target.pinned else list(target.specs)
    try:
        transition = plan_transition(geo, current.layout, wanted, current.busy, force=force)
    except TransitionError as exc:
        names = set(exc.blocking)
        in_the_way = [gi for gi in current.gpu_instances if str(gi.instance) in names]
        if not in_the_way:
            raise
        blockers = tuple(Blocker.of(index, gi, "is in the way of the target") for gi in in_the_way)
        # what is asked, shown keeping every busy instance that is not in the way
        others = current.busy - {gi.instance for gi in in_the_way}
        transition = plan_transition(geo, current.layout, wanted, others)
        return GpuPlan(snapshot, target, mode_ops, (), transition.target, transition, blockers, waits)
    ops: list[Op] = []
    blockers_list: list[Blocker] = []
    for instance in transition.destroy:
        gi = current.gi_at(instance)
        assert gi is not None
        if gi.busy and not force:  # plan_transition never does this; kept as a last guard
            blockers_list.append(Blocker.of(index, gi, "would be destroyed"))
        ops += _teardown(index, gi)
    for instance in transition.keep:
        gi = current.gi_at(instance)
        assert gi is not None
        if gi.has_only_default_ci(geo):
            continue
        if gi.compute_instances and gi.busy and not force:
            blockers_list.append(Blocker.of(index, gi, "holds other compute instances than the default one"))
        ops += [Op(OpKind.DESTROY_CI, index, instance, ci_id=ci.id) for ci in gi.compute_instances]
        ops.append(
            Op(
                OpKind.CREATE_CI,
                index,
                instance,
                ci_profile_id=geo.shape(instance.profile_id).profile.default_ci,
            )
        )
    for instance in transition.create:
        ops.append(Op(OpKind.CREATE_GI, index, instance))
        ops.append(
            Op(
                OpKind.CREATE_CI,
                index,
                instance,
                ci_profile_id=geo.shape(instance.profile_id).profile.default_ci,
            )
        )
    return GpuPlan(
        snapshot, target, mode_ops, tuple(ops), transition.target, transition, tuple(blockers_list), waits
    )


def plan_node(
    node: NodeSnapshot, target: NodeTarget, *, force: bool = False, mode_only: bool = False
) -> NodePlan:
    plans = []
    for gpu_target in target.gpus:
        plans.append(plan_gpu(node.gpu(gpu_target.gpu.index), gpu_target, force=force, mode_only=mode_only))
    return NodePlan(target, tuple(plans), force, mode_only)


def rollback_plan(snapshot: GpuSnapshot, before_mig: bool, before: Layout, target: GpuTarget) -> GpuPlan:
    """The operations that put back MIG mode `before_mig` and layout `before` (exact placements), never
    destroying a busy instance."""
    specs = tuple(InstanceSpec(i.name, i.start) for i in before) if before_mig else ()
    return plan_gpu(
        snapshot, GpuTarget(target.gpu, target.entry, before_mig, specs, before if before_mig else Layout())
    )
