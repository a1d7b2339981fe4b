"""What the partition layer reports, under `KubemigError` (see `kubemig.errors` for the root)::

KubemigError
├── ConfigError        a config or hooks file that cannot be used; `.problems`, one line each
├── HookError          a hook that failed: which hook, which command, its exit status
├── ApplyError         an apply that stopped: per GPU the phase, whether it rolled back, what it holds
│   └── BusyError      an apply refused before any change: instances in use are in the way
├── PendingModeError   MIG mode changes that wait for a GPU reset; the GPUs are listed
└── LockError          another apply holds the node's lock
"""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.errors import KubemigError


class ConfigError(KubemigError):
    """Every problem of a file at once, each naming the file, the config, the entry and the fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


class HookError(KubemigError):
    pass


class ApplyError(KubemigError):
    """An apply that could not finish; `.reports` says, per GPU, what happened and what it holds now."""

    def __init__(self, message: str, reports: Sequence[str] = ()) -> None:
        self.reports = list(reports)
        super().__init__("\n".join([message, *(f"  {r}" for r in self.reports)]))


class BusyError(ApplyError):
    """Refused before anything changed, because processes use what the target takes away; `.blockers`
    says what (a caller that can wait, such as the agent, tries again once they are gone)."""

    def __init__(self, message: str, blockers: Sequence[object]) -> None:
        super().__init__(message)
        self.blockers = list(blockers)


class PendingModeError(KubemigError):
    def __init__(self, message: str, gpus: Sequence[int]) -> None:
        self.gpus = list(gpus)
        super().__init__(message)


class LockError(KubemigError):
    pass
