"""`kubemig apply`: a named config carried out through NVML, with mig-parted's hooks around it.

    lock the node -> read it -> resolve the config -> plan (refuse if a busy instance is in the way)
    apply-start -> [pre-apply-mode -> MIG mode changes] -> read again, plan the instances again
    -> [pre-apply-config -> per GPU: destroy (CIs first), then create GI at its placement + default CI]
    -> read again and check every GPU holds its goal -> apply-exit

Every mutating call is journaled before and after it (see `journal`). An NVML failure stops the apply:
the failing GPU is put back to the layout it had before (exact placements, busy instances untouched),
GPUs already done stay at the target, the rest are untouched, and the error says what each GPU holds.
An Ampere GPU whose MIG mode change waits for a reset is reported and makes the apply fail once the
other GPUs are done.

Testing hook: KUBEMIG_APPLY_KILL_AT=N makes the apply SIGKILL itself at its N-th crash point (two per
NVML call: after the journal records the intent, and after the call returns, before it is recorded).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kubemig.errors import KubemigError
from kubemig.geometry import Instance, Layout, Placement
from kubemig.nvml import Nvml, NvmlError
from kubemig.partition.compare import gpu_differences
from kubemig.partition.errors import ApplyError, BusyError, PendingModeError
from kubemig.partition.hooks import HookRunner, HooksFile, hook_environment, run_with_hooks
from kubemig.partition.journal import (
    Journal,
    JournalGpu,
    befores,
    journal_summary,
    layout_from_text,
    layout_text,
    node_lock,
)
from kubemig.partition.node import read_gpu, read_node
from kubemig.partition.planning import Blocker, GpuPlan, NodePlan, Op, OpKind, plan_node, rollback_plan
from kubemig.partition.snapshot import GpuSnapshot, NodeSnapshot
from kubemig.partition.spec import ConfigFile
from kubemig.partition.targets import GpuTarget, NodeTarget, resolve_target

KILL_ENV = "KUBEMIG_APPLY_KILL_AT"
PHASE = {
    OpKind.ENABLE_MIG: "mode",
    OpKind.DISABLE_MIG: "mode",
    OpKind.DESTROY_CI: "destroy",
    OpKind.DESTROY_GI: "destroy",
    OpKind.CREATE_GI: "create",
    OpKind.CREATE_CI: "create",
}


@dataclass(frozen=True, slots=True)
class ApplyRequest:
    config: ConfigFile
    name: str | None
    config_path: str
    hooks: HooksFile | None = None
    hooks_path: str = ""
    force: bool = False
    mode_only: bool = False
    dry_run: bool = False
    kill_at: int | None = None
    lock_timeout_s: float | None = None
    held_by_pods: Mapping[tuple[int, int], Sequence[str]] = field(default_factory=dict)
    """(GPU index, GI ID) -> the pods the kubelet has handed its MIG devices to: in use, like a process."""


@dataclass(slots=True)
class ApplyOutcome:
    plan: NodePlan
    """The plan as first computed (what `--dry-run` shows)."""
    operations: int = 0
    after: NodeSnapshot | None = None
    hooks_ran: list[str] = field(default_factory=list)


class _OpFailed(Exception):
    def __init__(self, op: Op, error: NvmlError) -> None:
        self.op = op
        self.error = error
        super().__init__(str(error))


def blocked_message(config: str, blockers: Sequence[Blocker]) -> str:
    lines = "\n".join(f"  {b}" for b in blockers)
    return (
        f"config {config!r} cannot be applied without taking away what processes use:\n{lines}\n"
        "stop those processes and run apply again, or use --force once they will be gone (for example, stopped "
        "by a pre-apply hook)"
    )


class _Executor:
    """Runs ops one by one: journal intent, crash point, NVML call, crash point, journal done."""

    def __init__(
        self, nvml: Nvml, journal: Journal, echo: Callable[[str], None], kill_at: int | None
    ) -> None:
        self.nvml = nvml
        self.journal = journal
        self.echo = echo
        self.kill_at = kill_at
        self.points = 0
        self.calls = 0

    def _crash_point(self) -> None:
        self.points += 1
        if self.kill_at is not None and self.points == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def run(self, op: Op, gi_ids: dict[Instance, int], phase: Literal["apply", "rollback"] = "apply") -> bool:
        """Carry out `op`; False when it was a MIG mode change that now waits for a GPU reset."""
        step = self.journal.intent(op, phase)
        self._crash_point()
        try:
            applied = self._call(op, gi_ids)
        except NvmlError as exc:
            self.journal.settle(step, "failed", str(exc))
            raise _OpFailed(op, exc) from exc
        self.calls += 1
        self._crash_point()
        self.journal.settle(step, "done")
        prefix = "rollback: " if phase == "rollback" else ""
        self.echo(f"  {prefix}{op}" + ("" if applied else ": pending until the GPU is reset"))
        return applied

    def _call(self, op: Op, gi_ids: dict[Instance, int]) -> bool:
        if op.kind in (OpKind.ENABLE_MIG, OpKind.DISABLE_MIG):
            return self.nvml.set_mig_mode(op.gpu, op.kind is OpKind.ENABLE_MIG).applied
        assert op.instance is not None
        if op.kind is OpKind.CREATE_GI:
            placement = Placement(op.instance.start, op.instance.size)
            gi_ids[op.instance] = self.nvml.create_gpu_instance(op.gpu, op.instance.profile_id, placement).id
        elif op.kind is OpKind.CREATE_CI:
            assert op.ci_profile_id is not None
            self.nvml.create_compute_instance(op.gpu, gi_ids[op.instance], op.ci_profile_id)
        elif op.kind is OpKind.DESTROY_CI:
            assert op.ci_id is not None
            self.nvml.destroy_compute_instance(op.gpu, gi_ids[op.instance], op.ci_id)
        elif op.kind is OpKind.DESTROY_GI:
            self.nvml.destroy_gpu_instance(op.gpu, gi_ids.pop(op.instance))
        return True


class _Apply:
    """One apply under the node lock."""

    def __init__(
        self,
        nvml: Nvml,
        request: ApplyRequest,
        journal_path: Path,
        echo: Callable[[str], None],
        target: NodeTarget,
        snapshot: NodeSnapshot,
    ) -> None:
        self.nvml = nvml
        self.request = request
        self.journal_path = journal_path
        self.echo = echo
        self.target = target
        self.snapshot = snapshot
        self.previous = Journal.previous(journal_path)
        self.journal: Journal | None = None
        self.executor: _Executor | None = None
        self.status: dict[int, str] = {t.gpu.index: "unchanged" for t in target.gpus}
        self.pending: dict[int, GpuSnapshot] = {}
        self.config_plan: NodePlan | None = None

    # -- journal --------------------------------------------------------------------------------------

    def _run(self) -> _Executor:
        if self.executor is None:
            old = befores(self.previous)
            gpus = []
            for t in self.target.gpus:
                snap = self.snapshot.gpu(t.gpu.index)
                kept = old.get(t.gpu.index)
                before_mig = kept.before_mig if kept else snap.mig_current
                before = kept.before if kept else layout_text(snap.layout)
                gpus.append(
                    JournalGpu(
                        index=t.gpu.index,
                        model=t.gpu.model.key,
                        before_mig=before_mig,
                        before=before,
                        target=layout_text(t.layout),
                    )
                )
            self.journal = Journal.start(
                self.journal_path,
                config_file=self.request.config_path,
                config=self.target.config,
                gpus=gpus,
                resumed_from=self.previous.started_at
                if self.previous and self.previous.status == "running"
                else None,
            )
            self.executor = _Executor(self.nvml, self.journal, self.echo, self.request.kill_at)
        return self.executor

    def _before(self, target: GpuTarget) -> tuple[bool, Layout]:
        assert self.journal is not None
        gpu = self.journal.record.gpu(target.gpu.index)
        if gpu is None:
            return False, Layout()
        return gpu.before_mig, layout_from_text(target.gpu.geo, gpu.before)

    # -- per GPU with rollback --------------------------------------------------------------------

    def _execute_gpu(self, plan: GpuPlan, ops: Sequence[Op]) -> bool:
        """Run one GPU's ops; on an NVML failure put back what every unfinished GPU held, raise ApplyError."""
        executor = self._run()
        gi_ids = {gi.instance: gi.id for gi in plan.snapshot.gpu_instances}
        applied = True
        for op in ops:
            try:
                applied = executor.run(op, gi_ids) and applied
            except _OpFailed as failure:
                self.status[plan.index] = "failed"
                rolled = self._rollback(plan.target)
                self._roll_back_unfinished()
                self._fail(plan, failure, rolled)
        return applied

    def _roll_back_unfinished(self) -> None:
        """GPUs whose MIG mode this apply changed but whose instances it did not configure yet go back too
        (and, when it resumes a killed apply, GPUs that one left half done), so that every GPU ends at its
        target or where it was before."""
        unfinished = {"mode changed", "MIG mode pending"}
        if self.previous is not None and self.previous.status == "running":
            unfinished.add("unchanged")
        for target in self.target.gpus:
            if self.status[target.gpu.index] in unfinished:
                self._rollback(target)

    def _rollback(self, target: GpuTarget) -> str:
        try:
            return self._put_back(target)
        except KubemigError as exc:  # a read failing too: say so, the next apply starts from NVML's answers
            self.status[target.gpu.index] = "rollback incomplete"
            return f"could not roll back: {exc}"

    def _put_back(self, target: GpuTarget) -> str:
        executor = self._run()
        before_mig, before = self._before(target)
        what = f"MIG {'on' if before_mig else 'off'}" + (f", {before}" if before_mig and len(before) else "")
        snapshot = read_gpu(self.nvml, target.gpu, uuids=False)
        plan = rollback_plan(snapshot, before_mig, before, target)
        if plan.blockers:
            self.status[target.gpu.index] = "rollback incomplete"
            return f"could not roll back to {what}: {'; '.join(map(str, plan.blockers))}"
        gi_ids = {gi.instance: gi.id for gi in snapshot.gpu_instances}
        if not plan.ops:
            if self.status[target.gpu.index] == "failed":
                self.status[target.gpu.index] = "rolled back"
            return f"it holds what it held before ({what})"
        for op in plan.mode_ops + plan.config_ops:
            try:
                if not executor.run(op, gi_ids, "rollback"):
                    self.status[target.gpu.index] = "rolled back, MIG mode pending"
                    return f"put back {what}, the MIG mode change waits for a GPU reset"
            except _OpFailed as failure:
                self.status[target.gpu.index] = "rollback incomplete"
                return f"rollback to {what} stopped at `{failure.op}`: {failure.error}"
        self.status[target.gpu.index] = "rolled back"
        return f"rolled back to what it held before ({what})"

    def _fail(self, plan: GpuPlan, failure: _OpFailed, rolled: str) -> None:
        if self.journal is not None:
            self.journal.finish("failed")
        gpu = plan.target.gpu
        message = (
            f"apply of {self.target.config!r} stopped on {gpu.label}, phase {PHASE[failure.op.kind]}: "
            f"{failure.op}: {failure.error.call}: {failure.error.nvml_message}; {rolled}"
        )
        raise ApplyError(message, self._reports()) from failure.error

    def _reports(self) -> list[str]:
        """Per GPU what happened and what it holds now (read again: NVML's answer, not the plan's)."""
        after: NodeSnapshot | None = None
        error: KubemigError | None = None
        for _attempt in range(2):
            try:
                after = read_node(self.nvml, uuids=False)
                break
            except KubemigError as exc:
                error = exc
        lines = []
        for t in self.target.gpus:
            holds = after.gpu(t.gpu.index).describe() if after else f"unknown (reading it failed: {error})"
            lines.append(f"{t.gpu.label}: {self.status[t.gpu.index]}; holds {holds}")
        return lines

    def stopped(self, exc: KubemigError) -> ApplyError:
        """An error that is not one NVML operation failing (a read, a hook): close the journal and report."""
        changed = self.executor is not None and self.executor.calls > 0
        if changed:
            self._roll_back_unfinished()
        if self.journal is not None:
            self.journal.finish("failed")
        what = "" if changed else "; no GPU was changed"
        return ApplyError(
            f"apply of {self.target.config!r} stopped: {exc}{what}", self._reports() if changed else []
        )

    # -- the two phases -----------------------------------------------------------------------------

    def apply_mode(self, plan: NodePlan) -> None:
        for gpu_plan in plan.gpus:
            if not gpu_plan.mode_ops:
                continue
            if not self._execute_gpu(gpu_plan, gpu_plan.mode_ops):
                self.pending[gpu_plan.index] = read_gpu(self.nvml, gpu_plan.target.gpu, uuids=False)
                self.status[gpu_plan.index] = "MIG mode pending"
            elif self.request.mode_only or not gpu_plan.target.mig_enabled:
                self.status[gpu_plan.index] = "at target"
            else:
                self.status[gpu_plan.index] = "mode changed"

    def plan_config(self) -> NodePlan:
        """The instance part, planned again from what the GPUs hold after the mode changes and hooks."""
        if self.config_plan is None:
            now = read_node(self.nvml, uuids=False)
            self.config_plan = plan_node(now, self.target, force=self.request.force)
            if self.config_plan.blockers:  # a process started on an instance in the way since the first plan
                raise self.stopped(
                    KubemigError(blocked_message(self.target.config, self.config_plan.blockers))
                )
        return self.config_plan

    def config_differs(self) -> bool:
        return any(self._configurable(g) and g.config_ops for g in self.plan_config().gpus)

    def _configurable(self, plan: GpuPlan) -> bool:
        if not plan.target.mig_enabled:
            return False
        if not plan.snapshot.mig_current or plan.snapshot.mode_pending:
            self.pending.setdefault(plan.index, plan.snapshot)
            self.status[plan.index] = "MIG mode pending"
            return False
        return True

    def apply_config(self) -> None:
        self.config_plan = (
            None  # the pre-apply-config hook may have stopped (or started) processes: read again
        )
        for gpu_plan in self.plan_config().gpus:
            if not self._configurable(gpu_plan):
                continue
            if gpu_plan.config_ops:
                self._execute_gpu(gpu_plan, gpu_plan.config_ops)
            self.status[gpu_plan.index] = "at target"

    def finish(self) -> NodeSnapshot:
        after = read_node(self.nvml, uuids=False)
        wrong = []
        for t in self.target.gpus:
            if t.gpu.index not in self.pending:
                problems = gpu_differences(after.gpu(t.gpu.index), t, mode_only=self.request.mode_only)
                if problems:
                    wrong.append(f"{t.gpu.label}: {'; '.join(problems)}")
        if self.journal is not None:
            self.journal.finish("failed" if wrong else "done")
        elif self.previous is not None and self.previous.status != "done":
            # nothing left to do, but the journal must not claim an apply is under way, or failed
            Journal.start(
                self.journal_path, config_file=self.request.config_path, config=self.target.config, gpus=[]
            ).finish("done")
        if wrong:
            raise ApplyError(f"apply of {self.target.config!r} finished but GPUs differ from it:", wrong)
        return after


