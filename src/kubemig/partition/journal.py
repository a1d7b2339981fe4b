"""The apply journal: what an apply set out to do and how far it got, rewritten atomically at every step,
and the node lock beside it that serializes applies.

    <state dir>/partition-journal.json        the last apply (status running | done | failed)
    <state dir>/partition-journal.json.lock   held (flock) for the whole of an apply

Before each mutating NVML call the journal records the step as `intent`, after it `done`. An apply that
finds a journal still `running` knows the previous one was killed: it says so and converges from what
the GPUs hold now (every step is planned from NVML's answers, never from the journal), and it keeps the
killed apply's record of each GPU's layout before it began, which is the layout a later failure puts
back.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kubemig.geometry import GpuGeometry, Layout, parse_layout_spec, validate
from kubemig.partition.errors import LockError
from kubemig.partition.planning import Op
from kubemig.statefile import LockTimeout, lock_path, locked, write_atomic

JOURNAL_NAME = "partition-journal.json"
JOURNAL_VERSION = 1

StepState = Literal["intent", "done", "failed"]
Status = Literal["running", "done", "failed"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JournalStep(_Record):
    n: int
    phase: Literal["apply", "rollback"]
    op: dict[str, object]
    text: str
    state: StepState
    error: str | None = None


class JournalGpu(_Record):
    index: int
    model: str
    before_mig: bool
    before: str
    """The layout before the first apply that touched it, as `3g.20gb@4,1g.5gb@0` (empty: none)."""
    target: str


class JournalRecord(_Record):
    version: int = JOURNAL_VERSION
    pid: int
    started_at: str
    config_file: str
    config: str
    status: Status
    resumed_from: str | None = None
    gpus: list[JournalGpu] = []
    steps: list[JournalStep] = []

    def gpu(self, index: int) -> JournalGpu | None:
        return next((g for g in self.gpus if g.index == index), None)

    @property
    def last_step(self) -> JournalStep | None:
        return self.steps[-1] if self.steps else None


def layout_text(layout: Layout) -> str:
    return ",".join(str(i) for i in layout)


def layout_from_text(geo: GpuGeometry, text: str) -> Layout:
    return validate(geo, parse_layout_spec(text)) if text else Layout()


class Journal:
    """One apply's record, kept on disk after every change (atomic replace: a reader never sees half)."""

    def __init__(
        self, path: Path, record: JournalRecord, *, on_write: Callable[[int], None] | None = None
    ) -> None:
        self.path = path
        self.record = record
        self.writes = 0
        self._on_write = on_write

    @staticmethod
    def previous(path: Path) -> JournalRecord | None:
        """The journal an earlier apply left; None when there is none or it cannot be read."""
        try:
            return JournalRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError):
            return None

    @staticmethod
    def start(
        path: Path,
        *,
        config_file: str,
        config: str,
        gpus: list[JournalGpu],
        resumed_from: str | None = None,
        on_write: Callable[[int], None] | None = None,
    ) -> Journal:
        record = JournalRecord(
            pid=os.getpid(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            config_file=config_file,
            config=config,
            status="running",
            resumed_from=resumed_from,
            gpus=gpus,
        )
        journal = Journal(path, record, on_write=on_write)
        journal.save()
        return journal

    def save(self) -> None:
        write_atomic(self.path, self.record.model_dump_json(indent=1))
        self.writes += 1
        if self._on_write is not None:
            self._on_write(self.writes)

    def intent(self, op: Op, phase: Literal["apply", "rollback"] = "apply") -> JournalStep:
        step = JournalStep(
            n=len(self.record.steps) + 1, phase=phase, op=op.to_json(), text=str(op), state="intent"
        )
        self.record.steps.append(step)
        self.save()
        return step

    def settle(self, step: JournalStep, state: StepState, error: str | None = None) -> None:
        step.state = state
        step.error = error
        self.save()

    def finish(self, status: Status) -> None:
        self.record.status = status
        self.save()


@contextlib.contextmanager
def node_lock(
    journal_path: Path, *, waiting: Callable[[str], None], timeout_s: float | None = None
) -> Iterator[None]:
    """Hold the node's apply lock (statefile's lock on the journal); tell `waiting` once if another apply
    has it, then wait for it (up to `timeout_s`, LockError after). The kernel drops the lock when the
    holder dies, so a killed apply never leaves the node locked."""
    where = lock_path(journal_path)

    def report(holder: str) -> None:
        waiting(f"another apply (pid {holder}) holds {where}: waiting for it to finish")

    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locked(journal_path, waiting=report, timeout_s=timeout_s))
        except LockTimeout as exc:
            raise LockError(
                f"another apply (pid {exc.holder}) still holds {where} after {timeout_s:g} s: "
                "let it finish, or stop it and run apply again"
            ) from None
        except OSError as exc:
            raise LockError(
                f"cannot open the apply lock {where}: {exc.strerror or exc}: run as root, or give a writable "
                "--state-dir (or KUBEMIG_STATE_DIR)"
            ) from exc
        yield


def journal_summary(record: JournalRecord) -> str:
    """`apply of all-balanced (pid 123, 2024-...) was interrupted after step 4 of its plan: GPU 1: ...`"""
    last = record.last_step
    where = f"after step {last.n} ({last.text}, {last.state})" if last else "before its first step"
    return f"the apply of {record.config!r} started {record.started_at} by pid {record.pid} was interrupted {where}"


def befores(record: JournalRecord | None) -> Mapping[int, JournalGpu]:
    """Per GPU, what a killed apply recorded it held before it began: the last layout an apply finished."""
    if record is None or record.status != "running":
        return {}
    return {g.index: g for g in record.gpus}
