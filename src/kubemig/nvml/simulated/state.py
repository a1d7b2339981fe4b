"""The simulated node's state, as stored in its JSON state file (checked strictly on load).

Everything the driver would know lives here, so that every process sharing the file sees one node:
GPUs with their MIG mode and instances, processes using them, queued XID events, injected faults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kubemig.geometry import Numbering

STATE_VERSION = 1
EVENTS_KEPT = 256


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class ComputeInstanceState(_Model):
    id: int
    profile_id: int
    start: int
    size: int
    serial: int
    """Unique for the life of the state file: a handle to a destroyed instance stays invalid."""


class GpuInstanceState(_Model):
    id: int
    profile_id: int
    start: int
    size: int
    serial: int
    compute_instances: list[ComputeInstanceState] = Field(default_factory=list)

    def compute_instance(self, ci_id: int) -> ComputeInstanceState | None:
        return next((c for c in self.compute_instances if c.id == ci_id), None)


class GpuState(_Model):
    model: str
    numbering: Numbering = Numbering.DIRECT
    uuid: str
    pci_bus: int
    mig_current: bool = False
    mig_pending: bool = False
    gpu_instances: list[GpuInstanceState] = Field(default_factory=list)

    def gpu_instance(self, gi_id: int) -> GpuInstanceState | None:
        return next((g for g in self.gpu_instances if g.id == gi_id), None)


class ProcessState(_Model):
    pid: int
    uuid: str
    """The GPU or MIG device UUID the process was started on."""
    gpu: int
    gi: int | None = None
    ci: int | None = None
    used_memory_mib: int = 0
    name: str = "python"


class FaultState(_Model):
    function: str
    error: int
    after: int = 0
    """Calls that succeed before the first failure."""
    times: int = 1
    """Failures before the fault is spent; 0 fails every call from then on."""
    calls: int = 0
    fired: int = 0


class EventState(_Model):
    seq: int
    gpu: int
    xid: int
    gi: int | None = None
    ci: int | None = None


class NodeState(_Model):
    version: int = STATE_VERSION
    node: str
    spec: str
    driver: str
    gpus: list[GpuState]
    processes: list[ProcessState] = Field(default_factory=list)
    faults: list[FaultState] = Field(default_factory=list)
    events: list[EventState] = Field(default_factory=list)
    last_event_seq: int = 0
    next_serial: int = 1
    next_pid: int = 4000

    def take_serial(self) -> int:
        serial = self.next_serial
        self.next_serial += 1
        return serial

    def processes_on(self, gpu: int, gi: int | None = None, ci: int | None = None) -> list[ProcessState]:
        """Processes on a GPU, or on one GPU instance, or on one MIG device (GI and CI)."""
        return [
            p
            for p in self.processes
            if p.gpu == gpu and (gi is None or p.gi == gi) and (ci is None or p.ci == ci)
        ]

    def queue_event(self, gpu: int, xid: int, gi: int | None = None, ci: int | None = None) -> EventState:
        self.last_event_seq += 1
        event = EventState(seq=self.last_event_seq, gpu=gpu, xid=xid, gi=gi, ci=ci)
        self.events.append(event)
        del self.events[:-EVENTS_KEPT]
        return event