def apply(
    nvml: Nvml,
    request: ApplyRequest,
    *,
    journal_path: Path,
    echo: Callable[[str], None],
    show_plan: Callable[[NodePlan], None],
) -> ApplyOutcome:
    """Plan and (unless dry-run) carry out `request` on the node behind `nvml`."""
    if request.dry_run:
        return ApplyOutcome(
            _read_and_plan(nvml, request, journal_path, echo, show_plan, "an apply will continue")[2]
        )
    with node_lock(journal_path, waiting=echo, timeout_s=request.lock_timeout_s):
        snapshot, target, plan = _read_and_plan(nvml, request, journal_path, echo, show_plan, "continuing")
        if plan.blockers:
            raise BusyError(blocked_message(target.config, plan.blockers), plan.blockers)
        run = _Apply(nvml, request, journal_path, echo, target, snapshot)
        env = hook_environment(
            config_file=request.config_path,
            selected_config=target.config,
            hooks_file=request.hooks_path,
            mode_only=request.mode_only,
        )
        runner = HookRunner(request.hooks, env)
        try:
            run_with_hooks(
                runner,
                mode_only=request.mode_only,
                mode_differs=lambda: bool(plan.mode_ops),
                apply_mode=lambda: run.apply_mode(plan),
                config_differs=run.config_differs,
                apply_config=run.apply_config,
            )
            after = run.finish()
        except (ApplyError, PendingModeError):
            raise
        except KubemigError as exc:
            raise run.stopped(exc) from exc
        outcome = ApplyOutcome(
            plan, run.executor.calls if run.executor else 0, after, [h.value for h in runner.ran]
        )
        if run.pending:
            raise PendingModeError(_pending_message(run.pending), sorted(run.pending))
        return outcome


