"""One exception tree for everything kubemig reports to a user.

::

    KubemigError                  the CLI prints `kubemig: error: <message>` and exits 1
    ├── CatalogError              unknown GPU model, unreadable catalog data
    ├── ProfileError              a profile name or ID that this GPU does not have
    ├── LayoutError               an impossible layout; `.problems` lists every reason
    └── TransitionError           a target that cannot be reached; `.blocking` names the busy instances

Anything else escaping to the CLI is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class KubemigError(Exception):
    """A failure with a message meant for the user: what went wrong and how to fix it."""


class CatalogError(KubemigError):
    pass


class ProfileError(KubemigError):
    pass


class LayoutError(KubemigError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class TransitionError(KubemigError):
    def __init__(self, message: str, blocking: Sequence[str] = ()) -> None:
        self.blocking = list(blocking)
        super().__init__(message)
