"""The node agent: mig-manager's label protocol, carried out by kubemig's apply.

A node's label `nvidia.com/mig.config=<name>` selects a config of the agent's mig-parted file; the
agent applies it and reports in `nvidia.com/mig.config.state`: `pending`, `success` or `failed`, as
mig-manager does, with the reason in the annotation `kubemig.io/mig.config.reason`, and the config
the node last reached in `kubemig.io/mig.config.applied`.

Where mig-manager fails the whole change when an instance is in use (or destroys it), the agent waits:
while a busy instance is in the way it stays `pending`, says which instance and which process, and
applies at the first look after the process has gone, changing nothing before. A failed apply is
tried again after `retry_s`, and at once when the label changes. The config file (and the hooks
file, whose mig-parted hooks run around each change as with `kubemig apply -k`) is read at every
look, so an edited ConfigMap takes effect without a restart.

With an evictor (`kubemig agent --drain`) the agent does not only wait: when every instance in the
way is held by pods (the kubelet's pod-resources API says which), it evicts those pods through the
Eviction API, which keeps PodDisruptionBudgets, once it has listed the instances' MIG devices in the
drain file for `DRAIN_SETTLE_S`: kubemig's device plugin reads them there and reports them
unhealthy, so that no new pod is handed one meanwhile. Pods are asked again at every look until
they are gone; then the change is made and the drain file emptied. An instance used by a process
outside any pod is never drained, nor one in the way of a config the cluster planner wrote (it was
planned around the instances in use then; a pod that took one since keeps it).

For planning the whole cluster (`kubemig plan --cluster`) the agent can publish the node's part of a
cluster snapshot (its MIG GPUs and instances, each free or in use) in `kubemig.io/mig.snapshot`
whenever it changes (`publish_snapshot`); and a config the label names that its file lacks is taken
from the plan the planner wrote on the node, `kubemig.io/mig.plan`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from kubemig.agent.node_labels import NodeRecord, NodeStore
from kubemig.agent.pod_eviction import Outcome, PodEvictor
from kubemig.deviceplugin.drain_file import read_draining, write_draining
from kubemig.errors import KubemigError
from kubemig.nvml import Nvml
from kubemig.partition.apply import ApplyRequest, apply
from kubemig.partition.cluster_snapshot import node_part
from kubemig.partition.errors import BusyError, LockError, PendingModeError
from kubemig.partition.hooks import load_hooks
from kubemig.partition.node import read_node
from kubemig.partition.planning import Blocker
from kubemig.partition.snapshot import NodeSnapshot
from kubemig.partition.spec import ConfigFile, load_config

CONFIG_LABEL = "nvidia.com/mig.config"
STATE_LABEL = "nvidia.com/mig.config.state"
REASON_ANNOTATION = "kubemig.io/mig.config.reason"
APPLIED_ANNOTATION = "kubemig.io/mig.config.applied"
SNAPSHOT_ANNOTATION = "kubemig.io/mig.snapshot"
PLAN_ANNOTATION = "kubemig.io/mig.plan"
DRAIN_SETTLE_S = 1.0
"""How long the drain file lists the devices before their pods are evicted: the device plugin reads
it every 0.5 s (its default), and must have withheld them before a pod could be handed one."""
REASON_LIMIT = 1000
"""Characters of a reason kept in the annotation (the first lines say what matters)."""


class State(str, Enum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Look:
    """What one look at the node did: the config wanted (None: no label), the state reported."""

    wanted: str | None
    state: State | None
    operations: int = 0
    reason: str = ""
    evicted: tuple[str, ...] = ()
    """Pods (namespace/name) this look evicted, each once per drain."""


class MigConfigAgent:
    def __init__(
        self,
        nvml: Nvml,
        nodes: NodeStore,
        node: str,
        config_path: str,
        *,
        journal_path: Path,
        hooks_path: str | None = None,
        retry_s: float = 60.0,
        echo: Callable[[str], None] = lambda line: None,
        clock: Callable[[], float] = time.monotonic,
        on_look: Callable[[Look, NodeSnapshot], None] | None = None,
        publish_snapshot: bool = False,
        holders: Callable[[], Sequence[tuple[str, str]]] | None = None,
        evictor: PodEvictor | None = None,
        drain_file: Path | None = None,
    ) -> None:
        self.nvml = nvml
        self.nodes = nodes
        self.node = node
        self.config_path = config_path
        self.journal_path = journal_path
        self.hooks_path = hooks_path
        self.retry_s = retry_s
        self.echo = echo
        self.clock = clock
        self.on_look = on_look
        """Told every finished look and the node after it (the agent's metrics)."""
        self._failed: tuple[str, float] | None = None  # (config, when) of the last failure
        self.publish_snapshot = publish_snapshot
        """Keep the node's snapshot part in SNAPSHOT_ANNOTATION, for `kubemig plan --cluster`."""
        self._published: str | None = None  # the snapshot annotation last written
        self.holders = holders
        """The devices pods hold, (device ID, namespace/name), from the kubelet's pod-resources API:
        an instance handed to a pod is in use even before a process runs on it."""
        self.evictor = evictor
        """Drain: evict the pods holding instances in the way (None: wait for them to end)."""
        self.drain_file = drain_file
        """Where the MIG devices being drained are listed for the device plugin."""
        self._drained: dict[str, str] | None = None  # what the drain file says; None: not known yet
        self._evicted: set[str] = set()  # pods evicted so far in this drain

    def held_by_pods(self) -> dict[tuple[int, int], list[str]]:
        """(GPU index, GI ID) -> the pods holding its MIG devices; device IDs are MIG UUIDs or, under
        the device plugin's index strategy, `<gpu>:<mig device>`."""
        if self.holders is None:
            return {}
        held = self.holders()
        if not held:
            return {}
        where: dict[str, tuple[int, int]] = {}
        for gpu in self.nvml.gpus():
            if gpu.mig_enabled:
                for device in self.nvml.mig_devices(gpu.index):
                    where[device.uuid] = where[f"{gpu.index}:{device.index}"] = (gpu.index, device.gi_id)
        found: dict[tuple[int, int], list[str]] = {}
        for device_id, pod in held:
            if device_id in where and pod not in found.setdefault(where[device_id], []):
                found[where[device_id]].append(pod)
        return found

    def snapshot_text(self, node: NodeSnapshot) -> str:
        """The node's part of a cluster snapshot, as the annotation holds it (compact JSON)."""
        return json.dumps(node_part(node, self.node).wire, separators=(",", ":"), sort_keys=True)

    def look(self) -> Look:
        """Read the node's labels and, when they ask for it, apply; report the state on the node."""
        look = self._look()
        if not self.publish_snapshot and self.on_look is None:
            return look
        after = read_node(self.nvml, uuids=False).held_by(self.held_by_pods())
        if self.publish_snapshot:
            text = self.snapshot_text(after)
            if text != self._published:
                self.nodes.patch(self.node, {}, {SNAPSHOT_ANNOTATION: text})
                self._published = text
        if self.on_look is not None:
            self.on_look(look, after)
        return look

    def _look(self) -> Look:
        record = self.nodes.read(self.node)
        wanted = record.labels.get(CONFIG_LABEL)
        if wanted is None:
            self._stop_draining()
            return Look(None, None)
        state = record.labels.get(STATE_LABEL)
        if state == State.SUCCESS.value and record.annotations.get(APPLIED_ANNOTATION) == wanted:
            self._stop_draining()
            return Look(wanted, State.SUCCESS)
        if state == State.FAILED.value and self._failed is not None and self._failed[0] == wanted:
            if self.clock() - self._failed[1] < self.retry_s:
                return Look(wanted, State.FAILED, reason=record.annotations.get(REASON_ANNOTATION, ""))
        if state != State.PENDING.value:
            record = self._report(record, State.PENDING, f"applying {wanted!r}")
        look = self._apply(wanted, record)
        self._failed = (wanted, self.clock()) if look.state is State.FAILED else None
        applied = wanted if look.state is State.SUCCESS else record.annotations.get(APPLIED_ANNOTATION)
        self._report(record, look.state or State.FAILED, look.reason, applied)
        return look

    def _config(self, wanted: str, record: NodeRecord) -> tuple[ConfigFile, str]:
        """The agent's file, or the plan on the node when only that has the config wanted."""
        config = load_config(self.config_path)
        plan = record.annotations.get(PLAN_ANNOTATION)
        if wanted not in config.configs and plan is not None:
            source = f"node {self.node} annotation {PLAN_ANNOTATION}"
            return load_config(source, plan), source
        return config, self.config_path

    def _apply(self, wanted: str, record: NodeRecord) -> Look:
        source = self.config_path
        try:
            hooks = load_hooks(self.hooks_path) if self.hooks_path else None
            config, source = self._config(wanted, record)
            request = ApplyRequest(
                config, wanted, source, hooks, self.hooks_path or "", held_by_pods=self.held_by_pods()
            )
            done = apply(
                self.nvml,
                request,
                journal_path=self.journal_path,
                echo=self.echo,
                show_plan=lambda plan: None,
            )
        except BusyError as exc:
            # instances in use: drain them, or wait for them. A planner's config is never drained:
            # it was planned around the instances in use then, and one taken since is the pod's
            if self.evictor is not None and source == self.config_path:
                return self._drain(wanted, exc)
            self._stop_draining()
            return Look(wanted, State.PENDING, reason=f"waiting: {exc}")
        except (PendingModeError, LockError) as exc:
            # something to wait for: a GPU reset, another apply holding the lock
            return Look(wanted, State.PENDING, reason=f"waiting: {exc}")
        except KubemigError as exc:
            self._stop_draining()
            return Look(wanted, State.FAILED, reason=str(exc))
        self._stop_draining()
        self.echo(f"{self.node}: config {wanted!r} applied with {done.operations} NVML operations")
        return Look(wanted, State.SUCCESS, done.operations, f"applied with {done.operations} NVML operations")

    def _drain(self, wanted: str, busy: BusyError) -> Look:
        """Evict the pods that hold the instances in the way, once no instance in the way is used
        outside a pod; their devices are listed in the drain file first, so no new pod gets one."""
        assert self.evictor is not None
        blockers = [b for b in busy.blockers if isinstance(b, Blocker)]
        outside = [b for b in blockers if not b.pods or b.gi_id is None]
        if outside:
            self._stop_draining()
            used = "; ".join(str(b) for b in outside)
            return Look(
                wanted, State.PENDING, reason=f"waiting: {busy}\nnot drained, used outside any pod: {used}"
            )
        devices = {
            device.uuid: f"drained for config {wanted!r}"
            for gpu, gi_id in {(b.gpu, b.gi_id) for b in blockers}
            for device in self.nvml.mig_devices(gpu)
            if device.gi_id == gi_id
        }
        if self.drain_file is not None:
            try:
                listed = read_draining(self.drain_file) == devices
            except KubemigError:
                listed = False  # torn or foreign: written anew
            if not listed:
                write_draining(self.drain_file, devices)
                self._drained = devices
            if not listed or time.time() - self.drain_file.stat().st_mtime < DRAIN_SETTLE_S:
                return Look(
                    wanted,
                    State.PENDING,
                    reason=f"draining for {wanted!r}: withholding {len(devices)} MIG devices from new "
                    f"pods before the eviction\nwaiting: {busy}",
                )
        try:
            answers = [self.evictor.evict(pod) for pod in sorted({p for b in blockers for p in b.pods})]
        except KubemigError as exc:
            return Look(wanted, State.PENDING, reason=f"draining for {wanted!r}: {exc}\nwaiting: {busy}")
        evicted = []
        for answer in answers:
            if answer.outcome is Outcome.EVICTED and answer.pod not in self._evicted:
                self._evicted.add(answer.pod)
                evicted.append(answer.pod)
                self.echo(f"{self.node}: evicted pod {answer.pod} for config {wanted!r}")
        said = ", ".join(map(str, answers))
        reason = f"draining for {wanted!r}: {said}\nwaiting: {busy}"
        return Look(wanted, State.PENDING, reason=reason, evicted=tuple(evicted))

    def _stop_draining(self) -> None:
        """Nothing is drained any more: the drain file is emptied (once; at the first look, a file
        left by an agent before this one too)."""
        self._evicted.clear()
        if self.drain_file is not None and self._drained != {}:
            write_draining(self.drain_file, {})
            self._drained = {}

    def _report(
        self, record: NodeRecord, state: State, reason: str, applied: str | None = None
    ) -> NodeRecord:
        """Set the state on the node unless it already says exactly this (a node waiting on a busy
        instance is looked at every few seconds; the API is written to only when something changed).
        Returns the record as it now is."""
        annotations: dict[str, str | None] = {REASON_ANNOTATION: _one_annotation(reason)}
        if applied is not None:
            annotations[APPLIED_ANNOTATION] = applied
        labels = {STATE_LABEL: state.value}
        now_labels = {**record.labels, **labels}
        now_annotations = {k: v for k, v in {**record.annotations, **annotations}.items() if v is not None}
        if now_labels == record.labels and now_annotations == record.annotations:
            return record
        self.nodes.patch(self.node, labels, annotations)
        self.echo(
            f"{self.node}: {STATE_LABEL}={state.value}" + (f" ({reason.splitlines()[0]})" if reason else "")
        )
        return NodeRecord(now_labels, now_annotations)

    def run(self, poll_s: float, stop: threading.Event, on_error: Callable[[], None] = lambda: None) -> None:
        """Look every `poll_s` seconds until `stop` is set (a look under way finishes first: an apply
        is never cut short by the agent itself); an unreachable API is said and tried again."""
        while not stop.is_set():
            try:
                self.look()
            except KubemigError as exc:
                self.echo(f"{self.node}: {exc}")
                on_error()
            stop.wait(poll_s)


def _one_annotation(reason: str) -> str | None:
    text = " | ".join(line.strip() for line in reason.splitlines() if line.strip())
    return text[:REASON_LIMIT] or None