def _read_and_plan(
    nvml: Nvml,
    request: ApplyRequest,
    journal_path: Path,
    echo: Callable[[str], None],
    show_plan: Callable[[NodePlan], None],
    resuming: str,
) -> tuple[NodeSnapshot, NodeTarget, NodePlan]:
    previous = Journal.previous(journal_path)
    if previous is not None and previous.status == "running":
        echo(f"note: {journal_summary(previous)}; {resuming} from what the GPUs hold now")
    snapshot = read_node(nvml, uuids=False).held_by(request.held_by_pods)
    target = resolve_target(request.config, request.name, snapshot.identities)
    _notes(echo, snapshot, target)
    plan = plan_node(snapshot, target, force=request.force, mode_only=request.mode_only)
    show_plan(plan)
    return snapshot, target, plan


def _notes(echo: Callable[[str], None], snapshot: NodeSnapshot, target: NodeTarget) -> None:
    for line in snapshot.unsupported:
        echo(f"note: {line}")
    for gpu in target.unmatched:
        echo(f"note: {gpu.label}: no entry of {target.config!r} matches it: left as it is")
    for note in target.notes:
        echo(f"note: {note}")


def _pending_message(pending: dict[int, GpuSnapshot]) -> str:
    lines = []
    for index, snap in sorted(pending.items()):
        change = "enable" if snap.mig_pending else "disable"
        holders = (
            f"processes {', '.join(map(str, snap.pids))} hold the GPU"
            if snap.pids
            else "the GPU was not reset"
        )
        lines.append(
            f"  {snap.gpu.label}: MIG mode {change} is pending a GPU reset ({holders}); its instances cannot be "
            "configured until then: stop those processes and run apply again (the driver resets the GPU then)"
        )
    return "MIG mode changes wait for a GPU reset:\n" + "\n".join(lines)
